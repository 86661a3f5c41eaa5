"""RGBDActionPipeline end to end: a tiny synthetic NTU world, freshly initialised action models saved
through the engine's save functions, a tiny UniPose stage-A checkpoint, the CLI, and real NTU frames."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import mmfusion
from mmfusion.data.dataset import NTUDataset
from mmfusion.data.formats.video import write_video
from mmfusion.data.layouts import COCO17
from mmfusion.data.settings import ClipSettings
from mmfusion.data.synthetic import SynthConfig, generate, noisy_keypoints2d, render_sample
from mmfusion.errors import CheckpointError, DataFormatError, MissingModalityError
from mmfusion.pipelines import GivenKeypoints, PipelineConfig, RGBDActionPipeline, SkeletonFileDetector
from mmfusion.pipelines.render import render_prediction
from mmfusion.runs import save_weights, write_model_config

NAME = "S001C001P002R001A010"
CFG = SynthConfig(actions=(10, 34), performers=(2,), cameras=(1,), replications=(1,), frames=(12, 12),
                  write=("skeleton", "depth", "rgb", "depth_full"), num_workers=0, progress=False)
TRAIN = {"image_size": 32, "clip_len": 4, "num_points": 128, "crop": "person"}
MODELS: dict[str, tuple[str, dict[str, Any], tuple[str, ...]]] = {
    "rgbd": ("mmixer_tiny", {"num_classes": 2, "modalities": ["rgb", "depth"]}, ("rgb", "depth")),
    "skeleton": ("stgcn_tiny", {"num_classes": 2}, ("skeleton",)),
    "points": ("point_sequence_encoder_tiny", {"num_classes": 2}, ("points",)),
    "heatmap": ("xshiftnet_pose_tiny", {"num_classes": 2}, ("heatmap",)),
    "rgb_kp": ("deform3d_tiny", {"num_classes": 2, "pose_key": "keypoints2d", "layout": "coco17",
                                 "pose_frames": 4}, ("rgb", "keypoints2d")),
    "ir": ("frame_gru_tiny", {"num_classes": 2, "modality": "ir"}, ("ir",)),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pipe") / "world"
    generate(root, CFG)
    return root


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("ckpts")
    runs: dict[str, Path] = {}
    for key, (name, kw, mods) in MODELS.items():
        torch.manual_seed(0)
        run = out / key
        save_weights(mmfusion.create_model(name, **kw), run / "model.safetensors")
        write_model_config(run, name, kw, classes=[9, 33], modalities=mods)  # A010, A034 (0-based)
        (run / "train_config.json").write_text(json.dumps(TRAIN))
        runs[key] = run
    from mmfusion.pose.lift import save_lifter

    kw = {"in_features": 3, "feature_key": "normals", "view_features": True}
    torch.manual_seed(0)
    runs["pose"] = save_lifter(mmfusion.create_model("unipose_pointnet_tiny", **kw), out / "pose",
                               "unipose_pointnet_tiny", kw, num_points=160)
    return runs


def _paths(world: Path, depth: str = "nturgb+d_depth_masked") -> tuple[Path, Path]:
    return world / "nturgb+d_rgb" / f"{NAME}_rgb.avi", world / depth / NAME


def test_inputs_are_the_datasets(world: Path, ckpts: dict[str, Path]) -> None:
    """With full-frame crops the model inputs equal NTUDataset's on the same sample, bit for bit."""
    pipe = RGBDActionPipeline(ckpts["rgbd"], detector="skeleton", config=PipelineConfig(crop="full"))
    pipe.modalities = ("rgb", "depth", "points")
    pipe.clip_lens = {"rgb": 4, "depth": 2, "points": 4}  # aligned: depth takes every other rgb frame
    batch = pipe.inputs(pipe.capture(*_paths(world)))
    ds = NTUDataset(world, modalities=pipe.modalities, split="all", clip_len=pipe.clip_lens, image_size=32,
                    num_points=128, crop="full", names=[NAME], verbose=False)
    item = ds[0]
    for m in pipe.modalities:
        assert batch[m].shape[1:] == item[m].shape
        assert torch.equal(batch[m][0], item[m]), m
    assert batch["frame_index"][0].tolist() == item["frame_index"].tolist() == [1, 4, 7, 10]  # video frames


