"""FineTec (our re-implementation): the acceleration module on a hand-computed mass matrix, the
completion, the region decomposition, the training / evaluation outputs and the two stages."""

from __future__ import annotations

import math

import pytest
import torch

import mmfusion
from mmfusion.data.layouts import get_layout
from mmfusion.errors import ConfigError
from mmfusion.models.finetec import (
    CompletionPretrainer,
    LagrangianAcceleration,
    finite_difference_acceleration,
    interpolate_lost,
    lagrangian_acceleration,
    spd_from_upper,
    visible_span,
)

# U = [[1, 1, 0], [0, 1, 0], [0, 0, 2]] (diagonal through exp: raw 0, 0, ln 2), so
# M = U^T U = [[1, 1, 0], [1, 2, 0], [0, 0, 4]]
UPPER = torch.tensor([0.0, 1.0, 0.0, 0.0, 0.0, math.log(2.0)])
MASS = torch.tensor([[1.0, 1.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 4.0]])
# tau = (1, 2, 4) -> M^-1 tau = (0, 1, 1); C = 0.5 I, s' = (2, 0, 0) -> C s' = (1, 0, 0); g = (0, 0, 1)
TAU, CORIOLIS, GRAVITY, VELOCITY = torch.tensor([1.0, 2.0, 4.0]), 0.5 * torch.eye(3), torch.tensor([0.0, 0.0, 1.0]), \
    torch.tensor([2.0, 0.0, 0.0])
EXPECTED = torch.tensor([-1.0, 1.0, 0.0])


def test_mass_matrix_from_the_upper_triangle_is_symmetric_positive_definite() -> None:
    torch.testing.assert_close(spd_from_upper(UPPER, eps=0.0), MASS)
    m = spd_from_upper(torch.randn(50, 6))
    torch.testing.assert_close(m, m.transpose(-1, -2))
    assert bool((torch.linalg.eigvalsh(m) > 0).all())
    with pytest.raises(ConfigError, match="upper triangle"):
        spd_from_upper(torch.zeros(5))


def test_lagrangian_acceleration_for_a_known_mass_matrix() -> None:
    torch.testing.assert_close(lagrangian_acceleration(MASS, CORIOLIS, GRAVITY, TAU, VELOCITY), EXPECTED)


def test_acceleration_module_with_fixed_predictions() -> None:
    mod = LagrangianAcceleration(3, hidden=8, eps=0.0)
    with torch.no_grad():  # the MLP predicts constants: (upper, C, g, tau) above
        mod.net[-1].weight.zero_()
        mod.net[-1].bias.copy_(torch.cat([UPPER, CORIOLIS.flatten(), GRAVITY, TAU]))
    t = torch.arange(6.0)
    s = torch.zeros(1, 3, 6, 2)
    s[0, 0] = 2 * t[:, None]  # x moves 2 per frame: central velocity (2, 0, 0) inside, acceleration 0
    lag, fd, fused = mod(s)
    assert lag.shape == fd.shape == fused.shape == (1, 3, 6, 2)
    inner = lag[0, :, 1:-1].permute(1, 2, 0)  # (T-2, V, C)
    torch.testing.assert_close(inner, EXPECTED.expand_as(inner))
    assert not fd.any()
    torch.testing.assert_close(fused[0, :, 1:-1].permute(1, 2, 0), (EXPECTED / 2).expand_as(inner))


def test_finite_difference_acceleration() -> None:
    x = (torch.arange(5.0) ** 2).view(1, 1, 5, 1)
    assert finite_difference_acceleration(x).flatten().tolist() == [0.0, 2.0, 2.0, 2.0, 0.0]


def test_lost_frames_are_interpolated_and_held_at_the_ends() -> None:
    x = torch.tensor([0.0, 10.0, 0.0, 0.0, 40.0, 0.0]).view(1, 1, 6, 1)
    visible = torch.tensor([[False, True, False, False, True, False]])
    assert interpolate_lost(x, visible).flatten().tolist() == [10.0, 10.0, 20.0, 30.0, 40.0, 40.0]
    assert torch.equal(interpolate_lost(x, torch.zeros(1, 6, dtype=torch.bool)), x)


