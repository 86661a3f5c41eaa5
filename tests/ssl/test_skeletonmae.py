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


def _zero_heads(obj) -> None:  # noqa: ANN001
    for head in obj.heads.values():
        for lin in head.values():
            torch.nn.init.zeros_(lin.weight)
            torch.nn.init.zeros_(lin.bias)


def test_motion_target_by_hand() -> None:
    """x[t] = t * a (a per channel): motion x[t+1] - x[t] = a, 0 at the last frame; zero heads -> loss = E[target^2]."""
    obj = create_objective("skeletonmae", encoder="stgcn_tiny", target="motion", edge_weight=0.0)
    _zero_heads(obj)
    a = torch.tensor([1.0, 2.0, 3.0])
    t = torch.arange(8.0)
    x = (t[None, :, None, None] * a[:, None, None, None]).expand(3, 8, 25, 1)[None].contiguous()  # (1, 3, 8, 25, 1)
    index = torch.tensor([7])
    mask = slot_mask(sample_uniform(0, 0, index, (2 * 25,), "cpu"), 0.4).view(2, 25)
    # per slot: the mean over its 4 frames x 3 channels of motion^2; the last slot holds the zero last frame
    full, last = (a**2).mean(), (a**2).mean() * 3 / 4
    per_slot = torch.stack([torch.full((25,), float(full)), torch.full((25,), float(last))])
    expected = (per_slot * mask).sum() / mask.sum()
    out = obj({"skeleton": x, "index": index})
    torch.testing.assert_close(out["loss_joint"], expected)
    # with per-slot normalisation every non-constant slot has mean 0, unbiased variance 1: E[y^2] = 11 / 12
    obj_n = create_objective("skeletonmae", encoder="stgcn_tiny", target="coords", norm_target=True, edge_weight=0.0)
    _zero_heads(obj_n)
    xr = torch.randn(1, 3, 8, 25, 1)
    torch.testing.assert_close(obj_n({"skeleton": xr, "index": index})["loss_joint"], torch.tensor(11 / 12),
                               atol=1e-4, rtol=0)


def test_unknown_target_is_named() -> None:
    import pytest

    from mmfusion.errors import ConfigError

    with pytest.raises(ConfigError, match="target must be one of"):
        create_objective("skeletonmae", encoder="stgcn_tiny", target="velocity")
    with pytest.raises(ConfigError, match="decoder_depth"):
        create_objective("skeletonmae", encoder="stgcn_tiny", decoder_depth=0)


def test_deeper_decoder_adds_residual_graph_layers() -> None:
    shallow = create_objective("skeletonmae", encoder="stgcn_tiny", decoder_dim=16)
    deep = create_objective("skeletonmae", encoder="stgcn_tiny", decoder_dim=16, decoder_depth=3)
    extra = sum(p.numel() for p in deep.parameters()) - sum(p.numel() for p in shallow.parameters())
    assert extra == 2 * (16 * 16 + 16)
    batch = {"skeleton": torch.randn(2, 3, 16, 25, 2), "index": torch.tensor([0, 1])}
    out = deep(batch)
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and deep.decoder_blocks[1].weight.grad.abs().sum() > 0
