"""PSUMNet part streams: parameter counts, part graphs, the 12-channel unified modality."""

from __future__ import annotations

import pytest
import torch

import mmfusion
from mmfusion.encoders.graph import PSUMNET_HAND_JOINTS, PSUMNET_LEG_JOINTS
from mmfusion.encoders.psumnet import PSUMNetStream, psumnet_unified_input
from mmfusion.errors import ConfigError


def test_parameter_counts_match_the_official_streams(count_params) -> None:
    # skelemoa/psumnet Model(num_class=60, in_channels=12, stream=...): 1.45 / 0.98 / 0.50 M
    assert count_params(mmfusion.create_model("psumnet_body", num_classes=60)) == 1_448_418
    assert count_params(mmfusion.create_model("psumnet_hand", num_classes=60)) == 978_482
    assert count_params(mmfusion.create_model("psumnet_leg", num_classes=60)) == 499_898


def test_stream_depths_and_graph_sizes() -> None:
    hand, leg = PSUMNetStream("hand"), PSUMNetStream("leg")
    assert [blk.gcn1.PA.shape[-1] for blk in hand.layers] == [13] * 6
    assert [blk.tcn1.branches[0][0].out_channels * 4 for blk in leg.layers] == [64, 128, 128, 256]
    assert hand.layout is None and PSUMNetStream("body").layout.name == "ntu25"


def test_unified_modality_channels() -> None:
    x = torch.zeros(1, 3, 4, 25, 2)
    x[0, :, :, 7] = torch.tensor([1.0, 2.0, 3.0])[:, None, None]  # HandLeft
    x[0, 0, 1, 21] = 5.0  # HandTipLeft x at frame 1
    u = psumnet_unified_input(x, "hand")
    assert u.shape == (1, 12, 4, 13, 2)
    hand_tip, hand = PSUMNET_HAND_JOINTS.index(21), PSUMNET_HAND_JOINTS.index(7)
    # joint, then bone = tip - hand, then joint velocity, then bone velocity (last frame zero)
    assert u[0, 0, 1, hand_tip, 0] == 5.0
    assert u[0, 3, 1, hand_tip, 0] == 4.0 and u[0, 4, 1, hand_tip, 0] == -2.0
    assert u[0, 6, 0, hand_tip, 0] == 5.0 and u[0, 6, 1, hand_tip, 0] == -5.0
    assert (u[:, 6:, -1] == 0).all()
    assert u[0, 3, 0, hand, 0] == 1.0 - 0.0  # hand minus wrist (zero)
    assert psumnet_unified_input(x, "leg").shape == (1, 12, 4, len(PSUMNET_LEG_JOINTS), 2)
    with pytest.raises(ConfigError, match="unknown stream"):
        psumnet_unified_input(x, "arm")