def test_person_crop_frames(world: Path, ckpts: dict[str, Path]) -> None:
    """The data set boxes the person over the whole clip: file-based keypoints are lifted on extra
    frames for that box (all 12 here), image detectors only on the sampled ones unless asked."""
    rgb, depth = _paths(world)
    cap = RGBDActionPipeline(ckpts["rgbd"], detector="skeleton").capture(rgb, depth)
    assert cap.crop_index.tolist() == list(range(12)) and cap.crop_skeleton.shape == (2, 12, 25, 3)
    np.testing.assert_array_equal(cap.crop_skeleton[:, cap.frame_index], cap.skeleton)
    few = RGBDActionPipeline(ckpts["rgbd"], detector="skeleton", config=PipelineConfig(crop_frames=0))
    assert few.capture(rgb, depth).crop_index.tolist() == [1, 4, 7, 10]
    full = RGBDActionPipeline(ckpts["rgbd"], detector="skeleton", config=PipelineConfig(crop="full"))
    assert full.capture(rgb, depth).crop_index.tolist() == [1, 4, 7, 10]


@pytest.mark.parametrize("key", ["rgbd", "skeleton", "points", "heatmap", "rgb_kp"])
def test_predict_builds_what_each_model_consumes(world: Path, ckpts: dict[str, Path], key: str) -> None:
    pipe = RGBDActionPipeline(ckpts[key], detector="skeleton")
    pred = pipe.predict(*_paths(world), topk=5)
    expected = {"rgb": (1, 3, 4, 32, 32), "depth": (1, 1, 4, 32, 32), "points": (1, 4, 128, 3),
                "skeleton": (1, 3, 4, 25, 2), "heatmap": (1, 17, 4, 56, 56), "keypoints2d": (1, 2, 4, 17, 2)}
    assert pred.inputs == {m: expected[m] for m in MODELS[key][2]}
    assert pred.probabilities.shape == (2,) and pred.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    assert [s.rank for s in pred.topk] == [1, 2] and pred.topk[0].probability >= pred.topk[1].probability
    assert {s.name for s in pred.topk} == {"clapping", "rub two hands together"}
    assert {s.code for s in pred.topk} == {"A010", "A034"}
    cap = pred.capture
    assert cap.frame_index.tolist() == [1, 4, 7, 10] and cap.lifting == "naive" and not cap.masked
    assert cap.present[0].all() and not cap.present[1].any()
    d = json.loads(json.dumps(pred.to_dict()))
    assert d["model"]["modalities"] == list(MODELS[key][2]) and d["frames"]["sampled"] == [1, 4, 7, 10]
    assert d["calibration"]["source"] == "mmfusion_synth.json"
    assert sum(t["probability"] for t in d["topk"]) == pytest.approx(1.0, abs=1e-5)


def test_naive_lifting_against_hidden_truth(world: Path, ckpts: dict[str, Path]) -> None:
    """Noisy COCO-17 detections of the synthetic world (real face points) lifted with the depth
    land within a few cm of the hidden joint centres."""
    s = render_sample(NAME, CFG)
    kps, scores = noisy_keypoints2d(s["coco2d_rgb"], s["coco_visible_rgb"], rng=0,
                                    image_size=s["rgb"].shape[1:3])
    pipe = RGBDActionPipeline(ckpts["skeleton"], detector=GivenKeypoints(kps, scores, labels="anatomical"),
                              config=PipelineConfig(clip_len=12))
    for depth in ("nturgb+d_depth_masked", "nturgb+d_depth"):  # unmasked: outliers must not hit the wall
        cap = pipe.capture(*_paths(world, depth))
        truth = s["coco3d"][:, cap.frame_index]                            # (1, T, 17, 3)
        err = np.linalg.norm(cap.joints3d[:1] - truth, axis=-1)
        assert np.median(err) < 0.08 and err.mean() < 0.12, (depth, np.median(err), err.mean())
        assert cap.keypoints_depth[0, :, :, 0].max() < 128 and cap.keypoints_depth[0, :, :, 1].max() < 106
    # the world is a mirrored (Kinect) view: an image detector calls the person's left "right";
    # such appearance labels are swapped back to anatomical ones
    flip = list(COCO17.flip)
    seen = RGBDActionPipeline(ckpts["skeleton"], detector=GivenKeypoints(kps[:, :, flip], scores[:, :, flip]),
                              config=PipelineConfig(clip_len=12)).capture(*_paths(world))
    np.testing.assert_array_equal(seen.joints3d, pipe.capture(*_paths(world)).joints3d)


