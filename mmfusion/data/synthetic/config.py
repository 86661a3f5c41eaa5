"""Configuration of the synthetic NTU world: :class:`SynthConfig`, :class:`SampleSpec`, cameras.

Everything that shapes the generated data set lives in :class:`SynthConfig` (a plain
dataclass that round-trips through ``to_dict`` / ``from_dict`` and is stored in
``mmfusion_synth.json``). :class:`Camera` holds pinhole intrinsics in 0-based pixels with
NTU's convention ``u = cx + fx X / Z``, ``v = cy - fy Y / Z`` (camera Y up, Z forward), scaled
from the native Kinect v2 sizes (depth/IR 512x424, colour 1920x1080) to the configured sizes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from mmfusion.errors import ConfigError

from .actions import ACTIONS

#: native Kinect v2 frame sizes (H, W)
NATIVE_DEPTH_SIZE: tuple[int, int] = (424, 512)
NATIVE_RGB_SIZE: tuple[int, int] = (1080, 1920)
#: Kinect v2 depth intrinsics fitted from NTU skeleton files (0-based pixels, 512x424)
KINECT_DEPTH_NATIVE: tuple[float, float, float, float] = (366.3, 366.3, 256.4, 208.5)
#: colour intrinsics fitted from NTU colorX/colorY (1920x1080) and the depth->colour baseline (m):
#: u_c = f (X + b) / Z + cx with f b ~ 55 px m
KINECT_COLOR_NATIVE: tuple[float, float, float, float] = (1058.0, 1058.0, 959.0, 540.0)
KINECT_COLOR_BASELINE: float = 0.052

#: official NTU-60 cross-subject training performers (the rest are test)
XSUB_TRAIN_PERFORMERS: tuple[int, ...] = (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)
#: official NTU-60 cross-view training cameras
XVIEW_TRAIN_CAMERAS: tuple[int, ...] = (2, 3)

#: default class list, complementary pairs first (see docs/synthetic.md and actions.py)
DEFAULT_ACTIONS: tuple[int, ...] = (1, 2, 10, 34, 11, 12, 29, 30, 8, 9, 23, 24)


@dataclass(frozen=True)
class Camera:
    """Pinhole camera, 0-based pixels, NTU axes (X towards image right, Y up, Z forward).

    Attributes:
        fx, fy, cx, cy: intrinsics at this resolution.
        height, width: image size.
        baseline: X offset of this camera's centre from the depth camera, metres
            (a point's coordinates in this camera are ``(X + baseline, Y, Z)``).
    """

    fx: float
    fy: float
    cx: float
    cy: float
    height: int
    width: int
    baseline: float = 0.0

    def scaled(self, height: int, width: int) -> Camera:
        """The same camera resampled to ``(height, width)`` (pixel centres map exactly)."""
        sx, sy = width / self.width, height / self.height
        return Camera(self.fx * sx, self.fy * sy, (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5,
                      int(height), int(width), self.baseline)

    def to_dict(self) -> dict[str, float | int]:
        d: dict[str, float | int] = {"fx": round(self.fx, 6), "fy": round(self.fy, 6), "cx": round(self.cx, 6),
                                     "cy": round(self.cy, 6), "height": self.height, "width": self.width}
        if self.baseline:
            d["baseline_m"] = self.baseline
        return d


def depth_camera(size: Sequence[int] = NATIVE_DEPTH_SIZE) -> Camera:
    """Kinect v2 depth / IR camera at ``size`` = (H, W)."""
    fx, fy, cx, cy = KINECT_DEPTH_NATIVE
    return Camera(fx, fy, cx, cy, *NATIVE_DEPTH_SIZE).scaled(int(size[0]), int(size[1]))


def color_camera(size: Sequence[int] = NATIVE_RGB_SIZE) -> Camera:
    """Kinect v2 colour camera at ``size`` = (H, W), 5.2 cm beside the depth camera."""
    fx, fy, cx, cy = KINECT_COLOR_NATIVE
    return Camera(fx, fy, cx, cy, *NATIVE_RGB_SIZE, baseline=KINECT_COLOR_BASELINE).scaled(int(size[0]),
                                                                                          int(size[1]))


@dataclass(frozen=True)
class SampleSpec:
    """One sample of the world: an NTU name plus an optional explicit performance seed.

    ``seed=None`` derives the performance (motion, placement, noise) from the name, so
    different names are independent performances while the three cameras of one
    (setup, performer, replication, action) see the *same* performance, as in NTU.
    An explicit ``seed`` replaces the name in that derivation: two specs that differ only in
    ``action`` but share ``seed`` are the same performance with a different class (used to
    check which modality sees which class difference).
    """

    setup: int
    camera: int
    performer: int
    replication: int
    action: int
    seed: int | None = None

    @property
    def name(self) -> str:
        return (f"S{self.setup:03d}C{self.camera:03d}P{self.performer:03d}"
                f"R{self.replication:03d}A{self.action:03d}")

    def __str__(self) -> str:
        return self.name

    @classmethod
    def parse(cls, name: str, seed: int | None = None) -> SampleSpec:
        """``SampleSpec.parse("S001C002P003R001A010")``."""
        n = str(name)
        if len(n) != 20 or [n[0], n[4], n[8], n[12], n[16]] != list("SCPRA"):
            raise ConfigError(f"not an NTU sample name (SsssCcccPpppRrrrAaaa): {name!r}")
        try:
            s, c, p, r, a = (int(n[k + 1:k + 4]) for k in (0, 4, 8, 12, 16))
        except ValueError:
            raise ConfigError(f"not an NTU sample name (SsssCcccPpppRrrrAaaa): {name!r}") from None
        return cls(s, c, p, r, a, seed)

    def performance_key(self) -> tuple[int, ...]:
        """What seeds the motion: the name without the camera, or the explicit seed."""
        if self.seed is not None:
            return (1, int(self.seed))
        return (0, self.setup, self.performer, self.replication, self.action)


@dataclass
class SynthConfig:
    """Everything that defines a synthetic data set (stored in ``mmfusion_synth.json``).

    Attributes:
        actions: NTU action IDs (1-based) to generate, from :data:`~.actions.ACTIONS`.
        num_classes: if set, keep only the first ``num_classes`` of ``actions``.
        num_samples: if set, keep an even spread of this many of the enumerated samples.
        setups, cameras, performers, replications: NTU name fields to enumerate (all
            combinations are generated). Performers follow the official cross-subject list:
            1, 2, 4, 5, 8 are training subjects, 3, 6, 7 test subjects.
        frames: (min, max) frames per sample (inclusive), drawn per performance.
        fps: frame rate of the videos and of the motion clock.
        depth_size: (H, W) of masked depth and IR (NTU native 424x512).
        rgb_size: (H, W) of RGB (NTU native 1080x1920).
        joint_noise: Kinect joint jitter, metres (std of the per-frame part).
        inferred_rate: extra fraction of joints reported as inferred (tracking state 1) on top
            of those inferred because they are occluded.
        depth_noise_mm: axial depth noise at 3 m (grows with Z^2), millimetres.
        edge_dropout: probability that a silhouette-edge depth pixel is invalid (0).
        rgb_noise, ir_noise: per-pixel Gaussian noise std in 8-bit levels (0 keeps the
            lossless videos small).
        ghost_body_prob: probability that a sample contains a short spurious second body in
            the skeleton file (as Kinect produces; CTR-GCN's denoising removes it).
        speed_jitter: strength of per-sample time warping (0 = constant speed).
        amplitude_jitter: +- relative amplitude variation of the motions.
        write: modalities written: any of "skeleton", "depth", "rgb", "ir", "depth_full"
            ("depth_full" adds ``nturgb+d_depth/<name>/Depth-%08d.png`` with background).
        seed: master seed; the same seed gives byte-identical files.
        num_workers: processes used by :func:`~.generate.generate` (0 or 1 = in-process); not part
            of the data definition (not stored in the meta file).
        progress: show a tqdm progress bar.
    """

    actions: tuple[int, ...] = DEFAULT_ACTIONS
    num_classes: int | None = None
    num_samples: int | None = None
    setups: tuple[int, ...] = (1,)
    cameras: tuple[int, ...] = (1, 2, 3)
    performers: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8)
    replications: tuple[int, ...] = (1, 2)
    frames: tuple[int, int] = (32, 64)
    fps: int = 30
    depth_size: tuple[int, int] = (106, 128)
    rgb_size: tuple[int, int] = (90, 160)
    joint_noise: float = 0.006
    inferred_rate: float = 0.03
    depth_noise_mm: float = 4.0
    edge_dropout: float = 0.15
    rgb_noise: float = 0.0
    ir_noise: float = 0.0
    ghost_body_prob: float = 0.05
    speed_jitter: float = 0.3
    amplitude_jitter: float = 0.2
    write: tuple[str, ...] = ("skeleton", "depth", "rgb", "ir")
    seed: int = 0
    num_workers: int = 2
    progress: bool = True

    WRITABLE = ("skeleton", "depth", "rgb", "ir", "depth_full")
    #: fields that do not change the data (left out of the stored config)
    RUNTIME_FIELDS = ("num_workers", "progress")

    def __post_init__(self) -> None:
        for name in ("actions", "setups", "cameras", "performers", "replications", "write"):
            val = getattr(self, name)
            if isinstance(val, (str, int)):
                val = (val,)
            setattr(self, name, tuple(val))
        self.frames = tuple(self.frames)  # type: ignore[assignment]
        self.depth_size = tuple(self.depth_size)  # type: ignore[assignment]
        self.rgb_size = tuple(self.rgb_size)  # type: ignore[assignment]
        self.validate()

    # -- checks ------------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise :class:`~mmfusion.errors.ConfigError` on any impossible value."""
        def ints(name: str, lo: int, hi: int) -> None:
            vals = getattr(self, name)
            if not vals:
                raise ConfigError(f"SynthConfig.{name} is empty")
            for v in vals:
                if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                    raise ConfigError(f"SynthConfig.{name}: {v!r} is not an integer in [{lo}, {hi}]")
            if len(set(vals)) != len(vals):
                raise ConfigError(f"SynthConfig.{name} has duplicates: {list(vals)}")

        ints("setups", 1, 32)
        ints("cameras", 1, 3)
        ints("performers", 1, 106)
        ints("replications", 1, 2)
        ints("actions", 1, 120)
        unknown = [a for a in self.actions if a not in ACTIONS]
        if unknown:
            raise ConfigError(f"SynthConfig.actions: no synthetic motion for NTU action(s) {unknown}; "
                              f"available: {sorted(ACTIONS)}")
        if self.num_classes is not None and not 1 <= int(self.num_classes) <= len(self.actions):
            raise ConfigError(f"SynthConfig.num_classes={self.num_classes} must be in [1, {len(self.actions)}]")
        if self.num_samples is not None and (isinstance(self.num_samples, bool) or not isinstance(
                self.num_samples, int) or self.num_samples < 1):
            raise ConfigError(f"SynthConfig.num_samples={self.num_samples!r} must be a positive integer or None")
        if len(self.frames) != 2 or not all(isinstance(f, int) for f in self.frames):
            raise ConfigError(f"SynthConfig.frames must be (min, max) integers, got {self.frames!r}")
        if not 8 <= self.frames[0] <= self.frames[1] <= 300:
            raise ConfigError(f"SynthConfig.frames={self.frames}: need 8 <= min <= max <= 300")
        if not isinstance(self.fps, int) or not 1 <= self.fps <= 120:
            raise ConfigError(f"SynthConfig.fps={self.fps!r} must be an integer in [1, 120]")
        for name, native in (("depth_size", NATIVE_DEPTH_SIZE), ("rgb_size", NATIVE_RGB_SIZE)):
            size = getattr(self, name)
            if len(size) != 2 or not all(isinstance(s, int) and 16 <= s <= 2 * n for s, n in zip(size, native)):
                raise ConfigError(f"SynthConfig.{name}={size!r}: need (H, W) integers with 16 <= H <= "
                                  f"{2 * native[0]}, 16 <= W <= {2 * native[1]}")
        for name in ("joint_noise", "depth_noise_mm", "rgb_noise", "ir_noise"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not 0 <= v < 1e3 or v != v:
                raise ConfigError(f"SynthConfig.{name}={v!r} must be a finite number >= 0")
        if self.joint_noise > 0.1:
            raise ConfigError(f"SynthConfig.joint_noise={self.joint_noise} m is implausibly large (> 0.1 m)")
        for name in ("inferred_rate", "edge_dropout", "ghost_body_prob", "speed_jitter", "amplitude_jitter"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not 0 <= v <= 0.9:
                raise ConfigError(f"SynthConfig.{name}={v!r} must be in [0, 0.9]")
        bad = [w for w in self.write if w not in self.WRITABLE]
        if bad or not self.write:
            raise ConfigError(f"SynthConfig.write={list(self.write)}: choose from {list(self.WRITABLE)}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"SynthConfig.seed={self.seed!r} must be a non-negative integer")
        if not isinstance(self.num_workers, int) or self.num_workers < 0:
            raise ConfigError(f"SynthConfig.num_workers={self.num_workers!r} must be an integer >= 0")

    # -- derived -----------------------------------------------------------------------------
    @property
    def class_actions(self) -> tuple[int, ...]:
        """The action IDs actually generated, in class order."""
        return self.actions if self.num_classes is None else self.actions[: int(self.num_classes)]

    def depth_camera(self) -> Camera:
        return depth_camera(self.depth_size)

    def color_camera(self) -> Camera:
        return color_camera(self.rgb_size)

    def specs(self) -> list[SampleSpec]:
        """Every sample, sorted by name."""
        out = [SampleSpec(s, c, p, r, a) for s in self.setups for c in self.cameras for p in self.performers
               for r in self.replications for a in self.class_actions]
        return sorted(out, key=lambda sp: sp.name)

    # -- (de)serialisation -------------------------------------------------------------------
    def to_dict(self, runtime: bool = False) -> dict[str, Any]:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        if not runtime:
            for k in self.RUNTIME_FIELDS:
                d.pop(k, None)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SynthConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown SynthConfig field(s): {unknown}")
        kw: dict[str, Any] = {}
        for k, v in d.items():
            kw[k] = tuple(v) if isinstance(v, list) else v
        return cls(**kw)

    def replace(self, **changes: Any) -> SynthConfig:
        d = self.to_dict(runtime=True)
        d.update(changes)
        return SynthConfig.from_dict(d)

    @classmethod
    def tiny(cls, **changes: Any) -> SynthConfig:
        """A very small world for tests (2 classes x 2 performers x 1 camera, 12-16 frames)."""
        base: dict[str, Any] = {"actions": (1, 2), "performers": (1, 3), "cameras": (1,), "replications": (1,),
                                "frames": (12, 16), "depth_size": (53, 64), "rgb_size": (45, 80), "progress": False,
                                "num_workers": 0}
        base.update(changes)
        return cls(**base)


def parse_int_list(text: str | Iterable[int]) -> tuple[int, ...]:
    """``"1,2,5-8"`` -> (1, 2, 5, 6, 7, 8) (for the command line)."""
    if not isinstance(text, str):
        return tuple(int(x) for x in text)
    out: list[int] = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        try:
            if "-" in part:
                a, b = part.split("-", 1)
                out.extend(range(int(a), int(b) + 1))
            else:
                out.append(int(part))
        except ValueError:
            raise ConfigError(f"cannot read integer list {text!r} (expected e.g. '1,2,5-8')") from None
    return tuple(out)


__all__ = ["Camera", "DEFAULT_ACTIONS", "KINECT_COLOR_BASELINE", "KINECT_COLOR_NATIVE", "KINECT_DEPTH_NATIVE",
           "NATIVE_DEPTH_SIZE", "NATIVE_RGB_SIZE", "SampleSpec", "SynthConfig", "XSUB_TRAIN_PERFORMERS",
           "XVIEW_TRAIN_CAMERAS", "color_camera", "depth_camera", "parse_int_list"]
