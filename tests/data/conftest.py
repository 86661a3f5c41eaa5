"""Shared helpers of the data tests: a tiny NTU tree written with the package's own format writers.

Every frame t of a sample encodes t in every modality (depth value, RGB/IR grey level, skeleton
height), so tests can check that all modalities return the same frames. Tests get the helpers
through the ``ntu`` fixture (``ntu.write_sample(root, name)``, ``ntu.NAMES`` ...).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

T = 14  # > 11 frames, or the denoiser's length filter drops the bodies
DEPTH_HW = (53, 64)
RGB_HW = (36, 64)
TRAIN = ["S001C001P001R001A001", "S001C002P001R001A002"]  # performer 1: xsub train
TEST = ["S001C001P003R001A001", "S001C001P003R001A002"]   # performer 3: xsub test
NAMES = TRAIN + TEST
ALL = ("rgb", "depth", "ir", "skeleton", "points", "heatmap", "keypoints2d")


def body(t: int, shift: float = 0.0) -> np.ndarray:
    """(25, 3): a standing body 3 m away whose height encodes the frame index t."""
    j = np.zeros((25, 3), np.float32)
    j[:, 1] = np.linspace(-0.8, 0.8, 25) + 0.05 * t
    j[:, 0] = 0.1 * np.sin(np.arange(25)) + shift
    j[:, 2] = 3.0
    return j


def write_sample(root: Path, name: str, two_bodies: bool = False) -> None:
    from mmfusion.data.formats.depth import write_depth_png
    from mmfusion.data.formats.skeleton import SkeletonSequence, write_skeleton
    from mmfusion.data.formats.video import write_video

    m = 2 if two_bodies else 1
    xyz = np.zeros((m, T, 25, 3), np.float32)
    for t in range(T):
        xyz[0, t] = body(t)
        if two_bodies:
            xyz[1, t] = body(t, shift=0.8)
    color = np.zeros((m, T, 25, 2), np.float32)
    color[..., 0] = 32 + 40 * xyz[..., 0]  # inside the 64x36 RGB frame
    color[..., 1] = 18 - 10 * xyz[..., 1]
    depth_xy = np.zeros((m, T, 25, 2), np.float32)
    depth_xy[..., 0] = 32 + 50 * xyz[..., 0]
    depth_xy[..., 1] = 26 - 15 * xyz[..., 1]
    present = np.ones((m, T), bool)
    present[:, 0] = False  # frame 0 has no body: must stay at its index
    xyz[:, 0] = 0
    color[:, 0] = 0
    depth_xy[:, 0] = 0
    seq = SkeletonSequence.from_arrays(xyz, depth_xy, color, body_ids=[1000 + k for k in range(m)], present=present)
    skel_dir = root / "nturgb+d_skeletons"
    skel_dir.mkdir(parents=True, exist_ok=True)
    write_skeleton(skel_dir / f"{name}.skeleton", seq)

    ddir = root / "nturgb+d_depth_masked" / name
    ddir.mkdir(parents=True, exist_ok=True)
    for t in range(T):
        d = np.zeros(DEPTH_HW, np.uint16)
        d[10:45, 20:44] = 1000 + 100 * t  # person patch, depth = 1.0 + 0.1 t metres
        write_depth_png(ddir / f"MDepth-{t + 1:08d}.png", d)
    rgb = np.zeros((T, *RGB_HW, 3), np.uint8)
    ir = np.zeros((T, *DEPTH_HW), np.uint8)
    for t in range(T):
        rgb[t] = 15 * t + 10
        ir[t] = 15 * t + 10
    for sub, frames, suffix in (("nturgb+d_rgb", rgb, "rgb"), ("nturgb+d_ir", ir, "ir")):
        (root / sub).mkdir(parents=True, exist_ok=True)
        write_video(root / sub / f"{name}_{suffix}.avi", frames)


def write_meta(root: Path) -> None:
    meta = {"classes": [0, 1], "sizes": {"rgb": list(RGB_HW), "depth": list(DEPTH_HW), "ir": list(DEPTH_HW)},
            "intrinsics": {"depth": {"fx": 40.0, "fy": 40.0, "cx": 32.0, "cy": 26.5}}}
    (root / "mmfusion_synth.json").write_text(json.dumps(meta))


@pytest.fixture(scope="session")
def ntu() -> SimpleNamespace:
    """The tiny-tree helpers and constants of this module."""
    g = globals()
    return SimpleNamespace(**{k: g[k] for k in ("T", "DEPTH_HW", "RGB_HW", "TRAIN", "TEST", "NAMES", "ALL",
                                                "body", "write_sample", "write_meta")})


@pytest.fixture(scope="module")
def tree(ntu: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The four-sample tiny tree (sample 1 has two bodies), written once per test module."""
    root = tmp_path_factory.mktemp("ntu")
    for k, n in enumerate(ntu.NAMES):
        ntu.write_sample(root, n, two_bodies=k == 1)
    ntu.write_meta(root)
    return root
