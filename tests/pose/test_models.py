"""UniPose networks: stage-A point network (shapes, batching, equivariance, learning) and A2J heads."""

from __future__ import annotations

import math

import pytest
import torch

import mmfusion
from mmfusion.errors import ConfigError, MissingModalityError
from mmfusion.pose.a2j import (
    a2j_loss,
    anchor_grid,
    crop_images,
    crop_intrinsics,
    crop_keypoints,
    keypoint_boxes,
    keypoint_maps,
)
from mmfusion.pose.decode import project
from mmfusion.pose.losses import WeakLossWeights, WeakPoseLoss


def _cloud(n: int, t: int, p: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, t, p, 3, generator=g) * torch.tensor([0.2, 0.7, 0.12])
    return x + torch.tensor([0.1, -0.2, 3.0])


def test_registry_names() -> None:
    names = mmfusion.list_models(tag="pose")
    for n in ("unipose_pointnet", "unipose_pointnet_tiny", "a2j_depth", "a2j_depth_tiny", "a2j_rgb", "a2j_rgb_tiny"):
        assert n in names


def test_pointnet_shapes_batching_and_translation() -> None:
    m = mmfusion.create_model("unipose_pointnet_tiny", in_features=3, view_features=True).eval()
    pts = _cloud(2, 3, 160)
    normals = torch.nn.functional.normalize(torch.randn(2, 3, 160, 3), dim=-1)
    with torch.no_grad():
        out = m({"points": pts, "normals": normals})
        assert out["joints"].shape == (2, 3, 17, 3) and out["joints_stages"].shape == (2, 2, 3, 17, 3)
        assert out["heat"].shape == (2, 3, 17, 160) and ((out["heat"] >= 0) & (out["heat"] <= 1)).all()
        assert torch.allclose(out["offset"].norm(dim=-1), torch.ones(2, 3, 17, 160), atol=1e-4)
        # frames are independent: one frame alone gives the same joints (no cross-sample leakage)
        one = m({"points": pts[1:, 2:], "normals": normals[1:, 2:]})["joints"]
        assert torch.allclose(one[0, 0], out["joints"][1, 2], atol=1e-5)
        # joints follow a translation of the cloud exactly (OBB-normalised input is unchanged) -- up to
        # the viewing-ray features, which see the camera; without them the result is exact
        m0 = mmfusion.create_model("unipose_pointnet_tiny").eval()
        shift = torch.tensor([0.3, -0.1, 0.5])
        a = m0({"points": pts})["joints"]
        b = m0({"points": pts + shift})["joints"]
        assert torch.allclose(b, a + shift, atol=1e-4)
    with pytest.raises(MissingModalityError, match="normals"):
        m({"points": pts})
    with pytest.raises(ConfigError):
        m0({"points": pts[:, :, :50]})  # fewer points than the first FPS level


def test_pointnet_gradients_and_bf16() -> None:
    m = mmfusion.create_model("unipose_pointnet_tiny")
    out = m({"points": _cloud(1, 2, 128)})
    out["joints"].square().sum().backward()
    heads = [p.grad for n, p in m.named_parameters() if "heat_head" in n or "vec_head" in n]
    assert all(g is not None and torch.isfinite(g).all() for g in heads)
    assert any(float(g.abs().sum()) > 0 for g in heads)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = m({"points": _cloud(1, 2, 128)})
    assert out["joints"].dtype == torch.float32 and torch.isfinite(out["joints"]).all()


def test_pointnet_learns_from_2d_only() -> None:
    """A few steps of the weak losses on one clip bring the joints closer to the detection rays."""
    torch.manual_seed(0)
    from mmfusion.pose.data import SyntheticPoseDataset, SynthPoseConfig

    ds = SyntheticPoseDataset(SynthPoseConfig(subjects=(1,), clips_per_subject=2, frames=4, num_points=160,
                                              kp_noise_px=0.0, outlier_rate=0.0, swap_rate=0.0), modalities=())
    batch = torch.utils.data.default_collate([ds[0], ds[1]])
    m = mmfusion.create_model("unipose_pointnet_tiny", dropout=0.0)
    loss = WeakPoseLoss("coco17", WeakLossWeights(guide=1.0))
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    first = None
    for _ in range(25):
        terms = loss(m(batch), batch)
        first = first if first is not None else {k: float(v) for k, v in terms.items()}
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
    assert float(terms["loss"]) < 0.6 * first["loss"]
    assert float(terms["proj"]) < 0.7 * first["proj"]