def test_unmirrored_capture_is_shown_as_ntu(world: Path, ckpts: dict[str, Path], tmp_path: Path) -> None:
    """A camera that does not mirror (RealSense, webcams) sees the mirror image of the synthetic world's
    Kinect view; the pipeline mirrors it back, so the model gets the same inputs."""
    from mmfusion.data.camera import CameraIntrinsics
    from mmfusion.data.formats.depth import read_depth_folder, write_depth_png
    from mmfusion.data.formats.video import read_video
    from mmfusion.pipelines import RGBDCalibration

    s = render_sample(NAME, CFG)
    kps = s["coco2d_rgb"].astype(np.float32)
    rgb, depth = _paths(world)
    own = tmp_path / "own"                               # same sample name: same point-sampling seeds
    frames = read_video(rgb)
    write_video(own / "nturgb+d_rgb" / f"{NAME}_rgb.avi", np.ascontiguousarray(frames[:, :, ::-1]))
    for t, d in enumerate(read_depth_folder(depth)):
        write_depth_png(own / "d" / NAME / f"MDepth-{t + 1:08d}.png", np.ascontiguousarray(d[:, ::-1]))
    meta = json.loads((world / "mmfusion_synth.json").read_text())["intrinsics"]
    dc, cc = meta["depth"], meta["color"]
    cal = RGBDCalibration(CameraIntrinsics(dc["fx"], dc["fy"], dc["width"] - 1 - dc["cx"], dc["cy"]),
                          CameraIntrinsics(cc["fx"], cc["fy"], cc["width"] - 1 - cc["cx"], cc["cy"]),
                          -cc["baseline_m"])
    seen = np.stack([frames.shape[2] - 1 - kps[..., 0], kps[..., 1]], -1)  # unmirrored: appearance = anatomy
    mods = ("rgb", "depth", "points", "skeleton", "heatmap", "keypoints2d")
    batches = []
    own_paths = (own / "nturgb+d_rgb" / f"{NAME}_rgb.avi", own / "d" / NAME)
    for det, calib, paths in ((GivenKeypoints(kps, labels="anatomical"), None, (rgb, depth)),
                              (GivenKeypoints(seen), cal, own_paths)):
        pipe = RGBDActionPipeline(ckpts["rgbd"], detector=det, calibration=calib)
        pipe.modalities, pipe.clip_lens = mods, dict.fromkeys(mods, 4)
        cap = pipe.capture(*paths)
        assert cap.mirrored == (calib is None)
        batches.append(pipe.inputs(cap))
    for m in mods:
        torch.testing.assert_close(batches[1][m], batches[0][m], atol=2e-4, rtol=0, msg=m)


def test_unipose_on_unmasked_depth(world: Path, ckpts: dict[str, Path], tmp_path: Path) -> None:
    """A stage-A checkpoint lifts from the point cloud; unmasked depth is masked to the person."""
    from mmfusion.data.formats.depth import read_depth_folder

    pipe = RGBDActionPipeline(ckpts["points"], pose_checkpoint=ckpts["pose"], detector="synthetic")
    rgb, depth = _paths(world, "nturgb+d_depth")
    pred = pipe.predict(rgb, depth)
    cap = pred.capture
    assert cap.lifting == "unipose" and cap.masked and pred.pose["num_points"] == 160
    assert np.isfinite(cap.joints3d).all() and (cap.joints3d[0, ..., 2] > 0).all()
    truth = read_depth_folder(_paths(world)[1], cap.frame_index.tolist()) > 0
    got = cap.model_depth > 0
    assert (truth & got).sum() / truth.sum() > 0.97               # the person is kept
    assert (truth & got).sum() / (truth | got).sum() > 0.5        # most of the room is gone
    assert pred.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    png = render_prediction(pred, tmp_path / "u.png")
    assert png.stat().st_size > 10_000


