"""Joint decoding by heat-weighted voting, and the pinhole camera helpers UniPose uses.

Camera convention (the one of :mod:`mmfusion.data.pointcloud` and of ITOP): X right, **Y up**,
Z forward (metres); pixel (u, v) = (column, row)::

    u = cx + fx * X / Z,      v = cy - fy * Y / Z
    X = (u - cx) * Z / fx,    Y = -(v - cy) * Z / fy

Intrinsics are given as anything with ``fx, fy, cx, cy`` attributes, a 4-sequence, or a tensor
(..., 4) ``[fx, fy, cx, cy]`` broadcasting against the leading dims of the points.

Voting (C3P): every point ``p`` of a cloud votes for joint j at ``p + (1 - h_j) * radius * v_j``
(``h`` heat in [0, 1], ``v`` a unit direction, ``radius`` in the units of ``p``); the ``k`` points
with the highest heat are kept and their votes averaged with the heat as weight.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ..errors import ConfigError

__all__ = ["intrinsics_tensor", "project", "backproject", "camera_rays", "vote_joints"]


def intrinsics_tensor(intr: Any, like: Tensor) -> Tensor:
    """Intrinsics as a tensor (..., 4) ``[fx, fy, cx, cy]`` on ``like``'s device, float32."""
    if isinstance(intr, Tensor):
        t = intr.to(device=like.device, dtype=torch.float32)
    elif all(hasattr(intr, a) for a in ("fx", "fy", "cx", "cy")):
        t = torch.tensor([intr.fx, intr.fy, intr.cx, intr.cy], dtype=torch.float32, device=like.device)
    elif isinstance(intr, Sequence) and len(intr) == 4:
        t = torch.tensor([float(x) for x in intr], dtype=torch.float32, device=like.device)
    else:
        raise ConfigError(f"intrinsics must be (fx, fy, cx, cy), an object with those fields or a tensor; got {intr!r}")
    if t.shape[-1] != 4:
        raise ConfigError(f"intrinsics tensor must end in 4 values [fx, fy, cx, cy], got {tuple(t.shape)}")
    return t


def project(points: Tensor, intr: Any, min_depth: float = 1e-6) -> Tensor:
    """Camera points (..., 3) -> pixels (..., 2). ``intr`` broadcasts as (..., 4) without the point axis
    (e.g. (N, T, 4) for points (N, T, J, 3) is given as (N, T, 1, 4) or flat (4,))."""
    k = intrinsics_tensor(intr, points).to(points.dtype)
    z = points[..., 2].clamp_min(min_depth)
    u = k[..., 2] + k[..., 0] * points[..., 0] / z
    v = k[..., 3] - k[..., 1] * points[..., 1] / z
    return torch.stack([u, v], dim=-1)


def backproject(uv: Tensor, depth: Tensor, intr: Any) -> Tensor:
    """Pixels (..., 2) and depth Z (...) -> camera points (..., 3)."""
    k = intrinsics_tensor(intr, uv).to(uv.dtype)
    x = (uv[..., 0] - k[..., 2]) * depth / k[..., 0]
    y = -(uv[..., 1] - k[..., 3]) * depth / k[..., 1]
    return torch.stack([x, y, depth], dim=-1)


def camera_rays(uv: Tensor, intr: Any) -> Tensor:
    """Rays (..., 3) through pixels (..., 2), scaled so that Z = 1."""
    return backproject(uv, torch.ones_like(uv[..., 0]), intr)


def vote_joints(xyz: Tensor, heat: Tensor, offset: Tensor, radius: Tensor | float, topk: int) -> Tensor:
    """Heat-weighted voting of per-point predictions into joints.

    Args:
        xyz: (B, P, 3) point coordinates (OBB frame in UniPose).
        heat: (B, J, P) in [0, 1].
        offset: (B, J, P, 3) unit vote directions.
        radius: scalar or (B,) largest vote length, in the units of ``xyz``.
        topk: points kept per joint (clamped to P).

    Returns:
        (B, J, 3) joints; differentiable w.r.t. heat and offset (not the top-k choice).
    """
    b, p, _ = xyz.shape
    if heat.ndim != 3 or heat.shape[0] != b or heat.shape[2] != p:
        raise ConfigError(f"vote_joints: heat must be (B={b}, J, P={p}), got {tuple(heat.shape)}")
    j = heat.shape[1]
    if offset.shape != (b, j, p, 3):
        raise ConfigError(f"vote_joints: offset must be {(b, j, p, 3)}, got {tuple(offset.shape)}")
    k = max(1, min(int(topk), p))
    r = torch.as_tensor(radius, dtype=heat.dtype, device=heat.device).reshape(-1, 1, 1)
    h_top, idx = heat.topk(k, dim=-1)  # (B, J, k)
    pts = torch.gather(xyz.to(heat.dtype).unsqueeze(1).expand(b, j, p, 3), 2, idx.unsqueeze(-1).expand(b, j, k, 3))
    vec = torch.gather(offset, 2, idx.unsqueeze(-1).expand(b, j, k, 3))
    votes = pts + ((1 - h_top) * r).unsqueeze(-1) * vec.to(heat.dtype)
    w = h_top.unsqueeze(-1)
    # the eps keeps an all-zero-heat joint finite: it then falls back to the plain mean of its votes
    return ((w * votes).sum(2) + 1e-8 * votes.sum(2)) / (w.sum(2) + 1e-8 * k)
