"""Fixtures of the recipe tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmfusion.data.synthetic import SynthConfig, generate


@pytest.fixture(scope="session")
def tiny_ntu(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny raw NTU tree: 2 classes x performers 1 and 3 x camera 1, i.e. 2 cross-subject
    training and 2 test samples of 12-16 frames, generated once per session."""
    root = tmp_path_factory.mktemp("recipes") / "ntu"
    generate(root, SynthConfig.tiny())  # performers 1 (xsub train) and 3 (xsub test)
    return root
