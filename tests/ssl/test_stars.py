"""STARS: the NNCLR loss by hand, nearest neighbours that skip the sample's own queue entries, the
queue ids, the stages (trainable prefixes, layer-wise learning rates) and learning on a fixed batch."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mmfusion.errors import ConfigError
from mmfusion.ssl import create_objective
from mmfusion.ssl.objectives.stars import PRESETS, nnclr_loss


def _stars(**kw):
    cfg = {"encoder": "mamp_transformer_tiny", "encoder_kwargs": {"num_frames": 16, "dim": 16, "depth": 4,
                                                                   "num_heads": 2},
           "queue_size": 16, "hidden_dim": 32, **kw}
    return create_objective("stars", **cfg)


def test_nnclr_loss_by_hand() -> None:
    pred = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    nn = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    # logits = nn @ pred^T / 0.5 = [[2, 0], [1.2, 1.6]]; labels (0, 1)
    loss = nnclr_loss(pred, nn, 0.5)
    row0 = -math.log(math.exp(2) / (math.exp(2) + 1))
    row1 = -math.log(math.exp(1.6) / (math.exp(1.2) + math.exp(1.6)))
    expect = (row0 + row1) / 2
    assert math.isclose(float(loss), expect, rel_tol=1e-6)


def test_nearest_neighbour_skips_own_entries(tiny_batch) -> None:
    obj = _stars(queue_size=4)
    obj.queue.keys.copy_(F.normalize(torch.tensor([[1.0, 0] + [0] * 14, [0.9, 0.1] + [0] * 14,
                                                   [0, 1.0] + [0] * 14, [-1.0, 0] + [0] * 14]), dim=1))
    obj.queue.ids.copy_(torch.tensor([7, 3, 5, -1]))
    z = F.normalize(torch.tensor([[1.0, 0] + [0] * 14] * 2), dim=1)
    got = obj.nearest(z, torch.tensor([7, 4]))
    torch.testing.assert_close(got[0], obj.queue.keys[1])  # sample 7 skips its own entry 0
    torch.testing.assert_close(got[1], obj.queue.keys[0])


def test_forward_enqueues_view0_with_ids(tiny_batch) -> None:
    obj = _stars()
    out = obj(tiny_batch)
    assert {"loss", "loss0", "loss1", "nn_sim"} <= set(out) and out["loss"].requires_grad
    assert obj.queue.ids[:8].tolist() == list(range(8)) and int(obj.queue.count) == 8
    assert obj.features(tiny_batch["skeleton"]).shape == (8, 16)
    assert PRESETS["paper_ntu60"]["queue_size"] == 32768 and PRESETS["paper_ntu60"]["temperature"] == 0.07


def test_stages_and_layer_wise_learning_rates() -> None:
    obj = _stars(layer_decay=0.5)
    obj.set_stage("head")
    trainable = {n for n, p in obj.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("projector.", "predictor.")) for n in trainable)
    obj.set_stage("tune")
    trainable = {n for n, p in obj.named_parameters() if p.requires_grad}
    blocks = {int(n.split(".")[3]) for n in trainable if n.startswith("encoder.encoder.blocks.")}
    assert blocks == {2, 3}  # the upper half of 4 blocks
    assert any(n.startswith("encoder.encoder.norm.") for n in trainable)
    assert not any("patch_embed" in n or "pos_embed" in n for n in trainable)
    lrs = {g["name"]: g["lr"] for g in obj.param_groups("tune", 1.0)}
    assert lrs["encoder.encoder.blocks.3.norm1.weight"] == 0.5  # decay ** (depth - 3)
    assert lrs["encoder.encoder.blocks.2.norm1.weight"] == 0.25
    assert lrs["predictor.0.weight"] == 1.0 and lrs["encoder.encoder.norm.weight"] == 1.0
    frozen = obj.freeze_prefixes("tune")
    assert "encoder.encoder.blocks.0.norm1.weight" in frozen and "predictor.0.weight" not in frozen
    with pytest.raises(ConfigError, match="stage"):
        obj.set_stage("third")


def test_loss_goes_down_on_a_fixed_batch(tiny_batch, train_steps) -> None:
    torch.manual_seed(0)
    obj = _stars(aug="basic")  # fixed batch: views from the basic preset so the two views differ
    other = torch.randn_like(tiny_batch["skeleton"]).cumsum(dim=2) * 0.1
    with torch.no_grad():
        obj.queue.enqueue(obj._embed(other)[1], torch.arange(100, 108))
        obj.queue.enqueue(obj._embed(tiny_batch["skeleton"])[1], torch.arange(200, 208))
    obj.queue.enqueue = lambda *a, **k: None  # a fixed support set
    losses = train_steps(obj, tiny_batch, steps=10, lr=3e-3)
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.3, losses
