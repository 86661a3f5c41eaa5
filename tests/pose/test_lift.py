"""lift_rgbd: naive and stage-A lifting of a clip, the person cut, and the stage-A checkpoint round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import mmfusion
from mmfusion.errors import CheckpointError, ConfigError
from mmfusion.pose.data import SyntheticPoseDataset, SynthPoseConfig, lift_with_depth
from mmfusion.pose.lift import lift_rgbd, load_lifter, person_depth, save_lifter
from mmfusion.pose.metrics import mpjpe_mm

KW = dict(layout="coco17", num_joints=17, in_features=3, feature_key="normals", rotate_features=True,
          view_features=True)


@pytest.fixture(scope="module")
def clip() -> dict:
    ds = SyntheticPoseDataset(SynthPoseConfig(subjects=(5,), clips_per_subject=1, frames=3), modalities=())
    depth_mm = np.round(ds.depth[0] * 1000).astype(np.uint16)  # (T, H, W) as read from NTU PNGs
    return {"depth": depth_mm, "kp": ds.kp2d[0], "scores": ds.scores[0], "gt": ds.joints3d[0], "intr": ds.intr}


def test_naive_lifting_matches_lift_with_depth(clip: dict) -> None:
    out = lift_rgbd(clip["depth"], clip["kp"], clip["intr"])
    assert out.shape == (3, 17, 3) and out.dtype == np.float32
    ref = lift_with_depth(torch.from_numpy(clip["kp"])[None], torch.from_numpy(clip["depth"] / 1000.0).float()[None],
                          torch.tensor(clip["intr"]))[0].numpy()
    np.testing.assert_allclose(out, ref, atol=1e-5)
    # surface points of the right person: within a few decimetres of the hidden joint centres
    assert mpjpe_mm(torch.from_numpy(out), torch.from_numpy(clip["gt"])) < 250
    # a tensor in gives a tensor out
    t = lift_rgbd(torch.from_numpy(clip["depth"].astype(np.int32)), torch.from_numpy(clip["kp"]), clip["intr"])
    assert isinstance(t, torch.Tensor) and torch.allclose(t, torch.from_numpy(out))


def test_empty_frame_gives_zeros_not_nan(clip: dict) -> None:
    depth = clip["depth"].copy()
    depth[1] = 0
    for model in (None, mmfusion.create_model("unipose_pointnet_tiny", **KW)):
        out = lift_rgbd(depth, clip["kp"], clip["intr"], model=model)
        assert np.isfinite(out).all()
        assert (out[1] == 0).all() and (np.abs(out[0]).sum() > 0)


def _unmasked(clip: dict, floor: bool) -> np.ndarray:
    """The clip's depth (metres) with a wall 1.2 m behind the person and optionally a floor under the feet."""
    d = clip["depth"] / 1000.0
    bg = np.full_like(d, d[d > 0].max() + 1.2)
    if floor:
        fy, cy = clip["intr"][1], clip["intr"][3]
        ray_y = -(np.arange(d.shape[1], dtype=np.float64) - cy) / fy  # Y of each row's ray at Z = 1
        y0 = clip["gt"][..., 1].min() - 0.05
        z_floor = np.where(ray_y < -1e-3, y0 / np.minimum(ray_y, -1e-3), np.inf)
        bg = np.minimum(bg, z_floor[None, :, None])
    return np.where(d > 0, d, bg).astype(np.float32)


def test_person_cut_drops_background(clip: dict) -> None:
    body = clip["depth"] > 0
    cut = person_depth(_unmasked(clip, floor=False), clip["kp"], clip["scores"])
    assert (cut[~body] == 0).all()  # nothing of the wall survives
    assert (cut[body] > 0).mean() > 0.95  # almost the whole body does
    # the floor passes the depth gate (the feet stand on it) unless the plane is removed
    scene = _unmasked(clip, floor=True)
    kept = person_depth(scene, clip["kp"], clip["scores"])
    assert (kept[~body] > 0).sum() > 100
    cut = person_depth(scene, clip["kp"], clip["scores"], clip["intr"])
    assert (cut[~body] > 0).sum() < 0.1 * (kept[~body] > 0).sum()
    assert (cut[body] > 0).mean() > 0.9
    # on the masked clip the floor removal finds no floor
    masked = clip["depth"] / 1000.0
    assert np.array_equal(person_depth(masked, clip["kp"], clip["scores"], clip["intr"]),
                          person_depth(masked, clip["kp"], clip["scores"]))


def test_stage_a_checkpoint_round_trip(tmp_path: Path, clip: dict) -> None:
    torch.manual_seed(0)
    net = mmfusion.create_model("unipose_pointnet_tiny", **KW).eval()
    run = save_lifter(net, tmp_path / "stage_a", "unipose_pointnet_tiny", KW, num_points=256)
    assert (run / "model.safetensors").is_file() and (run / "config.json").is_file()
    again = mmfusion.create_model("unipose_pointnet_tiny", checkpoint=run)
    for (k, a), (_, b) in zip(net.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), k
    assert again.view_features and again.in_features == 3  # model_kwargs came from config.json
    loaded = load_lifter(run)
    assert loaded.lift_num_points == 256 and not loaded.training
    a = lift_rgbd(clip["depth"], clip["kp"], clip["intr"], model=run, scores=clip["scores"])
    b = lift_rgbd(clip["depth"], clip["kp"], clip["intr"], model=net, scores=clip["scores"], num_points=256)
    np.testing.assert_allclose(a, b, atol=1e-5)  # same weights, same seeded sample
    c = lift_rgbd(clip["depth"], clip["kp"], clip["intr"], model=net, scores=clip["scores"], num_points=256,
                  remove_floor_plane=True)
    np.testing.assert_allclose(c, b, atol=1e-5)  # masked depth: no floor found, nothing changes
    assert a.shape == (3, 17, 3) and np.isfinite(a).all()
    # votes stay near the person's cloud (within the 0.8 m vote radius of the body's depth range)
    z = clip["depth"][clip["depth"] > 0] / 1000.0
    assert (a[..., 2] > z.min() - 0.8).all() and (a[..., 2] < z.max() + 0.8).all()
    with pytest.raises(CheckpointError):
        load_lifter(tmp_path / "nothing")


def test_bad_inputs(clip: dict) -> None:
    with pytest.raises(ConfigError, match="same T"):
        lift_rgbd(clip["depth"][:2], clip["kp"], clip["intr"])
    with pytest.raises(ConfigError, match="17 joints"):
        lift_rgbd(clip["depth"], clip["kp"][:, :15], clip["intr"],
                  model=mmfusion.create_model("unipose_pointnet_tiny", **KW))
    kp = clip["kp"].copy()
    kp[0, 0, 0] = np.nan
    with pytest.raises(ConfigError, match="NaN"):
        lift_rgbd(clip["depth"], kp, clip["intr"])
