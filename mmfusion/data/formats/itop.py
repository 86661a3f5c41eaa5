"""ITOP (Haque et al., ECCV 2016) readers and writers for the published HDF5 files.

Files ``ITOP_{side,top}_{train,test}_{labels,point_cloud,depth_map}.h5``:

* labels: ``id`` (N,) bytes ``"PP_FFFFF"`` (person, frame), ``is_valid`` (N,),
  ``visible_joints`` (N, 15), ``image_coordinates`` (N, 15, 2) pixels,
  ``real_world_coordinates`` (N, 15, 3) metres, ``segmentation`` (N, 240, 320) with -1 as
  background;
* point_cloud: ``id`` (N,), ``data`` (N, 76800, 3) metres, one point per pixel of the
  240 x 320 depth image in row-major order (all-zero = no reading);
* depth_map: ``id`` (N,), ``data`` (N, 240, 320) metres.

Camera (A2J's ``itop_side.py``): ``X = (u - 160) Z 0.0035``, ``Y = (120 - v) Z 0.0035``, i.e.
fx = fy = 285.71, cx = 160, cy = 120, **Y up** (the convention of :mod:`mmfusion.pose.decode`).

Readers open files lazily (h5py slicing), check every key and shape they use and raise
:class:`~mmfusion.errors.DataFormatError` naming the file. The writers produce files of the
same layout (test fixtures, or converting other data to ITOP form).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import DataFormatError
from ..layouts import SkeletonLayout

__all__ = [
    "ITOP15", "ITOP_INTRINSICS", "ITOP_SIZE", "ITOPLabels", "itop_path", "parse_itop_id", "read_itop_ids",
    "read_itop_labels", "read_itop_point_cloud", "read_itop_depth", "write_itop_labels", "write_itop_point_cloud",
]

#: ITOP's 15 joints (SPiKE's order); torso is the root; flip pairs (14,13) (12,11) (10,9) (7,6) (5,4) (3,2)
ITOP15 = SkeletonLayout(
    name="itop15",
    joints=("Head", "Neck", "RShoulder", "LShoulder", "RElbow", "LElbow", "RHand", "LHand", "Torso", "RHip", "LHip",
            "RKnee", "LKnee", "RFoot", "LFoot"),
    parents=(1, 8, 1, 1, 2, 3, 4, 5, 8, 8, 8, 9, 10, 11, 12),
    flip=(0, 1, 3, 2, 5, 4, 7, 6, 8, 10, 9, 12, 11, 14, 13),
    parts={"head": (0, 1), "torso": (1, 8, 9, 10), "right_arm": (2, 4, 6), "left_arm": (3, 5, 7),
           "right_leg": (9, 11, 13), "left_leg": (10, 12, 14)},
    center=8,
)
#: (fx, fy, cx, cy) of ITOP's depth camera
ITOP_INTRINSICS: tuple[float, float, float, float] = (1 / 0.0035, 1 / 0.0035, 160.0, 120.0)
#: (H, W) of ITOP depth images
ITOP_SIZE: tuple[int, int] = (240, 320)


@dataclass
class ITOPLabels:
    """Contents of a labels file (N frames, 15 joints).

    Attributes: ids (list of "PP_FFFFF"), is_valid (N,) bool, visible_joints (N, 15) bool,
    image_coordinates (N, 15, 2) float32 pixels, real_world_coordinates (N, 15, 3) float32
    metres, segmentation (N, 240, 320) int8 (-1 background) or None when not loaded.
    """

    ids: list[str]
    is_valid: np.ndarray
    visible_joints: np.ndarray
    image_coordinates: np.ndarray
    real_world_coordinates: np.ndarray
    segmentation: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)


def itop_path(root: str | PathLike[str], split: str = "train", kind: str = "labels", view: str = "side") -> Path:
    """``root/ITOP_{view}_{split}_{kind}.h5``."""
    return Path(root) / f"ITOP_{view}_{split}_{kind}.h5"


def parse_itop_id(frame_id: str) -> tuple[int, int]:
    """``"PP_FFFFF"`` -> (person, frame); DataFormatError if malformed."""
    try:
        p, f = frame_id.split("_")
        return int(p), int(f)
    except ValueError:
        raise DataFormatError(None, f"ITOP id {frame_id!r} is not 'PP_FFFFF'") from None


def _open(path: str | PathLike[str]) -> Any:
    import h5py  # deferred: only ITOP needs it, and it loads a large native library

    p = Path(path)
    if not p.is_file():
        raise DataFormatError(p, "file not found")
    try:
        return h5py.File(p, "r")
    except OSError as exc:
        raise DataFormatError(p, f"not a readable HDF5 file ({exc})") from None


def _need(f: Any, path: Path, key: str, tail: tuple[int, ...], n: int | None) -> Any:
    if key not in f:
        raise DataFormatError(path, f"missing dataset {key!r} (has {sorted(f.keys())})")
    ds = f[key]
    if tuple(ds.shape[1:]) != tail or (n is not None and ds.shape[0] != n):
        want = ("N",) + tail if n is None else (n,) + tail
        raise DataFormatError(path, f"dataset {key!r} has shape {tuple(ds.shape)}, expected {want}")
    return ds


def _ids(f: Any, path: Path) -> list[str]:
    if "id" not in f:
        raise DataFormatError(path, "missing dataset 'id'")
    raw = f["id"][()]
    if np.ndim(raw) != 1:
        raise DataFormatError(path, f"dataset 'id' must be 1-D, got shape {np.shape(raw)}")
    return [x.decode("ascii") if isinstance(x, (bytes, np.bytes_)) else str(x) for x in raw]


def read_itop_ids(path: str | PathLike[str]) -> list[str]:
    """The ``id`` dataset of any ITOP file."""
    p = Path(path)
    with _open(p) as f:
        return _ids(f, p)


def read_itop_labels(path: str | PathLike[str], segmentation: bool = True) -> ITOPLabels:
    """Read a ``*_labels.h5`` file (all frames; ``segmentation=False`` skips the big mask array)."""
    p = Path(path)
    with _open(p) as f:
        ids = _ids(f, p)
        n = len(ids)
        valid = np.asarray(_need(f, p, "is_valid", (), n)[()]).astype(bool)
        vis = np.asarray(_need(f, p, "visible_joints", (15,), n)[()]).astype(bool)
        img = np.asarray(_need(f, p, "image_coordinates", (15, 2), n)[()], dtype=np.float32)
        world = np.asarray(_need(f, p, "real_world_coordinates", (15, 3), n)[()], dtype=np.float32)
        seg = np.asarray(_need(f, p, "segmentation", ITOP_SIZE, n)[()]).astype(np.int8) if segmentation else None
    bad = valid & ~np.isfinite(world).all(axis=(1, 2))
    if bad.any():
        raise DataFormatError(p, f"frame {ids[int(np.flatnonzero(bad)[0])]} is marked valid but has non-finite "
                                 f"real_world_coordinates")
    return ITOPLabels(ids, valid, vis, img, world, seg)


def _read_data(path: str | PathLike[str], tail: tuple[int, ...], indices: Sequence[int] | None
               ) -> tuple[list[str], np.ndarray]:
    p = Path(path)
    with _open(p) as f:
        ids = _ids(f, p)
        ds = _need(f, p, "data", tail, len(ids))
        if indices is None:
            return ids, np.asarray(ds[()], dtype=np.float32)
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= len(ids)):
            raise DataFormatError(p, f"frame index out of range [0, {len(ids)})")
        order = np.argsort(idx)
        # h5py fancy indexing needs increasing, unique indices
        uniq, inv = np.unique(idx[order], return_inverse=True)
        data = np.asarray(ds[uniq.tolist()], dtype=np.float32)[inv]
        out = np.empty_like(data)
        out[order] = data
        return [ids[i] for i in idx], out


def read_itop_point_cloud(path: str | PathLike[str], indices: Sequence[int] | None = None
                          ) -> tuple[list[str], np.ndarray]:
    """Read ``*_point_cloud.h5``: (ids, float32 (n, 76800, 3) metres); ``indices`` selects frames."""
    return _read_data(path, (ITOP_SIZE[0] * ITOP_SIZE[1], 3), indices)


def read_itop_depth(path: str | PathLike[str], indices: Sequence[int] | None = None) -> tuple[list[str], np.ndarray]:
    """Read ``*_depth_map.h5``: (ids, float32 (n, 240, 320) metres)."""
    return _read_data(path, ITOP_SIZE, indices)


def write_itop_labels(path: str | PathLike[str], labels: ITOPLabels) -> None:
    """Write an ITOP labels file (gzip, as the published ones); segmentation all -1 if None."""
    import h5py  # deferred, see _open

    n = len(labels)
    seg = labels.segmentation if labels.segmentation is not None else np.full((n, *ITOP_SIZE), -1, np.int8)
    with h5py.File(path, "w") as f:
        f.create_dataset("id", data=np.array([s.encode("ascii") for s in labels.ids]))
        f.create_dataset("is_valid", data=np.asarray(labels.is_valid, dtype=np.uint8))
        f.create_dataset("visible_joints", data=np.asarray(labels.visible_joints, dtype=np.uint8))
        f.create_dataset("image_coordinates", data=np.asarray(labels.image_coordinates, dtype=np.float32))
        f.create_dataset("real_world_coordinates", data=np.asarray(labels.real_world_coordinates, dtype=np.float32))
        f.create_dataset("segmentation", data=np.asarray(seg, dtype=np.int8), compression="gzip")


def write_itop_point_cloud(path: str | PathLike[str], ids: Sequence[str], data: np.ndarray) -> None:
    """Write an ITOP point-cloud file: ``data`` float (n, 76800, 3) metres."""
    import h5py  # deferred, see _open

    arr = np.asarray(data, dtype=np.float16 if data.dtype == np.float16 else np.float32)
    if arr.shape[1:] != (ITOP_SIZE[0] * ITOP_SIZE[1], 3) or arr.shape[0] != len(ids):
        raise DataFormatError(path, f"point cloud data must be ({len(ids)}, 76800, 3), got {arr.shape}")
    with h5py.File(path, "w") as f:
        f.create_dataset("id", data=np.array([s.encode("ascii") for s in ids]))
        f.create_dataset("data", data=arr, compression="gzip")
