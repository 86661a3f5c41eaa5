"""FineTec (AAAI 2026, arXiv 2512.25067): skeleton action recognition under temporal corruption.

Size: the paper's four stages and their ablation switches in one model file (a file per stage
would split one documented pipeline whose stages share the visibility / span bookkeeping).

**A documented re-implementation**: the authors released no code (``SmartDianLab/FineTec`` holds
a README only), so every size, layer choice and default below is ours, following the paper's
description (../shared/specs/skeleton_papers.md section 10). Pipeline, for a skeleton batch
``(N, C, T, V, M)`` whose lost frames are zero (:mod:`mmfusion.data.skeleton.corruption`):

1. :class:`ContextCompletion` -- in-context completion. Persons are folded into the batch,
   ``(B, C, T, V)`` with B = N * M. A frame is *visible* when any joint of any person is
   non-zero. The prompt pair is the prior sequence (the mean training sequence, a buffer set
   with :meth:`FineTec.set_prior`, where the paper averages a Human3.6M library) masked like the
   query, and the prior itself. Per token (t, v) the features ``[query, visible, interpolated
   query, masked prior, prior]`` (clips centred) are embedded and mixed by spatial (across V),
   temporal (across T) and channel MLPs (MLP-Mixer style blocks, ours), which predict a correction
   of the linear interpolation; visible frames are kept, lost ones take the prediction (``S_base``).
   Pre-training loss ``MSE(S_gt, S_base) + MSE(prior, completion of the masked
   prior)`` (:meth:`FineTec.completion_loss`); then frozen. Ours (``complete_ends=False``): a lost
   prefix / suffix stays zero in ``S_base`` and in the acceleration (a held pose there measured
   worse than zeros: docs/robustness.md); only gaps between visible frames are completed.
2. Five-region decomposition (``layout.part_groups["finetec"]``, coco17 or ntu25): a region's
   motion: mean over its joints of the mean displacement between non-zero frames of ``S_base``; the
   two most moving regions are dynamic. ``S_dyna`` holds the dynamic regions' joints (others
   zero), ``S_stat`` the static ones. While training, ``S_dyna`` gets strong spatio-temporal
   perturbation (random temporal crop resized back, random frames dropped and re-interpolated
   from their neighbours; per clip with probability ``perturb_p``, ours: 0.5) and ``S_stat`` weak
   spatial perturbation (x mirrored about the static regions' own x centre, p 0.5).
3. :class:`CrossAttentionFusion`: the ``S_base`` joints of each frame attend to the joints of
   ``S_dyna`` and ``S_stat`` of the same frame; ``S_pred = S_base + out`` (output layer
   zero-initialised, so training starts from ``S_base``).
4. :class:`LagrangianAcceleration`: from position ``s`` and velocity ``s'`` (central difference)
   of every joint an MLP predicts the upper triangle of ``U`` (diagonal through ``exp``), ``Ĉ``
   (C x C), ``ĝ`` and ``τ``; ``M = Uᵀ U + eps I`` is symmetric positive definite and
   ``s'' = M⁻¹ τ − Ĉ s' − ĝ`` (:func:`lagrangian_acceleration`). Per joint (3 x 3 systems): our
   choice of generalised coordinates. Fused with the finite difference
   ``s[t+1] − 2 s[t] + s[t−1]`` by a linear mix initialised to their mean.
5. GCN head: ST-GCN (``stgcn_tiny`` blocks for ``finetec_tiny``, the official ten for
   ``finetec``) on ``[S_pred, s''_fused]`` (6 channels) + Linear.

Loss (:meth:`FineTec.loss`): ``CE + lambda_acc * L_Ac``, ``L_Ac`` the mean of the MSEs of the
three accelerations (Lagrangian, finite-difference of ``S_pred``, fused) against the finite
difference of the clean training clip. While training, each clean clip is corrupted first
(a pattern and level drawn per sample from the five x three of the protocol, generator seeded
from torch's, so runs repeat); at evaluation the input is taken as given.

``completion=False, acceleration=False, decomposition=False`` gives the same GCN head on the
(corrupted) input alone, trained with the same corruption: the ablation baseline.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.layouts import get_layout
from ..data.skeleton.corruption import LEVELS, PATTERNS, missing_frames
from ..encoders.stgcn import STGCN, STGCN_BLOCKS, STGCN_TINY_BLOCKS
from ..errors import ConfigError
from ..model_cfg import InputSpec, ModelCfg
from ..registry import register_model

__all__ = ["CompletionPretrainer", "ContextCompletion", "CrossAttentionFusion", "FineTec", "LagrangianAcceleration",
           "finite_difference_acceleration", "interpolate_lost", "lagrangian_acceleration", "spd_from_upper",
           "visible_span"]


# -- pure pieces ----------------------------------------------------------------------------------

def spd_from_upper(upper: Tensor, eps: float = 1e-3) -> Tensor:
    """``(..., C(C+1)/2)`` upper-triangle entries (row-major, diagonal raw) -> ``(..., C, C)``
    ``M = Uᵀ U + eps I`` with ``U``'s diagonal ``exp(raw)`` (clamped), so M is SPD."""
    k = upper.shape[-1]
    c = int(round((np.sqrt(8 * k + 1) - 1) / 2))
    if c * (c + 1) // 2 != k:
        raise ConfigError(f"spd_from_upper: {k} entries are no upper triangle")
    rows, cols = torch.triu_indices(c, c, device=upper.device)
    u = upper.new_zeros(*upper.shape[:-1], c, c)
    u[..., rows, cols] = upper
    diag = torch.diagonal(u, dim1=-2, dim2=-1)
    u = u - torch.diag_embed(diag) + torch.diag_embed(diag.clamp(-6.0, 6.0).exp())
    return u.transpose(-1, -2) @ u + eps * torch.eye(c, dtype=upper.dtype, device=upper.device)


