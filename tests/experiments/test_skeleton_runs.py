"""Skeleton runs end to end on a tiny world: recipe smoke, ``mmfusion test``, the streams table,
intermediate checkpoints of long runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from mmfusion.cli import main as cli_main
from mmfusion.engine.checkpoint import list_checkpoints
from mmfusion.errors import ConfigError
from mmfusion.experiments.scores import load_scores
from mmfusion.experiments.skeleton import SkeletonData, skeleton_datasets
from mmfusion.experiments.skeleton_runs import SkeletonRecipe, long_run_defaults, with_preset

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
STEP = ["--train.max-steps", "2", "--train.global-batch-size", "4", "--train.epochs", "1", "--train.threads", "1"]


def _recipe(name: str):
    sys.path.insert(0, str(RECIPES))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(RECIPES))


def test_datasets_follow_the_protocol_and_subset(tiny_world: Path) -> None:
    train, test = skeleton_datasets(SkeletonData(data_root=str(tiny_world), family="pyskl", window=8, clips=3))
    assert len(train) == 12 and len(test) == 6 and train.num_classes == 3
    assert all("P001" in n for n in (train[i]["name"] for i in range(len(train))))
    assert tuple(test[0]["skeleton"].shape) == (3, 3, 8, 25, 2) and tuple(train[0]["skeleton"].shape) == (3, 8, 25, 2)
    small, _ = skeleton_datasets(SkeletonData(data_root=str(tiny_world), subset_classes=2, max_train_per_class=1))
    assert len(small) == 2 and small.num_classes == 2
    with pytest.raises(ConfigError, match="pyskl"):
        SkeletonData(family="ctrgcn", clips=10)


def test_recipe_then_mmfusion_test(tiny_world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _recipe("skeleton_ntu").main(["--data-root", str(tiny_world), "--output-dir", str(tmp_path),
                                         "--model", "ctrgcn_tiny", "--family", "pyskl", "--clips", "2",
                                         "--window", "8", *STEP])
    run = tmp_path / "ctrgcn_tiny"
    assert rows[0]["model"] == "ctrgcn_tiny" and (run / "model_best.safetensors").is_file()
    trained = json.loads((run / "metrics.json").read_text())
    scores = tmp_path / "s.npz"
    assert cli_main(["test", str(run), "--save-scores", str(scores), "--weights", "last"]) == 0
    out = capsys.readouterr().out
    assert "per-class top-1" in out and (run / "test_confusion_matrix.png").is_file()
    tested = json.loads((run / "test_metrics.json").read_text())
    assert tested["top1"] == pytest.approx(trained["top1"]) and tested["loss"] == pytest.approx(trained["loss"])
    saved = load_scores(scores)  # 2-clip mean probabilities, one row per test sample, named
    assert saved.kind == "prob" and saved.scores.shape == (6, 3) and len(set(saved.names)) == 6
    np.testing.assert_allclose(saved.scores.sum(1), 1.0, rtol=1e-5)
    assert cli_main(["test", str(run), "--clips", "1", "--out", str(tmp_path / "one")]) == 0
    assert (tmp_path / "one" / "test_metrics.json").is_file()
    assert cli_main(["test", str(tmp_path)]) == 2  # not a run folder: one line, exit 2
    # temporal corruption: the table's clean cell is the plain test, one cell equals the single-cell run
    table_dir, cell_dir = tmp_path / "corrupt", tmp_path / "cell"
    assert cli_main(["test", str(run), "--weights", "last", "--corrupt", "severe", "--out", str(table_dir)]) == 0
    table = json.loads((table_dir / "corruption.json").read_text())["table"]
    assert set(table) == {"clean", "severe"} and len(table["severe"]) == 6  # five patterns + mean
    assert table["clean"]["none"] == pytest.approx(tested["top1"])
    assert cli_main(["test", str(run), "--weights", "last", "--corrupt", "severe", "--pattern", "prefix",
                     "--out", str(cell_dir)]) == 0
    cell = json.loads((cell_dir / "test_metrics.json").read_text())
    assert cell["top1"] == pytest.approx(table["severe"]["prefix"])


def test_streams_recipe_fuses_psumnet_parts(tiny_world: Path, tmp_path: Path) -> None:
    rows = _recipe("skeleton_streams").main(["--data-root", str(tiny_world), "--output-dir", str(tmp_path),
                                             "--model", "psumnet_tiny", "--stream", "psumnet", "--window", "8",
                                             *STEP])
    labels = [r["model"] for r in rows]
    assert labels[:3] == ["body (1 clip)", "hand (1 clip)", "leg (1 clip)"]
    assert labels[3].startswith("fused body+hand+leg (psumnet_ntu60_xsub)")
    for part in ("body", "hand", "leg"):
        assert load_scores(tmp_path / "seed0" / f"psumnet_tiny_{part}" / "scores.npz").kind == "logit"
    table = json.loads((tmp_path / "table.json").read_text())
    assert table["weights"] == [2.0, 1.8, 0.7]


def test_presets_and_long_run_checkpoints(tiny_world: Path, tmp_path: Path) -> None:
    cfg = with_preset(["--preset", "ctrgcn_ntu60"], SkeletonRecipe())
    assert cfg.model == ("ctrgcn",) and cfg.window == 64 and cfg.train.milestones == (35, 55)
    assert cfg.train.lr == 0.1 and cfg.train.nesterov and cfg.train.weight_decay == 4e-4
    assert cfg.train.save_every == 5 and cfg.train.best_metric == "top1"
    assert long_run_defaults(SkeletonRecipe().train).save_every == 0  # short runs: final checkpoint only
    # a 30-epoch run killed by max_steps keeps its 5-epoch checkpoints and resumes from the last
    base = ["--data-root", str(tiny_world), "--output-dir", str(tmp_path), "--model", "psumnet_tiny", "--window",
            "8", "--train.epochs", "30", "--train.global-batch-size", "6", "--train.threads", "1",
            "--train.keep-last", "5"]
    recipe = _recipe("skeleton_ntu")
    recipe.main([*base, "--train.max-steps", "23"])  # 2 steps per epoch: dies inside epoch 12
    run = tmp_path / "psumnet_tiny"
    assert [p.name for p in list_checkpoints(run)] == ["step_00000010", "step_00000020", "step_00000023"]
    assert json.loads((run / "metrics.json").read_text())["step"] == 23
    rows = recipe.main([*base, "--train.max-steps", "26", "--train.resume", "auto"])
    assert json.loads((run / "metrics.json").read_text())["step"] == 26 and rows[0]["model"] == "psumnet_tiny"
    assert [p.name for p in list_checkpoints(run)][-2:] == ["step_00000023", "step_00000026"]


def test_ctrgcn_npz_source_keeps_the_files_split(tmp_path: Path) -> None:
    from mmfusion.data.formats.ctrgcn_npz import write_ctrgcn_npz

    rng = np.random.default_rng(0)

    def part(n: int) -> tuple[np.ndarray, np.ndarray]:
        return rng.standard_normal((n, 3, 12, 25, 2)).astype(np.float32), np.arange(n) % 2

    path = write_ctrgcn_npz(tmp_path / "NTU60_CS.npz", part(5), part(3), num_classes=2)
    train, test = skeleton_datasets(SkeletonData(data_root=str(path), window=8))
    assert (len(train), len(test)) == (5, 3) and train.num_classes == 2
    assert test[0]["name"] == "test_000000" and tuple(test[0]["skeleton"].shape) == (3, 8, 25, 2)
