"""Fixtures of the experiment tests: a tiny packed skeleton world folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A skeleton world folder (``packed/ntu25.npy`` + ``packed/index.npz``): 3 classes, per class
    4 cross-subject training samples (performer 1) and 2 test samples (performer 3), 20 frames;
    each class moves one joint along its own axis, so a model can tell them apart."""
    root = tmp_path_factory.mktemp("experiments") / "world"
    (root / "packed").mkdir(parents=True)
    rng = np.random.default_rng(0)
    data, names, labels = [], [], []
    for c in range(3):
        for i, performer in enumerate((1, 1, 1, 1, 3, 3)):
            x = 0.1 * rng.standard_normal((3, 20, 25, 2)).astype(np.float32)
            x[..., 1] = 0.0  # one actor
            x[c % 3, :, 11, 0] += np.linspace(0, 1, 20)
            data.append(x)
            names.append(f"S001C001P{performer:03d}R{i % 2 + 1:03d}A{c + 1:03d}")
            labels.append(c)
    np.save(root / "packed" / "ntu25.npy", np.stack(data))
    np.savez(root / "packed" / "index.npz", labels=np.array(labels, np.int64), names=np.array(names),
             lengths=np.full(len(names), 20))
    return root
