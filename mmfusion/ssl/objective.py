"""The contract every self-supervised objective follows, and the objective registry.

A batch is ``{"skeleton": (N, C, T, V, M) float32, "index": (N,) int64 dataset indices}``
(plus ``"label"`` (N,), which objectives must not read, and ``"skeleton_<layout>"`` keys for
methods that see several joint conventions of the same clip, e.g. MS-CLR). Augmented views are
made inside the objective, on the batch's device, from an explicit ``torch.Generator``, so
pre-training runs the same on CPU and GPU and does not depend on data workers.

``forward(batch)`` returns ``{"loss": scalar to back-propagate, <part>: detached scalars for
logging}``. ``after_step(step)`` runs after every optimizer step (momentum encoders, prototype
refreshes). ``features(skeleton)`` maps ``(N, C, T, V, M)`` to the ``(N, D)`` representation the
evaluation protocols (linear probe, kNN, fine-tune) use; by default the encoder's pooled output.
Queues and memory banks are tensors (buffers), gathered across processes before they are
written, so that N processes hold what one process fed the global batch would hold.
"""

from __future__ import annotations

import fnmatch
import importlib
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import ConfigError

__all__ = ["OBJECTIVE_MODULES", "PretextObjective", "create_objective", "list_objectives", "objective_builder",
           "objective_module",
           "register_objective"]


class PretextObjective(nn.Module):
    """Base class of the pre-training objectives.

    Attributes:
        encoder: the backbone being pre-trained; after pre-training its ``state_dict`` is what a
            classifier is initialised from.
        stage_params: names of parameter groups a staged method exposes (e.g. STARS' head-only
            stage); the pre-training engine may freeze by these prefixes.
    """

    #: registry name, set by :func:`register_objective`
    name: str = ""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def after_step(self, step: int) -> None:
        """Called after every optimizer step (step counts from 1); default: nothing."""

    @torch.no_grad()
    def features(self, skeleton: Tensor) -> Tensor:
        """``(N, C, T, V, M)`` -> ``(N, D)`` representation for the evaluation protocols."""
        out = self.encoder(skeleton)
        if isinstance(out, Mapping):
            out = out["logits"]
        return out.flatten(1)


ObjectiveFn = Callable[..., PretextObjective]
_objectives: dict[str, ObjectiveFn] = {}
_objective_modules: dict[str, str] = {}

#: every module that registers objectives; a new objective file needs its line here
OBJECTIVE_MODULES: tuple[str, ...] = (
    "mmfusion.ssl.objectives.mamp",
    "mmfusion.ssl.objectives.cascadeformer",
    "mmfusion.ssl.objectives.skeletonmae",
    "mmfusion.ssl.objectives.halp",
    "mmfusion.ssl.objectives.hiclr",
    "mmfusion.ssl.objectives.moco",
    "mmfusion.ssl.objectives.msclr",
    "mmfusion.ssl.objectives.stars",
)

_imported = False


def register_objective(name: str) -> Callable[[ObjectiveFn], ObjectiveFn]:
    """Register a builder ``fn(**cfg) -> PretextObjective`` under ``name``."""

    def deco(fn: ObjectiveFn) -> ObjectiveFn:
        if name in _objectives and _objective_modules[name] != fn.__module__:
            raise ConfigError(f"objective {name!r} registered by both {_objective_modules[name]} and {fn.__module__}")
        _objectives[name] = fn
        _objective_modules[name] = fn.__module__
        return fn

    return deco


def _ensure_imported() -> None:
    global _imported
    if not _imported:
        for module in OBJECTIVE_MODULES:
            importlib.import_module(module)
        _imported = True


def list_objectives(filter: str = "") -> list[str]:
    """Sorted registered objective names matching a shell-style pattern."""
    _ensure_imported()
    return sorted(n for n in _objectives if not filter or fnmatch.fnmatch(n, filter))


def objective_builder(name: str) -> ObjectiveFn:
    """The registered builder of objective ``name``."""
    _ensure_imported()
    if name not in _objectives:
        raise ConfigError(f"unknown pre-training objective {name!r}; choose from {sorted(_objectives)}")
    return _objectives[name]


def objective_module(name: str) -> str:
    """The module that registered objective ``name`` (where its ``PRESETS`` live)."""
    return objective_builder(name).__module__


def create_objective(name: str, **cfg: Any) -> PretextObjective:
    """Build a registered objective (``cfg`` goes to its builder, e.g. ``encoder="mamp_transformer_tiny"``)."""
    _ensure_imported()
    try:
        fn = _objectives[name]
    except KeyError:
        raise ConfigError(f"unknown pre-training objective {name!r}; choose from {sorted(_objectives)}") from None
    obj = fn(**cfg)
    obj.name = name
    return obj