def test_clear_errors(world: Path, ckpts: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(MissingModalityError, match="'ir'"):
        RGBDActionPipeline(ckpts["ir"], detector="skeleton")
    pipe = RGBDActionPipeline(ckpts["skeleton"], detector="skeleton")
    rgb, depth = _paths(world)
    with pytest.raises(MissingModalityError, match="'rgb'.*missing.avi"):
        pipe.predict(tmp_path / "missing.avi", depth)
    with pytest.raises(MissingModalityError, match="'depth'"):
        pipe.predict(rgb, tmp_path / "missing_depth")
    write_video(tmp_path / "depth8.avi", np.zeros((12, 106, 128, 3), np.uint8))
    with pytest.raises(DataFormatError, match="depth8.avi.*16-bit"):
        pipe.predict(rgb, tmp_path / "depth8.avi")
    with pytest.raises(CheckpointError, match="not found"):
        RGBDActionPipeline(tmp_path / "no_run", detector="skeleton")
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "model.safetensors").write_bytes((ckpts["skeleton"] / "model.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="--model"):
        RGBDActionPipeline(bare / "model.safetensors", detector="skeleton")
    with pytest.raises(CheckpointError):
        RGBDActionPipeline(bare / "model.safetensors", detector="skeleton", model_name="mmixer_tiny")


def test_cli_predict(world: Path, ckpts: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
                     monkeypatch: pytest.MonkeyPatch) -> None:
    from mmfusion.cli import main

    rgb, depth = _paths(world)
    out_json, out_png = tmp_path / "o" / "pred.json", tmp_path / "o" / "pred.png"
    rc = main(["predict", "--rgb", str(rgb), "--depth", str(depth), "--checkpoint", str(ckpts["rgbd"]),
               "--detector", "skeleton", "--topk", "1", "--json", str(out_json), "--render", str(out_png),
               "--save-clouds", str(tmp_path / "clouds")])
    assert rc == 0
    text = capsys.readouterr().out
    assert "mmixer_tiny (rgb, depth)" in text and "1. " in text and "%" in text
    assert "wrote 8 PLY files (4 frames" in text
    import open3d as o3d

    for f in (1, 4, 7, 10):                                   # the sampled video frames
        cloud = o3d.io.read_point_cloud(str(tmp_path / "clouds" / f"frame_{f:05d}_cloud.ply"))
        bones = o3d.io.read_line_set(str(tmp_path / "clouds" / f"frame_{f:05d}_skeleton.ply"))
        pts, joints = np.asarray(cloud.points), np.asarray(bones.points)
        assert len(pts) > 100 and cloud.has_colors() and len(joints) == 17 and len(bones.lines) == len(COCO17.bones)
        # the lifted skeleton stands inside its own cloud (same camera frame; naive joints sit on the surface)
        lo, hi = pts.min(0) - 0.1, pts.max(0) + 0.1
        assert ((joints > lo) & (joints < hi)).all()
    d = json.loads(out_json.read_text())
    assert len(d["topk"]) == 1 and d["topk"][0]["code"] in ("A010", "A034")
    assert d["model"]["inputs"] == {"rgb": [1, 3, 4, 32, 32], "depth": [1, 1, 4, 32, 32]}
    assert d["detector"]["name"] == "skeleton" and d["detector"]["source"].endswith(f"{NAME}.skeleton")
    assert d["lifting"]["method"] == "naive" and d["persons"][0]["frames_lifted"] == 4
    from PIL import Image

    with Image.open(out_png) as im:
        assert im.size[0] > 300
    # the world's cameras given on the command line (a Kinect-style mirrored view) reproduce the meta-based result
    given = tmp_path / "o" / "given.json"
    rc = main(["predict", "--rgb", str(rgb), "--depth", str(depth), "--checkpoint", str(ckpts["rgbd"]),
               "--detector", "skeleton", "--topk", "1", "--json", str(given),
               "--intrinsics", "91.575,91.575,63.725,51.75", "--color-intrinsics", "88.166667,88.166667,79.458333,"
               "44.541667", "--baseline", "0.052", "--mirrored", "yes"])
    g = json.loads(given.read_text())
    assert rc == 0 and g["calibration"]["source"] == "given"
    assert g["topk"][0]["probability"] == pytest.approx(d["topk"][0]["probability"], abs=1e-6)
    capsys.readouterr()
    assert main(["predict", "--rgb", str(rgb), "--depth", str(depth), "--checkpoint", str(ckpts["rgbd"]),
                 "--detector", "skeleton", "--registered"]) == 2
    assert "--intrinsics" in capsys.readouterr().err
    # no silent download: Keypoint R-CNN (the default where mediapipe is not installed) without cached
    # weights is a clear error (exit code 2)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    rc = main(["predict", "--rgb", str(rgb), "--depth", str(depth), "--checkpoint", str(ckpts["rgbd"]),
               "--detector", "keypointrcnn"])
    assert rc == 2 and "Keypoint R-CNN weights not found" in capsys.readouterr().err
    rc = main(["predict", "--rgb", str(rgb), "--depth", str(depth), "--checkpoint", str(ckpts["ir"]),
               "--detector", "skeleton"])
    assert rc == 2 and "'ir'" in capsys.readouterr().err


