"""CTR-GCN / SGN ``NTU60_CS.npz``-style arrays (``seq_transformation.py`` output).

Keys ``x_train``, ``y_train``, ``x_test``, ``y_test``: ``x`` is ``(N, T, 150)`` float (T = 300,
zero-padded; 150 = M=2 persons x V=25 joints x 3, person-major, single-person samples have
zeros in 75..149) and ``y`` is one-hot ``(N, num_classes)``. The files carry no sample
names; :func:`read_ctrgcn_npz` names samples ``"{part}_{index:06d}"``.

Loaded with ``allow_pickle=False`` (an object array is refused). Arrays:
``(N, C=3, T, V=25, M=2)`` float32, labels ``(N,)`` int64 (0-based).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from ...errors import DataFormatError

NUM_JOINTS = 25


def ctrgcn_to_nctvm(x: np.ndarray, num_joints: int = NUM_JOINTS) -> np.ndarray:
    """(N, T, M * V * 3) -> (N, 3, T, V, M), the CTR-GCN feeder's reshape."""
    n, t, d = x.shape
    m = d // (num_joints * 3)
    return np.ascontiguousarray(x.reshape(n, t, m, num_joints, 3).transpose(0, 4, 1, 3, 2))


def read_ctrgcn_npz(path: str | os.PathLike[str], part: str = "train",
                    num_joints: int = NUM_JOINTS) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``(data (N, 3, T, V, M) float32, labels (N,) int64, names)`` of ``part`` ("train"/"test")."""
    path = Path(path)
    if part not in ("train", "test"):
        raise DataFormatError(path, f"part must be 'train' or 'test', got {part!r}")
    try:
        with np.load(path, allow_pickle=False) as f:
            keys = set(f.files)
            want = {f"x_{part}", f"y_{part}"}
            if not want <= keys:
                raise DataFormatError(path, f"missing key(s) {sorted(want - keys)}; found {sorted(keys)}")
            x = f[f"x_{part}"]
            y = f[f"y_{part}"]
    except DataFormatError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataFormatError(path, f"not a readable .npz of plain arrays ({exc})") from None
    if x.ndim != 3 or x.shape[2] % (num_joints * 3) or x.dtype.kind != "f":
        raise DataFormatError(path, f"x_{part} must be float (N, T, M*{num_joints}*3), got {x.dtype} {x.shape}")
    if len(y) != len(x):
        raise DataFormatError(path, f"x_{part} has {len(x)} samples, y_{part} {len(y)}")
    if y.ndim == 2:
        ok = np.all((y == 0) | (y == 1), axis=1) & (y.sum(1) == 1)
        if not ok.all():
            raise DataFormatError(path, f"y_{part} row {int(np.flatnonzero(~ok)[0])} is not one-hot")
        labels = y.argmax(1).astype(np.int64)
    elif y.ndim == 1 and y.dtype.kind in "iu":
        labels = y.astype(np.int64)
    else:
        raise DataFormatError(path, f"y_{part} must be one-hot (N, K) or integer (N,), got {y.dtype} {y.shape}")
    if not np.isfinite(x).all():
        raise DataFormatError(path, f"x_{part} has NaN or infinite values")
    data = ctrgcn_to_nctvm(x.astype(np.float32, copy=False), num_joints)
    return data, labels, [f"{part}_{i:06d}" for i in range(len(x))]


def write_ctrgcn_npz(path: str | os.PathLike[str], train: tuple[np.ndarray, np.ndarray],
                     test: tuple[np.ndarray, np.ndarray], num_classes: int) -> Path:
    """Write ``(data (N, 3, T, V, M), labels (N,))`` pairs in the CTR-GCN layout (one-hot labels)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = {}
    for part, (data, labels) in (("train", train), ("test", test)):
        n, c, t, v, m = data.shape
        out[f"x_{part}"] = np.ascontiguousarray(data.transpose(0, 2, 4, 3, 1)).reshape(n, t, m * v * c)
        out[f"y_{part}"] = np.eye(num_classes, dtype=np.float32)[np.asarray(labels, dtype=np.int64)]
    np.savez(path, **out)
    return path
