"""Checkpoints (resumable training state) and final weights (safetensors + config.json).

Layout of a run folder::

    <run>/checkpoints/step_00001234/   accelerate save_state: model.safetensors, optimizer.bin,
                                        scheduler.bin, random_states_<rank>.pkl (+ scaler.pt)
                                        and trainer_state.json (epoch, position, history)
    <run>/model.safetensors            final weights (unwrapped model, contiguous tensors)
    <run>/config.json                  {"model_name", "model_kwargs", "classes", ...}

A checkpoint is first written to ``checkpoints/.tmp_step_XXXXXXXX`` by every process; the
main process then writes ``checkpoint.json`` -- the completion marker, written last: size and
sha256 of every file of the checkpoint -- and renames the folder. A ``step_*`` folder counts as
complete only with that marker, so neither a crash while saving nor a kill while pruning (old
checkpoints are renamed to ``.del_step_*`` before they are deleted) leaves a folder that
``resume="auto"`` could pick up. The run folder must be on a file system all processes share
(as for ``accelerate``'s own ``save_state``).

Resuming never silently becomes another run (:func:`load_checkpoint`): every file is verified
against the marker, ``trainer_state.json`` is validated (types and ranges), the RNG state of
this process is loaded with ``torch.load(weights_only=True)`` and checked, and after
``accelerator.load_state`` the RNG states are compared with the file (accelerate itself only
logs "Could not load random states" at info level and continues with fresh RNG). Any failure
is a :class:`CheckpointError` naming the file. Accelerate stores the optimizer, scheduler and
RNG states with ``torch.save`` and loads them with ``weights_only=True`` (no arbitrary pickles
are executed). Weights are never written when a tensor is NaN or inf
(:func:`~mmfusion.runs.assert_finite_state`).

Checkpoints saved before the marker existed (no ``checkpoint.json``) are not picked up by
``resume="auto"`` (which then raises, rather than starting over); pass their folder explicitly
to resume from one: its files are then checked one by one.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import CheckpointError
from ..runs import (
    assert_finite_state,
    write_json,
)

CHECKPOINTS = "checkpoints"
TRAINER_STATE = "trainer_state.json"
#: completion marker and manifest of a checkpoint folder, written last
MARKER = "checkpoint.json"
MARKER_FORMAT = 1
_STEP_RE = re.compile(r"^step_(\d+)$")


def checkpoint_path(run_dir: str | Path, step: int) -> Path:
    """``<run>/checkpoints/step_XXXXXXXX`` for optimizer step ``step``."""
    return Path(run_dir) / CHECKPOINTS / f"step_{step:08d}"


def is_complete(path: str | os.PathLike[str]) -> bool:
    """A checkpoint folder is complete when its marker (``checkpoint.json``, written last) exists."""
    return (Path(path) / MARKER).is_file()


def _step_folders(run_dir: str | Path) -> list[tuple[int, Path]]:
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    return sorted((int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _STEP_RE.match(p.name)))


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first (temporary and unmarked folders are ignored)."""
    return [p for _, p in _step_folders(run_dir) if is_complete(p)]


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    ckpts = list_checkpoints(run_dir)
    return ckpts[-1] if ckpts else None


def resolve_resume(resume: str | Path | None, run_dir: str | Path) -> Path | None:
    """Turn ``TrainConfig.resume`` into a checkpoint folder (or None for a fresh start).

    ``"auto"``: the latest checkpoint of ``run_dir``, None if there is none. A path may name a
    checkpoint folder or a run folder (its latest checkpoint is used).

    Raises:
        CheckpointError: an explicit path that holds no checkpoint.
    """
    if resume is None or str(resume) == "":
        return None
    if str(resume) == "auto":
        latest = latest_checkpoint(run_dir)
        unmarked = [p for _, p in _step_folders(run_dir) if not is_complete(p)]
        if latest is None and unmarked:
            # starting over here would silently become another run
            raise CheckpointError(f"{unmarked[-1]}: no complete checkpoint in {run_dir} ({len(unmarked)} folder(s) "
                                  f"without the {MARKER} marker: interrupted, or saved by an older mmfusion); pass "
                                  f"the folder as resume=<path> to load it with per-file checks, or delete them")
        return latest
    path = Path(resume)
    if (path / TRAINER_STATE).is_file():
        return path
    latest = latest_checkpoint(path)
    if latest is None:
        raise CheckpointError(f"{path}: no checkpoint here (expected {TRAINER_STATE} or {CHECKPOINTS}/step_*)")
    return latest


def _is_main(accelerator: Any) -> bool:
    return bool(accelerator.is_main_process)


