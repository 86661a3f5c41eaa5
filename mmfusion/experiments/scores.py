"""Per-sample test scores on disk, without pickle: what ``mmfusion test --save-scores`` writes
and ``mmfusion ensemble`` reads.

Format: an ``.npz`` of plain arrays (``np.savez``; loaded with ``allow_pickle=False``, so a
file cannot run code):

=============  ===========  ==================================================================
key            shape        content
=============  ===========  ==================================================================
``scores``     (N, C) f32   clip-averaged softmax probabilities (``kind == "prob"``) or logits
``labels``     (N,) i64     true class, 0-based
``names``      (N,) ``<U``  sample names (unicode array, not objects)
``kind``       () ``<U``    "prob" or "logit"
``classes``    (C,) ``<U``  class names (may be empty)
``meta``       () ``<U``    JSON: run folder, model, stream, clips, weights, ...
=============  ===========  ==================================================================
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataFormatError

KINDS = ("prob", "logit")


@dataclass
class ScoreFile:
    """Scores of one model on one test set. ``scores`` (N, C), ``labels`` (N,), ``names`` N."""

    scores: np.ndarray
    labels: np.ndarray
    names: list[str]
    kind: str = "logit"
    classes: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    path: str = ""

    @property
    def num_classes(self) -> int:
        return int(self.scores.shape[1])


def save_scores(path: str | os.PathLike[str], scores: np.ndarray, labels: np.ndarray, names: Sequence[str],
                kind: str, classes: Sequence[str] = (), meta: Mapping[str, Any] | None = None) -> Path:
    """Write a scores file (see the module docstring); returns its path."""
    path = Path(path)
    scores = np.asarray(scores, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if scores.ndim != 2 or len(scores) != len(labels) or len(labels) != len(names):
        raise ValueError(f"scores (N, C), labels (N,), names N must agree: {scores.shape}, {labels.shape}, "
                         f"{len(names)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, scores=scores, labels=labels, names=np.array([str(n) for n in names], dtype=np.str_),
             kind=np.array(kind, dtype=np.str_), classes=np.array([str(c) for c in classes], dtype=np.str_),
             meta=np.array(json.dumps(dict(meta or {}), sort_keys=True), dtype=np.str_))
    os.replace(tmp, path)
    return path


def load_scores(path: str | os.PathLike[str]) -> ScoreFile:
    """Read a scores file; anything malformed is a :class:`DataFormatError` naming it."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = {"scores", "labels", "names", "kind"} - set(f.files)
            if missing:
                raise DataFormatError(path, f"not a scores file: missing {sorted(missing)} (has {sorted(f.files)})")
            scores, labels, names = f["scores"], f["labels"], f["names"]
            kind = str(f["kind"])
            classes = [str(c) for c in f["classes"]] if "classes" in f.files else []
            meta = json.loads(str(f["meta"])) if "meta" in f.files else {}
    except DataFormatError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataFormatError(path, f"not a readable scores .npz ({exc})") from None
    if scores.ndim != 2 or labels.shape != (len(scores),) or names.shape != (len(scores),):
        raise DataFormatError(path, f"inconsistent shapes: scores {scores.shape}, labels {labels.shape}, "
                              f"names {names.shape}")
    if names.dtype.kind != "U" or labels.dtype.kind not in "iu":
        raise DataFormatError(path, f"names must be unicode and labels integer, got {names.dtype}, {labels.dtype}")
    if kind not in KINDS:
        raise DataFormatError(path, f"kind must be one of {KINDS}, got {kind!r}")
    if not np.isfinite(scores).all():
        raise DataFormatError(path, "scores contain NaN or infinite values")
    return ScoreFile(scores.astype(np.float32), labels.astype(np.int64), [str(n) for n in names], kind, classes,
                     meta, str(path))


__all__ = ["KINDS", "ScoreFile", "load_scores", "save_scores"]
