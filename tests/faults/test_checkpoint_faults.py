"""Resume integrity: a damaged checkpoint stops the resume with CheckpointError naming the file."""

from __future__ import annotations

import json
import pickle
import random
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from mmfusion.engine.checkpoint import (
    MARKER,
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    resolve_resume,
    save_checkpoint,
    write_marker,
)
from mmfusion.errors import CheckpointError


class _Payload:
    """Stands for an attacker's object: any class outside the weights_only allow-list."""

    def __reduce__(self) -> tuple:
        return (print, ("pickle code ran",))


def _latest(run: Path) -> Path:
    return list_checkpoints(run)[-1]


def test_intact_checkpoint_resumes_exactly(run_dir: tuple[Path, Callable]) -> None:
    run, setup = run_dir
    acc, model, _, _ = setup()
    state = load_checkpoint(acc, _latest(run))
    assert state["global_step"] == 2
    from safetensors.torch import load_file

    saved = load_file(_latest(run) / "model.safetensors")
    assert all(torch.equal(v, saved[k]) for k, v in acc.unwrap_model(model).state_dict().items())


@pytest.mark.parametrize(("damage", "needle"), [
    (lambda p: p.write_bytes(b""), "missing or empty"),
    (lambda p: p.write_bytes(b"\x80\x04garbage" * 10), "cannot load RNG state safely"),
    (lambda p: p.write_bytes(pickle.dumps(_Payload())), "cannot load RNG state safely"),
    (lambda p: torch.save({"random_state": 1}, p), "not an accelerate RNG state"),
    (lambda p: p.unlink(), "missing"),
])
def test_bad_rng_state_stops_the_resume(run_dir: tuple[Path, Callable], snapshot: Callable,
                                        damage: Callable, needle: str, capsys: pytest.CaptureFixture) -> None:
    run, setup = run_dir
    ckpt = _latest(run)
    rng = ckpt / "random_states_0.pkl"
    damage(rng)
    (ckpt / MARKER).unlink()
    write_marker(ckpt, 2, 1)  # even with a matching marker (rewritten by whoever damaged the file)
    acc = setup()[0]
    check = snapshot(run)
    with pytest.raises(CheckpointError, match=needle) as info:
        load_checkpoint(acc, ckpt)
    assert str(rng) in str(info.value)
    assert "pickle code ran" not in capsys.readouterr().out
    check()


@pytest.mark.parametrize("name", ["random_states_0.pkl", "optimizer.bin", "scheduler.bin", "model.safetensors",
                                  "trainer_state.json"])
def test_changed_file_is_caught_by_the_marker(run_dir: tuple[Path, Callable], snapshot: Callable, name: str) -> None:
    run, setup = run_dir
    ckpt = _latest(run)
    f = ckpt / name
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0x01
    f.write_bytes(bytes(data))
    check = snapshot(run)
    with pytest.raises(CheckpointError, match="differs from the file saved") as info:
        load_checkpoint(setup()[0], ckpt)
    assert str(f) in str(info.value)
    check()


def test_corrupt_optimizer_without_marker_is_named(run_dir: tuple[Path, Callable]) -> None:
    run, setup = run_dir
    ckpt = _latest(run)
    (ckpt / "optimizer.bin").write_bytes(b"PK\x03\x04 not a zip")
    (ckpt / MARKER).unlink()  # a checkpoint of an older version: files are checked one by one
    with pytest.raises(CheckpointError, match="optimizer.bin"):
        load_checkpoint(setup()[0], ckpt)


