"""Per-sample depth intrinsics of real NTU data, fitted on the sample's own ``.skeleton`` file.

NTU RGB+D publishes no calibration and its Kinects do not share one: at least two camera groups
exist, and they do not follow the camera ID (S001 C003 and S003 C001 are in the second group,
``cx = 262.5, cy = 209.7`` against ``256.4, 208.5``). The fixed defaults
(:data:`~mmfusion.data.camera.KINECT_V2_DEPTH`) are 6.3 px off on the second group, about 5 cm
sideways at 3 m. Every joint record of a ``.skeleton`` file holds the joint's camera-space position
(metres) and its depth-image pixel (``depthX, depthY`` in the 512 x 424 depth frame), so each sample
carries its own calibration:

* :func:`fit_skeleton_intrinsics` -- :func:`~mmfusion.data.camera.fit_intrinsics` on every joint
  record of the file (0.05-0.14 px RMS, < 0.5 px worst joint on the real files of both groups);
* :func:`sample_intrinsics` -- that fit, or the defaults when the file is absent, empty, broken or
  the fit is not trustworthy (RMS above :data:`MAX_RMS_PX`), with the reason;
* :class:`DepthIntrinsics` -- the intrinsics plus ``source`` ("fit", "default" or "meta" for a
  synthetic world's exact cameras), stored per sample in a packed store's ``index.json``.

Where it is used: :meth:`NTUTreeReader.intrinsics <mmfusion.data.reader.NTUTreeReader.intrinsics>`
(raw tree: point clouds, depth person boxes), :func:`mmfusion.data.store.pack_ntu` (points packed
with it, the fit cached in the index; :meth:`PackedStore.intrinsics
<mmfusion.data.packed.PackedStore.intrinsics>` returns it), and the RGB-D pipeline's
:class:`~mmfusion.pipelines.capture.RGBDCalibration` (the same depth fit). The intrinsics are in
pixels of the file's depth coordinates, i.e. NTU's native 512 x 424 depth frames.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError, DataFormatError
from .camera import KINECT_V2_DEPTH, CameraIntrinsics, fit_intrinsics, reprojection_error
from .formats.skeleton import SkeletonSequence, read_skeleton

log = logging.getLogger(__name__)

__all__ = ["DepthIntrinsics", "MAX_RMS_PX", "SOURCES", "skeleton_correspondences", "fit_skeleton_intrinsics",
           "sample_intrinsics"]

#: a fit with a larger RMS reprojection error is rejected (real files: <= 0.14 px; a broken or
#: hand-edited file shows up as several pixels)
MAX_RMS_PX = 1.0
#: joints nearer than this (metres) are Kinect's "no reading" records, not geometry
MIN_Z = 0.1
#: where a sample's depth intrinsics came from
SOURCES = ("fit", "default", "meta")


@dataclass(frozen=True)
class DepthIntrinsics:
    """A sample's depth intrinsics and where they came from.

    Attributes:
        intrinsics: pixels of the native depth frame (NTU: 512 x 424).
        source: "fit" (the sample's ``.skeleton`` file), "default" (Kinect v2 / the reader's
            default) or "meta" (a synthetic world's exact cameras).
        rms_px, max_px: reprojection error of the fit over its joints (None unless "fit").
        points: joint records the fit used.
        reason: why the default was used ("" otherwise).
    """

    intrinsics: CameraIntrinsics
    source: str
    rms_px: float | None = None
    max_px: float | None = None
    points: int = 0
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The index record: ``{"source": "fit", "fx", "fy", "cx", "cy", "rms_px", "max_px", "points"}``
        or ``{"source": "default", "why": ...}`` (values unrounded: JSON floats round-trip exactly,
        so a store's points and boxes equal the raw tree's)."""
        if self.source != "fit":
            return {"source": self.source, "why": self.reason}
        return {"source": "fit", **self.intrinsics.to_dict(), "rms_px": self.rms_px, "max_px": self.max_px,
                "points": self.points}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], default: CameraIntrinsics = KINECT_V2_DEPTH) -> DepthIntrinsics:
        """Inverse of :meth:`to_dict` (a non-fit record takes ``default``)."""
        if d.get("source") == "fit":
            return cls(CameraIntrinsics.from_any(d), "fit", d.get("rms_px"), d.get("max_px"), int(d.get("points", 0)))
        return cls(default, str(d.get("source", "default")), reason=str(d.get("why", "")))

    def describe(self) -> str:
        """One line for logs and reports."""
        c = self.intrinsics
        cam = f"fx {c.fx:.1f} fy {c.fy:.1f} cx {c.cx:.1f} cy {c.cy:.1f}"
        if self.source == "fit":
            return f"fitted on the skeleton file ({cam}; {self.rms_px:.2f} px RMS over {self.points} joints)"
        return f"{self.source} ({cam}){': ' + self.reason if self.reason else ''}"


