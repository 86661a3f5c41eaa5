"""A timm-style model registry with a typed config beside every entry.

Model files decorate an entry function with :func:`register_model`; users call
:func:`create_model` with the registered name and keyword overrides::

    import mmfusion
    model = mmfusion.create_model("xshiftnet_rgb", num_classes=60)
    mmfusion.list_models("xshift*")
    cfg = mmfusion.get_model_cfg("xshiftnet_rgb")          # ModelCfg: inputs, classes, paper figures
    batch = mmfusion.dummy_inputs("xshiftnet_rgb", batch_size=2)

Entry functions take keyword arguments only and return ONE class of ``nn.Module`` whatever the
keyword arguments. Registration is explicit: :mod:`mmfusion.models` imports every module that
registers models by name; :func:`list_models` and friends import it on first use, so
``import mmfusion`` stays light. Weights and run folders: :mod:`mmfusion.runs`; ``pretrained=``
(official checkpoints, Hub folders) is resolved by :mod:`mmfusion.models.pretrained`, which fills
this module's loader hook when the registry imports it (this layer never imports the models).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from .errors import ConfigError
from .model_cfg import ModelCfg, make_inputs
from .runs import check_state_fits, load_weights, read_safetensors, resolve_checkpoint

__all__ = ["check_state_fits", "create_model", "dummy_inputs", "get_model_cfg", "is_model", "list_models",
           "load_weights", "model_entrypoint", "model_tags", "read_safetensors", "register_model",
           "register_pretrained_loader"]

ModelFn = Callable[..., nn.Module]

_model_entrypoints: dict[str, ModelFn] = {}
_model_to_module: dict[str, str] = {}
_model_tags: dict[str, tuple[str, ...]] = {}
_model_cfgs: dict[str, ModelCfg] = {}
#: ``create_model(pretrained=...)``'s loader: ``fn(name, pretrained, **kwargs) -> nn.Module``, set by
#: :data:`HOOK_MODULES` on import (a table filled from above keeps this layer free of model imports)
_pretrained_loader: list[Callable[..., nn.Module]] = []


def register_model(fn: ModelFn | None = None, *, name: str | None = None, tags: tuple[str, ...] = (),
                   cfg: ModelCfg | None = None) -> Any:
    """Register a model entry function (usable as ``@register_model`` or ``@register_model(cfg=...)``).

    ``tags`` group models for listing (``"encoder"``, ``"fusion"``, ``"skeleton"``, ``"test"`` ...);
    ``cfg`` is the entry's :class:`~mmfusion.model_cfg.ModelCfg` (inputs, classes, paper figures).
    Registering a name twice from different modules is a :class:`ConfigError`: one silently
    replacing the other would change what ``create_model`` builds.
    """

    def deco(f: ModelFn) -> ModelFn:
        key = name or f.__name__
        if key in _model_entrypoints and _model_to_module[key] != f.__module__:
            raise ConfigError(f"model {key!r} registered by both {_model_to_module[key]} and {f.__module__}")
        _model_entrypoints[key] = f
        _model_to_module[key] = f.__module__
        _model_tags[key] = tuple(tags)
        if cfg is not None:
            _model_cfgs[key] = cfg
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


def register_pretrained_loader(fn: Callable[..., nn.Module]) -> None:
    """Set the function behind ``create_model(name, pretrained=...)`` (one; the last call wins)."""
    _pretrained_loader[:] = [fn]


def create_model(name: str, checkpoint: str | Path | None = None, pretrained: str | Path | None = None,
                 **kwargs: Any) -> nn.Module:
    """Build a registered model.

    Args:
        name: registered model name (see :func:`list_models`).
        checkpoint: optional path to a ``.safetensors`` file or a run folder
            (``model.safetensors`` + ``config.json``, see :mod:`mmfusion.runs`). The JSON's
            ``model_kwargs`` are used as defaults, explicit ``kwargs`` win. Weights load with
            ``strict=True``.
        pretrained: like ``checkpoint``, and also an official checkpoint (``.pth``, converted by the
            model's converter, see :mod:`mmfusion.models.converters`) or a Hugging Face Hub id.
        **kwargs: passed to the entry function; ``None`` values are dropped (timm semantics).

    The model remembers how it was made (``model.mmfusion_cfg``: ``model_name``, ``model_kwargs``),
    which ``mmfusion.save_pretrained`` writes beside its weights.
    """
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if pretrained is not None:
        if checkpoint is not None:
            raise ConfigError(f"create_model({name!r}): give checkpoint= or pretrained=, not both")
        model_entrypoint(name)  # imports the model modules and the pretrained loader
        return _pretrained_loader[0](name, pretrained, **kwargs)
    weights: Path | None = None
    if checkpoint is not None:
        weights, saved = resolve_checkpoint(checkpoint, name)
        kwargs = {**saved, **kwargs}
    model = model_entrypoint(name)(**kwargs)
    if weights is not None:
        load_weights(model, weights)
    model.mmfusion_cfg = {"model_name": name, "model_kwargs": kwargs}  # read by save_pretrained
    return model


def model_tags(name: str) -> tuple[str, ...]:
    """The tags ``name`` was registered with."""
    model_entrypoint(name)
    return _model_tags[name]


def get_model_cfg(name: str) -> ModelCfg:
    """The :class:`~mmfusion.model_cfg.ModelCfg` registered with ``name``."""
    model_entrypoint(name)
    try:
        return _model_cfgs[name]
    except KeyError:
        raise ConfigError(f"model {name!r} ({_model_to_module[name]}) was registered without a cfg") from None


def dummy_inputs(name: str, batch_size: int = 2, **overrides: Any) -> dict[str, Tensor]:
    """A valid batch for ``name`` built from its config alone.

    ``overrides``: ``seed``, ``clip_len`` (resize every ``T`` axis), ``shapes`` (per-sample shapes by
    key), ``device``, ``labels`` (add ``"label"`` class ids); see :func:`mmfusion.model_cfg.make_inputs`.
    """
    return make_inputs(get_model_cfg(name), batch_size, **overrides)


#: every module that registers models, by name; a new model file needs its line here. Imported
#: on first use of the registry (not by ``import mmfusion``); a module that fails to import
#: raises instead of leaving its models silently missing.
MODEL_MODULES: tuple[str, ...] = (
    "mmfusion.encoders.frame2d",
    "mmfusion.encoders.xshiftnet",
    "mmfusion.encoders.stgcn",
    "mmfusion.encoders.hypergcn",
    "mmfusion.encoders.skeleton_transformer",
    "mmfusion.encoders.point_sequence",
    "mmfusion.fusion.mcu",
    "mmfusion.fusion.cfem",
    "mmfusion.fusion.pose_guided_attention",
    "mmfusion.models.classifiers",
    "mmfusion.models.skeleton_zoo",
    "mmfusion.models.brl",
    "mmfusion.models.msclr_zoo",
    "mmfusion.models.unimodal",
    "mmfusion.models.mmixer",
    "mmfusion.models.epam_net",
    "mmfusion.models.deform3d",
    "mmfusion.models.finetec",
    "mmfusion.pose.pointnet_pose",
    "mmfusion.pose.a2j",
)

#: modules that fill this module's hooks (:func:`register_pretrained_loader`), imported with the models
HOOK_MODULES: tuple[str, ...] = ("mmfusion.models.pretrained",)

_imported = False


def _ensure_imported() -> None:
    """Import every module of :data:`MODEL_MODULES` (once; they register their entries)."""
    global _imported
    if not _imported:
        import importlib

        for module in (*MODEL_MODULES, *HOOK_MODULES):
            importlib.import_module(module)
        _imported = True
