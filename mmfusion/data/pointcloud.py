"""Fixed-size point clouds for the data sets: depth frames -> (n, 3) points per frame.

Back-projection is :func:`mmfusion.data.camera.depth_to_points` (NTU camera frame: X right, Y up,
Z forward, metres; re-exported here with :class:`~mmfusion.data.camera.CameraIntrinsics` and the
Kinect v2 constants for older imports). This module makes every frame exactly ``n`` points:

* "random": ``n`` points drawn without replacement (numpy; the data sets' default);
* "fps": farthest-point sampling. open3d's ``farthest_point_down_sample`` when open3d imports
  (50,000 -> 2,048 points: 0.54 s against 6.0 s for the numpy loop, measured here); both choose
  the same set (greedy max-min distance from the same start), returned in the cloud's own
  (row-major) order so that the two backends give the same array;
* fewer than ``n`` valid pixels: the cloud is tiled and topped up at random (PSTNet /
  P4Transformer); no valid pixel: zeros, so one bad frame cannot crash a batch.

Shapes: a frame gives ``(N, 3)`` float32 with N = number of valid (non-zero) pixels;
:func:`sample_points` makes it ``(n, 3)``; :func:`depth_clip_to_points` maps ``(T, H, W)``
depth to ``(T, n, 3)``. Cleaning (outliers, floor plane, voxels) and PLY export:
:mod:`mmfusion.data.cloud_ops`.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .camera import KINECT_V2_DEPTH, KINECT_V2_DEPTH_GROUP2, CameraIntrinsics, depth_to_points
from .open3d_lazy import have_open3d, open3d

__all__ = ["CameraIntrinsics", "KINECT_V2_DEPTH", "KINECT_V2_DEPTH_GROUP2", "depth_to_points",
           "farthest_point_sampling", "farthest_points", "sample_points", "depth_clip_to_points"]


def farthest_point_sampling(points: np.ndarray, n: int, start: int = 0) -> np.ndarray:
    """Indices of ``n`` points chosen greedily to maximise the minimum distance, in selection order
    (first = ``start``); the numpy reference of :func:`farthest_points`."""
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


def farthest_points(points: np.ndarray, n: int, start: int = 0, backend: str = "auto") -> np.ndarray:
    """The ``n`` farthest-point-sampled points of an ``(N, 3)`` cloud (N >= n), in cloud order.

    ``backend``: "open3d", "numpy" or "auto" (open3d when it imports; see the module docstring).
    """
    points = np.asarray(points, dtype=np.float32)
    if backend not in ("auto", "open3d", "numpy"):
        raise ConfigError(f"backend must be 'auto', 'open3d' or 'numpy', got {backend!r}")
    if n >= len(points):
        return points.copy()
    if backend == "open3d" or (backend == "auto" and have_open3d()):
        o3d = open3d()
        pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points.astype(np.float64)))
        return np.asarray(pcd.farthest_point_down_sample(n, start).points, dtype=np.float32)
    return points[np.sort(farthest_point_sampling(points, n, start))]


def sample_points(points: np.ndarray, n: int, method: str = "random",
                  rng: np.random.Generator | None = None) -> np.ndarray:
    """Exactly ``n`` points from an ``(N, 3)`` cloud (see the module docstring)."""
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
        return farthest_points(points, n, start=int(rng.integers(count)))
    raise ConfigError(f"sampling method must be 'random' or 'fps', got {method!r}")


def depth_clip_to_points(depth: np.ndarray, n: int, intr: CameraIntrinsics = KINECT_V2_DEPTH,
                         method: str = "random", rng: np.random.Generator | None = None,
                         backend: str = "auto") -> np.ndarray:
    """``uint16 (T, H, W)`` depth clip -> ``float32 (T, n, 3)`` point clip."""
    depth = np.asarray(depth)
    if depth.ndim != 3:
        raise ConfigError(f"depth clip must be (T, H, W), got shape {depth.shape}")
    rng = rng if rng is not None else np.random.default_rng(0)
    if not len(depth):
        return np.zeros((0, n, 3), dtype=np.float32)
    return np.stack([sample_points(depth_to_points(d, intr, backend=backend), n, method, rng) for d in depth])
