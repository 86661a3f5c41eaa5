"""The encoder contract shared by the supervised skeleton zoo: (N, C, T, V, M) -> (N, out_dim),
``forward_features`` maps + ``pool``, registered classifiers around them, clear errors on bad input."""

from __future__ import annotations

import pytest
import torch

import mmfusion
from mmfusion.encoders.psumnet import PSUMNetStream
from mmfusion.errors import ConfigError

# name -> (input channels, joints, persons, expected forward_features shape for N=2, T=16)
ZOO = {
    "ctrgcn_tiny": (3, 25, 2, (2, 2, 48, 8, 25)),
    "stgcnpp_tiny": (3, 25, 2, (2, 2, 48, 8, 25)),
    "aimclr_stgcn_tiny": (3, 25, 2, (2, 2, 32, 8, 25)),
    "aclnet_tiny": (3, 25, 2, (2, 2, 48, 8, 25)),
    "psumnet_tiny": (3, 25, 2, (2, 2, 48, 8, 13)),  # hand stream: 13 of the 25 joints
    "dstanet_tiny": (3, 25, 2, (2, 2, 32, 8, 25)),
    "bigru_tiny": (3, 25, 2, (2, 16, 64)),
    "cascadeformer_tiny": (3, 25, 2, (2, 16, 32)),
}


def _encoder(name: str) -> torch.nn.Module:
    return mmfusion.create_model(name).encoder


def test_every_zoo_entry_is_a_registered_skeleton_classifier() -> None:
    names = set(mmfusion.list_models(tag="skeleton")) & set(mmfusion.list_models(tag="model"))
    for base in ("ctrgcn", "stgcnpp", "aimclr_stgcn", "aclnet", "psumnet_body", "psumnet_hand", "psumnet_leg",
                 "dstanet", "dstanet_ntu", "bigru", "cascadeformer", "cascadeformer_cv", "cascadeformer_t1"):
        assert base in names, base
        assert mmfusion.get_model_cfg(base).kind == "classifier", base
    assert set(ZOO) <= set(mmfusion.list_models(tag="test"))


@pytest.mark.parametrize("name", sorted(ZOO))
def test_forward_shapes_and_gradients(name: str, skeleton) -> None:
    c, v, m, feat_shape = ZOO[name]
    enc = _encoder(name).eval()  # eval: the two forwards below see the same dropout / BN
    x = skeleton(c=c, v=v, m=m)
    y = enc(x)
    assert y.shape == (2, enc.out_dim) and torch.isfinite(y).all()
    maps = enc.forward_features(x)
    maps = maps[0] if isinstance(maps, tuple) else maps
    assert tuple(maps.shape) == feat_shape
    torch.testing.assert_close(enc.pool(maps), y)  # forward = pool(forward_features)
    y.sum().backward()
    # every parameter takes part (CascadeFormer's reconstruction head only serves pretraining)
    missing = [n for n, p in enc.named_parameters() if p.grad is None and "reconstruction_head" not in n]
    assert not missing


@pytest.mark.parametrize("name", sorted(ZOO))
def test_registry_entry_with_classes_reads_the_skeleton_key(name: str, skeleton) -> None:
    c, v, m, _ = ZOO[name]
    model = mmfusion.create_model(name, num_classes=7)
    out = model({"skeleton": skeleton(c=c, v=v, m=m)})
    assert out["logits"].shape == (2, 7) and out["features"].shape == (2, model.encoder.out_dim)


@pytest.mark.parametrize("name", sorted(ZOO))
def test_wrong_joint_count_is_a_clear_error(name: str, skeleton) -> None:
    c, v, m, _ = ZOO[name]
    enc = _encoder(name)
    with pytest.raises(ConfigError):
        enc(skeleton(c=c, v=v + 1, m=m))


@pytest.mark.parametrize("name", sorted(ZOO))
def test_persons_are_pooled_symmetrically(name: str, skeleton) -> None:
    # swapping the two persons must not change the pooled features of the GCN / attention encoders
    # (BiGRU flattens persons into its input, CascadeFormer keeps one person: both are order-aware)
    if name in ("bigru_tiny", "cascadeformer_tiny", "ctrgcn_tiny", "psumnet_tiny"):
        pytest.skip("person order matters by design (flattened input, 'mvc' data BN or person selection)")
    c, v, m, _ = ZOO[name]
    enc = _encoder(name).eval()
    x = skeleton(c=c, v=v, m=m)
    torch.testing.assert_close(enc(x), enc(x.flip(-1)), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(ZOO))
def test_runs_under_autocast(name: str, skeleton) -> None:
    # AMP-ready: graphs, positional maps and banks follow the activations' dtype
    c, v, m, _ = ZOO[name]
    enc = _encoder(name).eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = enc(skeleton(c=c, v=v, m=m))
    assert y.shape == (2, enc.out_dim) and torch.isfinite(y.float()).all()


def test_psumnet_reads_joints_or_the_precomputed_unified_modality(skeleton) -> None:
    torch.manual_seed(0)
    from_joints = PSUMNetStream("hand", blocks=((24, 1), (48, 2))).eval()
    precomputed = PSUMNetStream("hand", from_joints=False, blocks=((24, 1), (48, 2))).eval()
    precomputed.load_state_dict(from_joints.state_dict())  # same keys: the conversion has no parameters
    x = skeleton()
    from mmfusion.encoders.psumnet import psumnet_unified_input

    u = psumnet_unified_input(x, "hand")
    assert u.shape == (2, 12, 16, 13, 2)
    torch.testing.assert_close(from_joints(x), precomputed(u))
    with pytest.raises(ConfigError):
        precomputed(x)  # 3 channels where 12 are expected


def test_aclnet_classifier_returns_the_graph_feature(skeleton) -> None:
    model = mmfusion.create_model("aclnet_tiny", num_classes=5)
    out = model({"skeleton": skeleton()})
    assert out["graph"].shape == (2, 625) and out["logits"].shape == (2, 5)


def test_official_head_initialisations() -> None:
    torch.manual_seed(0)
    ctr = mmfusion.create_model("ctrgcn_tiny", num_classes=60).head
    assert float(ctr.weight.detach().std()) == pytest.approx((2 / 60) ** 0.5, rel=0.1) and not ctr.bias.any()
    pyskl = mmfusion.create_model("stgcnpp_tiny", num_classes=60).head
    assert float(pyskl.weight.detach().std()) == pytest.approx(0.01, rel=0.1) and not pyskl.bias.any()
    dsta = mmfusion.create_model("dstanet_tiny", num_classes=60).head
    assert float(dsta.weight.detach().std()) == pytest.approx((2 / (32 + 60)) ** 0.5, rel=0.1) and not dsta.bias.any()


def test_cascadeformer_classifier_has_the_mlp_head_and_a_frozen_reconstruction_head() -> None:
    model = mmfusion.create_model("cascadeformer_tiny", num_classes=5)
    assert not any(p.requires_grad for p in model.encoder.t1.reconstruction_head.parameters())
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m not in set(model.encoder.modules())]
    assert [(m.in_features, m.out_features) for m in linears] == [(32, 32), (32, 5)]
    assert isinstance(model.norm, torch.nn.LayerNorm) and model.num_features == 32
