"""UniPose recipes run end to end on tiny configurations (synthetic world; ITOP fixture written here)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

import mmfusion
from mmfusion.errors import ConfigError


def _check_rows(rows: list[dict], n: int) -> None:
    assert len(rows) == n
    for r in rows:
        assert math.isfinite(r["mpjpe_mm"]) and r["mpjpe_mm"] > 0 and 0.0 <= r["ap10"] <= 1.0


def test_synth_recipe_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                            load_recipe: Callable[[str], ModuleType]) -> None:
    unipose_synth = load_recipe("unipose_synth")
    out = tmp_path / "res.json"
    res = unipose_synth.main(["--train-subjects", "1", "--test-subjects", "1", "--clips-per-subject", "2",
                              "--frames", "3", "--num-points", "160", "--stage-a.epochs", "1", "--stage-a.batch", "2",
                              "--stage-b.epochs", "1", "--stage-b.batch", "4", "--stage-b.crop", "32",
                              "--stage-b.variants", "depth", "rgb_kp", "--ablation",
                              "--save-dir", str(tmp_path / "run"), "--out", str(out)])
    _check_rows(res["rows"], 6)  # naive, stage A, ablation, RGB-distance reference, stage B depth / rgb + maps
    assert res["rows"][3]["method"].startswith("reference")
    assert res["rows"][0]["method"].startswith("naive") and "without ray guidance" in res["rows"][2]["method"]
    assert all(r["seconds"] > 0 for r in res["rows"][1:] if not r["method"].startswith("reference"))
    text = capsys.readouterr().out
    assert "| method | MPJPE mm | root-aligned MPJPE mm | AP@10cm | train s |" in text
    assert "stage B, depth" in text and "stage B, rgb + 2-D detection maps" in text
    assert out.is_file()
    # the saved networks load by name from their folders (the pipeline's way), with equal weights
    for sub, name in (("stage_a", "unipose_pointnet_tiny"), ("stage_b_depth", "a2j_depth_tiny"),
                      ("stage_b_rgb_kp", "a2j_rgb_tiny")):
        net = mmfusion.create_model(name, checkpoint=tmp_path / "run" / sub)
        assert sum(p.numel() for p in net.parameters()) > 0
    # re-running stage B from the saved stage A reproduces stage A's row exactly
    res2 = unipose_synth.main(["--train-subjects", "1", "--test-subjects", "1", "--clips-per-subject", "2",
                               "--frames", "3", "--num-points", "160", "--skip-stage-b", "--save-dir", "",
                               "--load-stage-a", str(tmp_path / "run" / "stage_a")])
    assert res2["rows"][1]["mpjpe_mm"] == pytest.approx(res["rows"][1]["mpjpe_mm"], abs=1e-3)


def test_itop_recipe_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                           write_itop_fixture: Callable[..., None], load_recipe: Callable[[str], ModuleType]) -> None:
    unipose_itop = load_recipe("unipose_itop")
    write_itop_fixture(tmp_path, "train", runs=((1, 4), (2, 3)))
    write_itop_fixture(tmp_path, "test", runs=((3, 4),))
    res = unipose_itop.main(["--data-root", str(tmp_path), "--smoke"])
    _check_rows(res["rows"], 3)  # naive, stage A, stage B depth
    assert len(res["per_joint_ap_stage_a"]) == 15
    assert "ITOP side test" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="data-root"):
        unipose_itop.main([])
