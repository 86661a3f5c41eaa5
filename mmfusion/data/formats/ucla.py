"""NW-UCLA skeletons in the ``all_sqe`` JSON layout used by CTR-GCN.

A file ``aAA_sSS_eEE_vVV.json`` holds exactly ``{"file_name": str, "skeletons":
[[[x, y, z] x 20 joints] x T frames], "label": int}`` (Kinect v1 metres, one person) and equals
``json.dumps(obj)`` byte for byte (default separators, no trailing newline). Labels are
1-based over the 10 actions a01..a06, a08, a09, a11, a12. Protocol: views 1 and 2 train,
view 3 test.

Arrays: :func:`read_ucla` returns ``(T, 20, 3)`` float32.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import DataFormatError

UCLA_ACTIONS: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 8, 9, 11, 12)
UCLA_TRAIN_VIEWS: frozenset[int] = frozenset({1, 2})
_NAME_RE = re.compile(r"^a(\d{2})_s(\d{2})_e(\d{2})_v(\d{2})$")


@dataclass(frozen=True)
class UCLASample:
    """One NW-UCLA sample: name fields and the (T, 20, 3) skeleton."""

    file_name: str
    skeletons: np.ndarray
    label: int

    @property
    def action(self) -> int:
        return int(self.file_name[1:3])

    @property
    def view(self) -> int:
        return int(self.file_name[-2:])

    @property
    def split(self) -> str:
        return "train" if self.view in UCLA_TRAIN_VIEWS else "test"


def ucla_label(action: int) -> int:
    """1-based label of action id ``action`` (a07 and a10 do not exist)."""
    if action not in UCLA_ACTIONS:
        raise ValueError(f"NW-UCLA has no action a{action:02d}")
    return UCLA_ACTIONS.index(action) + 1


def read_ucla(path: str | os.PathLike[str]) -> UCLASample:
    path = Path(path)
    try:
        obj = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataFormatError(path, f"not a readable NW-UCLA JSON file ({exc})") from exc
    if not isinstance(obj, dict) or set(obj) != {"file_name", "skeletons", "label"}:
        raise DataFormatError(path, "expected exactly the keys file_name, skeletons, label")
    if not _NAME_RE.match(str(obj["file_name"])):
        raise DataFormatError(path, f"file_name {obj['file_name']!r} is not aAA_sSS_eEE_vVV")
    try:
        sk = np.asarray(obj["skeletons"], dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise DataFormatError(path, f"skeletons are not a numeric (T, 20, 3) array ({exc})") from None
    if sk.ndim != 3 or sk.shape[1:] != (20, 3) or len(sk) == 0:
        raise DataFormatError(path, f"skeletons must be (T, 20, 3) with T >= 1, got {sk.shape}")
    if not np.isfinite(sk).all():
        raise DataFormatError(path, "NaN or infinite joint coordinate")
    if (np.abs(sk) > np.finfo(np.float32).max).any():  # finite in float64, inf in the float32 result
        raise DataFormatError(path, "joint coordinate beyond the float32 range")
    label = obj["label"]
    # bool is an int subclass and 3.5 / "3" are not labels; the range is 1..10 (see ucla_label)
    if isinstance(label, bool) or not isinstance(label, int) or not 1 <= label <= len(UCLA_ACTIONS):
        raise DataFormatError(path, f"label must be an integer in 1..{len(UCLA_ACTIONS)}, got {label!r}")
    return UCLASample(str(obj["file_name"]), sk.astype(np.float32), label)


def format_ucla(file_name: str, skeletons: list | np.ndarray, label: int) -> str:
    """File text; pass the original nested lists (not float32 arrays) for a byte-exact rewrite."""
    sk = skeletons.tolist() if isinstance(skeletons, np.ndarray) else skeletons
    return json.dumps({"file_name": file_name, "skeletons": sk, "label": int(label)})


def write_ucla(path: str | os.PathLike[str], file_name: str, skeletons: list | np.ndarray, label: int) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(format_ucla(file_name, skeletons, label))
    return path
