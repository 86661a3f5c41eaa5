"""PointNet++ set-abstraction operators in pure, batched torch (Qi et al., NeurIPS 2017).

No compiled CUDA extension: farthest-point sampling is a loop over the *samples drawn*
(``npoint`` steps), vectorised over the batch; ball query is one ``cdist`` plus ``topk``.
Both run in float32 with autocast disabled (distances in bf16 would reorder neighbours).

Semantics match the reference CUDA operators (``pointnet2_ops``):

* :func:`farthest_point_sample` starts at index 0 and then repeatedly takes the point whose
  distance to the chosen set is largest (first index on ties);
* :func:`ball_query` returns, for each centre, the first ``nsample`` point indices in
  ascending index order whose squared distance is strictly below ``radius**2``, padded with
  the first one found. (The CUDA op leaves index 0 when no point is inside; here the nearest
  point is used instead, so an empty ball never groups an unrelated point.)

Shapes are channel-last for coordinates ``(B, P, 3)`` and channel-first for features
``(B, C, P)`` as in PointNet++.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..errors import ConfigError

__all__ = ["farthest_point_sample", "ball_query", "gather_points", "SetAbstraction", "GlobalSetAbstraction"]


def _check_xyz(xyz: Tensor, who: str) -> None:
    if xyz.ndim != 3 or xyz.shape[-1] != 3:
        raise ConfigError(f"{who}: expected points (B, P, 3), got {tuple(xyz.shape)}")


def farthest_point_sample(xyz: Tensor, npoint: int) -> Tensor:
    """Greedy farthest-point sampling.

    Args:
        xyz: (B, P, 3) coordinates.
        npoint: number of samples, 1 <= npoint <= P.

    Returns:
        (B, npoint) int64 indices; column 0 is always 0.
    """
    _check_xyz(xyz, "farthest_point_sample")
    b, p, _ = xyz.shape
    if not 1 <= npoint <= p:
        raise ConfigError(f"farthest_point_sample: npoint={npoint} must be in [1, P={p}]")
    with torch.autocast(device_type=xyz.device.type, enabled=False):
        # coordinate-major (B, 3, P): the squared distance is two adds of contiguous rows instead
        # of a length-3 reduction over the innermost axis (2.3x faster on CPU, same values:
        # (dx^2 + dy^2) + dz^2 in the same order)
        pts = xyz.detach().float().transpose(1, 2).contiguous()
        idx = torch.zeros(b, npoint, dtype=torch.long, device=xyz.device)
        dist = torch.full((b, p), float("inf"), device=xyz.device)
        far = torch.zeros(b, 1, dtype=torch.long, device=xyz.device)
        for i in range(npoint):
            idx[:, i] = far[:, 0]
            centre = torch.gather(pts, 2, far.unsqueeze(1).expand(b, 3, 1))  # (B, 3, 1)
            d = (pts - centre).square_()
            torch.minimum(dist, d[:, 0] + d[:, 1] + d[:, 2], out=dist)
            far = dist.argmax(dim=-1, keepdim=True)
    return idx


def ball_query(xyz: Tensor, centres: Tensor, radius: float, nsample: int) -> Tensor:
    """Group up to ``nsample`` points within ``radius`` of every centre.

    Args:
        xyz: (B, P, 3) points.
        centres: (B, S, 3) query centres.
        radius: ball radius (same units as ``xyz``).
        nsample: indices per centre.

    Returns:
        (B, S, nsample) int64 indices into P.
    """
    _check_xyz(xyz, "ball_query")
    _check_xyz(centres, "ball_query centres")
    if radius <= 0 or nsample < 1:
        raise ConfigError(f"ball_query: radius ({radius}) must be > 0 and nsample ({nsample}) >= 1")
    b, p, _ = xyz.shape
    with torch.autocast(device_type=xyz.device.type, enabled=False):
        d2 = torch.cdist(centres.detach().float(), xyz.detach().float(),
                         compute_mode="donot_use_mm_for_euclid_dist").square_()  # (B, S, P), exact
        inside = d2 < radius * radius
        # key = own index inside the ball, P outside: the k smallest keys are the first k inside
        order = torch.arange(p, device=xyz.device, dtype=torch.float32).expand_as(d2)
        key = torch.where(inside, order, torch.full_like(d2, float(p)))
        k = min(nsample, p)
        key_k, idx = torch.topk(key, k, dim=-1, largest=False, sorted=True)
        first = torch.where(key_k[..., :1] < p, idx[..., :1], d2.argmin(dim=-1, keepdim=True))
        idx = torch.where(key_k < p, idx, first)
        if k < nsample:
            idx = torch.cat([idx, first.expand(-1, -1, nsample - k)], dim=-1)
    return idx


def gather_points(x: Tensor, idx: Tensor) -> Tensor:
    """Index the point axis of channel-last ``x`` (B, P, C) with ``idx`` (B, ...) -> (B, ..., C)."""
    b, _, c = x.shape
    flat = idx.reshape(b, -1, 1).expand(-1, -1, c)
    return torch.gather(x, 1, flat).view(*idx.shape, c)


def _max_over_group(y: Tensor) -> Tensor:
    """(B, C, S, K) -> (B, C, S): max over the group axis K.

    The MLP input is a permuted (B, S, K, C) tensor, i.e. channels-last, and oneDNN keeps that
    layout, so K is strided by C in memory: reducing it as the last axis is slow. Reducing
    the contiguous (B, S, K, C) view over K gives the same values (and the same tie-splitting
    gradient) 1.5x faster forward + backward; the result is a (B, C, S) view of (B, S, C).
    """
    if y.is_contiguous(memory_format=torch.channels_last) and not y.is_contiguous():
        return y.permute(0, 2, 3, 1).amax(dim=2).transpose(1, 2)
    return y.amax(dim=-1)


def _shared_mlp(in_channels: int, widths: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for w in widths:
        layers += [nn.Conv2d(in_channels, w, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
        in_channels = w
    return nn.Sequential(*layers)


class SetAbstraction(nn.Module):
    """One PointNet++ SSG set-abstraction level: FPS centres, ball-query groups, shared MLP
    (1x1 Conv2d + BN + ReLU) on ``[relative xyz, features]``, max-pool over each group.

    Args:
        npoint: centres kept.
        radius, nsample: ball query.
        in_channels: feature channels of the input points (0 for bare xyz).
        mlp: widths of the shared MLP.

    Shapes: xyz (B, P, 3), features (B, C_in, P) or None ->
    new_xyz (B, npoint, 3), new_features (B, mlp[-1], npoint).
    """

    def __init__(self, npoint: int, radius: float, nsample: int, in_channels: int, mlp: Sequence[int]) -> None:
        super().__init__()
        if not mlp:
            raise ConfigError("SetAbstraction: mlp needs at least one width")
        self.npoint, self.radius, self.nsample = npoint, radius, nsample
        self.in_channels = in_channels
        self.out_channels = mlp[-1]
        self.mlp = _shared_mlp(in_channels + 3, mlp)

    def forward(self, xyz: Tensor, features: Tensor | None = None) -> tuple[Tensor, Tensor]:
        _check_xyz(xyz, "SetAbstraction")
        if self.npoint > xyz.shape[1]:
            raise ConfigError(f"SetAbstraction: npoint={self.npoint} exceeds the {xyz.shape[1]} input points")
        centre_idx = farthest_point_sample(xyz, self.npoint)
        new_xyz = gather_points(xyz, centre_idx)  # (B, S, 3)
        group_idx = ball_query(xyz, new_xyz, self.radius, self.nsample)  # (B, S, K)
        rel = gather_points(xyz, group_idx) - new_xyz.unsqueeze(2)  # (B, S, K, 3)
        if features is not None:
            if features.shape[1] != self.in_channels:
                raise ConfigError(f"SetAbstraction: expected {self.in_channels} feature channels, "
                                  f"got {features.shape[1]}")
            grouped = gather_points(features.transpose(1, 2), group_idx)  # (B, S, K, C)
            rel = torch.cat([rel.to(grouped.dtype), grouped], dim=-1)
        y = self.mlp(rel.permute(0, 3, 1, 2))  # (B, C', S, K)
        return new_xyz, _max_over_group(y)

    def extra_repr(self) -> str:
        return f"npoint={self.npoint}, radius={self.radius}, nsample={self.nsample}"


class GlobalSetAbstraction(nn.Module):
    """PointNet++ ``group_all`` level: shared MLP on ``[xyz, features]`` of all points, max-pool.

    Shapes: xyz (B, P, 3), features (B, C_in, P) -> (B, mlp[-1]).
    """

    def __init__(self, in_channels: int, mlp: Sequence[int]) -> None:
        super().__init__()
        if not mlp:
            raise ConfigError("GlobalSetAbstraction: mlp needs at least one width")
        self.out_channels = mlp[-1]
        self.mlp = _shared_mlp(in_channels + 3, mlp)

    def forward(self, xyz: Tensor, features: Tensor | None = None) -> Tensor:
        x = xyz.transpose(1, 2)
        if features is not None:
            x = torch.cat([x.to(features.dtype), features], dim=1)
        return self.mlp(x.unsqueeze(-1)).amax(dim=(2, 3))
