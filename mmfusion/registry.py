"""A timm-style model registry.

Model files decorate an entry function with :func:`register_model`; users call
:func:`create_model` with the registered name and keyword overrides::

    import mmfusion
    model = mmfusion.create_model("xshiftnet_rgb", num_classes=60)
    mmfusion.list_models("xshift*")

Entry functions take keyword arguments only and return an ``nn.Module``. The module that
defines them must be imported by ``mmfusion.models`` so that registration happens on
``import mmfusion``.
"""

from __future__ import annotations

import fnmatch
import json
import re
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from torch import nn

from .errors import CheckpointError, ConfigError

ModelFn = Callable[..., nn.Module]

_model_entrypoints: dict[str, ModelFn] = {}
_model_to_module: dict[str, str] = {}
_model_tags: dict[str, tuple[str, ...]] = {}


def register_model(fn: ModelFn | None = None, *, name: str | None = None,
                   tags: tuple[str, ...] = ()) -> Any:
    """Register a model entry function (usable as ``@register_model`` or ``@register_model(name=...)``).

    ``tags`` group models for listing (``"encoder"``, ``"fusion"``, ``"skeleton"``, ``"test"`` ...).
    """

    def deco(f: ModelFn) -> ModelFn:
        key = name or f.__name__
        if key in _model_entrypoints and _model_to_module[key] != f.__module__:
            warnings.warn(f"model {key!r} re-registered by {f.__module__}", stacklevel=2)
        _model_entrypoints[key] = f
        _model_to_module[key] = f.__module__
        _model_tags[key] = tuple(tags)
        return f

    return deco(fn) if fn is not None else deco


def list_models(filter: str = "", tag: str | None = None) -> list[str]:
    """Sorted registered names matching a shell-style pattern (``"*gcn*"``) and optional tag."""
    _ensure_imported()
    names = sorted(_model_entrypoints)
    if filter:
        names = [n for n in names if fnmatch.fnmatch(n, filter)]
    if tag is not None:
        names = [n for n in names if tag in _model_tags[n]]
    return names


def is_model(name: str) -> bool:
    _ensure_imported()
    return name in _model_entrypoints


def model_entrypoint(name: str) -> ModelFn:
    _ensure_imported()
    try:
        return _model_entrypoints[name]
    except KeyError:
        close = fnmatch.filter(_model_entrypoints, f"*{name.split('_')[0]}*")
        hint = f" (did you mean one of {close[:5]}?)" if close else ""
        raise ConfigError(f"unknown model {name!r}{hint}; see mmfusion.list_models()") from None


def create_model(name: str, checkpoint: str | Path | None = None, **kwargs: Any) -> nn.Module:
    """Build a registered model.

    Args:
        name: registered model name (see :func:`list_models`).
        checkpoint: optional path to a ``.safetensors`` file or a run folder written by the
            engine (``model.safetensors`` + ``config.json``). The JSON's ``model_kwargs``
            are used as defaults, explicit ``kwargs`` win. Weights load with ``strict=True``.
        **kwargs: passed to the entry function; ``None`` values are dropped (timm semantics).
    """
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    weights: Path | None = None
    if checkpoint is not None:
        ckpt = Path(checkpoint)
        if ckpt.is_dir():
            cfg_file = ckpt / "config.json"
            if cfg_file.exists():
                cfg = json.loads(cfg_file.read_text())
                if cfg.get("model_name", name) != name:
                    raise CheckpointError(f"{cfg_file}: checkpoint is for model {cfg['model_name']!r}, not {name!r}")
                kwargs = {**cfg.get("model_kwargs", {}), **kwargs}
            ckpt = ckpt / "model.safetensors"
        if not ckpt.exists():
            raise CheckpointError(f"{ckpt}: checkpoint file not found")
        weights = ckpt
    model = model_entrypoint(name)(**kwargs)
    if weights is not None:
        load_weights(model, weights)
    return model


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


_imported = False


def _ensure_imported() -> None:
    """Import the model zoo lazily so that ``mmfusion.registry`` itself stays light."""
    global _imported
    if not _imported:
        _imported = True
        import mmfusion.models  # noqa: F401
