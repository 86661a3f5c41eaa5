"""How a clip is prepared: one frozen settings object shared by training, the run folder and inference.

:class:`ClipSettings` holds every option the sample function
(:func:`mmfusion.data.sample.make_sample`) depends on: which modalities, clip lengths, image
size, crops, points, depth scaling, heatmaps, bodies, and how the reader decoded the files
(``decode_size``, ``base_points``, ``point_method``). A data set exposes it as
``dataset.settings``; the engine writes it (``dataclasses.asdict``) into the run's
``config.json`` under ``"dataset"``; the RGB-D pipeline reads it back with
:meth:`ClipSettings.from_dict`, so a trained model's inputs are prepared at inference exactly
as in training.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from .modalities import MODALITIES

__all__ = ["ClipSettings", "BASE_POINTS"]

#: points per frame kept before the per-clip subsampling (also what the store packs)
BASE_POINTS = 2048

_DEFAULT_MODALITIES = ("rgb", "depth", "ir", "skeleton", "points")


@dataclass(frozen=True)
class ClipSettings:
    """Preprocessing options of one clip (JSON round trip with :meth:`to_dict` / :meth:`from_dict`).

    Attributes:
        modalities: output keys (see :mod:`mmfusion.data.modalities`).
        clip_len: frames per modality, T; an int given to the constructor applies to every
            modality (aligned: sparser modalities take strided subsets of the densest one).
        image_size: S, side of the square frames (rgb, depth, ir).
        num_points: P, points per frame.
        max_bodies: M, actor slots of skeleton / keypoints2d.
        crop: "full" frames or "person" (box around the skeleton, shared by the clip).
        crop_padding: person-box padding, fraction of its side.
        crop_scale, crop_ratio: RandomResizedCrop area / aspect range (train).
        flip: random horizontal flip in train mode (mirrors skeletons and points too).
        skeleton_norm: "center" (CTR-GCN), "prenorm" (PreNormalize3D rotation) or None.
        heatmap_size, heatmap_sigma: heatmap side and Gaussian sigma (heatmap pixels).
        depth_max, depth_scale: depth clip (metres) and divisor.
        decode_size: short side frames are resized to when decoded (None: native); a packed
            store fixes it to its own ``size``.
        base_points: points sampled per frame (seeded by sample name and frame) before the
            per-clip subset of ``num_points``; a store fixes it to its own.
        point_method: base point sampling per frame, "random" or "fps".
    """

    modalities: tuple[str, ...] = _DEFAULT_MODALITIES
    clip_len: Mapping[str, int] | int = 8
    image_size: int = 112
    num_points: int = 512
    max_bodies: int = 2
    crop: str = "full"
    crop_padding: float = 0.2
    crop_scale: tuple[float, float] = (0.5, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip: bool = True
    skeleton_norm: str | None = "center"
    heatmap_size: int = 56
    heatmap_sigma: float = 0.6
    depth_max: float = 8.0
    depth_scale: float = 1.0
    decode_size: int | None = None
    base_points: int = BASE_POINTS
    point_method: str = "random"

    def __post_init__(self) -> None:
        mods = tuple(self.modalities)
        unknown = [m for m in mods if m not in MODALITIES]
        if unknown or not mods:
            raise ConfigError(f"unknown modalities {unknown or '(none given)'}; choose from {sorted(MODALITIES)}")
        if isinstance(self.clip_len, Mapping):
            missing = [m for m in mods if m not in self.clip_len]
            if missing:
                raise ConfigError(f"clip_len {dict(self.clip_len)} lacks {missing}")
            lens = {m: int(self.clip_len[m]) for m in mods}
        else:
            lens = dict.fromkeys(mods, int(self.clip_len))
        if min(lens.values()) < 1:
            raise ConfigError(f"clip_len must be >= 1, got {lens}")
        if self.crop not in ("full", "person"):
            raise ConfigError(f"crop must be 'full' or 'person', got {self.crop!r}")
        if self.skeleton_norm not in ("center", "prenorm", None):
            raise ConfigError(f"skeleton_norm must be 'center', 'prenorm' or None, got {self.skeleton_norm!r}")
        if self.point_method not in ("random", "fps"):
            raise ConfigError(f"point_method must be 'random' or 'fps', got {self.point_method!r}")
        for name in ("image_size", "num_points", "max_bodies", "heatmap_size"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.depth_max > 0 or not self.depth_scale > 0:
            raise ConfigError("depth_max and depth_scale must be > 0")
        # normalised forms (frozen: set through object.__setattr__ once, here)
        object.__setattr__(self, "modalities", mods)
        object.__setattr__(self, "clip_len", lens)
        object.__setattr__(self, "crop_scale", tuple(float(v) for v in self.crop_scale))
        object.__setattr__(self, "crop_ratio", tuple(float(v) for v in self.crop_ratio))

    # the dict field makes the generated hash fail; settings are compared, not hashed
    __hash__ = None  # type: ignore[assignment]

    @property
    def clip_lens(self) -> dict[str, int]:
        """Modality -> T (a copy)."""
        return dict(self.clip_len)  # type: ignore[arg-type]

    @property
    def dense_modality(self) -> str:
        """The modality with the longest clip (its frame indices are the sample's ``frame_index``)."""
        lens = self.clip_lens
        return max(lens, key=lambda m: lens[m])

    def replace(self, **changes: Any) -> ClipSettings:
        """A copy with ``changes`` (validated again); new ``modalities`` keep a uniform clip length."""
        lens = set(self.clip_lens.values())
        if "modalities" in changes and "clip_len" not in changes and len(lens) == 1:
            changes["clip_len"] = lens.pop()
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples as lists); :meth:`from_dict` inverts it."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else dict(v) if isinstance(v, Mapping) else v
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ClipSettings:
        """Settings from :meth:`to_dict` output (or any subset of it: missing keys take the defaults;
        without ``modalities``, a ``clip_len`` mapping names them).

        Raises:
            ConfigError: an unknown key (names it) or an invalid value.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        bad = sorted(set(values) - known)
        if bad:
            raise ConfigError(f"unknown clip settings {bad}; known: {sorted(known)}")
        kw = {k: tuple(v) if isinstance(v, Sequence) and not isinstance(v, str) else v for k, v in values.items()}
        if "modalities" not in kw and isinstance(kw.get("clip_len"), Mapping):
            kw["modalities"] = tuple(m for m in MODALITIES if m in kw["clip_len"])  # the modalities it has lengths for
        return cls(**kw)
