"""Fixtures of the SSL objective tests: a fixed tiny skeleton batch and a short manual optimisation loop."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from mmfusion.ssl.objective import PretextObjective


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
