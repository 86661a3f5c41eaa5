"""recipes/finetec_ntu.py end to end on a small skeleton world: the completion stage, FineTec
(by default without its decomposition stage) and the baseline, their corruption tables and the summary."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "recipes"))

import finetec_ntu  # noqa: E402

LEVELS = ["clean", "minor", "moderate", "severe"]


def _run(world: Path, out: Path, *extra: str) -> dict:
    return finetec_ntu.main(["--data-root", str(world), "--output-dir", str(out), "--subset-classes", "3",
                             "--max-train-per-class", "2", "--max-test-per-class", "2", "--window", "8",
                             "--seeds", "0", "--completion-epochs", "1", "--train.epochs", "1",
                             "--train.global-batch-size", "4", "--train.threads", "1", *extra])


def test_default_is_finetec_without_decomposition_and_the_baseline(small_skeleton_world: Path,
                                                                   tmp_path: Path) -> None:
    out = tmp_path / "runs"
    summary = _run(small_skeleton_world, out)
    assert list(summary) == ["finetec_tiny", "baseline"]
    for name in summary:
        assert list(summary[name]) == LEVELS
        table = json.loads((out / "seed0" / name / "corruption.json").read_text())
        assert list(table["severe"]) == ["random", "patterned", "prefix", "suffix", "middle", "mean"]
    kwargs = json.loads((out / "seed0" / "finetec_tiny" / "config.json").read_text())["model_kwargs"]
    assert kwargs["decomposition"] is False and "completion" not in kwargs  # completion + acceleration on
    assert (out / "seed0" / "completion" / "model.safetensors").exists()
    assert json.loads((out / "summary.json").read_text()) == summary


def test_full_pipeline_without_baseline(small_skeleton_world: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    summary = _run(small_skeleton_world, out, "--ablate", "--no-baseline", "--train.max-steps", "1")
    assert list(summary) == ["finetec_tiny"]
    kwargs = json.loads((out / "seed0" / "finetec_tiny" / "config.json").read_text())["model_kwargs"]
    assert not {"completion", "decomposition", "acceleration"} & set(kwargs)
    assert not (out / "seed0" / "baseline").exists()


def test_ablating_the_completion_skips_its_stage(small_skeleton_world: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    _run(small_skeleton_world, out, "--ablate", "completion", "--no-baseline", "--train.max-steps", "1")
    assert not (out / "seed0" / "completion").exists()
    kwargs = json.loads((out / "seed0" / "finetec_tiny" / "config.json").read_text())["model_kwargs"]
    assert kwargs["completion"] is False
