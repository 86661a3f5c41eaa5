"""Fixtures shared by the skeleton-encoder tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn


@pytest.fixture
def count_params() -> Callable[[nn.Module], int]:
    """Number of parameters of a module (buffers excluded)."""
    return lambda module: sum(p.numel() for p in module.parameters())


@pytest.fixture
def skeleton() -> Callable[..., torch.Tensor]:
    """Random NTU-style skeleton batch ``(N, C, T, V, M)``."""

    def make(n: int = 2, c: int = 3, t: int = 16, v: int = 25, m: int = 2) -> torch.Tensor:
        return torch.randn(n, c, t, v, m)

    return make
