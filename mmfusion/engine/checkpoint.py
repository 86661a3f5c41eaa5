"""Checkpoints (resumable training state) and final weights (safetensors + config.json).

Layout of a run folder::

    <run>/checkpoints/step_00001234/   accelerate save_state: model.safetensors, optimizer.bin,
                                        scheduler.bin, random_states_<rank>.pkl (+ scaler.pt)
                                        and trainer_state.json (epoch, position, history)
    <run>/model.safetensors            final weights (unwrapped model, contiguous tensors)
    <run>/config.json                  {"model_name", "model_kwargs", "classes", ...}

A checkpoint is first written to ``checkpoints/.tmp_step_XXXXXXXX`` by every process and
then renamed by the main process, so a crash while saving never leaves a half-written
``step_*`` folder that ``resume="auto"`` could pick up. The run folder must be on a file
system all processes share (as for ``accelerate``'s own ``save_state``).

Accelerate stores the optimizer, scheduler and RNG states with ``torch.save``; it loads
them back with ``weights_only=True`` (no arbitrary pickles are executed).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import CheckpointError
from .config import to_jsonable, write_json

CHECKPOINTS = "checkpoints"
TRAINER_STATE = "trainer_state.json"
WEIGHTS = "model.safetensors"
MODEL_CONFIG = "config.json"
_STEP_RE = re.compile(r"^step_(\d+)$")


def checkpoint_path(run_dir: str | Path, step: int) -> Path:
    """``<run>/checkpoints/step_XXXXXXXX`` for optimizer step ``step``."""
    return Path(run_dir) / CHECKPOINTS / f"step_{step:08d}"


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first (temporary folders are ignored)."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir()
             if p.is_dir() and (m := _STEP_RE.match(p.name)) and (p / TRAINER_STATE).is_file()]
    return [p for _, p in sorted(found)]


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
        return latest_checkpoint(run_dir)
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
                    keep_last: int) -> Path:
    """Save the full training state atomically; every process must call this (it has barriers).

    Args:
        accelerator: the run's ``Accelerator`` (model/optimizer/scheduler/loaders prepared).
        run_dir: the run folder.
        step: optimizer step, names the folder.
        trainer_state: JSON-able loop position and history, written as ``trainer_state.json``.
        keep_last: complete checkpoints to keep after this one is in place (>= 1).
    """
    final = checkpoint_path(run_dir, step)
    tmp = final.with_name(f".tmp_{final.name}")
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
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        prune_checkpoints(run_dir, keep_last)
    accelerator.wait_for_everyone()
    return final


def prune_checkpoints(run_dir: str | Path, keep_last: int) -> list[Path]:
    """Delete all but the newest ``keep_last`` checkpoints and stale temporary folders."""
    ckpts = list_checkpoints(run_dir)
    doomed = ckpts[: max(0, len(ckpts) - max(1, keep_last))]
    root = Path(run_dir) / CHECKPOINTS
    doomed += [p for p in root.glob(".tmp_step_*") if p.is_dir()]
    for p in doomed:
        shutil.rmtree(p, ignore_errors=True)
    return doomed


def load_checkpoint(accelerator: Any, path: str | Path) -> dict[str, Any]:
    """Restore model/optimizer/scheduler/RNG states from ``path``; returns its trainer state.

    Raises:
        CheckpointError: missing files (accelerate itself would skip missing RNG states
            silently, which breaks exact resumption).
    """
    path = Path(path)
    state_file = path / TRAINER_STATE
    rng_file = path / f"random_states_{accelerator.process_index}.pkl"
    for needed in (state_file, rng_file):
        if not needed.is_file():
            raise CheckpointError(f"{needed}: missing; {path} is not a complete checkpoint "
                                  f"(saved with a different number of processes?)")
    try:
        state = json.loads(state_file.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{state_file}: unreadable trainer state ({exc})") from exc
    try:
        accelerator.load_state(str(path))
    except Exception as exc:  # accelerate raises many unrelated types on mismatched states
        raise CheckpointError(f"{path}: cannot restore training state ({type(exc).__name__}: {exc})") from exc
    return state


def state_dict_for_saving(model: nn.Module) -> dict[str, torch.Tensor]:
    """CPU, contiguous, non-shared copies of a model's state dict (what safetensors requires)."""
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}


def save_weights(model: nn.Module, path: str | Path, metadata: Mapping[str, str] | None = None) -> Path:
    """Write ``model``'s weights (already unwrapped) as safetensors, atomically."""
    from safetensors.torch import save

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    meta = {"format": "pt", **{str(k): str(v) for k, v in (metadata or {}).items()}}
    tmp.write_bytes(save(state_dict_for_saving(model), metadata=meta))  # normal umask permissions
    os.replace(tmp, path)
    return path


def write_model_config(run_dir: str | Path, model_name: str | None, model_kwargs: Mapping[str, Any] | None = None,
                       classes: Sequence[Any] | None = None, class_names: Sequence[str] | None = None,
                       modalities: Sequence[str] | None = None, extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``<run>/config.json``, read by ``mmfusion.create_model(name, checkpoint=run_dir)``."""
    card: dict[str, Any] = {
        "model_name": model_name,
        "model_kwargs": to_jsonable(dict(model_kwargs or {})),
        "classes": to_jsonable(list(classes)) if classes is not None else None,
        "class_names": list(class_names) if class_names is not None else None,
        "modalities": list(modalities) if modalities is not None else None,
        "weights": WEIGHTS,
        **to_jsonable(dict(extra or {})),
    }
    return write_json(Path(run_dir) / MODEL_CONFIG, card)