def test_real_ntu_frames(real_samples: Path, ckpts: dict[str, Path], tmp_path: Path) -> None:
    """Real NTU depth (S001C001P001R001A058, two people) with a real RGB clip and the 2-D joints of a
    real skeleton file of the same setup and camera (the samples are different recordings)."""
    ntu = real_samples / "ntu"
    skel = ntu / "nturgbd_skeletons" / "S001C001P001R001A011.skeleton"
    pipe = RGBDActionPipeline(ckpts["rgbd"], detector=SkeletonFileDetector(skel))
    pred = pipe.predict(ntu / "nturgb+d_rgb" / "S001C001P001R001A001_rgb.avi",
                        ntu / "nturgb+d_depth_masked" / "S001C001P001R001A058")
    cap = pred.capture
    assert (cap.rgb_frames, cap.depth_frames, cap.num_frames) == (103, 71, 71)
    assert cap.rgb.shape[1:] == (1080, 1920, 3) and cap.depth.shape[1:] == (424, 512)
    assert cap.calibration.source.startswith("fit:") and not cap.masked
    assert cap.present[0].all()
    z = cap.joints3d[0, ..., 2]
    assert (z > 2.0).all() and (z < 5.0).all()                 # the person stands ~3.6 m away
    kd = cap.keypoints_depth[0]
    assert (kd[..., 0] > 0).all() and (kd[..., 0] < 512).all() and (kd[..., 1] < 424).all()
    assert pred.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    assert pred.inputs == {"rgb": (1, 3, 4, 32, 32), "depth": (1, 1, 4, 32, 32)}
    assert render_prediction(pred, tmp_path / "real.png").stat().st_size > 10_000


def test_data_settings_resolution() -> None:
    """Explicit options > the data set's stored settings > the recipe's options > ClipSettings defaults."""
    from mmfusion.pipelines.rgb_action import _data_settings

    recipe = {"clip_len": 4, "pose_clip_len": 12, "image_size": 32, "heatmap_size": None, "lr": 0.1}
    s = _data_settings(PipelineConfig(), {}, recipe)
    assert s.clip_len["rgb"] == 4 and s.clip_len["heatmap"] == s.clip_len["skeleton"] == 12
    assert s.image_size == 32 and s.heatmap_size == 56 and s.num_points == 512  # None: the default
    s = _data_settings(PipelineConfig(image_size=64), {"dataset": {"heatmap_size": 8, "clip_len": {"rgb": 2}}},
                       recipe)
    assert s.image_size == 64 and s.heatmap_size == 8 and s.clip_len == {"rgb": 2}
    # a full stored entry (what the engine writes: the data set's ClipSettings) comes back as is
    stored = ClipSettings(modalities=("rgb", "skeleton"), clip_len={"rgb": 4, "skeleton": 12}, image_size=40,
                          crop="person", decode_size=64)
    s = _data_settings(PipelineConfig(), {"dataset": json.loads(json.dumps(stored.to_dict()))}, recipe,
                       modalities=("rgb", "skeleton"))
    assert s == stored


