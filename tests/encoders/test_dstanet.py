"""DSTA-Net: parameter counts (HiCLR and original NTU configs), attention block semantics."""

from __future__ import annotations

import pytest
import torch

import mmfusion
from mmfusion.encoders.dstanet import DSTANET_NTU_CONFIG, DSTANet, sinusoidal_position_map
from mmfusion.errors import ConfigError


def test_parameter_counts_match_the_official_code(count_params) -> None:
    # lshiwjx/DSTA-Net DSTANet with HiCLR's config and a 60-class fc: 1,561,900 ("1.56 M")
    assert count_params(mmfusion.create_model("dstanet", num_classes=60)) == 1_561_900
    assert count_params(DSTANet()) == 1_546_480
    # the original NTU-60 config (ntu60_dstanet.yaml)
    assert count_params(mmfusion.create_model("dstanet_ntu", num_classes=60)) == 3_817_388
    assert count_params(DSTANet(config=DSTANET_NTU_CONFIG, num_frames=128)) == 3_801_968


def test_positional_map_is_the_transformer_encoding() -> None:
    pe = sinusoidal_position_map(4, 3, 2, "temporal")
    assert pe.shape == (1, 4, 3, 2)
    assert torch.allclose(pe[0, 0, :, 0], torch.sin(torch.arange(3.0)))
    assert torch.allclose(pe[0, 1, :, 1], torch.cos(torch.arange(3.0)))
    sp = sinusoidal_position_map(4, 3, 2, "spatial")
    assert torch.allclose(sp[0, 0, 0], torch.sin(torch.arange(2.0))) and torch.equal(sp[0, :, 0], sp[0, :, 2])


def test_temporal_stride_and_frame_limit(skeleton) -> None:
    enc = DSTANet(num_frames=50).eval()
    assert enc.forward_features(skeleton(n=1, t=48)).shape == (1, 2, 256, 12, 25)
    with pytest.raises(ConfigError, match="num_frames"):
        enc(skeleton(n=1, t=51))


def test_temporal_attention_variant_runs(skeleton) -> None:
    enc = DSTANet(config=((8, 16, 4, 2),), num_frames=16, use_temporal_att=True, att_t=True, glo_reg_t=True)
    assert enc(skeleton(t=16)).shape == (2, 16)
