"""The long-tailed training protocol of BRL (``firework8/BRL``): exponential class profiles,
the official split lists, and seeded generation where a user has no list.

Profile (``data/imblance_gentxt.py``): class ``c`` (0-based) keeps

    n_c = int(n_max * r ** (c / (C - 1)))

training samples (``int`` floors, as the official script does), ``r = n_min / n_max`` being
the inverse imbalance factor (``r = 0.01``: imbalance 100). A class with fewer samples than
its quota keeps all of them. Test sets are the original, balanced ones.

==============  =====  =====  ======================================
profile         n_max  r      official list
==============  =====  =====  ======================================
``ntu60_xsub``  600    0.01   ``data/NTU60_LT/NTU60_xsub_exp_100.txt`` (7,892 names)
``ntu60_xview`` 600    0.01   ``data/NTU60_LT/NTU60_xview_exp_100.txt``
``ntu120_xsub`` 600    0.01   ``data/NTU120_LT/NTU120_xsub_exp_100.txt``
``ntu120_xset`` 400    0.01   ``data/NTU120_LT/NTU120_xset_exp_100.txt``
``ucla``        100    0.1    (built by the unpublished ``ucla_data.py``)
==============  =====  =====  ======================================

The official lists (also ``_exp_10`` / ``_exp_50``) hold one NTU sequence name per line
(``S005C002P016R002A001``, no ``.skeleton`` suffix, no header), grouped class by class.
:func:`read_split_list` reads them (and tolerates a suffix or blank lines);
:func:`longtail_indices` draws a list the official way where none is given: per class in
class order, a seeded shuffle (``numpy.random.RandomState(seed).shuffle``, like the official
``np.random.seed(0)``) of the class's training samples, then the first ``n_c``.

Many / medium / few-shot accuracy (:func:`mmfusion.engine.metrics.shot_accuracy`) groups the
classes by training samples: more than ``many`` (100), ``few`` (20) to ``many``, fewer than
``few`` -- the usual long-tail thresholds (Liu et al., OLTR 2019); the BRL code itself reports
top-1 only. :func:`scaled_thresholds` keeps the same class fractions for a smaller ``n_max``
(100 / 600 and 20 / 600 of ``n_max``): the NTU-60 profile has 23 / 21 / 16 many / medium /
few classes; at ``n_max`` 60 (``min_count`` 1) the floors give 22 / 22 / 16.
:class:`LongTailSubset` carries ``class_counts`` and ``shot_thresholds`` for the engine.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from ...errors import ConfigError, DataFormatError


@dataclass(frozen=True)
class LongTailProfile:
    """An exponential long-tail profile: ``n_c = int(n_max * imbalance ** (c / (C - 1)))``.

    Attributes:
        n_max: training samples of the head class (class 0).
        imbalance: ``r = n_min / n_max`` in (0, 1] (0.01 = imbalance factor 100).
        min_count: lowest quota (0 = the official floor; 1 keeps every class in a small world,
            where the floor of ``n_max * r`` would be 0).
    """

    n_max: int
    imbalance: float
    min_count: int = 0

    def __post_init__(self) -> None:
        if self.n_max < 1:
            raise ConfigError(f"long-tail n_max must be >= 1, got {self.n_max}")
        if not 0 < self.imbalance <= 1:
            raise ConfigError(f"long-tail imbalance (n_min / n_max) must be in (0, 1], got {self.imbalance}")
        if not 0 <= self.min_count <= self.n_max:
            raise ConfigError(f"long-tail min_count must be in [0, n_max], got {self.min_count}")

    def counts(self, num_classes: int) -> list[int]:
        """Quota per class, class 0 first (the official float formula and ``int`` floor)."""
        return profile_counts(num_classes, self.n_max, self.imbalance, self.min_count)


#: BRL's profiles (``get_num_class_list`` / ``imblance_gentxt.py``), imbalance factor 100 (10 for NW-UCLA)
PROFILES: dict[str, LongTailProfile] = {
    "ntu60_xsub": LongTailProfile(600, 0.01), "ntu60_xview": LongTailProfile(600, 0.01),
    "ntu120_xsub": LongTailProfile(600, 0.01), "ntu120_xset": LongTailProfile(400, 0.01),
    "ucla": LongTailProfile(100, 0.1)}


def get_profile(name: str | LongTailProfile) -> LongTailProfile:
    """A profile by name (:data:`PROFILES`) or the profile itself."""
    if isinstance(name, LongTailProfile):
        return name
    if name not in PROFILES:
        raise ConfigError(f"unknown long-tail profile {name!r}; choose from {sorted(PROFILES)}")
    return PROFILES[name]


def profile_counts(num_classes: int, n_max: int, imbalance: float, min_count: int = 0) -> list[int]:
    """``[max(min_count, int(n_max * imbalance ** (c / (C - 1)))) for c in range(C)]``."""
    if num_classes < 1:
        raise ConfigError(f"num_classes must be >= 1, got {num_classes}")
    # the official float expression, evaluated in the same order, so that the floors agree
    denom = num_classes - 1.0 if num_classes > 1 else 1.0
    return [max(min_count, int(n_max * (imbalance ** (c / denom)))) for c in range(num_classes)]


def read_split_list(path: str | os.PathLike[str]) -> list[str]:
    """Sample names of a BRL long-tail list (one per line; a ``.skeleton`` suffix is dropped)."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(path, f"cannot read long-tail split list ({exc})") from exc
    names: list[str] = []
    for i, line in enumerate(lines, 1):
        name = line.strip()
        if not name:
            continue
        if len(name.split()) != 1:
            raise DataFormatError(path, f"expected one sample name per line, got {name!r}", line=i)
        names.append(name.removesuffix(".skeleton"))
    if not names:
        raise DataFormatError(path, "the long-tail split list is empty")
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise DataFormatError(path, f"sample {dup} is listed twice")
    return names


