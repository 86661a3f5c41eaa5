"""Shared fixtures of the skeleton-data tests: one small skeleton world per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmfusion.data.synthetic.skeleton_world import SkeletonWorldConfig, generate_skeleton_world


@pytest.fixture(scope="session")
def small_world_cfg() -> SkeletonWorldConfig:
    # noise probabilities raised so every kind shows up in 96 files
    return SkeletonWorldConfig(num_sequences=96, seed=3, workers=1, occlusion=0.5, flip=0.3, drop=0.3, ghost=0.3,
                               handover=0.3, conventions=("ntu25", "coco17"))


@pytest.fixture(scope="session")
def small_world(tmp_path_factory: pytest.TempPathFactory, small_world_cfg: SkeletonWorldConfig) -> Path:
    return generate_skeleton_world(tmp_path_factory.mktemp("skeleton_world"), small_world_cfg)
