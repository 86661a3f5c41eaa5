"""STARS (Mehraban et al., "STARS: Self-supervised Tuning for 3D Action Recognition in Skeleton
Sequences", arXiv 2407.10935): NNCLR tuning of a MAMP-pretrained transformer, after
``TaatiTeam/STARS`` ``net/nnclr.py`` and ``processor/pretrain_clrtuning.py`` (re-implemented).

* Encoder: the MAMP transformer (``mamp_transformer``; its weights come from a MAMP stage); the
  representation is its mean-pooled token output (mean over tokens, then persons), (N, 256).
* Head: projector ``BatchNorm1d(D)``; predictor ``Linear(D, 4096, no bias) -> BN -> ReLU ->
  Linear(4096, D)``. Both outputs are L2-normalised.
* Support queue of 32,768 projections **with the sample ids** (dataset indices). For each view the
  nearest neighbour of its projection in the queue (exact top-1) is found, entries of the same
  sample (earlier epochs) excluded (similarity set to -1).
* Symmetric loss, tau = 0.07: ``L = [CE(NN(z1) P0^T / tau, diag) + CE(NN(z0) P1^T / tau, diag)] / 2``
  with the predictions of the global batch (gathered with gradient across processes; the label of
  row i of rank r is ``r * n + i``); view 0's projections and ids are enqueued (gathered).
* Views: none (the official configs use no augmentation: both views are the same clip; all
  positive diversity comes from the neighbour); ``aug="basic"`` etc. picks a preset instead.

Stages (official configs): ``"head"`` - encoder frozen, only projector + predictor train (20
epochs, "second"); ``"tune"`` - the upper half of the blocks (index >= depth / 2) with layer-wise
learning rates ``lr * decay ** (depth - i)`` (decay 0.45 on NTU-60), plus the final norm and the
head at ``lr`` (10 epochs, "third"; the "merged" config runs it straight from MAMP weights).
:meth:`STARS.stage_params` gives the trainable prefixes, :meth:`STARS.freeze_prefixes` the frozen
ones (for the engine's ``StageConfig.freeze``), :meth:`STARS.param_groups` the optimizer groups
with their learning rates, :meth:`STARS.set_stage` sets ``requires_grad``.

Differences (ours): no DDP batch shuffle of the key view (there is no momentum encoder; the
official shuffle only changes which BN statistics each GPU sees); frozen parameters get
``requires_grad=False`` (the official ``param.required_grad`` typo leaves them computing
gradients); the AdamW weight decay is whatever the optimizer is given (the official AdamW branch
drops its configured value and uses torch's 0.01).

Shapes: batch ``{"skeleton": (N, C, T, V, M), "index": (N,)}``; ``forward`` -> ``{"loss", "loss0",
"loss1", "nn_sim"}``; ``features`` -> (N, D).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from ...errors import ConfigError
from ..augment import SkeletonAug, preset
from ..objective import PretextObjective, register_objective
from ..queue import TensorQueue
from .moco import build_backbone

__all__ = ["PRESETS", "STAGES", "STAGE_NAMES", "STARS", "TRAIN_PRESETS", "nnclr_loss"]

#: builder kwargs; the encoder sizes equal the MAMP presets' so the MAMP stage's weights load
PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {"encoder": "mamp_transformer_tiny", "encoder_kwargs": {"num_frames": 32, "head": "linprobe"},
            "queue_size": 1024, "temperature": 0.07, "hidden_dim": 512, "layer_decay": 0.45},
    "paper_ntu60": {"encoder": "mamp_transformer", "encoder_kwargs": {"num_frames": 120, "head": "linprobe"},
                    "queue_size": 32768, "temperature": 0.07, "hidden_dim": 4096, "layer_decay": 0.45, "aug": "none"},
}

#: engine settings of each STARS stage (official ``clrtuning_*_{second,third}.yaml``: AdamW betas (0.9,
#: 0.95), lr 1e-3, batch 32 x 4 GPUs, gradient clip 3; 20 epochs head-only, then 10 epochs tuning)
TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {"epochs": 2, "global_batch_size": 64, "optimizer": "adamw", "betas": (0.9, 0.95), "lr": 1e-3,
            "weight_decay": 0.01, "clip_grad": 3.0, "clip_len": 32},
    "paper_ntu60": {"epochs": 20, "global_batch_size": 128, "optimizer": "adamw", "betas": (0.9, 0.95), "lr": 1e-3,
                    "weight_decay": 0.01, "clip_grad": 3.0, "clip_len": 120},
}
_TUNE_EPOCHS = {"cpu": 2, "paper_ntu60": 10}

STAGE_NAMES: tuple[str, ...] = ("head", "tune")


def STAGES(preset: str) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:  # noqa: N802 - the preset hook's name
    """MAMP pre-training, then STARS' head-only stage, then the upper-half tuning stage."""
    from . import mamp  # deferred: helper F's module (the MAMP stage), merged beside this one

    train = {k: v for k, v in TRAIN_PRESETS[preset].items() if k != "clip_len"}
    mamp_train = {k: v for k, v in mamp.TRAIN_PRESETS[preset].items() if k != "clip_len"}
    return [("mamp", "mamp", dict(mamp.PRESETS[preset]), mamp_train),
            ("head", "stars", {**PRESETS[preset], "stage": "head"}, train),
            ("tune", "stars", {**PRESETS[preset], "stage": "tune"}, {**train, "epochs": _TUNE_EPOCHS[preset]})]


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _gather_with_grad(x: Tensor) -> Tensor:
    _, world = _world()
    if world == 1:
        return x
    from torch.distributed.nn.functional import all_gather  # deferred: only under torch.distributed

    return torch.cat(all_gather(x.contiguous()))


