"""BRL: rebalanced partial mixup, the deferred action-aware re-weighting, six-stream fusion and
the registered wrappers."""

from __future__ import annotations

import math

import pytest
import torch

import mmfusion
from mmfusion.data.layouts import get_layout
from mmfusion.data.skeleton.longtail import PROFILES
from mmfusion.errors import ConfigError
from mmfusion.models.brl import (
    BRL_STREAM_WEIGHTS,
    aa_class_weights,
    fuse_streams,
    mix_weights,
    partial_mixup,
    reweighting_schedule,
)

LOWER = (0, 12, 13, 14, 15, 16, 17, 18, 19)


def test_mix_weights_for_the_three_frequency_cases() -> None:
    n_a = torch.tensor([600, 100, 150, 300, 10])
    n_b = torch.tensor([100, 600, 100, 100, 31])
    # 600 > 3 * 100: all credit to the rarer b; 600 > 3 * 100 the other way: all to a; within 3x: alpha;
    # exactly 3x is not "more than": alpha; 31 > 3 * 10: all to a
    assert mix_weights(n_a, n_b, 0.64, 3).tolist() == pytest.approx([0.0, 1.0, 0.64, 0.64, 1.0])


def test_mixup_exchanges_exactly_the_lower_body() -> None:
    assert get_layout("ntu25").part("brl", "lower") == LOWER
    x = torch.randn(4, 3, 5, 25, 2)
    out = partial_mixup(x, LOWER, torch.tensor([1, 3]), torch.tensor([2, 0]))
    upper = [v for v in range(25) if v not in LOWER]
    assert torch.equal(out[[0, 2]], x[[0, 2]])  # unmixed samples untouched
    assert torch.equal(out[1][:, :, list(LOWER)], x[2][:, :, list(LOWER)])
    assert torch.equal(out[1][:, :, upper], x[1][:, :, upper])  # joints keep their index
    assert torch.equal(out[3][:, :, list(LOWER)], x[0][:, :, list(LOWER)])
    assert torch.equal(out[3][:, :, upper], x[3][:, :, upper])
    assert not torch.equal(out, x)


def test_wrapper_mixes_one_sample_per_sixteen_with_the_official_alpha() -> None:
    model = mmfusion.create_model("brl_stgcnpp_tiny", num_classes=60).train()
    assert model.alpha == pytest.approx(0.64) and model.im_k == 3 and model.step_epoch == 20
    batch = mmfusion.dummy_inputs("brl_stgcnpp_tiny", batch_size=16, labels=True, seed=1)
    batch["label"] = torch.arange(16) * 3  # classes 0, 3, ..., 45: counts from the NTU profile
    seen = {}
    model.classifier.register_forward_pre_hook(lambda m, args: seen.update(x=args[0]["skeleton"]))
    out = model(batch)
    changed = [i for i in range(16) if not torch.equal(seen["x"][i], batch["skeleton"][i])]
    assert len(changed) == 1  # int(16 / 16)
    i = changed[0]
    j = int(out["label_b"][i]) // 3
    assert torch.equal(seen["x"][i][:, :, list(LOWER)], batch["skeleton"][j][:, :, list(LOWER)])
    counts = PROFILES["ntu60_xsub"].counts(60)
    expect = float(mix_weights(torch.tensor([counts[3 * i]]), torch.tensor([counts[3 * j]]), 0.64)[0])
    assert float(out["mix_alpha"][i]) == pytest.approx(expect)
    assert out["mix_alpha"].sum() == pytest.approx(15 + expect)
    # evaluation and batches without labels pass unchanged
    assert "label_b" not in model.eval()(batch)


def test_reweighting_schedule_values() -> None:
    counts = [600, 100, 6]
    assert torch.equal(reweighting_schedule(counts, 0), torch.ones(3))
    assert torch.equal(reweighting_schedule(counts, 18), torch.ones(3))  # the 19th epoch
    w = reweighting_schedule(counts, 19)  # the 20th epoch: beta 0.9999, 0.99 + 0.0099 * 94 / 594, 0.99
    b = [0.9999, 0.99 + 0.0099 * 94 / 594, 0.99]
    raw = [(1 - bc) / (1 - bc ** n) for bc, n in zip(b, counts)]
    expect = [3 * r / sum(raw) for r in raw]
    assert w.tolist() == pytest.approx(expect, rel=1e-5)
    assert float(w.sum()) == pytest.approx(3.0)
    assert w[0] < w[1] < w[2]
    assert torch.equal(aa_class_weights([5, 5]), torch.ones(2))  # equal counts: uniform
    assert math.isfinite(float(aa_class_weights([10, 0]).max()))  # an empty class stays finite


def test_loss_weights_follow_set_epoch_and_alpha() -> None:
    model = mmfusion.create_model("brl_stgcnpp_tiny", num_classes=3, class_counts=[600, 100, 6])
    logits = torch.randn(4, 3)
    target = torch.tensor([0, 1, 2, 0])
    plain = torch.nn.functional.cross_entropy(logits, target)
    assert model.loss({"logits": logits}, target) == pytest.approx(float(plain))
    model.set_epoch(19)
    weighted = torch.nn.functional.cross_entropy(logits, target, weight=model.class_weights)
    assert model.loss({"logits": logits}, target) == pytest.approx(float(weighted))
    model.set_epoch(0)
    label_b = torch.tensor([2, 1, 2, 0])
    alpha = torch.tensor([0.0, 1.0, 1.0, 1.0])  # sample 0 gives all credit to its partner's class 2
    out = model.loss({"logits": logits, "label_b": label_b, "mix_alpha": alpha}, target)
    ce_a = torch.nn.functional.cross_entropy(logits, target, reduction="none")
    ce_b = torch.nn.functional.cross_entropy(logits, label_b, reduction="none")
    assert float(out) == pytest.approx(float((alpha * ce_a).mean() + ((1 - alpha) * ce_b).mean()))


def test_six_stream_fusion_uses_the_official_weights() -> None:
    assert BRL_STREAM_WEIGHTS == {"j": 2, "b": 2, "k": 2, "jm": 1, "bm": 1, "km": 1}
    scores = {s: torch.full((2, 4), float(i)) for i, s in enumerate(BRL_STREAM_WEIGHTS)}
    assert torch.equal(fuse_streams(scores), torch.full((2, 4), 2.0 * (0 + 1 + 2) + 3 + 4 + 5))
    with pytest.raises(ConfigError, match="no fusion weight"):
        fuse_streams({"ja": torch.zeros(1, 2)})


def test_entries_keep_the_classifier_parameters_and_checkpoint() -> None:
    brl = mmfusion.create_model("brl_stgcnpp")
    n = sum(p.numel() for p in brl.parameters())
    assert n == sum(p.numel() for p in mmfusion.create_model("stgcnpp").parameters())
    assert abs(n - 1.40e6) / 1.40e6 < 0.01  # BRL's measured 1.40 M
    assert all(k.startswith("classifier.") for k in brl.state_dict())
    generic = mmfusion.create_model("brl", classifier="ctrgcn_tiny", num_classes=5, class_counts=[9, 5, 3, 2, 1])
    assert generic.class_counts.tolist() == [9, 5, 3, 2, 1] and generic.num_classes == 5
    with pytest.raises(ConfigError, match="class counts"):
        mmfusion.create_model("brl", classifier="ctrgcn_tiny", num_classes=5, class_counts=[1, 2])
    with pytest.raises(ConfigError, match="unknown options"):
        mmfusion.create_model("brl", classifier="ctrgcn_tiny", dropout=0.1)
