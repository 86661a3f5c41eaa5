"""PKU-MMD skeleton and label files.

Skeleton file (``0002-L.txt``, ``A10N08-L.txt``): one row per frame of 150 numbers =
2 persons x 25 joints (NTU order) x (x, y, z); the second person is zeros when absent.
Values are ``%f``-formatted, joined by single spaces; rows are joined by ``"\\n "`` and the
file ends with ``"\\n"`` (every row after the first starts with a space).

Label file (``Label/<seq>.txt``): ``action_id,start_frame,end_frame,confidence`` per line.

Arrays: :func:`read_pku_skeleton` returns ``(M=2, T, V=25, 3)`` float32.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import DataFormatError


def read_pku_skeleton(path: str | os.PathLike[str]) -> np.ndarray:
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(path, f"cannot read PKU-MMD skeleton file ({exc})") from exc
    rows = [r for r in text.split("\n") if r.strip()]
    if not rows:
        raise DataFormatError(path, "empty PKU-MMD skeleton file", line=1)
    out = np.empty((len(rows), 150), dtype=np.float64)
    for i, row in enumerate(rows):
        tok = row.split()
        if len(tok) != 150:
            raise DataFormatError(path, f"row has {len(tok)} values, expected 150", line=i + 1)
        try:
            out[i] = [float(t) for t in tok]
        except ValueError:
            raise DataFormatError(path, "non-numeric value", line=i + 1) from None
    if not np.isfinite(out).all():
        raise DataFormatError(path, "NaN or infinite value", line=int(np.argwhere(~np.isfinite(out))[0, 0]) + 1)
    return out.reshape(-1, 2, 25, 3).transpose(1, 0, 2, 3).astype(np.float32)


def format_pku_skeleton(rows: np.ndarray) -> str:
    """File text of ``(T, 150)`` rows (or ``(M=2, T, 25, 3)`` arrays)."""
    rows = np.asarray(rows, dtype=np.float64)
    if rows.ndim == 4:
        rows = rows.transpose(1, 0, 2, 3).reshape(rows.shape[1], -1)
    return "\n ".join(" ".join(f"{v:f}" for v in r) for r in rows) + "\n"


def write_pku_skeleton(path: str | os.PathLike[str], rows: np.ndarray) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(format_pku_skeleton(rows))
    return path


@dataclass(frozen=True)
class PKUAction:
    """One labelled interval of an untrimmed PKU-MMD sequence (frames as in the file)."""

    action: int
    start: int
    end: int
    confidence: int


def read_pku_labels(path: str | os.PathLike[str]) -> list[PKUAction]:
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(path, f"cannot read PKU-MMD label file ({exc})") from exc
    out = []
    for i, ln in enumerate(lines):
        if not ln.strip():
            continue
        parts = [p.strip() for p in ln.split(",")]
        if len(parts) != 4:
            raise DataFormatError(path, f"expected 'action,start,end,confidence', got {ln!r}", line=i + 1)
        try:
            a, s, e, c = (int(float(p)) for p in parts)
        except ValueError:
            raise DataFormatError(path, f"non-numeric label field in {ln!r}", line=i + 1) from None
        if e < s:
            raise DataFormatError(path, f"end frame {e} before start frame {s}", line=i + 1)
        out.append(PKUAction(a, s, e, c))
    return out
