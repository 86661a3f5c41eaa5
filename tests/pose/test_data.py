"""UniPose data: ITOP and CMU Panoptic readers on fixtures written here, the synthetic pose world,
the naive depth-lifting baseline."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from mmfusion.data.formats.itop import (
    ITOP15,
    itop_path,
    parse_itop_id,
    read_itop_depth,
    read_itop_labels,
    read_itop_point_cloud,
)
from mmfusion.data.formats.panoptic import (
    PANOPTIC_TO_COCO17,
    body_to_coco17,
    nearest_frame,
    project_camera,
    read_body3d_scene,
    read_calibration,
    read_kinect_calibration,
    read_kinect_depth,
    read_kinect_sync,
    world_to_kinect_depth,
)
from mmfusion.errors import DataFormatError
from mmfusion.pose.cloud import depth_normals, lift_with_depth
from mmfusion.pose.data import ITOPPoseDataset, PanopticPoseDataset, SyntheticPoseDataset, SynthPoseConfig

Render = Callable[..., tuple[np.ndarray, np.ndarray]]


def test_itop_roundtrip_and_errors(tmp_path: Path, write_itop_fixture: Callable[..., None]) -> None:
    write_itop_fixture(tmp_path, runs=((1, 3),))
    lab = read_itop_labels(itop_path(tmp_path, "train", "labels"))
    assert lab.ids == ["01_00100", "01_00101", "01_00102"] and parse_itop_id(lab.ids[1]) == (1, 101)
    assert lab.real_world_coordinates.shape == (3, 15, 3) and lab.segmentation.shape == (3, 240, 320)
    assert lab.is_valid.tolist() == [True, True, False]
    ids, cloud = read_itop_point_cloud(itop_path(tmp_path, "train", "point_cloud"), [2, 0])
    assert ids == ["01_00102", "01_00100"] and cloud.shape == (2, 76800, 3)
    _, full = read_itop_point_cloud(itop_path(tmp_path, "train", "point_cloud"))
    assert np.array_equal(cloud[1], full[0])
    # the labels' image coordinates are the projection of the world coordinates with ITOP's camera
    j = lab.real_world_coordinates[0]
    u = 160 + j[:, 0] / j[:, 2] / 0.0035 - 0.5
    assert np.allclose(u, lab.image_coordinates[0, :, 0], atol=1e-3)

    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5")
    with pytest.raises(DataFormatError, match="bad.h5"):
        read_itop_labels(bad)
    with pytest.raises(DataFormatError, match="missing.h5"):
        read_itop_labels(tmp_path / "missing.h5")
    import h5py

    with h5py.File(tmp_path / "short.h5", "w") as f:
        f["id"] = np.array([b"01_00001"])
        f["data"] = np.zeros((1, 10, 3), np.float32)
    with pytest.raises(DataFormatError, match=r"short.h5.*'data'"):
        read_itop_point_cloud(tmp_path / "short.h5")
    with pytest.raises(DataFormatError, match=r"short.h5.*'is_valid'"):
        read_itop_labels(tmp_path / "short.h5")
    with pytest.raises(DataFormatError, match="short.h5"):
        read_itop_depth(tmp_path / "short.h5")


def test_itop_dataset_clips_points_and_truth(tmp_path: Path, write_itop_fixture: Callable[..., None]) -> None:
    write_itop_fixture(tmp_path, runs=((1, 4), (2, 3)))
    ds = ITOPPoseDataset(tmp_path, "train", clip_len=2, num_points=128, kp_noise_px=0.0)
    # person 1: frames 0-3 -> 2 clips; person 2: 3 frames, the last invalid -> 1 clip
    assert [ds.labels.ids[c[0]] for c in ds.clips] == ["01_00100", "01_00102", "02_00100"]
    item = ds[1]
    assert item["points"].shape == (2, 128, 3) and item["normals"].shape == (2, 128, 3)
    assert item["keypoints2d"].shape == (1, 2, 15, 2) and item["joints3d"].shape == (2, 15, 3)
    assert item["depth"].shape == (1, 2, 240, 320)
    # every sampled point is a foreground pixel: no zero points, all near the body
    pts, gt = item["points"], item["joints3d"]
    assert (pts[..., 2] > 0).all()
    assert (torch.cdist(pts, gt).amin(-1) < 0.4).all()
    assert torch.allclose(item["normals"].norm(dim=-1), torch.ones(2, 128), atol=1e-4)
    # noise-free stand-in keypoints = labels' image coordinates
    assert torch.allclose(item["keypoints2d"][0], torch.from_numpy(ds.labels.image_coordinates[ds.clips[1]]))
    assert ITOP15.num_joints == 15 and ITOP15.flip[2] == 3


def _panoptic_fixture(root: Path, render: Render, frames: int = 3) -> tuple[np.ndarray, tuple[float, ...]]:
    """A Kinoptic-style sequence whose world = the Kinect depth camera (identity extrinsics)."""
    seq = root / "171204_pose9"
    (seq / "hdPose3d_stage1_coco19").mkdir(parents=True)
    (seq / "kinect_shared_depth" / "KINECTNODE2").mkdir(parents=True)
    fx = 365.0
    intr = (fx, fx, 255.5, 211.5)
    depth, coco = render((424, 512), fx, frames)
    for f in range(frames):
        j19 = np.zeros((19, 4))
        j19[:, 3] = -1  # unmapped joints invalid
        cv = coco[f] * np.array([1, -1, 1])  # Y up -> OpenCV
        j19[list(PANOPTIC_TO_COCO17), :3] = cv * 100
        j19[list(PANOPTIC_TO_COCO17), 3] = 0.9
        (seq / "hdPose3d_stage1_coco19" / f"body3DScene_{f:08d}.json").write_text(json.dumps(
            {"version": 0.7, "univTime": 1000.0 + 33.3 * f, "fpsType": "hd_29_97",
             "bodies": [{"id": 0, "joints19": j19.reshape(-1).tolist()}]}))
    eye = np.eye(4).tolist()
    k = [[fx, 0, intr[2]], [0, fx, intr[3]], [0, 0, 1]]
    sensor = {"K_depth": k, "M_depth": eye, "distCoeffs_depth": [0] * 5, "K_color": k, "M_color": eye,
              "distCoeffs_color": [0] * 5, "M_world2sensor": eye}
    (seq / "kcalibration_171204_pose9.json").write_text(json.dumps({"sensors": [sensor, sensor]}))
    times = (1000.0 + 33.3 * np.arange(frames) + 2.0).tolist()
    (seq / "ksynctables_171204_pose9.json").write_text(json.dumps(
        {"kinect": {s: {"KINECTNODE2": {"univ_time": times}} for s in ("color", "depth")}}))
    raw = np.round(depth * 1000).astype("<u2")[:, :, ::-1]  # stored flipped, as Kinoptic does
    (seq / "kinect_shared_depth" / "KINECTNODE2" / "depthdata.dat").write_bytes(np.ascontiguousarray(raw).tobytes())
    return coco, intr


def test_panoptic_readers(tmp_path: Path) -> None:
    f = tmp_path / "body3DScene_00000001.json"
    j19 = np.arange(76, dtype=float).reshape(19, 4)
    j19[:, 3] = 0.5
    j19[4, 3] = 0.05  # lElbow below the confidence threshold
    f.write_text(json.dumps({"univTime": 12.5, "bodies": [{"id": 7, "joints19": j19.reshape(-1).tolist()}]}))
    fr = read_body3d_scene(f)
    assert fr.univ_time == 12.5 and fr.bodies[0].id == 7
    xyz, ok = body_to_coco17(fr.bodies[0].joints19)
    assert np.allclose(xyz[0], j19[1, :3] / 100)  # COCO nose = Panoptic Nose (index 1), cm -> m
    assert np.allclose(xyz[16], j19[14, :3] / 100)  # right ankle
    assert ok.sum() == 16 and not ok[7]  # left elbow invalid
    (tmp_path / "broken.json").write_text('{"bodies": [\n  {"id": 1,\n "joints19": [1, 2,]}]}')
    with pytest.raises(DataFormatError, match=r"broken.json:3"):
        read_body3d_scene(tmp_path / "broken.json")
    (tmp_path / "short.json").write_text(json.dumps({"bodies": [{"joints19": [1, 2, 3]}]}))
    with pytest.raises(DataFormatError, match=r"short.json.*joints19"):
        read_body3d_scene(tmp_path / "short.json")

    cam = {"name": "50_02", "type": "kinect-color", "resolution": [1920, 1080], "panel": 50, "node": 2,
           "K": [[1000, 0, 960], [0, 1000, 540], [0, 0, 1]], "distCoef": [0.1, 0, 0, 0, 0],
           "R": np.eye(3).tolist(), "t": [[0], [0], [100]]}
    (tmp_path / "calibration_x.json").write_text(json.dumps({"cameras": [cam]}))
    cams = read_calibration(tmp_path / "calibration_x.json")
    uv = project_camera(np.array([[10.0, 0.0, 100.0]]), cams["50_02"])
    # z = 200 cm, x_n = 0.05, radial 1 + 0.1 * 0.0025
    assert np.allclose(uv, [[960 + 1000 * 0.05 * 1.00025, 540]])
    (tmp_path / "calib_bad.json").write_text(json.dumps({"cameras": [{**cam, "K": [1, 2]}]}))
    with pytest.raises(DataFormatError, match="calib_bad.json.*K"):
        read_calibration(tmp_path / "calib_bad.json")

    assert nearest_frame(np.array([-1.0, 10.0, 20.0]), 14.0) == 1
    assert nearest_frame(np.array([-1.0, 10.0]), 100.0, max_delta_ms=20) is None

    dat = tmp_path / "depthdata.dat"
    frames = np.arange(2 * 4 * 5, dtype="<u2").reshape(2, 4, 5)
    dat.write_bytes(frames.tobytes())
    assert np.array_equal(read_kinect_depth(dat, 1, size=(4, 5)), frames[1][:, ::-1])
    assert np.array_equal(read_kinect_depth(dat, 0, size=(4, 5), flip=False), frames[0])
    with pytest.raises(DataFormatError, match="depthdata.dat.*out of range"):
        read_kinect_depth(dat, 2, size=(4, 5))
    with pytest.raises(DataFormatError, match="depthdata.dat.*multiple"):
        read_kinect_depth(dat, 0, size=(3, 5))


def test_panoptic_dataset_end_to_end(tmp_path: Path, render_person: Render) -> None:
    coco, intr = _panoptic_fixture(tmp_path, render_person)
    seq = tmp_path / "171204_pose9"
    sensors = read_kinect_calibration(seq / "kcalibration_171204_pose9.json")
    assert np.allclose(world_to_kinect_depth(np.array([100.0, -50.0, 300.0]), sensors[1]), [1.0, -0.5, 3.0])
    assert read_kinect_sync(seq / "ksynctables_171204_pose9.json", 2)["depth"].shape == (3,)
    with pytest.raises(DataFormatError, match="KINECTNODE5"):
        read_kinect_sync(seq / "ksynctables_171204_pose9.json", 5)
    ds = PanopticPoseDataset(seq, node=2, clip_len=3, num_points=256, kp_noise_px=0.0)
    assert len(ds) == 1
    item = ds[0]
    # ground truth back in the (Y-up) depth camera frame = the rendered joints
    assert torch.allclose(item["joints3d"], torch.from_numpy(coco).float(), atol=1e-4)
    assert item["intrinsics"].tolist() == pytest.approx(list(intr))
    # the cropped cloud is the person: every point near the skeleton
    assert (torch.cdist(item["points"], item["joints3d"]).amin(-1) < 0.35).all()
    assert item["joints_valid"].all()


def test_synthetic_world_is_deterministic_and_consistent() -> None:
    cfg = SynthPoseConfig(subjects=(0, 5), clips_per_subject=1, frames=3, num_points=64, kp_noise_px=0.0,
                          outlier_rate=0.0, swap_rate=0.0)
    a, b = SyntheticPoseDataset(cfg), SyntheticPoseDataset(cfg)
    assert np.array_equal(a.depth, b.depth) and np.array_equal(a.rgb, b.rgb)
    assert torch.equal(a[1]["points"], b[1]["points"])
    assert a.subjects.tolist() == [0, 5] and a.depth.shape == (2, 3, 120, 160) and a.rgb.shape == (2, 3, 120, 160, 3)
    item = a[0]
    assert item["rgb"].shape == (3, 3, 120, 160) and item["depth"].shape == (1, 3, 120, 160)
    # noise-free detections are the projections of the hidden joints
    fx, fy, cx, cy = a.intr
    j = a.joints3d[0]
    assert np.allclose(a.kp2d[0, ..., 0], cx + fx * j[..., 0] / j[..., 2], atol=1e-3)
    # joints lie inside the body: behind the visible surface at their own pixel, by less than 20 cm
    u = np.round(a.kp2d[0, ..., 0]).astype(int).clip(0, 159)
    v = np.round(a.kp2d[0, ..., 1]).astype(int).clip(0, 119)
    z = a.depth[0][np.arange(3)[:, None], v, u]
    hit = z > 0
    assert hit.mean() > 0.8
    gap = j[..., 2][hit] - z[hit]
    assert np.median(gap) > 0.0 and (gap < 0.6).all()
    # points are the person (near the skeleton), normals unit length and facing the camera
    d = torch.cdist(item["points"], item["joints3d"]).amin(-1)
    assert (d < 0.3).all()
    n = item["normals"]
    assert torch.allclose(n.norm(dim=-1), torch.ones_like(n[..., 0]), atol=1e-4)
    assert ((n * item["points"]).sum(-1) < 0).float().mean() > 0.95


def test_depth_normals_of_a_plane() -> None:
    intr = (100.0, 100.0, 15.5, 15.5)
    vv, uu = np.mgrid[0:32, 0:32].astype(np.float32)
    # plane Z = 2 + 0.5 X -> normal ~ (0.5, 0, -1) normalised
    x_over_z = (uu - 15.5) / 100
    z = 2.0 / (1 - 0.5 * x_over_z)
    n = depth_normals(z[None].astype(np.float32), intr)[0, 5:-5, 5:-5]
    want = np.array([0.5, 0.0, -1.0]) / np.sqrt(1.25)
    assert np.allclose(n, want, atol=1e-3)


def test_lift_with_depth_hand_case() -> None:
    depth = torch.zeros(1, 1, 10, 10)
    depth[0, 0, 4, 4] = 2.0
    depth[0, 0, 4, 6] = 3.0
    depth[0, 0, 9, 9] = 5.0
    intr = torch.tensor([10.0, 10.0, 4.0, 4.0])
    kp = torch.tensor([[[[4.0, 4.0], [5.2, 4.0], [6.0, 4.0], [0.0, 9.0]]]])  # (1, 1, 4, 2)
    out = lift_with_depth(kp, depth, intr, window=2)
    # direct hit, nearest-valid neighbour (distance 1 to (4,4) and (6,4): first in scan order = 2.0 m at u=4),
    # direct hit 3 m, empty window -> frame median (of 2, 3, 5 = 3)
    assert out[0, 0, :, 2].tolist() == [2.0, 2.0, 3.0, 3.0]
    assert torch.allclose(out[0, 0, 2], torch.tensor([(6 - 4) * 3.0 / 10, 0.0, 3.0]))
