"""Oriented-bounding-box (OBB) normalisation of point clouds (HandPointNet / C3P style).

A cloud ``p`` (camera frame, metres) is rotated into its principal axes ``R`` (PCA of the
points), the axis-aligned box of the rotated cloud gives a centre ``o`` (expressed back in the
camera frame) and the longest side ``l``; the normalised cloud is

    x = (p - o) @ R / l          (inside [-0.5, 0.5]^3, longest side exactly 1)
    p = (x * l) @ R.T + o        (exact inverse, :meth:`OBB.denormalize`)

Directions (normals, offset vectors) only rotate: ``n_obb = n @ R``.

Axis convention (so that the same body gives the same frame from clip to clip): columns of
``R`` are the principal axes by decreasing variance; axis 1 points towards camera +Y (up),
axis 2 towards camera +X, axis 3 = axis 1 x axis 2, so ``R`` is a proper rotation (det +1).

Shapes: points (..., P, 3) -> R (..., 3, 3), centre (..., 3), length (...).
Computed in float32 with autocast off (an eigendecomposition in bf16 is meaningless).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import ConfigError

__all__ = ["OBB", "fit_obb"]

#: smallest box side accepted (metres); a degenerate cloud would otherwise divide by ~0
MIN_LENGTH = 1e-3


@dataclass
class OBB:
    """An oriented bounding box per cloud.

    Attributes:
        rotation: (..., 3, 3) columns are the box axes in camera coordinates.
        centre: (..., 3) box centre in camera coordinates (metres).
        length: (...) longest box side (metres).
    """

    rotation: Tensor
    centre: Tensor
    length: Tensor

    def normalize(self, points: Tensor) -> Tensor:
        """Camera-frame points (..., P, 3) -> OBB frame (..., P, 3)."""
        r, o, l = self._cast(points)
        return (points - o.unsqueeze(-2)) @ r / l[..., None, None]

    def denormalize(self, points: Tensor) -> Tensor:
        """OBB-frame points (..., P, 3) -> camera frame (..., P, 3)."""
        r, o, l = self._cast(points)
        return (points * l[..., None, None]) @ r.transpose(-1, -2) + o.unsqueeze(-2)

    def rotate(self, dirs: Tensor) -> Tensor:
        """Camera-frame directions (..., P, 3) -> OBB frame (no shift, no scale)."""
        r, _, _ = self._cast(dirs)
        return dirs @ r

    def unrotate(self, dirs: Tensor) -> Tensor:
        """OBB-frame directions (..., P, 3) -> camera frame."""
        r, _, _ = self._cast(dirs)
        return dirs @ r.transpose(-1, -2)

    def _cast(self, like: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return (self.rotation.to(like.dtype), self.centre.to(like.dtype), self.length.to(like.dtype))

    def detach(self) -> OBB:
        return OBB(self.rotation.detach(), self.centre.detach(), self.length.detach())


def fit_obb(points: Tensor, valid: Tensor | None = None, rotate: bool = True) -> OBB:
    """Fit a PCA-oriented bounding box to every cloud.

    Args:
        points: (..., P, 3) camera-frame points.
        valid: optional (..., P) bool mask; masked points neither orient nor bound the box
            (at least one valid point per cloud is required).
        rotate: False keeps the camera axes (R = I: an axis-aligned box, centring and
            scaling only).

    Returns:
        :class:`OBB` with rotation (..., 3, 3), centre (..., 3), length (...). No gradient.
    """
    if points.ndim < 2 or points.shape[-1] != 3:
        raise ConfigError(f"fit_obb: expected points (..., P, 3), got {tuple(points.shape)}")
    if points.shape[-2] < 1:
        raise ConfigError("fit_obb: empty point cloud")
    with torch.no_grad(), torch.autocast(device_type=points.device.type, enabled=False):
        p = points.detach().float()
        if not bool(torch.isfinite(p).all()):
            raise ConfigError("fit_obb: point cloud contains NaN or inf")
        if valid is None:
            w = torch.ones(p.shape[:-1], device=p.device)
        else:
            if valid.shape != p.shape[:-1]:
                raise ConfigError(f"fit_obb: valid mask {tuple(valid.shape)} does not match points {tuple(p.shape)}")
            w = valid.float()
            if bool((w.sum(-1) == 0).any()):
                raise ConfigError("fit_obb: a cloud has no valid point")
        n = w.sum(-1, keepdim=True)  # (..., 1)
        mean = (p * w.unsqueeze(-1)).sum(-2) / n
        d = (p - mean.unsqueeze(-2)) * w.unsqueeze(-1)
        cov = d.transpose(-1, -2) @ d / n.unsqueeze(-1)
        # jitter keeps eigh well defined for flat / collinear clouds
        cov = cov + 1e-9 * torch.eye(3, device=p.device)
        _, vecs = torch.linalg.eigh(cov)  # ascending eigenvalues
        a1, a2 = vecs[..., :, 2], vecs[..., :, 1]
        a1 = a1 * _sign(a1[..., 1]).unsqueeze(-1)  # towards camera +Y
        a2 = a2 * _sign(a2[..., 0]).unsqueeze(-1)  # towards camera +X
        a3 = torch.linalg.cross(a1, a2, dim=-1)
        rot = torch.stack([a1, a2, a3], dim=-1)
        if not rotate:
            rot = torch.eye(3, device=p.device).expand_as(rot).clone()
        q = p @ rot
        big = torch.finfo(q.dtype).max
        m = w.unsqueeze(-1) > 0
        lo = torch.where(m, q, torch.full_like(q, big)).amin(-2)
        hi = torch.where(m, q, torch.full_like(q, -big)).amax(-2)
        centre = ((lo + hi) / 2).unsqueeze(-2) @ rot.transpose(-1, -2)
        length = (hi - lo).amax(-1).clamp_min(MIN_LENGTH)
    return OBB(rot, centre.squeeze(-2), length)


def _sign(x: Tensor) -> Tensor:
    return torch.where(x < 0, -torch.ones_like(x), torch.ones_like(x))
