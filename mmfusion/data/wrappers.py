"""A dataset that serves the samples of another one, changed: the base of the wrappers.

``len(wrapper) == len(dataset)`` and every attribute the wrapper lacks (``class_names``,
``num_classes``, ``set_epoch``, ...) is read from the wrapped dataset, so a wrapped dataset can go
wherever the original went (engine, evaluation, recipes). Subclasses define ``__getitem__``.
Used by the corruption protocol, the SSL data (centring, dataset indices) and the engine's
per-sample seeding.
"""

from __future__ import annotations

from typing import Any

from torch.utils.data import Dataset


class DatasetWrapper(Dataset):
    """Base of datasets that wrap ``dataset`` (see the module docstring)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> Any:
        # only reached for attributes the wrapper lacks; before "dataset" is set (unpickling in a
        # worker) nothing is forwarded, which would otherwise recurse
        if name == "dataset" or "dataset" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self.dataset, name)
