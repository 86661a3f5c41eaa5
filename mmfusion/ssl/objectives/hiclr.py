"""HiCLR (Zhang et al., "Hierarchical Consistent Contrastive Learning for Skeleton-Based Action
Recognition with Growing Augmentations", AAAI 2023), after ``JHang2020/HiCLR`` ``net/hiclr.py`` and
``processor/pretrain_hiclr.py`` (re-implemented).

One MoCo v2 backbone (:class:`~mmfusion.ssl.objectives.moco.MoCo`: queue 32,768, m 0.999, tau 0.07)
sees four views of each clip, made from the seeded generator:

* ``q`` and the key ``k``: two **basic** views (temporal crop, padding ratio 6, + shear 0.5);
* ``q1``: a **strong** view (basic + flip, rotate, noise, blur, axis mask, time flip);
* ``q2``: a second, independent strong view whose joints are masked (ratio 0.1 per frame) and
  replaced by a learnable scalar token (the official ``mask_param``) - the **strongest** view.

With ``p = softmax([q.k, q.queue] / tau)`` for each query (the same key and queue)::

    L = InfoNCE(q, k) + 1/2 [ CE(p(q1), sg p(q)) + CE(p(q2), sg p(q1)) ]

``CE(p, t) = -sum t log p`` and ``sg`` stops the gradient: each distribution is pulled towards
the one of the next-weaker view (the hierarchical, chained distribution consistency). From
``mining_step`` on (the official ``mining_epoch`` 150, given here in optimizer steps) the InfoNCE
term becomes AimCLR's nearest-neighbour mining loss: the top-1 queue entry of each of the three
queries joins the key as a positive, ``-mean over positives of log softmax``.

Differences: the official GCN variant drops and adds graph edges (``dropout_graph`` 0.1,
``add_graph`` 0.05) in the basic branch; mmfusion's ST-GCN has no such option, so every branch
uses the plain graph. The joint mask is shared by the batch, as in the official code.

Shapes: batch ``{"skeleton": (N, C, T, V, M)}``; ``forward`` -> ``{"loss", "loss_nce", "loss_ddm1",
"loss_ddm2", "acc"}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..augment import JointMask, preset
from ..objective import register_objective
from .moco import TRAIN_PRESETS, MoCo, build_backbone

__all__ = ["PRESETS", "TRAIN_PRESETS", "HiCLR", "consistency_loss", "mining_loss"]

#: AimCLR's NTU-60 xsub: 300 epochs of ceil(40,091 / 128) = 314 steps; mining from epoch 150
_NTU60_STEPS_PER_EPOCH = 314

PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {"encoder": "aimclr_stgcn_tiny", "queue_size": 512, "momentum": 0.99, "temperature": 0.2,
            "proj_dim": 64, "mining_step": 400},
    "paper_ntu60": {"encoder": "aimclr_stgcn", "queue_size": 32768, "momentum": 0.999, "temperature": 0.07,
                    "proj_dim": 128, "mask_ratio": 0.1, "mining_step": 150 * _NTU60_STEPS_PER_EPOCH, "topk": 1},
}


def consistency_loss(logits: Tensor, target_logits: Tensor) -> Tensor:
    """``-mean_n sum_j softmax(target)_nj log softmax(logits)_nj`` with the target detached (DDM)."""
    target = torch.softmax(target_logits.detach(), dim=1)
    return -(target * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()


def mining_loss(logits: Tensor, l_negs: list[Tensor], topk: int = 1) -> Tensor:
    """AimCLR's NNM: positives = the key (column 0) + the top-``topk`` queue entries of every query.

    ``logits`` (N, 1 + K); ``l_negs``: (N, K) queue similarities of each query view.
    """
    pos = torch.zeros_like(logits)
    pos[:, 0] = 1
    for l_neg in l_negs:
        pos[:, 1:].scatter_(1, l_neg.topk(topk, dim=1).indices, 1.0)
    return (-(torch.log_softmax(logits, dim=1) * pos).sum(dim=1) / pos.sum(dim=1)).mean()


class HiCLR(MoCo):
    """MoCo + growing augmentations + chained distribution consistency (+ NN mining after ``mining_step``).

    Args (beyond :class:`MoCo`): mask_ratio (0.1), mining_step (optimizer steps before mining
    starts; ``None``: never), topk (1), layout (flip map of the strong views).
    """

    def __init__(self, encoder: nn.Module, feature_dim: int, mask_ratio: float = 0.1, mining_step: int | None = None,
                 topk: int = 1, layout: str = "ntu25", **kwargs: Any) -> None:
        super().__init__(encoder, feature_dim, query_aug="basic", key_aug="basic", layout=layout, **kwargs)
        self.strong_aug = preset("strong", layout)
        self.joint_mask = JointMask(mask_ratio, learnable=True)  # the official mask_param
        self.mining_step, self.topk = mining_step, topk

    @property
    def mining(self) -> bool:
        return self.mining_step is not None and int(self.steps) >= self.mining_step

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        x = batch["skeleton"]
        g = self.generator()
        q = self.embed_q(self.query_aug(x, g))
        k = self.embed_k(self.key_aug(x, g))
        q1 = self.embed_q(self.strong_aug(x, g))
        q2 = self.embed_q(self.joint_mask(self.strong_aug(x, g), g))
        logits, l_neg = self.logits(q, k)
        logits1, l_neg1 = self.logits(q1, k)
        logits2, l_neg2 = self.logits(q2, k)
        if self.mining:
            nce = mining_loss(logits, [l_neg, l_neg1, l_neg2], self.topk)
        else:
            nce = F.cross_entropy(logits, torch.zeros(x.shape[0], dtype=torch.long, device=x.device))
        ddm1 = consistency_loss(logits1, logits)
        ddm2 = consistency_loss(logits2, logits1)
        loss = nce + (ddm1 + ddm2) / 2
        self.enqueue(k)
        return {"loss": loss, "loss_nce": nce.detach(), "loss_ddm1": ddm1.detach(), "loss_ddm2": ddm2.detach(),
                "acc": (logits.argmax(dim=1) == 0).float().mean().detach()}


@register_objective("hiclr")
def hiclr(encoder: str | nn.Module = "aimclr_stgcn", encoder_kwargs: Mapping[str, Any] | None = None,
          **kwargs: Any) -> HiCLR:
    """HiCLR on AimCLR's quarter-width ST-GCN (the official GCN variant) by default."""
    backbone, width = build_backbone(encoder, encoder_kwargs)
    return HiCLR(backbone, width, **kwargs)
