"""DataLoaders whose order and augmentation are functions of (seed, epoch, index) only.

A batch is a dict of modality tensors (N, ...) plus ``"label"`` (N,) int64, stacked by the
data package's collate. :class:`SeededSamples` draws sample ``i`` of epoch ``e`` under its own
seed, and each loader has its own generator, reseeded per epoch, so that iterating a loader
never draws from the global RNG: a run is the same in the main process or in workers, for any
process count, and after a mid-epoch resume.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from ..data.wrappers import DatasetWrapper
from .config import TrainConfig


def default_collate(batch: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The data package's collate (tensors stacked to (N, ...), strings kept as lists)."""
    from ..data.dataset import collate  # deferred: the data package pulls decoders the engine may not need

    return collate(batch)


class SeededSamples(DatasetWrapper):
    """Wraps a map-style dataset so that sample ``i`` of epoch ``e`` is drawn under its own seed.

    Random augmentation that uses the global RNGs (torch, NumPy's legacy global, ``random``)
    becomes a function of (seed, epoch, index) only: the same in the main process or in any
    worker, for any process count or batch size, and after a mid-epoch resume. The caller's
    RNG states are restored after each sample, so the main process's global stream (dropout,
    ...) is consumed by the model alone. Attributes of the wrapped dataset stay reachable.
    """

    def __init__(self, dataset: Dataset, seed: int, stream: int = 0, follow_epoch: bool = True) -> None:
        super().__init__(dataset)
        self.seed, self.stream, self.epoch = int(seed), int(stream), 0
        self.follow_epoch = follow_epoch  # False: every pass draws the same samples (evaluation)

    def set_epoch(self, epoch: int) -> None:
        if self.follow_epoch:
            self.epoch = int(epoch)

    def sample_seed(self, index: int) -> int:
        return ((self.seed * 1_000_003 + self.stream) * 1_000_033 + self.epoch) * 10_000_019 + int(index)

    def __getitem__(self, index: int) -> Any:
        import random

        import numpy as np

        seed = self.sample_seed(index) % (2**63)
        py_state, np_state = random.getstate(), np.random.get_state()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            random.seed(seed)
            np.random.seed(seed % (2**32))
            try:
                return self.dataset[index]
            finally:
                random.setstate(py_state)
                np.random.set_state(np_state)


def epoch_generator_seed(seed: int, epoch: int) -> int:
    """Seed of a loader's generator for ``epoch``.

    Worker base seeds are drawn from the loader's generator when an epoch's iterator is made;
    reseeding it per epoch makes them a function of (seed, epoch), also after a resume.
    """
    return (seed + 1) * 1_000_003 + epoch


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool, cfg: TrainConfig, collate_fn: Callable,
                pin_memory: bool, drop_last: bool) -> tuple[DataLoader, torch.Generator]:
    """A DataLoader with its own generator (returned, to be reseeded per epoch)."""
    gen = torch.Generator()
    gen.manual_seed(epoch_generator_seed(cfg.seed, 0))
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=cfg.num_workers,
                        collate_fn=collate_fn, pin_memory=pin_memory, drop_last=drop_last, generator=gen)
    return loader, gen
