"""`accelerate launch --multi_gpu --num_processes 2` on a machine without a GPU must form one
gloo group of two CPU processes (not two independent single-process runs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mmfusion.distributed import wants_cpu_group

PROBE = """
import sys
from pathlib import Path

import torch
from mmfusion.distributed import process_state

s = process_state()
x = torch.tensor([float(s.process_index + 1)])
torch.distributed.all_reduce(x)
# one file per process: both processes share the launcher's stdout, lines may interleave
Path(sys.argv[1], f"rank{s.process_index}.txt").write_text(
    f"rank {s.process_index}/{s.num_processes} {s.distributed_type} {s.backend} sum {x.item():.0f}")
s.wait_for_everyone()
s.destroy_process_group()
"""


def test_wants_cpu_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert not wants_cpu_group() and wants_cpu_group(cpu=True)
    monkeypatch.setenv("WORLD_SIZE", "2")
    import torch

    assert wants_cpu_group() == (not torch.accelerator.is_available())


@pytest.mark.slow
def test_accelerate_launch_two_cpu_processes(tmp_path: Path) -> None:
    import torch

    if torch.accelerator.is_available():
        pytest.skip("this checks the CPU-only path")
    import socket

    with socket.socket() as sock:  # a free port for the rendezvous
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "--main_process_port", str(port), str(script), str(tmp_path)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [(tmp_path / f"rank{r}.txt").read_text() for r in (0, 1)]
    assert lines == ["rank 0/2 DistributedType.MULTI_CPU gloo sum 3", "rank 1/2 DistributedType.MULTI_CPU gloo sum 3"]
