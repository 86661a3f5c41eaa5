"""MAMP's motion target, motion-aware masking and loss on cases computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from mmfusion.errors import MissingModalityError
from mmfusion.ssl import create_objective
from mmfusion.ssl.augment import random_rotation
from mmfusion.ssl.objectives.mamp import motion_aware_mask, motion_target, token_motion


def _line(t: int = 8) -> torch.Tensor:
    """(1, 3, T, 1, 1): x = t^2 (accelerating), y = 2t, z = 0."""
    tt = torch.arange(t, dtype=torch.float32)
    return torch.stack([tt**2, 2 * tt, torch.zeros(t)]).view(1, 3, t, 1, 1)


def test_motion_target_by_hand() -> None:
    x = _line()
    raw = motion_target(x, t_patch=4, normalize=False)  # (1, 2 tokens, 12)
    # motion x[t+1]-x[t]: x: 1,3,5,7 | 9,11,13,0 (last frame 0); y: 2,2,2,2 | 2,2,2,0; z: 0
    assert raw[0, 0].tolist() == [1, 2, 0, 3, 2, 0, 5, 2, 0, 7, 2, 0]
    assert raw[0, 1].tolist() == [9, 2, 0, 11, 2, 0, 13, 2, 0, 0, 0, 0]
    y = motion_target(x, t_patch=4)
    tok = torch.tensor([1, 2, 0, 3, 2, 0, 5, 2, 0, 7, 2, 0], dtype=torch.float32)
    mean, var = tok.sum() / 12, ((tok - tok.sum() / 12) ** 2).sum() / 11  # unbiased, as torch.var
    torch.testing.assert_close(y[0, 0], (tok - mean) / math.sqrt(var + 1e-6))
    # persons are separate sequences: (N, C, T, V, M=2) -> N*M rows, person-major within a sample
    two = torch.cat([x, 2 * x], dim=-1)
    torch.testing.assert_close(motion_target(two, 4, normalize=False)[1], 2 * raw[0])


def test_token_motion_and_mask_by_hand() -> None:
    # 3 temporal patches x 2 joints, P = 2 values; joint 0 static, joint 1 moves by 1 then by 3
    p = torch.zeros(1, 3, 2, 2)
    p[0, :, 1] = torch.tensor([[0.0, 0.0], [1.0, 1.0], [4.0, 4.0]])
    m = token_motion(p)  # tokens ordered t' * V + v; t'=0 copies t'=1
    assert m.tolist() == [[0.0, 1.0, 0.0, 1.0, 0.0, 3.0]]
    # equal noise: the ranking is the motion's; softmax(m / (max * tau)) with tau = 0.5 -> logits 0, 2/3, 2
    u = torch.full((1, 6), math.exp(-1.0))  # -log(-log u) = 0: no Gumbel perturbation
    keep, mask, restore = motion_aware_mask(p, mask_ratio=0.5, tau=0.5, uniform=u)
    assert mask.tolist() == [[False, True, False, True, False, True]]  # the three moving tokens are hidden
    assert sorted(keep[0].tolist()) == [0, 2, 4]
    assert torch.equal(torch.argsort(restore, dim=1)[0, :3].sort().values, keep[0].sort().values)
    # hidden count is int(L * (1 - ratio)) kept whatever the noise; tau <= 0 is plain random masking
    g = torch.Generator().manual_seed(0)
    for tau in (0.8, 0.0):
        k, msk, _ = motion_aware_mask(p, 0.5, tau, torch.rand(1, 6, generator=g))
        assert k.shape == (1, 3) and int(msk.sum()) == 3 and not msk[0, k[0]].any()


def test_motion_aware_mask_prefers_moving_tokens() -> None:
    p = torch.zeros(1, 4, 10, 3)
    p[0, :, 5:] = torch.arange(4, dtype=torch.float32).view(4, 1, 1) * 10  # joints 5..9 move, 0..4 static
    g = torch.Generator().manual_seed(0)
    hidden_moving = 0.0
    for _ in range(200):
        _, mask, _ = motion_aware_mask(p, 0.5, 0.8, torch.rand(1, 40, generator=g))
        hidden_moving += float(mask.view(4, 10)[:, 5:].float().mean())
    assert hidden_moving / 200 > 0.6  # random masking would give 0.5


def test_rotation_is_orthonormal_and_identity_at_zero() -> None:
    r = random_rotation(torch.tensor([[0.3, -0.2, 0.1], [0.0, 0.0, 0.0]]))
    torch.testing.assert_close(r @ r.transpose(1, 2), torch.eye(3).expand(2, 3, 3))
    torch.testing.assert_close(r[1], torch.eye(3))


def test_objective_loss_is_on_masked_tokens_and_seeded(tiny_mamp_kwargs) -> None:
    obj = create_objective("mamp", **tiny_mamp_kwargs)
    x = torch.randn(3, 3, 8, 25, 1)
    batch = {"skeleton": x, "index": torch.tensor([4, 7, 9]), "label": torch.zeros(3, dtype=torch.long)}
    a, b = obj(batch), obj(batch)
    torch.testing.assert_close(a["loss"], b["loss"])  # same (seed, step, index): same masks and rotations
    # a sample's masks do not depend on its batch neighbours (any process split gives the same)
    single = obj({"skeleton": x[1:2], "index": torch.tensor([7])})
    obj.after_step(1)
    assert not torch.equal(obj(batch)["loss"], a["loss"])  # the next step draws new masks
    assert torch.isfinite(single["loss"]) and a["loss"].requires_grad
    with pytest.raises(MissingModalityError, match="index"):
        obj({"skeleton": x})
    assert obj.features(x).shape == (3, 16)