def save_checkpoint(accelerator: Any, run_dir: str | Path, step: int, trainer_state: Mapping[str, Any],
                    keep_last: int, model: nn.Module | None = None) -> Path:
    """Save the full training state atomically; every process must call this (it has barriers).

    Args:
        accelerator: the run's ``Accelerator`` (model/optimizer/scheduler/loaders prepared).
        run_dir: the run folder.
        step: optimizer step, names the folder.
        trainer_state: JSON-able loop position and history, written as ``trainer_state.json``.
        keep_last: complete checkpoints to keep after this one is in place (>= 1).
        model: the trained model; its state is checked for NaN/inf first (default: the models
            the accelerator prepared).

    Raises:
        CheckpointError: a weight is NaN or inf (nothing is written; earlier checkpoints stay).
    """
    final = checkpoint_path(run_dir, step)
    tmp = final.with_name(f".tmp_{final.name}")
    # every process checks (its own replica / shard) before anything is written; the private
    # ``_models`` is accelerate's list of prepared models, used when the caller passes none
    for m in [model] if model is not None else list(getattr(accelerator, "_models", [])):
        assert_finite_state(m.state_dict(), final)
    if _is_main(accelerator):
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    if _is_main(accelerator):
        write_json(tmp / TRAINER_STATE, trainer_state)
    accelerator.wait_for_everyone()
    if _is_main(accelerator):
        write_marker(tmp, step, accelerator.num_processes)  # last: its presence = complete
        if final.exists():
            _remove(final)
        os.replace(tmp, final)
        prune_checkpoints(run_dir, keep_last)
    accelerator.wait_for_everyone()
    return final


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def write_marker(folder: str | Path, step: int, num_processes: int) -> Path:
    """Write ``checkpoint.json`` (size + sha256 of every other file) into ``folder``, atomically."""
    folder = Path(folder)
    files = {p.relative_to(folder).as_posix(): {"size": p.stat().st_size, "sha256": _sha256(p)}
             for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MARKER}
    return write_json(folder / MARKER, {"format": MARKER_FORMAT, "step": int(step),
                                        "num_processes": int(num_processes), "files": files})


def verify_checkpoint(path: str | Path, process_index: int = 0) -> dict[str, Any]:
    """Check a checkpoint folder against its marker; returns the marker.

    Raises:
        CheckpointError: no marker, an unreadable marker, or a file missing, resized or changed
            (each named), or no RNG state for ``process_index``.
    """
    path = Path(path)
    marker = path / MARKER
    if not marker.is_file():
        raise CheckpointError(f"{marker}: missing; {path} is not a complete checkpoint")
    try:
        info = json.loads(marker.read_text())
        files = info["files"]
        if not isinstance(files, dict):
            raise TypeError("files is not an object")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{marker}: unreadable checkpoint marker ({exc})") from exc
    for rel, rec in files.items():
        f = path / rel
        # the marker is input too: only plain files inside the folder are read (never ../ or /dev/zero)
        if not isinstance(rec, dict) or Path(rel).is_absolute() or ".." in Path(rel).parts \
                or f.resolve().parent != path.resolve() / Path(rel).parent:
            raise CheckpointError(f"{marker}: invalid entry {rel!r:.80} (files inside the checkpoint only)")
        if not f.is_file():
            raise CheckpointError(f"{f}: missing from checkpoint {path} (listed in {MARKER})")
        if f.stat().st_size != rec.get("size") or _sha256(f) != rec.get("sha256"):
            raise CheckpointError(f"{f}: differs from the file saved in the checkpoint (size or sha256 changed: "
                                  f"corrupt or replaced)")
    rng = f"random_states_{process_index}.pkl"
    if rng not in files:
        raise CheckpointError(f"{path / rng}: missing; the checkpoint was saved by {info.get('num_processes')} "
                              f"process(es), this is process {process_index}")
    return info


def _is_count(v: Any, low: int = 0) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= low


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _valid_epoch_stats(stats: Any) -> bool:
    return (isinstance(stats, dict) and _finite(stats.get("loss_sum"))
            and all(_finite(stats.get(k)) and stats[k] >= 0 for k in ("steps", "correct", "count")))


def validate_trainer_state(state: Any, path: str | Path) -> dict[str, Any]:
    """Types and ranges of a ``trainer_state.json``; returns it.

    Raises:
        CheckpointError: naming the file and the field.
    """
    def bad(field: str, want: str) -> CheckpointError:
        got = state.get(field) if isinstance(state, dict) else state
        return CheckpointError(f"{path}: {field} must be {want}, got {got!r:.60}")

    if not isinstance(state, dict):
        raise bad("the trainer state", "a JSON object")
    for field in ("epoch", "batch_in_epoch", "global_step"):
        if not _is_count(state.get(field)):
            raise bad(field, "a non-negative integer")
    for field in ("batches_per_epoch", "steps_per_epoch", "num_processes"):
        if state.get(field) is not None and not _is_count(state[field], 1):
            raise bad(field, "a positive integer")
    bpe = state.get("batches_per_epoch")
    if bpe is not None and state["batch_in_epoch"] > bpe:
        raise bad("batch_in_epoch", f"at most batches_per_epoch = {bpe}")
    if state.get("seed") is not None and not (isinstance(state["seed"], int) and not isinstance(state["seed"], bool)):
        raise bad("seed", "an integer")
    stats = state.get("epoch_stats")
    if stats is not None and not _valid_epoch_stats(stats):
        raise bad("epoch_stats", "{loss_sum, steps, correct, count} with finite, non-negative counts")
    history = state.get("history")
    if history is not None and not (isinstance(history, dict) and isinstance(history.get("train", []), list)
                                    and isinstance(history.get("epochs", []), list)):
        raise bad("history", '{"train": [...], "epochs": [...]}')
    return state


