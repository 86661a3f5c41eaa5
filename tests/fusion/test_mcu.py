"""MCU: exact reduction to a GRU with the mix gate open, gate semantics, batch independence, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mmfusion.errors import ConfigError
from mmfusion.fusion.mcu import MCU, MCUCell


def open_gate(cell: MCUCell) -> None:
    """a = sigmoid(0 * [x; g] + 100) == 1.0 exactly in float32, so x~ = x."""
    with torch.no_grad():
        cell.mix.weight.zero_()
        cell.mix.bias.fill_(100.0)


def close_gate(cell: MCUCell) -> None:
    with torch.no_grad():
        cell.mix.weight.zero_()
        cell.mix.bias.fill_(-200.0)  # sigmoid(-200) == 0.0 in float32


def test_cell_with_open_gate_is_a_gru_cell() -> None:
    cell = MCUCell(12, 20, content_dim=7)
    open_gate(cell)
    gru = nn.GRUCell(12, 20)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(gru, name).copy_(getattr(cell, name))
    x, h = torch.randn(5, 12), torch.randn(5, 20)
    for g in (torch.zeros(5, 7), torch.randn(5, 7) * 3):  # zero content, and content that must not leak in
        got = cell(x, g, h)
        assert torch.allclose(got, gru(x, h), atol=1e-6, rtol=0), (got - gru(x, h)).abs().max()
    assert torch.allclose(cell(x, torch.zeros(5, 7)), gru(x), atol=1e-6, rtol=0)  # h0 = 0 default


def test_sequence_with_open_gate_matches_nn_gru() -> None:
    mcu = MCU(16, 24, content_dim=16)
    open_gate(mcu.cell)
    gru = nn.GRU(16, 24, batch_first=True)
    cell = nn.GRUCell(16, 24)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(gru, f"{name}_l0").copy_(getattr(mcu.cell, name))
            getattr(cell, name).copy_(getattr(mcu.cell, name))
    x, h0 = torch.randn(3, 6, 16), torch.randn(3, 24)
    seq, last = mcu(x, torch.zeros(3, 16), h0)
    ref_seq, ref_last = gru(x, h0.unsqueeze(0))
    assert seq.shape == (3, 6, 24) and last.shape == (3, 24)
    assert torch.allclose(seq, ref_seq, atol=1e-6, rtol=0)
    assert torch.allclose(last, ref_last[0], atol=1e-6, rtol=0)
    h = h0
    for t in range(6):
        h = cell(x[:, t], h)
        assert torch.allclose(seq[:, t], h, atol=1e-6, rtol=0)
    assert torch.equal(seq[:, -1], last)


def test_closed_gate_feeds_only_the_content() -> None:
    mcu = MCU(8, 8)
    close_gate(mcu.cell)
    g = torch.randn(2, 8)
    a, _ = mcu(torch.randn(2, 5, 8), g)
    b, _ = mcu(torch.randn(2, 5, 8), g)
    assert torch.allclose(a, b, atol=1e-7)  # x is ignored: x~ = W_g g
    c, _ = mcu(torch.randn(2, 5, 8), torch.randn(2, 8))
    assert not torch.allclose(a, c, atol=1e-3)


def test_content_changes_output_and_gates_are_per_feature() -> None:
    mcu = MCU(10, 6, content_dim=4)
    x = torch.randn(3, 4, 10)
    out1, _, gates = mcu(x, torch.zeros(3, 4), return_gates=True)
    out2, _ = mcu(x, torch.randn(3, 4))
    assert gates.shape == (3, 4, 10) and ((gates > 0) & (gates < 1)).all()
    assert (out1 - out2).abs().max() > 1e-3
    # manual unrolled reference of the mix, step by step
    cell = mcu.cell
    g = torch.randn(3, 4)
    h = torch.zeros(3, 6)
    seq, last = mcu(x, g)
    for t in range(4):
        a = torch.sigmoid(cell.mix(torch.cat((x[:, t], g), -1)))
        xm = a * x[:, t] + (1 - a) * cell.content(g)
        gi = xm @ cell.weight_ih.T + cell.bias_ih
        gh = h @ cell.weight_hh.T + cell.bias_hh
        r = torch.sigmoid(gi[:, :6] + gh[:, :6])
        z = torch.sigmoid(gi[:, 6:12] + gh[:, 6:12])
        n = torch.tanh(gi[:, 12:] + r * gh[:, 12:])
        h = (1 - z) * n + z * h
        assert torch.allclose(seq[:, t], h, atol=1e-6)
    assert torch.allclose(last, h, atol=1e-6)


def test_samples_do_not_mix_and_gradients_flow() -> None:
    mcu = MCU(8, 8)
    x, g = torch.randn(4, 5, 8), torch.randn(4, 8)
    base, _ = mcu(x, g)
    x2, g2 = x.clone(), g.clone()
    x2[1:] += 1.0
    g2[1:] -= 1.0
    other, _ = mcu(x2, g2)
    assert torch.equal(base[0], other[0])
    x.requires_grad_(True)
    g.requires_grad_(True)
    _, last = mcu(x, g)
    last.sum().backward()
    for p in mcu.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0
    assert x.grad.abs().sum() > 0 and g.grad.abs().sum() > 0


def test_bf16_autocast_and_errors() -> None:
    mcu = MCU(8, 8)
    x, g = torch.randn(2, 3, 8), torch.randn(2, 8)
    ref, _ = mcu(x, g)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low, last = mcu(x, g)
    assert low.dtype == torch.bfloat16 and last.dtype == torch.bfloat16
    assert (low.float() - ref).abs().max() < 0.05
    with pytest.raises(ConfigError, match="x"):
        mcu(torch.randn(2, 3, 5), g)
    with pytest.raises(ConfigError, match="content"):
        mcu(x, torch.randn(3, 8))
    with pytest.raises(ConfigError, match="empty"):
        mcu(torch.randn(2, 0, 8), g)
    with pytest.raises(ConfigError):
        MCUCell(0, 4)
