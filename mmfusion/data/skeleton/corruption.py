"""Temporal corruption of skeleton sequences: FineTec's five masking patterns at three levels.

Online pose estimation loses whole frames (FineTec reports up to 69.6 % missing in real use).
This module reproduces that at evaluation time for any skeleton model: a frame that is lost is
set to **zero** in every channel, joint and person, which is what the packed NTU arrays, the
PYSKL importer and the skeleton world already hold for "no skeleton in this frame"; models see
missing frames exactly as they see padding. Nothing is interpolated here (that is a model's
job, e.g. FineTec's completion).

Arrays and tensors: one sample ``(C, T, V, M)``, or ``(K, C, T, V, M)`` (test clips, each
clip gets the same mask); the time axis is ``-3``.

Levels (missing-frame ratio ``r`` of the valid frames; ours -- FineTec names the levels but
its code is not released; severe matches the 69.6 % it observed online):

=========  =====
level      r
=========  =====
minor      0.3
moderate   0.5
severe     0.7
=========  =====

Patterns, for ``T`` valid frames and ``n = round(r * T)`` missing ones:

* ``random``: ``n`` frames drawn without replacement (seeded).
* ``patterned``: periodic loss, in every period of ``PATTERN_PERIOD`` (10) frames the first
  ``round(r * 10)`` are lost, the period starting at a seeded phase in ``[0, 10)`` (frames
  ``t`` with ``(t + phase) % 10 < round(r * 10)``); the count is ``r * T`` when 10 divides T.
* ``prefix``: frames ``[0, n)``; ``suffix``: ``[T - n, T)``; ``middle``: the block
  ``[(T - n) // 2, (T - n) // 2 + n)``.

The valid length is the number of frames up to the last non-zero one (trailing zero padding
is not corrupted again). Masks are seeded per sample with ``(seed, index)``
(``np.random.default_rng([seed, index])``), so a test set is corrupted identically every
time, whatever the order or the process reading it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ...errors import ConfigError
from ..wrappers import DatasetWrapper

LEVELS: dict[str, float] = {"minor": 0.3, "moderate": 0.5, "severe": 0.7}
PATTERNS: tuple[str, ...] = ("random", "patterned", "prefix", "suffix", "middle")
PATTERN_PERIOD = 10

__all__ = ["LEVELS", "PATTERNS", "PATTERN_PERIOD", "CorruptedSkeletons", "corrupt", "corruption_table",
           "format_corruption_table", "missing_frames", "valid_length"]


def _ratio(level: str | float) -> float:
    if isinstance(level, str):
        if level not in LEVELS:
            raise ConfigError(f"unknown corruption level {level!r}; choose from {tuple(LEVELS)} or a ratio in [0, 1]")
        return LEVELS[level]
    if not 0.0 <= float(level) <= 1.0:
        raise ConfigError(f"a missing-frame ratio must lie in [0, 1], got {level}")
    return float(level)


def missing_frames(num_frames: int, pattern: str, level: str | float, rng: np.random.Generator | None = None,
                   ) -> np.ndarray:
    """Boolean ``(num_frames,)`` mask, True where a frame is lost.

    Args:
        num_frames: T, the valid frames.
        pattern: one of :data:`PATTERNS`.
        level: a name of :data:`LEVELS` or a ratio in [0, 1].
        rng: draws the random frames / the periodic phase (``random`` and ``patterned`` only;
            default ``np.random.default_rng(0)``).
    """
    if pattern not in PATTERNS:
        raise ConfigError(f"unknown corruption pattern {pattern!r}; choose from {PATTERNS}")
    r = _ratio(level)
    t = int(num_frames)
    lost = np.zeros(t, dtype=bool)
    n = min(t, int(round(r * t)))
    if t == 0:
        return lost
    if pattern == "random":
        rng = rng if rng is not None else np.random.default_rng(0)
        lost[rng.choice(t, size=n, replace=False)] = True
    elif pattern == "patterned":
        rng = rng if rng is not None else np.random.default_rng(0)
        phase = int(rng.integers(PATTERN_PERIOD))
        lost = (np.arange(t) + phase) % PATTERN_PERIOD < int(round(r * PATTERN_PERIOD))
    elif pattern == "prefix":
        lost[:n] = True
    elif pattern == "suffix":
        lost[t - n:] = True
    else:  # middle
        start = (t - n) // 2
        lost[start:start + n] = True
    return lost


def valid_length(x: np.ndarray | torch.Tensor) -> int:
    """Frames up to the last one with any non-zero value (time axis -3)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    other = tuple(a for a in range(x.ndim) if a != x.ndim - 3)
    nz = np.flatnonzero(np.any(x != 0, axis=other))
    return int(nz[-1]) + 1 if nz.size else 0


