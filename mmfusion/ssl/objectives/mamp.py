"""MAMP: masked motion prediction with motion-aware masking (Mao et al., ICCV 2023).

Re-implemented after the official ``maoyunyao/MAMP`` (``model_mamp/transformer.py``,
``config/ntu60_xsub_joint/pretrain_mamp_t120_layer8+3_mask90.yaml``); facts only, no code copied.

* Persons are folded into the batch: (N, C, T, V, M) -> N*M sequences (T, V, C); tokens are one
  joint over ``t_patch`` frames, L = T/t_patch * V (750 for NTU at T = 120).
* **Motion-aware masking** (:func:`motion_aware_mask`): per-token motion = mean over the token's
  t_patch*C values of |patch(t') - patch(t'-1)| of the *input* patches (token t'=0 copies t'=1);
  divided by (per-sequence max x tau + 1e-10), softmax over the L tokens; Gumbel noise
  ``log p - log(-log(u + 1e-10) + 1e-10)`` is sorted ascending and the first
  ``int(L * (1 - mask_ratio))`` tokens are kept, so high-motion tokens are masked preferentially.
  ``tau <= 0`` is MAE's random masking (noise = u).
* The encoder sees only the kept tokens (10 %); the decoder (``decoder_embed``, a learned mask
  token, its own temporal + spatial position tables, ``decoder_depth`` pre-LN blocks, LayerNorm,
  linear to t_patch*C) predicts every token.
* **Target** (:func:`motion_target`): frame-difference motion ``x[t+s] - x[t]`` (last s frames
  0), patchified like the input ((t, C) per token), normalised per token by its mean and
  (unbiased) variance: ``(y - mean) / sqrt(var + 1e-6)``.
* **Loss**: MSE over the t_patch*C values, averaged over the masked tokens only.
* Augmentation (official feeder): random rotation about x, y, z with angles U[-0.3, 0.3] rad
  (R = Rz Ry Rx, same for all frames of a sequence) and the random valid crop resized to the
  window (the data set's ``ctrgcn`` family does the crop). The rotation is drawn here, per
  sample, from (seed, step, index) (:mod:`mmfusion.ssl.seeding`), as are the mask noises.

Differences: the mask noise comes from per-sample generators (same masks on any process count
and after resume) instead of ``torch.rand`` on the device; the official rotation is drawn in
the data workers with NumPy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...encoders.skeleton_transformer import SkeletonTransformer, TransformerBlock, init_linear_layernorm
from ...errors import ConfigError
from ...registry import create_model
from ..augment import feeder_random_rot, random_rotation
from ..objective import PretextObjective, register_objective
from ..seeding import batch_index, sample_uniform

__all__ = ["MAMP", "PRESETS", "TRAIN_PRESETS", "motion_aware_mask", "motion_target", "normalize_patches",
           "random_rotation", "token_motion"]


def normalize_patches(y: Tensor) -> Tensor:
    """Each patch (last dim) to mean 0, unbiased variance 1: ``(y - mean) / sqrt(var + 1e-6)``."""
    return (y - y.mean(dim=-1, keepdim=True)) / (y.var(dim=-1, keepdim=True) + 1.0e-6) ** 0.5


def motion_target(x: Tensor, t_patch: int, stride: int = 1, normalize: bool = True) -> Tensor:
    """MAMP's regression target: (N, C, T, V, M) -> (N*M, L, t_patch*C), features ordered (t, C)."""
    n, c, t, v, m = x.shape
    seq = x.permute(0, 4, 2, 3, 1).reshape(n * m, t, v, c)
    motion = torch.zeros_like(seq)
    motion[:, :-stride] = seq[:, stride:] - seq[:, :-stride]
    tp = t // t_patch
    y = motion.reshape(n * m, tp, t_patch, v, c).permute(0, 1, 3, 2, 4).reshape(n * m, tp * v, t_patch * c)
    if normalize:
        y = normalize_patches(y)
    return y


def token_motion(patches: Tensor) -> Tensor:
    """Per-token motion intensity: (B, T', V, P) raw patches -> (B, T'*V)."""
    b, tp, v, _ = patches.shape
    if tp < 2:
        raise ConfigError(f"MAMP: motion-aware masking needs at least 2 temporal patches, got {tp}")
    motion = torch.zeros_like(patches)
    motion[:, 1:] = (patches[:, 1:] - patches[:, :-1]).abs()
    motion[:, 0] = motion[:, 1]
    return motion.mean(dim=-1).reshape(b, tp * v)


