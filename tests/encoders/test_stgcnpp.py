"""ST-GCN++ (PYSKL / BRL): parameter count, MACs, PYSKL graph, multi-scale TCN widths."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mmfusion
from mmfusion.encoders.graph import NTU25_HAND_STAR_INWARD, inward_outward_graph
from mmfusion.encoders.stgcnpp import MSTCN, STGCNPlusPlus


def test_parameter_count_matches_pyskl(count_params) -> None:
    # PYSKL STGCN(gcn_adaptive='init', gcn_with_res=True, tcn_type='mstcn'): 1,387,724; + 60-class head = "1.40 M"
    assert count_params(STGCNPlusPlus()) == 1_387_724
    assert count_params(mmfusion.create_model("stgcnpp", num_classes=60)) == 1_403_144


def test_macs_at_t64_two_persons() -> None:
    fvcore = pytest.importorskip("fvcore.nn")
    enc = STGCNPlusPlus().eval()
    flops = fvcore.FlopCountAnalysis(enc, torch.zeros(1, 3, 64, 25, 2))
    flops.unsupported_ops_warnings(False)
    flops.uncalled_modules_warnings(False)
    # BRL / PYSKL measured 1.87 GMACs (torch flop counter); fvcore also counts BN and einsum
    assert flops.total() / 1e9 == pytest.approx(1.87, rel=0.02)


def test_graph_is_pyskl_ntu_graph_and_learnable() -> None:
    enc = STGCNPlusPlus()
    a = enc.gcn[0].gcn.A
    assert isinstance(a, torch.nn.Parameter)
    np.testing.assert_allclose(a.detach().numpy(), inward_outward_graph(NTU25_HAND_STAR_INWARD, 25))
    # PYSKL aggregates with einsum("nkctv,kvw->nctw"): HandTipLeft (21) hangs from HandLeft (7)
    assert a[1, 7, 21] == 1.0


def test_mstcn_branch_widths_and_stride() -> None:
    t = MSTCN(64, 64, stride=2)
    widths = [b.out_channels if isinstance(b, torch.nn.Conv2d) else b[0].out_channels for b in t.branches]
    assert widths == [14, 10, 10, 10, 10, 10]  # PYSKL: the first branch takes the remainder
    assert t(torch.randn(2, 64, 16, 25)).shape == (2, 64, 8, 25)
    g = MSTCN(32, 32, global_branch=True, num_joints=25)
    assert g.add_coeff.shape == (25,) and g(torch.randn(1, 32, 8, 25)).shape == (1, 32, 8, 25)
