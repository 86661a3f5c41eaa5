"""Shared test fixtures.

Real data samples live outside the repository in ``../shared/real_samples`` (NTU's terms
forbid redistribution); tests that need them use the ``real_samples`` fixture, which skips
with a clear reason where that folder is absent.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.distributed as dist

REPO = Path(__file__).resolve().parents[1]
REAL_SAMPLES = Path(os.environ.get("MMFUSION_REAL_SAMPLES", REPO.parent / "shared" / "real_samples"))

# The tests use tiny tensors: on a small (often shared) CPU one intra-op thread is faster than
# several contending ones, and results do not depend on the machine's core count.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def real_samples() -> Path:
    if not REAL_SAMPLES.is_dir():
        pytest.skip(f"real samples not found at {REAL_SAMPLES} (set MMFUSION_REAL_SAMPLES)")
    return REAL_SAMPLES


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _gloo_worker(rank: int, store: str, out_dir: str, run: Callable[[int, int], dict[str, Any]]) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        np.savez(os.path.join(out_dir, f"rank{rank}.npz"), **run(rank, 2))
    finally:
        dist.destroy_process_group()


@pytest.fixture
def gloo_pair(tmp_path: Path) -> Callable[[Callable[[int, int], dict[str, Any]]], list[dict[str, np.ndarray]]]:
    """``gloo_pair(run)``: ``run(rank, world_size) -> {name: array}`` in two forked gloo processes
    (the way DDP would run it); returns both ranks' outputs. ``run`` must be a module-level function."""

    def launch(run: Callable[[int, int], dict[str, Any]]) -> list[dict[str, np.ndarray]]:
        ctx = torch.multiprocessing.get_context("fork")
        procs = [ctx.Process(target=_gloo_worker, args=(r, str(tmp_path / "store"), str(tmp_path), run))
                 for r in range(2)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=120)
        assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
        return [dict(np.load(tmp_path / f"rank{r}.npz")) for r in range(2)]

    return launch


@pytest.fixture
def multi_layout_world(tmp_path: Path) -> Path:
    """A tiny skeleton world packed by hand (``packed/{ntu25,smpl24,h36m17,coco17}.npy`` +
    ``index.npz``, no world metadata: read like real data in the world's layout). 12 clips of 80
    frames (the first 2 empty, person 2 absent), performers 1 (xsub training) and 3 (test),
    labels ``i % 3``. In every convention joint 0's x of clip i runs ``u ** (0.5 + 0.25 i)``,
    u = 0 .. 1 over the valid frames, times a per-convention scale plus an offset: its
    affine-invariant profile over a clip's frames names the clip and the crop, whatever the
    convention's normalisation."""
    n, t, root = 12, 80, tmp_path / "multi_world"
    (root / "packed").mkdir(parents=True)
    u = np.linspace(0, 1, t - 2, dtype=np.float32)
    joints = {"ntu25": (3, 25), "smpl24": (2, 24), "h36m17": (2, 17), "coco17": (2, 17)}
    for k, (name, (c, v)) in enumerate(joints.items()):
        a = np.zeros((n, c, t, v, 2), np.float32)
        scale, offset = (1.0 + k, 0.5 * k) if c == 3 else (100.0 * (k + 1), 300.0 + 50 * k)
        for i in range(n):
            a[i, :, 2:, :, 0] = offset + scale * np.linspace(0.1, 0.6, v, dtype=np.float32)  # a static body
            a[i, 0, 2:, 0, 0] = offset + scale * u ** (0.5 + 0.25 * i)
        np.save(root / "packed" / f"{name}.npy", a)
    names = np.array([f"S001C001P{1 if i % 2 == 0 else 3:03d}R001A{i % 3 + 1:03d}" for i in range(n)])
    np.savez(root / "packed" / "index.npz", labels=np.arange(n) % 3, names=names, lengths=np.full(n, t))
    return root
