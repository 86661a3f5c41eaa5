"""The evaluation protocols on small cases with known answers."""

from __future__ import annotations

import pytest
import torch

from mmfusion.errors import ConfigError
from mmfusion.ssl import protocols as P


def test_knn_weighted_and_majority_by_hand() -> None:
    train = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.2, 0.8]])
    ytr = torch.tensor([0, 0, 1, 1, 1])
    test = torch.tensor([[1.0, 0.05], [0.05, 1.0]])
    yte = torch.tensor([0, 1])
    r = P.knn(train, ytr, test, yte, ks=(1, 5), weighted=False)
    # k=1: nearest is right for both; k=5 majority: class 1 has 3 of 5 votes -> the first test sample is wrong
    assert r.metrics == {"top1@k1": 1.0, "top1@k5": 0.5}
    w = P.knn(train, ytr, test, yte, ks=(5,), weighted=True, temperature=0.1)
    assert w.metrics["top1@k5"] == 1.0  # two very close neighbours outweigh three far ones
    assert "cosine" in w.line() and "majority" in r.line()


def test_label_subset_balanced_and_random() -> None:
    y = torch.arange(60).repeat_interleave(100)  # 60 classes x 100
    idx = P.label_subset(y, 0.01, balanced=True, seed=3)
    assert len(idx) == 60 and torch.equal(torch.bincount(y[idx]), torch.ones(60, dtype=torch.long))
    assert torch.equal(idx, P.label_subset(y, 0.01, balanced=True, seed=3))
    assert not torch.equal(idx, P.label_subset(y, 0.01, balanced=True, seed=4))
    rnd = P.label_subset(y, 0.1, balanced=False, seed=0)
    assert len(rnd) == 600 and len(torch.unique(rnd)) == 600
    with pytest.raises(ConfigError):
        P.label_subset(y, 0.0)


def _blobs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    centres = torch.tensor([[4.0, 0, 0, 0], [0, 4.0, 0, 0], [0, 0, 4.0, 0]])
    return centres[y] + torch.randn(n, 4, generator=g), y


def test_linear_probe_both_heads_learn_separable_features() -> None:
    xtr, ytr = _blobs(300, 0)
    xte, yte = _blobs(90, 1)
    for head in ("bn", "plain"):
        r = P.linear_probe(xtr, ytr, xte, yte, head=head, epochs=20)
        assert r.metrics["top1"] > 0.9, head
        assert "epochs=20" in r.line() and "lr=" in r.line()
    scrambled = P.linear_probe(xtr, ytr[torch.randperm(300)], xte, yte, epochs=20)
    assert scrambled.metrics["top1"] < 0.7



def test_linear_probe_fuses_per_view_heads_by_their_logits() -> None:
    """(N, L, D) features (MS-CLR's conventions): one head per view, the mean of their logits."""
    xtr, ytr = _blobs(300, 0)
    xte, yte = _blobs(90, 1)
    noise = torch.randn(300, 4, generator=torch.Generator().manual_seed(5))
    both_tr, both_te = torch.stack([xtr, noise], dim=1), torch.stack([xte, torch.randn(90, 4)], dim=1)
    r = P.linear_probe(both_tr, ytr, both_te, yte, epochs=20, views=("good", "noise"))
    single = P.linear_probe(xtr, ytr, xte, yte, epochs=20)
    assert r.metrics["top1_good"] == single.metrics["top1"] > 0.9  # same settings and batch order per view
    assert r.metrics["top1_noise"] < 0.6 and r.metrics["top1"] > 0.8  # the informative view carries the vote
    assert r.signature["views"] == ["good", "noise"] and "logits" in r.signature["fusion"]
    one = P.linear_probe(xtr[:, None], ytr, xte[:, None], yte, epochs=20)
    assert one.metrics["top1"] == single.metrics["top1"]


