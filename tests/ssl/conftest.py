"""Tiny skeleton data and configs shared by the SSL tests, a fixed tiny skeleton batch and a short
manual optimisation loop (the objective tests)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch.utils.data import Dataset

from mmfusion.ssl.objective import PretextObjective


class TinySkeletons(Dataset):
    """``n`` random (3, T, 25, M) sequences with a per-class drift (so features can separate classes)."""

    def __init__(self, n: int = 16, t: int = 8, m: int = 1, classes: int = 2, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.y = torch.arange(n) % classes
        drift = torch.linspace(0, 1, t).view(1, t, 1, 1)
        self.x = 0.1 * torch.randn(n, 3, t, 25, m, generator=g) + drift * (self.y.view(n, 1, 1, 1, 1).float() - 0.5)
        self.class_names = [f"c{i}" for i in range(classes)]

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"skeleton": self.x[i], "label": int(self.y[i]), "name": f"s{i}"}


@pytest.fixture
def tiny_skeletons() -> type[TinySkeletons]:
    return TinySkeletons


@pytest.fixture
def tiny_mamp_kwargs() -> dict[str, Any]:
    """A 1-block, 16-d MAMP on 8-frame clips (2 temporal patches x 25 joints = 50 tokens, 5 visible)."""
    return {"encoder": "mamp_transformer_tiny",
            "encoder_kwargs": {"num_frames": 8, "dim": 16, "depth": 1, "num_heads": 2},
            "decoder_dim": 16, "decoder_depth": 1}



@pytest.fixture
def tiny_batch() -> dict[str, torch.Tensor]:
    """8 clips (N, 3, 16, 25, 2) of smooth random motion, second person empty, with dataset indices."""
    g = torch.Generator().manual_seed(0)
    base = torch.randn(8, 3, 1, 25, 1, generator=g)
    drift = torch.randn(8, 3, 1, 25, 1, generator=g) * 0.05
    t = torch.arange(16, dtype=torch.float32).view(1, 1, 16, 1, 1)
    x = torch.cat([base + drift * t, torch.zeros(8, 3, 16, 25, 1)], dim=-1)
    return {"skeleton": x, "index": torch.arange(8), "label": torch.zeros(8, dtype=torch.long)}


@pytest.fixture
def train_steps() -> Callable[..., list[float]]:
    """``train_steps(objective, batch, steps, lr)`` -> the loss of every step (Adam, after_step called)."""

    def run(obj: PretextObjective, batch: dict[str, torch.Tensor], steps: int = 20, lr: float = 1e-3) -> list[float]:
        opt = torch.optim.Adam([p for p in obj.parameters() if p.requires_grad], lr=lr)
        losses = []
        obj.train()
        for step in range(1, steps + 1):
            out = obj(batch)
            opt.zero_grad()
            out["loss"].backward()
            opt.step()
            obj.after_step(step)
            losses.append(float(out["loss"]))
        return losses

    return run
