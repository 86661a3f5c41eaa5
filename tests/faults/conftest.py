"""Fixtures of the fault-injection suite: a tiny packed store, a tiny checkpoint, disk snapshots.

Every fault test damages a *copy* made by a fixture, asserts the named error, and checks with
``snapshot`` that the failing call changed nothing on disk.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

NAMES = ["S001C001P001R001A001", "S001C001P002R001A002", "S001C001P003R001A001"]
T = 14
DEPTH_HW = (12, 16)


def _write_tree(root: Path) -> None:
    from mmfusion.data.formats.depth import depth_frame_name, write_depth_png
    from mmfusion.data.formats.skeleton import SkeletonSequence, write_skeleton

    rng = np.random.default_rng(0)
    for k, name in enumerate(NAMES):
        xyz = np.zeros((1, T, 25, 3), np.float32)
        xyz[0, :, :, 0] = rng.normal(0, 0.1, (T, 25))
        xyz[0, :, :, 1] = np.linspace(-0.8, 0.8, 25)[None] + 0.05 * np.arange(T)[:, None]
        xyz[0, :, :, 2] = 3.0 + k
        seq = SkeletonSequence.from_arrays(xyz, body_ids=[1000 + k])
        (root / "nturgb+d_skeletons").mkdir(parents=True, exist_ok=True)
        write_skeleton(root / "nturgb+d_skeletons" / f"{name}.skeleton", seq)
        for t in range(T):
            d = np.zeros(DEPTH_HW, np.uint16)
            d[2:10, 4:12] = 1000 + 50 * t
            write_depth_png(root / "nturgb+d_depth_masked" / name / depth_frame_name(t), d)


@pytest.fixture(scope="session")
def _packed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mmfusion.data.store import pack_ntu

    root = tmp_path_factory.mktemp("fault_tree")
    _write_tree(root)
    out = tmp_path_factory.mktemp("fault_store") / "store"
    # skeleton: raw arrays; depth: PNG frames behind an offset table (both array layouts)
    pack_ntu(root, out, modalities=("skeleton", "depth"), size=None, frame_codec="png", shard_size=2,
             progress=False)
    return out


@pytest.fixture
def store(_packed: Path, tmp_path: Path) -> Path:
    """A fresh copy of a valid 3-sample store (2 shards; skeleton raw, depth PNG) to damage."""
    return Path(shutil.copytree(_packed, tmp_path / "store"))


def _digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def snapshot() -> Callable[[Path], Callable[[], None]]:
    """``check = snapshot(folder)`` records every file's hash; ``check()`` asserts nothing changed."""
    def take(folder: Path) -> Callable[[], None]:
        before = _digest(folder)

        def check() -> None:
            assert _digest(folder) == before, "the failing call changed files on disk"

        return check

    return take


@pytest.fixture
def run_dir(tmp_path: Path) -> tuple[Path, Callable[[], tuple]]:
    """A run folder with two complete checkpoints (steps 1 and 2) of a tiny model, and a factory
    ``setup()`` -> (accelerator, model, optimizer, scheduler) prepared like the trainer does."""
    import torch
    from accelerate import Accelerator

    from mmfusion.engine.checkpoint import save_checkpoint

    def setup() -> tuple:
        torch.manual_seed(0)
        acc = Accelerator(cpu=True)
        model = torch.nn.Sequential(torch.nn.Conv1d(3, 4, 3), torch.nn.Flatten(), torch.nn.Linear(8, 2))
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (1 + s))
        model, opt, sched = acc.prepare(model, opt, sched)
        return acc, model, opt, sched

    acc, model, opt, sched = setup()
    run = tmp_path / "run"
    for step in (1, 2):
        loss = model(torch.randn(4, 3, 4)).square().mean()
        acc.backward(loss)
        opt.step()
        sched.step()
        opt.zero_grad()
        state = {"epoch": 0, "batch_in_epoch": step, "global_step": step, "batches_per_epoch": 5,
                 "steps_per_epoch": 5, "num_processes": 1, "seed": 0,
                 "epoch_stats": {"loss_sum": 1.0, "steps": step, "correct": 0.0, "count": 4.0 * step},
                 "history": {"train": [], "epochs": []}}
        save_checkpoint(acc, run, step, state, keep_last=2, model=model)
    return run, setup
