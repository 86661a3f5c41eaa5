"""HaLP (Shah et al., "HaLP: Hallucinating Latent Positives for Skeleton-based Self-Supervised
Learning of Actions", CVPR 2023), after ``anshulbshah/HaLP`` ``moco/builder_single_modality_halp.py``,
``moco/generator.py`` and ``pretrain_moco_single_modality.py`` (re-implemented).

MoCo v2 (:class:`~mmfusion.ssl.objectives.moco.MoCo`, HaLP's BiGRU by default, queue 16,384) plus
positives hallucinated in the key space:

1. **Prototypes**: once the queue has seen ``2 K + 1`` keys (the official warm-up), and then every
   10 optimizer steps, spherical k-means (:func:`spherical_kmeans`, k-means++ seeding, in torch)
   clusters the 256 newest queue entries into 20 unit prototypes.
2. **Hallucination**: for each key ``k`` with nearest prototype ``p0``, 100 targets ``p_sel`` are
   drawn uniformly among the prototypes ranked 2 to 21 by similarity (``num_closest`` 20, the
   nearest skipped); each positive is the slerp ``sin((1 - t) w) / sin w * k + sin(t w) / sin w * p_sel``
   with ``w = acos(k . p_sel)``. The closed-form bound (:func:`slerp_bound`)
   ``t_max = atan(sin w / (K + cos w)) / w`` with ``K = (1 - p_sel . p0) / (k . (p0 - p_sel))`` is the
   ``t`` where the path is equally similar to ``p0`` and ``p_sel``; the official code draws
   ``u ~ U(0, lambda)`` (lambda 0.8) and uses ``t = (1 - u) t_max``, i.e. ``t`` in
   ``[(1 - lambda) t_max, t_max]`` (the paper's "hardness" control).
3. **Rank filter**: a positive is kept only if its nearest prototype is still ``p0``.
4. **Loss**: ``L = L_MoCo + mu * L_HaLP`` with ``mu = 2`` and ``L_HaLP = -sum(kept q . p_gen / tau) / #kept``.

Differences (ours): geomstats' Riemannian k-means (Frechet means on the sphere, tolerance 1e-3) is
replaced by spherical k-means (normalised Euclidean means), which needs no extra dependency; the
prototypes are computed from the gathered queue with a generator seeded by the step, so every
process holds the same ones. The official run resumes a 200-epoch MoCo checkpoint and adds the
hallucinated positives for epochs 200-451; here one run does both: ``start_step`` optimizer steps of
plain MoCo (prototypes already kept up to date), then MoCo + HaLP, under one learning-rate schedule.
Views: :func:`~mmfusion.ssl.augment.preset` ``"halp"`` (crop-resize
0.1-1 to ``window`` frames + shear or joint mask; HaLP's "joint corruption" is replaced by the joint mask).

Shapes: batch ``{"skeleton": (N, C, T, V, M)}``; ``forward`` -> ``{"loss", "loss_nce", "loss_halp",
"kept", "acc"}``; ``prototypes`` (P, proj_dim).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...errors import ConfigError
from ..augment import preset
from ..objective import register_objective
from .moco import MoCo, build_backbone

__all__ = ["PRESETS", "TRAIN_PRESETS", "HaLP", "hallucinate", "slerp_bound", "spherical_kmeans"]

#: NTU-60 xsub at HaLP's batch 64: ceil(40,091 / 64) optimizer steps per epoch
_NTU60_STEPS_PER_EPOCH = 627

PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {"encoder": "aimclr_stgcn_tiny", "queue_size": 512, "momentum": 0.99, "temperature": 0.2,
            "proj_dim": 64, "num_prototypes": 20, "num_positives": 100, "warmup_entries": 1024, "window": 16,
            "start_step": 700},  # 200 / 451 of the cpu run's 20 x 79 = 1,580 steps, as the official schedule
    "paper_ntu60": {"encoder": "bigru", "queue_size": 16384, "momentum": 0.999, "temperature": 0.07,
                    "proj_dim": 128, "num_prototypes": 20, "prototype_pool": 256, "update_every": 10,
                    "num_positives": 100, "num_closest": 20, "lam": 0.8, "mu": 2.0, "window": 64,
                    "start_step": 200 * _NTU60_STEPS_PER_EPOCH},
}

#: engine settings: HaLP's script (resume MoCo at epoch 200, train to 451, lr 0.01 x0.1 at 351, batch
#: 64, SGD momentum 0.9, wd 1e-4; here one run with ``start_step``) and ours for the CPU (lr 0.003 as
#: the MoCo cpu preset; 20 epochs: with the hallucinated positives from step 0 and 5 epochs the
#: encoder ended at its random initialisation's probe, docs/ssl_contrastive.md)
TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {"epochs": 20, "global_batch_size": 64, "optimizer": "sgd", "lr": 0.003, "momentum": 0.9,
            "weight_decay": 1e-4, "scheduler": "cosine", "clip_len": 16},
    "paper_ntu60": {"epochs": 451, "global_batch_size": 64, "optimizer": "sgd", "lr": 0.01, "momentum": 0.9,
                    "weight_decay": 1e-4, "scheduler": "step", "milestones": (351,), "clip_len": 64},
}


def _kmeanspp(x: Tensor, k: int, g: torch.Generator) -> Tensor:
    """k-means++ seeding with the cosine distance ``1 - x . c`` (x unit rows)."""
    idx = [int(torch.randint(x.shape[0], (1,), generator=g))]
    d = 1 - x @ x[idx[0]]
    for _ in range(1, k):
        w = d.clamp_min(0).double().cpu()
        nxt = int(torch.multinomial(w, 1, generator=g)) if float(w.sum()) > 0 else int(
            torch.randint(x.shape[0], (1,), generator=g))
        idx.append(nxt)
        d = torch.minimum(d, 1 - x @ x[nxt])
    return x[idx].clone()


def spherical_kmeans(x: Tensor, k: int, g: torch.Generator, iters: int = 100, tol: float = 1e-3) -> Tensor:
    """(N, D) unit vectors -> (k, D) unit centroids: assign by cosine, centroid = normalised mean.

    Empty clusters keep their previous centroid; stops when no centroid moves by more than ``tol``.
    """
    if x.shape[0] < k:
        raise ConfigError(f"spherical_kmeans: {x.shape[0]} points cannot make {k} clusters")
    x = F.normalize(x.float(), dim=1)
    c = _kmeanspp(x, k, g)
    for _ in range(iters):
        assign = (x @ c.t()).argmax(dim=1)
        sums = torch.zeros_like(c).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k)
        new = torch.where((counts > 0)[:, None], F.normalize(sums, dim=1), c)
        shift = float((new - c).norm(dim=1).max())
        c = new
        if shift <= tol:
            break
    return c


def slerp_bound(k: Tensor, p0: Tensor, p_sel: Tensor, eps: float = 1e-8) -> tuple[Tensor, Tensor]:
    """HaLP's closed-form ``t_max`` (and ``w = acos(k . p_sel)``) for anchors ``k`` (..., D).

    At ``t_max`` the slerp from ``k`` towards ``p_sel`` is as similar to ``p0`` as to ``p_sel``.
    """
    big_k = (1 - (p_sel * p0).sum(-1)) / ((k * (p0 - p_sel)).sum(-1) + eps)
    omega = torch.acos((p_sel * k).sum(-1).clamp(-1 + 1e-7, 1 - 1e-7))
    t_max = torch.atan(torch.sin(omega) / (big_k + torch.cos(omega) + eps)) / (omega + eps)
    return t_max, omega


def hallucinate(k: Tensor, prototypes: Tensor, num_positives: int, g: torch.Generator, lam: float = 0.8,
                num_closest: int = 20, skip_closest: int = 1) -> tuple[Tensor, Tensor]:
    """Positives for anchors ``k`` (N, D) (unit) from ``prototypes`` (P, D) (unit).

    Returns the unit positives (N, G, D) and the rank-filter mask (N, G) (nearest prototype unchanged).
    """
    n, d = k.shape
    sim = k @ prototypes.t()  # (N, P)
    order = sim.argsort(dim=1)  # low to high
    p = prototypes.shape[0]
    lo = max(p - num_closest - skip_closest, 0)
    candidates = order[:, lo: p - skip_closest]  # (N, <= num_closest), the nearest skipped
    if candidates.shape[1] == 0:
        raise ConfigError(f"HaLP: {p} prototypes leave no target after skipping {skip_closest}")
    pick = (torch.rand((n, num_positives), generator=g, device=g.device) * candidates.shape[1]).long()
    pick = pick.clamp_max(candidates.shape[1] - 1).to(k.device)
    target = torch.gather(candidates, 1, pick)  # (N, G)
    nearest = order[:, -1]
    p_sel = prototypes[target]  # (N, G, D)
    p0 = prototypes[nearest][:, None].expand(n, num_positives, d)
    anchor = k[:, None].expand(n, num_positives, d)
    t_max, omega = slerp_bound(anchor, p0, p_sel)
    u = (torch.rand((n, num_positives), generator=g, device=g.device) * lam).to(k)
    t = (1 - u) * t_max
    sin_w = torch.sin(omega) + 1e-8
    gen = (torch.sin((1 - t) * omega) / sin_w)[..., None] * anchor + (torch.sin(t * omega) / sin_w)[..., None] * p_sel
    gen = F.normalize(gen, dim=-1)
    kept = (gen @ prototypes.t()).argmax(dim=-1) == nearest[:, None]
    return gen, kept


class HaLP(MoCo):
    """MoCo + hallucinated latent positives (see the module docstring for every step).

    Args (beyond :class:`MoCo`): num_prototypes (20), prototype_pool (256 newest queue entries),
    update_every (10 steps), warmup_entries (queue entries before the first prototypes; default
    ``2 * queue_size + 1``), num_positives (100), num_closest (20), lam (0.8), mu (2), window (64
    frames of the crop-resize views), start_step (optimizer steps of plain MoCo before the
    hallucinated positives join the loss: the official run resumes a MoCo checkpoint, 200 of 451 epochs).
    """

    def __init__(self, encoder: nn.Module, feature_dim: int, num_prototypes: int = 20, prototype_pool: int = 256,
                 update_every: int = 10, warmup_entries: int | None = None, num_positives: int = 100,
                 num_closest: int = 20, lam: float = 0.8, mu: float = 2.0, window: int = 64, layout: str = "ntu25",
                 queue_size: int = 16384, start_step: int = 0, **kwargs: Any) -> None:
        super().__init__(encoder, feature_dim, queue_size=queue_size, query_aug=preset("halp", layout, window),
                         key_aug=preset("halp", layout, window), layout=layout, **kwargs)
        if prototype_pool < num_prototypes:
            raise ConfigError(f"HaLP: prototype_pool ({prototype_pool}) < num_prototypes ({num_prototypes})")
        self.num_prototypes, self.prototype_pool, self.update_every = num_prototypes, prototype_pool, update_every
        self.warmup_entries = 2 * queue_size + 1 if warmup_entries is None else warmup_entries
        self.num_positives, self.num_closest, self.lam, self.mu = num_positives, num_closest, lam, mu
        if start_step < 0:
            raise ConfigError(f"HaLP: start_step must be >= 0, got {start_step}")
        self.start_step = start_step
        self.register_buffer("prototypes", torch.zeros(num_prototypes, self.queue.dim))
        self.register_buffer("prototypes_ready", torch.zeros((), dtype=torch.bool))

    @torch.no_grad()
    def update_prototypes(self, step: int) -> None:
        g = torch.Generator().manual_seed(self.seed * 7919 + step)  # the same on every process
        pool = self.queue.newest(self.prototype_pool).cpu()
        self.prototypes.copy_(spherical_kmeans(pool, self.num_prototypes, g).to(self.prototypes))
        self.prototypes_ready.fill_(True)

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        g = self.generator()
        q, k, logits, nce = self.contrast(batch["skeleton"], g)
        halp = q.new_zeros(())
        kept = q.new_zeros(())
        if bool(self.prototypes_ready) and int(self.steps) >= self.start_step:
            gen, keep = hallucinate(k, self.prototypes, self.num_positives, g, self.lam, self.num_closest)
            l_gen = torch.einsum("nd,ngd->ng", q, gen) / self.temperature
            kept = keep.sum()
            halp = -(l_gen * keep).sum() / (kept + 1e-8)
        self.enqueue(k)
        return {"loss": nce + self.mu * halp, "loss_nce": nce.detach(), "loss_halp": halp.detach(),
                "kept": kept.float().detach(), "acc": (logits.argmax(dim=1) == 0).float().mean().detach()}

    def after_step(self, step: int) -> None:
        super().after_step(step)
        warm = int(self.queue.count) >= self.warmup_entries
        if warm and (not bool(self.prototypes_ready) or step % self.update_every == 0):
            self.update_prototypes(step)


@register_objective("halp")
def halp(encoder: str | nn.Module = "bigru", encoder_kwargs: Mapping[str, Any] | None = None,
         **kwargs: Any) -> HaLP:
    """HaLP on the CMD / HaLP BiGRU by default (queue 16,384, 20 prototypes, 100 positives, mu 2)."""
    backbone, width = build_backbone(encoder, encoder_kwargs)
    return HaLP(backbone, width, **kwargs)
