"""FlexSTGCN (MS-CLR's layout-agnostic ST-GCN): one network, a graph per layout, zero-padded joints
ignored; MultiLayoutHead fuses per-layout logits."""

from __future__ import annotations

import pytest
import torch

from mmfusion.encoders.flex_stgcn import FlexSTGCN, MultiLayoutHead
from mmfusion.errors import ConfigError

TINY = {"blocks": ((8, 1), (16, 2)), "dropout": 0.0}


def test_one_network_many_graphs_and_zero_padded_joints() -> None:
    enc = FlexSTGCN(layouts=("ntu25", "smpl24", "coco17"), **TINY).eval()
    x24 = torch.randn(2, 3, 8, 24, 1)
    out = enc(x24, "smpl24")
    assert out.shape == (2, 16)
    padded = torch.cat([x24, torch.zeros(2, 3, 8, 1, 1)], dim=3)  # zero-padded to V = 25
    torch.testing.assert_close(enc(padded, "smpl24"), out)
    assert enc.A_smpl24.shape == (3, 24, 24) and enc.A_coco17.shape == (3, 17, 17)
    assert enc(torch.randn(2, 3, 8, 25, 2)).shape == (2, 16)  # default: the first layout
    with pytest.raises(ConfigError, match="not among"):
        enc(x24, "h36m17")
    with pytest.raises(ConfigError, match="V=17"):
        enc(torch.randn(1, 3, 8, 17, 1), "smpl24")


def test_multi_layout_head_averages_logits() -> None:
    head = MultiLayoutHead(("ntu25", "smpl24"), 4, 3)
    f = {"ntu25": torch.randn(5, 4), "smpl24": torch.randn(5, 4)}
    manual = (f["ntu25"] @ head.heads["ntu25"].weight.T + f["smpl24"] @ head.heads["smpl24"].weight.T) / 2 \
        + (head.heads["ntu25"].bias + head.heads["smpl24"].bias) / 2
    torch.testing.assert_close(head(f), manual)
