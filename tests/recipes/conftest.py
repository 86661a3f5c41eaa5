"""Fixtures of the recipe tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmfusion.data.synthetic import SynthConfig, generate
from mmfusion.data.synthetic.skeleton_world import SkeletonWorldConfig, generate_skeleton_world


@pytest.fixture(scope="session")
def tiny_ntu(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny raw NTU tree: 2 classes x performers 1 and 3 x camera 1, i.e. 2 cross-subject
    training and 2 test samples of 12-16 frames, generated once per session."""
    root = tmp_path_factory.mktemp("recipes") / "ntu"
    generate(root, SynthConfig.tiny())  # performers 1 (xsub train) and 3 (xsub test)
    return root


@pytest.fixture(scope="session")
def small_skeleton_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 240-sequence skeleton world (60 classes, every convention packed), generated once per session."""
    return generate_skeleton_world(tmp_path_factory.mktemp("skeleton_world"),
                                   SkeletonWorldConfig(num_sequences=240, workers=1, seed=5))