def lagrangian_acceleration(mass: Tensor, coriolis: Tensor, gravity: Tensor, tau: Tensor, velocity: Tensor,
                            ) -> Tensor:
    """``s'' = M⁻¹ τ − Ĉ s' − ĝ`` for ``mass``, ``coriolis`` ``(..., C, C)``, ``gravity``, ``tau``,
    ``velocity`` ``(..., C)``; solved in float32 (AMP-safe)."""
    dtype = tau.dtype
    m, cor, g, tq, v = (t.float() for t in (mass, coriolis, gravity, tau, velocity))
    acc = torch.linalg.solve(m, tq.unsqueeze(-1)).squeeze(-1) - (cor @ v.unsqueeze(-1)).squeeze(-1) - g
    return acc.to(dtype)


def finite_difference_acceleration(x: Tensor, time_dim: int = 2) -> Tensor:
    """``x[t+1] − 2 x[t] + x[t−1]`` along ``time_dim`` (Δt = 1 frame), first and last frame 0."""
    x = x.movedim(time_dim, -1)
    out = torch.zeros_like(x)
    out[..., 1:-1] = x[..., 2:] - 2 * x[..., 1:-1] + x[..., :-2]
    return out.movedim(-1, time_dim)


def _central_velocity(x: Tensor) -> Tensor:
    """(B, C, T, V) -> central difference along T (one-sided at the ends)."""
    pad = torch.cat([x[:, :, :1], x, x[:, :, -1:]], dim=2)
    return (pad[:, :, 2:] - pad[:, :, :-2]) / 2


# -- modules --------------------------------------------------------------------------------------

