"""PYSKL / mmaction2 skeleton annotation pickles (``ntu60_3danno.pkl``, ``ntu120_2d.pkl`` ...).

Structure (PYSKL ``tools/data``; mmcv dumps with pickle protocol 2)::

    {"split": {"xsub_train": [frame_dir, ...], "xsub_val": [...], "xview_train": ..., ...},
     "annotations": [{"frame_dir": "S001C001P001R001A001", "label": 0 (0-based),
                      "keypoint": float16/float32 (M, T, V, C) (C = 3 for 3-D, 2 for 2-D),
                      "keypoint_score": (M, T, V) (2-D only), "total_frames": T,
                      "img_shape": (H, W), "original_shape": (H, W)}, ...]}

Older mmaction2 files are the bare annotation list. A split is selected as PYSKL does: the
annotations whose ``frame_dir`` is in ``split[name]``, in annotation order.

Security: a pickle can run any code when loaded. :func:`read_pyskl` uses a *restricted*
unpickler that admits only numpy array / dtype / scalar reconstruction, ``_codecs.encode``
(how protocol-2 pickles store bytes) and a few inert builtins; any other global (``os.system``,
``subprocess.Popen``, ``builtins.eval`` ...) is refused with a
:class:`~mmfusion.errors.DataFormatError` naming the file, before anything runs.

Arrays: :meth:`PysklAnnotations.to_arrays` packs ``(N, C, T, V, M)`` float32 (C = 3; 2-D
keypoints get their score as third channel, as PYSKL's GCN input), zero-padded in T and M.
"""

from __future__ import annotations

import io
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import DataFormatError

#: (module, name) globals a PYSKL pickle may reference; numpy 1.x and 2.x module paths
_ALLOWED: frozenset[tuple[str, str]] = frozenset({
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("_codecs", "encode"),
    ("builtins", "slice"), ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "complex"),
    ("builtins", "bytearray"), ("collections", "OrderedDict"),
})
_NUMPY_DTYPE_MODULES = ("numpy", "numpy.dtypes")


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED or (module in _NUMPY_DTYPE_MODULES and name.endswith("DType")):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")


def safe_load_pickle(path: str | os.PathLike[str]) -> Any:
    """Unpickle ``path`` admitting only numpy arrays/dtypes and plain containers."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataFormatError(path, f"cannot read pickle ({exc.strerror or exc})") from exc
    try:
        return _RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except pickle.UnpicklingError as exc:
        raise DataFormatError(path, f"refused to unpickle: {exc} (only numpy arrays and builtins are "
                                    "admitted)") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError, MemoryError) as exc:
        raise DataFormatError(path, f"not a readable pickle ({type(exc).__name__}: {exc})") from None


@dataclass
class PysklAnnotations:
    """Annotations of one PYSKL pickle (optionally one split).

    Attributes:
        names: ``frame_dir`` of each sample; labels: (N,) int64, 0-based;
        keypoints: per sample (M, T, V, C) float32 (C = 3: x, y, z or x, y, score);
        split: the file's split dict (name -> frame_dirs); path: the file.
    """

    names: list[str]
    labels: np.ndarray
    keypoints: list[np.ndarray]
    split: dict[str, list[str]]
    path: str

    def __len__(self) -> int:
        return len(self.names)

    @property
    def total_frames(self) -> np.ndarray:
        return np.array([k.shape[1] for k in self.keypoints], dtype=np.int64)

    def to_arrays(self, num_frames: int | None = None, num_person: int = 2) -> np.ndarray:
        """(N, C, T, V, M) float32, T = ``num_frames`` (default: the longest sample; longer
        samples are cut), M = ``num_person`` (extra persons dropped, missing ones zero)."""
        if not self.keypoints:
            return np.zeros((0, 3, num_frames or 0, 0, num_person), dtype=np.float32)
        t = int(num_frames or self.total_frames.max())
        m_, _, v, c = self.keypoints[0].shape
        out = np.zeros((len(self), c, t, v, num_person), dtype=np.float32)
        for i, kp in enumerate(self.keypoints):
            k = kp[:num_person, :t]
            out[i, :, : k.shape[1], :, : k.shape[0]] = k.transpose(3, 1, 2, 0)
        return out


def _as_keypoint(path: Path, i: int, ann: dict[str, Any]) -> np.ndarray:
    kp = ann.get("keypoint")
    if not isinstance(kp, np.ndarray) or kp.ndim != 4 or kp.shape[-1] not in (2, 3) or kp.dtype.kind != "f":
        shape = getattr(kp, "shape", type(kp).__name__)
        raise DataFormatError(path, f"annotation {i} ({ann.get('frame_dir')!r}): keypoint must be a float "
                                    f"(M, T, V, C in 2..3) array, got {shape}")
    kp = kp.astype(np.float32)
    if kp.shape[-1] == 2:
        score = ann.get("keypoint_score")
        if score is None:
            score = np.ones(kp.shape[:-1], dtype=np.float32)
        score = np.asarray(score, dtype=np.float32)
        if score.shape != kp.shape[:-1]:
            raise DataFormatError(path, f"annotation {i}: keypoint_score {score.shape} does not match "
                                        f"keypoint {kp.shape}")
        kp = np.concatenate([kp, score[..., None]], -1)
    if not np.isfinite(kp).all():
        raise DataFormatError(path, f"annotation {i} ({ann.get('frame_dir')!r}): NaN or infinite keypoint")
    return kp


def read_pyskl(path: str | os.PathLike[str], split: str | None = None) -> PysklAnnotations:
    """Read a PYSKL / mmaction2 skeleton pickle (restricted unpickling), optionally one split."""
    path = Path(path)
    obj = safe_load_pickle(path)
    if isinstance(obj, list):
        anns, splits = obj, {}
    elif isinstance(obj, dict) and isinstance(obj.get("annotations"), list):
        anns, splits = obj["annotations"], obj.get("split", {})
        if not isinstance(splits, dict):
            raise DataFormatError(path, "'split' must be a dict of name -> list of frame_dir")
    else:
        raise DataFormatError(path, "expected {'split': ..., 'annotations': [...]} or a list of annotations")
    splits = {str(k): [str(n) for n in v] for k, v in splits.items()}
    if split is not None:
        if split not in splits:
            raise DataFormatError(path, f"no split {split!r}; the file has {sorted(splits)}")
        keep = set(splits[split])
        anns = [a for a in anns if isinstance(a, dict) and a.get("frame_dir") in keep]
    names, labels, kps = [], [], []
    for i, ann in enumerate(anns):
        if not isinstance(ann, dict) or "frame_dir" not in ann or "label" not in ann:
            raise DataFormatError(path, f"annotation {i} lacks frame_dir/label")
        try:
            label = int(ann["label"])
        except (TypeError, ValueError):
            raise DataFormatError(path, f"annotation {i}: label {ann['label']!r} is not an integer") from None
        kps.append(_as_keypoint(path, i, ann))
        names.append(str(ann["frame_dir"]))
        labels.append(label)
    return PysklAnnotations(names, np.asarray(labels, dtype=np.int64), kps, splits, str(path))
