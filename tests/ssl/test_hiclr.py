"""HiCLR: the chained consistency losses (detached targets) and the mining loss by hand, the four
branches, the learnable mask token, mining after ``mining_step``, and learning on a fixed batch."""

from __future__ import annotations

import math

import torch

from mmfusion.ssl import create_objective
from mmfusion.ssl.objectives.hiclr import PRESETS, consistency_loss, mining_loss


def _hiclr(**kw):
    cfg = {"encoder": "aimclr_stgcn_tiny", "queue_size": 32, "proj_dim": 16, "momentum": 0.9, **kw}
    return create_objective("hiclr", **cfg)


def test_consistency_loss_by_hand_and_its_target_is_detached() -> None:
    logits = torch.tensor([[0.0, math.log(3.0)]], requires_grad=True)  # softmax (1/4, 3/4)
    target = torch.tensor([[math.log(2.0), 0.0]], requires_grad=True)  # softmax (2/3, 1/3)
    loss = consistency_loss(logits, target)
    expect = -(2 / 3 * math.log(1 / 4) + 1 / 3 * math.log(3 / 4))
    assert math.isclose(float(loss), expect, rel_tol=1e-6)
    loss.backward()
    assert target.grad is None and logits.grad is not None


def test_mining_loss_by_hand() -> None:
    logits = torch.log(torch.tensor([[0.4, 0.1, 0.3, 0.2]]))  # log-softmax = itself (sums to 1)
    l_neg_a = torch.tensor([[0.0, 0.9, 0.1]])  # top-1: column 2 of the logits
    l_neg_b = torch.tensor([[0.0, 0.9, 0.5]])  # the same entry: no double count
    loss = mining_loss(logits, [l_neg_a, l_neg_b])
    assert math.isclose(float(loss), -(math.log(0.4) + math.log(0.3)) / 2, rel_tol=1e-6)
    loss3 = mining_loss(logits, [l_neg_a, torch.tensor([[1.0, 0.0, 0.0]])])
    assert math.isclose(float(loss3), -(math.log(0.4) + math.log(0.3) + math.log(0.1)) / 3, rel_tol=1e-6)


def test_forward_parts_mask_token_and_presets(tiny_batch) -> None:
    obj = _hiclr()
    out = obj(tiny_batch)
    assert {"loss", "loss_nce", "loss_ddm1", "loss_ddm2", "acc"} <= set(out)
    torch.testing.assert_close(out["loss"].detach(), out["loss_nce"] + (out["loss_ddm1"] + out["loss_ddm2"]) / 2)
    out["loss"].backward()
    assert obj.joint_mask.token.grad is not None  # HiCLR's learnable mask_param is trained
    assert PRESETS["paper_ntu60"]["queue_size"] == 32768 and PRESETS["paper_ntu60"]["mask_ratio"] == 0.1


def test_mining_starts_at_the_mining_step(tiny_batch) -> None:
    obj = _hiclr(mining_step=2)
    assert not obj.mining
    obj.after_step(1)
    assert not obj.mining
    obj.after_step(2)
    assert obj.mining
    plain = _hiclr(mining_step=None)
    plain.load_state_dict(obj.state_dict())
    plain.steps.fill_(2)
    mined, base = obj(tiny_batch), plain(tiny_batch)
    torch.testing.assert_close(mined["loss_ddm1"], base["loss_ddm1"])
    assert float(mined["loss_nce"]) != float(base["loss_nce"])  # extra positives change the InfoNCE term


def test_loss_goes_down_on_a_fixed_batch(tiny_batch, train_steps) -> None:
    torch.manual_seed(0)
    obj = _hiclr()
    other = torch.randn_like(tiny_batch["skeleton"]).cumsum(dim=2) * 0.1
    with torch.no_grad():
        obj.queue.keys.copy_(torch.cat([obj.embed_k(other)] * 4))
    obj.enqueue = lambda k: None  # fixed negatives (see tests/ssl/test_moco.py)
    losses = train_steps(obj, tiny_batch, steps=10, lr=3e-3)
    assert sum(losses[-3:]) / 3 < 0.7 * sum(losses[:3]) / 3, losses
