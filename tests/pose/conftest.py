"""Shared helpers of the pose tests: an ITOP-format fixture rendered from the synthetic pose world,
and the UniPose recipes loaded by path."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from mmfusion.data.formats.itop import ITOP_INTRINSICS, ITOPLabels, itop_path, write_itop_labels, write_itop_point_cloud
from mmfusion.data.synthetic.pose_world import SynthPoseConfig, pose_subject, render_pose_clip

RECIPES = Path(__file__).resolve().parents[2] / "recipes"

# COCO-17 joints feeding each ITOP-15 joint (head = ears, neck = shoulders, torso = shoulders+hips)
_ITOP_FROM_COCO = [(3, 4), (5, 6), (6,), (5,), (8,), (7,), (10,), (9,), (5, 6, 11, 12), (12,), (11,), (14,), (13,),
                   (16,), (15,)]


def _render(size: tuple[int, int], fx: float, frames: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic person rendered with a given focal length: depth (T, H, W) m, COCO joints (T, 17, 3)."""
    hfov = float(np.degrees(2 * np.arctan(size[1] / 2 / fx)))
    cfg = SynthPoseConfig(image_size=size, hfov_deg=hfov, frames=frames, motions=("wave",))
    clip = render_pose_clip(cfg, pose_subject(seed), np.random.default_rng(seed))
    return clip.depth, clip.joints3d.astype(np.float64)


def write_itop_fixture(root: Path, split: str = "train", runs: tuple[tuple[int, int], ...] = ((1, 4), (2, 3))) -> None:
    """ITOP-format labels + point cloud for ``runs`` of (person, frames)."""
    ids, world, img, seg, clouds = [], [], [], [], []
    fx, fy, cx, cy = ITOP_INTRINSICS
    for person, n in runs:
        depth, coco = _render((240, 320), fx, n, seed=person)
        # the renderer's principal point is the image centre - 0.5; ITOP's is (160, 120): shift by resampling
        for f in range(n):
            ids.append(f"{person:02d}_{100 + f:05d}")
            j = np.stack([coco[f, list(s)].mean(0) for s in _ITOP_FROM_COCO])
            world.append(j)
            vv, uu = np.mgrid[0:240, 0:320].astype(np.float64)
            z = depth[f]
            pts = np.stack([(uu - 159.5) * z / fx, -(vv - 119.5) * z / fy, z], -1)
            clouds.append(pts.reshape(-1, 3))
            seg.append(np.where(z > 0, 0, -1).astype(np.int8))
            img.append(np.stack([159.5 + fx * j[:, 0] / j[:, 2], 119.5 - fy * j[:, 1] / j[:, 2]], -1))
    n = len(ids)
    labels = ITOPLabels(ids, np.ones(n, bool), np.ones((n, 15), bool), np.array(img, np.float32),
                        np.array(world, np.float32), np.array(seg))
    labels.is_valid[-1] = False  # one invalid frame: clips must skip it
    write_itop_labels(itop_path(root, split, "labels"), labels)
    write_itop_point_cloud(itop_path(root, split, "point_cloud"), ids, np.array(clouds, np.float32))


@pytest.fixture(name="write_itop_fixture", scope="session")
def _write_itop_fixture() -> Callable[..., None]:
    """``write_itop_fixture(root, split, runs)`` (see :func:`write_itop_fixture`)."""
    return write_itop_fixture


@pytest.fixture(name="render_person", scope="session")
def _render_person() -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """``render_person(size, fx, frames, seed=3)`` -> depth (T, H, W) m, COCO joints (T, 17, 3)."""
    return _render


@pytest.fixture(name="load_recipe", scope="session")
def _load_recipe() -> Callable[[str], ModuleType]:
    """``load_recipe("unipose_synth")``: a script of recipes/ imported by path (recipes are not a package)."""

    def load(name: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(f"recipe_{name}", RECIPES / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module

    return load