@pytest.mark.parametrize(("field", "value"), [
    ("batch_in_epoch", -5), ("batch_in_epoch", 6), ("epoch", "1"), ("global_step", 2.5), ("global_step", None),
    ("num_processes", 0), ("epoch_stats", {"loss_sum": float("nan"), "steps": 1, "correct": 0, "count": 1}),
    ("history", []), ("seed", True),
])
def test_invalid_trainer_state(run_dir: tuple[Path, Callable], field: str, value: object) -> None:
    run, setup = run_dir
    ckpt = _latest(run)
    state = json.loads((ckpt / "trainer_state.json").read_text())
    state[field] = value
    (ckpt / "trainer_state.json").write_text(json.dumps(state))
    (ckpt / MARKER).unlink()
    write_marker(ckpt, 2, 1)
    with pytest.raises(CheckpointError, match=field):
        load_checkpoint(setup()[0], ckpt)


def test_rng_silently_skipped_by_accelerate_is_caught(run_dir: tuple[Path, Callable],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    run, setup = run_dir
    acc = setup()[0]

    def broken(state: object) -> None:
        raise RuntimeError("cannot set state")

    monkeypatch.setattr(random, "setstate", broken)  # accelerate catches this and logs at info level
    with pytest.raises(CheckpointError, match="random states were not restored"):
        load_checkpoint(acc, _latest(run))


def test_unmarked_folder_is_not_complete(run_dir: tuple[Path, Callable]) -> None:
    run, _ = run_dir
    newest = _latest(run)
    (newest / MARKER).unlink()
    assert [p.name for p in list_checkpoints(run)] == ["step_00000001"]
    assert resolve_resume("auto", run).name == "step_00000001"
    (run / "checkpoints" / "step_00000001" / MARKER).unlink()
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        resolve_resume("auto", run)  # would otherwise start a fresh run over the old one


def test_kill_mid_prune_leaves_nothing_that_looks_complete(run_dir: tuple[Path, Callable],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    run, _ = run_dir
    import shutil

    def killed(path: object, ignore_errors: bool = False) -> None:  # the process dies inside rmtree
        p = Path(str(path))
        (p / "model.safetensors").unlink()
        raise KeyboardInterrupt

    monkeypatch.setattr(shutil, "rmtree", killed)
    with pytest.raises(KeyboardInterrupt):
        prune_checkpoints(run, keep_last=1)
    monkeypatch.undo()
    assert [p.name for p in list_checkpoints(run)] == ["step_00000002"]
    assert (run / "checkpoints" / ".del_step_00000001").is_dir()  # half-deleted, under a name never loaded
    prune_checkpoints(run, keep_last=1)
    assert not (run / "checkpoints" / ".del_step_00000001").exists()


def test_nan_weights_are_never_saved(run_dir: tuple[Path, Callable], snapshot: Callable) -> None:
    run, setup = run_dir
    acc, model, _, _ = setup()
    with torch.no_grad():
        next(model.parameters())[0] = float("nan")
    check = snapshot(run)
    with pytest.raises(CheckpointError, match="non-finite"):
        save_checkpoint(acc, run, 3, {"epoch": 0, "batch_in_epoch": 3, "global_step": 3}, keep_last=1)
    check()  # the earlier checkpoints are still there and unchanged
    assert [p.name for p in list_checkpoints(run)] == ["step_00000001", "step_00000002"]


def test_nan_final_weights_are_refused(tmp_path: Path) -> None:
    from mmfusion.runs import save_weights

    model = torch.nn.Linear(2, 2)
    good = save_weights(model, tmp_path / "model.safetensors")
    before = good.read_bytes()
    with torch.no_grad():
        model.bias[1] = float("inf")
    with pytest.raises(CheckpointError, match="bias"):
        save_weights(model, good)
    assert good.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


@pytest.mark.parametrize("entry", ["../../../etc/passwd", "/dev/zero", "x/../../y"])
def test_crafted_marker_reads_nothing_outside(run_dir: tuple[Path, Callable], entry: str) -> None:
    run, setup = run_dir
    ckpt = _latest(run)
    info = json.loads((ckpt / MARKER).read_text())
    info["files"][entry] = {"size": 0, "sha256": ""}
    (ckpt / MARKER).write_text(json.dumps(info))
    with pytest.raises(CheckpointError, match="invalid entry"):
        load_checkpoint(setup()[0], ckpt)