def motion_aware_mask(patches: Tensor, mask_ratio: float, tau: float, uniform: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Choose the tokens the encoder sees.

    Args:
        patches: (B, T', V, P) raw input patches.
        mask_ratio: fraction of tokens hidden (0.9).
        tau: temperature (0.8 NTU-60, 0.75 NTU-120); <= 0: uniform random masking.
        uniform: (B, L) U[0, 1) noise.

    Returns:
        keep_idx (B, L_keep) long (in sorted-noise order), mask (B, L) bool (True = hidden),
        ids_restore (B, L) long (position of each token in the [kept, masked] order).
    """
    b, tp, v, _ = patches.shape
    length = tp * v
    keep = int(length * (1 - mask_ratio))
    if keep < 1:
        raise ConfigError(f"MAMP: mask_ratio {mask_ratio} leaves no visible token of {length}")
    if tau > 0:
        motion = token_motion(patches)
        motion = motion / (motion.max(dim=-1, keepdim=True).values * tau + 1e-10)
        prob = F.softmax(motion, dim=-1)
        noise = torch.log(prob) - torch.log(-torch.log(uniform + 1e-10) + 1e-10)
    else:
        noise = uniform
    ids_shuffle = torch.argsort(noise, dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    mask = torch.ones(b, length, device=patches.device)
    mask[:, :keep] = 0
    mask = torch.gather(mask, 1, ids_restore).bool()
    return ids_shuffle[:, :keep], mask, ids_restore


class MAMP(PretextObjective):
    """Masked motion prediction around a registered skeleton-transformer classifier.

    Args:
        encoder: a classifier whose ``.encoder`` is a :class:`SkeletonTransformer`
            (``create_model("mamp_transformer", num_classes=0, head="linprobe")``).
        decoder_dim, decoder_depth: 256, 3 (NTU-60) / 5 (NTU-120, PKU).
        mask_ratio, tau, motion_stride, norm_target: 0.9, 0.8, 1, True.
        rotate: max rotation angle (rad) of the augmentation (0.3; 0 turns it off).
        seed: seeds the per-sample masks and rotations.

    Shapes: batch ``"skeleton"`` (N, C, T, V, M) with T a multiple of t_patch, ``"index"`` (N,);
    ``features(x)``: (N, D) mean over tokens and persons (what MAMP's linear probe reads).
    """

    def __init__(self, encoder: nn.Module, decoder_dim: int = 256, decoder_depth: int = 3, mask_ratio: float = 0.9,
                 tau: float = 0.8, motion_stride: int = 1, norm_target: bool = True, rotate: float = 0.3,
                 seed: int = 0) -> None:
        super().__init__(encoder)
        backbone = getattr(encoder, "encoder", encoder)
        if not isinstance(backbone, SkeletonTransformer):
            raise ConfigError(f"MAMP needs a skeleton transformer encoder, got {type(backbone).__name__}")
        if not 0 < mask_ratio < 1:
            raise ConfigError(f"MAMP: mask_ratio must be in (0, 1), got {mask_ratio}")
        self.mask_ratio, self.tau, self.motion_stride = mask_ratio, tau, motion_stride
        self.norm_target, self.rotate, self.seed = norm_target, rotate, seed
        d, heads = backbone.out_dim, backbone.blocks[0].attn.num_heads if backbone.blocks else 8
        tp, v = backbone.num_frames // backbone.t_patch, backbone.num_joints
        mlp_ratio = backbone.blocks[0].mlp[0].out_features / d if backbone.blocks else 4.0
        self.decoder_embed = nn.Linear(d, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        self.decoder_blocks = nn.ModuleList([TransformerBlock(decoder_dim, heads, mlp_ratio, True)
                                             for _ in range(decoder_depth)])
        self.decoder_norm = nn.LayerNorm(decoder_dim)
        self.decoder_temp_embed = nn.Parameter(torch.zeros(1, tp, 1, decoder_dim))
        self.decoder_pos_embed = nn.Parameter(torch.zeros(1, 1, v, decoder_dim))
        self.decoder_pred = nn.Linear(decoder_dim, backbone.t_patch * backbone.in_channels)
        self.register_buffer("step", torch.zeros((), dtype=torch.long))
        for p in (self.mask_token, self.decoder_temp_embed, self.decoder_pos_embed):
            nn.init.trunc_normal_(p, std=0.02)
        init_linear_layernorm([self.decoder_embed, self.decoder_pred, *self.decoder_blocks.modules(),
                               self.decoder_norm])

    @property
    def backbone(self) -> SkeletonTransformer:
        """The transformer inside the classifier (not a second registered module: one set of keys)."""
        return getattr(self.encoder, "encoder", self.encoder)

    def after_step(self, step: int) -> None:
        self.step.fill_(step)  # the masks of the next step depend on it (and resume with it)

    def augment(self, x: Tensor, index: Tensor, step: int) -> Tensor:
        """Random rotation per sample (identity when ``rotate == 0``); (N, C, T, V, M)."""
        return feeder_random_rot(x, self.rotate, self.seed, step, index)

    def decode(self, latent: Tensor, ids_restore: Tensor, tp: int, v: int) -> Tensor:
        """(B, L_keep, D) encoder tokens -> (B, L, t_patch*C) predictions."""
        b = latent.shape[0]
        y = self.decoder_embed(latent)
        c = y.shape[-1]
        y = torch.cat([y, self.mask_token.expand(b, tp * v - y.shape[1], c)], dim=1)
        y = torch.gather(y, 1, ids_restore.unsqueeze(-1).expand(-1, -1, c)).view(b, tp, v, c)
        y = (y + self.decoder_pos_embed + self.decoder_temp_embed[:, :tp]).reshape(b, tp * v, c)
        for blk in self.decoder_blocks:
            y = blk(y)
        return self.decoder_pred(self.decoder_norm(y))

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        x = batch["skeleton"]
        index = batch_index(batch, "MAMP")
        step = int(self.step)
        x = self.augment(x, index, step)
        n, m = x.shape[0], x.shape[-1]
        patches = self.backbone.patchify(x)  # (NM, T', V, t_patch*C), validates the shape
        tp, v = patches.shape[1], patches.shape[2]
        u = sample_uniform(self.seed, step, index, (m, tp * v), x.device).reshape(n * m, tp * v)
        keep_idx, mask, ids_restore = motion_aware_mask(patches, self.mask_ratio, self.tau, u)
        latent = self.backbone.forward_tokens(x, keep_idx=keep_idx)
        pred = self.decode(latent, ids_restore, tp, v)
        target = motion_target(x, self.backbone.t_patch, self.motion_stride, self.norm_target)
        per_token = ((pred.float() - target.float()) ** 2).mean(dim=-1)
        maskf = mask.float()
        loss = (per_token * maskf).sum() / maskf.sum()
        return {"loss": loss, "mse_visible": ((per_token * (1 - maskf)).sum() / (1 - maskf).sum()).detach()}

    @torch.no_grad()
    def features(self, skeleton: Tensor) -> Tensor:
        return self.backbone(skeleton)


@register_objective("mamp")
def mamp(encoder: str = "mamp_transformer", encoder_kwargs: Mapping[str, Any] | None = None, decoder_dim: int = 256,
         decoder_depth: int = 3, mask_ratio: float = 0.9, tau: float = 0.8, motion_stride: int = 1,
         norm_target: bool = True, rotate: float = 0.3, seed: int = 0) -> MAMP:
    """MAMP with the official NTU-60 defaults (decoder 3 x 256, mask 0.9, tau 0.8).

    The encoder is ``create_model(encoder, num_classes=0, head="linprobe", **encoder_kwargs)``
    (the linear-probe head has no parameters at K = 0, so no unused weights reach DDP).
    """
    kwargs = {"head": "linprobe", **dict(encoder_kwargs or {})}
    obj = MAMP(create_model(encoder, num_classes=0, **kwargs), decoder_dim, decoder_depth, mask_ratio, tau,
               motion_stride, norm_target, rotate, seed)
    obj.encoder_name, obj.encoder_kwargs = encoder, kwargs
    return obj


#: builder kwargs: the paper's (``config/ntu*_joint/pretrain_mamp_t120_layer8+*_mask90.yaml``) and
#: ours for the CPU skeleton world (2 layers x 64-d tiny transformer, T = 32: 200 tokens, 20 visible)
PRESETS: dict[str, dict[str, Any]] = {
    "paper_ntu60": {"encoder": "mamp_transformer", "encoder_kwargs": {"num_frames": 120}, "decoder_dim": 256,
                    "decoder_depth": 3, "mask_ratio": 0.9, "tau": 0.8},
    "paper_ntu120": {"encoder": "mamp_transformer", "encoder_kwargs": {"num_frames": 120}, "decoder_dim": 256,
                     "decoder_depth": 5, "mask_ratio": 0.9, "tau": 0.75},
    "cpu": {"encoder": "mamp_transformer_tiny", "encoder_kwargs": {"num_frames": 32}, "decoder_dim": 64,
            "decoder_depth": 1, "mask_ratio": 0.9, "tau": 0.8},
}

#: engine settings (TrainConfig fields) of the same presets; the clip length goes to the data set
TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    "paper_ntu60": {"epochs": 400, "warmup_epochs": 20, "global_batch_size": 128, "optimizer": "adamw",
                    "betas": (0.9, 0.95), "lr": 1e-3, "min_lr": 5e-4, "weight_decay": 0.05, "clip_len": 120},
    "paper_ntu120": {"epochs": 400, "warmup_epochs": 20, "global_batch_size": 128, "optimizer": "adamw",
                     "betas": (0.9, 0.95), "lr": 1e-3, "min_lr": 5e-4, "weight_decay": 0.05, "clip_len": 120},
    "cpu": {"epochs": 6, "warmup_epochs": 0.5, "global_batch_size": 64, "optimizer": "adamw", "betas": (0.9, 0.95),
            "lr": 1e-3, "min_lr": 5e-4, "weight_decay": 0.05, "clip_len": 32},
}
