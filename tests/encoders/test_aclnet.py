"""ACLNet: backbone size and graph feature; intra / inter affinity contrastive losses and their
banks, including a two-process (gloo) check that the banks equal a single process fed the
global batch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F

from mmfusion.encoders.aclnet import (
    ACLNetGCN,
    ACLNetLoss,
    InterAffinityContrastiveLoss,
    IntraAffinityContrastiveLoss,
)
from mmfusion.errors import ConfigError
from mmfusion.registry import create_model


def test_parameter_count_matches_the_official_backbone(count_params) -> None:
    # firework8/ACLNet GCN_Module (configs/ntu60_xsub/j.py): 3,705,696; + 60-class head = "3.73 M"
    assert count_params(ACLNetGCN()) == 3_705_696
    assert count_params(create_model("aclnet", num_classes=60)) == 3_728_796


def test_graph_feature_is_the_learned_refinement(skeleton) -> None:
    enc = ACLNetGCN(blocks=((16, 1), (32, 2)), ratio=0.25).eval()
    x = skeleton(t=8)
    feats, aux = enc(x, return_aux=True)
    assert feats.shape == (2, 32) and aux["graph"].shape == (2, 625)
    # alpha = beta = 0 at init (official): no refinement yet
    assert aux["graph"].abs().max() == 0
    with torch.no_grad():
        enc.gcn[-1].gcn.alpha.fill_(1.0)
        enc.gcn[-1].gcn.beta.fill_(1.0)
    g = enc(x, return_aux=True)[1]["graph"].view(2, 25, 25)
    assert g.abs().max() > 0
    # the adaptive part is a softmax over source joints: the mean of the refinement keeps it visible
    assert torch.isfinite(g).all()


def _reference_intra(feats: list[torch.Tensor], labels: list[torch.Tensor], memory: int, tau: float,
                     omega: float) -> list[float]:
    """The official list-based algorithm, step by step (features already projected + normalised)."""
    bank_f: list[torch.Tensor] = []
    bank_y: list[torch.Tensor] = []
    losses = []
    for f, y in zip(feats, labels):
        b = f.shape[0]
        bank_f += list(f)
        bank_y += list(y)
        if len(bank_f) < memory:
            losses.append(0.0)
        if len(bank_f) > memory:
            del bank_f[:b], bank_y[:b]
        if len(bank_f) == memory:
            allf = torch.cat([torch.stack(bank_f[: memory - b]), f])
            ally = torch.stack(bank_y)[:, None]
            mask = (ally == ally.T).float()
            logits = allf @ allf.T / tau
            logits = logits - logits.max(1, keepdim=True).values
            not_self = 1 - torch.eye(memory)
            pos, neg = mask * not_self, 1 - mask
            e = logits.exp() * not_self
            unif = torch.log(omega * e * pos + (e * neg * not_self).sum(1, keepdim=True) + 1e-6)
            lp = (pos * (logits - unif)).sum(1) / pos.sum(1).clamp(min=1)
            losses.append(float(-lp[-b:].mean()))
    return losses


def test_intra_loss_matches_the_official_algorithm_and_fifo_bank() -> None:
    loss = IntraAffinityContrastiveLoss(memory=6, in_dim=5, proj_dim=4)
    g = torch.Generator().manual_seed(1)
    xs = [torch.randn(2, 5, generator=g) for _ in range(5)]
    ys = [torch.randint(0, 3, (2,), generator=g) for _ in range(5)]
    with torch.no_grad():
        proj = [F.normalize(loss.cl_fc(x), dim=1, eps=1e-12) for x in xs]
    expected = _reference_intra(proj, ys, 6, 0.1, math.exp(-0.1))
    got = [float(loss(x, y).detach()) for x, y in zip(xs, ys)]
    assert got[:2] == [0.0, 0.0] and expected[:2] == [0.0, 0.0]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # the bank holds the newest six entries, oldest first
    torch.testing.assert_close(loss.bank_feats, torch.cat(proj[2:]))
    assert loss.bank_labels.tolist() == torch.cat(ys[2:]).tolist() and int(loss.num_filled) == 6
    with pytest.raises(ConfigError, match="smaller than the memory"):
        loss(torch.randn(6, 5), torch.zeros(6, dtype=torch.long))


def test_affinity_sets_by_hand() -> None:
    inter = InterAffinityContrastiveLoss(4, in_dim=3, proj_dim=2, top_k=2, overlap=0)
    conf = torch.tensor([[0, 5, 1, 0], [3, 0, 0, 0], [0, 0, 0, 0], [0, 0, 2, 2]], dtype=torch.float)
    # top-2 (ties -> lower index): {1,2}, {0,1}, {0,1}, {2,3}; plus classes sharing > 0 members
    sets = inter.affinity_sets(conf)
    assert [sorted(torch.nonzero(r).flatten().tolist()) for r in sets] == [[1, 2, 3], [0, 1, 2], [0, 1], [0, 2, 3]]
    inter.overlap = 1
    sets = inter.affinity_sets(conf)
    assert [sorted(torch.nonzero(r).flatten().tolist()) for r in sets] == [[1, 2], [0, 1, 2], [0, 1], [2, 3]]


def test_confusion_counting_and_activation_by_epoch() -> None:
    inter = InterAffinityContrastiveLoss(3, in_dim=4, proj_dim=2, start_epoch=2)
    labels = torch.tensor([0, 1, 1])
    logits = F.one_hot(torch.tensor([1, 1, 0]), 3).float() * 5  # predictions 1, 1, 0
    x = torch.randn(3, 4)
    assert float(inter(x, labels, logits)) == 0.0 and inter.confusion.sum() == 0  # epoch 1: nothing counted
    inter.set_epoch(2)
    assert not inter.active
    inter(x, labels, logits)
    # wrong: 0->1, 1->0; "predicted from": (0 <- sample 2), (1 <- sample 0) twice
    assert inter.confusion[0, 1] == 2 and inter.confusion[1, 0] == 3 and inter.confusion.sum() == 5
    inter.set_epoch(3)
    assert inter.active and inter.affinity.any()
    out = inter(x, labels, logits)
    assert out > 0 and torch.isfinite(out)
    out.backward()
    assert inter.cl_fc.weight.grad is not None


def test_prototypes_move_towards_correct_samples_only() -> None:
    inter = InterAffinityContrastiveLoss(3, in_dim=4, proj_dim=2)
    before = inter.prototypes.clone()
    x = torch.randn(2, 4)
    inter(x, torch.tensor([0, 2]), F.one_hot(torch.tensor([0, 1]), 3).float())  # sample 0 right, 1 wrong
    with torch.no_grad():
        f0 = inter.cl_fc(x[:1])[0]
    torch.testing.assert_close(inter.prototypes[:, 0], 0.9 * before[:, 0] + 0.1 * f0)
    torch.testing.assert_close(inter.prototypes[:, 1:], before[:, 1:])


# ---------------------------------------------------------------- two processes

MEM, GRAPH, PROJ, CLASSES, GLOBAL_B, STEPS = 16, 9, 5, 4, 8, 3


def _data() -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(7)
    return [(torch.randn(GLOBAL_B, GRAPH, generator=g), torch.randint(0, CLASSES, (GLOBAL_B,), generator=g),
             torch.randn(GLOBAL_B, CLASSES, generator=g)) for _ in range(STEPS)]


def _run(rank: int, world: int) -> dict[str, np.ndarray]:
    """Three steps (epoch 1 counts confusions, epochs 2-3 use the affinity loss) on this rank's slice."""
    torch.manual_seed(0)
    crit = ACLNetLoss(CLASSES, memory=MEM, graph_dim=GRAPH, proj_dim=PROJ, start_epoch=1)
    out: dict[str, np.ndarray] = {}
    b = GLOBAL_B // world
    for step, (x, y, logits) in enumerate(_data()):
        crit.set_epoch(step + 1)
        crit.zero_grad()
        sl = slice(rank * b, (rank + 1) * b)
        losses = crit(logits[sl], x[sl], y[sl])
        (losses["loss_inter"] + losses["loss_intra"]).backward()
        for k in ("loss_inter", "loss_intra"):
            v = losses[k].detach().clone()
            if world > 1:
                dist.all_reduce(v)
            out[f"{k}_{step}"] = (v / world).numpy()
    for name, p in crit.named_parameters():
        grad = p.grad.clone()
        if world > 1:
            dist.all_reduce(grad)  # what DDP does
        out[f"grad.{name}"] = (grad / world).numpy()
    for name, buf in crit.named_buffers():
        out[f"buf.{name}"] = buf.numpy().astype(np.float64)
    return out


@pytest.mark.slow
def test_two_process_banks_equal_the_single_process_banks(gloo_pair) -> None:
    single = _run(0, 1)
    ranks = gloo_pair(_run)
    assert single["buf.intra.num_filled"] == MEM and single["loss_intra_2"] > 0 and single["loss_inter_2"] > 0
    for key, value in single.items():
        for rank in ranks:
            np.testing.assert_allclose(rank[key], value, rtol=1e-4, atol=1e-6, err_msg=key)
