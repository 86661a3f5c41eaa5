"""recipes/pretrain_skeleton.py and recipes/evaluate_skeleton.py end to end on a tiny skeleton world."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
sys.path.insert(0, str(RECIPES))

import evaluate_skeleton  # noqa: E402
import pretrain_skeleton  # noqa: E402

from mmfusion.data.skeleton.conventions import derive_conventions  # noqa: E402
from mmfusion.data.synthetic.skeleton_world import SkeletonWorldConfig, generate_skeleton_world  # noqa: E402
from mmfusion.errors import ConfigError  # noqa: E402


@pytest.fixture(scope="module")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ssl") / "world"
    return generate_skeleton_world(root, SkeletonWorldConfig(num_sequences=360, workers=1), write_files=False)


@pytest.mark.slow
def test_pretrain_then_protocols(tiny_world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "mamp"
    common = ["--cache-dir", str(tiny_world)]
    pretrain_skeleton.main(["--method", "mamp", *common, "--output-dir", str(run), "--max-steps", "2",
                            "--global-batch-size", "8", "--threads", "1", "--cpu"])
    assert (run / "encoder.safetensors").is_file() and (run / "stage_1_mamp" / "stage.json").is_file()
    out = tmp_path / "eval"
    ev = [*common, "--output-dir", str(out), "--train.threads", "1"]
    linear = evaluate_skeleton.main(["--protocol", "linear", "--run", str(run), "--probe-epochs", "2", *ev])
    knn = evaluate_skeleton.main(["--protocol", "knn", "--run", str(run), "--ks", "1", "3", *ev])
    semi = evaluate_skeleton.main(["--protocol", "semi", "--probe", "--fraction", "0.5", "--probe-epochs", "2",
                                   "--seeds", "0", "1", *ev])  # random-weight baseline
    embed = evaluate_skeleton.main(["--protocol", "embed", "--run", str(run), *ev])
    assert 0 <= linear[0].metrics["top1"] <= 1 and set(knn[0].metrics) == {"top1@k1", "top1@k3"}
    assert len(semi) == 2 and semi[0].signature["init"] == "random (seed 0)"
    assert Path(embed[0].signature["plot"]).is_file()
    printed = capsys.readouterr().out
    assert "[linear] encoder=mamp_transformer_tiny" in printed and "lr=0.1" in printed
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["protocol"] for r in rows][:2] == ["linear", "knn"]
    ft = evaluate_skeleton.main(["--protocol", "finetune", "--run", str(run), "--layer-decay", "0.8",
                                 "--train.max-steps", "1", "--train.epochs", "1", "--train.global-batch-size", "8",
                                 *ev])
    assert ft[0].signature["layer_decay"] == 0.8 and 0 <= ft[0].metrics["top1"] <= 1


def test_msclr_pretrain_then_fused_protocols(multi_layout_world: Path, tmp_path: Path) -> None:
    """MS-CLR through both recipes: batches of every convention, per-convention features fused."""
    run, out = tmp_path / "msclr", tmp_path / "eval"
    layouts = ["ntu25", "smpl24", "h36m17", "coco17"]  # the cpu preset's, all 3-D
    data = tmp_path / "data3d"  # real packed data's way to them: data_tools/derive_conventions.py
    derive_conventions(multi_layout_world, data, layouts[1:])
    common = ["--cache-dir", str(data)]
    pretrain_skeleton.main(["--method", "msclr", *common, "--output-dir", str(run), "--max-steps", "1",
                            "--global-batch-size", "4", "--threads", "1", "--cpu", "--objective", "temperature=0.3"])
    card = json.loads((run / "config.json").read_text())
    assert card["model_name"] == "msclr_stgcn_tiny" and card["objective"] == "msclr"
    assert card["objective_kwargs"]["temperature"] == 0.3  # --objective reaches the builder and the card
    ev = [*common, "--method", "msclr", "--output-dir", str(out), "--train.threads", "1", "--bn-refresh", "6"]
    linear = evaluate_skeleton.main(["--protocol", "linear", "--run", str(run), "--probe-epochs", "2", *ev])
    knn = evaluate_skeleton.main(["--protocol", "knn", "--run", str(run), "--ks", "1", "3", *ev])
    semi = evaluate_skeleton.main(["--protocol", "semi", "--probe", "--fraction", "0.5", "--probe-epochs", "2",
                                   *ev])  # random-weight baseline
    assert linear[0].signature["layouts"] == layouts and linear[0].signature["dim"] == 32
    assert set(linear[0].metrics) == {"top1", "top5", *(f"top1_{n}" for n in layouts)}
    assert set(knn[0].metrics) == {f"top1@k{k}{s}" for k in (1, 3) for s in ("", *(f"_{n}" for n in layouts))}
    assert semi[0].signature["init"] == "random (seed 0)" and semi[0].signature["train"] == 3
    assert all(0 <= v <= 1 for r in (*linear, *knn, *semi) for v in r.metrics.values())
    features = sorted(p.name for p in (out / "features").iterdir())
    assert len(features) == 2 and features[1].startswith("run_msclr")  # run and random baseline cached apart
    # --random-init: the run's encoder card at its seeded initialisation; this card is the preset's, so it
    # must give the very features of the preset's random baseline (and not the run's)
    like = evaluate_skeleton.main(["--protocol", "knn", "--run", str(run), "--random-init", "--ks", "1", *ev])
    assert like[0].signature["init"] == f"random (seed 0) like {run}"
    with pytest.raises(ConfigError, match="--random-init needs --run"):
        evaluate_skeleton.main(["--protocol", "knn", "--random-init", *ev])
    saved = {p.name.split("_")[0] + "_" + p.name.split("_")[1]: torch.load(p, weights_only=True)
             for p in (out / "features").iterdir()}
    assert set(saved) == {"random_msclr", "random_like", "run_msclr"}
    assert torch.equal(saved["random_like"]["xtr"], saved["random_msclr"]["xtr"])
    assert not torch.equal(saved["random_like"]["xtr"], saved["run_msclr"]["xtr"])
