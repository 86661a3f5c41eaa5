"""Shared helpers of the model tests: M-Mixer behind positional tensors (what exporters and
``torch.compile(fullgraph=True)`` take) and a fixed batch for it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn


class MMixerPositional(nn.Module):
    """Positional-tensor front for exporters: (rgb, depth, ir) -> logits (N, K)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, rgb: Tensor, depth: Tensor, ir: Tensor) -> Tensor:
        return self.model({"rgb": rgb, "depth": depth, "ir": ir})["logits"]


def mmixer_inputs(n: int = 2, t: int = 4) -> tuple[Tensor, Tensor, Tensor]:
    """rgb (n, 3, t, 32, 32), depth and ir (n, 1, t, 32, 32), seeded."""
    g = torch.Generator().manual_seed(11)
    return (torch.randn(n, 3, t, 32, 32, generator=g), torch.randn(n, 1, t, 32, 32, generator=g),
            torch.randn(n, 1, t, 32, 32, generator=g))


@pytest.fixture(name="positional", scope="session")
def _positional() -> type[MMixerPositional]:
    return MMixerPositional


@pytest.fixture(name="inputs", scope="session")
def _inputs_fixture() -> Callable[..., tuple[Tensor, Tensor, Tensor]]:
    return mmixer_inputs
