"""NTU RGB+D as a PyTorch dataset: an index of samples plus the sample function.

:class:`NTUDataset` is the index (``names``, ``labels``, ``classes``, ``skipped``) of one protocol
split over a reader (:mod:`mmfusion.data.reader`: a raw tree or a packed store), and
``dataset[i]`` is :func:`~mmfusion.data.sample.make_sample` on sample i with the data set's
:class:`~mmfusion.data.settings.ClipSettings` (keys and shapes: :mod:`mmfusion.data.sample`)
plus ``"label"`` (int64, contiguous class index, see ``classes``)::

    settings = ClipSettings(modalities=("rgb", "skeleton"), clip_len=16, image_size=112)
    train = NTUDataset.from_store("stores/ntu60", settings, split="train", protocol="xsub")
    test = NTUDataset.from_root("nturgb+d", settings, split="test")   # same tensors, decoded per access
    train.settings                                                    # -> the run's config.json "dataset"

``NTUDataset(root=..., store=..., modalities=..., clip_len=..., ...)`` (every setting as a
keyword) builds the same thing in one call.

Missing files are found when the index is built: without ``skip_bad`` a
:class:`~mmfusion.errors.MissingModalityError` names the file; with ``skip_bad=True`` the
sample is left out and ``(name, reason)`` goes to ``dataset.skipped`` (and a summary to the
log) -- nothing is dropped silently. Broken files raise
:class:`~mmfusion.errors.DataFormatError` (from the readers) naming the file.

Randomness: test mode draws from ``numpy.random.default_rng([seed, index])`` (fixed per
sample); train mode seeds a generator from ``torch``'s, so DataLoader workers and epochs differ
but runs repeat under ``torch.manual_seed``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import ConfigError, DataFormatError, MissingModalityError
from .ntu import PROTOCOLS, NTUSampleName, split_of
from .packed import PackedStore
from .reader import (  # noqa: F401  (NTU_NATIVE_SIZES, meta_sizes, read_synth_meta: older import path)
    NTU_NATIVE_SIZES,
    NTUTreeReader,
    SampleReader,
    load_name_list,
    meta_sizes,
    read_synth_meta,
)
from .sample import make_sample, sample_kinds
from .settings import BASE_POINTS, ClipSettings

__all__ = ["NTUDataset", "collate", "BASE_POINTS"]

log = logging.getLogger(__name__)

_SETTING_NAMES = tuple(f.name for f in dataclasses.fields(ClipSettings))


class NTUDataset(Dataset):
    """Aligned multimodal clips of NTU RGB+D (see the module docstring).

    Build it with :meth:`from_root`, :meth:`from_store` or :meth:`from_reader`; the constructor
    takes the data (``root`` or ``store``) and every :class:`~mmfusion.data.settings.ClipSettings` field as keywords.

    Args:
        root: raw NTU tree (may be None when ``store`` is given).
        store: a packed store folder (or :class:`~mmfusion.data.store.PackedStore`) to read
            instead of the raw tree (it fixes ``decode_size`` and ``base_points`` to its own).
        split: "train", "test" or "all".
        protocol: "xsub" / "xview" (NTU-60), "xsub120" / "xset" (NTU-120).
        train: random clips/crops/flips (default: ``split == "train"``).
        skip_bad: leave out samples with missing files (recorded in ``skipped``) instead of raising.
        classes: 0-based action IDs in class order (default: synthetic meta, else every
            action present in the reader, sorted).
        missing_skeletons: official list of samples with missing skeletons (a path or names);
            excluded (and recorded) when a skeleton-based modality is requested.
        names: restrict to these sample names.
        seed: seed of the test-time randomness (point subsets).
        verbose: log the summary of skipped samples.
        settings: a :class:`ClipSettings`; the remaining keywords (``modalities``, ``clip_len``,
            ``image_size``, ... any ClipSettings field) override its fields.
    """

    def __init__(self, root: str | Path | None = None, *, store: str | Path | PackedStore | None = None,
                 split: str = "train", protocol: str = "xsub", train: bool | None = None, skip_bad: bool = False,
                 classes: Sequence[int] | None = None, missing_skeletons: str | Path | Iterable[str] | None = None,
                 names: Iterable[str] | None = None, seed: int = 0, verbose: bool = True,
                 settings: ClipSettings | None = None, **setting_overrides: Any) -> None:
        bad = sorted(set(setting_overrides) - set(_SETTING_NAMES))
        if bad:
            raise ConfigError(f"NTUDataset got unknown options {bad}; clip settings are {list(_SETTING_NAMES)}")
        if settings is None:
            s = ClipSettings(**setting_overrides)
        else:
            s = settings.replace(**setting_overrides) if setting_overrides else settings
        if store is not None:
            reader: SampleReader = store if isinstance(store, PackedStore) else PackedStore(store)
            s = _fixed_by_store(s, reader)  # type: ignore[arg-type]
        elif root is not None:
            reader = NTUTreeReader(root, decode_size=s.decode_size, max_bodies=s.max_bodies,
                                   base_points=s.base_points, point_method=s.point_method)
        else:
            raise ConfigError("NTUDataset needs root (raw NTU tree) or store (packed)")
        self._build(reader, s, split, protocol, train, skip_bad, classes, missing_skeletons, names, seed, verbose)

    # -- constructors ----------------------------------------------------------------------------
    @classmethod
    def from_root(cls, root: str | Path, settings: ClipSettings | None = None, **kwargs: Any) -> NTUDataset:
        """Over a raw NTU tree (frames decoded per access at ``settings.decode_size``)."""
        return cls(root, settings=settings, **kwargs)

    @classmethod
    def from_store(cls, store: str | Path | PackedStore, settings: ClipSettings | None = None,
                   **kwargs: Any) -> NTUDataset:
        """Over a packed store (``data_tools/prepare_ntu.py``); ``decode_size`` and ``base_points``
        come from the store."""
        return cls(store=store, settings=settings, **kwargs)

    @classmethod
    def from_reader(cls, reader: SampleReader, settings: ClipSettings, split: str = "train",
                    protocol: str = "xsub", train: bool | None = None, skip_bad: bool = False,
                    classes: Sequence[int] | None = None,
                    missing_skeletons: str | Path | Iterable[str] | None = None,
                    names: Iterable[str] | None = None, seed: int = 0, verbose: bool = True) -> NTUDataset:
        """Over any :class:`~mmfusion.data.reader.SampleReader` whose names are NTU sample names."""
        self = cls.__new__(cls)
        self._build(reader, settings, split, protocol, train, skip_bad, classes, missing_skeletons, names, seed,
                    verbose)
        return self

    def _build(self, reader: SampleReader, settings: ClipSettings, split: str, protocol: str, train: bool | None,
               skip_bad: bool, classes: Sequence[int] | None,
               missing_skeletons: str | Path | Iterable[str] | None, names: Iterable[str] | None, seed: int,
               verbose: bool) -> None:
        if split not in ("train", "test", "all"):
            raise ConfigError(f"split must be 'train', 'test' or 'all', got {split!r}")
        if protocol not in PROTOCOLS:
            raise ConfigError(f"unknown NTU protocol {protocol!r}; choose from {PROTOCOLS}")
        s = settings
        if "points" in s.modalities and s.num_points > reader.base_points:
            raise ConfigError(f"num_points={s.num_points} > {reader.base_points} points kept per frame")
        self.reader = reader
        self._settings = s
        self.split, self.protocol, self.seed = split, protocol, seed
        self.train = (split == "train") if train is None else bool(train)
        self.meta: dict[str, Any] = dict(reader.meta)
        self.kinds = sample_kinds(s)
        # what must be readable per sample: file kinds, with "points" on its own (a store may hold
        # points without depth frames and the other way round)
        self._needs = [k for k in self.kinds if k != "depth" or "depth" in s.modalities]
        if "points" in s.modalities:
            self._needs.append("points")
        self.skipped: list[tuple[str, str]] = []
        self.skip_bad = skip_bad
        self._unreadable: set[int] = set()  # indices found bad only when read (e.g. a video that decodes short)
        self.names, self.labels, self.classes = self._build_index(names, classes, missing_skeletons, skip_bad)
        if self.skipped and verbose:
            kinds = Counter(reason.split(" ")[0] for _, reason in self.skipped)
            log.warning("NTUDataset(%s, %s): %d samples skipped (%s); see dataset.skipped",
                        protocol, split, len(self.skipped), ", ".join(f"{k}: {v}" for k, v in kinds.items()))

    # -- settings --------------------------------------------------------------------------------
    @property
    def settings(self) -> ClipSettings:
        """How this data set prepares clips (the engine stores it in the run's ``config.json``)."""
        return self._settings

    @property
    def modalities(self) -> tuple[str, ...]:
        return self._settings.modalities

    @property
    def clip_lens(self) -> dict[str, int]:
        return self._settings.clip_lens

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    # -- index ---------------------------------------------------------------------------------
    def _build_index(self, names: Iterable[str] | None, classes: Sequence[int] | None,
                     missing_skeletons: str | Path | Iterable[str] | None, skip_bad: bool
                     ) -> tuple[list[str], list[int], list[int]]:
        all_names = self.reader.names()
        if names is not None:
            wanted = set(names)
            all_names = [n for n in all_names if n in wanted]
        in_protocol = []
        for n in all_names:
            parsed = NTUSampleName.parse(n)  # once: parsing dominates for 114k names
            s = split_of(parsed, self.protocol)
            if s is not None:
                in_protocol.append((n, s, parsed.action - 1))
        if classes is None:
            classes = self.meta.get("classes")
            classes = _class_ids(classes) if classes else sorted({a for _, _, a in in_protocol})
        self.class_names = self._class_names(classes)
        class_index = {a: k for k, a in enumerate(classes)}
        listed = load_name_list(missing_skeletons) if "skeleton" in self.kinds else set()

        keep: list[str] = []
        labels: list[int] = []
        for n, s, action in in_protocol:
            if self.split != "all" and s != self.split:
                continue
            if action not in class_index:
                self.skipped.append((n, f"class: action A{action + 1:03d} not in classes"))
                continue
            if n in listed:
                self.skipped.append((n, "missing-skeleton: in the official missing-skeleton list"))
                continue
            why = next(((k, r) for k in self._needs if (r := self.reader.missing(n, k)) is not None), None)
            if why is not None:
                kind, reason = why
                if not skip_bad:
                    raise MissingModalityError(kind, f"{reason} (sample {n}); pass skip_bad=True to skip such samples")
                self.skipped.append((n, f"missing: {reason}"))
                continue
            keep.append(n)
            labels.append(class_index[action])
        return keep, labels, list(classes)

    def _class_names(self, classes: Sequence[int]) -> list[str]:
        raw = self.meta.get("classes")
        if raw and isinstance(raw[0], Mapping) and "name" in raw[0]:
            by_id = {int(c.get("action", c.get("id"))) - (1 if "action" in c else 0): str(c["name"]) for c in raw}
            return [by_id.get(a, f"A{a + 1:03d}") for a in classes]
        return [f"A{a + 1:03d}" for a in classes]

    def __len__(self) -> int:
        return len(self.names)

    # -- items ---------------------------------------------------------------------------------
    def rng(self, index: int) -> np.random.Generator:
        """The generator of item ``index`` (see the module docstring)."""
        if self.train:
            return np.random.default_rng(int(torch.randint(0, 2**62, (1,)).item()))
        return np.random.default_rng([self.seed, index])

    def _sample(self, index: int) -> dict[str, Any]:
        out = make_sample(self.reader, self.names[index], self._settings, self.rng(index), self.train)
        out["label"] = torch.tensor(self.labels[index], dtype=torch.int64)
        return out

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not self.skip_bad:
            return self._sample(index)
        # with skip_bad, a file that turns out bad only when read (a truncated video, a corrupt frame)
        # is recorded in ``skipped`` once and the next readable sample is served in its place
        n = len(self.names)
        for k in range(n):
            i = (index + k) % n
            if i in self._unreadable:
                continue
            try:
                return self._sample(i)
            except DataFormatError as exc:
                self._unreadable.add(i)
                self.skipped.append((self.names[i], f"DataFormatError when read: {exc}"))
                log.warning("NTUDataset: skipping %s (%s); %d unreadable so far", self.names[i], exc,
                            len(self._unreadable))
        raise DataFormatError(self.names[index], "no readable sample left in the data set (skip_bad)")


def _fixed_by_store(settings: ClipSettings, store: PackedStore) -> ClipSettings:
    """The settings a store reads with: its frame size and base points replace the requested ones."""
    packed = store.settings
    changes: dict[str, Any] = {"decode_size": store.decode_size}
    if "points" in packed.get("modalities", ()):
        changes.update(base_points=int(packed["num_points"]), point_method=str(packed.get("point_method", "random")))
    return settings.replace(**changes)


def collate(batch: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Stack a list of samples: tensors get a leading N, strings (``name``) stay a list.

    Raises:
        MissingModalityError: a key present in some samples but not in others.
    """
    if not batch:
        return {}
    keys = list(batch[0])
    out: dict[str, Any] = {}
    for k in keys:
        vals = [b.get(k) for b in batch]
        if any(v is None for v in vals):
            raise MissingModalityError(k, "present in some samples of the batch but not in others")
        if isinstance(vals[0], torch.Tensor):
            out[k] = torch.stack(vals)
        elif isinstance(vals[0], np.ndarray):
            out[k] = torch.from_numpy(np.stack(vals))
        elif isinstance(vals[0], (int, float)) and not isinstance(vals[0], bool):
            out[k] = torch.tensor(vals)
        else:
            out[k] = list(vals)
    return out


def _class_ids(classes: Sequence[Any]) -> list[int]:
    """0-based action IDs from meta classes (ints, 'A013' strings or dicts with 'action' (1-based)/'id')."""
    out = []
    for c in classes:
        if isinstance(c, Mapping):
            out.append(int(c["action"]) - 1 if "action" in c else int(c["id"]))
        elif isinstance(c, str) and c[:1] in "Aa" and c[1:].isdigit():
            out.append(int(c[1:]) - 1)
        else:
            out.append(int(c))
    return out