class _MixerBlock(nn.Module):
    """Spatial (across V), temporal (across T) and channel MLPs with residuals on (B, T, V, D)."""

    def __init__(self, dim: int, num_frames: int, num_joints: int, expansion: int = 2) -> None:
        super().__init__()
        self.norm_s, self.norm_t, self.norm_c = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.spatial = nn.Sequential(nn.Linear(num_joints, num_joints * expansion), nn.GELU(),
                                     nn.Linear(num_joints * expansion, num_joints))
        self.temporal = nn.Sequential(nn.Linear(num_frames, num_frames * expansion), nn.GELU(),
                                      nn.Linear(num_frames * expansion, num_frames))
        self.channel = nn.Sequential(nn.Linear(dim, dim * expansion), nn.GELU(), nn.Linear(dim * expansion, dim))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.spatial(self.norm_s(x).transpose(2, 3)).transpose(2, 3)
        x = x + self.temporal(self.norm_t(x).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return x + self.channel(self.norm_c(x))


def interpolate_lost(x: Tensor, visible: Tensor) -> Tensor:
    """Linear interpolation of the lost frames of ``x`` (B, C, T, V) from the nearest visible ones
    (``visible`` (B, T) bool); before the first / after the last visible frame the nearest one is
    held; a clip with no visible frame stays as it is."""
    b, c, t, v = x.shape
    idx = torch.arange(t, device=x.device).expand(b, t)
    prev = torch.where(visible, idx, torch.full_like(idx, -1)).cummax(dim=1).values
    nxt = torch.where(visible, idx, torch.full_like(idx, t)).flip(1).cummin(dim=1).values.flip(1)
    prev_ok, next_ok = prev >= 0, nxt < t
    prev = torch.where(prev_ok, prev, nxt).clamp(0, t - 1)
    nxt = torch.where(next_ok, nxt, prev).clamp(0, t - 1)
    span = (nxt - prev).clamp_min(1).to(x.dtype)
    w = ((idx - prev).to(x.dtype) / span).clamp(0, 1)[:, None, :, None]
    gather = lambda i: x.gather(2, i[:, None, :, None].expand(b, c, t, v))  # noqa: E731
    out = gather(prev) * (1 - w) + gather(nxt) * w
    keep = visible | ~visible.any(dim=1, keepdim=True)  # nothing to interpolate from: unchanged
    return torch.where(keep[:, None, :, None], x, out)


def visible_span(visible: Tensor) -> Tensor:
    """``visible`` (B, T) bool -> (B, T) bool, true from the first to the last visible frame
    (all false for a clip with no visible frame)."""
    seen = visible.cummax(dim=1).values
    return seen & visible.flip(1).cummax(dim=1).values.flip(1)


class ContextCompletion(nn.Module):
    """In-context completion of lost frames.

    Shapes: ``forward(query (B, C, T, V), visible (B, T), prior (C, T, V))`` -> ``(B, C, T, V)``,
    visible frames copied from ``query``, lost ones predicted. T must equal ``num_frames``.

    Ours, where the paper gives no detail: the network predicts a correction of the linear
    interpolation of the lost frames (:func:`interpolate_lost`; the output layer starts at zero,
    so an untrained completion interpolates), and works on clips centred on their visible frames'
    mean (the prior on its own mean), so camera position does not have to be learned.
    """

    def __init__(self, in_channels: int = 3, num_frames: int = 32, num_joints: int = 25, dim: int = 32,
                 depth: int = 2) -> None:
        super().__init__()
        self.num_frames = num_frames
        self.embed = nn.Linear(4 * in_channels + 1, dim)
        self.blocks = nn.Sequential(*(_MixerBlock(dim, num_frames, num_joints) for _ in range(depth)))
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, in_channels)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, query: Tensor, visible: Tensor, prior: Tensor) -> Tensor:
        b, c, t, v = query.shape
        if t != self.num_frames:
            raise ConfigError(f"FineTec completion was built for T={self.num_frames} frames, got T={t}")
        vis = visible.to(query.dtype)[:, None, :, None]  # (B, 1, T, 1)
        count = (vis.sum(dim=2, keepdim=True) * v).clamp_min(1)
        centre = (query * vis).sum(dim=(2, 3), keepdim=True) / count  # (B, C, 1, 1)
        interp = interpolate_lost(query, visible.bool())
        p = prior.to(query.dtype)
        p = (p - p.mean(dim=(1, 2), keepdim=True)).expand(b, -1, -1, -1)
        q = (query - centre) * vis
        feats = torch.cat([q, vis.expand(b, 1, t, v), interp - centre, p * vis, p], dim=1)  # (B, 4C+1, T, V)
        h = self.blocks(self.embed(feats.permute(0, 2, 3, 1)))
        pred = interp + self.out(self.norm(h)).permute(0, 3, 1, 2)
        return vis * query + (1 - vis) * pred


