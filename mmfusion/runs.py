"""A run folder in one module: safetensors weights + ``config.json``, written and read here.

Layout of a run folder (what the engine writes and ``create_model(name, checkpoint=run_dir)`` reads)::

    <run_dir>/model.safetensors   the model's state dict (CPU, contiguous)
    <run_dir>/config.json         {"model_name", "model_kwargs", "classes", "class_names",
                                   "modalities", "weights", ...dataset / training settings}

:func:`save_run` writes both; :func:`read_run_config` / :func:`resolve_checkpoint` read them;
:func:`load_weights` loads a safetensors file into a model and turns any mismatch into a
:class:`~mmfusion.errors.CheckpointError` naming the file and the first mismatching key.
Weights are only ever read with safetensors (never pickle).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import CheckpointError

__all__ = ["MODEL_CONFIG", "WEIGHTS", "check_state_fits", "load_weights", "read_run_config", "read_safetensors",
           "resolve_checkpoint", "save_run", "save_weights", "state_dict_for_saving", "to_jsonable",
           "write_model_config"]

WEIGHTS = "model.safetensors"
MODEL_CONFIG = "config.json"


# -- JSON -------------------------------------------------------------------------------------------

def to_jsonable(obj: Any) -> Any:
    """Dataclasses, paths, tuples and numbers as plain JSON values (tuples become lists)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and obj != obj:  # NaN is not valid JSON
        return None
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if hasattr(obj, "item") and callable(obj.item):  # 0-d tensors / numpy scalars
        return to_jsonable(obj.item())
    return str(obj)


def write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically (temp file + ``os.replace``)."""
    text = json.dumps(to_jsonable(obj), indent=2, allow_nan=False) + "\n"
    return _write_atomic(Path(path), text.encode())


def _write_atomic(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)  # a reader never sees half a file
    return path


def nonfinite_entries(state_dict: Mapping[str, torch.Tensor]) -> list[str]:
    """Names of floating-point tensors in ``state_dict`` holding NaN or inf (one fused check per device)."""
    items = [(k, v) for k, v in state_dict.items() if isinstance(v, torch.Tensor) and v.is_floating_point()
             and v.numel()]
    if not items:
        return []
    by_device: dict[torch.device, list[int]] = {}
    for i, (_, v) in enumerate(items):
        by_device.setdefault(v.device, []).append(i)
    bad: list[int] = []
    for idx in by_device.values():  # one stacked flag vector, one host sync per device
        ok = torch.stack([torch.isfinite(items[i][1]).all() for i in idx]).cpu()
        bad += [idx[j] for j in (~ok).nonzero().flatten().tolist()]
    return [items[i][0] for i in sorted(bad)]


def assert_finite_state(state_dict: Mapping[str, torch.Tensor], path: str | os.PathLike[str]) -> None:
    """Refuse to write ``path`` when a floating tensor of ``state_dict`` is not finite.

    Raises:
        CheckpointError: naming ``path`` and (up to five of) the offending tensors.
    """
    bad = nonfinite_entries(state_dict)
    if bad:
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise CheckpointError(f"{path}: refusing to write non-finite (NaN/inf) weights: {', '.join(bad[:5])}{more}; "
                              f"the run diverged -- resume from an earlier checkpoint with a lower learning rate "
                              f"or nonfinite='skip'")


# -- weights ----------------------------------------------------------------------------------------

def state_dict_for_saving(model: nn.Module) -> dict[str, torch.Tensor]:
    """CPU, contiguous, non-shared copies of a model's state dict (what safetensors requires)."""
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}


def save_weights(model: nn.Module, path: str | Path, metadata: Mapping[str, str] | None = None) -> Path:
    """Write ``model``'s weights (already unwrapped) as safetensors, atomically."""
    from safetensors.torch import save

    state = state_dict_for_saving(model)
    assert_finite_state(state, path)  # NaN weights must never become a model file
    meta = {"format": "pt", **{str(k): str(v) for k, v in (metadata or {}).items()}}
    return _write_atomic(Path(path), save(state, metadata=meta))


def read_safetensors(path: str | Path) -> dict[str, Any]:
    """All tensors of a safetensors file (CPU); an unreadable file is a :class:`CheckpointError` naming it."""
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as exc:  # safetensors raises several unrelated types on bad files
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from exc