def test_anchor_grid_layout() -> None:
    a = anchor_grid(2, 3, 16)
    assert a.shape == (2 * 3 * 16, 2)
    assert a[:4, 0].tolist() == [2, 6, 10, 14] and a[:4, 1].tolist() == [2, 2, 2, 2]
    assert a[16].tolist() == [18, 2]  # next cell to the right
    assert a[3 * 16].tolist() == [2, 18]  # next cell row
    assert anchor_grid(1, 1, 8)[:4, 0].tolist() == [1, 3, 5, 7]  # stride 8: scaled offsets


def test_a2j_forward_depth_shift_and_loss() -> None:
    m = mmfusion.create_model("a2j_depth_tiny").eval()
    g = torch.Generator().manual_seed(0)
    depth = torch.rand(2, 1, 2, 48, 64, generator=g) + 2.0
    depth[..., :5, :] = 0  # missing readings
    intr = torch.tensor([[60.0, 60.0, 31.5, 23.5]] * 2)
    with torch.no_grad():
        out = m({"depth": depth, "intrinsics": intr})
        assert out["uv"].shape == (2, 2, 17, 2) and out["depth_joints"].shape == (2, 2, 17)
        assert out["anchor_logits"].shape == (4, 6 * 8 * 16, 17)  # stride 8 on 48 x 64
        # the depth net sees depth - median: moving the scene 1 m away moves every joint's depth by 1 m
        far = m({"depth": torch.where(depth > 0, depth + 1.0, depth), "intrinsics": intr})
        assert torch.allclose(far["depth_joints"], out["depth_joints"] + 1.0, atol=1e-4)
        assert torch.allclose(far["uv"], out["uv"], atol=1e-4)
        # joints are the back-projection of (u, v, d)
        assert torch.allclose(project(out["joints"], intr.view(2, 1, 1, 4)), out["uv"], atol=1e-3)
    with pytest.raises(MissingModalityError, match="depth"):
        m({"rgb": torch.zeros(1, 3, 48, 64)})
    rgb = mmfusion.create_model("a2j_rgb_tiny", depth_ref="focal", ref_size=2.0)
    o = rgb({"rgb": torch.randn(1, 3, 32, 32), "intrinsics": torch.tensor([[64.0, 64.0, 15.5, 15.5]])})
    # small-init heads: depth starts at the apparent-size prior fx * ref_size / W = 4 m
    assert torch.allclose(o["depth_joints"], torch.full((1, 1, 17), 4.0), atol=0.2)
    with pytest.raises(MissingModalityError, match="intrinsics"):
        rgb({"rgb": torch.randn(1, 3, 32, 32)})
    rel = mmfusion.create_model("a2j_rgb_tiny", depth_ref="focal", relative_depth=True)
    o = rel({"rgb": torch.randn(2, 3, 32, 32), "intrinsics": torch.tensor([[64.0, 64.0, 15.5, 15.5]] * 2)})
    assert torch.allclose(o["depth_joints"].mean(-1), torch.full((2, 1), 4.0), atol=1e-5)  # centred on the prior


