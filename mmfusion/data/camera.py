"""Pinhole camera geometry: one intrinsics type and the projection maths, for numpy and torch alike.

Convention (NTU RGB+D / Kinect v2 camera space, the frame of NTU skeletons and of every point
cloud in mmfusion): X right, Y up, Z forward (metres); pixels (u, v) = (column, row) with pixel
centres at integer coordinates (0-based)::

    u = cx + fx X / Z,      v = cy - fy Y / Z                      (project)
    X = (u - cx) Z / fx,    Y = -(v - cy) Z / fy                   (backproject)

The image v axis points down while Y points up, hence the minus signs (open3d and OpenCV use
Y down; :func:`depth_to_points` converts).

NTU publishes no calibration; :data:`KINECT_V2_DEPTH` (``fx = fy = 366.3, cx = 256.4,
cy = 208.5``, 512 x 424 depth frames) was fitted to the skeleton files' 3-D joints and their
depth-pixel coordinates (sub-pixel RMS); a second camera group has ``cx = 262.5, cy = 209.7``
(:data:`KINECT_V2_DEPTH_GROUP2`). :func:`fit_intrinsics` is that fit (per image axis, linear least
squares on ``u = cx + fx X / Z``, ``v = cy - fy Y / Z``); :func:`reprojection_error` measures it.
Per-sample fits of real NTU data: :mod:`mmfusion.data.calibration`.

Array types: :func:`project`, :func:`backproject` and :func:`depth_to_points` take numpy arrays
or torch tensors and return the same type (torch: same dtype and device, differentiable; numpy:
the input's floating dtype, integer inputs computed in float64).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor

from ..errors import ConfigError
from .open3d_lazy import have_open3d, open3d

__all__ = ["CameraIntrinsics", "KINECT_V2_DEPTH", "KINECT_V2_DEPTH_GROUP2", "project", "backproject",
           "depth_to_points", "intrinsics_tensor", "fit_intrinsics", "reprojection_error"]

ArrayT = TypeVar("ArrayT", np.ndarray, Tensor)

#: |Z| below this is treated as this (a point on the camera plane has no finite pixel)
Z_EPS = 1e-9


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics in pixels of one image size (0-based pixel centres).

    Attributes:
        fx, fy: focal lengths in pixels.
        cx, cy: principal point in pixels.
    """

    fx: float
    fy: float
    cx: float
    cy: float

    @classmethod
    def from_any(cls, x: Any) -> CameraIntrinsics:
        """From a CameraIntrinsics, an object with ``fx, fy, cx, cy`` attributes, a mapping with
        those keys, a 4-sequence ``(fx, fy, cx, cy)`` or a (4,) array / tensor.

        Raises:
            ConfigError: anything else (names what was given).
        """
        if isinstance(x, CameraIntrinsics):
            return x
        keys = ("fx", "fy", "cx", "cy")
        if isinstance(x, Mapping):
            if all(k in x for k in keys):
                return cls(*(float(x[k]) for k in keys))
            raise ConfigError(f"intrinsics mapping needs keys {keys}, got {sorted(x)}")
        if all(hasattr(x, k) for k in keys):
            return cls(*(float(getattr(x, k)) for k in keys))
        if isinstance(x, Tensor):
            x = x.detach().cpu().numpy()
        try:
            vals = [float(v) for v in np.asarray(x, dtype=np.float64).reshape(-1)]
        except (TypeError, ValueError):
            raise ConfigError(f"cannot read camera intrinsics from {type(x).__name__} {x!r}") from None
        if len(vals) != 4:
            raise ConfigError(f"intrinsics need 4 values fx, fy, cx, cy, got {vals}")
        return cls(*vals)

    def as_tuple(self) -> tuple[float, float, float, float]:
        """``(fx, fy, cx, cy)``."""
        return self.fx, self.fy, self.cx, self.cy

    def to_dict(self) -> dict[str, float]:
        return {"fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy}

    def scaled(self, sx: float, sy: float | None = None) -> CameraIntrinsics:
        """The same camera after resizing its image by (sx, sy) (half-pixel convention:
        ``u -> (u + 0.5) s - 0.5``)."""
        sy = sx if sy is None else sy
        return CameraIntrinsics(self.fx * sx, self.fy * sy, (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5)

    def mirrored(self, width: int) -> CameraIntrinsics:
        """The camera of the horizontally mirrored image of ``width`` pixels (``u -> W - 1 - u``):
        back-projecting the mirrored image with it negates X exactly."""
        return CameraIntrinsics(self.fx, self.fy, width - 1 - self.cx, self.cy)

    def project(self, xyz: Any) -> Any:
        """Method form of :func:`project`."""
        return project(xyz, self)


KINECT_V2_DEPTH = CameraIntrinsics(366.3, 366.3, 256.4, 208.5)
KINECT_V2_DEPTH_GROUP2 = CameraIntrinsics(366.3, 366.3, 262.5, 209.7)


def intrinsics_tensor(intr: Any, like: Tensor) -> Tensor:
    """(4,) ``[fx, fy, cx, cy]`` on ``like``'s device and dtype; a (..., 4) tensor is passed through
    (per-sample intrinsics, e.g. crops of UniPose)."""
    if isinstance(intr, Tensor) and intr.ndim >= 1 and intr.shape[-1] == 4 and intr.numel() > 4:
        return intr.to(device=like.device, dtype=like.dtype)
    return torch.tensor(CameraIntrinsics.from_any(intr).as_tuple(), device=like.device, dtype=like.dtype)


def _float_np(x: Any) -> np.ndarray:
    a = np.asarray(x)
    return a if np.issubdtype(a.dtype, np.floating) else a.astype(np.float64)


def project(xyz: ArrayT, intr: Any, min_depth: float | None = None) -> ArrayT:
    """Camera points (..., 3) -> pixels (..., 2) ``(u, v)``.

    ``intr``: anything :meth:`CameraIntrinsics.from_any` reads; for tensors also a (..., 4) tensor
    broadcasting against ``xyz[..., 0]`` (per-sample intrinsics: (N, 1, 4) for points (N, J, 3)).
    Z: with ``min_depth`` every Z is clamped to at least it (UniPose's decoding, 1e-6); without,
    only ``|Z| < 1e-9`` is replaced by 1e-9 (callers mask absent joints themselves).
    """
    if isinstance(xyz, Tensor):
        k = intrinsics_tensor(intr, xyz)
        z = xyz[..., 2]
        if min_depth is not None:
            z = z.clamp_min(min_depth)
        else:
            z = torch.where(z.abs() < Z_EPS, torch.full_like(z, Z_EPS), z)
        return torch.stack([k[..., 2] + k[..., 0] * xyz[..., 0] / z, k[..., 3] - k[..., 1] * xyz[..., 1] / z], -1)
    c = CameraIntrinsics.from_any(intr)
    p = _float_np(xyz)
    if min_depth is not None:
        z = np.maximum(p[..., 2], min_depth).astype(p.dtype, copy=False)
    else:
        z = np.where(np.abs(p[..., 2]) < Z_EPS, Z_EPS, p[..., 2]).astype(p.dtype, copy=False)
    return np.stack([c.cx + c.fx * p[..., 0] / z, c.cy - c.fy * p[..., 1] / z], axis=-1)


def backproject(uv: ArrayT, z: ArrayT, intr: Any) -> ArrayT:
    """Pixels (..., 2) and their depth Z (...) in metres -> camera points (..., 3).

    numpy: computed in the promoted float type of ``uv`` and ``z`` (integer pixels with float32 Z
    stay float32 only if you cast first); torch: ``z``'s dtype and device.
    """
    if isinstance(uv, Tensor) or isinstance(z, Tensor):
        zt = torch.as_tensor(z)
        uvt = torch.as_tensor(uv, device=zt.device).to(zt.dtype)
        k = intrinsics_tensor(intr, zt)
        x = (uvt[..., 0] - k[..., 2]) * zt / k[..., 0]
        y = -(uvt[..., 1] - k[..., 3]) * zt / k[..., 1]
        return torch.stack([x, y, zt], -1)
    c = CameraIntrinsics.from_any(intr)
    uv, z = np.asarray(uv), np.asarray(z)
    x = (uv[..., 0] - c.cx) * z / c.fx
    y = -(uv[..., 1] - c.cy) * z / c.fy
    return np.stack([x, y, np.broadcast_to(z, x.shape).astype(x.dtype, copy=False)], axis=-1)


def depth_to_points(depth: ArrayT, intr: Any = KINECT_V2_DEPTH, depth_scale: float = 1000.0,
                    backend: str = "auto") -> ArrayT:
    """The valid (non-zero) pixels of one depth frame (H, W) -> (N, 3) camera points, row-major order.

    numpy: ``uint16`` millimetres (``depth_scale`` units per metre) -> float32 points. ``backend``:
    "open3d" (``PointCloud.create_from_depth_image``, Y flipped to NTU's Y up), "numpy" (float64
    maths, then float32) or "auto" = open3d when it imports. The two agree to 1 float32 ulp; "auto"
    keeps open3d because every packed store and published figure was made with it (samples stay
    bit-identical), although numpy is faster on one 512 x 424 frame (1.6 ms vs 2.7 ms).
    torch: any dtype -> points of ``depth``'s float dtype (float32 for integer depth), same device
    (``backend`` ignored).
    """
    if depth.ndim != 2:
        raise ConfigError(f"depth must be (H, W), got shape {tuple(depth.shape)}")
    if isinstance(depth, Tensor):
        v, u = torch.nonzero(depth, as_tuple=True)
        dt = depth.dtype if depth.is_floating_point() else torch.float32
        z = depth[v, u].to(dt) / depth_scale
        return backproject(torch.stack([u, v], -1), z, intr)
    if backend not in ("auto", "open3d", "numpy"):
        raise ConfigError(f"backend must be 'auto', 'open3d' or 'numpy', got {backend!r}")
    d = np.asarray(depth)
    if backend == "open3d" or (backend == "auto" and have_open3d()):
        o3d = open3d()
        c = CameraIntrinsics.from_any(intr)
        h, w = d.shape
        cam = o3d.camera.PinholeCameraIntrinsic(w, h, c.fx, c.fy, c.cx, c.cy)
        img = o3d.geometry.Image(np.ascontiguousarray(d.astype(np.uint16)))
        pcd = o3d.geometry.PointCloud.create_from_depth_image(img, cam, depth_scale=depth_scale, depth_trunc=1e9)
        pts = np.asarray(pcd.points, dtype=np.float32)
        pts[:, 1] *= -1.0  # open3d's camera has Y down; NTU's has Y up
        return pts
    v, u = np.nonzero(d)
    z = d[v, u].astype(np.float64) / depth_scale
    return backproject(np.stack([u, v], axis=-1), z, intr).astype(np.float32)


def fit_intrinsics(xyz: np.ndarray, uv: np.ndarray, min_points: int = 8) -> CameraIntrinsics:
    """Least-squares pinhole intrinsics from camera points (N, 3) (metres, Z > 0) and their pixels (N, 2).

    Each image axis is an independent linear fit, ``u = cx + fx X / Z`` and ``v = cy - fy Y / Z``
    (no distortion: Kinect v2's skeleton pixels follow the pinhole model to < 0.5 px on real NTU files).

    Raises:
        ConfigError: fewer than ``min_points`` correspondences, shapes that do not match, points with
            Z <= 0, or points that do not constrain both axes (all at one X / Z or one Y / Z).
    """
    p = np.asarray(xyz, dtype=np.float64)
    q = np.asarray(uv, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3 or q.shape != (len(p), 2):
        raise ConfigError(f"fit_intrinsics needs points (N, 3) and pixels (N, 2), got {p.shape} and {q.shape}")
    if len(p) < min_points:
        raise ConfigError(f"intrinsics fit needs >= {min_points} correspondences, got {len(p)}")
    z = p[:, 2]
    if not (np.isfinite(p).all() and np.isfinite(q).all() and (z > 0).all()):
        raise ConfigError("intrinsics fit needs finite points in front of the camera (Z > 0) and finite pixels")
    xn, yn = p[:, 0] / z, -p[:, 1] / z
    # with every point on one ray the focal length is unconstrained (lstsq would return a guess)
    if np.ptp(xn) < 1e-3 or np.ptp(yn) < 1e-3:
        raise ConfigError(f"intrinsics fit is degenerate: X / Z spans {np.ptp(xn):.2g}, Y / Z spans {np.ptp(yn):.2g}")
    one = np.ones_like(z)
    fx, cx = np.linalg.lstsq(np.c_[xn, one], q[:, 0], rcond=None)[0]
    fy, cy = np.linalg.lstsq(np.c_[yn, one], q[:, 1], rcond=None)[0]
    return CameraIntrinsics(float(fx), float(fy), float(cx), float(cy))


def reprojection_error(xyz: np.ndarray, uv: np.ndarray, intr: Any) -> np.ndarray:
    """(N,) pixel distance between the projections of camera points (N, 3) and the pixels (N, 2)."""
    q = np.asarray(uv, dtype=np.float64)
    return np.linalg.norm(project(np.asarray(xyz, dtype=np.float64), intr) - q, axis=-1)
