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