class CrossAttentionFusion(nn.Module):
    """Fuse ``S_base`` with ``S_dyna`` / ``S_stat`` by per-frame cross-attention over joints.

    Shapes: ``forward(base, dyna, stat)``, each ``(B, C, T, V)`` -> ``S_pred`` ``(B, C, T, V)``.
    """

    def __init__(self, in_channels: int = 3, num_joints: int = 25, dim: int = 32, heads: int = 2) -> None:
        super().__init__()
        self.embed = nn.Linear(in_channels, dim)
        self.joint = nn.Parameter(torch.zeros(num_joints, dim))
        self.source = nn.Parameter(torch.zeros(3, dim))  # base / dynamic / static
        nn.init.trunc_normal_(self.joint, std=0.02)
        nn.init.trunc_normal_(self.source, std=0.02)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, in_channels)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def _tokens(self, x: Tensor, source: int) -> Tensor:
        b, c, t, v = x.shape
        h = self.embed(x.permute(0, 2, 3, 1).reshape(b * t, v, c))
        return h + self.joint + self.source[source]

    def forward(self, base: Tensor, dyna: Tensor, stat: Tensor) -> Tensor:
        b, c, t, v = base.shape
        q = self._tokens(base, 0)
        kv = torch.cat([self._tokens(dyna, 1), self._tokens(stat, 2)], dim=1)
        h, _ = self.attn(self.norm(q), kv, kv, need_weights=False)
        return base + self.out(h).reshape(b, t, v, c).permute(0, 3, 1, 2)


