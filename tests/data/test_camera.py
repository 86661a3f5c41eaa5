"""Camera geometry: one intrinsics type, projection / back-projection for numpy and torch."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from mmfusion.data.camera import (
    KINECT_V2_DEPTH,
    CameraIntrinsics,
    backproject,
    depth_to_points,
    project,
)
from mmfusion.errors import ConfigError

INTR = CameraIntrinsics(100.0, 110.0, 31.5, 23.5)


def test_from_any_reads_every_form() -> None:
    class Obj:
        fx, fy, cx, cy = 100.0, 110.0, 31.5, 23.5

    forms = [INTR, (100, 110, 31.5, 23.5), [100, 110, 31.5, 23.5], {"fx": 100, "fy": 110, "cx": 31.5, "cy": 23.5},
             Obj(), np.array([100, 110, 31.5, 23.5]), torch.tensor([100.0, 110.0, 31.5, 23.5])]
    for f in forms:
        assert CameraIntrinsics.from_any(f) == INTR, f
    with pytest.raises(ConfigError, match="4 values"):
        CameraIntrinsics.from_any((1.0, 2.0, 3.0))
    with pytest.raises(ConfigError, match="keys"):
        CameraIntrinsics.from_any({"fx": 1.0})
    with pytest.raises(ConfigError):
        CameraIntrinsics.from_any("fx")


def test_convention_and_roundtrip_numpy() -> None:
    # a point right of and above the optical axis lands right of and above the principal point
    uv = project(np.array([0.5, 0.2, 2.0]), INTR)
    assert uv[0] == pytest.approx(31.5 + 100 * 0.25) and uv[1] == pytest.approx(23.5 - 110 * 0.1)
    rng = np.random.default_rng(0)
    xyz = np.c_[rng.uniform(-1, 1, (50, 2)), rng.uniform(1, 5, 50)]
    back = backproject(project(xyz, INTR), xyz[:, 2], INTR)
    np.testing.assert_allclose(back, xyz, atol=1e-12)
    assert project(xyz.astype(np.float32), INTR).dtype == np.float32
    # min_depth clamps Z (points behind the camera stay finite and on the right side)
    behind = project(np.array([0.5, 0.0, -1.0]), INTR, min_depth=0.5)
    assert behind[0] == pytest.approx(31.5 + 100 * 1.0)
    t = project(torch.tensor([[0.5, 0.0, -1.0]]), INTR, min_depth=0.5)
    assert t[0, 0].item() == pytest.approx(behind[0])


def test_torch_keeps_dtype_device_and_gradients() -> None:
    xyz = torch.tensor([[0.3, -0.2, 2.5], [-0.4, 0.6, 3.0]], dtype=torch.float64, requires_grad=True)
    uv = project(xyz, INTR)
    assert uv.dtype == torch.float64 and uv.device == xyz.device
    np.testing.assert_allclose(uv.detach().numpy(), project(xyz.detach().numpy(), INTR))
    assert torch.autograd.gradcheck(lambda p: project(p, INTR), (xyz,))
    z = torch.tensor([2.5, 3.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: backproject(a, b, INTR), (uv.detach().requires_grad_(), z))
    # per-sample intrinsics as an (N, 4) tensor
    k = torch.tensor([INTR.as_tuple(), (50.0, 50.0, 10.0, 10.0)], dtype=torch.float64)
    uv2 = project(xyz.detach(), k)
    assert torch.allclose(uv2[0], uv[0].detach()) and not torch.allclose(uv2[1], uv[1].detach())


def test_scaled_and_mirrored() -> None:
    xyz = np.array([[0.3, -0.2, 2.5], [-0.4, 0.6, 3.0]])
    half = INTR.scaled(0.5)
    np.testing.assert_allclose(project(xyz, half), (project(xyz, INTR) + 0.5) * 0.5 - 0.5)
    # back-projecting the mirrored image with the mirrored camera negates X exactly
    rng = np.random.default_rng(1)
    depth = rng.integers(500, 4000, (48, 64)).astype(np.uint16)
    depth[rng.random(depth.shape) < 0.3] = 0
    a = depth_to_points(depth, INTR, backend="numpy")
    b = depth_to_points(np.ascontiguousarray(depth[:, ::-1]), INTR.mirrored(64), backend="numpy")
    order = lambda p: p[np.lexsort((p[:, 2], p[:, 1], p[:, 0]))]  # noqa: E731
    np.testing.assert_allclose(order(b * [-1, 1, 1]), order(a), atol=1e-6)


def test_depth_to_points_numpy_torch_open3d_agree() -> None:
    rng = np.random.default_rng(2)
    depth = rng.integers(0, 4500, (42, 51)).astype(np.uint16)
    depth[rng.random(depth.shape) < 0.4] = 0
    a = depth_to_points(depth, KINECT_V2_DEPTH, backend="numpy")
    t = depth_to_points(torch.from_numpy(depth.astype(np.int32)), KINECT_V2_DEPTH)
    o = depth_to_points(depth, KINECT_V2_DEPTH, backend="open3d")
    assert a.shape == t.shape == o.shape == (int((depth > 0).sum()), 3) and t.dtype == torch.float32
    np.testing.assert_allclose(t.numpy(), a, atol=1e-5)
    np.testing.assert_allclose(o, a, atol=1e-5)
    np.testing.assert_allclose(project(a, KINECT_V2_DEPTH)[:, 0], np.nonzero(depth)[1], atol=1e-3)
    with pytest.raises(ConfigError, match="backend"):
        depth_to_points(depth, KINECT_V2_DEPTH, backend="cuda")


@pytest.mark.slow  # a fresh interpreter (torch import): ~3 s alone, more on a busy machine
def test_importing_the_data_path_does_not_import_open3d() -> None:
    code = ("import sys, mmfusion, mmfusion.data.dataset, mmfusion.data.camera, mmfusion.data.cloud_ops, "
            "mmfusion.data.pointcloud; print('open3d' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
