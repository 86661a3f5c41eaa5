"""CFEM: order independence, cross-modal only, positions, gradients to queries, errors."""

from __future__ import annotations

import math

import pytest
import torch

from mmfusion.errors import ConfigError
from mmfusion.fusion.cfem import CFEM, sinusoidal_positions

MODS = ("rgb", "depth", "ir")


def feats(n: int = 2, d: int = 32, ts: tuple[int, ...] = (4, 5, 3)) -> dict[str, torch.Tensor]:
    return {m: torch.randn(n, t, d) for m, t in zip(MODS, ts)}


def make(**kw: object) -> CFEM:
    cfg: dict[str, object] = {"num_queries": 3, "num_heads": 4, "num_layers": 2}
    cfg.update(kw)
    return CFEM(32, MODS, **cfg).eval()  # type: ignore[arg-type]


def test_shapes_and_content_is_query_mean() -> None:
    cfem = make()
    out = cfem(feats())
    assert list(out) == list(MODS)
    for m in MODS:
        assert out[m].features.shape == (2, 3, 32) and out[m].content.shape == (2, 32)
        assert torch.allclose(out[m].content, out[m].features.mean(dim=1))
    # queries differ per modality, so the contents differ even from the same tokens
    assert not torch.allclose(out["rgb"].content, out["depth"].content, atol=1e-4)


def test_output_independent_of_modality_order() -> None:
    cfem = make()
    f = feats()
    ref = cfem(f)
    for order in (("ir", "rgb", "depth"), ("depth", "ir", "rgb")):
        got = cfem({m: f[m] for m in order})
        assert list(got) == list(order)
        for m in MODS:
            assert torch.allclose(got[m].features, ref[m].features, atol=1e-6), m
    # the same with only two modalities (each sees just the other)
    a = cfem({"rgb": f["rgb"], "ir": f["ir"]})
    b = cfem({"ir": f["ir"], "rgb": f["rgb"]})
    assert torch.allclose(a["rgb"].content, b["rgb"].content, atol=1e-6)


def test_a_modality_reads_only_the_others() -> None:
    cfem = make()
    f = feats()
    ref = cfem(f)
    changed = dict(f, rgb=f["rgb"] + torch.randn_like(f["rgb"]))
    got = cfem(changed)
    assert torch.allclose(got["rgb"].features, ref["rgb"].features, atol=1e-6)
    assert (got["depth"].features - ref["depth"].features).abs().max() > 1e-3
    assert (got["ir"].features - ref["ir"].features).abs().max() > 1e-3
    # with two modalities, rgb's output is a function of depth alone
    two = cfem({"rgb": torch.randn(2, 4, 32), "depth": f["depth"]})
    two_b = cfem({"rgb": torch.randn(2, 7, 32), "depth": f["depth"]})
    assert torch.allclose(two["rgb"].content, two_b["rgb"].content, atol=1e-6)


def test_time_order_and_modality_identity_matter() -> None:
    cfem = make()
    f = feats()
    ref = cfem(f)
    flipped = cfem(dict(f, depth=f["depth"].flip(1)))
    assert (flipped["rgb"].content - ref["rgb"].content).abs().max() > 1e-4  # temporal positions in effect
    swapped = cfem({"rgb": f["rgb"], "depth": f["ir"][:, :4], "ir": f["depth"][:, :3]})
    base = cfem({"rgb": f["rgb"], "depth": f["depth"][:, :4], "ir": f["ir"][:, :3]})
    # the same token values under other modality names give another answer (modality embeddings)
    assert (swapped["rgb"].content - base["rgb"].content).abs().max() > 1e-5


def test_samples_do_not_mix() -> None:
    cfem = make()
    f = feats(n=3)
    ref = cfem(f)
    g = {m: v.clone() for m, v in f.items()}
    for v in g.values():
        v[1:] += 1.0
    got = cfem(g)
    for m in MODS:
        assert torch.allclose(got[m].features[0], ref[m].features[0], atol=1e-6)


def test_gradients_reach_queries_and_embeddings() -> None:
    cfem = make().train()
    f = {m: v.requires_grad_(True) for m, v in feats().items()}
    out = cfem(f)
    sum(o.content.square().sum() for o in out.values()).backward()
    for m in MODS:
        assert cfem.queries[m].grad is not None and cfem.queries[m].grad.abs().sum() > 0, m
        assert cfem.modality_embed[m].grad.abs().sum() > 0, m
        assert f[m].grad.abs().sum() > 0
    for p in cfem.parameters():
        assert p.grad is not None


def test_bf16_autocast() -> None:
    cfem = make()
    f = feats()
    ref = cfem(f)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = cfem(f)
    for m in MODS:
        assert torch.isfinite(low[m].features).all()
        assert (low[m].content.float() - ref[m].content).abs().max() < 0.1


def test_sinusoidal_positions() -> None:
    pe = sinusoidal_positions(5, 6)
    assert pe.shape == (5, 6)
    assert torch.equal(pe[0], torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0, 1.0]))
    assert math.isclose(pe[3, 0].item(), math.sin(3.0), abs_tol=1e-6)
    assert sinusoidal_positions(4, 5).shape == (4, 5)  # odd widths are cut, not padded


def test_errors() -> None:
    cfem = make()
    f = feats()
    with pytest.raises(ConfigError, match="two or more"):
        cfem({"rgb": f["rgb"]})
    with pytest.raises(ConfigError, match="unknown modalities"):
        cfem({"rgb": f["rgb"], "skeleton": f["depth"]})
    with pytest.raises(ConfigError, match="depth"):
        cfem({"rgb": f["rgb"], "depth": torch.randn(2, 4, 16)})
    with pytest.raises(ConfigError, match="depth"):
        cfem({"rgb": f["rgb"], "depth": torch.randn(3, 4, 32)})
    with pytest.raises(ConfigError):
        CFEM(32, ("rgb",))
    with pytest.raises(ConfigError):
        CFEM(30, MODS, num_heads=4)