def test_a2j_loss_hand_case() -> None:
    uv = torch.zeros(1, 1, 2, 2)
    out = {"uv": uv + torch.tensor([3.0, 0.0]), "anchor_uv": uv + torch.tensor([0.5, 0.5]),
           "depth_joints": torch.tensor([[[2.0, 3.0]]])}
    terms = a2j_loss(out, uv, torch.tensor([[[2.1, 3.0]]]), depth_unit=0.1)
    # smooth-L1 (beta 1): anchor 0.125 per coord; xy (2.5 + 0) / 2 per joint; depth |0.1| / 0.1 = 1 on one joint
    assert math.isclose(float(terms["anchor"]), 0.125, rel_tol=1e-5)
    assert math.isclose(float(terms["xy"]), 1.25, rel_tol=1e-5)
    assert math.isclose(float(terms["depth"]), 0.5, rel_tol=1e-4)
    assert math.isclose(float(terms["loss"]), 0.125 + 3 * (0.5 * 1.25 + 0.5), rel_tol=1e-4)
    with pytest.raises(ConfigError):
        a2j_loss(out, uv[..., :1, :], torch.zeros(1, 1, 1))
    # relative depth: a common shift of all joints costs nothing, a change of their spread does
    rel = a2j_loss(out, uv, torch.tensor([[[2.5, 3.5]]]), depth_unit=0.1, relative_depth=True)
    assert float(rel["depth"]) < 1e-5
    rel = a2j_loss(out, uv, torch.tensor([[[2.4, 3.6]]]), depth_unit=0.1, relative_depth=True)
    assert math.isclose(float(rel["depth"]), 1.0, rel_tol=1e-4)


def test_crops_keep_geometry() -> None:
    img = torch.zeros(1, 1, 40, 60)
    img[0, 0, 20, 30] = 1.0
    kp = torch.tensor([[[25.0, 15.0], [35.0, 25.0]]])
    box = keypoint_boxes(kp, margin=2.0)
    assert torch.allclose(box, torch.tensor([[20.0, 10.0, 20.0]]))
    crop = crop_images(img, box, 20, mode="nearest")
    # side 20 -> 20 px: crop pixel (u', v') = image pixel (20 + u', 10 + v')
    assert crop[0, 0, 10, 10] == 1.0 and crop.sum() == 1.0
    intr = torch.tensor([50.0, 50.0, 29.5, 19.5])
    ci = crop_intrinsics(intr, box, 40)  # 2x zoom
    p = torch.tensor([[0.2, -0.1, 2.0]])
    full = project(p, intr)
    inside = project(p, ci[0])
    assert torch.allclose(inside, ((full - box[:, :2]) + 0.5) * 2 - 0.5, atol=1e-4)
    # detections follow the same mapping as the intrinsics
    assert torch.allclose(crop_keypoints(full.view(1, 1, 2), box, 40)[0, 0], inside[0], atol=1e-4)


def test_keypoint_maps_and_keypoint_input() -> None:
    maps = keypoint_maps(torch.tensor([[[3.0, 5.0], [0.0, 0.0]]]), 8, 10, 1.0, torch.tensor([[0.5, 1.0]]))
    assert maps.shape == (1, 2, 8, 10)
    assert maps[0, 0].argmax() == 5 * 10 + 3 and math.isclose(float(maps[0, 0].max()), 0.5, rel_tol=1e-6)
    assert math.isclose(float(maps[0, 0, 5, 4]), 0.5 * math.exp(-0.5), rel_tol=1e-5)  # one sigma to the right
    torch.manual_seed(0)
    net = mmfusion.create_model("a2j_rgb_tiny", keypoint_input=True).eval()
    first = next(m for m in net.backbone.modules() if isinstance(m, torch.nn.Conv2d))
    assert first.in_channels == 3 + 17
    rgb = torch.randn(2, 3, 32, 32)
    kp = torch.rand(2, 17, 2) * 31
    with torch.no_grad():
        a = net({"rgb": rgb, "keypoints2d": kp})["uv"]
        b = net({"rgb": rgb, "keypoints2d": kp + 4.0})["uv"]
        c = net({"rgb": rgb, "keypoints2d": kp, "keypoint_scores": torch.ones(2, 17)})["uv"]
    assert not torch.allclose(a, b) and torch.allclose(a, c)  # the maps reach the output; score 1 = no score
    with pytest.raises(MissingModalityError, match="keypoints2d"):
        net({"rgb": rgb})
    with pytest.raises(ConfigError, match="keypoints2d"):
        net({"rgb": rgb, "keypoints2d": kp[:, :5]})
