"""RGB-D captures: reading the two streams, the geometry between the cameras, and an in-memory source.

A capture is an RGB video (any container decord / PyAV read; NTU ``<name>_rgb.avi``) plus a
depth clip in one of three forms, all **millimetres, 0 = no reading**:

* a folder of 16-bit PNGs (NTU ``nturgb+d_depth_masked/<name>/MDepth-%08d.png`` or
  ``Depth-%08d.png``), read with :mod:`mmfusion.data.formats.depth`;
* a 16-bit greyscale video (``gray16le`` / ``gray16be``, e.g. FFV1 in AVI or MKV) read with PyAV;
* a ``.npy`` array ``uint16 (T, H, W)`` (millimetres) or floating point ``(T, H, W)`` (metres).

Other units: ``unit_mm`` (millimetres per stored unit, e.g. 0.1 for a 100 um sensor).

Geometry (:class:`RGBDCalibration`): two pinhole cameras in NTU's convention
(:mod:`mmfusion.data.camera`: X right, Y up, Z forward; ``u = cx + fx X / Z``,
``v = cy - fy Y / Z``), the colour camera ``baseline``
metres along +X of the depth camera (Kinect v2: 5.2 cm). A colour pixel maps to the depth
image through the depth Z of the point it sees::

    u_d = cx_d + fx_d ((u_c - cx_c) / fx_c - b / Z),     v_d = cy_d + fy_d (v_c - cy_c) / fy_c

Where the values come from (first that applies): given by the caller; the synthetic world's
``mmfusion_synth.json`` when the inputs sit in its tree; a least-squares fit on the sample's NTU
``.skeleton`` file (every joint has xyz, depth pixels and colour pixels:
:meth:`RGBDCalibration.from_skeleton_file`, sub-pixel residuals on the real files); else the
Kinect v2 models of :mod:`mmfusion.data.synthetic.config` scaled to the stored frame sizes. NTU's
Kinects differ: on the real skeleton files the fixed Kinect model is off by 6.3 px (depth pixels)
for the second camera group, the per-file fit by < 0.5 px (see docs/pipeline.md); the depth fit
is the data set's own (:mod:`mmfusion.data.calibration`), so a capture's points match a packed store's. A capture from
another sensor passes its own intrinsics, or ``registered`` when the RGB frames are already
aligned to the depth frames.

:class:`CaptureReader` holds the sampled frames and the estimated skeleton of one capture as a
:class:`~mmfusion.data.reader.SampleReader`, so the action model's inputs go through exactly the
data set's sample function (:func:`~mmfusion.data.sample.make_sample`). Camera maths:
:mod:`mmfusion.data.camera`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.calibration import fit_skeleton_intrinsics
from ..data.camera import CameraIntrinsics, backproject, fit_intrinsics, project
from ..data.formats.depth import depth_frame_paths, read_depth_folder
from ..data.formats.skeleton import read_skeleton
from ..data.ntu import NTUSampleName
from ..data.reader import NTU_NATIVE_SIZES, SkeletonData, base_points
from ..data.settings import BASE_POINTS
from ..data.transforms import resize_short_side
from ..errors import ConfigError, DataFormatError, MissingModalityError

log = logging.getLogger(__name__)

__all__ = ["DepthClip", "open_depth", "RGBDCalibration", "find_ntu_tree", "CaptureReader", "DEPTH_VIDEO_FORMATS"]

#: pixel formats accepted for depth videos (16-bit greyscale)
DEPTH_VIDEO_FORMATS: tuple[str, ...] = ("gray16le", "gray16be")
_HELP = ("depth must be 16-bit millimetres: a folder of 16-bit PNGs (NTU MDepth-%08d.png), a 16-bit greyscale "
         "video (gray16le, e.g. FFV1) or a .npy (T, H, W) array")


def _require(path: Path, modality: str) -> None:
    if not path.exists():
        raise MissingModalityError(modality, f"{path} does not exist")


# ---------------------------------------------------------------------------------------------
# depth clips


@dataclass
class DepthClip:
    """A depth clip on disk (see the module docstring for the accepted forms).

    Attributes:
        path: folder, video or .npy file.
        kind: "folder", "video" or "npy".
        unit_mm: millimetres per stored unit.
    """

    path: Path
    kind: str
    unit_mm: float = 1.0

    def num_frames(self) -> int:
        if self.kind == "folder":
            return len(depth_frame_paths(self.path))
        if self.kind == "npy":
            return int(self._npy().shape[0])
        import av

        with av.open(str(self.path)) as container:
            stream = container.streams.video[0]
            if stream.frames:
                return int(stream.frames)
            return sum(1 for packet in container.demux(stream) if packet.size)

    def read(self, indices: Sequence[int]) -> np.ndarray:
        """Frames at 0-based ``indices`` (repeats allowed) as ``uint16 (T, H, W)`` millimetres."""
        idx = [int(i) for i in indices]
        if self.kind == "folder":
            frames = read_depth_folder(self.path, indices=idx)
            return self._scaled(frames)
        if self.kind == "npy":
            arr = self._npy()
            bad = [i for i in idx if not 0 <= i < len(arr)]
            if bad:
                raise DataFormatError(self.path, f"frame index {bad[0]} out of range ({len(arr)} frames)")
            frames = np.asarray(arr[idx])
            if np.issubdtype(frames.dtype, np.floating):
                # floating point arrays hold metres
                if not np.isfinite(frames).all():
                    raise DataFormatError(self.path, "depth array holds NaN or inf (use 0 for no reading)")
                return self._scaled(frames * 1000.0)
            return self._scaled(frames)
        return self._scaled(self._read_video(idx))

    def _npy(self) -> np.ndarray:
        try:
            arr = np.load(self.path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DataFormatError(self.path, f"cannot read .npy depth ({exc})") from exc
        if arr.ndim != 3 or not (arr.dtype == np.uint16 or np.issubdtype(arr.dtype, np.floating)):
            raise DataFormatError(self.path, f"depth array is {arr.dtype} {arr.shape}; {_HELP}")
        return arr

    def _read_video(self, idx: list[int]) -> np.ndarray:
        import av

        wanted = set(idx)
        kept: dict[int, np.ndarray] = {}
        n = 0
        try:
            with av.open(str(self.path)) as container:
                for n, frame in enumerate(container.decode(video=0), start=1):
                    if n - 1 in wanted:
                        kept[n - 1] = frame.to_ndarray()
                    if n - 1 >= max(idx, default=-1):
                        break
        except Exception as exc:  # PyAV raises many unrelated types on broken files
            raise DataFormatError(self.path, f"cannot decode depth video ({exc})") from exc
        missing = [i for i in idx if i not in kept]
        if missing:
            raise DataFormatError(self.path, f"frame index {missing[0]} out of range (video has {n} frames)")
        return np.stack([kept[i] for i in idx]).astype(np.uint16, copy=False)

    def _scaled(self, frames: np.ndarray) -> np.ndarray:
        if self.unit_mm == 1.0 and frames.dtype == np.uint16:
            return frames
        mm = np.rint(np.asarray(frames, dtype=np.float64) * self.unit_mm)
        if mm.min(initial=0) < 0 or mm.max(initial=0) > 65535:
            raise DataFormatError(self.path, "depth outside 0..65.535 m after unit conversion")
        return mm.astype(np.uint16)


def open_depth(path: str | os.PathLike[str], unit_mm: float = 1.0) -> DepthClip:
    """Recognise a depth clip (folder / 16-bit video / .npy) without reading its frames.

    Raises:
        MissingModalityError: ``path`` does not exist.
        DataFormatError: a single image, an 8-bit or colour video, an unreadable file.
    """
    p = Path(path)
    _require(p, "depth")
    if not unit_mm > 0:
        raise ConfigError(f"depth unit must be > 0 mm, got {unit_mm}")
    if p.is_dir():
        depth_frame_paths(p)  # fails early, naming the folder, when it holds no frames
        return DepthClip(p, "folder", unit_mm)
    suffix = p.suffix.lower()
    if suffix == ".npy":
        clip = DepthClip(p, "npy", unit_mm)
        clip._npy()
        return clip
    if suffix in (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"):
        raise DataFormatError(p, f"a single image is not a depth clip; {_HELP}")
    import av

    try:
        with av.open(str(p)) as container:
            if not container.streams.video:
                raise DataFormatError(p, f"no video stream; {_HELP}")
            fmt = container.streams.video[0].codec_context.pix_fmt
    except DataFormatError:
        raise
    except Exception as exc:  # PyAV raises many unrelated types on unreadable files
        raise DataFormatError(p, f"cannot open as a depth video ({exc}); {_HELP}") from exc
    if fmt not in DEPTH_VIDEO_FORMATS:
        raise DataFormatError(p, f"depth video has pixel format {fmt!r} (8-bit or colour); {_HELP}")
    return DepthClip(p, "video", unit_mm)


# ---------------------------------------------------------------------------------------------
# camera geometry


def _fit_color(xyz: np.ndarray, color_uv: np.ndarray, min_depth_range: float = 0.2,
               default_baseline: float = 0.052) -> tuple[CameraIntrinsics, float]:
    """Colour intrinsics + baseline from depth-camera points (N, 3) and their colour pixels (N, 2):
    per axis linear least squares; below ``min_depth_range`` of Z the baseline cannot be told from
    the colour centre and is fixed to ``default_baseline``."""
    z = xyz[:, 2]
    xn, yn, iz = xyz[:, 0] / z, -xyz[:, 1] / z, 1.0 / z
    one = np.ones_like(z)

    def lsq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.linalg.lstsq(a, b, rcond=None)[0]

    fy_c, cy_c = lsq(np.c_[yn, one], color_uv[:, 1])
    if np.ptp(z) >= min_depth_range:
        fx_c, cx_c, fb = lsq(np.c_[xn, one, iz], color_uv[:, 0])
        baseline = float(fb / fx_c)
    else:
        baseline = default_baseline
        fx_c, cx_c = lsq(np.c_[xn + baseline * iz, one], color_uv[:, 0])
    return CameraIntrinsics(float(fx_c), float(fy_c), float(cx_c), float(cy_c)), baseline


@dataclass(frozen=True)
class RGBDCalibration:
    """Depth and colour pinhole cameras of a capture (pixels of the frames as stored).

    Attributes:
        depth: intrinsics of the depth frames (back-projection, point clouds, skeleton frame).
        color: intrinsics of the RGB frames.
        baseline: X offset of the colour camera from the depth camera, metres (a point is
            ``(X + baseline, Y, Z)`` in colour-camera coordinates).
        source: where the values came from (reported in the output).
    """

    depth: CameraIntrinsics
    color: CameraIntrinsics
    baseline: float = 0.0
    source: str = "given"

    @classmethod
    def kinect_v2(cls, depth_size: tuple[int, int], rgb_size: tuple[int, int]) -> RGBDCalibration:
        """Kinect v2 (NTU RGB+D) cameras scaled to the stored ``(H, W)`` frame sizes."""
        # in-function: importing the synthetic package loads its renderer and generator
        from ..data.synthetic.config import color_camera, depth_camera

        col = color_camera(rgb_size)
        return cls(CameraIntrinsics.from_any(depth_camera(depth_size)), CameraIntrinsics.from_any(col),
                   float(col.baseline), "kinect_v2")

    @classmethod
    def registered(cls, depth: Any, depth_size: tuple[int, int], rgb_size: tuple[int, int]) -> RGBDCalibration:
        """RGB frames pixel-aligned to the depth frames (same view, possibly another resolution)."""
        d = CameraIntrinsics.from_any(depth)
        return cls(d, d.scaled(rgb_size[1] / depth_size[1], rgb_size[0] / depth_size[0]), 0.0, "registered")

    @classmethod
    def from_meta(cls, meta: dict[str, Any], depth_size: tuple[int, int], rgb_size: tuple[int, int]
                  ) -> RGBDCalibration | None:
        """From a synthetic world's ``mmfusion_synth.json`` (intrinsics.depth / .color), rescaled
        when the frames are stored at another size; None when the meta has no intrinsics."""
        intr = meta.get("intrinsics") or {}
        if "depth" not in intr or "color" not in intr:
            return None

        def cam(d: dict[str, Any], size: tuple[int, int]) -> CameraIntrinsics:
            c = CameraIntrinsics.from_any(d)
            if "height" in d and "width" in d:
                c = c.scaled(size[1] / float(d["width"]), size[0] / float(d["height"]))
            return c

        return cls(cam(intr["depth"], depth_size), cam(intr["color"], rgb_size),
                   float(intr["color"].get("baseline_m", 0.0)), "mmfusion_synth.json")

    @classmethod
    def fit(cls, xyz: np.ndarray, depth_uv: np.ndarray, color_uv: np.ndarray, min_depth_range: float = 0.2,
            default_baseline: float = 0.052) -> RGBDCalibration:
        """Least-squares cameras from 3-D points and their pixels in both images.

        Args:
            xyz: (N, 3) depth-camera points (metres); depth_uv, color_uv: (N, 2) their pixels.
            min_depth_range: below this Z range the baseline cannot be told from the colour
                centre and is fixed to ``default_baseline``.

        The depth camera is :func:`~mmfusion.data.camera.fit_intrinsics` (the data set's per-sample
        fit, :mod:`mmfusion.data.calibration`); the colour camera adds the baseline parallax
        (``u = cx + fx X / Z + fx b / Z``). On real NTU skeleton files the residuals are below 0.4 px.
        """
        xyz = np.asarray(xyz, dtype=np.float64)
        if len(xyz) < 8:
            raise ConfigError(f"calibration fit needs >= 8 correspondences, got {len(xyz)}")
        color, baseline = _fit_color(xyz, np.asarray(color_uv, dtype=np.float64), min_depth_range, default_baseline)
        return cls(fit_intrinsics(xyz, depth_uv), color, baseline, "fit")

    @classmethod
    def from_skeleton_file(cls, path: str | os.PathLike[str], depth_size: tuple[int, int],
                           rgb_size: tuple[int, int], coord_sizes: dict[str, tuple[int, int]] | None = None
                           ) -> RGBDCalibration:
        """Fit on an NTU ``.skeleton`` file's joints and rescale to the stored frame sizes: the depth
        camera exactly as the data set fits it (:func:`~mmfusion.data.calibration.fit_skeleton_intrinsics`,
        rejected above 1 px RMS), the colour camera on the joints' colorX/Y (:meth:`fit`).
        ``coord_sizes`` ({"depth": (H, W), "rgb": (H, W)}): the images the file's pixels refer to
        (default NTU's 424 x 512 and 1080 x 1920).

        Raises:
            ConfigError: too few joints, or a fit rejected; DataFormatError: an unreadable file.
        """
        seq = read_skeleton(path)
        depth = fit_skeleton_intrinsics(seq).intrinsics
        arrays = [seq.to_array(4, f) for f in ("xyz", "color")]
        xyz, cxy = (a.reshape(-1, a.shape[-1]).astype(np.float64) for a in arrays)
        ok = (xyz[:, 2] > 0.1) & (np.abs(cxy).sum(-1) > 0)
        if ok.sum() < 8:
            raise ConfigError(f"{path}: colour calibration needs >= 8 joints with colour pixels, got {int(ok.sum())}")
        color, baseline = _fit_color(xyz[ok], cxy[ok])
        sizes = {**NTU_NATIVE_SIZES, **(coord_sizes or {})}
        d, c = sizes["depth"], sizes["rgb"]
        return cls(depth.scaled(depth_size[1] / d[1], depth_size[0] / d[0]),
                   color.scaled(rgb_size[1] / c[1], rgb_size[0] / c[0]), baseline, f"fit:{path}")

    def color_to_depth(self, uv: np.ndarray, z: np.ndarray | float | None = None) -> np.ndarray:
        """Colour pixels (..., 2) -> depth pixels (..., 2), given the depth Z (metres, broadcasting
        against (...)) of the seen points; ``None`` ignores the baseline parallax (Z = infinity)."""
        uv = np.asarray(uv, dtype=np.float64)
        ray = backproject(uv, np.ones(uv.shape[:-1]), self.color)   # the seen point at Z = 1, colour camera
        if z is not None and self.baseline:
            zz = np.asarray(z, dtype=np.float64)
            x = ray[..., 0] - self.baseline / np.where(np.isfinite(zz) & (zz > 0), zz, np.inf)
            ray = np.stack(np.broadcast_arrays(x, ray[..., 1], ray[..., 2]), axis=-1)
        return project(ray, self.depth).astype(np.float32)

    def project_color(self, xyz: np.ndarray) -> np.ndarray:
        """Depth-camera points (..., 3) -> colour pixels (..., 2)."""
        xyz = np.asarray(xyz, dtype=np.float64)
        shifted = xyz + np.array([self.baseline, 0.0, 0.0])
        return project(shifted, self.color).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        def d(c: CameraIntrinsics) -> dict[str, float]:
            return {k: round(float(getattr(c, k)), 4) for k in ("fx", "fy", "cx", "cy")}

        return {"depth": d(self.depth), "color": d(self.color), "baseline_m": self.baseline, "source": self.source}


def find_ntu_tree(*paths: str | os.PathLike[str] | None) -> tuple[Path, str] | None:
    """(tree root, sample name) when one of ``paths`` lies in an NTU-style tree
    (``<root>/nturgb+d_rgb/<name>_rgb.avi`` or ``<root>/<depth folder>/<name>``), else None."""
    for p in paths:
        if p is None:
            continue
        path = Path(p)
        name = path.name[:20]
        try:
            NTUSampleName.parse(name)
        except (ConfigError, DataFormatError, ValueError):
            continue
        return path.parent.parent, name
    return None


# ---------------------------------------------------------------------------------------------
# the in-memory reader the sample function reads from


class CaptureReader:
    """One capture's sampled frames + estimated skeletons as a :class:`~mmfusion.data.reader.SampleReader`.

    :func:`~mmfusion.data.sample.make_sample` reads it like a raw tree or a packed store, so the
    action model's inputs go through exactly the data set's preprocessing. It holds one sample
    (``name``) and only the frames the pipeline sampled; its frame axis is the video's, and the
    sample function draws the same test-time indices the pipeline sampled (test-time sampling is
    deterministic).

    Args:
        name: the sample's name (seeds the per-frame point sampling, as in the data set).
        num_frames: N, frames of the capture.
        frame_index: (T,) video frames held for rgb / depth.
        rgb: uint8 (T, H, W, 3) or None.
        depth: uint16 (T, h, w) millimetres or None.
        skeleton_index: (W,) video frames with a skeleton (absent elsewhere).
        joints: (M, W, 25, 3) float32 NTU-25 camera metres (zeros = absent).
        colors: (M, W, 25, 2) float32 RGB pixels of the joints.
        intrinsics: depth intrinsics (back-projection of the points, person crops).
        decode_size: short side frames are resized to when read (as a raw tree's ``decode_size``).
        base_points: points kept per frame before the sample's subset.
        point_method: "random" or "fps".
    """

    def __init__(self, name: str, num_frames: int, frame_index: np.ndarray, rgb: np.ndarray | None,
                 depth: np.ndarray | None, skeleton_index: np.ndarray, joints: np.ndarray, colors: np.ndarray,
                 intrinsics: CameraIntrinsics, decode_size: int | None = None, base_points: int = BASE_POINTS,
                 point_method: str = "random") -> None:
        self.name, self.length = name, int(num_frames)
        held, first = np.unique(np.asarray(frame_index, dtype=np.int64), return_index=True)
        self.held = held
        self.frames = {k: None if v is None else v[first] for k, v in (("rgb", rgb), ("depth", depth))}
        m, _, v, _ = np.shape(joints)
        dense_j = np.zeros((m, self.length, v, 3), np.float32)
        dense_c = np.zeros((m, self.length, v, 2), np.float32)
        dense_j[:, skeleton_index], dense_c[:, skeleton_index] = joints, colors
        self.skeleton = SkeletonData(dense_j, dense_c)
        self._intrinsics = CameraIntrinsics.from_any(intrinsics)
        self.decode_size = decode_size
        self.base_points = base_points
        self.point_method = point_method
        self.meta: dict[str, Any] = {}
        self.path = Path(f"<capture {name}>")

    def names(self) -> list[str]:
        return [self.name]

    def missing(self, name: str, kind: str) -> str | None:
        if kind == "ir":
            return "an RGB-D capture has no infrared stream"
        if kind == "skeleton":
            return None
        key = "depth" if kind == "points" else kind
        return None if self.frames.get(key) is not None else f"the capture has no {key} frames"

    def num_frames(self, name: str, kind: str) -> int:
        return self.length

    def load_skeleton(self, name: str) -> SkeletonData:
        return self.skeleton

    def _positions(self, indices: Sequence[int] | None) -> np.ndarray:
        if indices is None:
            raise ConfigError("a capture holds only its sampled frames; ask for them by index")
        idx = np.asarray(indices, dtype=np.int64)
        pos = np.searchsorted(self.held, idx)
        if idx.size and (pos.max() >= len(self.held) or not np.array_equal(self.held[pos], idx)):
            raise ConfigError(f"{self.path}: frames {sorted(set(idx.tolist()) - set(self.held.tolist()))[:5]} were "
                              f"not sampled (sampled: {self.held.tolist()})")
        return pos

    def load_frames(self, name: str, kind: str, indices: Sequence[int] | None = None) -> np.ndarray:
        frames = self.frames.get(kind)
        if frames is None:
            raise MissingModalityError(kind, self.missing(name, kind) or "")
        return resize_short_side(frames[self._positions(indices)], self.decode_size, nearest=kind == "depth")

    def load_points(self, name: str, indices: Sequence[int]) -> np.ndarray:
        depth = self.frames["depth"]
        if depth is None:
            raise MissingModalityError("points", "the capture has no depth frames")
        uniq, inv = np.unique(np.asarray(indices, dtype=np.int64), return_inverse=True)
        pts = base_points(depth[self._positions(uniq)], name, uniq.tolist(), self._intrinsics, self.base_points,
                          self.point_method)
        return pts[inv]

    def native_size(self, name: str, kind: str) -> tuple[int, int]:
        frames = self.frames.get(kind)
        if frames is None:
            raise MissingModalityError(kind, self.missing(name, kind) or "")
        return int(frames.shape[1]), int(frames.shape[2])

    def intrinsics(self, name: str) -> CameraIntrinsics:
        return self._intrinsics
