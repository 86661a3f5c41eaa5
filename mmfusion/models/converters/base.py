"""Official checkpoint -> mmfusion state dict: reading, renaming and the strict fit, shared by every source.

An official ``.pth`` is read with ``torch.load(weights_only=True)`` only (no arbitrary unpickling),
unwrapped from its ``state_dict`` / ``model`` / ``net`` nesting and ``module.`` prefixes, renamed by the
source's :class:`Converter` rules and then fitted onto the registered model by :func:`fit_state`:

* a Conv2d 1x1 classifier (``(K, D, 1, 1)``) fills our ``Linear`` ``(K, D)``;
* a frozen graph buffer of the official model (``A``) that our model keeps as a non-persistent buffer
  is compared with ours and dropped (a different graph means weights trained on another skeleton:
  refused);
* a ``num_batches_tracked`` counter missing from pre-0.4.1 files is filled with 0 (used only by
  ``momentum=None`` BatchNorm);
* anything else that does not map one-to-one is a :class:`~mmfusion.errors.CheckpointError`
  naming the first missing and the first unexpected key with their shapes.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ...errors import CheckpointError, ConfigError

__all__ = ["Conversion", "Converter", "fit_state", "read_official", "shift_index", "unwrap_state"]

#: keys under which training scripts nest the weights (mmcv / pyskl ``state_dict``, MAE-style ``model``,
#: torchlight ``net``), tried in this order at every level
NEST_KEYS: tuple[str, ...] = ("state_dict", "model", "model_state_dict", "net", "module")
#: wrappers' prefixes removed from every key (DataParallel / DDP)
STRIP_PREFIXES: tuple[str, ...] = ("module.",)

StateDict = dict[str, Tensor]
Repl = str | Callable[[re.Match[str]], str]


def shift_index(prefix: str, offset: int = -1) -> Callable[[re.Match[str]], str]:
    """A replacement writing ``prefix`` + (first group + ``offset``) + ``.``: ``l1.`` -> ``layers.0.``."""
    return lambda m: f"{prefix}{int(m.group(1)) + offset}."


def read_official(path: str | Path) -> StateDict:
    """Tensors of an official ``.pth``, read with ``torch.load(weights_only=True)`` and unwrapped.

    ``argparse.Namespace`` (the ``args`` entry of MAE-style checkpoints such as MAMP's) is allowed as
    a plain record; any other pickled object is refused by torch and reported here.

    Raises:
        CheckpointError: the file is missing, not a torch file, holds objects ``weights_only`` refuses,
            or holds no tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError ... on bad files
        raise CheckpointError(f"{path}: not loadable with torch.load(weights_only=True) ({exc}); mmfusion never "
                              f"unpickles arbitrary objects") from exc
    return unwrap_state(obj, path)


def unwrap_state(obj: Any, path: str | Path = "<memory>") -> StateDict:
    """The flat ``{name: tensor}`` inside ``obj`` (nesting under :data:`NEST_KEYS` and ``module.`` removed)."""
    while isinstance(obj, Mapping) and not _is_state(obj):
        inner = next((obj[k] for k in NEST_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            raise CheckpointError(f"{path}: no tensors found (top-level keys {sorted(map(str, obj))[:8]}; expected a "
                                  f"state dict or one nested under {list(NEST_KEYS)})")
        obj = inner
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path}: expected a state dict, got {type(obj).__name__}")
    state: StateDict = {}
    for key, value in obj.items():
        if not isinstance(value, Tensor):
            continue  # e.g. torchlight's plain ints, mmcv metadata
        for prefix in STRIP_PREFIXES:
            while key.startswith(prefix):
                key = key[len(prefix):]
        state[key] = value
    return state


def _is_state(obj: Mapping[str, Any]) -> bool:
    return any(isinstance(v, Tensor) for v in obj.values())


@dataclass
class Conversion:
    """What a converter made of one official state dict.

    ``state``: tensors under our names; ``model_name`` / ``model_kwargs``: the registered entry they
    fill (``num_classes`` read from the classifier); ``dropped``: official keys recognised as
    training-only state (momentum encoder, queue, decoder) and left out on purpose;
    ``backbone_only``: a pre-training file without classifier, which fills the model's backbone
    (strictly) and leaves the head as initialised; ``fresh``: our keys not from the file (set on load).
    """

    source: str
    model_name: str
    model_kwargs: dict[str, Any]
    state: StateDict
    dropped: list[str] = field(default_factory=list)
    backbone_only: bool = False
    fresh: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Converter:
    """How one official code base's checkpoints map onto mmfusion's models.

    Args:
        source: the name given to ``mmfusion convert --from``.
        models: registered names this source fills; the first is the default.
        official: where the checkpoints come from (repository and model file), for messages and docs.
        rules: ``(regex, replacement)`` renames applied in order to every official key (``re.sub``; a
            replacement may be a function of the match, e.g. :func:`shift_index` for 1-based names).
        head: our key of the classifier weight; ``num_classes`` is read from it. A file without any
            key outside ``backbone`` (a pre-training checkpoint) fills the backbone only.
        backbone: prefix of the backbone in our model (``encoder.``).
        ignore: regexes of official keys that are training-only state, dropped and reported.
        zeros: regexes of official constant buffers that must be all zeros (an additive base the
            official code keeps in its state dict, e.g. DSTA-Net's ``atts``); dropped after checking.
        prepare: normalises one official layout variant into the other before renaming (e.g. a
            fork that split a Sequential).
        transforms: our key regex -> function giving our tensor from the official one (layout changes
            beyond a squeeze, e.g. a patch-embedding Conv2d that is a Linear here).
        choose_model: picks the entry from the renamed state (e.g. PSUMNet's part stream by joint count).
        infer_kwargs: further model arguments read from the renamed state (e.g. PYSKL's skeleton layout).
    """

    source: str
    models: tuple[str, ...]
    official: str
    rules: tuple[tuple[str, Repl], ...]
    head: str | None = "head.weight"
    backbone: str = "encoder."
    ignore: tuple[str, ...] = ()
    zeros: tuple[str, ...] = ()
    prepare: Callable[[Mapping[str, Tensor]], dict[str, Tensor]] | None = None
    transforms: Mapping[str, Callable[[Tensor], Tensor]] = field(default_factory=dict)
    choose_model: Callable[[Mapping[str, Tensor]], str] | None = None
    infer_kwargs: Callable[[Mapping[str, Tensor]], dict[str, Any]] | None = None

    def rename(self, key: str) -> str:
        for pattern, repl in self.rules:
            key = re.sub(pattern, repl, key)
        return key

    def convert(self, state: Mapping[str, Tensor], model_name: str | None = None) -> Conversion:
        """Rename ``state`` (an unwrapped official state dict) for ``model_name`` (default: chosen / first)."""
        out: StateDict = {}
        dropped: list[str] = []
        if self.prepare is not None:
            state = self.prepare(state)
        for key, value in state.items():
            if any(re.search(p, key) for p in self.ignore):
                dropped.append(key)
                continue
            if any(re.search(p, key) for p in self.zeros):
                if value.is_floating_point() and bool(value.abs().max() > 0):
                    raise CheckpointError(f"{self.source} converter: {key!r} is a constant zero buffer in the official "
                                          f"code but holds non-zero values here (a modified model?)")
                continue
            new = self.rename(key)
            for pattern, fn in self.transforms.items():
                if re.fullmatch(pattern, new):
                    value = fn(value)
            if new in out:
                raise CheckpointError(f"{self.source} converter: official keys map twice onto {new!r}")
            out[new] = value
        if model_name is None:
            model_name = self.choose_model(out) if self.choose_model is not None else self.models[0]
        elif model_name not in self.models:
            raise ConfigError(f"the {self.source!r} converter fills {list(self.models)}, not {model_name!r}")
        kwargs: dict[str, Any] = {}
        if self.head is not None and self.head in out:
            kwargs["num_classes"] = int(out[self.head].shape[0])
        if self.infer_kwargs is not None:
            kwargs.update(self.infer_kwargs(out))
        backbone_only = bool(out) and all(k.startswith(self.backbone) for k in out)
        return Conversion(self.source, model_name, kwargs, out, dropped, backbone_only)


def _shape(t: Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def fit_state(model: nn.Module, state: Mapping[str, Tensor], path: str | Path, what: str) -> StateDict:
    """``state`` made loadable into ``model`` with ``strict=True``, or a :class:`CheckpointError`.

    See the module docstring for the three tolerated differences (1x1-conv heads, frozen graph
    buffers equal to ours, missing ``num_batches_tracked``). The error names ``path``, ``what`` (the
    model / converter), the first missing and the first unexpected key with their shapes, and how
    many there are of each.
    """
    own = model.state_dict()
    buffers = dict(model.named_buffers(remove_duplicate=False))  # units may share one graph tensor
    out: StateDict = {}
    unexpected: list[str] = []
    for key, value in state.items():
        if key in own:
            target = own[key]
            extra = _shape(value)[target.dim():]
            if _shape(value)[:target.dim()] == _shape(target) and extra and all(s == 1 for s in extra):
                value = value.reshape(target.shape)  # Conv2d 1x1 classifier (K, D, 1, 1) -> Linear (K, D)
            if _shape(value) != _shape(target):
                raise CheckpointError(f"{path}: does not fit {what}: {key!r} has shape {_shape(value)} in the "
                                      f"checkpoint, {_shape(target)} in the model")
            out[key] = value.to(target.dtype) if target.is_floating_point() else value
        elif key in buffers and buffers[key].is_floating_point():
            ours = buffers[key]
            if _shape(value) != _shape(ours) or not torch.allclose(value.to(ours), ours, atol=1e-5):
                raise CheckpointError(f"{path}: does not fit {what}: the frozen graph {key!r} of the checkpoint "
                                      f"differs from the model's (weights trained on another skeleton graph or layout)")
        else:
            unexpected.append(key)
    missing = [k for k in own if k not in out]
    for key in [k for k in missing if k.endswith("num_batches_tracked")]:
        out[key] = torch.zeros((), dtype=torch.long)  # absent from pre-0.4.1 checkpoints
        missing.remove(key)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing, first {missing[0]!r} {_shape(own[missing[0]])}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected, first {unexpected[0]!r} {_shape(state[unexpected[0]])}")
        raise CheckpointError(f"{path}: does not map completely onto {what}: {'; '.join(parts)}")
    return {k: out[k] for k in own}