def nnclr_loss(predicted: Tensor, neighbours: Tensor, temperature: float) -> Tensor:
    """``CE(neighbours @ gather(predicted)^T / tau, rank * n + arange(n))`` (NNCLR, one direction).

    ``predicted`` (n, D) this process's predictions (gathered with gradient); ``neighbours`` (n, D).
    """
    rank, _ = _world()
    everything = _gather_with_grad(predicted)
    logits = neighbours @ everything.t() / temperature
    n = neighbours.shape[0]
    labels = torch.arange(rank * n, (rank + 1) * n, device=predicted.device)
    return F.cross_entropy(logits, labels)


class STARS(PretextObjective):
    """NNCLR tuning with a support queue of (projection, sample id) pairs and STARS' stages.

    Args:
        encoder: a ``mamp_transformer*`` model (``model.encoder`` is the transformer).
        queue_size, temperature: 32,768 and 0.07.
        hidden_dim: predictor width (4096).
        layer_decay: layer-wise lr decay of the ``"tune"`` stage (0.45 NTU-60, 0.40 NTU-120, 0.35 PKU).
        topk: 0 - exact nearest neighbour (official); k > 0 - one of the top k at random.
        aug: view preset (``"none"``: official) or module.
        stage: ``"head"``, ``"tune"`` or ``None`` (everything trainable).
    """

    def __init__(self, encoder: nn.Module, queue_size: int = 32768, temperature: float = 0.07,
                 hidden_dim: int = 4096, layer_decay: float = 0.45, topk: int = 0,
                 aug: str | SkeletonAug = "none", layout: str = "ntu25", stage: str | None = None,
                 seed: int = 0) -> None:
        super().__init__(encoder)
        backbone = getattr(encoder, "encoder", encoder)
        if not hasattr(backbone, "blocks") or not hasattr(backbone, "norm"):
            raise ConfigError("STARS: the encoder must be a MAMP-style transformer (blocks + norm); "
                              f"got {type(backbone).__name__}")
        self.backbone = [backbone]  # a plain list: the transformer stays registered once, under encoder
        dim = backbone.out_dim
        self.temperature, self.topk, self.layer_decay, self.seed = temperature, topk, layer_decay, seed
        self.projector = nn.BatchNorm1d(dim)
        self.predictor = nn.Sequential(nn.Linear(dim, hidden_dim, bias=False), nn.BatchNorm1d(hidden_dim),
                                       nn.ReLU(inplace=True), nn.Linear(hidden_dim, dim))
        self.queue = TensorQueue(queue_size, dim, with_ids=True, init="randn", seed=seed)
        self.aug = preset(aug, layout) if isinstance(aug, str) else aug
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self.depth = len(backbone.blocks)
        self.stage = stage
        if stage is not None:
            self.set_stage(stage)

    # -- stages --------------------------------------------------------------------------------
    def _prefix(self) -> str:
        return "encoder.encoder." if getattr(self.encoder, "encoder", None) is self.backbone[0] else "encoder."

    def stage_params(self, stage: str) -> tuple[str, ...]:
        """Parameter-name prefixes trained in ``stage``."""
        if stage not in STAGE_NAMES:
            raise ConfigError(f"STARS: stage must be one of {STAGE_NAMES}, got {stage!r}")
        head = ("projector.", "predictor.")
        if stage == "head":
            return head
        enc = self._prefix()
        return (*head, f"{enc}norm.", *(f"{enc}blocks.{i}." for i in range(self.depth // 2, self.depth)))

    def freeze_prefixes(self, stage: str) -> tuple[str, ...]:
        """Names of the parameters frozen in ``stage`` (usable as ``StageConfig.freeze`` prefixes)."""
        keep = self.stage_params(stage)
        return tuple(n for n, _ in self.named_parameters() if not n.startswith(keep))

    def set_stage(self, stage: str) -> None:
        keep = self.stage_params(stage)
        for n, p in self.named_parameters():
            p.requires_grad_(n.startswith(keep))
        self.stage = stage

    def lr_scale(self, name: str) -> float:
        """Layer-wise learning-rate multiplier of a parameter in the ``"tune"`` stage."""
        enc = self._prefix()
        if name.startswith(f"{enc}blocks."):
            i = int(name[len(enc) + 7:].split(".")[0])
            return self.layer_decay ** (self.depth - i)
        return 1.0

    def param_groups(self, stage: str, lr: float) -> list[dict[str, Any]]:
        """Optimizer groups of ``stage``: one per parameter with its (layer-decayed) ``lr`` and ``name``."""
        keep = self.stage_params(stage)
        return [{"params": [p], "lr": lr * (self.lr_scale(n) if stage == "tune" else 1.0), "name": n}
                for n, p in self.named_parameters() if n.startswith(keep)]

    # -- the objective -------------------------------------------------------------------------
    def _embed(self, x: Tensor) -> tuple[Tensor, Tensor]:
        pooled = self.backbone[0](x)  # (N, D): mean over tokens, then persons
        z = self.projector(pooled)
        return F.normalize(self.predictor(z), dim=1), F.normalize(z, dim=1)

    @torch.no_grad()
    def nearest(self, z: Tensor, ids: Tensor) -> Tensor:
        """(N, D) projections -> (N, D) nearest queue entries, the sample's own entries excluded."""
        sim = z @ self.queue.keys.t()
        sim = sim.masked_fill(self.queue.ids[None, :] == ids[:, None], -1.0)
        if self.topk == 0:
            idx = sim.argmax(dim=1)
        else:
            cand = sim.topk(self.topk, dim=1).indices
            g = torch.Generator().manual_seed(self.seed * 31 + int(self.steps))
            dice = torch.randint(self.topk, (z.shape[0],), generator=g).to(z.device)
            idx = cand[torch.arange(z.shape[0], device=z.device), dice]
        return self.queue.keys[idx].clone()

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        x, ids = batch["skeleton"], batch["index"].to(batch["skeleton"].device)
        rank, _ = _world()
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + int(self.steps) * 101 + rank)
        p0, z0 = self._embed(self.aug(x, g))
        p1, z1 = self._embed(self.aug(x, g))
        nn0, nn1 = self.nearest(z0.detach(), ids), self.nearest(z1.detach(), ids)
        loss0 = nnclr_loss(p0, nn1, self.temperature)
        loss1 = nnclr_loss(p1, nn0, self.temperature)
        if self.training:
            self.queue.enqueue(z0.detach(), ids)
        return {"loss": (loss0 + loss1) / 2, "loss0": loss0.detach(), "loss1": loss1.detach(),
                "nn_sim": (nn0 * z0.detach()).sum(dim=1).mean()}

    def after_step(self, step: int) -> None:
        self.steps.fill_(step)

    @torch.no_grad()
    def features(self, skeleton: Tensor) -> Tensor:
        """(N, C, T, V, M) -> (N, D) mean-pooled transformer features (before the projector)."""
        return self.backbone[0](skeleton)


@register_objective("stars")
def stars(encoder: str | nn.Module = "mamp_transformer", encoder_kwargs: Mapping[str, Any] | None = None,
          **kwargs: Any) -> STARS:
    """STARS' NNCLR tuning on the MAMP transformer (load MAMP weights into ``objective.encoder`` first)."""
    kw = {"head": "linprobe", **dict(encoder_kwargs or {})} if isinstance(encoder, str) and "mamp" in encoder \
        else encoder_kwargs
    backbone, _ = build_backbone(encoder, kw)
    return STARS(backbone, **kwargs)
