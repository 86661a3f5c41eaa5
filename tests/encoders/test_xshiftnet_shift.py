"""Temporal shift: exact values, out-of-place semantics, gradients."""

from __future__ import annotations

import pytest
import torch

from mmfusion.encoders.temporal_shift import TemporalShift, temporal_shift
from mmfusion.errors import ConfigError


def _clip(n: int = 2, c: int = 8, t: int = 5, h: int = 2, w: int = 3) -> torch.Tensor:
    # value encodes (channel, frame) so every moved element can be traced back
    ch = torch.arange(c).view(1, c, 1, 1, 1) * 100.0
    fr = torch.arange(t).view(1, 1, t, 1, 1) + 1.0
    return (ch + fr).expand(n, c, t, h, w).clone()


def test_exact_values_fold_8() -> None:
    x = _clip(c=16, t=4)
    y = temporal_shift(x, fold_div=8)  # f = 2
    assert y.shape == x.shape
    # channels 0,1 read frame t+1, last frame zero
    torch.testing.assert_close(y[:, :2, :-1], x[:, :2, 1:])
    assert torch.all(y[:, :2, -1] == 0)
    # channels 2,3 read frame t-1, first frame zero
    torch.testing.assert_close(y[:, 2:4, 1:], x[:, 2:4, :-1])
    assert torch.all(y[:, 2:4, 0] == 0)
    torch.testing.assert_close(y[:, 4:], x[:, 4:])
    # a spot value: channel 0 at frame 0 holds channel 0's frame-1 value (0*100 + 2)
    assert y[0, 0, 0, 0, 0].item() == 2.0
    assert y[0, 2, 1, 0, 0].item() == 201.0


def test_fold_4_moves_half_the_channels() -> None:
    x = _clip(c=8, t=3)
    y = temporal_shift(x, fold_div=4)  # f = 2: channels 0-1 ahead, 2-3 behind, 4-7 kept
    expected_c0 = torch.tensor([2.0, 3.0, 0.0])
    expected_c2 = torch.tensor([0.0, 201.0, 202.0])
    torch.testing.assert_close(y[0, 0, :, 0, 0], expected_c0)
    torch.testing.assert_close(y[0, 2, :, 0, 0], expected_c2)
    torch.testing.assert_close(y[:, 4:], x[:, 4:])
    changed = (y != x).flatten(2).any(-1)[0]
    assert changed.tolist() == [True] * 4 + [False] * 4


def test_not_in_place_and_gradient() -> None:
    x = _clip(c=8, t=4).requires_grad_(True)
    before = x.detach().clone()
    y = temporal_shift(x, 8)
    assert y.data_ptr() != x.data_ptr()
    torch.testing.assert_close(x.detach(), before)
    # identity path reads x too (as in the residual block): autograd must stay valid
    (y * 2 + x).sum().backward()
    g = x.grad
    # channel 0 (f = 1): frame 0 is never read by the shift, frames 1..3 are read once
    assert g[0, 0, :, 0, 0].tolist() == [1.0, 3.0, 3.0, 3.0]
    # channel 1 reads t-1: the last frame falls off the clip
    assert g[0, 1, :, 0, 0].tolist() == [3.0, 3.0, 3.0, 1.0]
    assert torch.all(g[:, 2:] == 3.0)


def test_module_and_edge_cases() -> None:
    mod = TemporalShift(4)
    assert "fold_div=4" in repr(mod)
    x = torch.randn(1, 3, 4, 2, 2)  # C < fold_div -> nothing moves
    torch.testing.assert_close(mod(x), x)
    x1 = torch.randn(1, 8, 1, 2, 2)  # single frame: shifted channels become zero
    y1 = mod(x1)
    assert torch.all(y1[:, :4] == 0)
    torch.testing.assert_close(y1[:, 4:], x1[:, 4:])
    with pytest.raises(ConfigError):
        temporal_shift(torch.randn(2, 8, 4, 4), 8)
    with pytest.raises(ConfigError):
        TemporalShift(0)


def test_bf16_autocast_and_dtype() -> None:
    x = torch.randn(2, 8, 4, 2, 2, dtype=torch.bfloat16)
    y = temporal_shift(x, 8)
    assert y.dtype == torch.bfloat16
    torch.testing.assert_close(y[:, 2:], x[:, 2:])
