"""MoCo v2 base: registry, shapes, the InfoNCE logits on a hand case, the momentum update, the queue
writes and the loss going down on a fixed tiny batch."""

from __future__ import annotations

import importlib

import pytest
import torch
import torch.nn.functional as F

from mmfusion.data.layouts import get_layout
from mmfusion.ssl import create_objective, list_objectives
from mmfusion.ssl.objectives.moco import PRESETS


def _moco(**kw):
    cfg = {"encoder": "aimclr_stgcn_tiny", "queue_size": 64, "proj_dim": 16, "momentum": 0.9, **kw}
    return create_objective("moco", **cfg)


def test_registered_with_presets() -> None:
    assert "moco" in list_objectives()
    assert PRESETS["paper_ntu60"]["queue_size"] == 32768 and PRESETS["paper_ntu60"]["temperature"] == 0.07
    assert create_objective("moco", **PRESETS["cpu"]).queue.size == PRESETS["cpu"]["queue_size"]


def test_shapes_and_parts(tiny_batch) -> None:
    obj = _moco()
    out = obj(tiny_batch)
    assert out["loss"].ndim == 0 and out["loss"].requires_grad
    assert not out["loss_nce"].requires_grad and 0 <= float(out["acc"]) <= 1
    assert obj.features(tiny_batch["skeleton"]).shape == (8, 32)  # the tiny ST-GCN's pooled width
    assert int(obj.queue.count) == 8  # training mode enqueues the batch's keys
    obj.eval()
    obj(tiny_batch)
    assert int(obj.queue.count) == 8  # evaluation does not


def test_logits_by_hand() -> None:
    obj = _moco(queue_size=3, proj_dim=2, temperature=0.5)
    obj.queue.keys.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]))
    q = torch.tensor([[0.6, 0.8]])
    k = torch.tensor([[0.0, 1.0]])
    logits, l_neg = obj.logits(q, k)
    torch.testing.assert_close(logits, torch.tensor([[0.8, 0.6, 0.8, -0.6]]) / 0.5)
    torch.testing.assert_close(l_neg, torch.tensor([[0.6, 0.8, -0.6]]))
    expect = -torch.log(torch.exp(torch.tensor(1.6)) / torch.exp(torch.tensor([1.6, 1.2, 1.6, -1.2])).sum())
    torch.testing.assert_close(F.cross_entropy(logits, torch.tensor([0])), expect)


def test_momentum_update_by_hand() -> None:
    obj = _moco(momentum=0.75)
    pq = next(obj.projector.parameters())
    pk = next(obj.projector_k.parameters())
    assert torch.equal(pq, pk) and not pk.requires_grad
    with torch.no_grad():
        pq.add_(4.0)
    before = pk.clone()
    obj.after_step(1)
    torch.testing.assert_close(pk, 0.75 * before + 0.25 * pq.detach())
    assert int(obj.steps) == 1


def test_views_are_seeded(tiny_batch) -> None:
    a, b = _moco(seed=3), _moco(seed=3)
    b.load_state_dict(a.state_dict())
    torch.testing.assert_close(a(tiny_batch)["loss"], b(tiny_batch)["loss"])


def test_loss_goes_down_on_a_fixed_batch(tiny_batch, train_steps) -> None:
    # negatives = keys of other clips, kept fixed (a fixed batch would otherwise fill the queue with
    # its own keys, the false negatives that a real data set spreads out)
    torch.manual_seed(0)
    obj = _moco(queue_size=32)
    other = {"skeleton": torch.randn_like(tiny_batch["skeleton"]).cumsum(dim=2) * 0.1}
    with torch.no_grad():
        obj.queue.keys.copy_(torch.cat([obj.embed_k(obj.key_aug(other["skeleton"], torch.Generator()))] * 4))
    obj.enqueue = lambda k: None
    losses = train_steps(obj, tiny_batch, steps=12, lr=3e-3)
    assert sum(losses[-3:]) / 3 < 0.5 * sum(losses[:3]) / 3, losses


@pytest.mark.parametrize("method", ["moco", "hiclr", "halp", "msclr", "stars"])
def test_cpu_presets_build_and_run_one_step_at_their_clip_length(method: str) -> None:
    mod = importlib.import_module(f"mmfusion.ssl.objectives.{method}")
    assert set(mod.PRESETS) >= {"cpu", "paper_ntu60"} and set(mod.TRAIN_PRESETS) >= {"cpu", "paper_ntu60"}
    obj = create_objective(method, **mod.PRESETS["cpu"])
    t = mod.TRAIN_PRESETS["cpu"]["clip_len"]
    g = torch.Generator().manual_seed(0)
    layouts = getattr(obj, "layouts", ("ntu25",))
    c = int(mod.PRESETS["cpu"].get("encoder_kwargs", {}).get("in_channels", 3))  # MS-CLR's card says it
    batch = {f"skeleton_{n}": torch.randn(4, c, t, get_layout(n).num_joints, 2, generator=g) for n in layouts}
    batch.update(skeleton=batch[f"skeleton_{layouts[0]}"], index=torch.arange(4))
    out = obj(batch)
    out["loss"].backward()
    assert torch.isfinite(out["loss"])
    assert obj.features(batch["skeleton"]).shape[0] == 4
