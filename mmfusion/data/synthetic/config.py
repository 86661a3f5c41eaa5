"""Configuration of the synthetic NTU world."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ...errors import ConfigError


@dataclass
class SynthConfig:
    """What to generate.

    The defaults give 480 samples (10 classes x 8 performers x 3 cameras x 2 replications) at
    small resolutions, generated in well under a minute on 2 cores. ``depth_size=(424, 512)``
    and ``rgb_size=(1080, 1920)`` give full NTU sizes.

    Attributes:
        actions: NTU action ids (1-based) to perform, from :data:`~.actions.ACTIONS`.
        performers: NTU performer ids; xsub puts 1, 2, 4, 5, 8, 9, ... in train, the rest in test.
        cameras, replications, setup: the other name fields.
        frames: (min, max) frames per sample (30 fps).
        depth_size: (H, W) of depth and IR frames (NTU: 424 x 512).
        rgb_size: (H, W) of RGB frames (NTU: 1080 x 1920).
        joint_noise: std of Kinect-like joint jitter, metres.
        inferred_rate: fraction of joints flagged "inferred" (tracking state 1).
        speed_range: per-sample playback speed factor range.
        image_noise: std of RGB/IR pixel noise (0-255 scale).
        seed: everything is a function of it (byte-identical output for the same config).
        num_workers: processes used to render samples.
    """

    actions: tuple[int, ...] = (1, 2, 3, 4, 29, 30, 11, 12, 10, 34)
    performers: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8)
    cameras: tuple[int, ...] = (1, 2, 3)
    replications: tuple[int, ...] = (1, 2)
    setup: int = 1
    frames: tuple[int, int] = (28, 40)
    depth_size: tuple[int, int] = (53, 64)
    rgb_size: tuple[int, int] = (54, 96)
    joint_noise: float = 0.006
    inferred_rate: float = 0.03
    speed_range: tuple[float, float] = (0.8, 1.25)
    image_noise: float = 4.0
    seed: int = 0
    num_workers: int = 2

    def __post_init__(self) -> None:
        from .actions import ACTIONS

        self.actions = tuple(int(a) for a in self.actions)
        unknown = [a for a in self.actions if a not in ACTIONS]
        if unknown:
            raise ConfigError(f"SynthConfig.actions: no synthetic motion for NTU action(s) {unknown}; "
                              f"available: {sorted(ACTIONS)}")
        if len(set(self.actions)) != len(self.actions) or not self.actions:
            raise ConfigError("SynthConfig.actions must be a non-empty list without repeats")
        if not all(1 <= c <= 3 for c in self.cameras) or not all(1 <= r <= 2 for r in self.replications):
            raise ConfigError("SynthConfig: cameras must be in 1..3 and replications in 1..2 (NTU naming)")
        if not all(1 <= p <= 999 for p in self.performers) or not 1 <= self.setup <= 999:
            raise ConfigError("SynthConfig: performer and setup ids must be in 1..999")
        lo, hi = self.frames
        if not 4 <= lo <= hi:
            raise ConfigError(f"SynthConfig.frames must be (min, max) with 4 <= min <= max, got {self.frames}")
        for name in ("depth_size", "rgb_size"):
            h, w = getattr(self, name)
            if h < 8 or w < 8:
                raise ConfigError(f"SynthConfig.{name} must be at least 8x8, got {(h, w)}")
        if self.num_workers < 1:
            raise ConfigError("SynthConfig.num_workers must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
