"""SkeletonMAE (ours): adjacency, slot masks, and the joint + edge losses on masked slots only."""

from __future__ import annotations

import torch

from mmfusion.data.layouts import get_layout
from mmfusion.ssl import create_objective
from mmfusion.ssl.objectives.skeletonmae import normalized_adjacency, slot_mask
from mmfusion.ssl.seeding import sample_uniform


def test_adjacency_by_hand_and_slot_mask() -> None:
    a = normalized_adjacency(get_layout("ntu25"))
    assert a.shape == (25, 25) and torch.allclose(a, a.T)
    # joint 0 (base of spine) has neighbours 1, 12, 16 (+ itself): degree 4; joint 1 has 0, 20 (+ itself): 3
    assert torch.isclose(a[0, 0], torch.tensor(1 / 4)) and torch.isclose(a[0, 1], torch.tensor(1 / (4 * 3) ** 0.5))
    u = torch.tensor([[0.9, 0.1, 0.5, 0.3, 0.7]])
    assert slot_mask(u, 0.4).tolist() == [[False, True, False, True, False]]


def test_loss_only_sees_masked_slots() -> None:
    obj = create_objective("skeletonmae", encoder="stgcn_tiny")
    assert obj._stride == 4
    x = torch.randn(2, 3, 16, 25, 2)
    batch = {"skeleton": x, "index": torch.tensor([3, 5])}
    out = obj(batch)
    out["loss"].backward()
    assert set(out) == {"loss", "loss_joint", "loss_edge"} and torch.isfinite(out["loss"])
    assert obj.mask_token.grad is not None and obj.mask_token.grad.abs().sum() > 0
    torch.testing.assert_close(obj(batch)["loss"], out["loss"].detach())  # same (seed, step, index): same masks
    # a masked slot's coordinates never reach the encoder: changing them changes the targets only
    mask = slot_mask(sample_uniform(0, 0, batch["index"], (4 * 25,), "cpu"), 0.4).view(2, 4, 25)
    frames = mask.repeat_interleave(4, dim=1)[:, None, :, :, None].expand_as(x)  # (N, C, T, V, M)
    seen = []
    feats = obj.backbone.forward_features
    obj.backbone.forward_features = lambda z: seen.append(z.clone()) or feats(z)  # type: ignore[method-assign]
    obj(batch)
    obj({"skeleton": torch.where(frames, x + 100.0, x), "index": batch["index"]})
    torch.testing.assert_close(seen[0], seen[1])
    assert obj.features(x).shape == (2, 128)
