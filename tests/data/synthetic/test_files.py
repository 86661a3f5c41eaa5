"""Synthetic world on disk: exact NTU tree, official readers, byte-identical reruns, meta file, splits, CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from mmfusion.data.formats.depth import depth_frame_paths, read_depth_folder
from mmfusion.data.formats.skeleton import read_skeleton
from mmfusion.data.formats.video import read_video, video_num_frames
from mmfusion.data.synthetic import META_FILE, SampleSpec, SynthConfig, generate, is_complete, render_sample
from mmfusion.data.synthetic.config import XSUB_TRAIN_PERFORMERS
from mmfusion.errors import ConfigError

CFG = SynthConfig.tiny(actions=(1, 11), performers=(1, 3), cameras=(1, 2), frames=(12, 14), ghost_body_prob=0.5)


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("synth") / "ntu", CFG)


def test_tree_layout(world: Path) -> None:
    names = sorted(s.name for s in CFG.specs())
    assert len(names) == 8
    assert sorted(p.stem for p in (world / "nturgb+d_skeletons").iterdir()) == names
    assert sorted(p.name for p in (world / "nturgb+d_depth_masked").iterdir()) == names
    assert sorted(p.name for p in (world / "nturgb+d_rgb").iterdir()) == [f"{n}_rgb.avi" for n in names]
    assert sorted(p.name for p in (world / "nturgb+d_ir").iterdir()) == [f"{n}_ir.avi" for n in names]
    first = depth_frame_paths(world / "nturgb+d_depth_masked" / names[0])
    assert first[0].name == "MDepth-00000001.png"


def test_files_parse_with_the_official_readers(world: Path) -> None:
    meta = json.loads((world / META_FILE).read_text())
    dh, dw = meta["sizes"]["depth"]
    rh, rw = meta["sizes"]["rgb"]
    for spec in CFG.specs():
        n = spec.name
        seq = read_skeleton(world / "nturgb+d_skeletons" / f"{n}.skeleton")
        depth = read_depth_folder(world / "nturgb+d_depth_masked" / n, expected_size=(dh, dw))
        rgb = read_video(world / "nturgb+d_rgb" / f"{n}_rgb.avi")
        ir = read_video(world / "nturgb+d_ir" / f"{n}_ir.avi", gray=True)
        t = seq.num_frames
        assert CFG.frames[0] <= t <= CFG.frames[1]
        assert depth.shape == (t, dh, dw) and rgb.shape == (t, rh, rw, 3) and ir.shape == (t, dh, dw)
        assert video_num_frames(world / "nturgb+d_ir" / f"{n}_ir.avi") == t
        assert (seq.bodies_per_frame >= 1).all()
        raw = (world / "nturgb+d_skeletons" / f"{n}.skeleton").read_bytes()
        assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")


def test_files_hold_what_was_rendered(world: Path) -> None:
    """Lossless round trip: the files decode to exactly the in-memory render (same seed, same config)."""
    spec = CFG.specs()[3]
    s = render_sample(spec, CFG)
    n = spec.name
    np.testing.assert_array_equal(read_depth_folder(world / "nturgb+d_depth_masked" / n), s["depth"])
    np.testing.assert_array_equal(read_video(world / "nturgb+d_rgb" / f"{n}_rgb.avi"), s["rgb"])
    np.testing.assert_array_equal(read_video(world / "nturgb+d_ir" / f"{n}_ir.avi", gray=True), s["ir"])
    seq = read_skeleton(world / "nturgb+d_skeletons" / f"{n}.skeleton")
    xyz = seq.to_array(1, "xyz")
    np.testing.assert_allclose(xyz, s["kinect_xyz"][:1], atol=5e-6)
    np.testing.assert_array_equal(seq.to_array(1, "tracking")[..., 0], s["tracking"][:1])


def test_skeleton_pixels_follow_the_meta_intrinsics(world: Path) -> None:
    meta = json.loads((world / META_FILE).read_text())
    d, c = meta["intrinsics"]["depth"], meta["intrinsics"]["color"]
    assert (d["height"], d["width"]) == tuple(CFG.depth_size)
    assert c["baseline_m"] == pytest.approx(0.052)
    seq = read_skeleton(world / "nturgb+d_skeletons" / f"{CFG.specs()[0].name}.skeleton")
    j = seq.joints
    x, y, z = j[..., 0], j[..., 1], j[..., 2]
    np.testing.assert_allclose(j[..., 3], d["cx"] + d["fx"] * x / z, atol=2e-3)
    np.testing.assert_allclose(j[..., 4], d["cy"] - d["fy"] * y / z, atol=2e-3)
    np.testing.assert_allclose(j[..., 5], c["cx"] + c["fx"] * (x + c["baseline_m"]) / z, atol=2e-3)
    np.testing.assert_allclose(j[..., 6], c["cy"] - c["fy"] * y / z, atol=2e-3)
    # Kinect-like: 2.3-4 m away, joint orientations zero on leaf joints only
    assert 2.0 < z.mean() < 4.2
    q = j[..., 7:11]
    assert np.abs(q[:, 3]).sum() == 0 and (np.linalg.norm(q[:, 0], axis=-1) > 0.99).all()


def test_rerun_is_byte_identical_and_workers_do_not_matter(world: Path, tmp_path: Path) -> None:
    again = generate(tmp_path / "again", CFG.replace(num_workers=2))
    assert _hashes(again) == _hashes(world)
    other = generate(tmp_path / "seed1", CFG.replace(seed=1, actions=(1,), performers=(1,), cameras=(1,)))
    name = "nturgb+d_skeletons/S001C001P001R001A001.skeleton"
    assert _hashes(other)[name] != _hashes(world)[name]


def test_meta_file(world: Path) -> None:
    meta = json.loads((world / META_FILE).read_text())
    assert [c["action"] for c in meta["classes"]] == [1, 11]
    assert meta["classes"][0]["name"] == "drink water" and meta["classes"][1]["name"] == "reading"
    assert meta["classes"][0]["id"] == 0 and meta["classes"][1]["label"] == 1
    assert meta["sizes"] == {"depth": [53, 64], "ir": [53, 64], "rgb": [45, 80]}
    assert meta["fps"] == 30 and meta["seed"] == 0
    assert SynthConfig.from_dict(meta["config"]).to_dict() == CFG.to_dict()
    assert "num_workers" not in meta["config"]
    counts = meta["counts"]
    assert counts["samples"] == 8 and counts["per_class"] == {"A001": 4, "A011": 4}
    assert counts["xsub"] == {"train": 4, "test": 4}
    assert counts["xview"] == {"train": 4, "test": 4}
    assert counts["frames"] == sum(read_skeleton(p).num_frames
                                   for p in (world / "nturgb+d_skeletons").glob("*.skeleton"))
    assert meta["complete"] is True and meta["performers"] == {"xsub_train": [1], "xsub_test": [3]}


def test_ghost_bodies_are_short_extra_tracks(world: Path) -> None:
    meta = json.loads((world / META_FILE).read_text())
    ghosts = 0
    for p in (world / "nturgb+d_skeletons").glob("*.skeleton"):
        seq = read_skeleton(p)
        if len(seq.track_ids) > 1:
            ghosts += 1
            present = seq.present(2)
            assert present[0].all() and 3 <= present[1].sum() <= 10
    assert ghosts == meta["counts"]["ghost_bodies"] > 0


def test_names_split_under_the_official_protocols(world: Path) -> None:
    from mmfusion.data.ntu import NTUTree, split_of

    names = NTUTree(world).names()
    assert len(names) == 8
    for n in names:
        sp = SampleSpec.parse(n)
        assert split_of(n, "xsub") == ("train" if sp.performer in XSUB_TRAIN_PERFORMERS else "test")
        assert split_of(n, "xview") == ("train" if sp.camera in (2, 3) else "test")
    default = SynthConfig().specs()
    assert len(default) == 12 * 8 * 3 * 2
    splits = [split_of(s.name, "xsub") for s in default]
    assert 0.5 < splits.count("train") / len(splits) < 0.75


def test_is_complete_and_regeneration(world: Path, tmp_path: Path) -> None:
    assert is_complete(world, CFG)
    assert not is_complete(world, CFG.replace(seed=3))
    assert not is_complete(tmp_path, CFG)
    stamp = (world / META_FILE).stat().st_mtime_ns
    generate(world, CFG)                                      # nothing to do
    assert (world / META_FILE).stat().st_mtime_ns == stamp
    # a smaller world written over a bigger one leaves no stale samples behind
    small = CFG.replace(actions=(1,), cameras=(1,), performers=(1,))
    root = generate(tmp_path / "w", CFG)
    generate(root, small)
    assert sorted(p.stem for p in (root / "nturgb+d_skeletons").iterdir()) == ["S001C001P001R001A001"]
    assert len(list((root / "nturgb+d_depth_masked").iterdir())) == 1


def test_refuses_a_foreign_ntu_tree(tmp_path: Path) -> None:
    (tmp_path / "nturgb+d_skeletons").mkdir()
    (tmp_path / "nturgb+d_skeletons" / "S001C001P001R001A001.skeleton").write_text("1\r\n0\r\n")
    with pytest.raises(ConfigError, match="not written by the synthetic generator"):
        generate(tmp_path, CFG)


@pytest.mark.parametrize("bad", [
    {"actions": (1, 999)}, {"actions": (5,)}, {"cameras": (4,)}, {"replications": (3,)}, {"performers": (0,)},
    {"frames": (20, 10)}, {"frames": (2, 4)}, {"depth_size": (8, 8)}, {"rgb_size": (90,)}, {"joint_noise": -1.0},
    {"joint_noise": 0.5}, {"inferred_rate": 1.5}, {"write": ("skeleton", "video")}, {"seed": -1},
    {"num_classes": 0}, {"num_samples": 0}, {"actions": (1, 1)}, {"num_workers": -2},
])
def test_bad_config_raises(bad: dict) -> None:
    with pytest.raises(ConfigError):
        SynthConfig.tiny(**bad)


def test_bad_config_from_dict_and_names() -> None:
    with pytest.raises(ConfigError, match="unknown SynthConfig field"):
        SynthConfig.from_dict({"colour": 3})
    with pytest.raises(ConfigError):
        SampleSpec.parse("S001C001P001R001A01")
    with pytest.raises(ConfigError):
        render_sample("S001C001P001R001A005", CFG)


def test_num_samples_and_num_classes() -> None:
    from mmfusion.data.synthetic import sample_specs

    specs = sample_specs(SynthConfig(num_samples=30))
    assert len(specs) == 30 and len({s.camera for s in specs}) == 3 and len({s.action for s in specs}) > 5
    assert SynthConfig(num_classes=4).class_actions == (1, 2, 10, 34)


def test_cli_and_overview(tmp_path: Path) -> None:
    from mmfusion.cli import main

    out = tmp_path / "cli"
    rc = main(["synth", str(out), "--actions", "10,34", "--performers", "2", "--cameras", "1", "--replications",
               "1", "--frames", "12", "12", "--depth-size", "53", "64", "--rgb-size", "45", "80", "--workers", "0",
               "--no-progress", "--overview"])
    assert rc == 0
    assert is_complete(out, SynthConfig(actions=(10, 34), performers=(2,), cameras=(1,), replications=(1,),
                                        frames=(12, 12), depth_size=(53, 64), rgb_size=(45, 80)))
    from PIL import Image

    with Image.open(out / "overview.png") as im:
        assert im.size[0] > 600 and im.size[1] > 600
    assert main(["synth", str(tmp_path / "bad"), "--actions", "999", "--no-progress"]) == 2
