"""HaLP: the closed-form slerp bound on a hand case, spherical k-means, the hallucinated positives and
their rank filter, the prototype schedule, and learning on a fixed batch."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mmfusion.errors import ConfigError
from mmfusion.ssl import create_objective
from mmfusion.ssl.objectives.halp import PRESETS, hallucinate, slerp_bound, spherical_kmeans


def _unit(deg: float) -> torch.Tensor:
    r = math.radians(deg)
    return torch.tensor([math.cos(r), math.sin(r)])


def test_slerp_bound_by_hand_on_the_circle() -> None:
    # k at 0 deg, nearest prototype p0 at -20 deg, target p_sel at 60 deg: the slerp moves t * 60 deg
    # and is equally close to both prototypes at their bisector, 20 deg -> t_max = 1/3
    t_max, omega = slerp_bound(_unit(0), _unit(-20), _unit(60))
    assert math.isclose(float(omega), math.radians(60), rel_tol=1e-5)
    assert math.isclose(float(t_max), 1 / 3, rel_tol=1e-5)
    # and in general: at t_max the point is equidistant (random 8-d case)
    g = torch.Generator().manual_seed(0)
    k, p0, ps = (F.normalize(torch.randn(8, generator=g), dim=0) for _ in range(3))
    p0 = F.normalize(k + 0.3 * p0, dim=0)  # p0 nearer to k than p_sel is
    t, w = slerp_bound(k, p0, ps)
    x = (torch.sin((1 - t) * w) * k + torch.sin(t * w) * ps) / torch.sin(w)
    assert math.isclose(float(x @ p0), float(x @ ps), abs_tol=1e-5)


def test_spherical_kmeans_finds_separated_clusters() -> None:
    g = torch.Generator().manual_seed(1)
    centres = F.normalize(torch.eye(3), dim=1)
    pts = F.normalize(centres.repeat_interleave(30, 0) + 0.05 * torch.randn(90, 3, generator=g), dim=1)
    c = spherical_kmeans(pts, 3, torch.Generator().manual_seed(2))
    torch.testing.assert_close(c.norm(dim=1), torch.ones(3))
    assert (c @ centres.t()).max(dim=0).values.min() > 0.99  # one centroid per true centre


def test_hallucinated_positives_stay_in_the_anchor_cell() -> None:
    protos = torch.stack([_unit(-20), _unit(60), _unit(-160)])
    k = _unit(0)[None]
    gen, kept = hallucinate(k, protos, num_positives=50, g=torch.Generator().manual_seed(0), lam=0.8)
    assert gen.shape == (1, 50, 2) and kept.shape == (1, 50)
    torch.testing.assert_close(gen.norm(dim=-1), torch.ones(1, 50))
    angles = torch.rad2deg(torch.atan2(gen[0, :, 1], gen[0, :, 0]))
    # towards 60 deg: t in [0.2, 1] * 1/3 -> [4, 20] deg; towards -160 deg: bisector -90 deg -> [-90, -18] deg
    toward_60 = angles > 0
    assert toward_60.any() and (~toward_60).any()  # both non-nearest prototypes are used
    assert (angles[toward_60] >= 4 - 1e-3).all() and (angles[toward_60] <= 20 + 1e-3).all()
    away = angles[~toward_60]
    assert (away >= -90 - 1e-3).all() and (away <= -18 + 1e-3).all()
    assert kept.all()  # the bound keeps p0 the nearest prototype
    near_only, _ = hallucinate(k, protos, 20, torch.Generator(), num_closest=1)  # only the 2nd-nearest (60 deg)
    assert (near_only[0, :, 1] > 0).all()


def _halp(**kw):
    cfg = {"encoder": "aimclr_stgcn_tiny", "queue_size": 32, "proj_dim": 8, "momentum": 0.9, "window": 16,
           "num_prototypes": 4, "prototype_pool": 16, "warmup_entries": 16, "update_every": 2,
           "num_positives": 10, **kw}
    return create_objective("halp", **cfg)


def test_prototypes_after_warmup_then_every_update_step(tiny_batch) -> None:
    obj = _halp()
    assert PRESETS["paper_ntu60"]["num_prototypes"] == 20 and PRESETS["paper_ntu60"]["mu"] == 2.0
    out = obj(tiny_batch)
    assert float(out["loss_halp"]) == 0 and not bool(obj.prototypes_ready)
    obj.after_step(1)  # 8 entries < 16
    assert not bool(obj.prototypes_ready)
    obj(tiny_batch)
    obj.after_step(2)  # 16 entries: first prototypes
    assert bool(obj.prototypes_ready)
    torch.testing.assert_close(obj.prototypes.norm(dim=1), torch.ones(4))
    out = obj(tiny_batch)
    assert float(out["kept"]) > 0 and float(out["loss_halp"]) != 0
    torch.testing.assert_close(out["loss"].detach(), out["loss_nce"] + 2.0 * out["loss_halp"])


def test_loss_goes_down_on_a_fixed_batch(tiny_batch, train_steps) -> None:
    torch.manual_seed(0)
    obj = _halp(mu=0.5)
    other = torch.randn_like(tiny_batch["skeleton"]).cumsum(dim=2) * 0.1
    with torch.no_grad():
        keys = obj.embed_k(obj.key_aug(other, torch.Generator()))
        obj.queue.keys.copy_(torch.cat([keys] * 4))
        obj.queue.count.fill_(32)
    obj.update_prototypes(0)
    obj.enqueue = lambda k: None  # fixed negatives (see tests/ssl/test_moco.py)
    losses = train_steps(obj, tiny_batch, steps=10, lr=3e-3)
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.3, losses


def test_start_step_keeps_plain_moco_until_then(tiny_batch) -> None:
    """The official run resumes a MoCo checkpoint: before start_step the loss is MoCo's alone."""
    obj = _halp(start_step=4)
    assert PRESETS["paper_ntu60"]["start_step"] == 200 * 627  # 200 of 451 epochs at ceil(40,091 / 64) steps
    for step in (1, 2, 3):
        out = obj(tiny_batch)
        assert float(out["loss_halp"]) == 0 and float(out["kept"]) == 0
        torch.testing.assert_close(out["loss"].detach(), out["loss_nce"])
        obj.after_step(step)
    assert bool(obj.prototypes_ready)  # the prototypes are kept up to date meanwhile
    obj.after_step(4)
    out = obj(tiny_batch)
    assert float(out["kept"]) > 0 and float(out["loss_halp"]) != 0
    with pytest.raises(ConfigError, match="start_step"):
        _halp(start_step=-1)
