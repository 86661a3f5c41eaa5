"""Skeleton encoders: ST-GCN, Hyper-GCN, MAMP transformer (shapes, params, semantics, official defaults).

The registered entries (``stgcn``, ``hypergcn_*``, ``mamp_transformer*``) are classifiers
(:mod:`mmfusion.models.classifiers`); the encoders are their ``.encoder``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import mmfusion
from mmfusion.data.layouts import NTU25
from mmfusion.encoders.hypergcn import HyperGCN, hyper_joint_diversity_loss
from mmfusion.encoders.skeleton_transformer import SkeletonTransformer
from mmfusion.encoders.stgcn import STGCN
from mmfusion.errors import ConfigError, MissingModalityError
from mmfusion.models.classifiers import (
    hypergcn_base,
    hypergcn_large,
    hypergcn_tiny,
    mamp_transformer,
    mamp_transformer_tiny,
    stgcn,
    stgcn_tiny,
)
from mmfusion.models.heads import ModalityClassifier

TINY = {"stgcn_tiny": stgcn_tiny, "hypergcn_tiny": hypergcn_tiny, "mamp_transformer_tiny": mamp_transformer_tiny}


def encoder(name: str, **kwargs: object) -> torch.nn.Module:
    """The bare encoder of a registered skeleton classifier."""
    return mmfusion.create_model(name, num_classes=0, **kwargs).encoder


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def skel(n: int = 2, t: int = 16, m: int = 2) -> torch.Tensor:
    return torch.randn(n, 3, t, 25, m)


# ---------------------------------------------------------------- parameter counts

def test_stgcn_parameter_count_matches_the_official_ntu60_model() -> None:
    # official yysijie/st-gcn NTU-60 model (data BN over V*C, the default): 3,098,832 (~3.1 M)
    assert n_params(stgcn()) == 3_098_832
    assert n_params(stgcn(num_classes=60, data_bn="vc")) == 3_098_832
    # the earlier data BN over M*V*C adds 150 BN parameters
    assert n_params(stgcn(num_classes=60, data_bn="mvc")) == 3_098_982
    assert n_params(stgcn(num_classes=0, data_bn="mvc")) == 3_083_562
    assert stgcn().encoder.out_dim == 256 and stgcn().num_features == 256


def test_hypergcn_parameter_counts() -> None:
    base = hypergcn_base(num_classes=60)
    trainable = n_params(base)
    assert trainable == 1_041_677
    # the official code keeps the fixed 8x28x28 graph of each of the 9 units as a frozen
    # nn.Parameter; counted that way the model is the paper's 1.10 M
    frozen_graph = sum(u.gcn.A.numel() for u in base.encoder.units)
    assert frozen_graph == 9 * 8 * 28 * 28
    assert abs(trainable + frozen_graph - 1.10e6) / 1.10e6 < 0.005
    large = hypergcn_large(num_classes=60)
    assert n_params(large) + frozen_graph == 2_361_741  # ~2.36 M (paper: 2.3 M)
    assert hypergcn_base().out_dim == 256 and large.out_dim == 512


def test_hypergcn_default_graph_is_the_official_ntu_edge_list() -> None:
    from mmfusion.encoders.graph import NTU25_HAND_STAR_INWARD, virtual_joint_adjacency

    official = virtual_joint_adjacency("ntu25", 3, 8, inward=NTU25_HAND_STAR_INWARD)
    layout = virtual_joint_adjacency("ntu25", 3, 8)
    assert not np.array_equal(official, layout)  # the hand tips / thumbs hang elsewhere
    enc = HyperGCN(stages=((32, 32), (64,)), embed_dim=32)
    plain = HyperGCN(stages=((32, 32), (64,)), embed_dim=32, graph="layout")
    np.testing.assert_array_equal(enc.units[0].gcn.A.numpy(), official)
    np.testing.assert_array_equal(plain.units[0].gcn.A.numpy(), layout)
    assert n_params(enc) == n_params(plain)  # the graph is a buffer: same parameter count
    with pytest.raises(ConfigError, match="graph"):
        HyperGCN(graph="paper")


def test_mamp_encoder_and_official_head_parameter_counts() -> None:
    model = mamp_transformer()
    enc = model.encoder
    assert n_params(enc) == 6_336_000  # MAMP encoder, "6.34 M"
    assert enc.num_tokens == 750 and enc.out_dim == 256
    # official fine-tune head: 25 x 256 -> 2048 -> BN -> ReLU -> 60 (measured total 19.57 M)
    assert n_params(model) - n_params(enc) == (25 * 256 * 2048 + 2048) + 2 * 2048 + (2048 * 60 + 60)
    assert abs(n_params(model) - 19.57e6) / 19.57e6 < 0.001
    # linear probe: BatchNorm1d without affine + Linear (6.35 M in all)
    probe = mamp_transformer(head="linprobe")
    assert n_params(probe) - n_params(probe.encoder) == 256 * 60 + 60
    bn = probe.pre_logits
    assert isinstance(bn, torch.nn.BatchNorm1d) and not bn.affine and bn.eps == 1e-6
    # mmfusion's earlier head stays available: LayerNorm + Linear on the mean-pooled tokens
    ln = mamp_transformer(head="layernorm")
    assert n_params(ln) - n_params(ln.encoder) == 2 * 256 + 256 * 60 + 60


def test_mamp_fine_tune_defaults_are_the_official_ones() -> None:
    model = mamp_transformer_tiny()
    assert model.label_smoothing == 0.1
    assert model.pool.dropout.p == 0.3
    assert model.encoder.blocks[-1].drop_path.p == pytest.approx(0.3)
    probe = mamp_transformer_tiny(head="linprobe")
    assert probe.label_smoothing == 0.0 and probe.encoder.blocks[-1].drop_path.p == 0.0
    old = mamp_transformer_tiny(head="layernorm")
    assert old.label_smoothing == 0.0 and old.encoder.blocks[-1].drop_path.p == 0.0
    with pytest.raises(ConfigError, match="finetune"):
        mamp_transformer_tiny(head="mlp")


# ---------------------------------------------------------------- shared contracts

@pytest.mark.parametrize("name", sorted(TINY))
def test_tiny_models_forward_backward_and_batch_contract(name: str) -> None:
    model = mmfusion.create_model(name, num_classes=7)
    x = skel()
    out = model({"skeleton": x, "label": torch.tensor([1, 2]), "rgb": torch.zeros(1)})
    assert out["logits"].shape == (2, 7)
    assert out["features"].shape == (2, model.out_dim)
    assert torch.isfinite(out["logits"]).all()
    loss = model.loss(out, torch.tensor([1, 2]))
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    # a bare tensor gives the logits tensor
    model.eval()
    with torch.no_grad():
        assert model(x).shape == (2, 7)
    with pytest.raises(MissingModalityError, match="skeleton"):
        model({"rgb": torch.zeros(1)})


@pytest.mark.parametrize("name", sorted(TINY))
def test_tiny_encoders_under_bf16_autocast(name: str) -> None:
    enc = encoder(name).eval()
    x = skel(1)
    with torch.no_grad():
        ref = enc(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = enc(x)
    assert y.shape == (1, enc.out_dim)
    assert torch.isfinite(y.float()).all()
    assert F.cosine_similarity(ref.flatten(), y.float().flatten(), dim=0) > 0.98


@pytest.mark.parametrize("name", sorted(TINY))
def test_encoders_reject_wrong_layouts(name: str) -> None:
    enc = mmfusion.create_model(name)  # the classifier validates through its encoder
    with pytest.raises(ConfigError, match="V=17"):
        enc(torch.randn(1, 3, 16, 17, 2))
    with pytest.raises(ConfigError, match="N, C, T, V, M"):
        enc(torch.randn(3, 16, 25, 2))


def test_registry_lists_the_skeleton_encoders() -> None:
    names = mmfusion.list_models(tag="skeleton")
    for n in ("stgcn", "stgcn_tiny", "hypergcn_base", "hypergcn_tiny", "mamp_transformer", "mamp_transformer_tiny"):
        assert n in names
    # one entry, one class: the classifier, whatever num_classes
    assert isinstance(mmfusion.create_model("stgcn_tiny"), ModalityClassifier)
    assert isinstance(mmfusion.create_model("stgcn_tiny", num_classes=0).encoder, STGCN)
    assert isinstance(mmfusion.create_model("stgcn_tiny", num_classes=3), ModalityClassifier)


# ---------------------------------------------------------------- ST-GCN

def test_stgcn_shapes_and_person_pooling() -> None:
    enc = encoder("stgcn_tiny", data_bn="vc").eval()
    x = skel(2, 20)
    maps = enc.forward_maps(x)
    assert maps.shape == (2, 2, 128, 5, 25)  # two stride-2 blocks: ceil(ceil(20/2)/2)
    with torch.no_grad():
        y = enc(x)
        # persons are averaged, so their order does not matter
        torch.testing.assert_close(enc(x.flip(-1)), y, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(y, enc.forward_maps(x).mean(dim=(3, 4)).mean(dim=1))
        torch.testing.assert_close(enc.forward_features(x), maps)


def test_stgcn_graph_conv_only_mixes_graph_neighbours() -> None:
    enc = STGCN(blocks=((8, 1),), temporal_kernel=1, data_bn="none", edge_importance=True).eval()
    x = skel(1, 4, 1)
    x2 = x.clone()
    x2[0, :, 2, 5, 0] += 1.0  # move ElbowLeft (5) in frame 2
    with torch.no_grad():
        diff = (enc.forward_maps(x2) - enc.forward_maps(x)).abs().sum(dim=(0, 1, 2))  # (T, V)
    changed = {(int(t), int(v)) for t, v in torch.nonzero(diff > 1e-6)}
    assert changed == {(2, 4), (2, 5), (2, 6)}  # itself, ShoulderLeft, WristLeft; same frame only


def test_stgcn_mvc_data_bn_needs_the_configured_person_count() -> None:
    with pytest.raises(ConfigError, match="M=1"):
        encoder("stgcn_tiny", data_bn="mvc")(skel(1, 8, 1))
    assert encoder("stgcn_tiny", data_bn="mvc", num_person=1)(skel(2, 8, 1)).shape == (2, 128)
    # the official V*C data BN folds persons into the batch: any M
    assert encoder("stgcn_tiny")(skel(2, 8, 1)).shape == (2, 128)


def test_stgcn_official_defaults() -> None:
    torch.manual_seed(0)
    enc = STGCN()
    assert enc.data_bn.num_features == 25 * 3
    # official NTU graph: centre joint 21 (1-based), truncated hops: 25 / 40 / 8 non-zeros
    assert [int((a != 0).sum()) for a in enc.A] == [25, 40, 8]
    paper = STGCN(graph="paper", init="torch", data_bn="mvc")
    assert [int((a != 0).sum()) for a in paper.A] == [25, 24, 24]
    assert paper.data_bn.num_features == 2 * 25 * 3
    # official weights_init: conv N(0, 0.02) with zero bias, BN weight N(1, 0.02)
    w = enc.blocks[5].tcn[2].weight.detach()
    assert abs(float(w.std()) - 0.02) < 0.002 and float(enc.blocks[5].tcn[2].bias.abs().max()) == 0.0
    bn = enc.blocks[5].tcn[3].weight.detach()
    assert abs(float(bn.mean()) - 1.0) < 0.01 and 0.01 < float(bn.std()) < 0.03
    assert abs(float(paper.blocks[5].tcn[2].weight.std()) - 0.02) > 0.002  # torch default differs
    head = stgcn().head
    assert abs(float(head.weight.std()) - 0.02) < 0.002 and float(head.bias.abs().max()) == 0.0
    # an explicit (K, V, V) graph is accepted, a misfitting one is named
    assert STGCN(graph=enc.A.numpy()).A.shape == (3, 25, 25)
    with pytest.raises(ConfigError, match="graph must be"):
        STGCN(graph=torch.zeros(3, 17, 17))


# ---------------------------------------------------------------- Hyper-GCN

def test_diversity_loss_values() -> None:
    same = torch.ones(3, 8)
    assert float(hyper_joint_diversity_loss([same])) == pytest.approx(1.0)
    ortho = torch.eye(3, 8)
    assert float(hyper_joint_diversity_loss([ortho])) == pytest.approx(0.0, abs=1e-6)
    opposed = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]])
    assert float(hyper_joint_diversity_loss([opposed, same])) == pytest.approx(0.5, abs=1e-6)


def test_hypergcn_aux_loss_enters_the_training_loss() -> None:
    model = hypergcn_tiny(num_classes=4, label_smoothing=0.0)
    out = model({"skeleton": skel()})
    target = torch.tensor([0, 3])
    ce = F.cross_entropy(out["logits"], target)
    assert out["loss_div"].ndim == 0 and 0.0 <= float(out["loss_div"].detach()) <= 1.0
    torch.testing.assert_close(model.loss(out, target), ce + out["loss_div"])
    model.loss(out, target).backward()
    assert all(u.gcn.hyper_joint.grad is not None for u in model.encoder.units)


def test_hypergcn_official_init() -> None:
    torch.manual_seed(0)
    model = hypergcn_base()
    fc = model.head
    assert abs(float(fc.weight.std()) - (2.0 / 60) ** 0.5) < 0.01  # N(0, sqrt(2/K))
    proj = model.encoder.units[3].residual[0]  # the stride-2 unit's 1x1 projection
    fan_out = proj.out_channels  # kernel 1x1
    assert abs(float(proj.weight.std()) - (2.0 / fan_out) ** 0.5) < 0.1 * (2.0 / fan_out) ** 0.5
    assert float(proj.bias.abs().max()) == 0.0
    model.reset_classifier(120)
    assert abs(float(model.head.weight.std()) - (2.0 / 120) ** 0.5) < 0.01
    # init="torch" keeps the earlier (PyTorch default) initialisation of projections and head
    torch.manual_seed(0)
    plain = hypergcn_base(init="torch")
    assert float(plain.encoder.units[3].residual[0].bias.detach().abs().max()) > 0.0
    assert float(plain.head.weight.detach().std()) < 0.1
    with pytest.raises(ConfigError, match="init must be"):
        HyperGCN(init="kaiming")


def test_hypergraph_has_k_nearest_incidence() -> None:
    enc = encoder("hypergcn_tiny").eval()
    gcn = enc.units[0].gcn
    x = torch.randn(2, 32, 6, 28)
    g = gcn.hypergraph(x)
    assert g.shape == (2, 8, 28, 28) and torch.isfinite(g).all()
    # hyper=False keeps only the fixed graph and still runs
    plain = encoder("hypergcn_tiny", hyper=False).eval()
    assert plain(skel(1)).shape == (1, 64)


def test_hypergcn_dense_skips_and_strides() -> None:
    enc = encoder("hypergcn_tiny").eval()
    assert isinstance(enc, HyperGCN)
    maps = enc.forward_maps(skel(1, 16))
    assert maps.shape == (1, 2, 64, 8, 25)  # one stride-2 stage
    assert enc._skip == [False, False, True, False, False, True]


# ---------------------------------------------------------------- MAMP transformer

def test_mamp_tokens_and_patch_embedding_match_a_strided_conv() -> None:
    enc = SkeletonTransformer(dim=16, depth=1, num_heads=2, num_frames=24).eval()
    conv = torch.nn.Conv2d(3, 16, kernel_size=(4, 1), stride=(4, 1))
    enc.load_mamp_patch_conv(conv.weight, conv.bias)
    x = skel(2, 24)
    n, c, t, v, m = x.shape
    ref = conv(x.permute(0, 4, 1, 2, 3).reshape(n * m, c, t, v)).permute(0, 2, 3, 1)  # (NM, T', V, D)
    got = enc.patch_embed(enc.patchify(x))
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
    # raw patches are ordered (t, C) as MAMP's pre-training patchify: frame-major, xyz fastest
    p = enc.patchify(x)  # (N*M, T', V, t*C)
    torch.testing.assert_close(p[0, 1, 7, :3], x[0, :, 4, 7, 0])
    torch.testing.assert_close(p[0, 1, 7, 3:6], x[0, :, 5, 7, 0])
    assert enc.forward_features(x).shape == (2, 2, 6, 25, 16)
    assert enc.forward_tokens(x).shape == (4, 150, 16)


def test_mamp_masking_forwards_only_kept_tokens() -> None:
    enc = encoder("mamp_transformer_tiny").eval()
    x = skel(1, 16)  # 4 x 25 = 100 tokens per person, 2 persons
    mask = torch.zeros(2, 100, dtype=torch.bool)
    gen = torch.Generator().manual_seed(1)
    for r in range(2):
        mask[r, torch.randperm(100, generator=gen)[:90]] = True  # 90 % masked
    keep = torch.nonzero(~mask)[:, 1].view(2, 10)
    with torch.no_grad():
        a = enc.forward_tokens(x, mask=mask)
        b = enc.forward_tokens(x, keep_idx=keep)
        assert a.shape == (2, 10, 64)
        torch.testing.assert_close(a, b)
        # changing hidden tokens' input cannot change the kept tokens' output
        x2 = x.clone().view(1, 3, 4, 4, 25, 2)  # (N, C, T', t, V, M)
        hidden = mask[0].view(4, 25)
        x2[0, :, :, :, :, 0] += 5.0 * hidden[:, None, :].float()
        c = enc.forward_tokens(x2.view_as(x), mask=mask)
        torch.testing.assert_close(c, a)
        # whereas the full forward does change
        assert not torch.allclose(enc.forward_tokens(x2.view_as(x)), enc.forward_tokens(x))
        # a (N, M, T', V) mask is accepted too, and pooled masked features have the encoder width
        assert enc(x, mask=mask.view(1, 2, 4, 25)).shape == (1, 64)


def test_mamp_mask_validation() -> None:
    enc = encoder("mamp_transformer_tiny")
    x = skel(1, 8)
    uneven = torch.zeros(2, 50, dtype=torch.bool)
    uneven[0, :10] = True
    with pytest.raises(ConfigError, match="same, non-zero"):
        enc.forward_tokens(x, mask=uneven)
    with pytest.raises(ConfigError, match="bool"):
        enc.forward_tokens(x, mask=torch.zeros(2, 50))
    with pytest.raises(ConfigError, match="multiple of t_patch"):
        enc(skel(1, 10))
    with pytest.raises(ConfigError, match="num_frames"):
        enc(skel(1, 124))


def test_layouts_other_than_ntu() -> None:
    x = torch.randn(1, 3, 8, 17, 2)
    for f in (stgcn_tiny, hypergcn_tiny, mamp_transformer_tiny):
        model = f(num_classes=0, layout="coco17").eval()
        assert model(x).shape == (1, model.num_features)
    assert NTU25.num_joints == 25
