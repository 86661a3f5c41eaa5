"""Temporal Shift Module (TSM, Lin et al., ICCV 2019) for 5-D clip tensors.

A zero-parameter, zero-MAC temporal operator: part of the channels look one frame ahead,
part one frame back, the rest stay put. Used by X-ShiftNet (EPAM-Net) in place of every
temporal convolution, and reusable by any (N, C, T, H, W) network.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError

__all__ = ["TemporalShift", "temporal_shift"]


def temporal_shift(x: Tensor, fold_div: int = 8) -> Tensor:
    """Shift channels along time, out of place.

    With ``f = C // fold_div``: channels ``[0:f]`` take the value of frame ``t+1``,
    channels ``[f:2f]`` the value of frame ``t-1``, channels ``[2f:]`` are unchanged.
    Frames shifted in from outside the clip are zero.

    Args:
        x: (N, C, T, H, W).
        fold_div: 1/fold_div of the channels move each way (8 -> 1/4 moved in total).

    Returns:
        (N, C, T, H, W), a new tensor (``x`` is not modified, so autograd through the
        identity path that also reads ``x`` stays valid).
    """
    if x.ndim != 5:
        raise ConfigError(f"temporal_shift expects (N, C, T, H, W), got shape {tuple(x.shape)}")
    if fold_div < 1:
        raise ConfigError(f"temporal_shift: fold_div must be >= 1, got {fold_div}")
    f = x.shape[1] // fold_div
    if f == 0:
        return x.clone()
    # F.pad on the T axis (pad order is W, H, T from the last dim) gives the zero frame at
    # the clip end; split + pad + cat keeps the op out of place, traceable and exportable.
    # split rather than three slices of x: its backward is one cat of the gradient pieces, where
    # each slice's backward zero-fills a full-size tensor (2x faster forward + backward)
    moved_ahead, moved_behind, kept = x.split((f, f, x.shape[1] - 2 * f), dim=1)
    ahead = F.pad(moved_ahead[:, :, 1:], (0, 0, 0, 0, 0, 1))
    behind = F.pad(moved_behind[:, :, :-1], (0, 0, 0, 0, 1, 0))
    return torch.cat((ahead, behind, kept), dim=1)


class TemporalShift(nn.Module):
    """Module wrapper of :func:`temporal_shift`; (N, C, T, H, W) -> (N, C, T, H, W)."""

    def __init__(self, fold_div: int = 8) -> None:
        super().__init__()
        if fold_div < 1:
            raise ConfigError(f"TemporalShift: fold_div must be >= 1, got {fold_div}")
        self.fold_div = fold_div

    def forward(self, x: Tensor) -> Tensor:
        return temporal_shift(x, self.fold_div)

    def extra_repr(self) -> str:
        return f"fold_div={self.fold_div}"
