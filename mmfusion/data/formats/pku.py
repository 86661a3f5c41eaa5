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

F32_MAX = float(np.finfo(np.float32).max)


def read_pku_skeleton(path: str | os.PathLike[str]) -> np.ndarray:
    """``(2, T, 25, 3)`` float32 joints; line numbers in errors count blank lines too."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(path, f"cannot read PKU-MMD skeleton file ({exc})") from exc
    rows = [(i + 1, r) for i, r in enumerate(text.split("\n")) if r.strip()]
    if not rows:
        raise DataFormatError(path, "empty PKU-MMD skeleton file", line=1)
    out = np.empty((len(rows), 150), dtype=np.float64)
    for i, (line, row) in enumerate(rows):
        tok = row.split()
        if len(tok) != 150:
            raise DataFormatError(path, f"row has {len(tok)} values, expected 150", line=line)
        try:
            out[i] = [float(t) for t in tok]
        except ValueError:
            raise DataFormatError(path, "non-numeric value", line=line) from None
    # finite in float64 is not enough: 1e39 becomes inf in the float32 result
    bad = ~np.isfinite(out) | (np.abs(out) > F32_MAX)
    if bad.any():
        i, k = (int(v) for v in np.argwhere(bad)[0])
        raise DataFormatError(path, f"value {out[i, k]!r} is NaN, infinite or beyond the float32 range",
                              line=rows[i][0])
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
    """Labelled intervals; every field must be a finite integer (``3.0`` is accepted, as in the
    official files), action >= 1, 0 <= start <= end."""
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
            vals = [float(p) for p in parts]
        except ValueError:
            raise DataFormatError(path, f"non-numeric label field in {ln!r}", line=i + 1) from None
        # int(float("inf")) raises OverflowError and int(2.7) silently truncates: check first
        if not all(np.isfinite(v) and v == int(v) and abs(v) < 2**31 for v in vals):
            raise DataFormatError(path, f"label fields must be finite integers, got {ln!r}", line=i + 1)
        a, s, e, c = (int(v) for v in vals)
        if a < 1 or s < 0:
            raise DataFormatError(path, f"action id must be >= 1 and start frame >= 0, got {ln!r}", line=i + 1)
        if e < s:
            raise DataFormatError(path, f"end frame {e} before start frame {s}", line=i + 1)
        out.append(PKUAction(a, s, e, c))
    return out
