"""Point-cloud sequence encoder: per-frame PointNet++ + a light temporal transformer.

Design (chosen over a P4Transformer point-tube; see docs/models.md):

1. clip normalisation (as P4Transformer's ``clip_normalize``): subtract the clip centroid
   and divide by the clip's largest point radius, so radii are in units of the body size
   and do not depend on camera distance;
2. every frame independently through two PointNet++ set-abstraction levels (batched FPS +
   ball query in torch) and a ``group_all`` level -> one feature per frame;
3. a linear projection, learned temporal position embeddings and a few pre-LN transformer
   blocks over the T frame tokens; final LayerNorm.

The frames are independent up to step 3, so the encoder sees motion only through the
frame-level features (no point-level temporal correspondence). It costs a fraction of a
point-tube transformer, needs no compiled operator, and its per-frame features
``(N, T, D)`` align with other modalities' frame features for fusion.

Shapes: ``forward(x)``: (N, T, P, 3) -> (N, D); ``forward_features(x)`` (= ``forward_frames``): -> (N, T, D);
``forward_spatial(x)``: -> (N, T, F) per-frame PointNet++ features before the transformer.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from .pointnet2 import GlobalSetAbstraction, SetAbstraction
from .skeleton_transformer import TransformerBlock

__all__ = ["PointSequenceEncoder", "normalize_clip", "SA_TINY"]

#: (npoint, radius, nsample, mlp widths) per SA level; radii in clip-normalised units.
SA_BASE: tuple[tuple[int, float, int, tuple[int, ...]], ...] = (
    (512, 0.1, 32, (64, 64, 128)), (128, 0.2, 64, (128, 128, 256)))
SA_TINY: tuple[tuple[int, float, int, tuple[int, ...]], ...] = (
    (64, 0.2, 16, (16, 16, 32)), (16, 0.4, 16, (32, 32, 64)))


def normalize_clip(x: Tensor, eps: float = 1e-6) -> Tensor:
    """Centre a clip on its centroid and scale it into the unit ball.

    Args:
        x: (N, T, P, 3) points.

    Returns:
        (N, T, P, 3) with per-clip centroid 0 and max point norm 1 (an all-identical clip
        stays at 0 instead of dividing by zero).
    """
    x = x.float()
    centred = x - x.mean(dim=(1, 2), keepdim=True)
    scale = centred.norm(dim=-1).amax(dim=(1, 2), keepdim=True).clamp_min(eps)
    return centred / scale.unsqueeze(-1)


class PointSequenceEncoder(nn.Module):
    """PointNet++ per frame + temporal transformer.

    Args:
        sa: ``(npoint, radius, nsample, mlp)`` per set-abstraction level.
        global_mlp: widths of the final ``group_all`` level (its last width is the frame
            feature size F).
        dim: transformer width D (= ``out_dim``).
        depth, num_heads, mlp_ratio: temporal transformer size.
        max_frames: size of the temporal position table (longest T accepted).
        normalize: apply :func:`normalize_clip` first (set False if the data pipeline
            already normalises).
        drop_rate, drop_path_rate: transformer regularisation.

    Shapes: (N, T, P, 3) -> (N, D); P must be >= the first level's ``npoint``.
    """

    def __init__(self, sa: Sequence[tuple[int, float, int, Sequence[int]]] = SA_BASE,
                 global_mlp: Sequence[int] = (256, 512, 1024), dim: int = 256, depth: int = 2, num_heads: int = 8,
                 mlp_ratio: float = 4.0, max_frames: int = 64, normalize: bool = True, drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0) -> None:
        super().__init__()
        if not sa:
            raise ConfigError("point encoder: needs at least one set-abstraction level")
        levels = []
        c = 0
        for npoint, radius, nsample, mlp in sa:
            levels.append(SetAbstraction(npoint, radius, nsample, c, mlp))
            c = mlp[-1]
        for a, b in zip(levels, levels[1:]):
            if b.npoint > a.npoint:
                raise ConfigError(f"point encoder: npoint must not grow between levels ({a.npoint} -> {b.npoint})")
        self.sa = nn.ModuleList(levels)
        self.global_sa = GlobalSetAbstraction(c, global_mlp)
        self.frame_dim = self.global_sa.out_channels
        self.proj = nn.Linear(self.frame_dim, dim)
        self.temp_embed = nn.Parameter(torch.zeros(1, max_frames, dim))
        nn.init.trunc_normal_(self.temp_embed, std=0.02)
        dpr = torch.linspace(0, drop_path_rate, max(depth, 1)).tolist()
        self.blocks = nn.ModuleList([TransformerBlock(dim, num_heads, mlp_ratio, True, drop_rate, 0.0, dpr[i])
                                     for i in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.max_frames = max_frames
        self.normalize = normalize
        self.min_points = levels[0].npoint
        self.out_dim = dim

    def _check(self, x: Tensor) -> tuple[int, int, int]:
        if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[-1] != 3:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ConfigError(f"point encoder: expected points (N, T, P, 3), got {shape}")
        n, t, p, _ = x.shape
        if p < self.min_points:
            raise ConfigError(f"point encoder: {p} points per frame, the first SA level samples {self.min_points}")
        if not 1 <= t <= self.max_frames:
            raise ConfigError(f"point encoder: T={t} frames, supported 1..{self.max_frames} (max_frames)")
        return n, t, p

    def forward_spatial(self, x: Tensor) -> Tensor:
        """(N, T, P, 3) -> (N, T, F) per-frame PointNet++ features."""
        n, t, p = self._check(x)
        xyz = normalize_clip(x) if self.normalize else x.float()
        xyz = xyz.reshape(n * t, p, 3)
        feats: Tensor | None = None
        for level in self.sa:
            xyz, feats = level(xyz, feats)
        return self.global_sa(xyz, feats).view(n, t, -1)

    def forward_frames(self, x: Tensor) -> Tensor:
        """(N, T, P, 3) -> (N, T, D) temporally contextualised frame features."""
        f = self.proj(self.forward_spatial(x))
        f = f + self.temp_embed[:, : f.shape[1]]
        for blk in self.blocks:
            f = blk(f)
        return self.norm(f)

    def forward_features(self, x: Tensor) -> Tensor:
        """Unpooled (N, T, D) frame features (same as :meth:`forward_frames`)."""
        return self.forward_frames(x)

    @staticmethod
    def pool(frames: Tensor) -> Tensor:
        """(N, T, D) -> (N, D): mean over frames."""
        return frames.mean(dim=1)

    def forward(self, x: Tensor) -> Tensor:
        """(N, T, P, 3) -> (N, D): mean of the frame features."""
        return self.pool(self.forward_frames(x))
