"""Every NTU recipe runs one training step end to end on a tiny synthetic NTU tree.

The tree (the ``tiny_ntu`` fixture of conftest.py) is passed as ``--data-root``, so the
recipes read it as a raw NTU tree, like real data. Each run must leave loadable weights, a
model config, finite metrics and a printed results table.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
sys.path.insert(0, str(RECIPES))

import deform3d_ntu  # noqa: E402
import epam_ntu  # noqa: E402
import mmixer_ntu  # noqa: E402
import points_ntu  # noqa: E402
import skeleton_ntu  # noqa: E402

import mmfusion  # noqa: E402
from mmfusion.errors import ConfigError  # noqa: E402

#: one optimizer step on a 2-sample batch; everything else as small as the models allow
STEP = ["--train.max-steps", "1", "--train.global-batch-size", "2", "--train.epochs", "1"]


def _args(root: Path, out: Path, *extra: str) -> list[str]:
    return ["--data-root", str(root), "--output-dir", str(out), *STEP, *extra]


def _check_run(run_dir: Path, model_name: str) -> dict:
    """Weights + config.json rebuild the trained model; metrics.json holds finite accuracies."""
    weights = run_dir / "model.safetensors"
    assert weights.is_file() and (run_dir / "config.json").is_file()
    cfg = json.loads((run_dir / "config.json").read_text())
    assert cfg["model_name"] == model_name and cfg["model_kwargs"]["num_classes"] == 2
    model = mmfusion.create_model(model_name, checkpoint=run_dir)
    saved = load_file(str(weights))
    for k, v in model.state_dict().items():
        assert torch.equal(v, saved[k]), k
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["step"] == 1 and metrics["num_samples"] == 2
    for key in ("top1", "top5", "mean_class", "loss"):
        assert math.isfinite(metrics[key]), key
    assert 0.0 <= metrics["top1"] <= metrics["top5"] <= 1.0
    return metrics


def _check_table(text: str, labels: list[str]) -> None:
    lines = [ln for ln in text.splitlines() if ln.startswith("| ")]
    assert lines[0].split("|")[1].strip() == "model" and "top1" in lines[0]
    body = lines[1:]
    assert [ln.split("|")[1].strip() for ln in body] == labels
    for ln in body:
        top1 = float(ln.split("|")[3])
        assert math.isfinite(top1) and 0.0 <= top1 <= 100.0


def _check_rows(rows: list[dict], run_dirs: list[Path]) -> None:
    assert len(rows) == len(run_dirs)
    for row, run in zip(rows, run_dirs):
        metrics = json.loads((run / "metrics.json").read_text())
        assert row["top1"] == pytest.approx(metrics["top1"]) and row["minutes"] > 0


def test_mmixer_recipe(tiny_ntu: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                       capsys: pytest.CaptureFixture[str]) -> None:
    argv = _args(tiny_ntu, tmp_path, "--image-size", "32", "--clip-len", "2", "--no-baselines")
    monkeypatch.setattr(sys, "argv", ["mmixer_ntu.py", *argv])
    mmixer_ntu.main()
    _check_run(tmp_path / "fusion", "mmixer_tiny")
    _check_table(capsys.readouterr().out, ["mmixer_tiny (fusion)"])


def test_epam_recipe_with_baselines(tiny_ntu: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = epam_ntu.main(_args(tiny_ntu, tmp_path, "--image-size", "32", "--clip-len", "2", "--pose-clip-len", "4",
                               "--baselines"))
    runs = [tmp_path / n for n in ("single_rgb", "single_pose", "fusion")]
    for run, name in zip(runs, ("xshiftnet_rgb_tiny", "xshiftnet_pose_tiny", "epam_net_tiny")):
        _check_run(run, name)
    _check_rows(rows, runs)
    _check_table(capsys.readouterr().out, [r["model"] for r in rows])
    # the heatmaps must line up with the RGB stream's last feature map
    cfg = json.loads((tmp_path / "fusion" / "train_config.json").read_text())
    assert cfg["image_size"] == 32 and cfg["pose_clip_len"] == 4
    with pytest.raises(ConfigError, match="heatmap_size"):
        epam_ntu.main(_args(tiny_ntu, tmp_path / "bad", "--image-size", "32", "--heatmap-size", "16"))


def test_deform3d_recipe(tiny_ntu: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = deform3d_ntu.main(_args(tiny_ntu, tmp_path, "--clip-len", "4", "--pose-clip-len", "4"))
    _check_run(tmp_path / "fusion", "deform3d_tiny")
    _check_rows(rows, [tmp_path / "fusion"])
    _check_table(capsys.readouterr().out, ["deform3d_tiny (fusion)"])


def test_skeleton_recipe_several_models(tiny_ntu: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = skeleton_ntu.main(_args(tiny_ntu, tmp_path, "--window", "8", "--model", "stgcn_tiny", "hypergcn_tiny",
                                   "mamp_tiny"))
    names = ["stgcn_tiny", "hypergcn_tiny", "mamp_transformer_tiny"]
    for name in names:
        _check_run(tmp_path / name, name)
    _check_rows(rows, [tmp_path / n for n in names])
    _check_table(capsys.readouterr().out, names)


def test_points_recipe(tiny_ntu: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = points_ntu.main(_args(tiny_ntu, tmp_path, "--clip-len", "2", "--num-points", "64"))
    run = tmp_path / "point_sequence_encoder_tiny"
    _check_run(run, "point_sequence_encoder_tiny")
    _check_rows(rows, [run])
    _check_table(capsys.readouterr().out, ["point_sequence_encoder_tiny"])