class LagrangianAcceleration(nn.Module):
    """Acceleration from the Lagrangian form ``M(s) s'' + C(s, s') s' + g(s) = τ``.

    Shapes: ``forward(s (B, C, T, V))`` -> ``(lagrangian, finite_difference, fused)``, each
    ``(B, C, T, V)``.
    """

    def __init__(self, in_channels: int = 3, hidden: int = 32, eps: float = 1e-3) -> None:
        super().__init__()
        c = in_channels
        self.c, self.eps = c, eps
        self.sizes = (c * (c + 1) // 2, c * c, c, c)  # upper triangle, Ĉ, ĝ, τ
        self.net = nn.Sequential(nn.Linear(2 * c, hidden), nn.GELU(), nn.Linear(hidden, sum(self.sizes)))
        self.mix = nn.Linear(2 * c, c)
        with torch.no_grad():  # start from the mean of the two accelerations
            self.mix.weight.copy_(torch.cat([torch.eye(c), torch.eye(c)], dim=1) / 2)
            self.mix.bias.zero_()

    def forward(self, s: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        vel = _central_velocity(s)
        tok = torch.cat([s, vel], dim=1).permute(0, 2, 3, 1)  # (B, T, V, 2C)
        upper, cor, g, tau = self.net(tok).split(self.sizes, dim=-1)
        mass = spd_from_upper(upper.float(), self.eps)
        cor = cor.reshape(*cor.shape[:-1], self.c, self.c)
        lag = lagrangian_acceleration(mass, cor, g, tau, vel.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        fd = finite_difference_acceleration(s)
        fused = self.mix(torch.cat([lag, fd], dim=1).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return lag, fd, fused


# -- the model ------------------------------------------------------------------------------------

def _fold(x: Tensor) -> Tensor:
    """(N, C, T, V, M) -> (N*M, C, T, V)."""
    n, c, t, v, m = x.shape
    return x.permute(0, 4, 1, 2, 3).reshape(n * m, c, t, v)


def _unfold(x: Tensor, m: int) -> Tensor:
    """(N*M, C, T, V) -> (N, C, T, V, M)."""
    b, c, t, v = x.shape
    return x.reshape(b // m, m, c, t, v).permute(0, 2, 3, 4, 1)


class FineTec(nn.Module):
    """FineTec classifier (see the module docstring).

    Shapes: ``forward({"skeleton": (N, C, T, V, M)})`` -> ``{"logits": (N, K), "features": (N, D)}``,
    plus ``"loss_acc"`` (scalar) while training with ``acceleration``. T must equal ``num_frames``.

    Args:
        num_classes: K.
        layout: joint layout with a ``"finetec"`` part group (ntu25, coco17).
        in_channels: C (3; 2-D keypoints with scores also 3).
        num_frames: T of the clips (the temporal MLPs are sized by it).
        dim, depth: width and number of mixer blocks of the completion; ``dim`` also sizes the fusion
            and the Lagrangian MLP.
        heads: attention heads of the fusion.
        blocks: ST-GCN blocks of the head.
        lambda_acc: weight of ``L_Ac`` (0.1, ours: the paper gives no value).
        completion, decomposition, acceleration: switch the stages off (ablations).
        train_corruption: probability that a training clip is corrupted (pattern and level drawn).
        num_dynamic: regions counted as dynamic (2).
        dropout: inside the ST-GCN blocks and before the classifier.
        complete_ends: also complete the lost frames before the first / after the last visible one
            (False, ours: they stay zero, see the module docstring).
        perturb_p: probability that a training clip's dynamic regions are perturbed (0.5, ours).
        pool: ``"all"`` (ST-GCN's mean over every output step) or ``"visible"`` (ours: the mean over
            the output steps whose input window holds a non-zero frame of the head input, so a clip
            whose frames are mostly lost is not diluted by the features of empty frames).
    """

    def __init__(self, num_classes: int = 60, layout: str = "ntu25", in_channels: int = 3, num_frames: int = 32,
                 dim: int = 32, depth: int = 2, heads: int = 2, blocks: Any = STGCN_TINY_BLOCKS,
                 lambda_acc: float = 0.1, completion: bool = True, decomposition: bool = True,
                 acceleration: bool = True, train_corruption: float = 1.0, num_dynamic: int = 2,
                 dropout: float = 0.0, complete_ends: bool = False, pool: str = "all",
                 perturb_p: float = 0.5) -> None:
        super().__init__()
        if pool not in ("all", "visible"):
            raise ConfigError(f"FineTec: pool must be 'all' or 'visible', got {pool!r}")
        self.pool, self.perturb_p = pool, perturb_p
        self.layout = get_layout(layout)
        v = self.layout.num_joints
        if decomposition and "finetec" not in self.layout.part_groups:
            raise ConfigError(f"FineTec: layout {self.layout.name} has no 'finetec' part group (five regions)")
        self.num_frames, self.lambda_acc, self.train_corruption = num_frames, lambda_acc, train_corruption
        self.num_dynamic, self.complete_ends = num_dynamic, complete_ends
        self.use_completion, self.use_decomposition, self.use_acceleration = completion, decomposition, acceleration
        self.register_buffer("prior", torch.zeros(in_channels, num_frames, v))
        self.completion = ContextCompletion(in_channels, num_frames, v, dim, depth) if completion else None
        if decomposition:
            regions = self.layout.part_groups["finetec"]
            member = torch.zeros(len(regions), v)
            for r, joints in enumerate(regions.values()):
                member[r, list(joints)] = 1.0
            self.register_buffer("regions", member, persistent=False)
            self.fusion: CrossAttentionFusion | None = CrossAttentionFusion(in_channels, v, dim, heads)
        else:
            self.fusion = None
        self.dynamics = LagrangianAcceleration(in_channels, dim) if acceleration else None
        self.encoder = STGCN(layout=self.layout, in_channels=in_channels * (2 if acceleration else 1), blocks=blocks,
                             dropout=dropout)
        self.out_dim: int = self.encoder.out_dim
        self.num_classes = num_classes
        self.dropout = nn.Dropout(dropout)
        self.head: nn.Module = nn.Identity()
        self.reset_classifier(num_classes)

    # -- stages -------------------------------------------------------------------------------
    def set_prior(self, prior: Tensor) -> None:
        """The prior sequence ``(C, T, V)`` (one person; e.g. the mean training clip)."""
        if tuple(prior.shape) != tuple(self.prior.shape):
            raise ConfigError(f"FineTec prior must be {tuple(self.prior.shape)}, got {tuple(prior.shape)}")
        self.prior.copy_(prior.to(self.prior))

    def freeze_completion(self) -> None:
        """After pre-training: the completion takes no further gradient, every other part does."""
        self.requires_grad_(True)
        if self.completion is not None:
            self.completion.requires_grad_(False)

    def random_corruption(self, x: Tensor, p: float = 1.0) -> Tensor:
        """Training-time corruption of ``(N, C, T, V, M)``: with probability ``p`` per sample a
        pattern and level of the protocol, drawn from a generator seeded by torch's."""
        gen = np.random.default_rng(int(torch.randint(0, 2 ** 31 - 1, ()).item()))
        keep = torch.ones(x.shape[0], x.shape[2], dtype=x.dtype)
        for i in range(x.shape[0]):
            if gen.random() < p:
                lost = missing_frames(x.shape[2], PATTERNS[gen.integers(len(PATTERNS))],
                                      tuple(LEVELS)[gen.integers(len(LEVELS))], gen)
                keep[i, torch.from_numpy(lost)] = 0
        return x * keep.to(x.device)[:, None, :, None, None]

    def complete(self, x: Tensor) -> Tensor:
        """(N, C, T, V, M) with lost frames zero -> ``S_base`` (N, C, T, V, M); absent persons stay zero."""
        if self.completion is None:
            return x
        visible = x.ne(0).any(dim=(1, 3, 4))  # (N, T)
        present = x.ne(0).any(dim=(1, 2, 3))  # (N, M)
        m = x.shape[-1]
        base = self.completion(_fold(x), visible.repeat_interleave(m, dim=0), self.prior)
        return _unfold(base, m) * present[:, None, None, None, :].to(x.dtype)

    def completion_loss(self, clean: Tensor) -> Tensor:
        """Pre-training loss on a clean batch (N, C, T, V, M): ``MSE(S_gt, S_base)`` on present
        persons + ``MSE(prior, completion of the masked prior)``."""
        if self.completion is None:
            raise ConfigError("FineTec was built with completion=False")
        x = self.random_corruption(clean, 1.0)
        base = self.complete(x)
        present = clean.ne(0).any(dim=(1, 2, 3)).to(clean.dtype)[:, None, None, None, :]
        denom = present.expand_as(clean).sum().clamp_min(1)
        loss_gt = ((base - clean) ** 2 * present).sum() / denom
        visible = x.ne(0).any(dim=(1, 3, 4))
        prior = self.prior.expand(x.shape[0], -1, -1, -1)
        ctx = self.completion(prior * visible[:, None, :, None].to(x.dtype), visible, self.prior)
        return loss_gt + F.mse_loss(ctx, prior)

    def _perturb_dynamic(self, x: Tensor) -> Tensor:
        # strong spatio-temporal: a random temporal crop resized back, then random frames dropped
        # and re-interpolated from their neighbours
        b, c, t, v = x.shape
        length = max(2, int(t * float(torch.empty(()).uniform_(0.7, 1.0))))
        start = int(torch.randint(0, t - length + 1, ()))
        crop = x[:, :, start:start + length].reshape(b, c, length, v).permute(0, 1, 3, 2).reshape(b, c * v, length)
        x = F.interpolate(crop, size=t, mode="linear", align_corners=True).reshape(b, c, v, t).permute(0, 1, 3, 2)
        drop = (torch.rand(b, 1, t, 1, device=x.device) < 0.2).to(x.dtype)
        pad = torch.cat([x[:, :, :1], x, x[:, :, -1:]], dim=2)
        return x * (1 - drop) + (pad[:, :, :-2] + pad[:, :, 2:]) / 2 * drop

    def decompose(self, base: Tensor) -> tuple[Tensor, Tensor]:
        """``S_base`` (B, C, T, V) -> (``S_dyna``, ``S_stat``), each (B, C, T, V)."""
        # only pairs of non-zero frames: the step from a lost or absent frame is no motion
        valid = base.ne(0).any(dim=1).any(dim=-1)  # (B, T)
        pair = (valid[:, 1:] & valid[:, :-1]).to(base.dtype)[:, :, None]  # (B, T - 1, 1)
        step = (base[:, :, 1:] - base[:, :, :-1]).norm(dim=1)  # (B, T - 1, V)
        disp = (step * pair).sum(dim=1) / pair.sum(dim=1).clamp_min(1)  # (B, V)
        motion = disp @ self.regions.t() / self.regions.sum(dim=1)  # (B, R)
        top = motion.topk(self.num_dynamic, dim=1).indices
        dyn_regions = torch.zeros_like(motion).scatter_(1, top, 1.0)
        dyn = (dyn_regions @ self.regions).clamp(max=1)[:, None, None, :]  # (B, 1, 1, V)
        stat = ((1 - dyn_regions) @ self.regions).clamp(max=1)[:, None, None, :]
        s_dyna, s_stat = base * dyn, base * stat
        if self.training:
            # per clip with probability perturb_p: always perturbed (p = 1), the fusion never saw an
            # aligned S_dyna in training and its test-time output was off (clean top-1 -10 points)
            pick = (torch.rand(base.shape[0], 1, 1, 1, device=base.device) < self.perturb_p).to(base.dtype)
            s_dyna = s_dyna + pick * (self._perturb_dynamic(s_dyna) * dyn - s_dyna)
            # mirrored about the static regions' own x centre: about the camera's x = 0 they would also move
            present = s_stat.ne(0).any(dim=1, keepdim=True).to(base.dtype)  # (B, 1, T, V)
            centre = (s_stat[:, :1] * present).sum(dim=(2, 3), keepdim=True) / present.sum(
                dim=(2, 3), keepdim=True).clamp_min(1)  # (B, 1, 1, 1)
            flip = (torch.rand(base.shape[0], 1, 1, 1, device=base.device) < 0.5).to(base.dtype)
            x = s_stat[:, :1] + flip * (2 * centre - 2 * s_stat[:, :1]) * present
            s_stat = torch.cat([x, s_stat[:, 1:]], dim=1)
        return s_dyna, s_stat

    # -- forward ------------------------------------------------------------------------------
    def _head_input(self, batch: Tensor | dict[str, Any]) -> tuple[Tensor, dict[str, Tensor]]:
        """Steps 1-4: (N, C, T, V, M) -> the GCN input (N, C or 2C, T, V, M) and ``{"loss_acc"}`` (training)."""
        x = batch if isinstance(batch, Tensor) else batch["skeleton"]
        if x.ndim != 5:
            raise ConfigError(f"FineTec expects a skeleton (N, C, T, V, M), got shape {tuple(x.shape)}")
        clean = x
        if self.training and self.train_corruption > 0:
            x = self.random_corruption(x, self.train_corruption)
        m = x.shape[-1]
        s = _fold(self.complete(x))
        span = None
        if not self.complete_ends:
            # a lost prefix / suffix has context on one side only: a held pose (or the visible span
            # stretched over T) measured worse than the zeros the baseline sees
            span = visible_span(x.ne(0).any(dim=(1, 3, 4))).repeat_interleave(m, dim=0)[:, None, :, None]
            s = s * span.to(s.dtype)
        if self.fusion is not None:
            s = self.fusion(s, *self.decompose(s))
            if span is not None:
                s = s * span.to(s.dtype)
        aux: dict[str, Tensor] = {}
        if self.dynamics is None:
            return _unfold(s, m), aux
        lag, fd, fused = self.dynamics(s)
        if span is not None:  # no acceleration outside the visible span, nor the step into it
            inner = span & span.roll(1, dims=2) & span.roll(-1, dims=2)
            lag, fd, fused = (a * inner.to(a.dtype) for a in (lag, fd, fused))
        if self.training:
            target = finite_difference_acceleration(_fold(clean))
            if span is not None:
                target = target * inner.to(target.dtype)
            aux["loss_acc"] = self.lambda_acc * torch.stack(
                [F.mse_loss(a.float(), target.float()) for a in (lag, fd, fused)]).mean()
        return _unfold(torch.cat([s, fused], dim=1), m), aux

    @property
    def num_features(self) -> int:
        return self.out_dim

    def _maps(self, feats: Tensor) -> Tensor:
        """Head input (N, C', T, V, M) -> maps (N, M, D, T', V); with ``pool="visible"`` the steps
        without a non-zero input frame are zeroed and the others scaled by T' / (their count), so
        that the plain mean of :meth:`forward_head` is the mean over the visible steps."""
        maps = self.encoder.forward_maps(feats)
        if self.pool == "all":
            return maps
        seen = feats.ne(0).any(dim=(1, 3, 4)).to(maps.dtype)  # (N, T)
        steps = F.adaptive_max_pool1d(seen[:, None], maps.shape[3])[:, 0]  # (N, T')
        scale = steps * (steps.shape[1] / steps.sum(dim=1, keepdim=True).clamp_min(1))
        return maps * scale[:, None, None, :, None]

    def forward_features(self, batch: Tensor | dict[str, Any]) -> Tensor:
        """Unpooled ST-GCN maps (N, M, D, T', V) (see :meth:`_maps` for ``pool="visible"``)."""
        return self._maps(self._head_input(batch)[0])

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """(N, M, D, T', V) maps -> logits (N, K) (``pre_logits``: the pooled (N, D))."""
        pooled = self.encoder.pool(x)
        return pooled if pre_logits else self.head(self.dropout(pooled))

    def reset_classifier(self, num_classes: int) -> None:
        """A new classifier for ``num_classes`` (0: the pooled features in the logits slot)."""
        self.num_classes = num_classes
        self.head = nn.Linear(self.out_dim, num_classes) if num_classes else nn.Identity()
        if num_classes:
            nn.init.normal_(self.head.weight, 0.0, 0.02)  # ST-GCN's official head init
            nn.init.zeros_(self.head.bias)

    def forward(self, batch: Tensor | dict[str, Any]) -> dict[str, Tensor]:
        feats, aux = self._head_input(batch)
        pooled = self.encoder.pool(self._maps(feats))
        return {"logits": self.head(self.dropout(pooled)), "features": pooled, **aux}

    def loss(self, outputs: dict[str, Tensor], target: Tensor) -> Tensor:
        """``CE + lambda_acc * L_Ac`` (the latter only while training)."""
        loss = F.cross_entropy(outputs["logits"].float(), target)
        return loss + outputs["loss_acc"] if "loss_acc" in outputs else loss


class CompletionPretrainer(nn.Module):
    """Stage 1 for :func:`mmfusion.engine.train`: ``forward(batch)`` returns the completion loss as
    ``"loss_icl"`` and zero ``"logits"`` (N, 1) (no classification in this stage); :meth:`loss` is
    that loss. Only ``finetec.completion`` is trained."""

    def __init__(self, finetec: FineTec) -> None:
        super().__init__()
        self.finetec = finetec
        for name, p in finetec.named_parameters():
            p.requires_grad_(name.startswith("completion."))

    def forward(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        x = batch["skeleton"]
        logits = x.new_zeros(x.shape[0], 1)
        return {"logits": logits, "loss_icl": self.finetec.completion_loss(x) if self.training else logits.sum()}

    def loss(self, outputs: dict[str, Tensor], target: Tensor) -> Tensor:
        return outputs["loss_icl"]


# -- registry -------------------------------------------------------------------------------------

def _cfg(t: int, width: int, source: str) -> ModelCfg:
    return ModelCfg(inputs={"skeleton": InputSpec((3, t, 25, 2), "C T V M", values="skeleton_m")}, num_classes=60,
                    clip_len=t, source=source, output=f'"logits" (N, K), "features" (N, {width}), "loss_acc" (train)')


@register_model(tags=("model", "skeleton"), cfg=_cfg(64, 256, "ours: no official code (SmartDianLab/FineTec is "
                                                              "README-only); completion d 64 x 4 blocks, ST-GCN head"))
def finetec(num_classes: int = 60, layout: str = "ntu25", **kwargs: Any) -> FineTec:
    """FineTec with the official ten-block ST-GCN head, 64 frames, completion width 64 / 4 blocks (ours)."""
    for k, v in (("num_frames", 64), ("dim", 64), ("depth", 4), ("heads", 4), ("blocks", STGCN_BLOCKS)):
        kwargs.setdefault(k, v)
    return FineTec(num_classes, layout, **kwargs)


@register_model(tags=("model", "skeleton", "test"), cfg=_cfg(32, 128, "ours: stgcn_tiny head, 32 frames, "
                                                                       "completion d 32 x 2 blocks"))
def finetec_tiny(num_classes: int = 60, layout: str = "ntu25", **kwargs: Any) -> FineTec:
    """FineTec on the ``stgcn_tiny`` head (four blocks), 32 frames, completion width 32 / 2 blocks."""
    return FineTec(num_classes, layout, **kwargs)
