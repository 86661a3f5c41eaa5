"""CascadeFormer pre-training (Peng et al., arXiv 2509.00692): masked joint-slot reconstruction
of the frame-token transformer T1, then the cascade fine-tune as a second stage.

Facts from the official ``YP4AIresearch/CascadeFormer`` (``cascadeformer_1_0/joint/ntu_60_own``:
``NTU_pretraining.py``, ``finetuning.py``, ``NTU_main.py``), re-implemented:

* Data (``NTU_main.py``): the CTR-GCN feeder on ``NTU60_CS.npz`` with ``random_rot=True`` and
  p_interval [0.5, 1] for both stages' training (test: [0.95], no rotation); the rotation
  (angles U[-0.3, 0.3] rad about x, y, z) is drawn here per sample (``rotate``,
  :func:`~mmfusion.ssl.augment.feeder_random_rot`), the crop by the data set's ``ctrgcn`` family.
* Stage 1 (:class:`CascadeMaskedJoints`, objective ``"cascadeformer"``): keep the most active
  person ((N, C, T, V, M) -> (N, T, V, C)); per sample, ``max(1, int(0.3 * T * V))`` random
  (t, v) slots get all C coordinates set to 0 (``PAD_IDX``); T1 encodes the frames and its
  linear reconstruction head predicts every joint; MSE over the masked slots' coordinates only.
  Official training: Adam, lr 1e-4, 5 % linear warm-up then one cosine half-cycle
  (``get_cosine_schedule_with_warmup``), 100 epochs, batch 64.
* Stage 2 (:class:`CascadeFinetune`, objective ``"cascadeformer_finetune"``): T1 (from stage 1,
  unfrozen) -> T2 -> cross-attention (T1 queries, T2 keys / values) -> mean over frames -> the
  official MLP head, cross-entropy with label smoothing 0.05. AdamW, lr 3e-5 (cross-subject) /
  1e-4 (cross-view), wd 1e-2, cosine to 1e-6;
  dropouts 0.2 (T2, fusion), 0.3 (head). **This stage reads the labels**: it is the paper's
  supervised second stage, run by the pre-training engine so that the cascade is one resumable
  run; an SSL protocol (linear probe, kNN) evaluates stage 1's encoder.

Ours: the masks and rotations are drawn per sample from (seed, step, index)
(:mod:`mmfusion.ssl.seeding`) instead of ``torch.randperm`` / NumPy in the workers; the official
stage 1 keeps the epoch with the lowest reconstruction loss **on the test split** and returns it,
ours keeps the last (choosing on the test split would leak it into every protocol).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...encoders.cascadeformer import CascadeFormer, select_most_active_person
from ...errors import ConfigError, MissingModalityError
from ...registry import create_model
from ..augment import feeder_random_rot
from ..objective import PretextObjective, register_objective
from ..seeding import batch_index, sample_uniform

__all__ = ["PRESETS", "STAGES", "TRAIN_PRESETS", "CascadeFinetune", "CascadeMaskedJoints", "masked_slot_loss"]


def masked_slot_loss(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """MSE over the coordinates of masked slots: pred, target (N, T, V, C), mask (N, T, V) bool."""
    m = mask[..., None].expand_as(target).float()
    return (((pred.float() - target.float()) ** 2) * m).sum() / m.sum().clamp_min(1.0)


def _backbone(encoder: nn.Module) -> CascadeFormer:
    enc = getattr(encoder, "encoder", encoder)
    if not isinstance(enc, CascadeFormer):
        raise ConfigError(f"CascadeFormer objectives need a CascadeFormer encoder, got {type(enc).__name__}")
    return enc


class CascadeMaskedJoints(PretextObjective):
    """Stage 1: masked joint-slot reconstruction with T1.

    Shapes: batch ``"skeleton"`` (N, C, T<=64, V, M), ``"index"`` (N,); ``features(x)``: (N, d)
    mean over frames of T1's tokens.
    """

    def __init__(self, encoder: nn.Module, mask_ratio: float = 0.3, seed: int = 0, rotate: float = 0.3) -> None:
        super().__init__(encoder)
        if not 0 < mask_ratio < 1:
            raise ConfigError(f"CascadeFormer: mask_ratio must be in (0, 1), got {mask_ratio}")
        self.mask_ratio, self.seed, self.rotate = mask_ratio, seed, rotate
        # the classifier freezes the reconstruction head (no use in classification); here it is trained,
        # and the classifier's own pooled-feature layers (no part in this loss) are frozen instead, so
        # that DDP sees no trainable parameter outside the loss
        _backbone(encoder).t1.reconstruction_head.requires_grad_(True)
        for name in ("norm", "pre_logits", "head"):
            part = getattr(encoder, name, None)
            if isinstance(part, nn.Module):
                part.requires_grad_(False)
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    def after_step(self, step: int) -> None:
        self.step.fill_(step)

    def mask(self, frames: Tensor, index: Tensor) -> tuple[Tensor, Tensor]:
        """(N, T, V, C) -> (masked frames, mask (N, T, V) bool)."""
        n, t, v, _ = frames.shape
        k = max(1, int(self.mask_ratio * t * v))
        scores = sample_uniform(self.seed, int(self.step), index, (t * v,), frames.device)
        mask = torch.zeros(n, t * v, dtype=torch.bool, device=frames.device)
        mask.scatter_(1, scores.argsort(dim=1)[:, :k], True)
        mask = mask.view(n, t, v)
        return frames.masked_fill(mask[..., None], 0.0), mask

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        t1 = _backbone(self.encoder).t1
        index = batch_index(batch, "CascadeFormer")
        x = feeder_random_rot(batch["skeleton"], self.rotate, self.seed, int(self.step), index)
        frames = select_most_active_person(x)
        masked, mask = self.mask(frames, index)
        pred = t1(masked)
        loss = masked_slot_loss(pred, frames, mask)
        return {"loss": loss, "mse_all": F.mse_loss(pred.detach().float(), frames.float())}

    @torch.no_grad()
    def features(self, skeleton: Tensor) -> Tensor:
        return _backbone(self.encoder)(skeleton)


class CascadeFinetune(PretextObjective):
    """Stage 2: the cascade (T1 -> T2 -> cross-attention -> head) trained with cross-entropy.

    ``encoder`` is the full classifier (``create_model("cascadeformer", num_classes=K)``); the
    batch's ``"label"`` is read (supervised stage, see the module docstring). Training clips get
    the feeder's random rotation (``rotate`` rad, as stage 1).
    """

    def __init__(self, encoder: nn.Module, seed: int = 0, rotate: float = 0.3, label_smoothing: float = 0.05) -> None:
        super().__init__(encoder)
        self.seed, self.rotate, self.label_smoothing = seed, rotate, label_smoothing
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    def after_step(self, step: int) -> None:
        self.step.fill_(step)

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        if "label" not in batch:
            raise MissingModalityError("label", "the CascadeFormer fine-tune stage is supervised")
        x = feeder_random_rot(batch["skeleton"], self.rotate, self.seed, int(self.step),
                              batch_index(batch, "CascadeFormer fine-tune"))
        logits = self.encoder({"skeleton": x})["logits"]
        target = torch.as_tensor(batch["label"], device=logits.device).long()
        loss = F.cross_entropy(logits.float(), target, label_smoothing=self.label_smoothing)
        return {"loss": loss, "train_top1": (logits.detach().argmax(1) == target).float().mean()}

    @torch.no_grad()
    def features(self, skeleton: Tensor) -> Tensor:
        return _backbone(self.encoder)(skeleton)


def _size(encoder_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(encoder_kwargs or {})


@register_objective("cascadeformer")
def cascadeformer(encoder: str = "cascadeformer_t1", encoder_kwargs: Mapping[str, Any] | None = None,
                  mask_ratio: float = 0.3, seed: int = 0, rotate: float = 0.3) -> CascadeMaskedJoints:
    """Stage 1 on T1 (``create_model(encoder, num_classes=0, **encoder_kwargs)``; cross-subject size by default)."""
    kwargs = _size(encoder_kwargs)
    obj = CascadeMaskedJoints(create_model(encoder, num_classes=0, **kwargs), mask_ratio, seed, rotate)
    obj.encoder_name, obj.encoder_kwargs = encoder, kwargs
    return obj


@register_objective("cascadeformer_finetune")
def cascadeformer_finetune(encoder: str = "cascadeformer", encoder_kwargs: Mapping[str, Any] | None = None,
                           num_classes: int = 60, seed: int = 0, rotate: float = 0.3,
                           label_smoothing: float = 0.05) -> CascadeFinetune:
    """Stage 2 on the full cascade classifier (T1 loaded from stage 1 by the engine)."""
    kwargs = _size(encoder_kwargs)
    obj = CascadeFinetune(create_model(encoder, num_classes=num_classes, **kwargs), seed, rotate, label_smoothing)
    obj.encoder_name, obj.encoder_kwargs = encoder, kwargs
    return obj


_CPU_SIZE = {"d_model": 64, "nhead": 4, "num_layers": 2, "ffn": 128}
_CS_SIZE = {"d_model": 768, "nhead": 16, "num_layers": 16}
_CV_SIZE = {"d_model": 512, "nhead": 8, "num_layers": 12}

#: stage-1 builder kwargs (what ``--preset`` names)
PRESETS: dict[str, dict[str, Any]] = {
    "paper_ntu60": {"encoder": "cascadeformer_t1", "encoder_kwargs": _CS_SIZE, "mask_ratio": 0.3},
    "paper_ntu60_cv": {"encoder": "cascadeformer_t1", "encoder_kwargs": _CV_SIZE, "mask_ratio": 0.3},
    "cpu": {"encoder": "cascadeformer_t1", "encoder_kwargs": _CPU_SIZE, "mask_ratio": 0.3},
}

_PRETRAIN = {"optimizer": "adamw", "weight_decay": 0.0, "betas": (0.9, 0.999)}  # Adam: AdamW without decay
TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    # get_cosine_schedule_with_warmup(0.05 * total steps): 5 of 100 epochs
    "paper_ntu60": {**_PRETRAIN, "epochs": 100, "warmup_epochs": 5, "global_batch_size": 64, "lr": 1e-4,
                    "clip_len": 64},
    "paper_ntu60_cv": {**_PRETRAIN, "epochs": 100, "warmup_epochs": 5, "global_batch_size": 64, "lr": 1e-4,
                       "clip_len": 64},
    "cpu": {**_PRETRAIN, "epochs": 3, "global_batch_size": 64, "lr": 1e-3, "warmup_epochs": 0.5, "clip_len": 32},
}

_FINETUNE = {"optimizer": "adamw", "weight_decay": 1e-2, "betas": (0.9, 0.999), "min_lr": 1e-6}
_FT_TRAIN: dict[str, dict[str, Any]] = {
    "paper_ntu60": {**_FINETUNE, "epochs": 100, "global_batch_size": 64, "lr": 3e-5},
    "paper_ntu60_cv": {**_FINETUNE, "epochs": 100, "global_batch_size": 64, "lr": 1e-4},
    "cpu": {**_FINETUNE, "epochs": 2, "global_batch_size": 64, "lr": 3e-4, "warmup_epochs": 0.5},
}
_FT_ENCODER = {"paper_ntu60": "cascadeformer", "paper_ntu60_cv": "cascadeformer_cv", "cpu": "cascadeformer"}


def STAGES(preset: str) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:  # noqa: N802 - the preset hook's name
    """Masked-joint pre-training, then the cascade fine-tune (T1 from stage 1)."""
    pre = PRESETS[preset]
    train = {k: v for k, v in TRAIN_PRESETS[preset].items() if k != "clip_len"}
    ft = {"encoder": _FT_ENCODER[preset], "encoder_kwargs": pre["encoder_kwargs"]}
    return [("masked_joints", "cascadeformer", dict(pre), train),
            ("cascade_finetune", "cascadeformer_finetune", ft, dict(_FT_TRAIN[preset]))]