def check_state_fits(module: nn.Module, state: Mapping[str, Any], path: str | Path, what: str | None = None,
                     strict: bool = True) -> None:
    """Raise :class:`CheckpointError` unless ``state`` can be loaded into ``module``.

    A shape mismatch is always an error and names the first mismatching key (in the module's
    ``state_dict`` order) with both shapes; with ``strict`` missing / unexpected keys are too.
    ``what`` names the target in the message (default: the module's class name).
    """
    what = what or type(module).__name__
    own = module.state_dict()
    for key, value in own.items():
        # torch reports every size mismatch in one long RuntimeError without the file; name both here
        if key in state and tuple(value.shape) != tuple(state[key].shape):
            raise CheckpointError(
                f"{path}: weights do not fit {what}: {key!r} has shape {tuple(state[key].shape)} "
                f"in the checkpoint, {tuple(value.shape)} in the model")
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if strict and (missing or unexpected):
        raise CheckpointError(f"{path}: weights do not fit {what}: missing={missing[:5]} unexpected={unexpected[:5]}")


def load_weights(model: nn.Module, path: str | Path, strict: bool = True) -> None:
    """Load safetensors weights into ``model``; a mismatch is a :class:`CheckpointError`.

    The error names the file and, for a shape mismatch, the first mismatching key (in the model's
    ``state_dict`` order) with both shapes. ``strict=False`` tolerates missing / unexpected keys,
    never a wrong shape.
    """
    state = read_safetensors(path)
    check_state_fits(model, state, path, strict=strict)
    try:
        model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # anything torch still refuses (e.g. a module's own load hook)
        found = re.search(r"for (\S+?):", str(exc))
        first = found.group(1) if found else next(iter(state), "<empty>")
        raise CheckpointError(f"{path}: weights do not fit {type(model).__name__} (first mismatching key "
                              f"{first!r}): {exc}") from exc


# -- run folders ------------------------------------------------------------------------------------

def write_model_config(run_dir: str | Path, model_name: str | None, model_kwargs: Mapping[str, Any] | None = None,
                       classes: Sequence[Any] | None = None, class_names: Sequence[str] | None = None,
                       modalities: Sequence[str] | None = None, extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``<run>/config.json``, read by ``mmfusion.create_model(name, checkpoint=run_dir)``.

    ``extra`` carries dataset / training settings (clip length, layout, ...) beside the model's.
    """
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


def save_run(run_dir: str | Path, model: nn.Module, model_name: str, model_kwargs: Mapping[str, Any] | None = None,
             **settings: Any) -> Path:
    """Write a loadable run folder: ``model.safetensors`` + ``config.json``; returns ``run_dir``.

    ``settings`` are the other ``config.json`` fields (``classes``, ``class_names``,
    ``modalities``, and ``extra``: a mapping of dataset settings).
    """
    run_dir = Path(run_dir)
    save_weights(model, run_dir / WEIGHTS, metadata={"model_name": model_name})
    write_model_config(run_dir, model_name, model_kwargs, **settings)
    return run_dir


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    """``<run_dir>/config.json`` as a dict; a missing or broken file is a :class:`CheckpointError`."""
    path = Path(run_dir) / MODEL_CONFIG
    if not path.exists():
        raise CheckpointError(f"{path}: run folder has no {MODEL_CONFIG}")
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(cfg, dict):
        raise CheckpointError(f"{path}: expected a JSON object, got {type(cfg).__name__}")
    return cfg


def resolve_checkpoint(checkpoint: str | Path, name: str | None = None) -> tuple[Path, dict[str, Any]]:
    """``(weights file, model_kwargs)`` of a ``.safetensors`` file or a run folder.

    A run folder's ``config.json`` (when present) must name ``name``; its ``model_kwargs`` are
    returned so that the caller can use them as defaults.
    """
    ckpt = Path(checkpoint)
    kwargs: dict[str, Any] = {}
    if ckpt.is_dir():
        if (ckpt / MODEL_CONFIG).exists():
            cfg = read_run_config(ckpt)
            if name is not None and cfg.get("model_name", name) != name:
                raise CheckpointError(f"{ckpt / MODEL_CONFIG}: checkpoint is for model {cfg['model_name']!r}, "
                                      f"not {name!r}")
            kwargs = dict(cfg.get("model_kwargs") or {})
            ckpt = ckpt / str(cfg.get("weights") or WEIGHTS)
        else:
            ckpt = ckpt / WEIGHTS
    if not ckpt.exists():
        raise CheckpointError(f"{ckpt}: checkpoint file not found")
    return ckpt, kwargs
