"""Readers: where a sample's raw arrays come from, behind one protocol.

:class:`SampleReader` is what :func:`mmfusion.data.sample.make_sample` reads from. A *kind* is a
raw file kind (:data:`~mmfusion.data.modalities.KINDS`: "skeleton", "depth", "rgb", "ir"; "points"
is asked for on its own where a reader holds points apart from depth frames). Implementations:

* :class:`NTUTreeReader` -- a raw NTU tree (text skeletons, masked-depth PNG folders, AVI videos),
  decoded per access, optionally resized to ``decode_size``;
* :class:`~mmfusion.data.store.PackedStore` -- the same tree packed once into memory-mapped shards;
* :class:`~mmfusion.pipelines.capture.CaptureReader` -- one RGB-D capture held in memory (the
  RGB-D pipeline).

Arrays (T = the frames asked for, M bodies, V = 25 joints):

=================================== =============================================================
``load_skeleton(name)``             :class:`SkeletonData`: joints (M, T_all, V, 3) float32 metres,
                                    colors (M, T_all, V, 2) RGB pixels (native resolution)
``load_frames(name, kind, idx)``    depth uint16 (T, h, w) mm; rgb uint8 (T, h, w, 3); ir uint8 (T, h, w)
``load_points(name, idx)``          float32 (T, base_points, 3) camera metres
``native_size(name, kind)``         (H, W) of the files before ``decode_size``
``intrinsics(name)``                depth-camera :class:`~mmfusion.data.camera.CameraIntrinsics`
                                    (real NTU: fitted per sample, :mod:`~mmfusion.data.calibration`)
=================================== =============================================================
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import ConfigError, MissingModalityError, MMFusionError
from .calibration import DepthIntrinsics, sample_intrinsics
from .camera import KINECT_V2_DEPTH, CameraIntrinsics, depth_to_points
from .formats.depth import depth_frame_paths, read_depth_folder
from .formats.skeleton import SkeletonSequence, read_skeleton
from .formats.synth_meta import read_synth_meta_file
from .formats.video import read_video, video_num_frames
from .ntu import NTUTree, load_missing_skeletons
from .pointcloud import sample_points
from .preprocess import denoise_bodies
from .settings import BASE_POINTS
from .transforms import resize_short_side

__all__ = ["SkeletonData", "SampleReader", "NTUTreeReader", "SYNTH_META", "NTU_NATIVE_SIZES", "read_synth_meta",
           "meta_sizes", "meta_intrinsics", "frame_seed", "base_points", "load_name_list"]

SYNTH_META = "mmfusion_synth.json"
#: native frame sizes (H, W) of real NTU RGB+D
NTU_NATIVE_SIZES: dict[str, tuple[int, int]] = {"rgb": (1080, 1920), "depth": (424, 512), "ir": (424, 512)}


@dataclass
class SkeletonData:
    """Denoised skeleton of a whole sample.

    Attributes:
        joints: (M, T, V, 3) float32 camera metres, not centred; zeros where absent.
        colors: (M, T, V, 2) float32 RGB pixels of the joints (native RGB resolution).
    """

    joints: np.ndarray
    colors: np.ndarray


@runtime_checkable
class SampleReader(Protocol):
    """What the sample function reads (see the module docstring for the arrays).

    Attributes:
        meta: the synthetic world's meta (classes, sizes, intrinsics) or {}.
        decode_size: short side frames come at (None: native).
        base_points: points per frame of :meth:`load_points` (0: no points).
    """

    meta: dict[str, Any]
    decode_size: int | None
    base_points: int

    def names(self) -> list[str]: ...

    def missing(self, name: str, kind: str) -> str | None:
        """Why ``kind`` (or "points") cannot be read for ``name``, or None."""
        ...

    def num_frames(self, name: str, kind: str) -> int: ...

    def load_skeleton(self, name: str) -> SkeletonData: ...

    def load_frames(self, name: str, kind: str, indices: Sequence[int] | None = None) -> np.ndarray: ...

    def load_points(self, name: str, indices: Sequence[int]) -> np.ndarray: ...

    def native_size(self, name: str, kind: str) -> tuple[int, int]: ...

    def intrinsics(self, name: str) -> CameraIntrinsics: ...


# ---------------------------------------------------------------------------------------------
# synthetic-world meta


def read_synth_meta(root: str | Path | None) -> dict[str, Any]:
    """The synthetic world's ``mmfusion_synth.json`` (classes, sizes, intrinsics), or {}."""
    if root is None:
        return {}
    p = Path(root) / SYNTH_META
    if not p.is_file():
        return {}
    return read_synth_meta_file(p)  # checked: wrong types are a DataFormatError naming the key


