"""The inline-loop recipe: it trains, writes a loadable run, and resumes bit for bit."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
sys.path.insert(0, str(RECIPES))

import train_inline  # noqa: E402

import mmfusion  # noqa: E402

#: 2 training clips, one per optimizer step: 2 steps per epoch, 6 in all
BASE = ["--clip-len", "8", "--train.global-batch-size", "1", "--train.epochs", "3", "--train.lr", "0.01"]


def _run(root: Path, out: Path, *extra: str) -> dict:
    """One run of the recipe, as a script would make it (its own Accelerator state)."""
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=False)
    GradientState._reset_state()
    return train_inline.main(["--data-root", str(root), "--output-dir", str(out), *BASE, *extra])


@pytest.mark.slow
def test_interrupted_and_resumed_run_equals_an_uninterrupted_one(tiny_ntu: Path, tmp_path: Path) -> None:
    whole = _run(tiny_ntu, tmp_path / "whole")
    assert whole["step"] == 6 and whole["num_samples"] == 2
    # stop inside the second epoch (step 3 of 6), then continue in a new "process"
    part = _run(tiny_ntu, tmp_path / "cut", "--train.max-steps", "3")
    assert part["step"] == 3
    position = json.loads((tmp_path / "cut" / "checkpoint" / "position.json").read_text())
    assert position == {"epoch": 1, "batch": 1, "step": 3}
    resumed = _run(tiny_ntu, tmp_path / "cut", "--train.resume", "auto")
    assert resumed["step"] == 6
    a = load_file(str(tmp_path / "whole" / "model.safetensors"))
    b = load_file(str(tmp_path / "cut" / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert resumed["confusion"] == whole["confusion"] and resumed["loss"] == whole["loss"]
    # the run folder rebuilds the model
    model = mmfusion.create_model("stgcn_tiny", checkpoint=tmp_path / "whole")
    for k, v in model.state_dict().items():
        assert torch.equal(v, a[k]), k


def test_a_resumed_run_differs_from_a_fresh_one_without_resume(tiny_ntu: Path, tmp_path: Path) -> None:
    """Without --train.resume the old checkpoint is dropped: the test above can fail."""
    _run(tiny_ntu, tmp_path / "r", "--train.max-steps", "3")
    again = _run(tiny_ntu, tmp_path / "r", "--train.max-steps", "1")
    assert again["step"] == 1
    assert json.loads((tmp_path / "r" / "checkpoint" / "position.json").read_text())["step"] == 1
