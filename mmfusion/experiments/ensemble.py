"""Score-level multi-stream ensembles: ``mmfusion ensemble SCORES... [--weights ... | --fit-on VAL...
| --preset NAME]``.

Each input is a scores file (:mod:`.scores`) of one stream on the same test set. The files must
hold the same sample names with the same labels (order may differ: they are aligned by name);
a mismatch is a :class:`~mmfusion.errors.DataFormatError` naming the file. The fused score of a
sample is ``sum_i w_i * s_i``, ``s_i`` as each file stores it (the papers fuse what their test
scripts save: CTR-GCN / PSUMNet logits, PYSKL / BRL clip-averaged probabilities); files of
different kinds are refused.

Presets (weights in the order of the files given):

=================  ====================================  ==========================================
preset             streams, weights                      source
=================  ====================================  ==========================================
``2s``             j, b: 1, 1                            BRL ``tools/ensemble.py`` ("J+B")
``4s``             j, b, jm, bm: 2, 2, 1, 1              BRL / PYSKL ``tools/ensemble.py`` ("4M")
``6s``             j, b, k, jm, bm, km: 2, 2, 2, 1, 1, 1 BRL ``tools/ensemble.py`` ("6M")
``ctrgcn4s``       j, b, jm, bm: 0.6, 0.6, 0.4, 0.4      CTR-GCN ``ensemble.py``
``psumnet_ntu60_xsub`` ... body, hand, leg: per split         PSUMNet ``ensemble.py`` comments (specs s. 12)
=================  ====================================  ==========================================

Fitted weights (``--fit-on``): coordinate search on a validation split's scores (same streams,
same order): start from equal weights, then repeatedly try each weight on the grid
0, 0.1, ..., 2.0 with the others fixed, keep the value with the highest validation top-1 (ties:
the current value), until a full sweep changes nothing (at most 10 sweeps). Deterministic.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, DataFormatError
from .scores import ScoreFile, load_scores

PRESETS: dict[str, tuple[float, ...]] = {
    "2s": (1.0, 1.0),
    "4s": (2.0, 2.0, 1.0, 1.0),
    "6s": (2.0, 2.0, 2.0, 1.0, 1.0, 1.0),
    "ctrgcn4s": (0.6, 0.6, 0.4, 0.4),
    "psumnet_ntu60_xsub": (2.0, 1.8, 0.7),
    "psumnet_ntu60_xview": (2.1, 1.6, 0.7),
    "psumnet_ntu120_xsub": (2.2, 1.5, 0.7),
    "psumnet_ntu120_xset": (2.1, 2.0, 0.8),
}
#: the stream order each preset expects
PRESET_STREAMS: dict[str, tuple[str, ...]] = {
    "2s": ("j", "b"), "4s": ("j", "b", "jm", "bm"), "6s": ("j", "b", "k", "jm", "bm", "km"),
    "ctrgcn4s": ("j", "b", "jm", "bm"), **{k: ("body", "hand", "leg") for k in PRESETS if k.startswith("psumnet")},
}
GRID = tuple(round(0.1 * i, 1) for i in range(21))


@dataclass
class Fused:
    """A fused result: ``scores`` (N, C), ``labels`` (N,), ``names``, the weights and metrics."""

    scores: np.ndarray
    labels: np.ndarray
    names: list[str]
    weights: tuple[float, ...]
    top1: float
    top5: float
    mean_class: float


def accuracy(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float, float]:
    """(top-1, top-5, mean-class accuracy) of (N, C) scores; top-5 is top-min(5, C)."""
    if len(labels) == 0:
        return float("nan"), float("nan"), float("nan")
    k = min(5, scores.shape[1])
    topk = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    pred = topk[:, 0]
    top1 = float((pred == labels).mean())
    top5 = float((topk == labels[:, None]).any(1).mean())
    per = [float((pred[labels == c] == c).mean()) for c in np.unique(labels)]
    return top1, top5, float(np.mean(per))


def align(files: Sequence[ScoreFile]) -> list[ScoreFile]:
    """The files reordered to the first file's sample order; raises DataFormatError naming the
    first file whose names, labels, class count or score kind differ."""
    if not files:
        raise ConfigError("no scores files given")
    ref = files[0]
    order = {n: i for i, n in enumerate(ref.names)}
    if len(order) != len(ref.names):
        raise DataFormatError(ref.path, "duplicate sample names")
    out = [ref]
    for f in files[1:]:
        if f.kind != ref.kind:
            raise DataFormatError(f.path, f"holds {f.kind} scores, {ref.path} {ref.kind}: fuse files of one kind")
        if f.num_classes != ref.num_classes:
            raise DataFormatError(f.path, f"{f.num_classes} classes, {ref.path} has {ref.num_classes}")
        if len(f.names) != len(ref.names) or set(f.names) != set(order):
            extra = sorted(set(f.names) - set(order))[:3]
            missing = sorted(set(order) - set(f.names))[:3]
            raise DataFormatError(f.path, f"covers other samples than {ref.path} ({len(f.names)} vs "
                                          f"{len(ref.names)}; e.g. extra {extra}, missing {missing})")
        idx = np.array([order[n] for n in f.names])
        perm = np.argsort(idx)  # row of f holding ref's sample i
        labels = f.labels[perm]
        bad = np.flatnonzero(labels != ref.labels)
        if len(bad):
            i = int(bad[0])
            raise DataFormatError(f.path, f"sample {ref.names[i]} has label {int(labels[i])}, "
                                          f"{ref.path} says {int(ref.labels[i])}")
        out.append(ScoreFile(f.scores[perm], labels, list(ref.names), f.kind, f.classes, f.meta, f.path))
    return out


def fuse(files: Sequence[ScoreFile], weights: Sequence[float] | None = None) -> Fused:
    """Weighted sum of aligned scores (equal weights by default) and its metrics."""
    files = align(files)
    w = tuple(float(x) for x in (weights if weights is not None else [1.0] * len(files)))
    if len(w) != len(files):
        raise ConfigError(f"{len(w)} weights for {len(files)} scores files")
    scores = sum(wi * f.scores.astype(np.float64) for wi, f in zip(w, files))
    top1, top5, mc = accuracy(scores, files[0].labels)
    return Fused(np.asarray(scores, np.float32), files[0].labels, files[0].names, w, top1, top5, mc)


def fit_weights(val_files: Sequence[ScoreFile], grid: Sequence[float] = GRID, sweeps: int = 10) -> tuple[float, ...]:
    """Coordinate search of fusion weights on validation scores (see the module docstring)."""
    files = align(val_files)
    stack = np.stack([f.scores.astype(np.float64) for f in files])  # (S, N, C)
    labels = files[0].labels
    w = np.ones(len(files))

    def top1(weights: np.ndarray) -> float:
        return float((np.tensordot(weights, stack, 1).argmax(1) == labels).mean())

    best = top1(w)
    for _ in range(sweeps):
        changed = False
        for i in range(len(w)):
            for g in grid:
                trial = w.copy()
                trial[i] = g
                if not trial.any():
                    continue
                acc = top1(trial)
                if acc > best:
                    best, w, changed = acc, trial, True
        if not changed:
            break
    return tuple(float(x) for x in w)


def preset_weights(name: str, count: int) -> tuple[float, ...]:
    """A preset's weights, checked against the number of files."""
    if name not in PRESETS:
        raise ConfigError(f"unknown ensemble preset {name!r}; choose from {sorted(PRESETS)}")
    w = PRESETS[name]
    if len(w) != count:
        raise ConfigError(f"preset {name} fuses {len(w)} streams ({', '.join(PRESET_STREAMS[name])}), "
                          f"got {count} files")
    return w


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """Options of ``mmfusion ensemble``."""
    ap.add_argument("scores", nargs="+", help="scores files (.npz from mmfusion test --save-scores)")
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--weights", type=float, nargs="+", help="one weight per file")
    group.add_argument("--fit-on", nargs="+", metavar="VAL_SCORES",
                       help="validation scores files (same streams, same order) to fit the weights on")
    group.add_argument("--preset", choices=sorted(PRESETS), help="the papers' weights (see the docs)")


def run(a: argparse.Namespace) -> int:
    files = [load_scores(p) for p in a.scores]
    if a.preset:
        weights: Sequence[float] | None = preset_weights(a.preset, len(files))
    elif a.fit_on:
        if len(a.fit_on) != len(files):
            raise ConfigError(f"--fit-on needs one validation file per scores file ({len(files)}), "
                              f"got {len(a.fit_on)}")
        weights = fit_weights([load_scores(p) for p in a.fit_on])
    else:
        weights = a.weights
    for f in align(files):
        t1, t5, mc = accuracy(f.scores, f.labels)
        print(f"{f.path}: top-1 {100 * t1:.2f}  top-5 {100 * t5:.2f}  mean-class {100 * mc:.2f}")
    res = fuse(files, weights)
    print(f"fused ({len(files)} files, weights {', '.join(f'{w:g}' for w in res.weights)}; "
          f"{len(res.labels)} samples): top-1 {100 * res.top1:.2f}  top-5 {100 * res.top5:.2f}  "
          f"mean-class {100 * res.mean_class:.2f}")
    return 0


__all__ = ["GRID", "PRESETS", "PRESET_STREAMS", "Fused", "accuracy", "add_arguments", "align", "fit_weights", "fuse",
           "preset_weights", "run"]
