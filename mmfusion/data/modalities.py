"""The table of modalities: every batch key a data set emits, its shape, and the file it comes from.

=============== ======== =========== ========== ===============================================
key             channels layout      file kind  content
=============== ======== =========== ========== ===============================================
"rgb"           3        C T H W     rgb        ImageNet-normalised RGB frames
"depth"         1        C T H W     depth      metres, clipped to [0, depth_max] / depth_scale
"ir"            1        C T H W     ir         infrared in [0, 1]
"points"        3        T P C       depth      masked-depth point cloud, camera metres
"skeleton"      3        C T V M     skeleton   NTU-25 camera metres (x, y, z)
"heatmap"       17       C T H W     skeleton   COCO-17 Gaussian heatmaps of the RGB crop
"keypoints2d"   2        M T V C     skeleton   COCO-17 (u, v) pixels in the RGB crop
=============== ======== =========== ========== ===============================================

Layouts name the per-sample axes (a batch adds a leading N): C channels, T frames, H x W
pixels, P points, V joints, M persons. Every entry is float32. "file kind" is the raw NTU file
a modality is computed from (:data:`KINDS`: ``.skeleton`` text, masked-depth PNG folder, RGB
video, IR video); points come from the depth frames, heatmaps and 2-D keypoints from the
skeleton file's colour coordinates.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import ConfigError

__all__ = ["Modality", "MODALITIES", "KINDS", "modality", "kind_of", "channels_of", "kinds_for",
           "FRAME_MODALITIES", "POSE_MODALITIES"]

#: raw file kinds of an NTU sample, in reading order
KINDS: tuple[str, ...] = ("skeleton", "depth", "rgb", "ir")


@dataclass(frozen=True)
class Modality:
    """One batch key.

    Attributes:
        key: the batch key ("rgb", "points" ...).
        channels: size of the C axis of ``layout``.
        layout: per-sample axes, e.g. "C T H W".
        kind: the raw file kind it is computed from (one of :data:`KINDS`).
        dtype: numpy / torch dtype name of the tensor.
        description: one line for docs and error messages.
    """

    key: str
    channels: int
    layout: str
    kind: str
    dtype: str = "float32"
    description: str = ""

    @property
    def axes(self) -> tuple[str, ...]:
        """``layout`` split into axis letters."""
        return tuple(self.layout.split())


MODALITIES: dict[str, Modality] = {m.key: m for m in (
    Modality("rgb", 3, "C T H W", "rgb", description="ImageNet-normalised RGB frames"),
    Modality("depth", 1, "C T H W", "depth", description="metres, clipped to [0, depth_max] / depth_scale"),
    Modality("ir", 1, "C T H W", "ir", description="infrared in [0, 1]"),
    Modality("points", 3, "T P C", "depth", description="masked-depth point cloud, camera metres"),
    Modality("skeleton", 3, "C T V M", "skeleton", description="NTU-25 joints, camera metres"),
    Modality("heatmap", 17, "C T H W", "skeleton", description="COCO-17 Gaussian heatmaps of the RGB crop"),
    Modality("keypoints2d", 2, "M T V C", "skeleton", description="COCO-17 pixels in the RGB crop"),
)}

#: image-like modalities (frames of a camera, cropped and resized together)
FRAME_MODALITIES: tuple[str, ...] = ("rgb", "depth", "ir")
#: modalities computed from the skeleton file (a recipe's pose clip length applies to them)
POSE_MODALITIES: tuple[str, ...] = ("skeleton", "heatmap", "keypoints2d")


def modality(key: str) -> Modality:
    """The table entry of ``key``.

    Raises:
        ConfigError: an unknown key (the known ones are listed).
    """
    try:
        return MODALITIES[key]
    except KeyError:
        raise ConfigError(f"unknown modality {key!r}; choose from {sorted(MODALITIES)}") from None


def kind_of(key: str) -> str:
    """Raw file kind a modality is computed from ("points" -> "depth", "heatmap" -> "skeleton")."""
    return modality(key).kind


def channels_of(key: str) -> int:
    """Channels of a modality (3 for "rgb", 1 for "depth" ...)."""
    return modality(key).channels


def kinds_for(keys: Iterable[str], person_crop: bool = False) -> list[str]:
    """The raw file kinds needed to build ``keys``, in :data:`KINDS` order; the person crop needs
    the skeleton even when no skeleton modality is asked for."""
    wanted = {kind_of(k) for k in keys} | ({"skeleton"} if person_crop else set())
    return [k for k in KINDS if k in wanted]