def corrupt(x: np.ndarray | torch.Tensor, pattern: str, level: str | float, rng: np.random.Generator | None = None,
            ) -> np.ndarray | torch.Tensor:
    """A copy of ``x`` (``(C, T, V, M)`` or ``(K, C, T, V, M)``) with the lost frames zeroed.

    Returns the same type as ``x``; see :func:`missing_frames` for ``pattern``, ``level`` and ``rng``.
    """
    if x.ndim not in (4, 5):
        raise ConfigError(f"corrupt expects (C, T, V, M) or (K, C, T, V, M), got shape {tuple(x.shape)}")
    t = valid_length(x)
    lost = np.zeros(x.shape[-3], dtype=bool)
    lost[:t] = missing_frames(t, pattern, level, rng)
    if isinstance(x, torch.Tensor):
        out_t = x.clone()
        out_t[..., torch.from_numpy(lost).to(x.device), :, :] = 0
        return out_t
    out = np.array(x, copy=True)
    out[..., lost, :, :] = 0
    return out


class CorruptedSkeletons(DatasetWrapper):
    """Any dataset yielding ``{"skeleton": (C, T, V, M) or (K, C, T, V, M), ...}``, with the skeleton
    temporally corrupted (``pattern``, ``level``), seeded by ``(seed, index)``.

    The other keys pass through unchanged; ``classes`` / ``class_names`` / ``modalities`` and
    other attributes are read from the wrapped dataset.
    """

    def __init__(self, dataset: Dataset, pattern: str, level: str | float, seed: int = 0,
                 key: str = "skeleton") -> None:
        if pattern not in PATTERNS:
            raise ConfigError(f"unknown corruption pattern {pattern!r}; choose from {PATTERNS}")
        _ratio(level)
        super().__init__(dataset)
        self.pattern, self.level, self.seed, self.key = pattern, level, int(seed), key

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self.dataset[index]
        if not isinstance(sample, Mapping) or self.key not in sample:
            raise ConfigError(f"CorruptedSkeletons: sample {index} has no {self.key!r} key")
        rng = np.random.default_rng([self.seed, int(index)])
        return {**sample, self.key: corrupt(sample[self.key], self.pattern, self.level, rng)}


def corruption_table(evaluate_fn: Callable[[Dataset], Any], dataset: Dataset,
                     levels: Sequence[str] = tuple(LEVELS), patterns: Sequence[str] = PATTERNS, seed: int = 0,
                     metric: str = "top1", clean: bool = True) -> dict[str, dict[str, float]]:
    """The level x pattern table of one model: ``table[level][pattern]`` = ``evaluate_fn`` on the
    corrupted ``dataset``, plus ``table[level]["mean"]`` over the patterns and, with ``clean``,
    ``table["clean"]["none"]`` on the untouched set.

    ``evaluate_fn(dataset)`` returns a number, a mapping holding ``metric`` or an object with that
    attribute (e.g. ``lambda ds: mmfusion.engine.evaluate(model, ds)``, a ``ClassificationMetrics``).
    """
    def score(ds: Dataset) -> float:
        out = evaluate_fn(ds)
        if not isinstance(out, (Mapping, int, float)) and hasattr(out, metric):
            out = getattr(out, metric)
        if isinstance(out, Mapping):
            if metric not in out:
                raise ConfigError(f"corruption_table: evaluate_fn returned no {metric!r} (keys {sorted(out)})")
            out = out[metric]
        return float(out)  # type: ignore[arg-type]

    table: dict[str, dict[str, float]] = {}
    if clean:
        table["clean"] = {"none": score(dataset)}
    for level in levels:
        row = {p: score(CorruptedSkeletons(dataset, p, level, seed)) for p in patterns}
        row["mean"] = float(np.mean(list(row.values())))
        table[level] = row
    return table


def format_corruption_table(table: Mapping[str, Mapping[str, float]], scale: float = 100.0, digits: int = 1) -> str:
    """A Markdown table of :func:`corruption_table`'s result (values x ``scale``)."""
    cols: list[str] = []
    for row in table.values():
        cols += [c for c in row if c not in cols]
    lines = ["| level | " + " | ".join(cols) + " |", "| --- |" + " --- |" * len(cols)]
    for level, row in table.items():
        cells = [f"{row[c] * scale:.{digits}f}" if c in row else "" for c in cols]
        lines.append(f"| {level} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