def skeleton_correspondences(seq: SkeletonSequence) -> tuple[np.ndarray, np.ndarray]:
    """Every joint record of ``seq`` with a reading: camera points (N, 3) metres and depth pixels (N, 2)."""
    j = np.asarray(seq.joints, dtype=np.float64).reshape(-1, seq.joints.shape[-1]) if seq.num_records else \
        np.zeros((0, 12))
    xyz, uv = j[:, 0:3], j[:, 3:5]
    ok = (xyz[:, 2] > MIN_Z) & (np.abs(uv).sum(-1) > 0) & np.isfinite(j[:, 0:5]).all(-1)
    return xyz[ok], uv[ok]


def fit_skeleton_intrinsics(skeleton: SkeletonSequence | str | os.PathLike[str],
                            max_rms_px: float = MAX_RMS_PX) -> DepthIntrinsics:
    """Depth intrinsics fitted on an NTU ``.skeleton`` file (a path or a parsed sequence).

    Raises:
        DataFormatError: the file cannot be read.
        ConfigError: too few joints with a reading, a degenerate layout, or an RMS reprojection
            error above ``max_rms_px`` (the message gives it).
    """
    seq = skeleton if isinstance(skeleton, SkeletonSequence) else read_skeleton(skeleton)
    xyz, uv = skeleton_correspondences(seq)
    intr = fit_intrinsics(xyz, uv)
    err = reprojection_error(xyz, uv, intr)
    rms = float(np.sqrt(np.mean(err ** 2)))
    if not (math.isfinite(rms) and rms <= max_rms_px and intr.fx > 0 and intr.fy > 0):
        raise ConfigError(f"{seq.path or 'skeleton'}: depth intrinsics fit rejected ({rms:.2f} px RMS > "
                          f"{max_rms_px} px, or non-positive focal length {intr.fx:.1f}, {intr.fy:.1f})")
    return DepthIntrinsics(intr, "fit", rms, float(err.max()), int(len(err)))


def sample_intrinsics(skeleton: SkeletonSequence | str | os.PathLike[str] | None,
                      default: CameraIntrinsics = KINECT_V2_DEPTH, max_rms_px: float = MAX_RMS_PX
                      ) -> DepthIntrinsics:
    """The fit on ``skeleton`` (path or sequence) when it succeeds, else ``default`` with the reason
    (never raises for an absent or unusable file: a missing calibration is not a missing sample)."""
    if skeleton is None:
        return DepthIntrinsics(default, "default", reason="no skeleton file")
    if not isinstance(skeleton, SkeletonSequence) and not os.path.isfile(skeleton):
        return DepthIntrinsics(default, "default", reason=f"no skeleton file {skeleton}")
    try:
        return fit_skeleton_intrinsics(skeleton, max_rms_px)
    except (ConfigError, DataFormatError) as exc:
        log.debug("depth intrinsics: using the defaults (%s)", exc)
        return DepthIntrinsics(default, "default", reason=str(exc))
