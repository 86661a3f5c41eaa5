"""Point-cloud cleaning and export with open3d: outliers, floor plane, voxels, PLY files.

Every function takes and returns numpy ``(N, 3)`` float32 clouds in the NTU camera frame
(:mod:`mmfusion.data.camera`: X right, Y up, Z forward, metres); open3d is imported on the
first call (:mod:`mmfusion.data.open3d_lazy`), never by ``import mmfusion``.

* :func:`remove_outliers` -- open3d's statistical outlier removal: Kinect "flying pixels"
  (depth interpolated across a silhouette edge, floating between the person and the wall) sit
  far from their neighbours;
* :func:`remove_floor_plane` -- open3d's RANSAC ``segment_plane`` on the lowest part of the
  cloud; a near-horizontal plane holding enough points is the floor, and every point less than
  ``distance`` above it (or below it) is dropped;
* :func:`voxel_downsample` -- open3d's ``voxel_down_sample`` (one averaged point per voxel);
* :func:`write_ply` / :func:`write_skeleton_ply` -- PLY files of clouds (optionally coloured)
  and of skeletons (a line set along the layout's bones, or the joints as a point set), readable
  by open3d, MeshLab, CloudCompare and Blender.

What stays numpy / torch and why: back-projection of one frame is
:func:`mmfusion.data.camera.depth_to_points` (open3d by default, numpy / torch on request:
torch keeps it differentiable and on the GPU); fixed-size sampling is
:mod:`mmfusion.data.pointcloud` (open3d's farthest-point sampling, numpy's random draws, which
need the data set's seeded generator).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from .open3d_lazy import open3d

__all__ = ["to_open3d", "remove_outliers", "remove_floor_plane", "voxel_downsample", "write_ply",
           "write_skeleton_ply", "FloorPlane"]

FloorPlane = tuple[float, float, float, float]


def _cloud(points: Any, name: str = "points") -> np.ndarray:
    p = np.asarray(points, dtype=np.float32)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ConfigError(f"{name} must be (N, 3), got shape {p.shape}")
    return p


def to_open3d(points: np.ndarray, colors: np.ndarray | None = None) -> Any:
    """(N, 3) points (+ (N, 3) colours in [0, 1] or uint8) -> ``open3d.geometry.PointCloud``."""
    o3d = open3d()
    p = _cloud(points)
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(p.astype(np.float64)))
    if colors is not None:
        c = np.asarray(colors)
        if c.shape != p.shape:
            raise ConfigError(f"colors must be (N, 3) like the points {p.shape}, got {c.shape}")
        c = c.astype(np.float64) / (255.0 if c.dtype == np.uint8 else 1.0)
        pcd.colors = o3d.utility.Vector3dVector(c)
    return pcd


def remove_outliers(points: np.ndarray, neighbors: int = 20, std_ratio: float = 2.0) -> np.ndarray:
    """Keep-mask (N,) of open3d's statistical outlier removal: a point whose mean distance to its
    ``neighbors`` nearest points exceeds the cloud's mean of that by ``std_ratio`` standard
    deviations is an outlier (Kinect flying pixels). Clouds of <= ``neighbors`` points are kept."""
    p = _cloud(points)
    keep = np.ones(len(p), bool)
    if len(p) <= neighbors:
        return keep
    _, idx = to_open3d(p).remove_statistical_outlier(nb_neighbors=neighbors, std_ratio=std_ratio)
    keep[:] = False
    keep[np.asarray(idx, dtype=np.int64)] = True
    return keep


def remove_floor_plane(points: np.ndarray, distance: float = 0.02, search_height: float = 0.3,
                       max_tilt_deg: float = 40.0, min_fraction: float = 0.3, iterations: int = 200,
                       seed: int = 0) -> tuple[np.ndarray, FloorPlane | None]:
    """Drop the floor: RANSAC plane (open3d ``segment_plane``) among the lowest ``search_height`` of
    the cloud's vertical extent (camera Y).

    Args:
        points: (N, 3) camera metres.
        distance: inlier distance of the plane, metres (Kinect noise at 3-4 m is ~1-2 cm).
        max_tilt_deg: largest angle between the plane's normal and +Y (the camera looks roughly level).
        min_fraction: the plane must hold this share of the searched points.
        seed: open3d's RANSAC seed.

    Returns:
        (keep-mask (N,), plane ``(a, b, c, d)`` with ``a x + b y + c z + d = 0`` and (a, b, c) a unit
        normal pointing up; None when no floor was found, then every point is kept).
    """
    o3d = open3d()
    p = _cloud(points)
    keep = np.ones(len(p), bool)
    if len(p) < 20:
        return keep, None
    y = p[:, 1]
    low = y <= y.min() + search_height * (y.max() - y.min())
    cand = p[low]
    if len(cand) < 20:
        return keep, None
    o3d.utility.random.seed(int(seed))
    plane, inliers = to_open3d(cand).segment_plane(distance_threshold=distance, ransac_n=3,
                                                   num_iterations=iterations)
    a, b, c, d = (float(v) for v in np.asarray(plane).reshape(-1))
    norm = math.sqrt(a * a + b * b + c * c)
    if norm < 1e-9:
        return keep, None
    a, b, c, d = (v / norm * (1.0 if b >= 0 else -1.0) for v in (a, b, c, d))  # normal up (+Y)
    if b < math.cos(math.radians(max_tilt_deg)) or len(inliers) < min_fraction * len(cand):
        return keep, None
    height = p.astype(np.float64) @ np.array([a, b, c]) + d
    keep = height >= distance
    return keep, (a, b, c, d)


def voxel_downsample(points: np.ndarray, voxel: float) -> np.ndarray:
    """(M, 3) float32: one point (the mean) per occupied ``voxel``-metre cube (open3d)."""
    if not voxel > 0:
        raise ConfigError(f"voxel size must be > 0 metres, got {voxel}")
    p = _cloud(points)
    if not len(p):
        return p.copy()
    return np.asarray(to_open3d(p).voxel_down_sample(voxel).points, dtype=np.float32)


def write_ply(path: str | os.PathLike[str], points: np.ndarray, colors: np.ndarray | None = None,
              ascii: bool = False) -> Path:
    """Write a cloud (N, 3) (+ colours (N, 3), uint8 or [0, 1]) as PLY; folders are created."""
    o3d = open3d()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not o3d.io.write_point_cloud(str(out), to_open3d(points, colors), write_ascii=ascii):
        raise ConfigError(f"open3d could not write {out}")
    return out


def write_skeleton_ply(path: str | os.PathLike[str], joints: np.ndarray, bones: Sequence[tuple[int, int]] | None,
                       color: Sequence[float] = (1.0, 0.2, 0.2), ascii: bool = False) -> Path:
    """Write skeletons as PLY: joints (M, V, 3) or (V, 3) metres joined along ``bones`` (child,
    parent) pairs as a line set, or a point set when ``bones`` is None. All-zero joints
    (absent persons / joints) are left out with their bones."""
    o3d = open3d()
    j = np.asarray(joints, dtype=np.float32)
    if j.ndim == 2:
        j = j[None]
    if j.ndim != 3 or j.shape[-1] != 3:
        raise ConfigError(f"joints must be (M, V, 3) or (V, 3), got shape {np.shape(joints)}")
    m, v, _ = j.shape
    flat = j.reshape(-1, 3)
    present = np.abs(flat).sum(-1) > 0
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if bones is None:
        return write_ply(out, flat[present], np.tile(np.asarray(color, np.float64), (int(present.sum()), 1)), ascii)
    new = np.cumsum(present) - 1  # index of each kept joint in the written vertex list
    lines = [(new[k * v + a], new[k * v + b]) for k in range(m) for a, b in bones
             if present[k * v + a] and present[k * v + b]]
    ls = o3d.geometry.LineSet(o3d.utility.Vector3dVector(flat[present].astype(np.float64)),
                              o3d.utility.Vector2iVector(np.asarray(lines, np.int32).reshape(-1, 2)))
    ls.colors = o3d.utility.Vector3dVector(np.tile(np.asarray(color, np.float64), (len(lines), 1)))
    if not o3d.io.write_line_set(str(out), ls, write_ascii=ascii):
        raise ConfigError(f"open3d could not write {out}")
    return out
