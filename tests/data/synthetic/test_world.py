"""Synthetic world in memory: body kinematics, cameras, geometry consistency, modality-specific pairs, detector."""

from __future__ import annotations

import numpy as np
import pytest

from mmfusion.data.layouts import NTU25
from mmfusion.data.synthetic import (
    ACTIONS,
    PAIRS,
    SampleSpec,
    SynthConfig,
    detect,
    noisy_keypoints2d,
    render_sample,
)
from mmfusion.data.synthetic.actions import perform
from mmfusion.data.synthetic.body import KPARENT, ORDER, J, Subject, two_bone_ik
from mmfusion.data.synthetic.config import depth_camera
from mmfusion.errors import ConfigError

CFG = SynthConfig.tiny(frames=(14, 16))


@pytest.fixture(scope="module")
def sample() -> dict:
    return render_sample(SampleSpec(1, 1, 2, 1, 11), CFG)


# ----------------------------------------------------------------------------- body


def test_kinematic_tree_covers_ntu25_and_is_rooted_at_spinebase() -> None:
    assert ORDER[0] == NTU25.joints.index("SpineBase")
    assert sorted(ORDER) == list(range(25))
    seen = {ORDER[0]}
    for j in ORDER[1:]:
        assert KPARENT[j] in seen  # parents come first
        seen.add(j)
    # every kinematic edge is an NTU bone (the Kinect tree, re-rooted)
    ntu_edges = {frozenset(e) for e in NTU25.bones} | {frozenset((J["HandTipLeft"], J["HandLeft"])),
                                                       frozenset((J["HandTipRight"], J["HandRight"]))}
    assert all(frozenset((j, KPARENT[j])) in ntu_edges for j in ORDER[1:])


def test_subjects_differ_and_are_deterministic() -> None:
    subs = [Subject.create(p, seed=0) for p in range(1, 9)]
    heights = [s.height for s in subs]
    assert min(heights) > 1.45 and max(heights) < 2.0
    assert max(heights) - min(heights) > 0.1
    assert Subject.create(3, 0).height == subs[2].height
    assert Subject.create(3, 1).height != subs[2].height
    # limb proportions differ, not only the overall scale
    ratios = [s.segment_length("KneeLeft") / s.segment_length("SpineShoulder") for s in subs]
    assert np.ptp(ratios) > 0.03


def test_motion_keeps_bone_lengths_and_feet_on_floor() -> None:
    subj = Subject.create(4, 0)
    for action in (8, 24, 27, 1):
        clip = perform(action, subj, 40, np.random.default_rng(action))
        pos = clip.joints
        for j in ORDER[1:]:
            length = np.linalg.norm(pos[:, j] - pos[:, KPARENT[j]], axis=-1)
            np.testing.assert_allclose(length, subj.segment_length(NTU25.joints[j]), rtol=1e-9, atol=1e-9)
        ankles = pos[:, [J["AnkleLeft"], J["AnkleRight"]], 1]
        assert ankles.min() > 0.0, action  # nothing below the floor
        if action in (8, 1):  # planted feet: the ankles stay put (within the legs' asymmetry)
            assert np.ptp(ankles, axis=0).max() < 0.015


