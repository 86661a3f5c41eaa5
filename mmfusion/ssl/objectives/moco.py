"""MoCo v2 on skeletons: the queue-contrastive base of HiCLR, HaLP and MS-CLR.

After ``Levigty/AimCLR`` ``net/skeletonclr.py`` / ``JHang2020/HiCLR`` ``net/hiclr.py`` (the AimCLR
family's MoCo) and ``anshulbshah/HaLP`` ``moco/builder_single_modality_*.py`` (re-implemented):

* query encoder = the backbone (a registered model built with ``num_classes=0``: its pooled
  features) + the MoCo v2 projector ``Linear(D, D) -> ReLU -> Linear(D, 128)`` (the official "mlp
  hack" around the encoder's 128-d ``fc``); the key encoder is a momentum copy (m = 0.999) of both,
  never trained by gradients;
* ``loss = CE([q.k, q.queue] / tau, 0)`` with L2-normalised q, k, tau = 0.07, a queue of 32,768
  keys (unit-normalised Gaussian at the start), the global batch's keys enqueued after every
  forward (in training mode).

Differences (ours): the momentum update runs in :meth:`after_step` (after each optimizer step,
which is the official "before the next keys" order); views are made inside the objective from a
seeded generator (:mod:`mmfusion.ssl.augment`); no DDP shuffle-BN (the AimCLR family runs on one
GPU and has none either).

Shapes: batch ``{"skeleton": (N, C, T, V, M)}``; ``forward`` -> ``{"loss", "loss_nce", "acc"}``;
``features`` (N, C, T, V, M) -> (N, D) pooled backbone features (the projector is not used).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from ...errors import ConfigError
from ...registry import create_model
from ..augment import SkeletonAug, preset
from ..objective import PretextObjective, register_objective
from ..queue import TensorQueue

__all__ = ["PRESETS", "TRAIN_PRESETS", "MoCo", "build_backbone", "moco_projector"]

#: CPU-sized kwargs (tiny encoder, small queue) and the paper's NTU-60 settings (AimCLR family)
PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {"encoder": "aimclr_stgcn_tiny", "queue_size": 512, "momentum": 0.99, "temperature": 0.2,
            "proj_dim": 64},
    "paper_ntu60": {"encoder": "aimclr_stgcn", "queue_size": 32768, "momentum": 0.999, "temperature": 0.07,
                    "proj_dim": 128, "query_aug": "basic", "key_aug": "basic"},
}

#: engine settings (TrainConfig fields + the clip length) of the same presets: AimCLR / HiCLR pretext
#: (SGD lr 0.1, wd 1e-4, 300 epochs, lr x0.1 at 250, batch 128, frame50 clips) and ours for the CPU.
#: The CPU lr 0.003 was chosen on seed 0 from {0.1, 0.01, 0.003, 0.001} by the linear probe after 5
#: epochs (MoCo: 23.5 / 42.5 / 46.2 / 44.5 %, random encoder 37.8 %; docs/ssl_contrastive.md): with
#: AimCLR's 0.1 at half its batch the 3-block encoder ended below its random initialisation.
TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {"epochs": 5, "global_batch_size": 64, "optimizer": "sgd", "lr": 0.003, "momentum": 0.9,
            "weight_decay": 1e-4, "scheduler": "cosine", "clip_len": 16},
    "paper_ntu60": {"epochs": 300, "global_batch_size": 128, "optimizer": "sgd", "lr": 0.1, "momentum": 0.9,
                    "weight_decay": 1e-4, "scheduler": "step", "milestones": (250,), "clip_len": 50},
}


def build_backbone(encoder: str | nn.Module, encoder_kwargs: Mapping[str, Any] | None = None) -> tuple[nn.Module, int]:
    """A registered model with ``num_classes=0`` (pooled features in ``"logits"``) and its feature width."""
    if isinstance(encoder, str):
        encoder = create_model(encoder, num_classes=0, **dict(encoder_kwargs or {}))
    width = getattr(encoder, "num_features", None) or getattr(encoder, "out_dim", None)
    if not isinstance(width, int):
        raise ConfigError(f"MoCo: {type(encoder).__name__} exposes neither num_features nor out_dim")
    return encoder, width


def moco_projector(dim: int, proj_dim: int, mlp: bool = True) -> nn.Module:
    """MoCo v2 head: ``Linear(D, D) -> ReLU -> Linear(D, proj_dim)`` (``mlp=False``: the linear layer alone)."""
    if not mlp:
        return nn.Linear(dim, proj_dim)
    return nn.Sequential(nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Linear(dim, proj_dim))


def _pooled(encoder: nn.Module, x: Tensor) -> Tensor:
    out = encoder(x)
    if isinstance(out, Mapping):
        out = out["logits"]
    return out.flatten(1)


def _rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


class MoCo(PretextObjective):
    """MoCo v2 with a momentum key encoder and a gathered :class:`~mmfusion.ssl.queue.TensorQueue`.

    Args:
        encoder: backbone returning pooled (N, D) features (``build_backbone``).
        feature_dim: D.
        queue_size, momentum, temperature, proj_dim, mlp: MoCo v2 (32,768, 0.999, 0.07, 128, True).
        query_aug, key_aug: augmentation preset names (:func:`mmfusion.ssl.augment.preset`) or modules.
        layout: joint layout of the batch (flip maps).
        seed: seed of the view generator (mixed with the step and the process rank).
    """

    def __init__(self, encoder: nn.Module, feature_dim: int, queue_size: int = 32768, momentum: float = 0.999,
                 temperature: float = 0.07, proj_dim: int = 128, mlp: bool = True,
                 query_aug: str | SkeletonAug = "basic", key_aug: str | SkeletonAug = "basic",
                 layout: str = "ntu25", seed: int = 0) -> None:
        super().__init__(encoder)
        if not 0 <= momentum <= 1 or temperature <= 0:
            raise ConfigError(f"MoCo: need 0 <= momentum <= 1 and temperature > 0, got {momentum}, {temperature}")
        self.momentum, self.temperature, self.seed, self.layout = momentum, temperature, seed, layout
        self.projector = moco_projector(feature_dim, proj_dim, mlp)
        self.encoder_k = copy.deepcopy(self.encoder)
        self.projector_k = copy.deepcopy(self.projector)
        for p in [*self.encoder_k.parameters(), *self.projector_k.parameters()]:
            p.requires_grad_(False)
        self.queue = TensorQueue(queue_size, proj_dim, init="randn", seed=seed)
        self.query_aug = preset(query_aug, layout) if isinstance(query_aug, str) else query_aug
        self.key_aug = preset(key_aug, layout) if isinstance(key_aug, str) else key_aug
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    # -- pieces the subclasses reuse ------------------------------------------------------------
    def generator(self) -> torch.Generator:
        """A CPU generator for this forward: (seed, optimizer steps so far, process rank) -> views."""
        return torch.Generator().manual_seed(self.seed * 1_000_003 + int(self.steps) * 101 + _rank())

    def embed_q(self, x: Tensor) -> Tensor:
        """(N, C, T, V, M) -> (N, proj_dim) L2-normalised query embedding."""
        return F.normalize(self.projector(_pooled(self.encoder, x)), dim=1)

    @torch.no_grad()
    def embed_k(self, x: Tensor) -> Tensor:
        """(N, C, T, V, M) -> (N, proj_dim) L2-normalised key embedding (momentum encoder, no gradient)."""
        return F.normalize(self.projector_k(_pooled(self.encoder_k, x)), dim=1)

    def logits(self, q: Tensor, k: Tensor) -> tuple[Tensor, Tensor]:
        """(N, 1 + K) logits ``[q.k, q.queue] / tau`` and the (N, K) queue similarities (before tau)."""
        l_neg = q @ self.queue.keys.detach().clone().t()  # enqueue writes in place
        l_pos = (q * k).sum(dim=1, keepdim=True)
        return torch.cat([l_pos, l_neg], dim=1) / self.temperature, l_neg

    @torch.no_grad()
    def momentum_update(self) -> None:
        """key <- m * key + (1 - m) * query, for the encoder and the projector."""
        pairs = [(self.encoder, self.encoder_k), (self.projector, self.projector_k)]
        for q_mod, k_mod in pairs:
            for pq, pk in zip(q_mod.parameters(), k_mod.parameters()):
                pk.mul_(self.momentum).add_(pq.detach(), alpha=1 - self.momentum)

    def enqueue(self, k: Tensor) -> None:
        if self.training:
            self.queue.enqueue(k)

    # -- the contract ---------------------------------------------------------------------------
    def contrast(self, x: Tensor, g: torch.Generator) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Query / key embeddings (N, P) of two views of ``x``, the InfoNCE logits (N, 1 + K) and loss."""
        q = self.embed_q(self.query_aug(x, g))
        k = self.embed_k(self.key_aug(x, g))
        logits, _ = self.logits(q, k)
        nce = F.cross_entropy(logits, torch.zeros(x.shape[0], dtype=torch.long, device=x.device))
        return q, k, logits, nce

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        _, k, logits, loss = self.contrast(batch["skeleton"], self.generator())
        self.enqueue(k)
        return {"loss": loss, "loss_nce": loss.detach(),
                "acc": (logits.argmax(dim=1) == 0).float().mean().detach()}

    def after_step(self, step: int) -> None:
        self.momentum_update()
        self.steps.fill_(step)


@register_objective("moco")
def moco(encoder: str | nn.Module = "aimclr_stgcn", encoder_kwargs: Mapping[str, Any] | None = None,
         **kwargs: Any) -> MoCo:
    """MoCo v2 (queue 32,768, m 0.999, tau 0.07, 128-d MLP head) on AimCLR's ST-GCN by default."""
    backbone, width = build_backbone(encoder, encoder_kwargs)
    return MoCo(backbone, width, **kwargs)