def meta_sizes(meta: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    """Native (H, W) per kind from synthetic meta (keys ``sizes.rgb`` etc.), NTU defaults otherwise."""
    sizes = dict(NTU_NATIVE_SIZES)
    for k, v in (meta.get("sizes") or {}).items():
        if isinstance(v, Mapping):
            sizes[k] = (int(v.get("height", v.get("h"))), int(v.get("width", v.get("w"))))
        elif isinstance(v, Sequence) and len(v) == 2:
            sizes[k] = (int(v[0]), int(v[1]))
    return sizes


def meta_intrinsics(meta: Mapping[str, Any]) -> CameraIntrinsics:
    """Depth intrinsics from synthetic meta, else Kinect v2's (:data:`~mmfusion.data.camera.KINECT_V2_DEPTH`)."""
    intr = meta.get("intrinsics")
    if isinstance(intr, Mapping):
        intr = intr.get("depth", intr)
        if all(k in intr for k in ("fx", "fy", "cx", "cy")):
            return CameraIntrinsics.from_any(intr)
    return KINECT_V2_DEPTH


# ---------------------------------------------------------------------------------------------
# points and name lists shared by the readers


def frame_seed(name: str, frame: int) -> int:
    """Stable seed of one frame of one sample (point sampling must not depend on the run)."""
    return zlib.crc32(f"{name}:{frame}".encode())


def base_points(depth: np.ndarray, name: str, frames: Sequence[int], intr: CameraIntrinsics, n: int = BASE_POINTS,
                method: str = "random") -> np.ndarray:
    """Back-project full-resolution depth frames and sample ``n`` points per frame, seeded per frame.

    Args:
        depth: (T, H, W) uint16 millimetres.
        frames: original frame index of each of the T frames (seeds the sampling).

    Returns:
        (T, n, 3) float32 metres, camera frame; all zeros for a frame without valid depth.
    """
    out = np.zeros((len(depth), n, 3), dtype=np.float32)
    for k, (d, t) in enumerate(zip(depth, frames)):
        pts = depth_to_points(d, intr)
        if len(pts):
            out[k] = sample_points(pts, n, method=method, rng=np.random.default_rng(frame_seed(name, int(t))))
    return out


def load_name_list(spec: str | Path | Iterable[str] | None) -> set[str]:
    """Sample names from a file (the official missing-skeleton list format) or an iterable; {} for None."""
    if spec is None:
        return set()
    if isinstance(spec, (str, Path)):
        return {str(n) for n in load_missing_skeletons(spec)}
    return {str(n) for n in spec}


# ---------------------------------------------------------------------------------------------
# the raw tree


class NTUTreeReader:
    """Reads one NTU sample's files from a raw tree (decoded, optionally resized).

    Args:
        root: tree root (``nturgb+d_skeletons/``, ``nturgb+d_depth_masked/``, ``nturgb+d_rgb/``,
            ``nturgb+d_ir/``, optional ``mmfusion_synth.json`` from the synthetic world).
        decode_size: short side frames are resized to right after decoding (None: native).
        max_bodies: actor slots of the denoised skeleton.
        base_points: points per frame before the per-clip subsampling.
        point_method: "random" or "fps" (see :func:`mmfusion.data.pointcloud.sample_points`).
    """

    def __init__(self, root: str | Path, decode_size: int | None = None, max_bodies: int = 2,
                 base_points: int = BASE_POINTS, point_method: str = "random") -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise MissingModalityError("dataset", f"NTU root {self.root} is not a folder")
        self.tree = NTUTree(self.root)
        self.meta = read_synth_meta(self.root)
        self.sizes = meta_sizes(self.meta)
        self._intrinsics = meta_intrinsics(self.meta)
        self.decode_size = decode_size
        self.max_bodies = max_bodies
        self.base_points = base_points
        self.point_method = point_method
        self._listing: dict[Path, set[str]] = {}
        self._native: dict[tuple[str, str], tuple[int, int]] = {}
        self._fits: dict[str, DepthIntrinsics] = {}
        self._last: tuple[str, SkeletonSequence] | None = None  # the skeleton parsed last (fit + denoise)

    # -- index ---------------------------------------------------------------------------------
    def names(self) -> list[str]:
        return sorted(str(n) for n in self.tree.names())

    def path(self, name: str, kind: str) -> Path:
        """The file (or depth folder) of ``kind`` for ``name``."""
        paths = {"skeleton": self.tree.skeleton, "depth": self.tree.depth_dir, "rgb": self.tree.rgb,
                 "ir": self.tree.ir}
        if kind not in paths:
            raise ConfigError(f"unknown file kind {kind!r}; choose from {sorted(paths)}")
        return Path(paths[kind](name))

    def exists(self, name: str, kind: str) -> bool:
        p = self.path(name, kind)
        entries = self._listing.get(p.parent)
        if entries is None:
            # one listing per folder instead of one stat per sample (56k samples)
            entries = set()
            if p.parent.is_dir():
                entries = {e.name for e in p.parent.iterdir()}
            self._listing[p.parent] = entries
        return p.name in entries

    def missing(self, name: str, kind: str) -> str | None:
        """Why ``kind`` (a file kind, or "points" = depth) cannot be read for ``name``, or None."""
        kind = "depth" if kind == "points" else kind
        return None if self.exists(name, kind) else f"{kind} file {self.path(name, kind)} does not exist"

    # -- reading -------------------------------------------------------------------------------
    def num_frames(self, name: str, kind: str) -> int:
        if kind == "skeleton":
            return int(self.load_skeleton(name).joints.shape[1])
        if kind == "depth":
            return len(depth_frame_paths(self.path(name, "depth")))
        return int(video_num_frames(self.path(name, kind)))

    def _sequence(self, name: str) -> SkeletonSequence:
        # the intrinsics fit and the denoiser read the same file, usually one right after the other
        if self._last is None or self._last[0] != name:
            self._last = (name, read_skeleton(self.path(name, "skeleton")))
        return self._last[1]

    def load_skeleton(self, name: str) -> SkeletonData:
        path = self.path(name, "skeleton")
        den = denoise_bodies(self._sequence(name), max_bodies=self.max_bodies, keep_frame_index=True, path=str(path))
        return SkeletonData(den.joints, den.colors)

    def load_frames(self, name: str, kind: str, indices: Sequence[int] | None = None) -> np.ndarray:
        """Decoded frames: depth uint16 (T, h, w), rgb uint8 (T, h, w, 3), ir uint8 (T, h, w)."""
        idx = None if indices is None else [int(i) for i in indices]
        path = self.path(name, kind)
        if kind == "depth":
            frames = read_depth_folder(path, indices=idx, expected_size=self.expected_size(kind))
            return resize_short_side(frames, self.decode_size, nearest=True)
        if kind in ("rgb", "ir"):
            frames = read_video(path, indices=idx, gray=kind == "ir")
            return resize_short_side(frames, self.decode_size)
        raise ConfigError(f"no frames for kind {kind!r}")

    def load_points(self, name: str, indices: Sequence[int]) -> np.ndarray:
        """(T, base_points, 3) from the full-resolution depth frames at ``indices``."""
        idx = [int(i) for i in indices]
        uniq, inv = np.unique(idx, return_inverse=True)
        depth = read_depth_folder(self.path(name, "depth"), indices=uniq.tolist(),
                                  expected_size=self.expected_size("depth"))
        pts = base_points(depth, name, uniq.tolist(), self.intrinsics(name), self.base_points, self.point_method)
        return pts[inv]

    def native_size(self, name: str, kind: str) -> tuple[int, int]:
        """(H, W) of ``kind`` before any resize: synthetic meta, else probed from the file."""
        if "sizes" in self.meta or kind not in ("rgb", "ir") or not self.exists(name, kind):
            return self.sizes[kind]
        key = (name, kind)
        if key not in self._native:
            self._native[key] = tuple(read_video(self.path(name, kind), indices=[0]).shape[1:3])
        return self._native[key]

    def intrinsics(self, name: str) -> CameraIntrinsics:
        """Depth intrinsics: the synthetic world's, else fitted on the sample's skeleton file, else Kinect v2's."""
        return self.depth_intrinsics(name).intrinsics

    def depth_intrinsics(self, name: str) -> DepthIntrinsics:
        """:meth:`intrinsics` with where they came from (cached per sample).

        A synthetic world's meta holds its exact cameras ("meta"); real NTU publishes none, and its
        Kinects differ by up to 6 px, so each sample is fitted on its own ``.skeleton`` file
        (:func:`~mmfusion.data.calibration.sample_intrinsics`: "fit", else "default" with the reason).
        """
        fit = self._fits.get(name)
        if fit is None:
            if self._intrinsics is not KINECT_V2_DEPTH:  # meta_intrinsics returns that very object without meta
                fit = DepthIntrinsics(self._intrinsics, "meta")
            elif not self.exists(name, "skeleton"):
                fit = DepthIntrinsics(KINECT_V2_DEPTH, "default", reason="no skeleton file")
            else:
                try:
                    seq = self._sequence(name)
                except MMFusionError as exc:  # a broken skeleton: load_skeleton reports it; points keep going
                    fit = DepthIntrinsics(KINECT_V2_DEPTH, "default", reason=str(exc))
                else:
                    fit = sample_intrinsics(seq, KINECT_V2_DEPTH)
            self._fits[name] = fit
        return fit

    def expected_size(self, kind: str) -> tuple[int, int] | None:
        """(H, W) the files must have: only synthetic worlds declare sizes; for real NTU the
        readers check nothing but dtype."""
        if "sizes" in self.meta:
            return self.sizes[kind]
        return None
