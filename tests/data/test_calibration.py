"""Per-sample depth intrinsics: the fit on real NTU skeleton files of both camera groups, the
fallback to the defaults, and the fit cached in a packed store and used for its point clouds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mmfusion.data.calibration import fit_skeleton_intrinsics, sample_intrinsics, skeleton_correspondences
from mmfusion.data.camera import (
    KINECT_V2_DEPTH,
    KINECT_V2_DEPTH_GROUP2,
    CameraIntrinsics,
    fit_intrinsics,
    project,
    reprojection_error,
)
from mmfusion.data.formats.depth import write_depth_png
from mmfusion.data.formats.skeleton import SkeletonSequence, read_skeleton, write_skeleton
from mmfusion.data.packed import PackedStore
from mmfusion.data.reader import NTUTreeReader, base_points
from mmfusion.data.store import main, pack_ntu
from mmfusion.errors import ConfigError, DataFormatError

#: real files in ../shared/real_samples/ntu/nturgbd_skeletons and their camera group
GROUP1 = ["S001C001P001R001A001", "S001C001P001R001A011", "S002C001P003R001A003", "S004C002P003R001A017"]
GROUP2 = ["S001C003P008R002A058", "S003C001P015R001A034"]   # the second group does not follow the camera ID
T = 14


def _real(real_samples: Path, name: str) -> Path:
    p = real_samples / "ntu" / "nturgbd_skeletons" / f"{name}.skeleton"
    if not p.is_file():
        pytest.skip(f"{p} not in the real samples")
    return p


@pytest.mark.parametrize("name", GROUP1 + GROUP2)
def test_fit_on_real_files(real_samples: Path, name: str) -> None:
    seq = read_skeleton(_real(real_samples, name))
    fit = fit_skeleton_intrinsics(seq)
    xyz, uv = skeleton_correspondences(seq)
    assert fit.source == "fit" and fit.points == len(xyz) > 1000
    assert fit.rms_px < 0.5 and fit.max_px < 0.5                         # measured: 0.05-0.14 RMS, <= 0.41 max
    default_err = reprojection_error(xyz, uv, KINECT_V2_DEPTH).mean()
    group2_err = reprojection_error(xyz, uv, KINECT_V2_DEPTH_GROUP2).mean()
    if name in GROUP2:
        assert default_err > 3.0 and group2_err < 0.5                      # measured 6.3 px (issue 16)
        assert fit.intrinsics.cx == pytest.approx(262.5, abs=0.3)
    else:
        assert default_err < 0.5 and group2_err > 3.0
        assert fit.intrinsics.cx == pytest.approx(256.4, abs=0.3)
    assert fit.intrinsics.fx == pytest.approx(366.3, rel=0.01) and fit.intrinsics.fy == pytest.approx(366.3, rel=0.01)


def _sequence(intr: CameraIntrinsics, t: int = T, noise_px: float = 0.0) -> SkeletonSequence:
    """A person walking across the view 2.5-3.5 m away, depth pixels from ``intr`` (+ noise)."""
    rng = np.random.default_rng(0)
    xyz = np.zeros((1, t, 25, 3))
    xyz[0, :, :, 0] = np.linspace(-0.8, 0.8, t)[:, None] + 0.2 * np.sin(np.arange(25))
    xyz[0, :, :, 1] = np.linspace(-0.9, 0.8, 25)[None]
    xyz[0, :, :, 2] = np.linspace(2.5, 3.5, t)[:, None] + 0.05 * np.cos(np.arange(25))
    uv = project(xyz, intr) + noise_px * rng.standard_normal((1, t, 25, 2))
    return SkeletonSequence.from_arrays(xyz, depth_xy=uv, color_xy=uv * 3.75)


def test_fit_recovers_the_camera_and_falls_back(tmp_path: Path) -> None:
    path = write_skeleton(tmp_path / "S001C001P001R001A001.skeleton", _sequence(KINECT_V2_DEPTH_GROUP2))
    fit = sample_intrinsics(path)
    assert fit.source == "fit" and fit.rms_px < 0.01                      # the file's 7 digits
    np.testing.assert_allclose(fit.intrinsics.as_tuple(), KINECT_V2_DEPTH_GROUP2.as_tuple(), atol=0.02)
    # absent, empty and broken files, and pixels that do not follow a pinhole camera: the defaults + why
    empty = SkeletonSequence.from_arrays(np.zeros((1, T, 25, 3)))
    noisy = _sequence(KINECT_V2_DEPTH_GROUP2, noise_px=5.0)
    (tmp_path / "bad.skeleton").write_text("3\r\n1\r\nnot a body\r\n")
    for src, why in ((tmp_path / "none.skeleton", "no skeleton file"), (None, "no skeleton file"),
                     (empty, "correspondences"), (noisy, "px RMS"), (tmp_path / "bad.skeleton", "bad.skeleton")):
        got = sample_intrinsics(src)
        assert got.source == "default" and got.intrinsics == KINECT_V2_DEPTH and why in got.reason, (src, got)
    with pytest.raises(ConfigError, match="px RMS"):
        fit_skeleton_intrinsics(noisy)
    with pytest.raises(ConfigError, match="degenerate"):
        fit_intrinsics(np.tile([[0.1, 0.2, 3.0]], (10, 1)), np.zeros((10, 2)))


def _tree(root: Path, with_skeleton: dict[str, CameraIntrinsics | None]) -> Path:
    """A real-NTU-style tree (no synthetic meta): skeleton files whose depth pixels follow the given
    camera, and 512 x 424 masked depth frames of a flat person patch."""
    for name, intr in with_skeleton.items():
        if intr is not None:
            write_skeleton(root / "nturgb+d_skeletons" / f"{name}.skeleton", _sequence(intr))
        folder = root / "nturgb+d_depth_masked" / name
        folder.mkdir(parents=True)
        for t in range(3):
            d = np.zeros((424, 512), np.uint16)
            d[100:300, 200:320] = 2500 + 100 * t
            write_depth_png(folder / f"MDepth-{t + 1:08d}.png", d)
    return root


def test_store_caches_the_fit_and_uses_it_for_points(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fitted, plain = "S001C003P008R002A058", "S001C001P001R001A001"
    root = _tree(tmp_path / "ntu", {fitted: KINECT_V2_DEPTH_GROUP2, plain: None})
    out = tmp_path / "store"
    assert main([str(root), str(out), "--modalities", "skeleton", "points", "--num-points", "32",
                 "--no-progress"]) == 0
    assert "depth intrinsics: 1 fitted on their skeleton files, 1 Kinect v2 defaults" in capsys.readouterr().out
    store, raw = PackedStore(out), NTUTreeReader(root, base_points=32)
    entries = {e["name"]: e for e in json.loads((out / "index.json").read_text())["samples"]}
    assert entries[fitted]["intrinsics"]["source"] == "fit"
    assert entries[plain]["intrinsics"] == {"source": "default", "why": "no skeleton file"}
    fit = store.depth_intrinsics(fitted)
    assert fit.source == "fit" and fit.intrinsics == raw.intrinsics(fitted)   # the raw tree fits the same camera
    np.testing.assert_allclose(fit.intrinsics.as_tuple(), KINECT_V2_DEPTH_GROUP2.as_tuple(), atol=0.02)
    assert store.intrinsics(plain) == KINECT_V2_DEPTH and store.depth_intrinsics(plain).reason == "no skeleton file"
    # the packed points are back-projected with the fitted camera, as the raw tree's
    from mmfusion.data.formats.depth import read_depth_folder

    depth = read_depth_folder(root / "nturgb+d_depth_masked" / fitted)
    pts = store.load_points(fitted, [0, 1, 2])
    np.testing.assert_array_equal(pts, base_points(depth, fitted, range(3), fit.intrinsics, 32))
    np.testing.assert_array_equal(pts, raw.load_points(fitted, [0, 1, 2]))
    default_pts = base_points(depth, fitted, range(3), KINECT_V2_DEPTH, 32)
    assert np.abs(pts - default_pts)[..., 0].max() > 0.03                    # ~4 cm sideways at 2.5 m


def test_store_fits_real_files_of_both_groups(real_samples: Path, tmp_path: Path) -> None:
    root = tmp_path / "ntu"
    (root / "nturgb+d_skeletons").mkdir(parents=True)
    names = GROUP1[:1] + GROUP2
    for name in names:
        (root / "nturgb+d_skeletons" / f"{name}.skeleton").symlink_to(_real(real_samples, name))
    store = PackedStore(pack_ntu(root, tmp_path / "store", modalities=("skeleton",), progress=False))
    for name in names:
        fit = store.depth_intrinsics(name)
        assert fit.source == "fit" and fit.rms_px < 0.5
        assert fit.intrinsics.cx == pytest.approx(262.5 if name in GROUP2 else 256.4, abs=0.3)


def test_index_intrinsics_are_validated(tmp_path: Path) -> None:
    root = _tree(tmp_path / "ntu", {"S001C001P001R001A001": KINECT_V2_DEPTH})
    out = pack_ntu(root, tmp_path / "store", modalities=("skeleton",), progress=False)
    index = json.loads((out / "index.json").read_text())
    index["samples"][0]["intrinsics"]["fx"] = -1.0
    (out / "index.json").write_text(json.dumps(index))
    with pytest.raises(DataFormatError, match="intrinsics"):
        PackedStore(out)
