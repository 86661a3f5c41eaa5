"""recipes/brl_ntu.py end to end on a small skeleton world: the long-tailed training set, plain CE
and BRL, and the shot report in every run's metrics.json."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "recipes"))

import brl_ntu  # noqa: E402


def test_ce_and_brl_on_a_long_tailed_world(small_skeleton_world: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    world, out = small_skeleton_world, tmp_path / "runs"
    runs = brl_ntu.main(["--data-root", str(world), "--output-dir", str(out), "--lt-n-max", "2",
                         "--lt-imbalance", "0.5", "--seeds", "0", "--clip-len", "8", "--train.epochs", "1",
                         "--train.max-steps", "1", "--train.global-batch-size", "16", "--train.threads", "1"])
    assert [r["method"] for r in runs] == ["ce", "brl"]
    counts = json.loads((out / "summary.json").read_text())["class_counts"]
    quotas = [int(2 * 0.5 ** (c / 59)) for c in range(60)]  # [2, 1, 1, ...]
    assert len(counts) == 60 and all(n <= q for n, q in zip(counts, quotas)) and sum(counts) > 0
    many, few = 2 / 6, 2 / 30  # 100 and 20 of 600, scaled to n_max 2
    groups = {"many": sum(n > many for n in counts), "few": sum(n < few for n in counts)}
    for method in ("ce", "brl"):
        shots = json.loads((out / f"{method}_j_s0" / "metrics.json").read_text())["shots"]
        assert shots["thresholds"] == pytest.approx({"many": many, "few": few})
        assert shots["classes"]["many"] == groups["many"] and shots["classes"]["few"] == groups["few"]
        assert math.isfinite(shots["many"])
    config = json.loads((out / "brl_j_s0" / "config.json").read_text())
    assert "brl" in json.dumps(config)
    assert "| brl |" in capsys.readouterr().out
