"""NTU names, official protocols and split sizes, point clouds."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from mmfusion.data.ntu import (
    NTU_ACTIONS,
    NTUSampleName,
    NTUTree,
    action_name,
    load_missing_skeletons,
    read_sample_list,
    split_names,
    split_of,
)
from mmfusion.data.pointcloud import (
    KINECT_V2_DEPTH,
    CameraIntrinsics,
    depth_clip_to_points,
    depth_to_points,
    farthest_point_sampling,
    sample_points,
)
from mmfusion.errors import ConfigError, DataFormatError


def test_name_parse_round_trip() -> None:
    n = NTUSampleName.parse("S001C002P003R002A013")
    assert (n.setup, n.camera, n.performer, n.replication, n.action) == (1, 2, 3, 2, 13)
    assert str(n) == "S001C002P003R002A013"
    assert NTUSampleName.parse("S018C001P045R001A061_rgb.avi").action == 61
    for bad in ("S001C002P003R002", "X001C002P003R002A013", "S001C004P003R002A013", "S001C001P001R003A001",
                "S001C002P003R002A0134", "s001C002P003R002A013", "S001C002P003R002A000"):
        with pytest.raises(ConfigError):
            NTUSampleName.parse(bad)


def test_protocol_rules() -> None:
    assert split_of("S001C001P001R001A001", "xsub") == "train"
    assert split_of("S001C001P003R001A001", "xsub") == "test"
    assert split_of("S001C001P001R001A001", "xview") == "test"
    assert split_of("S001C002P003R001A001", "xview") == "train"
    assert split_of("S018C001P045R001A061", "xsub") is None
    assert split_of("S018C001P045R001A061", "xsub120") == "train"
    assert split_of("S018C001P045R001A061", "xset") == "train"
    assert split_of("S017C001P045R001A001", "xset") == "test"
    with pytest.raises(ConfigError):
        split_of("S001C001P001R001A001", "cross-subject")


@pytest.mark.real
def test_official_split_sizes(real_samples: Path) -> None:
    ntu = real_samples / "ntu"
    with gzip.open(ntu / "ntu120_samples_and_frames.txt.gz", "rt") as f:
        first = f.readline()
    assert first.split()[0] == "S001C001P001R001A001" and first.split()[1].isdigit()   # "name frames"
    samples = read_sample_list(ntu / "ntu120_samples_and_frames.txt.gz")
    names = [n for n, _ in samples]
    frames = np.array([t for _, t in samples])
    assert len(names) == len(set(names)) == 114_480
    assert frames.min() == 15 and frames.max() == 300 and 71 < frames.mean() < 72
    parsed = [NTUSampleName.parse(n) for n in names]
    assert sum(p.in_ntu60 for p in parsed) == 56_880
    assert all((p.setup <= 17) == (p.action <= 60) for p in parsed)
    miss60 = load_missing_skeletons(ntu / "NTU_RGBD_samples_with_missing_skeletons.txt")
    miss120 = load_missing_skeletons(ntu / "NTU_RGBD120_samples_with_missing_skeletons.txt")
    assert (len(miss60), len(miss120)) == (302, 535) and miss60 <= miss120
    sizes = {p: tuple(map(len, split_names(names, p, miss60 if p in ("xsub", "xview") else miss120)))
             for p in ("xsub", "xview", "xsub120", "xset")}
    assert sizes == {"xsub": (40_091, 16_487), "xview": (37_646, 18_932),
                     "xsub120": (63_026, 50_919), "xset": (54_468, 59_477)}


def test_tree_paths(tmp_path: Path) -> None:
    tree = NTUTree(tmp_path)
    assert tree.rgb("S001C001P001R001A001").name == "S001C001P001R001A001_rgb.avi"
    tree.skeleton("S001C001P001R001A001").parent.mkdir(parents=True)
    tree.skeleton("S001C001P001R001A001").write_text("0\r\n")
    tree.ir("S001C001P002R001A001").parent.mkdir(parents=True)
    tree.ir("S001C001P002R001A001").write_bytes(b"x")
    assert tree.names("skeleton") == ["S001C001P001R001A001"]
    assert tree.names() == ["S001C001P001R001A001", "S001C001P002R001A001"]


def test_depth_to_points_matches_formula_on_a_plane() -> None:
    intr = CameraIntrinsics(100.0, 110.0, 31.5, 23.5)
    depth = np.full((48, 64), 2000, np.uint16)
    depth[:5] = 0                                           # invalid rows
    for backend in ("open3d", "numpy"):
        pts = depth_to_points(depth, intr, backend=backend)
        assert pts.shape == (43 * 64, 3)
        v, u = np.nonzero(depth)
        expect = np.stack([(u - 31.5) * 2.0 / 100.0, -(v - 23.5) * 2.0 / 110.0, np.full(len(u), 2.0)], 1)
        np.testing.assert_allclose(pts, expect, atol=1e-5)


@pytest.mark.real
def test_real_frame_point_cloud(real_samples: Path) -> None:
    from mmfusion.data.formats import read_depth_png

    d = read_depth_png(real_samples / "ntu/nturgb+d_depth_masked/S001C001P001R001A058/MDepth-00000001.png")
    pts = depth_to_points(d, KINECT_V2_DEPTH)
    assert len(pts) == 10_234
    assert pts[:, 2].min() >= 3.3 and pts[:, 2].max() <= 4.2
    assert 1.5 < np.ptp(pts[:, 1]) < 1.8                      # people are ~1.65 m tall


def test_sampling() -> None:
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(500, 3)).astype(np.float32)
    s = sample_points(pts, 100, "random", rng)
    assert s.shape == (100, 3) and len(np.unique(s, axis=0)) == 100
    few = sample_points(pts[:30], 100, "random", rng)
    assert few.shape == (100, 3) and len(np.unique(few, axis=0)) == 30
    assert np.all(sample_points(pts[:0], 8) == 0)
    # FPS: greedy max-min property against a direct reference
    idx = farthest_point_sampling(pts, 10, start=3)
    assert idx[0] == 3 and len(set(idx.tolist())) == 10
    chosen = [3]
    for _ in range(9):
        d = np.min(((pts[:, None] - pts[chosen][None]) ** 2).sum(-1), axis=1)
        chosen.append(int(np.argmax(d)))
    assert idx.tolist() == chosen
    clip = depth_clip_to_points(np.full((3, 8, 8), 1000, np.uint16), 16, method="fps")
    assert clip.shape == (3, 16, 3)


def test_action_names_and_sample_list(tmp_path: Path) -> None:
    assert len(NTU_ACTIONS) == 120 and len(set(NTU_ACTIONS)) == 120
    assert action_name(1) == "drink water" and action_name(58) == "handshaking"
    assert action_name(60) == "walking apart from each other" and action_name(61) == "put on headphone"
    assert action_name(120) == "finger-guessing game (playing rock-paper-scissors)"
    with pytest.raises(ConfigError):
        action_name(121)
    lst = tmp_path / "l.txt"
    lst.write_text("S001C001P001R001A001 103\nS001C001P001R001A002 97\n")
    assert read_sample_list(lst) == [("S001C001P001R001A001", 103), ("S001C001P001R001A002", 97)]
    lst.write_text("S001C001P001R001A001 103\nS001C001P001R001A002\n")
    with pytest.raises(DataFormatError, match="l.txt:2"):
        read_sample_list(lst)


def test_missing_list_format(tmp_path: Path) -> None:
    p = tmp_path / "missing.txt"
    p.write_text("a header\nanother header line\n\nS001C002P005R002A008\nS001C002P006R001A008\n")
    assert load_missing_skeletons(p) == {"S001C002P005R002A008", "S001C002P006R001A008"}
    train, test = split_names(["S001C002P005R002A008", "S001C001P001R001A001", "S001C001P003R001A001"], "xsub",
                              missing=load_missing_skeletons(p))
    assert (train, test) == (["S001C001P001R001A001"], ["S001C001P003R001A001"])


@pytest.mark.real
def test_official_missing_lists_start(real_samples: Path) -> None:
    miss = load_missing_skeletons(real_samples / "ntu" / "NTU_RGBD_samples_with_missing_skeletons.txt")
    assert {"S001C002P005R002A008", "S001C002P006R001A008", "S001C003P002R001A055"} <= miss


def test_numpy_and_open3d_backends_agree() -> None:
    rng = np.random.default_rng(0)
    depth = rng.integers(0, 4500, (42, 51)).astype(np.uint16)
    depth[rng.random(depth.shape) < 0.4] = 0
    a = depth_to_points(depth, KINECT_V2_DEPTH, backend="open3d")
    b = depth_to_points(depth, KINECT_V2_DEPTH, backend="numpy")
    assert a.shape == b.shape == (int((depth > 0).sum()), 3) and a.dtype == b.dtype == np.float32
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert len(depth_to_points(np.zeros((4, 4), np.uint16))) == 0


def test_fps_is_deterministic_and_spread() -> None:
    rng = np.random.default_rng(1)
    pts = rng.uniform(-1, 1, (2000, 3)).astype(np.float32)
    a = sample_points(pts, 64, "fps", np.random.default_rng(5))
    b = sample_points(pts, 64, "fps", np.random.default_rng(5))
    assert np.array_equal(a, b)
    r = sample_points(pts, 64, "random", np.random.default_rng(5))
    def min_gap(x: np.ndarray) -> float:
        d = np.linalg.norm(x[:, None] - x[None], axis=-1)
        return float(d[~np.eye(len(x), dtype=bool)].min())
    assert min_gap(a) > 2 * min_gap(r)                      # FPS spreads the points out
    assert np.array_equal(sample_points(pts[:5], 12, "fps", rng)[:5], pts[:5])
    with pytest.raises(ConfigError):
        sample_points(pts, 8, "grid", rng)