def test_two_bone_ik_reaches_targets() -> None:
    rng = np.random.default_rng(0)
    n = 200
    shoulder = rng.normal(0, 0.1, (n, 3))
    direction = rng.normal(0, 1, (n, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    target = shoulder + direction * rng.uniform(0.1, 0.5, (n, 1))
    pole = shoulder + rng.normal(0, 1, (n, 3))
    g1, g2, end = two_bone_ik(shoulder, target, pole, 0.28, 0.25, np.array([0, -1.0, 0]), np.array([1.0, 0, 0]))
    elbow = shoulder + g1 @ np.array([0, -0.28, 0])
    wrist = elbow + g2 @ np.array([0, -0.25, 0])
    np.testing.assert_allclose(wrist, target, atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(g1), 1.0, atol=1e-9)
    # the elbow bends towards the pole side of the shoulder-target line
    d = direction
    side = lambda p: ((p - shoulder) - ((p - shoulder) * d).sum(1, keepdims=True) * d)  # noqa: E731
    assert ((side(elbow) * side(pole)).sum(1) > 0).mean() > 0.95


# ----------------------------------------------------------------------------- cameras and geometry


def test_intrinsics_scale_from_kinect() -> None:
    full = depth_camera((424, 512))
    assert (full.fx, full.fy, full.cx, full.cy) == pytest.approx((366.3, 366.3, 256.4, 208.5))
    quarter = depth_camera((106, 128))
    assert quarter.fx == pytest.approx(366.3 / 4)
    # pixel centres map exactly: centre of native pixel 256.4 -> (256.4 + 0.5) / 4 - 0.5
    assert quarter.cx == pytest.approx((256.4 + 0.5) / 4 - 0.5)
    col = SynthConfig().color_camera()
    assert (col.width, col.height, col.baseline) == (160, 90, 0.052)
    assert col.fx == pytest.approx(1058.0 / 12)


def test_sample_shapes(sample: dict) -> None:
    t = sample["num_frames"]
    assert CFG.frames[0] <= t <= CFG.frames[1]
    assert sample["skeleton"].shape == (1, t, 25, 3)
    assert sample["depth"].shape == (t, *CFG.depth_size) and sample["depth"].dtype == np.uint16
    assert sample["ir"].shape == (t, *CFG.depth_size) and sample["ir"].dtype == np.uint8
    assert sample["rgb"].shape == (t, *CFG.rgb_size, 3) and sample["rgb"].dtype == np.uint8
    assert sample["coco2d_rgb"].shape == (1, t, 17, 2)
    assert sample["tracking"].shape[1:] == (t, 25)
    assert set(np.unique(sample["tracking"])) <= {1, 2}
    # masked depth is 0 off the person, the IR shows the room
    assert (sample["depth"] == 0).mean() > 0.8
    assert (sample["ir"] > 0).mean() > 0.95


def test_projected_joints_land_on_the_body_surface() -> None:
    """depthX/depthY of a visible joint hit a depth pixel whose value is the joint's Z minus body thickness."""
    sample = render_sample(SampleSpec(1, 1, 2, 1, 23), CFG)  # no prop hiding the hands
    xyz = sample["skeleton"][0]
    uv = np.rint(sample["keypoints2d_depth"][0]).astype(int)
    depth = sample["depth"]
    h, w = depth.shape[1:]
    t_idx = np.repeat(np.arange(len(xyz))[:, None], 25, 1)
    inside = (uv[..., 0] >= 0) & (uv[..., 0] < w) & (uv[..., 1] >= 0) & (uv[..., 1] < h)
    d = depth[t_idx, np.clip(uv[..., 1], 0, h - 1), np.clip(uv[..., 0], 0, w - 1)].astype(np.float64)
    gap = xyz[..., 2] * 1000 - d                     # mm in front of the joint
    ok = inside & (d > 0)
    assert ok.mean() > 0.8
    in_body = (gap > -25) & (gap < 260)
    # occluded joints (a hand in front of the torso ...) may show a nearer surface; most must be right
    assert in_body[ok].mean() > 0.9
    # the trunk is never occluded in this pose: its joints are 2-20 cm behind the surface
    trunk = [J[n] for n in ("SpineBase", "SpineMid", "SpineShoulder")]
    assert ((gap[:, trunk] > 20) & (gap[:, trunk] < 200))[ok[:, trunk]].all()


def test_backprojected_depth_matches_skeleton() -> None:
    from mmfusion.data.pointcloud import CameraIntrinsics, depth_to_points

    sample = render_sample(SampleSpec(1, 2, 2, 1, 23), CFG)  # no prop: every point is on the body
    cam = sample["intrinsics"]["depth"]
    intr = CameraIntrinsics(cam.fx, cam.fy, cam.cx, cam.cy)
    t = sample["num_frames"] // 2
    pts = depth_to_points(sample["depth"][t], intr)
    joints = sample["skeleton"][0, t]
    dist = np.linalg.norm(pts[:, None] - joints[None], axis=-1).min(1)
    assert np.median(dist) < 0.12 and np.quantile(dist, 0.98) < 0.3
    # height of the cloud ~ the person (head to feet), in metres
    assert 1.2 < np.ptp(pts[:, 1]) < 2.1


def test_color_projection_has_the_baseline(sample: dict) -> None:
    xyz = sample["skeleton"][0]
    cam = sample["intrinsics"]["color"]
    u = cam.cx + cam.fx * (xyz[..., 0] + 0.052) / xyz[..., 2]
    np.testing.assert_allclose(sample["keypoints2d_rgb"][0, ..., 0], u, atol=1e-9)
    # the person is in the frame
    uv = sample["keypoints2d_rgb"][0]
    assert (uv[..., 0] > 0).all() and (uv[..., 0] < cam.width).all()


def test_views_face_the_cameras() -> None:
    """Camera 1 sees the performer from the front, cameras 2 and 3 from about +-45 degrees."""
    angles = {}
    for cam in (1, 2, 3):
        s = render_sample(SampleSpec(1, cam, 5, 1, 23), CFG)
        sk = s["skeleton"][0, 0]
        left = sk[J["ShoulderLeft"]] - sk[J["ShoulderRight"]]
        facing = np.cross(left, np.array([0.0, 1.0, 0.0]))         # body forward (x left, y up, z = x * y)
        angles[cam] = np.degrees(np.arctan2(facing[0], -facing[2]))  # 0 = towards the camera
    assert abs(angles[1]) < 30
    assert 15 < abs(angles[2]) < 75 and 15 < abs(angles[3]) < 75
    assert np.sign(angles[2]) != np.sign(angles[3])


def test_three_cameras_film_one_performance() -> None:
    a = render_sample(SampleSpec(1, 1, 2, 2, 24), CFG)
    b = render_sample(SampleSpec(1, 3, 2, 2, 24), CFG)
    np.testing.assert_array_equal(a["world_joints"], b["world_joints"])
    assert not np.array_equal(a["skeleton"], b["skeleton"])
    # each Kinect has its own noise
    assert not np.array_equal(a["kinect_xyz"] - a["skeleton"], b["kinect_xyz"] - b["skeleton"])


def test_render_is_deterministic() -> None:
    a = render_sample("S001C002P003R001A010", CFG)
    b = render_sample(SampleSpec(1, 2, 3, 1, 10), CFG)
    for k in ("depth", "ir", "rgb", "kinect_xyz", "tracking"):
        np.testing.assert_array_equal(a[k], b[k])
    c = render_sample(SampleSpec(1, 2, 3, 1, 10), CFG.replace(seed=1))
    assert not np.array_equal(a["kinect_xyz"], c["kinect_xyz"])


def test_kinect_noise_and_inferred_joints() -> None:
    s = render_sample(SampleSpec(1, 2, 4, 1, 8), SynthConfig.tiny(frames=(40, 40), joint_noise=0.01))
    err = s["kinect_xyz"][0] - s["skeleton"][0]
    tracked = s["tracking"][0] == 2
    assert 0.008 < np.sqrt((err[tracked] ** 2).mean()) < 0.03
    assert 0.0 < (~tracked).mean() < 0.5
    clean = render_sample(SampleSpec(1, 2, 4, 1, 8), SynthConfig.tiny(frames=(40, 40), joint_noise=0.0,
                                                                        inferred_rate=0.0))
    err0 = clean["kinect_xyz"][0] - clean["skeleton"][0]
    assert np.abs(err0[clean["tracking"][0] == 2]).max() == 0.0


# ----------------------------------------------------------------------------- class design


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of pixels (or values) that differ."""
    d = a != b
    return float((d.any(-1) if a.ndim == 4 else d).mean())


@pytest.mark.parametrize("pair", [p for p in PAIRS if p[0] != 8], ids=lambda p: f"A{p[0]:03d}-A{p[1]:03d}")
def test_pairs_differ_only_where_designed(pair: tuple) -> None:
    """The same performance with the partner class changes exactly the designed modalities."""
    a_id, b_id, mods = pair
    cfg = SynthConfig.tiny(frames=(24, 24), depth_size=(106, 128), rgb_size=(90, 160))
    for cam in (1, 2):
        a = render_sample(SampleSpec(1, cam, 4, 1, a_id, seed=11), cfg)
        b = render_sample(SampleSpec(1, cam, 4, 1, b_id, seed=11), cfg)
        skel_same = np.array_equal(a["kinect_xyz"], b["kinect_xyz"]) and np.array_equal(a["tracking"], b["tracking"])
        assert skel_same == ("skeleton" not in mods)
        if "skeleton" in mods:
            # a fine difference: 2-10 cm at the hands, nothing at the trunk
            gap = np.linalg.norm(a["skeleton"] - b["skeleton"], axis=-1).max(axis=(0, 1))
            hands = [J[n] for n in ("HandLeft", "HandRight", "WristLeft", "WristRight")]
            assert 0.02 < gap[hands].max() < 0.1
            assert gap[J["SpineMid"]] == 0.0
            continue
        assert (_diff(a["depth"], b["depth"]) > 0) == ("depth" in mods)
        assert (_diff(a["ir"], b["ir"]) > 0) == ("ir" in mods)
        if "rgb" in mods:
            assert _diff(a["rgb"], b["rgb"]) > 1e-4
        else:
            assert _diff(a["rgb"], b["rgb"]) == 0


def test_every_pair_is_separable_by_the_union() -> None:
    covered = {m for _, _, mods in PAIRS for m in mods}
    assert {"rgb", "depth", "ir", "skeleton"} <= covered
    for a, b, _ in PAIRS:
        assert ACTIONS[a].partner == b and ACTIONS[b].partner == a


# ----------------------------------------------------------------------------- detector


def test_noisy_keypoints2d(sample: dict) -> None:
    clean = sample["coco2d_rgb"]
    kps, scores = detect(sample, rng=0)
    assert kps.shape == clean.shape and scores.shape == clean.shape[:3]
    assert kps.dtype == np.float32 and scores.min() >= 0 and scores.max() <= 1
    box_h = np.ptp(clean[..., 1], axis=-1).mean()
    err = np.linalg.norm(kps - clean, axis=-1)
    assert 0.002 * box_h < np.median(err) < 0.05 * box_h
    # confident keypoints are the accurate ones
    assert err[scores > 0.8].mean() < err[scores < 0.3].mean()
    again, _ = detect(sample, rng=0)
    np.testing.assert_array_equal(kps, again)
    # face points are distinct (from the head pose), not all the head joint
    assert np.linalg.norm(clean[0, 0, 1] - clean[0, 0, 2]) > 0.2
    # NTU-25 input is mapped to COCO-17
    k25, _ = noisy_keypoints2d(sample["keypoints2d_rgb"], rng=1, sigma=0.0, outlier_rate=0, miss_rate=0,
                               swap_rate=0)
    np.testing.assert_allclose(k25[..., 5, :], sample["keypoints2d_rgb"][..., J["ShoulderLeft"], :], atol=1e-3)
    outl, sc = noisy_keypoints2d(clean, rng=2, sigma=0.0, outlier_rate=1.0, miss_rate=0.0, swap_rate=0.0)
    assert sc.max() <= 0.4 and np.linalg.norm(outl - clean, axis=-1).min() > 0.05 * box_h
    with pytest.raises(ConfigError):
        noisy_keypoints2d(np.zeros((1, 2, 10, 2)))
