"""Two writers, one folder: the second gets LockError at once; stale locks of dead PIDs are taken over."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from mmfusion.errors import LockError
from mmfusion.locks import LOCK_NAME, FolderLock, folder_lock, read_holder


def _hold(folder: str, conn: Connection) -> None:
    lock = FolderLock(folder, "training").acquire()
    conn.send("locked")
    conn.recv()                                  # until the test says release (or the pipe closes)
    lock.release()


class _Writer:
    """A second process holding the lock (forked: no fresh interpreter start-up)."""

    def __init__(self, folder: Path) -> None:
        ctx = multiprocessing.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_hold, args=(str(folder), child), daemon=True)
        self.proc.start()
        assert self.conn.poll(20) and self.conn.recv() == "locked"
        self.pid = self.proc.pid

    def finish(self) -> None:
        self.conn.send("release")
        self.proc.join(20)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join(20)


@pytest.fixture
def other_writer() -> Iterator[Callable[[Path], _Writer]]:
    """``other_writer(folder)`` starts a process holding ``folder``'s lock; stopped after the test."""
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("needs fork")
    writers: list[_Writer] = []

    def start(folder: Path) -> _Writer:
        writers.append(_Writer(folder))
        return writers[-1]

    yield start
    for w in writers:  # only the processes this fixture started, by their own handle
        if w.proc.is_alive():
            w.kill()


def test_second_writer_is_refused_at_once(tmp_path: Path, other_writer: Callable[[Path], _Writer]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "history.json").write_text("{}")
    proc = other_writer(run)
    with pytest.raises(LockError, match=f"process {proc.pid} on host {socket.gethostname()} \\(training"):
        FolderLock(run, "training").acquire()
    assert (run / "history.json").read_text() == "{}" and read_holder(run / LOCK_NAME)["pid"] == proc.pid
    proc.finish()
    assert not (run / LOCK_NAME).exists()        # released cleanly
    with folder_lock(run, "packing a store") as lock:
        assert lock.held and read_holder(run / LOCK_NAME)["pid"] == os.getpid()
    assert not (run / LOCK_NAME).exists()


def test_killed_holder_leaves_a_stale_lock_that_is_taken_over(tmp_path: Path,
                                                              other_writer: Callable[[Path], _Writer]) -> None:
    run = tmp_path / "run"
    proc = other_writer(run)
    proc.kill()                                  # dies without releasing: the file stays
    assert read_holder(run / LOCK_NAME)["pid"] == proc.pid
    with FolderLock(run, "training"):
        assert read_holder(run / LOCK_NAME)["pid"] == os.getpid()


def test_lock_file_of_a_dead_pid_is_taken_over(tmp_path: Path) -> None:
    tmp_path.joinpath(LOCK_NAME).write_text(json.dumps({"pid": 2**22 + 12345, "host": socket.gethostname()}))
    with FolderLock(tmp_path) as lock:
        assert lock.held


def test_lock_of_another_host_is_never_taken_over(tmp_path: Path) -> None:
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": 1, "host": "node-17", "purpose": "training"}))
    with pytest.raises(LockError, match=f"node-17.*delete {tmp_path / LOCK_NAME}"):
        FolderLock(tmp_path).acquire()
    assert read_holder(tmp_path / LOCK_NAME)["host"] == "node-17"   # untouched


def test_same_process_twice_is_refused(tmp_path: Path) -> None:
    with FolderLock(tmp_path, "training"), pytest.raises(LockError, match=f"process {os.getpid()}"):
        FolderLock(tmp_path, "training").acquire()


def test_training_into_a_held_run_folder_is_refused(tmp_path: Path, other_writer: Callable[[Path], _Writer]) -> None:
    """engine.train takes the run folder's lock: a second training run into it stops before writing."""
    import torch
    from torch import nn

    from mmfusion.engine import TrainConfig, train

    run = tmp_path / "run"
    other_writer(run)
    before = sorted(p.name for p in run.iterdir())
    data = [{"skeleton": torch.randn(4), "label": torch.tensor(k % 2)} for k in range(8)]

    class Toy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, batch: dict) -> dict:
            return {"logits": self.fc(batch["skeleton"])}

    with pytest.raises(LockError, match="training"):
        train(TrainConfig(epochs=1, batch_size=4, output_dir=str(run), mixed_precision="no"), Toy(), data)
    assert sorted(p.name for p in run.iterdir()) == before  # nothing written beside the holder's lock


def test_packing_into_a_held_store_folder_is_refused(tmp_path: Path, other_writer: Callable[[Path], _Writer]) -> None:
    import numpy as np

    from mmfusion.data.formats.skeleton import SkeletonSequence, write_skeleton
    from mmfusion.data.store import pack_ntu

    raw = tmp_path / "raw" / "nturgb+d_skeletons"
    raw.mkdir(parents=True)
    xyz = np.ones((1, 14, 25, 3), np.float32)
    write_skeleton(raw / "S001C001P001R001A001.skeleton", SkeletonSequence.from_arrays(xyz, body_ids=[7]))
    out = tmp_path / "store"
    other_writer(out)
    with pytest.raises(LockError):
        pack_ntu(tmp_path / "raw", out, modalities=("skeleton",), progress=False)
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]
