"""The pose world: the NTU world's body, renderer and detector, one camera, COCO-17 ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from mmfusion.data.layouts import COCO17
from mmfusion.data.synthetic import noisy_keypoints2d
from mmfusion.data.synthetic.body import J, coco17_points
from mmfusion.data.synthetic.pose_world import (
    POSE_MOTIONS,
    SynthPoseConfig,
    motion_angles,
    perform_in_view,
    pose_subject,
    render_pose_clip,
)
from mmfusion.errors import ConfigError

CFG = SynthPoseConfig(frames=3, image_size=(60, 80))


def _clip(cfg: SynthPoseConfig = CFG, sid: int = 2, c: int = 0):
    return render_pose_clip(cfg, pose_subject(sid, cfg.seed), np.random.default_rng([cfg.seed, sid, c]))


def test_clip_shapes_units_and_determinism() -> None:
    a, b = _clip(), _clip()
    assert a.depth.shape == (3, 60, 80) and a.depth.dtype == np.float32
    assert a.rgb.shape == (3, 60, 80, 3) and a.rgb.dtype == np.uint8
    assert a.joints3d.shape == (3, 17, 3) and a.keypoints2d.shape == (3, 17, 2) and a.scores.shape == (3, 17)
    assert np.array_equal(a.depth, b.depth) and np.array_equal(a.rgb, b.rgb) and np.array_equal(a.scores, b.scores)
    assert a.motion in POSE_MOTIONS
    z = a.depth[a.depth > 0]
    assert (a.depth > 0).any(axis=(1, 2)).all() and z.min() > 1.5 and z.max() < 4.5
    assert np.allclose(z * 1000, np.round(z * 1000), atol=1e-3)  # Kinect depth: whole millimetres
    # another subject or clip index is another clip
    assert not np.array_equal(a.joints3d, _clip(sid=3).joints3d)
    assert not np.array_equal(a.joints3d, _clip(c=1).joints3d)


def test_ground_truth_is_the_shared_body() -> None:
    subj = pose_subject(4)
    for motion in POSE_MOTIONS:
        joints, glob = perform_in_view(subj, motion, 4, 10.0, np.random.default_rng(1))
        coco = coco17_points(joints, glob, subj.height_scale)
        assert np.allclose(coco[:, COCO17.joints.index("left_knee")], joints[:, J["KneeLeft"]])
        # bones keep the subject's lengths; the person stands 2-4 m in front of the camera
        shin = np.linalg.norm(joints[:, J["AnkleLeft"]] - joints[:, J["KneeLeft"]], axis=-1)
        assert np.allclose(shin, subj.segment_length("AnkleLeft"))
        assert (joints[..., 2] > 1.5).all() and (joints[..., 2] < 4.5).all()


def test_noise_free_detections_are_the_projections_and_joints_lie_inside_the_body() -> None:
    cfg = SynthPoseConfig(frames=3, kp_noise_px=0.0, outlier_rate=0.0, swap_rate=0.0, depth_noise=0.0)
    clip = _clip(cfg)
    fx, fy, cx, cy = cfg.intrinsics()
    j = clip.joints3d
    assert np.allclose(clip.keypoints2d[..., 0], cx + fx * j[..., 0] / j[..., 2], atol=1e-3)
    assert np.allclose(clip.keypoints2d[..., 1], cy - fy * j[..., 1] / j[..., 2], atol=1e-3)
    u = np.round(clip.keypoints2d[..., 0]).astype(int).clip(0, 159)
    v = np.round(clip.keypoints2d[..., 1]).astype(int).clip(0, 119)
    z = clip.depth[np.arange(3)[:, None], v, u]
    hit = z > 0
    assert hit.mean() > 0.8 and np.median(j[..., 2][hit] - z[hit]) > 0


def test_motion_angles_name_drivers_and_reject_unknown_motions() -> None:
    t = np.arange(5) / 10.0
    ang = motion_angles("wave", t, np.random.default_rng(0))
    assert {"lumbar", "shoulder_l", "elbow_r", "hip_l", "knee_r"} <= set(ang)
    assert all(a.shape == (5, 3) for a in ang.values())
    with pytest.raises(ConfigError, match="dance"):
        motion_angles("dance", t, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="motions"):
        SynthPoseConfig(motions=("dance",)).validate()


def test_pixel_noise_detector() -> None:
    kps = np.random.default_rng(0).uniform(0, 100, (1, 400, 17, 2))
    out, sc = noisy_keypoints2d(kps, rng=0, sigma_px=2.0, outlier_rate=0.0, miss_rate=0.0, swap_rate=0.0)
    err = out - kps
    # std 2 px x the per-joint factor (0.7 at the eyes, 1.5 at wrists / ankles), whatever the box size
    assert 1.2 < err[..., 1, :].std() < 1.6 and 2.6 < err[..., 9, :].std() < 3.4
    assert sc.min() >= 0.05 and sc.max() <= 1.0
    same, _ = noisy_keypoints2d(kps, rng=0, sigma_px=0.0, outlier_rate=0.0, miss_rate=0.0, swap_rate=0.0)
    assert np.allclose(same, kps, atol=1e-4)
    with pytest.raises(ConfigError, match="sigma_px"):
        noisy_keypoints2d(kps, sigma_px=-1.0)
