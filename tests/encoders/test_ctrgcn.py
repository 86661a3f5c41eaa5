"""CTR-GCN: official parameter count, graph and init; the CTRGC refinement semantics."""

from __future__ import annotations

import numpy as np
import torch

import mmfusion
from mmfusion.encoders.ctrgcn import CTRGC, CTRGCN
from mmfusion.encoders.graph import inward_outward_graph


def test_parameter_count_matches_the_official_ntu60_model(count_params) -> None:
    # official Uason-Chen/CTR-GCN Model(num_class=60): 1,446,672 - the paper's "1.46 M" includes the head
    model = mmfusion.create_model("ctrgcn", num_classes=60)
    assert count_params(model) == 1_446_672
    enc = model.encoder
    assert isinstance(enc, CTRGCN)
    assert count_params(enc) == 1_431_252
    assert enc.out_dim == 256


def test_graph_is_the_official_spatial_graph_and_learnable() -> None:
    enc = CTRGCN()
    pa = enc.layers[0].gcn1.PA
    assert pa.requires_grad
    np.testing.assert_allclose(pa.detach().numpy(), inward_outward_graph("ntu25"))
    # official init: graph-conv output BN starts at 1e-6, refinement strength alpha at 0
    assert torch.allclose(enc.layers[3].gcn1.bn.weight.detach(), torch.full((64,), 1e-6))
    assert float(enc.layers[3].gcn1.alpha) == 0.0


def test_feature_map_strides_and_person_pooling(skeleton) -> None:
    enc = CTRGCN().eval()
    x = skeleton(n=1, t=32)
    maps = enc.forward_features(x)
    assert maps.shape == (1, 2, 256, 8, 25)  # (N, M, C', T/4, V)
    torch.testing.assert_close(enc(x), maps.mean(dim=(3, 4)).mean(1))


def test_ctrgc_with_zero_alpha_is_a_plain_graph_convolution() -> None:
    conv = CTRGC(16, 8)
    x = torch.randn(2, 16, 5, 4)
    a = torch.rand(4, 4)
    y = conv(x, a, alpha=0.0)
    expected = torch.einsum("uv,nctv->nctu", a, conv.conv3(x))
    torch.testing.assert_close(y, expected)
    # a non-zero alpha adds the channel-wise refined topology
    assert not torch.allclose(conv(x, a, alpha=1.0), expected)
