"""Depth frames -> point clouds in the skeleton's camera frame, and fixed-size sampling.

Back-projection (Kinect v2 depth camera, 0-based pixels, depth in millimetres)::

    Z = d / 1000,   X = (u - cx) Z / fx,   Y = -(v - cy) Z / fy

so clouds share the NTU skeleton frame (+Y up, +Z away from the sensor). NTU publishes no
calibration; the default intrinsics ``fx = fy = 366.3, cx = 256.4, cy = 208.5`` were fitted
to the skeleton files' 3D joints and their depth-pixel coordinates (sub-pixel RMS); a second
camera group has ``cx = 262.5, cy = 209.7`` (:data:`KINECT_V2_DEPTH_GROUP2`).

Shapes: a frame gives ``(N, 3)`` float32 with N = number of valid (non-zero) pixels;
:func:`sample_points` makes it ``(n, 3)``; :func:`depth_clip_to_points` maps ``(T, H, W)``
depth to ``(T, n, 3)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

try:
    import open3d as _o3d
except ImportError:  # pragma: no cover - open3d needs libusb; numpy path stays available
    _o3d = None


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics in pixels (0-based pixel centres)."""

    fx: float
    fy: float
    cx: float
    cy: float

    def scaled(self, sx: float, sy: float | None = None) -> CameraIntrinsics:
        """Intrinsics of the same camera after resizing the image by (sx, sy)."""
        sy = sx if sy is None else sy
        return CameraIntrinsics(self.fx * sx, self.fy * sy, (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5)

    def project(self, xyz: np.ndarray) -> np.ndarray:
        """(..., 3) camera points -> (..., 2) pixel (u, v); Y up in camera space, v down in the image."""
        xyz = np.asarray(xyz, dtype=np.float64)
        z = np.where(np.abs(xyz[..., 2]) < 1e-9, 1e-9, xyz[..., 2])
        return np.stack([self.cx + self.fx * xyz[..., 0] / z, self.cy - self.fy * xyz[..., 1] / z], axis=-1)


KINECT_V2_DEPTH = CameraIntrinsics(366.3, 366.3, 256.4, 208.5)
KINECT_V2_DEPTH_GROUP2 = CameraIntrinsics(366.3, 366.3, 262.5, 209.7)


def depth_to_points(depth: np.ndarray, intr: CameraIntrinsics = KINECT_V2_DEPTH,
                    backend: str = "auto") -> np.ndarray:
    """Back-project the valid pixels of a ``uint16 (H, W)`` millimetre depth frame to ``(N, 3)`` metres.

    Points come in row-major pixel order. ``backend`` is "open3d", "numpy" or "auto"
    (open3d when importable); both give the same points.
    """
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise ConfigError(f"depth must be (H, W), got shape {depth.shape}")
    if backend == "auto":
        backend = "open3d" if _o3d is not None else "numpy"
    if backend == "open3d":
        if _o3d is None:
            raise ConfigError("open3d is not importable (is libusb-1.0 installed?); use backend='numpy'")
        h, w = depth.shape
        cam = _o3d.camera.PinholeCameraIntrinsic(w, h, intr.fx, intr.fy, intr.cx, intr.cy)
        img = _o3d.geometry.Image(np.ascontiguousarray(depth.astype(np.uint16)))
        pcd = _o3d.geometry.PointCloud.create_from_depth_image(img, cam, depth_scale=1000.0, depth_trunc=1e9)
        pts = np.asarray(pcd.points, dtype=np.float32)
        pts[:, 1] *= -1.0  # open3d's camera has Y down; NTU's skeleton frame has Y up
        return pts
    if backend != "numpy":
        raise ConfigError(f"backend must be 'auto', 'open3d' or 'numpy', got {backend!r}")
    v, u = np.nonzero(depth)
    z = depth[v, u].astype(np.float64) / 1000.0
    x = (u - intr.cx) * z / intr.fx
    y = -(v - intr.cy) * z / intr.fy
    return np.stack([x, y, z], axis=1).astype(np.float32)


def farthest_point_sampling(points: np.ndarray, n: int, start: int = 0) -> np.ndarray:
    """Indices of ``n`` points chosen greedily to maximise the minimum distance (first = ``start``)."""
    p = np.asarray(points, dtype=np.float32)
    count = len(p)
    if n >= count:
        return np.arange(count)
    idx = np.empty(n, dtype=np.int64)
    idx[0] = start
    dist = np.sum((p - p[start]) ** 2, axis=1)
    for k in range(1, n):
        idx[k] = int(np.argmax(dist))
        np.minimum(dist, np.sum((p - p[idx[k]]) ** 2, axis=1), out=dist)
    return idx


def sample_points(points: np.ndarray, n: int, method: str = "random",
                  rng: np.random.Generator | None = None) -> np.ndarray:
    """Exactly ``n`` points from an ``(N, 3)`` cloud.

    "random" draws without replacement; "fps" is farthest-point sampling from a random
    start. With fewer than ``n`` points the cloud is tiled and topped up at random (as
    PSTNet/P4Transformer do); an empty cloud gives zeros, so one bad frame cannot crash a batch.
    """
    points = np.asarray(points, dtype=np.float32)
    rng = rng if rng is not None else np.random.default_rng(0)
    count = len(points)
    if count == 0:
        return np.zeros((n, 3), dtype=np.float32)
    if count < n:
        reps = np.concatenate([np.tile(np.arange(count), n // count),
                               rng.choice(count, n % count, replace=False)])
        return points[reps]
    if method == "random":
        return points[rng.choice(count, n, replace=False)]
    if method == "fps":
        return points[farthest_point_sampling(points, n, start=int(rng.integers(count)))]
    raise ConfigError(f"sampling method must be 'random' or 'fps', got {method!r}")


def depth_clip_to_points(depth: np.ndarray, n: int, intr: CameraIntrinsics = KINECT_V2_DEPTH,
                         method: str = "random", rng: np.random.Generator | None = None,
                         backend: str = "auto") -> np.ndarray:
    """``uint16 (T, H, W)`` depth clip -> ``float32 (T, n, 3)`` point clip."""
    depth = np.asarray(depth)
    if depth.ndim != 3:
        raise ConfigError(f"depth clip must be (T, H, W), got shape {depth.shape}")
    rng = rng if rng is not None else np.random.default_rng(0)
    return np.stack([sample_points(depth_to_points(d, intr, backend), n, method, rng) for d in depth]) \
        if len(depth) else np.zeros((0, n, 3), dtype=np.float32)
