"""UniPose: OBB normalisation, camera helpers, voting, weak losses and metrics on hand-made cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mmfusion.data.layouts import COCO17
from mmfusion.errors import ConfigError, MissingModalityError
from mmfusion.pose.decode import backproject, camera_rays, project, vote_joints
from mmfusion.pose.losses import (
    WeakLossWeights,
    WeakPoseLoss,
    back_projection_loss,
    bone_length_loss,
    bone_lengths,
    clip_bone_target,
    limb_bones,
    limb_pairs,
    motion_loss,
    prior_bone_lengths,
    prior_joint_depths,
    ray_guidance_loss,
    symmetry_loss,
)
from mmfusion.pose.metrics import ap_at, mpjpe_mm, per_joint_ap, root_align
from mmfusion.pose.obb import fit_obb

INTR = (100.0, 110.0, 64.0, 48.0)


def _random_rotation(g: torch.Generator) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    if torch.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q.float()


def test_obb_is_invertible_and_normalised() -> None:
    g = torch.Generator().manual_seed(1)
    pts = torch.randn(2, 3, 300, 3, generator=g) * torch.tensor([0.1, 0.8, 0.25]) + torch.tensor([0.3, -0.2, 3.0])
    obb = fit_obb(pts)
    assert obb.rotation.shape == (2, 3, 3, 3) and obb.centre.shape == (2, 3, 3) and obb.length.shape == (2, 3)
    x = obb.normalize(pts)
    # longest side exactly 1, box centred at 0
    ext = x.amax(-2) - x.amin(-2)
    assert torch.allclose(ext.amax(-1), torch.ones(2, 3), atol=1e-5)
    assert torch.allclose((x.amax(-2) + x.amin(-2)) / 2, torch.zeros(2, 3, 3), atol=1e-5)
    assert torch.allclose(obb.denormalize(x), pts, atol=1e-5)
    # proper rotations, first axis = the long (Y) direction, pointing up
    assert torch.allclose(torch.det(obb.rotation), torch.ones(2, 3), atol=1e-5)
    assert (obb.rotation[..., 1, 0] > 0.95).all()
    d = torch.nn.functional.normalize(torch.randn(2, 3, 5, 3, generator=g), dim=-1)
    assert torch.allclose(obb.unrotate(obb.rotate(d)), d, atol=1e-6)


def test_obb_is_rotation_equivariant() -> None:
    g = torch.Generator().manual_seed(2)
    pts = torch.randn(400, 3, generator=g) * torch.tensor([0.15, 0.9, 0.3])
    rot = _random_rotation(g)
    a = fit_obb(pts).normalize(pts)
    b = fit_obb(pts @ rot.T).normalize(pts @ rot.T)
    # same cloud in another pose: same normalised cloud up to axis signs
    assert torch.allclose(a.abs(), b.abs(), atol=1e-4)


def test_obb_rejects_bad_input() -> None:
    with pytest.raises(ConfigError):
        fit_obb(torch.full((10, 3), float("nan")))
    with pytest.raises(ConfigError):
        fit_obb(torch.zeros(4, 2))
    ok = fit_obb(torch.zeros(5, 3))  # a single repeated point: finite, minimal box
    assert torch.isfinite(ok.normalize(torch.zeros(5, 3))).all()


def test_project_backproject_roundtrip_and_y_up() -> None:
    p = torch.tensor([[0.5, 0.2, 2.0], [-0.3, -0.4, 3.0]])
    uv = project(p, INTR)
    assert uv[0, 0] > INTR[2] and uv[0, 1] < INTR[3]  # right and up -> larger u, smaller v
    assert torch.allclose(backproject(uv, p[:, 2], INTR), p, atol=1e-5)
    r = camera_rays(uv, INTR)
    assert torch.allclose(r * p[:, 2:], p, atol=1e-5)


def test_vote_joints_hand_case() -> None:
    xyz = torch.tensor([[[0.0, 0, 0], [1.0, 0, 0], [0.0, 1, 0], [5.0, 5, 5]]])
    heat = torch.tensor([[[1.0, 1.0, 0.5, 0.0]]])
    off = torch.zeros(1, 1, 4, 3)
    off[..., 2] = 1.0  # every vote pushed along +z by (1 - h) * radius
    j = vote_joints(xyz, heat, off, radius=2.0, topk=3)
    # votes: (0,0,0), (1,0,0), (0,1,1) with weights 1, 1, .5 -> mean (0.4, 0.2, 0.2); point 4 is not in the top 3
    assert torch.allclose(j, torch.tensor([[[0.4, 0.2, 0.2]]]), atol=1e-5)
    with pytest.raises(ConfigError):
        vote_joints(xyz, heat, off[:, :, :3], radius=1.0, topk=2)


def _skeleton() -> torch.Tensor:
    """A symmetric COCO-17 body, camera metres (person 3 m away, facing the camera)."""
    j = torch.zeros(17, 3)
    for name, (x, y) in {"nose": (0, 0.65), "left_eye": (0.03, 0.68), "right_eye": (-0.03, 0.68),
                         "left_ear": (0.07, 0.66), "right_ear": (-0.07, 0.66), "left_shoulder": (0.18, 0.45),
                         "right_shoulder": (-0.18, 0.45), "left_elbow": (0.22, 0.17), "right_elbow": (-0.22, 0.17),
                         "left_wrist": (0.24, -0.08), "right_wrist": (-0.24, -0.08), "left_hip": (0.1, 0.0),
                         "right_hip": (-0.1, 0.0), "left_knee": (0.11, -0.42), "right_knee": (-0.11, -0.42),
                         "left_ankle": (0.12, -0.83), "right_ankle": (-0.12, -0.83)}.items():
        j[COCO17.joints.index(name)] = torch.tensor([x, y, 0.0])
    return j + torch.tensor([0.2, -0.1, 3.0])


def test_limb_bones_and_pairs_from_layout() -> None:
    bones = limb_bones(COCO17)
    assert len(bones) == 8  # upper arm, forearm, thigh, shank x left/right (C3P's 8 limbs)
    pairs = limb_pairs(COCO17, bones)
    assert len(pairs) == 4
    for i, k in pairs:
        assert (COCO17.flip[bones[i][0]], COCO17.flip[bones[i][1]]) == bones[k]
    assert prior_bone_lengths(COCO17).shape == (8,)
    from mmfusion.data.formats.itop import ITOP15

    assert len(limb_bones(ITOP15)) == 8 and prior_bone_lengths(ITOP15).shape == (8,)
    d = prior_joint_depths(ITOP15)
    assert d.shape == (15,) and d[ITOP15.joints.index("Torso")] > d[ITOP15.joints.index("RHand")]
    assert prior_joint_depths(COCO17)[COCO17.joints.index("nose")] < 0.02


def test_back_projection_loss_zero_on_rays_and_scale_free() -> None:
    j = _skeleton()
    kp = project(j, INTR)
    assert back_projection_loss(j, kp, INTR) < 1e-6
    # anywhere along each ray costs nothing (scale-free)
    scale = torch.linspace(0.5, 2.0, 17).unsqueeze(-1)
    assert back_projection_loss(j * scale, kp, INTR) < 1e-6
    # a known angle: joint on the optical axis, detection at fx pixels right -> 45 degrees
    one = torch.tensor([[0.0, 0.0, 2.0]])
    kp1 = torch.tensor([[INTR[2] + INTR[0], INTR[3]]])
    assert math.isclose(float(back_projection_loss(one, kp1, INTR)), math.sin(math.pi / 4), rel_tol=1e-5)
    # score weighting: a zero-score joint is ignored
    bad = j.clone()
    bad[0] += torch.tensor([0.5, 0.0, 0.0])
    sc = torch.ones(17)
    assert back_projection_loss(bad, kp, INTR, sc) > 0.005  # one joint off by ~9.5 deg, averaged over 17
    sc[0] = 0
    assert back_projection_loss(bad, kp, INTR, sc) < 1e-6


def test_bone_symmetry_motion_losses() -> None:
    j = _skeleton()
    bones = limb_bones(COCO17)
    lens = bone_lengths(j, bones)
    assert bone_length_loss(j, lens, bones) < 1e-12
    assert math.isclose(float(bone_length_loss(j, lens + 0.1, bones)), 0.01, rel_tol=1e-4)
    assert symmetry_loss(j, COCO17) < 1e-10
    asym = j.clone()
    li = COCO17.joints.index("left_wrist")
    asym[li] = asym[li] + (asym[li] - asym[COCO17.joints.index("left_elbow")])  # left forearm twice as long
    # one pair with ratios 2 and 1/2: ((2-1)^2 + (0.5-1)^2) / 4 pairs
    assert math.isclose(float(symmetry_loss(asym, COCO17)), 1.25 / 4, rel_tol=1e-4)
    # linear motion -> smoothness 0; a bump -> known value
    t = torch.arange(5.0).view(1, 5, 1, 1)
    clip = j.view(1, 1, 17, 3) + t * torch.tensor([0.02, 0.0, -0.01])
    assert motion_loss(clip) < 1e-12
    bump = clip.clone()
    bump[:, 2] += torch.tensor([0.0, 0.03, 0.0])
    # frames 1, 2, 3 deviate by 0.015, 0.03, 0.015 in y -> mean over 3 frames x 17 joints x 3 coords
    want = 17 * (0.015 ** 2 + 0.03 ** 2 + 0.015 ** 2) / (3 * 17 * 3)
    assert math.isclose(float(motion_loss(bump)), want, rel_tol=1e-4)
    assert motion_loss(clip[:, :2]) == 0


def test_clip_bone_target_is_robust_and_symmetric() -> None:
    j = _skeleton()
    clip = j.expand(1, 5, 17, 3).clone()
    clip[0, 2] *= 1.5  # one outlier frame (scaled about the camera)
    tgt = clip_bone_target(clip, COCO17, limb_bones(COCO17))
    assert torch.allclose(tgt[0, 0], bone_lengths(j, limb_bones(COCO17)), atol=1e-5)


def _guidance_reference(heat, offset, pts, kp, intr, radius, free_depth):  # type: ignore[no-untyped-def]
    """Direct (slow) formula: feet of the perpendiculars, lateral vectors, projected directions."""
    r = torch.nn.functional.normalize(camera_rays(kp, intr), dim=-1)
    along = torch.einsum("ntjc,ntpc->ntjp", r, pts)
    lateral = along.unsqueeze(-1) * r.unsqueeze(3) - pts.unsqueeze(2)
    d = lateral.norm(dim=-1)
    target = (1 - d / radius).clamp_min(0)
    v = offset - (offset * r.unsqueeze(3)).sum(-1, keepdim=True) * r.unsqueeze(3) if free_depth else offset
    cos = (v * lateral).sum(-1) / (v.norm(dim=-1) * d)
    tw = target.square()
    err = (heat - target).square().mean(-1) + ((1 - cos) * tw).sum(-1) / tw.sum(-1).clamp_min(1e-6)
    return err.mean(), target, lateral / d.unsqueeze(-1)


def test_ray_guidance_loss() -> None:
    g = torch.Generator().manual_seed(3)
    j = _skeleton().view(1, 1, 17, 3)
    kp = project(j, INTR)
    pts = j[:, :, :6] + 0.1 * torch.randn(1, 1, 6, 3, generator=g)
    heat = torch.rand(1, 1, 17, 6, generator=g)
    off = torch.nn.functional.normalize(torch.randn(1, 1, 17, 6, 3, generator=g), dim=-1)
    for free in (False, True):
        want, target, lateral = _guidance_reference(heat, off, pts, kp, INTR, 0.8, free)
        got = ray_guidance_loss(heat, off, pts, kp, INTR, radius=0.8, free_depth=free)
        assert torch.allclose(got, want, rtol=1e-4)
    # exact targets (heat 1 - d / radius, directions towards the ray) cost nothing; a direction tilted
    # along the ray only with free_depth
    assert ray_guidance_loss(target, lateral, pts, kp, INTR, radius=0.8) < 1e-6
    r = torch.nn.functional.normalize(camera_rays(kp, INTR), dim=-1).unsqueeze(3)
    tilted = torch.nn.functional.normalize(lateral + 0.5 * r, dim=-1)
    assert ray_guidance_loss(target, tilted, pts, kp, INTR, radius=0.8, free_depth=True) < 1e-6
    assert ray_guidance_loss(target, tilted, pts, kp, INTR, radius=0.8) > 0.01
    # directions away from the ray: 1 - cos = 2 on every point of every joint that has points within the radius
    frac = (target.sum(-1) > 0).float().mean()
    assert 0 < frac < 1
    assert torch.allclose(ray_guidance_loss(target, -lateral, pts, kp, INTR, radius=0.8), 2 * frac, atol=1e-4)
    # with these targets every vote lands on its ray
    votes = pts.unsqueeze(2) + ((1 - target) * 0.8).unsqueeze(-1) * lateral
    near = target > 0
    assert back_projection_loss(votes[near], kp.unsqueeze(3).expand(-1, -1, -1, 6, -1)[near], INTR) < 1e-5
    # depth prior: votes aim delta behind the foot of the perpendicular; exact targets cost nothing
    delta = prior_joint_depths(COCO17)
    foot = votes  # feet of the perpendiculars (from the exact surface targets above)
    aim = foot + delta.view(1, 1, -1, 1, 1) * r
    vec = aim - pts.unsqueeze(2)
    dist = vec.norm(dim=-1)
    t_aim = (1 - dist / 0.8).clamp_min(0)
    assert ray_guidance_loss(t_aim, vec / dist.unsqueeze(-1), pts, kp, INTR, radius=0.8, depth_offset=delta) < 1e-6
    assert ray_guidance_loss(target, lateral, pts, kp, INTR, radius=0.8, depth_offset=delta) > 1e-4
    assert torch.allclose((aim - foot).norm(dim=-1)[0, 0, :, 0], delta)


def test_weak_pose_loss_combines_terms() -> None:
    j = _skeleton()
    t = torch.arange(4.0).view(1, 4, 1, 1)
    clip = j.view(1, 1, 17, 3) + t * torch.tensor([0.01, 0.0, 0.0])
    kp = project(clip, INTR)
    batch = {"keypoints2d": kp.unsqueeze(1), "keypoint_scores": torch.ones(1, 1, 4, 17),
             "intrinsics": torch.tensor([INTR])}
    loss = WeakPoseLoss("coco17")
    out = loss({"joints_stages": clip.unsqueeze(0).repeat(2, 1, 1, 1, 1)}, batch)
    assert out["loss"] < 1e-6  # perfect, symmetric, linear clip costs nothing
    noisy = clip + 0.05 * torch.randn(clip.shape, generator=torch.Generator().manual_seed(0))
    out = loss({"joints_stages": noisy.unsqueeze(0)}, batch)
    w = WeakLossWeights()
    want = w.proj * out["proj"] + w.bone * out["bone"] + w.sym * out["sym"] + w.motion * out["motion"]
    assert torch.allclose(out["loss"], want, rtol=1e-5)
    with pytest.raises(MissingModalityError):
        loss({"joints": clip}, {"intrinsics": batch["intrinsics"]})
    with pytest.raises(ConfigError):
        WeakLossWeights(bone_target="nope")
    prior = WeakPoseLoss("coco17", WeakLossWeights(bone_target="prior"))
    assert prior({"joints": clip}, batch)["bone"] > 0


def test_metrics_hand_cases() -> None:
    gt = np.zeros((2, 3, 3))
    pred = gt.copy()
    pred[0, 0, 0] = 0.05  # 50 mm
    pred[1, 2, 1] = 0.20  # 200 mm
    assert math.isclose(mpjpe_mm(pred, gt), 250 / 6, rel_tol=1e-9)
    assert math.isclose(ap_at(pred, gt), 5 / 6)
    valid = np.ones((2, 3), bool)
    valid[1, 2] = False
    assert math.isclose(mpjpe_mm(pred, gt, valid), 10.0)
    assert ap_at(torch.tensor(pred), torch.tensor(gt), valid=valid) == 1.0
    pj = per_joint_ap(pred, gt)
    assert torch.allclose(pj, torch.tensor([1.0, 1.0, 0.5], dtype=torch.float64))
    with pytest.raises(ConfigError):
        mpjpe_mm(pred, gt[:, :2])
    # root alignment removes a global shift exactly: a translated skeleton has root-relative error 0
    sk = _skeleton()
    shifted = sk + torch.tensor([0.3, -0.2, 0.5])
    hips = [COCO17.joints.index("left_hip"), COCO17.joints.index("right_hip")]
    assert mpjpe_mm(shifted, sk) > 500
    assert mpjpe_mm(root_align(shifted, sk, hips), sk) < 1e-3  # float32 inputs
    with pytest.raises(ConfigError):
        root_align(shifted, sk, [40])
