"""AimCLR's quarter-width ST-GCN: parameter count, MACs, official ST-GCN graph."""

from __future__ import annotations

import pytest
import torch

import mmfusion
from mmfusion.encoders.aimclr_stgcn import AimCLRSTGCN


def test_parameter_count_matches_the_official_encoder(count_params) -> None:
    # Levigty/AimCLR net.st_gcn.Model(hidden_channels=16, hidden_dim=256): 821,380 without its fc;
    # the "0.84 M" figure includes a 60-class head, AimCLR's 128-d MoCo fc gives 854,276
    assert count_params(AimCLRSTGCN()) == 821_380
    assert count_params(mmfusion.create_model("aimclr_stgcn", num_classes=60)) == 836_800
    assert count_params(mmfusion.create_model("aimclr_stgcn", num_classes=128)) == 854_276


def test_macs_at_t50_two_persons() -> None:
    fvcore = pytest.importorskip("fvcore.nn")
    flops = fvcore.FlopCountAnalysis(AimCLRSTGCN().eval(), torch.zeros(1, 3, 50, 25, 2))
    flops.unsupported_ops_warnings(False)
    flops.uncalled_modules_warnings(False)
    assert flops.total() / 1e9 == pytest.approx(0.61, rel=0.02)


def test_official_graph_and_widths() -> None:
    enc = AimCLRSTGCN()
    assert [int((p > 0).sum()) for p in enc.A] == [25, 40, 8]  # yysijie/st-gcn NTU graph, centre joint 21
    assert [b.gcn.out_channels for b in enc.blocks] == [16, 16, 16, 16, 32, 32, 32, 64, 64, 256]
    assert enc.data_bn.num_features == 75  # BN over (V, C), persons folded into the batch


def test_one_builder_gives_the_official_stgcn_graph() -> None:
    # STGCN's graph="official" is the only place that picks the centre and hop truncation
    from mmfusion.data.layouts import NTU25
    from mmfusion.encoders.graph import spatial_partition
    from mmfusion.encoders.stgcn import STGCN

    official = spatial_partition(NTU25, center=20, truncated_hops=True)
    torch.testing.assert_close(AimCLRSTGCN().A, torch.from_numpy(official))
    torch.testing.assert_close(STGCN().A, torch.from_numpy(official))
