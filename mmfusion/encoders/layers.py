"""Small transformer building blocks shared by encoders, fusion blocks and models.

* :class:`Mlp` -- the ViT feed-forward: Linear(C -> r*C) -> GELU -> Dropout -> Linear(r*C -> C)
  -> Dropout on (..., C). A ``nn.Sequential``, so its state-dict keys are ``0.*`` and ``3.*``.
* :class:`DropPath` -- stochastic depth on a residual branch: per sample, training only.
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["DropPath", "Mlp"]


class Mlp(nn.Sequential):
    """Linear(C -> r*C) -> GELU -> Dropout -> Linear(r*C -> C) -> Dropout on (..., C)."""

    def __init__(self, dim: int, ratio: float = 4.0, drop: float = 0.0) -> None:
        hidden = int(dim * ratio)
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(drop), nn.Linear(hidden, dim), nn.Dropout(drop))


class DropPath(nn.Module):
    """Stochastic depth: zero the whole branch of a sample with probability ``p`` (identity at eval or p=0).

    Kept samples are scaled by 1 / (1 - p) so the expected output equals the input. Works on any
    (N, ...) tensor.
    """

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(1.0 - self.p)
        return x * keep / (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"