def write_split_list(path: str | os.PathLike[str], names: Sequence[str]) -> Path:
    """Write names one per line, in BRL's format (no suffix, no trailing newline)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(str(n).removesuffix(".skeleton") for n in names))
    return path


def longtail_indices(labels: Sequence[int] | np.ndarray, counts: Sequence[int], seed: int = 0) -> np.ndarray:
    """Positions (into ``labels``) of a long-tailed subset: per class, in class order, a seeded
    shuffle of that class's positions (in their given order), then the first ``counts[c]``.

    ``labels`` (N,) 0-based training labels; ``counts`` (C,) quotas (e.g. :func:`profile_counts`).
    Returns (K,) int64, class by class as the official lists are.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= len(counts)):
        raise ConfigError(f"labels must lie in [0, {len(counts)}) for {len(counts)} class quotas")
    rs = np.random.RandomState(seed)
    out: list[np.ndarray] = []
    for c, n in enumerate(counts):
        pos = np.flatnonzero(labels == c)
        rs.shuffle(pos)
        out.append(pos[: max(int(n), 0)])
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def indices_from_list(names: Sequence[str], listed: Sequence[str], source: str | os.PathLike[str] | None = None,
                      ) -> np.ndarray:
    """Positions (into ``names``) of the names of an official list, in the list's order.

    Raises :class:`DataFormatError` (naming ``source``) for a listed name that is not among ``names``.
    """
    where = {Path(str(n)).name.removesuffix(".skeleton"): i for i, n in enumerate(names)}
    missing = [n for n in listed if n not in where]
    if missing:
        raise DataFormatError(source, f"{len(missing)} listed samples are not in the training split "
                                      f"(first: {missing[0]}); wrong protocol or data set?")
    return np.asarray([where[n] for n in listed], dtype=np.int64)


def class_counts(labels: Sequence[int] | np.ndarray, num_classes: int) -> list[int]:
    """Training samples per class (C,)."""
    return [int(k) for k in np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes)[:num_classes]]


def scaled_thresholds(n_max: int, many: float = 100.0, few: float = 20.0, reference: int = 600) -> tuple[float, float]:
    """``(many, few)`` shot thresholds scaled from NTU's ``n_max`` 600 to ``n_max``."""
    return many * n_max / reference, few * n_max / reference


