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


def test_compute_threads_policy(monkeypatch) -> None:
    """All cores the launch leaves, unless the user asked (TrainConfig.threads, or OMP_NUM_THREADS
    outside a launcher, which sets it to 1 on its own)."""
    import mmfusion.distributed as dist

    monkeypatch.setattr(dist, "available_cores", lambda: 8)
    for key in ("LOCAL_WORLD_SIZE", "WORLD_SIZE", "OMP_NUM_THREADS", "ACCELERATE_DYNAMO_BACKEND",
                "TORCHELASTIC_RUN_ID"):
        monkeypatch.delenv(key, raising=False)
    assert dist.compute_threads() == (8, "8 cores, 1 process")
    assert dist.compute_threads(num_workers=2)[0] == 6
    assert dist.compute_threads(requested=3)[0] == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert dist.compute_threads()[0] == 1  # a user's OMP_NUM_THREADS is respected
    monkeypatch.setenv("ACCELERATE_DYNAMO_BACKEND", "NO")  # ... but not the launcher's
    assert dist.compute_threads() == (8, "8 cores, 1 process")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "3")
    assert dist.compute_threads() == (2, "8 cores, 3 processes")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "16")
    assert dist.compute_threads()[0] == 1


def test_busy_machine_note(monkeypatch) -> None:
    import mmfusion.distributed as dist

    monkeypatch.setattr(dist, "available_cores", lambda: 2)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setattr(dist.os, "getloadavg", lambda: (5.0, 5.0, 5.0))
    assert "OMP_WAIT_POLICY=PASSIVE" in dist.busy_machine_note(2)
    assert dist.busy_machine_note(1) is None  # one thread does not spin-wait on a peer
    monkeypatch.setenv("OMP_WAIT_POLICY", "passive")
    assert dist.busy_machine_note(2) is None
    monkeypatch.delenv("OMP_WAIT_POLICY")
    monkeypatch.setattr(dist.os, "getloadavg", lambda: (1.0, 1.0, 1.0))
    assert dist.busy_machine_note(2) is None