def test_fused_views_cosine_is_the_mean_of_the_views() -> None:
    a, b = torch.randn(5, 3, 8), torch.randn(5, 3, 8)
    cos = torch.nn.functional.cosine_similarity
    torch.testing.assert_close(cos(P.fuse_views(a), P.fuse_views(b)), cos(a, b, dim=-1).mean(dim=1))
    assert torch.equal(P.fuse_views(a[:, 0]), a[:, 0])  # (N, D) unchanged

def test_few_shot_prototypes_and_embedding(tmp_path) -> None:
    xtr, ytr = _blobs(60, 0)
    xte, yte = _blobs(30, 1)
    r = P.few_shot(xtr, ytr, xte, yte, shots=1, episodes=5)
    assert r.metrics["top1"] > 0.8 and r.signature["shots"] == 1
    pts, how = P.embed_2d(xte)
    assert pts.shape == (30, 2) and how in ("tsne", "pca")
    assert P.plot_embedding(pts, yte, tmp_path / "e.png").stat().st_size > 0


def test_layer_decay_groups_scale_by_depth() -> None:
    from mmfusion.registry import create_model

    model = create_model("mamp_transformer_tiny", num_classes=5, num_frames=8)  # depth 2
    groups = P.layer_decay_groups(model, 0.05, 0.5)
    by_param = {id(p): g for g in groups for p in g["params"]}
    named = dict(model.named_parameters())
    assert by_param[id(named["encoder.patch_embed.weight"])]["lr_scale"] == 0.5**3
    assert by_param[id(named["encoder.blocks.1.attn.qkv.weight"])]["lr_scale"] == 0.5
    assert by_param[id(named["head.weight"])]["lr_scale"] == 1.0
    assert by_param[id(named["encoder.pos_embed"])]["weight_decay"] == 0.0
    assert by_param[id(named["encoder.blocks.0.mlp.0.weight"])]["weight_decay"] == 0.05
    assert sum(len(g["params"]) for g in groups) == sum(1 for p in model.parameters() if p.requires_grad)


def test_refresh_batchnorm_gives_a_random_stgcn_usable_features(tiny_skeletons) -> None:
    from mmfusion.registry import create_model

    data = tiny_skeletons(n=16, t=8)
    torch.manual_seed(0)
    enc = create_model("stgcn_tiny", num_classes=0).encoder.eval()
    before = {k: v.clone() for k, v in enc.state_dict().items() if "running" not in k and "num_batches" not in k}
    stale, _ = P.extract_features(lambda x: enc(x), data)
    # the official init (N(0, 0.02) convs) under the initial running statistics (0 / 1) shrinks the features
    assert stale.abs().max() < 1e-2
    assert P.refresh_batchnorm(enc, data, clips=16, batch_size=8) > 0
    fresh, _ = P.extract_features(lambda x: enc(x), data)
    assert fresh.std(0).mean() > 100 * stale.std(0).mean()
    assert not enc.training
    after = enc.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items())  # no weight moved


def test_refresh_batchnorm_statistics_are_the_data_statistics(tiny_skeletons) -> None:
    data = tiny_skeletons(n=12, t=4)
    bn = torch.nn.BatchNorm1d(3, momentum=0.1)

    def fwd(x: torch.Tensor) -> torch.Tensor:  # (N, C, T, V, M) -> BN over C
        return bn(x.permute(0, 2, 3, 4, 1).reshape(-1, 3))

    assert P.refresh_batchnorm(bn, data, clips=100, batch_size=12, forward=fwd) == 1
    flat = data.x.permute(0, 2, 3, 4, 1).reshape(-1, 3)
    assert torch.allclose(bn.running_mean, flat.mean(0), atol=1e-5)
    assert torch.allclose(bn.running_var, flat.var(0), atol=1e-5)
    assert bn.momentum == 0.1 and not bn.training
    assert P.refresh_batchnorm(torch.nn.Linear(3, 3), data) == 0  # nothing to refresh, no forward