class LongTailSubset(Dataset):
    """The long-tailed subset of a training set: ``base[positions[i]]`` (sample dicts unchanged).

    ``class_counts`` (C,) holds the subset's training samples per class: the engine's final
    report adds many / medium / few-shot accuracies from it (with ``shot_thresholds``
    ``(many, few)``), and BRL's losses read it. ``set_epoch`` is passed on to the base set.
    """

    def __init__(self, base: Dataset, positions: Sequence[int] | np.ndarray, labels: Sequence[int] | np.ndarray,
                 num_classes: int, shot_thresholds: tuple[float, float] = (100.0, 20.0)) -> None:
        self.base = base
        self.shot_thresholds = shot_thresholds
        self.positions = np.asarray(positions, dtype=np.int64)
        self.labels = np.asarray(labels, dtype=np.int64)[self.positions]
        self.num_classes = num_classes
        self.class_counts: list[int] = class_counts(self.labels, num_classes)
        for attr in ("classes", "class_names", "modalities"):
            if hasattr(base, attr):
                setattr(self, attr, getattr(base, attr))

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, i: int) -> Any:
        return self.base[int(self.positions[i])]

    def set_epoch(self, epoch: int) -> None:
        fn = getattr(self.base, "set_epoch", None)
        if callable(fn):
            fn(epoch)

    def sample_names(self) -> list[str]:
        """Sample names of the subset, in order (for :func:`write_split_list`); needs a base
        with ``names`` / ``labels`` (e.g. :class:`~mmfusion.data.skeleton.datasets.SkeletonDataset`)."""
        base_names = _names_labels_of(self.base)[0]
        return [base_names[int(i)] for i in self.positions]


def _names_labels_of(ds: Dataset) -> tuple[list[str], np.ndarray]:
    """(names, labels) of a dataset's samples in order: a ``SkeletonDataset`` (``names``,
    ``labels`` over all files + ``index`` of its split) or any set with per-sample ``names`` and
    ``labels``."""
    names, labels, index = getattr(ds, "names", None), getattr(ds, "labels", None), getattr(ds, "index", None)
    if names is None or labels is None:
        raise ConfigError(f"{type(ds).__name__} has no names / labels: pass them to longtail_subset")
    if index is not None:
        idx = np.asarray(index, dtype=np.int64)
        return [str(names[int(i)]) for i in idx], np.asarray(labels, dtype=np.int64)[idx]
    return [str(n) for n in names], np.asarray(labels, dtype=np.int64)


def longtail_subset(train_set: Dataset, profile: str | LongTailProfile = "ntu60_xsub", *,
                    split_list: str | os.PathLike[str] | None = None, num_classes: int | None = None,
                    seed: int = 0, names: Sequence[str] | None = None,
                    labels: Sequence[int] | np.ndarray | None = None,
                    shot_thresholds: tuple[float, float] | None = None) -> LongTailSubset:
    """The long-tailed version of a (balanced) training set.

    With ``split_list`` (an official BRL list), exactly the listed samples; otherwise the
    ``profile``'s quotas drawn with :func:`longtail_indices` (``seed``). ``names`` / ``labels``
    of ``train_set``'s samples default to its own (``SkeletonDataset``: its split's files).
    ``shot_thresholds`` (many, few) default to :func:`scaled_thresholds` of the profile's ``n_max``.
    """
    if names is None or labels is None:
        own_names, own_labels = _names_labels_of(train_set)
        names = own_names if names is None else names
        labels = own_labels if labels is None else labels
    labels = np.asarray(labels, dtype=np.int64)
    if len(names) != len(labels) or len(labels) != len(train_set):  # type: ignore[arg-type]
        raise ConfigError(f"names ({len(names)}), labels ({len(labels)}) and the training set "
                          f"({len(train_set)}) differ in length")  # type: ignore[arg-type]
    c = int(num_classes if num_classes is not None else (labels.max() + 1 if labels.size else 0))
    if split_list is not None:
        pos = indices_from_list(names, read_split_list(split_list), split_list)
    else:
        pos = longtail_indices(labels, get_profile(profile).counts(c), seed)
    if shot_thresholds is None:
        shot_thresholds = scaled_thresholds(get_profile(profile).n_max)
    return LongTailSubset(train_set, pos, labels, c, shot_thresholds)
