"""Point clouds from depth frames and the naive depth lifting (numpy / torch, any device).

* :func:`depth_normals`: per-pixel normals (T, H, W, 3) of masked depth (T, H, W) metres;
* :func:`sample_cloud`: back-projected valid pixels sampled to P points per frame, (T, P, 3);
* :func:`sample_indices`: P indices among a frame's kept points;
* :func:`lift_with_depth`: 2-D keypoints (N, T, J, 2) -> (N, T, J, 3) with the depth at their pixels.

Camera convention: NTU axes (X right, Y up, Z forward, metres), intrinsics ``(fx, fy, cx, cy)``,
``X = (u - cx) Z / fx``, ``Y = -(v - cy) Z / fy``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import ConfigError
from .decode import backproject

__all__ = ["depth_normals", "lift_with_depth", "sample_cloud", "sample_indices"]


def depth_normals(depth: np.ndarray, intr: Sequence[float]) -> np.ndarray:
    """Normals (T, H, W, 3) from masked depth (T, H, W) by central differences of back-projected
    pixels, oriented towards the camera; (0, 0, -1) where a neighbour is missing."""
    fx, fy, cx, cy = intr
    t, h, w = depth.shape
    vv, uu = np.mgrid[0:h, 0:w].astype(np.float32)
    pts = np.stack([(uu - cx) * depth / fx, -(vv - cy) * depth / fy, depth], -1)
    valid = depth > 0
    dx = np.zeros_like(pts)
    dy = np.zeros_like(pts)
    dx[:, :, 1:-1] = pts[:, :, 2:] - pts[:, :, :-2]
    dy[:, 1:-1] = pts[:, 2:] - pts[:, :-2]
    okx = np.zeros_like(valid)
    oky = np.zeros_like(valid)
    okx[:, :, 1:-1] = valid[:, :, 2:] & valid[:, :, :-2]
    oky[:, 1:-1] = valid[:, 2:] & valid[:, :-2]
    # a depth jump between neighbours is an occlusion edge, not a surface
    okx &= np.abs(dx[..., 2]) < 0.08
    oky &= np.abs(dy[..., 2]) < 0.08
    n = np.cross(dx, dy)
    n = n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-9)
    n = np.where(((n * pts).sum(-1) > 0)[..., None], -n, n)
    return np.where((okx & oky & valid)[..., None], n, np.array([0.0, 0.0, -1.0], np.float32)).astype(np.float32)


def sample_cloud(depth: np.ndarray, normals: np.ndarray | None, intr: Sequence[float], num_points: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Back-project valid pixels of (T, H, W) depth and sample ``num_points`` per frame (with
    replacement only when fewer are valid). Returns points and normals, each (T, P, 3) float32.
    A frame without any valid pixel raises ConfigError."""
    fx, fy, cx, cy = intr
    t, h, w = depth.shape
    pts = np.zeros((t, num_points, 3), np.float32)
    nrm = np.zeros((t, num_points, 3), np.float32)
    for f in range(t):  # data-side loop (numpy), not in a forward pass
        idx = np.flatnonzero(depth[f] > 0)
        if idx.size == 0:
            raise ConfigError(f"sample_cloud: frame {f} has no valid depth pixel")
        pick = rng.choice(idx, num_points, replace=idx.size < num_points)
        v, u = np.divmod(pick, w)
        z = depth[f].ravel()[pick]
        pts[f] = np.stack([(u - cx) * z / fx, -(v - cy) * z / fy, z], -1)
        if normals is not None:
            nrm[f] = normals[f].reshape(-1, 3)[pick]
    return pts, nrm


def sample_indices(pts: np.ndarray, keep: np.ndarray, num_points: int, rng: np.random.Generator) -> np.ndarray:
    """``num_points`` indices (P,) among ``keep`` (bool (M,)) of a cloud ``pts`` (M, 3) (with
    replacement only when fewer are kept); all non-zero points if none is kept."""
    idx = np.flatnonzero(keep)
    if idx.size == 0:
        idx = np.flatnonzero(np.abs(pts).sum(-1) > 0)
    if idx.size == 0:
        raise ConfigError("a frame has no valid point")
    return rng.choice(idx, num_points, replace=idx.size < num_points)


def lift_with_depth(kp2d: Tensor, depth: Tensor, intr: Any, window: int = 2) -> Tensor:
    """Naive 2-D -> 3-D baseline: back-project each detected pixel with the depth image there.

    Where the (rounded) pixel has no depth, the nearest valid pixel of the (2*window+1)^2
    window is used; where the window is empty too, the frame's median valid depth (so every
    joint gets a finite estimate).

    Args:
        kp2d: (N, T, J, 2) pixels. depth: (N, T, H, W) metres, 0 = invalid.
        intr: (N, 4) or (4,) intrinsics of the depth image.

    Returns:
        (N, T, J, 3) camera metres.
    """
    n, t, j, _ = kp2d.shape
    h, w = depth.shape[-2:]
    off = torch.arange(-window, window + 1, device=kp2d.device)
    dv, du = torch.meshgrid(off, off, indexing="ij")
    du, dv = du.reshape(-1), dv.reshape(-1)
    u = kp2d[..., 0].round().long().unsqueeze(-1) + du  # (N, T, J, K)
    v = kp2d[..., 1].round().long().unsqueeze(-1) + dv
    inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
    flat = depth.reshape(n, t, 1, h * w).expand(n, t, j, h * w)
    vals = torch.gather(flat, 3, (v.clamp(0, h - 1) * w + u.clamp(0, w - 1)))
    ok = inside & (vals > 0)
    dist = (du.square() + dv.square()).float().expand_as(vals)
    dist = torch.where(ok, dist, torch.full_like(dist, float("inf")))
    best = dist.argmin(-1, keepdim=True)
    z = torch.gather(vals, 3, best)[..., 0]
    found = ok.any(-1)
    med = torch.where(depth > 0, depth, torch.full_like(depth, float("nan"))).flatten(2).nanmedian(-1).values
    z = torch.where(found, z, med.unsqueeze(-1).expand_as(z))
    intr_t = torch.as_tensor(intr, dtype=torch.float32, device=kp2d.device) if not isinstance(intr, Tensor) else intr
    intr_t = intr_t.view(n, 1, 1, 4) if intr_t.ndim == 2 else intr_t
    return backproject(kp2d.float(), z.float(), intr_t)