def test_stored_clip_settings_drive_the_inputs(world: Path, ckpts: dict[str, Path], tmp_path: Path) -> None:
    """A run folder whose config.json holds the data set's ClipSettings (what the engine writes) gets its
    inputs prepared with exactly those settings: equal to NTUDataset.from_root with them."""
    settings = ClipSettings(modalities=("rgb", "depth"), clip_len={"rgb": 6, "depth": 3}, image_size=24, crop="full",
                            depth_max=5.0)
    run = tmp_path / "run"
    save_weights(mmfusion.create_model(*MODELS["rgbd"][:1], **MODELS["rgbd"][1]), run / "model.safetensors")
    write_model_config(run, "mmixer_tiny", MODELS["rgbd"][1], classes=[9, 33], modalities=("rgb", "depth"),
                       extra={"dataset": settings})
    assert json.loads((run / "config.json").read_text())["dataset"]["clip_len"] == {"rgb": 6, "depth": 3}
    pipe = RGBDActionPipeline(run, detector="skeleton")
    assert pipe.settings == settings
    batch = pipe.inputs(pipe.capture(*_paths(world)))
    item = NTUDataset.from_root(world, settings, split="all", names=[NAME], verbose=False)[0]
    for m in ("rgb", "depth"):
        assert torch.equal(batch[m][0], item[m]), m
    assert batch["rgb"].shape == (1, 3, 6, 24, 24) and batch["depth"].shape == (1, 1, 3, 24, 24)


def test_engine_run_folder_carries_the_clip_settings(world: Path, tmp_path: Path) -> None:
    """Trained through the engine, the run folder's config.json holds the data set's ClipSettings and
    the pipeline prepares its inputs with exactly them (no train_config.json fallback involved)."""
    from mmfusion.engine import TrainConfig, train

    settings = ClipSettings(modalities=("skeleton",), clip_len=5, crop="full", max_bodies=2)
    ds = NTUDataset.from_root(world, settings, split="all", train=False, verbose=False)
    cfg = TrainConfig(epochs=1, batch_size=2, lr=0.01, cpu=True, output_dir=str(tmp_path / "run"), log_every=1,
                      keep_last=0)
    result = train(cfg, "stgcn_tiny", ds, ds, model_kwargs={"num_classes": ds.num_classes}, modalities=("skeleton",))
    run = result.model_config.parent
    (run / "train_config.json").unlink(missing_ok=True)
    card = json.loads(result.model_config.read_text())
    assert ClipSettings.from_dict(card["dataset"]) == settings
    pipe = RGBDActionPipeline(run, detector="skeleton")
    assert pipe.settings == settings
    pred = pipe.predict(*_paths(world))
    assert pred.inputs == {"skeleton": (1, 3, 5, 25, 2)}