def test_visible_span_runs_from_the_first_to_the_last_visible_frame() -> None:
    visible = torch.tensor([[False, False, True, False, True, False], [False] * 6])
    assert visible_span(visible).tolist() == [[False, False, True, True, True, False], [False] * 6]


def test_lost_ends_stay_zero_and_inner_gaps_are_completed() -> None:
    ends_zero = mmfusion.create_model("finetec_tiny", num_classes=5).eval()
    held = mmfusion.create_model("finetec_tiny", num_classes=5, complete_ends=True).eval()
    held.load_state_dict(ends_zero.state_dict())
    x = _batch() + 1.0
    x[..., 1] = 0
    with torch.no_grad():  # nothing lost: the two agree
        torch.testing.assert_close(ends_zero({"skeleton": x})["logits"], held({"skeleton": x})["logits"])
        lost = x.clone()
        lost[:, :, :8] = 0  # a lost prefix
        lost[:, :, 14:18] = 0  # and an inner gap
        feats = ends_zero._head_input(lost)[0]  # (N, 2C, T, V, M): positions, then accelerations
        assert feats[:, :, :8].abs().sum() == 0  # the prefix stays zero
        assert feats[:, 3:, 8].abs().sum() == 0 and feats[:, :3, 8, :, 0].abs().min() > 0  # first visible frame
        assert feats[:, :3, 14:18, :, 0].abs().min() > 0  # the gap is filled
        assert held._head_input(lost)[0][:, :3, :8, :, 0].abs().min() > 0  # held: the prefix is filled


def test_untrained_completion_interpolates() -> None:
    model = mmfusion.create_model("finetec_tiny", num_classes=5).eval()
    x = torch.linspace(0, 1, 32).view(1, 1, 32, 1, 1).expand(1, 3, 32, 25, 1).clone() + 1
    lost = x.clone()
    lost[:, :, 5:25] = 0
    with torch.no_grad():
        torch.testing.assert_close(model.complete(lost), x)


def _batch(n: int = 2, t: int = 32) -> torch.Tensor:
    torch.manual_seed(0)
    x = torch.randn(n, 3, t, 25, 2) * 0.1
    x[..., 1] = 0  # one person
    return x


def test_shapes_training_and_evaluation() -> None:
    model = mmfusion.create_model("finetec_tiny", num_classes=5)
    x = _batch()
    model.train()
    out = model({"skeleton": x})
    assert out["logits"].shape == (2, 5) and out["features"].shape == (2, 128) and out["loss_acc"].ndim == 0
    loss = model.loss(out, torch.tensor([0, 1]))
    loss.backward()
    assert float(loss.detach()) > float(torch.nn.functional.cross_entropy(out["logits"].detach(), torch.tensor([0, 1])))
    model.eval()
    with torch.no_grad():
        out = model({"skeleton": x})
    assert set(out) == {"logits", "features"}
    with pytest.raises(ConfigError, match="T=32"):
        model({"skeleton": _batch(t=20)})
    base = mmfusion.create_model("finetec_tiny", num_classes=5, completion=False, decomposition=False,
                                 acceleration=False)
    assert base.encoder.in_channels == 3 and model.encoder.in_channels == 6


def test_completion_keeps_visible_frames_and_absent_persons() -> None:
    model = mmfusion.create_model("finetec_tiny", num_classes=5).eval()
    x = _batch()
    x[:, :, 10:20] = 0  # lost frames
    with torch.no_grad():
        base = model.complete(x)
    torch.testing.assert_close(base[:, :, :10], x[:, :, :10])
    torch.testing.assert_close(base[:, :, 20:], x[:, :, 20:])
    assert base[:, :, 10:20, :, 0].abs().sum() > 0 and not base[..., 1].any()


def test_decomposition_marks_the_two_most_moving_regions() -> None:
    model = mmfusion.create_model("finetec_tiny", num_classes=5).eval()
    regions = get_layout("ntu25").part_groups["finetec"]
    base = torch.ones(1, 3, 32, 25)
    wave = torch.sin(torch.arange(32.0))[None, None, :, None]
    base[..., list(regions["left_arm"])] += wave
    base[..., list(regions["right_leg"])] += 0.5 * wave
    base[..., list(regions["head"])] += 0.1 * wave
    dyna, stat = model.decompose(base)
    moving = set(regions["left_arm"]) | set(regions["right_leg"])
    assert {v for v in range(25) if dyna[..., v].any()} == moving
    assert {v for v in range(25) if stat[..., v].any()} == {v for r in regions.values() for v in r} - moving


