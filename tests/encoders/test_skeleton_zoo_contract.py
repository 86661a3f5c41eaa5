"""The encoder contract shared by the supervised skeleton zoo: (N, C, T, V, M) -> (N, out_dim),
``forward_features`` maps, registry entries with heads, clear errors on bad input."""

from __future__ import annotations

import pytest
import torch

import mmfusion
from mmfusion.errors import ConfigError

# name -> (input channels, joints, persons, expected forward_features shape for N=2, T=16)
ZOO = {
    "ctrgcn_tiny": (3, 25, 2, (4, 48, 8, 25)),
    "stgcnpp_tiny": (3, 25, 2, (4, 48, 8, 25)),
    "aimclr_stgcn_tiny": (3, 25, 2, (4, 32, 8, 25)),
    "aclnet_tiny": (3, 25, 2, (4, 48, 8, 25)),
    "psumnet_tiny": (12, 13, 2, (4, 48, 8, 13)),
    "dstanet_tiny": (3, 25, 2, (4, 32, 8, 25)),
    "bigru_tiny": (3, 25, 2, (2, 16, 64)),
    "cascadeformer_tiny": (3, 25, 2, (2, 16, 32)),
}


def test_every_zoo_entry_is_registered_as_a_skeleton_encoder() -> None:
    names = set(mmfusion.list_models(tag="skeleton")) & set(mmfusion.list_models(tag="encoder"))
    for base in ("ctrgcn", "stgcnpp", "aimclr_stgcn", "aclnet", "psumnet_body", "psumnet_hand", "psumnet_leg",
                 "dstanet", "dstanet_ntu", "bigru", "cascadeformer", "cascadeformer_cv", "cascadeformer_t1"):
        assert base in names, base
    assert set(ZOO) <= set(mmfusion.list_models(tag="test"))


@pytest.mark.parametrize("name", sorted(ZOO))
def test_forward_shapes_and_gradients(name: str, skeleton) -> None:
    c, v, m, feat_shape = ZOO[name]
    enc = mmfusion.create_model(name)
    x = skeleton(c=c, v=v, m=m)
    y = enc(x)
    assert y.shape == (2, enc.out_dim) and torch.isfinite(y).all()
    maps = enc.forward_features(x)
    maps = maps[0] if isinstance(maps, tuple) else maps
    assert tuple(maps.shape) == feat_shape
    y.sum().backward()
    # every parameter takes part (CascadeFormer's reconstruction head only serves pretraining)
    missing = [n for n, p in enc.named_parameters() if p.grad is None and "reconstruction_head" not in n]
    assert not missing


@pytest.mark.parametrize("name", sorted(ZOO))
def test_registry_entry_with_classes_reads_the_skeleton_key(name: str, skeleton) -> None:
    c, v, m, _ = ZOO[name]
    model = mmfusion.create_model(name, num_classes=7)
    out = model({"skeleton": skeleton(c=c, v=v, m=m)})
    assert out["logits"].shape == (2, 7)


@pytest.mark.parametrize("name", sorted(ZOO))
def test_wrong_joint_count_is_a_clear_error(name: str, skeleton) -> None:
    c, v, m, _ = ZOO[name]
    enc = mmfusion.create_model(name)
    with pytest.raises(ConfigError):
        enc(skeleton(c=c, v=v + 1, m=m))


@pytest.mark.parametrize("name", sorted(ZOO))
def test_persons_are_pooled_symmetrically(name: str, skeleton) -> None:
    # swapping the two persons must not change the pooled features of the GCN / attention encoders
    # (BiGRU flattens persons into its input, CascadeFormer keeps one person: both are order-aware)
    if name in ("bigru_tiny", "cascadeformer_tiny", "ctrgcn_tiny", "psumnet_tiny"):
        pytest.skip("person order matters by design (flattened input, 'mvc' data BN or person selection)")
    c, v, m, _ = ZOO[name]
    enc = mmfusion.create_model(name).eval()
    x = skeleton(c=c, v=v, m=m)
    torch.testing.assert_close(enc(x), enc(x.flip(-1)), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(ZOO))
def test_runs_under_autocast(name: str, skeleton) -> None:
    # AMP-ready: graphs, positional maps and banks follow the activations' dtype
    c, v, m, _ = ZOO[name]
    enc = mmfusion.create_model(name).eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = enc(skeleton(c=c, v=v, m=m))
    assert y.shape == (2, enc.out_dim) and torch.isfinite(y.float()).all()