def load_rng_state(path: str | Path) -> dict[str, Any]:
    """Read one process's ``random_states_<rank>.pkl`` with ``weights_only=True`` and check its content.

    Raises:
        CheckpointError: unreadable, empty, carrying a pickle that is not plain data, or missing
            the Python / numpy / torch states.
    """
    from accelerate.utils import load as accelerate_load  # its allow-list of numpy types for weights_only

    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        raise CheckpointError(f"{path}: RNG state missing or empty")
    try:
        states = accelerate_load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError ... alike
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: cannot load RNG state safely ({first})") from exc
    ok = (isinstance(states, dict) and isinstance(states.get("random_state"), tuple)
          and isinstance(states.get("numpy_random_seed"), tuple)
          and isinstance(states.get("torch_manual_seed"), torch.Tensor)
          and states["torch_manual_seed"].dtype == torch.uint8)
    if not ok:
        raise CheckpointError(f"{path}: not an accelerate RNG state (needs random_state, numpy_random_seed, "
                              f"torch_manual_seed)")
    return states


def _rng_restored(states: Mapping[str, Any]) -> bool:
    import numpy as np

    ours = np.random.get_state()
    theirs = states["numpy_random_seed"]
    return (random.getstate() == states["random_state"]
            and torch.equal(torch.get_rng_state(), states["torch_manual_seed"])
            and ours[0] == theirs[0] and np.array_equal(ours[1], theirs[1]) and tuple(ours[2:]) == tuple(theirs[2:]))


def _first_unloadable(path: Path) -> str | None:
    """The first torch-saved file of a checkpoint that ``weights_only=True`` cannot load (error path only)."""
    from accelerate.utils import load as accelerate_load

    for f in sorted(path.iterdir()):
        if f.suffix in (".bin", ".pt", ".pkl"):
            try:
                accelerate_load(f, map_location="cpu", weights_only=True)
            except Exception as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                return f"{f}: {first}"
    return None


def _remove(folder: Path) -> None:
    """Delete a checkpoint folder so that no partial state is ever visible as ``step_*``: rename
    it first (atomic), then delete (a kill in between leaves only a ``.del_*`` folder)."""
    doomed = folder.with_name(f".del_{folder.name}")
    if doomed.exists():
        shutil.rmtree(doomed, ignore_errors=True)
    os.replace(folder, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def prune_checkpoints(run_dir: str | Path, keep_last: int) -> list[Path]:
    """Delete all but the newest ``keep_last`` complete checkpoints, and stale temporary, half-deleted
    and unmarked folders older than the newest complete one."""
    ckpts = list_checkpoints(run_dir)
    doomed = ckpts[: max(0, len(ckpts) - max(1, keep_last))]
    root = Path(run_dir) / CHECKPOINTS
    for p in doomed:
        _remove(p)
    stale = [p for pattern in (".tmp_step_*", ".del_step_*") for p in root.glob(pattern) if p.is_dir()]
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return doomed + stale


def load_checkpoint(accelerator: Any, path: str | Path) -> dict[str, Any]:
    """Restore model/optimizer/scheduler/RNG states from ``path``; returns its validated trainer state.

    Every part loads or this raises: the folder is verified against its marker (older folders
    without one: each file must exist and load with ``weights_only=True``), the trainer state is
    validated, this process's RNG state is read safely before ``accelerator.load_state`` and
    compared with the live RNG after it.

    Raises:
        CheckpointError: naming the file that is missing, corrupt, unsafe or invalid.
    """
    path = Path(path)
    state_file = path / TRAINER_STATE
    rng_file = path / f"random_states_{accelerator.process_index}.pkl"
    if is_complete(path):
        verify_checkpoint(path, accelerator.process_index)
    for needed in (state_file, rng_file):
        if not needed.is_file():
            raise CheckpointError(f"{needed}: missing; {path} is not a complete checkpoint "
                                  f"(saved with a different number of processes?)")
    try:
        state = json.loads(state_file.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{state_file}: unreadable trainer state ({exc})") from exc
    validate_trainer_state(state, state_file)
    rng = load_rng_state(rng_file)
    if not is_complete(path):
        bad = _first_unloadable(path)
        if bad is not None:
            raise CheckpointError(f"cannot restore training state: {bad}")
    try:
        accelerator.load_state(str(path))
    except Exception as exc:  # accelerate raises many unrelated types on mismatched states
        culprit = _first_unloadable(path)
        where = f" ({culprit})" if culprit else ""
        raise CheckpointError(f"{path}: cannot restore training state ({type(exc).__name__}: {exc}){where}") from exc
    if not _rng_restored(rng):
        raise CheckpointError(f"{rng_file}: random states were not restored by accelerate (resuming would continue "
                              f"with fresh RNG, i.e. another run)")
    return state
