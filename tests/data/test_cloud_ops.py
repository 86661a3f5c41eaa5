"""open3d cloud tools: FPS against the numpy reference, outliers, floor plane, voxels, PLY files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmfusion.data.cloud_ops import (
    remove_floor_plane,
    remove_outliers,
    voxel_downsample,
    write_ply,
    write_skeleton_ply,
)
from mmfusion.data.layouts import COCO17
from mmfusion.data.pointcloud import farthest_point_sampling, farthest_points, sample_points
from mmfusion.errors import ConfigError

o3d = pytest.importorskip("open3d")


def _person_on_floor(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A box-shaped 'person' standing on a floor 1.2 m below the camera, tilted by 10 degrees."""
    body = np.c_[rng.uniform(-0.25, 0.25, 3000), rng.uniform(-1.15, 0.6, 3000), rng.uniform(3.0, 3.3, 3000)]
    floor = np.c_[rng.uniform(-1.5, 1.5, 4000), np.full(4000, -1.2), rng.uniform(2.0, 5.0, 4000)]
    floor[:, 1] += rng.normal(0, 0.004, 4000)
    tilt = np.radians(10)
    rot = np.array([[1, 0, 0], [0, np.cos(tilt), -np.sin(tilt)], [0, np.sin(tilt), np.cos(tilt)]])
    return (body @ rot.T).astype(np.float32), (floor @ rot.T).astype(np.float32)


def test_open3d_fps_equals_the_numpy_reference() -> None:
    rng = np.random.default_rng(0)
    pts = rng.uniform(-1, 1, (3000, 3)).astype(np.float32)
    a = farthest_points(pts, 256, start=7, backend="open3d")
    b = farthest_points(pts, 256, start=7, backend="numpy")
    np.testing.assert_array_equal(a, b)                              # same set, same (cloud) order
    assert set(map(tuple, a)) == set(map(tuple, pts[farthest_point_sampling(pts, 256, 7)]))
    s = sample_points(pts, 64, "fps", np.random.default_rng(3))
    assert s.shape == (64, 3) and np.array_equal(s, sample_points(pts, 64, "fps", np.random.default_rng(3)))
    with pytest.raises(ConfigError):
        farthest_points(pts, 8, backend="gpu")


def test_outliers_drop_flying_pixels() -> None:
    rng = np.random.default_rng(1)
    body, _ = _person_on_floor(rng)
    flying = np.c_[rng.uniform(-0.3, 0.3, 30), rng.uniform(-1, 0.6, 30), rng.uniform(3.6, 5.5, 30)].astype(np.float32)
    keep = remove_outliers(np.concatenate([body, flying]), neighbors=20, std_ratio=2.0)
    assert keep[len(body):].mean() < 0.2 and keep[:len(body)].mean() > 0.95
    assert remove_outliers(body[:5]).all()                           # too few points to judge


def test_floor_plane_is_found_and_removed() -> None:
    rng = np.random.default_rng(2)
    body, floor = _person_on_floor(rng)
    keep, plane = remove_floor_plane(np.concatenate([body, floor]), distance=0.02, search_height=0.5)
    assert plane is not None
    normal = np.array(plane[:3])
    assert normal[1] > 0.97                                          # roughly up (tilted by 10 degrees)
    assert keep[len(body):].mean() < 0.01 and keep[:len(body)].mean() > 0.97
    # a cloud without a floor keeps everything
    keep, plane = remove_floor_plane(body[np.abs(body[:, 0]) < 0.05], distance=0.02)
    assert plane is None and keep.all()


def test_voxels_and_ply_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    pts = rng.uniform(0, 1, (5000, 3)).astype(np.float32)
    vox = voxel_downsample(pts, 0.25)
    assert 32 <= len(vox) <= 125 and vox.dtype == np.float32
    with pytest.raises(ConfigError):
        voxel_downsample(pts, 0.0)
    colors = rng.integers(0, 255, (5000, 3)).astype(np.uint8)
    p = write_ply(tmp_path / "a" / "cloud.ply", pts, colors)
    back = o3d.io.read_point_cloud(str(p))
    np.testing.assert_allclose(np.asarray(back.points), pts, atol=1e-6)
    np.testing.assert_allclose(np.asarray(back.colors) * 255, colors, atol=0.6)
    joints = rng.uniform(-1, 1, (2, 17, 3)).astype(np.float32)
    joints[1] = 0                                                    # an absent person
    joints[0, 0] = 0                                                 # an absent joint (nose)
    q = write_skeleton_ply(tmp_path / "skel.ply", joints, COCO17.bones)
    ls = o3d.io.read_line_set(str(q))
    assert len(ls.points) == 16
    n_bones = sum(1 for a, b in COCO17.bones if a != 0 and b != 0)
    assert len(ls.lines) == n_bones
    lines = np.asarray(ls.lines)
    np.testing.assert_allclose(np.asarray(ls.points)[lines[0]], joints[0, 1:][lines[0]], atol=1e-6)
    pts_only = o3d.io.read_point_cloud(str(write_skeleton_ply(tmp_path / "j.ply", joints, None)))
    assert len(pts_only.points) == 16
