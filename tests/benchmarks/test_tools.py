"""The benchmark tooling (benchmarks/*.py): FLOP counting, Makefile parsing, report tables,
quick-run result handling. Benchmarks themselves are never run by the tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bench_demo  # noqa: E402
import flops  # noqa: E402
import probe_pooled_input  # noqa: E402
import report  # noqa: E402
import run_all  # noqa: E402


@pytest.mark.parametrize("groups", [1, 4, 8])
def test_conv_backward_flops_account_for_groups(groups: int) -> None:
    # forward, input gradient and weight gradient of a conv each cost the same number of FLOPs;
    # torch's own formula counted a grouped weight gradient as a dense one
    torch.manual_seed(0)
    x = torch.randn(2, 8, 6, 6, requires_grad=True)
    w = torch.randn(8, 8 // groups, 3, 3, requires_grad=True)
    fwd, _ = flops.count_flops(lambda: F.conv2d(x, w, padding=1, groups=groups))
    expected_fwd = 2 * 2 * 8 * 6 * 6 * (8 // groups) * 9
    assert fwd == expected_fwd
    total, per_op = flops.count_flops(lambda: F.conv2d(x, w, padding=1, groups=groups).sum().backward())
    assert total == 3 * expected_fwd, per_op


def test_cpu_attention_is_counted() -> None:
    q = torch.randn(1, 2, 16, 8)
    total, _ = flops.count_flops(lambda: F.scaled_dot_product_attention(q, q, q))
    assert total == 2 * (2 * 16 * 16 * 8) * 2  # QK^T and AV, batch x heads = 2


def test_makefile_demo_line_is_parsed(tmp_path: Path) -> None:
    mk = tmp_path / "Makefile"
    mk.write_text("setup:\n\ttrue\n\ndemo: setup\n\tOMP_NUM_THREADS=1 $(VENV)/bin/accelerate launch --multi_gpu "
                  "--num_processes 2 recipes/mmixer_ntu.py\n\ntest:\n\tpytest\n")
    env, args, line = bench_demo.makefile_demo(mk)
    assert env == {"OMP_NUM_THREADS": "1"}
    assert args == ["launch", "--multi_gpu", "--num_processes", "2"]
    assert "mmixer_ntu.py" in line
    mk.write_text("demo:\n\tpython recipes/other.py\n")
    env, args, _ = bench_demo.makefile_demo(mk)
    assert env == {} and args[:3] == ["launch", "--num_processes", "1"]


def _row(model: str, size: str, **kw: float) -> dict:
    base = {"model": model, "size": size, "input": "x", "params": 1_000_000, "GMACs": 1.0, "latency_ms": 40.0,
            "latency_cpu_ms": 10.0, "train_batch": 4, "train_samples_s": 2.0, "train_step_cpu_ms": 500.0,
            "util_%": 5.0, "util_cpu_%": 20.0, "infer_peak_MiB": 1.0, "train_peak_MiB": 2.0}
    base.update(kw)
    return base


def test_models_table_clock() -> None:
    data = {"machine": {"threads": 1}, "rows": [_row("m", "paper"), {"model": "bad", "size": "paper", "error": "boom"},
                                                 _row("m", "demo")]}
    cpu = report.models_table(data, "paper", "cpu").splitlines()
    wall = report.models_table(data, "paper", "wall").splitlines()
    assert len(cpu) == 4  # header, rule, m, bad
    cells = [c.strip() for c in cpu[2].split("|")]
    assert cells[5] == "10" and cells[6] == "8 (b4)" and cells[7] == "20"  # 4 samples / 0.5 CPU-s
    cells = [c.strip() for c in wall[2].split("|")]
    assert cells[5] == "40" and cells[6] == "2 (b4)" and cells[7] == "5"
    assert "boom" in cpu[3]


def test_quick_results_are_kept_apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_all, "QUICK", tmp_path / "quick")
    res = tmp_path / "gemm.json"
    res.write_text("new")
    dest = run_all._keep_apart(res, b"old")
    assert dest.read_text() == "new" and res.read_text() == "old"
    fresh = tmp_path / "data_quick.json"
    fresh.write_text("only")
    run_all._keep_apart(fresh, None)
    assert not fresh.exists() and (tmp_path / "quick" / "data_quick.json").read_text() == "only"


def test_token_r2_is_one_for_a_linear_code_of_the_pose_and_less_otherwise() -> None:
    # clips (N, C, T, V, M) with one person; tokens = frames @ W + b is a linear code of each frame's pose
    g = torch.Generator().manual_seed(0)
    clips = torch.zeros(16, 3, 16, 25, 2)  # 256 frames: more rows than the fit's 76 unknowns
    clips[..., 0] = torch.randn(16, 3, 16, 25, generator=g)
    w, b = torch.randn(75, 16, generator=g), torch.randn(16, generator=g)
    linear = probe_pooled_input.token_r2(lambda f: f.flatten(2) @ w + b, clips)
    squared = probe_pooled_input.token_r2(lambda f: (f.flatten(2) @ w) ** 2, clips)
    assert linear == pytest.approx(1.0, abs=1e-9) and squared < 0.5
    pooled = probe_pooled_input.FEATURES["mean pose"](probe_pooled_input.frames(clips))
    assert torch.allclose(pooled, clips[..., 0].permute(0, 2, 3, 1).flatten(2).mean(1))