def test_ntu25_has_five_disjoint_regions() -> None:
    regions = get_layout("ntu25").part_groups["finetec"]
    assert list(regions) == ["head", "left_arm", "right_arm", "left_leg", "right_leg"]
    joints = [v for r in regions.values() for v in r]
    assert len(joints) == len(set(joints)) == 22


def test_completion_stage_trains_only_the_completion_then_freezes_it() -> None:
    model = mmfusion.create_model("finetec_tiny", num_classes=5)
    model.set_prior(torch.full((3, 32, 25), 0.1))
    pre = CompletionPretrainer(model).train()
    out = pre({"skeleton": _batch(), "label": torch.tensor([0, 1])})
    pre.loss(out, torch.tensor([0, 1])).backward()
    trained = {n for n, p in model.named_parameters() if p.grad is not None}
    assert trained and all(n.startswith("completion.") for n in trained)
    model.freeze_completion()
    assert not any(p.requires_grad for p in model.completion.parameters())
    assert all(p.requires_grad for n, p in model.named_parameters() if not n.startswith("completion."))
    with pytest.raises(ConfigError, match="prior"):
        model.set_prior(torch.zeros(3, 16, 25))


def test_visible_pooling_ignores_the_empty_frames() -> None:
    """pool="visible": the pooled features of a clip with a lost prefix are the mean over the output
    steps that hold visible frames, i.e. independent of how the empty steps' features look."""
    torch.manual_seed(0)
    model = mmfusion.create_model("finetec_tiny", num_classes=5, completion=False, decomposition=False,
                                  acceleration=False, pool="visible").eval()
    x = _batch(1)
    x[:, :, :16] = 0  # first half lost: output steps 0..3 of 8 are empty
    with torch.no_grad():
        out = model({"skeleton": x})
        maps = model.encoder.forward_maps(x)  # (1, 2, D, 8, 25)
        torch.testing.assert_close(out["features"], maps[:, :, :, 4:].mean(dim=(3, 4)).mean(dim=1))
        torch.testing.assert_close(model.forward_head(model.forward_features({"skeleton": x})), out["logits"])
        model.pool = "all"
        assert not torch.allclose(model({"skeleton": x})["features"], out["features"])
    with pytest.raises(ConfigError, match="pool"):
        mmfusion.create_model("finetec_tiny", pool="max")


def test_training_perturbations_keep_the_body_in_place() -> None:
    """The static regions are mirrored about their own x centre (lost frames stay zero); the
    dynamic ones are perturbed per clip with probability ``perturb_p`` (0: never, 1: always)."""
    torch.manual_seed(0)
    base = torch.randn(64, 3, 32, 25) * 0.1 + torch.tensor([0.7, 0.0, 3.0])[None, :, None, None]
    base[:, :, :8] = 0  # a lost prefix
    for p, changed in ((0.0, 0), (1.0, 64)):
        model = mmfusion.create_model("finetec_tiny", num_classes=5, perturb_p=p)
        clean_dyna, clean_stat = model.eval().decompose(base)
        dyna, stat = model.train().decompose(base)
        assert int((dyna - clean_dyna).flatten(1).abs().amax(dim=1).gt(1e-6).sum()) == changed
        present = clean_stat[:, :1].ne(0)
        centres = [(s[:, :1] * present).sum(dim=(1, 2, 3)) / present.sum(dim=(1, 2, 3)) for s in (stat, clean_stat)]
        torch.testing.assert_close(*centres)  # mirrored or not: the same x centre
        mirrored = (stat[:, 0] - clean_stat[:, 0]).flatten(1).abs().amax(dim=1).gt(1e-6)
        assert 10 < int(mirrored.sum()) < 54  # p 0.5 per clip
        assert not stat[:, :, :8].any() and torch.equal(stat[:, 1:], clean_stat[:, 1:])