def test_progress_and_input_mismatch_warnings(world: Path, ckpts: dict[str, Path], tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    from mmfusion.pipelines.rgb_action import STAGES

    seen: list[tuple[str, float, str]] = []
    pipe = RGBDActionPipeline(ckpts["rgbd"], detector="skeleton", progress=lambda *a: seen.append(a))
    rgb, depth = _paths(world)
    pred = pipe.predict(rgb, depth, topk=1)
    assert [s for s, _, _ in seen] == list(STAGES) and all(t >= 0 for _, t, _ in seen)
    assert "4 of 12 frames" in seen[0][2] and "A0" in seen[-1][2]
    assert pred.capture.warnings == [] and pred.to_dict()["warnings"] == []
    # the RGB of one sample with the depth (and skeleton file) of another: named in the warning
    other = world / "nturgb+d_depth_masked" / "S001C001P002R001A034"
    with caplog.at_level("WARNING", logger="mmfusion.pipelines.rgb_action"):
        cap = pipe.capture(rgb, other)
    assert len(cap.warnings) == 1 and "different NTU samples" in cap.warnings[0]
    assert "rgb S001C001P002R001A010" in cap.warnings[0] and "depth S001C001P002R001A034" in cap.warnings[0]
    assert "different NTU samples" in caplog.text
    # unnamed streams whose frame counts disagree
    from mmfusion.data.formats.depth import read_depth_folder

    np.save(tmp_path / "clip.npy", read_depth_folder(depth)[:6])
    cap = RGBDActionPipeline(ckpts["rgbd"], detector=SkeletonFileDetector(world / "nturgb+d_skeletons" /
                                                                          f"{NAME}.skeleton")).capture(
        rgb, tmp_path / "clip.npy")
    assert len(cap.warnings) == 1 and "frame counts differ" in cap.warnings[0] and "depth 6" in cap.warnings[0]


def test_cli_export_skeleton_round_trip(world: Path, ckpts: dict[str, Path], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from mmfusion.cli import main
    from mmfusion.data.camera import project
    from mmfusion.data.formats.skeleton import format_skeleton, read_skeleton
    from mmfusion.pipelines.export import skeleton_sequence

    rgb, depth = _paths(world)
    out = tmp_path / "lifted.skeleton"
    assert main(["predict", "--rgb", str(rgb), "--depth", str(depth), "--checkpoint", str(ckpts["skeleton"]),
                 "--detector", "skeleton", "--export-skeleton", str(out)]) == 0
    io = capsys.readouterr()
    assert f"wrote {out}" in io.out
    assert all(f"[{i}/6] {s}" in io.err for i, s in enumerate(("read", "detect 2-D", "register", "lift", "encode",
                                                                 "classify"), 1))
    # the file reads back through the package's reader, byte for byte, with the lifted joints
    pred = RGBDActionPipeline(ckpts["skeleton"], detector="skeleton").predict(rgb, depth)
    cap = pred.capture
    seq = read_skeleton(out)
    assert out.read_bytes() == format_skeleton(skeleton_sequence(pred)).encode()     # the package's writer
    assert format_skeleton(seq).encode() == out.read_bytes()                          # and its reader, exactly
    assert seq.num_frames == cap.num_frames == 12
    assert sorted(set(seq.frame_index.tolist())) == cap.crop_index.tolist()
    xyz = seq.to_array(2, "xyz")[:, cap.crop_index]
    np.testing.assert_allclose(xyz, cap.crop_skeleton, rtol=1e-6, atol=1e-6)
    present = np.abs(xyz).sum(-1) > 0
    np.testing.assert_allclose(seq.to_array(2, "depth")[:, cap.crop_index][present],
                               project(xyz[present], cap.calibration.depth), atol=1e-3)
    # against the world's own Kinect skeleton: the limbs land within a few cm (naive: on the body surface)
    truth = read_skeleton(world / "nturgb+d_skeletons" / f"{NAME}.skeleton").to_array(1, "xyz")[0, cap.crop_index]
    limbs = [5, 6, 9, 10, 13, 14, 17, 18]                                   # elbows, wrists, knees, ankles
    err = np.linalg.norm(xyz[0][:, limbs] - truth[:, limbs], axis=-1)
    assert np.median(err) < 0.1, np.median(err)
    assert (seq.tracking_state[:, limbs] == 2).all() and (seq.tracking_state[:, [0, 1, 2, 3, 20]] == 1).all()


def test_cli_predict_with_mediapipe(world: Path, ckpts: dict[str, Path], tmp_path: Path) -> None:
    """The offline 2-D detector end to end on a capture of the synthetic world (needs `make mediapipe`)."""
    pytest.importorskip("mediapipe")
    from mmfusion.cli import main

    rgb, depth = _paths(world)
    out_json = tmp_path / "pred.json"
    rc = main(["predict", "--rgb", str(rgb), "--depth", str(depth), "--checkpoint", str(ckpts["rgbd"]),
               "--detector", "mediapipe", "--topk", "1", "--json", str(out_json)])
    assert rc == 0
    d = json.loads(out_json.read_text())
    assert d["detector"]["name"] == "mediapipe" and len(d["topk"]) == 1
    assert d["persons"] and d["persons"][0]["frames_lifted"] >= 1  # it finds the rendered person
