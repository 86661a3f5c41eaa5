"""Named presets of the pre-training methods and the skeleton-world data the recipes use.

A method's module (``mmfusion.ssl.objectives.<method>``) holds ``PRESETS`` (builder kwargs per
preset: ``"cpu"`` for the synthetic skeleton world on a CPU, ``"paper_ntu60"``, ... for the
paper's settings on real NTU) and optionally ``TRAIN_PRESETS`` (engine settings, plus the clip
length ``clip_len``) and ``STAGES`` (preset -> a list of ``(stage name, objective name, builder
kwargs, engine settings)`` for staged methods; default: one stage of the method itself).
:func:`build_stages` turns them into :class:`~mmfusion.ssl.pretrain.StageConfig` s.
"""

from __future__ import annotations

import importlib
import inspect
import json
import typing
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from ..data.preprocess import center_skeleton
from ..data.skeleton.conventions import derive_conventions
from ..data.skeleton.datasets import SkeletonDataset, split_for
from ..data.synthetic.skeleton_world import META_FILE, SkeletonWorldConfig, generate_skeleton_world, load_packed
from ..data.wrappers import DatasetWrapper
from ..engine import TrainConfig
from ..errors import ConfigError
from .objective import list_objectives, objective_builder, objective_module
from .objectives.msclr import MultiLayoutSkeletons
from .pretrain import StageConfig

__all__ = ["DEFAULT_TRAIN", "CenteredSkeletons", "build_stages", "data_layouts", "method_module", "method_preset",
           "parse_overrides", "world_splits"]

_WORLD_CONVENTIONS = ("ntu25", "smpl24", "h36m17", "coco17")
#: the sub-folder of a generated world with its 3-D conventions (:func:`_derived_3d`)
DERIVED_3D = "derived_3d"

#: engine settings every stage starts from (a preset's TRAIN_PRESETS entry overrides them)
DEFAULT_TRAIN: dict[str, Any] = {"optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.05, "scheduler": "cosine",
                                 "save_every": 1, "keep_last": 1, "log_every": 10, "eval_every": 0}


def method_module(method: str) -> ModuleType:
    """The module that registers ``method`` (its PRESETS / TRAIN_PRESETS / STAGES)."""
    if method not in list_objectives():
        raise ConfigError(f"unknown pre-training method {method!r}; choose from {list_objectives()}")
    return importlib.import_module(objective_module(method))


def method_preset(method: str, preset: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(builder kwargs, engine settings incl. ``clip_len``) of ``method`` at ``preset``."""
    mod = method_module(method)
    presets: Mapping[str, Any] = getattr(mod, "PRESETS", {})
    if preset not in presets:
        raise ConfigError(f"method {method!r} has no preset {preset!r}; choose from {sorted(presets)}")
    train = dict(getattr(mod, "TRAIN_PRESETS", {}).get(preset, {}))
    return dict(presets[preset]), train


def _train_config(settings: Mapping[str, Any], overrides: Mapping[str, Any]) -> TrainConfig:
    names = {f.name for f in fields(TrainConfig)}
    merged = {**DEFAULT_TRAIN, **{k: v for k, v in settings.items() if k in names},
              **{k: v for k, v in overrides.items() if v is not None}}
    unknown = set(merged) - names
    if unknown:
        raise ConfigError(f"unknown engine settings {sorted(unknown)}")
    return TrainConfig(**merged)


def build_stages(method: str, preset: str, train_overrides: Mapping[str, Any] | None = None,
                 objective_overrides: Mapping[str, Any] | None = None) -> tuple[tuple[StageConfig, ...], int]:
    """The stages of ``method`` at ``preset`` and the clip length they expect.

    ``train_overrides`` (TrainConfig fields, None values ignored) apply to every stage;
    ``objective_overrides`` to every stage's builder kwargs.
    """
    mod = method_module(method)
    kwargs, train = method_preset(method, preset)
    clip_len = int(train.pop("clip_len", 64))
    stages_fn = getattr(mod, "STAGES", None)
    plan = stages_fn(preset) if callable(stages_fn) else [(method, method, kwargs, train)]
    out = []
    for name, objective, okw, tset in plan:
        okw = {**okw, **_accepted(objective, objective_overrides or {})}
        out.append(StageConfig(name=name, objective=objective, objective_kwargs=okw,
                               train=_train_config(tset, train_overrides or {})))
    return tuple(out), clip_len


def _builder_params(builder: Any) -> set[str]:
    """Keyword names a builder takes; through ``**kwargs``, those of its returned class's ``__init__`` chain."""
    params = inspect.signature(builder).parameters
    names = {n for n, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        try:
            cls = typing.get_type_hints(builder).get("return")
        except (NameError, TypeError):  # an unresolvable annotation: only the builder's own names
            cls = None
        for klass in getattr(cls, "__mro__", ()):
            if "__init__" in vars(klass) and klass is not object:
                names |= {n for n, p in inspect.signature(klass.__init__).parameters.items()
                          if p.default is not p.empty}  # the required ones (encoder, width) are the builder's
    return names


def parse_overrides(method: str, preset: str, items: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings -> builder kwargs of ``method``'s stages at ``preset`` (VALUE read as JSON,
    else kept as a string). A key that no stage's builder takes is a :class:`ConfigError`."""
    mod = method_module(method)
    stages_fn = getattr(mod, "STAGES", None)
    objectives = [o for _, o, _, _ in stages_fn(preset)] if callable(stages_fn) else [method]
    known: set[str] = set()
    for name in objectives:
        known |= _builder_params(objective_builder(name))
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"objective override {item!r}: expected KEY=VALUE")
        if key not in known:
            raise ConfigError(f"objective override {key!r}: {method} ({preset}) takes {sorted(known)}")
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
    return out


class CenteredSkeletons(DatasetWrapper):
    """CTR-GCN ``seq_translation`` of each clip (:func:`~mmfusion.data.preprocess.center_skeleton`:
    minus SpineMid of the main actor's first present frame; absent frames stay zero), applied
    after the data set's crop (a constant shift per clip, so crop and centring commute up to the
    first frame kept). Other attributes of the wrapped data set stay reachable."""

    def __getitem__(self, i: int) -> dict[str, Any]:
        sample = dict(self.dataset[i])
        x = sample["skeleton"].numpy().transpose(3, 1, 2, 0)  # (M, T, V, C)
        sample["skeleton"] = torch.from_numpy(np.ascontiguousarray(center_skeleton(x).transpose(3, 1, 2, 0)))
        return sample


def _accepted(objective: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The overrides the objective's builder takes (e.g. ``seed`` only where it has one)."""
    params = inspect.signature(objective_builder(objective)).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(overrides)
    return {k: v for k, v in overrides.items() if k in params}


def _world(cache_dir: str | Path, classes: int, layouts: Sequence[str] = ("ntu25",), channels: int = 3) -> Path:
    """The folder whose ``packed/`` holds ``layouts``: real packed data as it is, else the skeleton
    world (generated when absent); a world's other conventions as 3-D (``channels`` 3) come from
    :func:`_derived_3d`."""
    root = Path(cache_dir)
    packed = root / "packed"
    if (packed / "index.npz").is_file() and not (root / META_FILE).exists():  # real data packed in the world's layout
        missing = [n for n in layouts if not (packed / f"{n}.npy").is_file()]
        if missing:
            raise ConfigError(f"{root}: no packed/{missing[0]}.npy (the method reads the conventions {list(layouts)}; "
                              "3-D ones can be re-expressed from ntu25 by data_tools/derive_conventions.py)")
        return root
    others = [n for n in layouts if n != "ntu25"]
    three_d = channels == 3 and bool(others)
    if not _world_complete(root):
        # the world packs ntu25 plus its 2-D conventions; other names fail when they are read
        conventions = ("ntu25",) if three_d else tuple(
            dict.fromkeys(("ntu25", *(n for n in layouts if n in _WORLD_CONVENTIONS))))
        print(f"[ssl] generating the skeleton world ({classes} classes, {', '.join(conventions)}) under {root} "
              "(packed arrays only)")
        generate_skeleton_world(root, SkeletonWorldConfig(classes=classes, conventions=conventions),
                                write_files=False)
    return _derived_3d(root, others) if three_d else root


def _world_complete(root: Path) -> bool:
    try:
        return bool(json.loads((root / META_FILE).read_text()).get("complete"))
    except (OSError, ValueError):
        return False


def _derived_3d(root: Path, layouts: Sequence[str]) -> Path:
    """``root/derived_3d``: the world's clips in ``layouts`` as 3-D camera coordinates, re-expressed
    from its noisy ``ntu25`` (:func:`~mmfusion.data.skeleton.conventions.derive_conventions`), a
    folder read like real packed data. Why: the world packs the other conventions as 2-D pixels
    (a 2-D estimator's view) while MS-CLR pairs metric 3-D skeletons (MeTRAbs); derived once,
    again when the world's ``ntu25`` is newer than a derived array."""
    out = root / DERIVED_3D
    source = (root / "packed" / "ntu25.npy").stat().st_mtime
    stale = [n for n in layouts
             if not (p := out / "packed" / f"{n}.npy").is_file() or p.stat().st_mtime < source]
    if stale:
        print(f"[ssl] re-expressing the world's ntu25 clips as 3-D {', '.join(stale)} under {out}")
        derive_conventions(root, out, stale)
    return out


def data_layouts(kwargs: Mapping[str, Any]) -> tuple[tuple[str, ...] | None, int]:
    """(joint conventions, channels) a method's data must serve, from its builder kwargs (MS-CLR:
    ``layouts`` and ``encoder_kwargs``) or an encoder card's model kwargs (``layouts``,
    ``in_channels``); ``(None, 3)``: one ``ntu25`` clip per sample (every other method)."""
    enc = kwargs.get("encoder_kwargs") or {}
    layouts = kwargs.get("layouts") or enc.get("layouts")
    channels = int(kwargs.get("in_channels") or enc.get("in_channels") or 3)
    return (tuple(layouts) if layouts else None), channels


def _multi_layout(root: Path, layouts: tuple[str, ...], channels: int, dataset: str, protocol: str,
                  clip_len: int, seed: int, center: bool) -> tuple[MultiLayoutSkeletons, ...]:
    """(train, train_plain, test) serving every convention of each clip (MS-CLR)."""
    arrays = {}
    for name in layouts:
        arrays[name], labels, names, _ = load_packed(root, name)
    split = [split_for(n, dataset, protocol) for n in names]

    def make(which: str, train: bool) -> MultiLayoutSkeletons:
        rows = [i for i, s in enumerate(split) if s == which]
        return MultiLayoutSkeletons(arrays, labels, rows, channels=channels, window=clip_len, train=train,
                                    center=center, seed=seed)

    return make("train", True), make("train", False), make("test", False)


def world_splits(cache_dir: str | Path, protocol: str = "xsub", clip_len: int = 32, classes: int = 60,
                 keep_classes: range | None = None, seed: int = 0, center: bool = True,
                 layouts: Sequence[str] | None = None, channels: int = 3) -> tuple[Dataset, Dataset, Dataset]:
    """(train with random crops, train without (for features), test) of the skeleton world.

    Clips: the CTR-GCN family (valid crop U[0.5, 1] for training, 0.95 otherwise, resized to
    ``clip_len``), (3, clip_len, 25, 2), centred like CTR-GCN's ``seq_transformation`` (the data
    MAMP, STARS and CascadeFormer train on; the world's packed arrays are camera coordinates)
    unless ``center=False``. ``keep_classes`` keeps only those labels (0-based), e.g. the classes
    seen in pre-training for few-shot on the others.

    ``layouts`` (MS-CLR): every sample holds those conventions of one clip
    (:class:`~mmfusion.ssl.objectives.msclr.MultiLayoutSkeletons`, ``packed/<layout>.npy``):
    ``"skeleton_<layout>"`` (``channels``, clip_len, V, M) each, the same crop in all of them,
    ``"skeleton"`` the first; image conventions normalised, 3-D ones centred (``center``). On a
    generated world ``channels`` 3 serves the other conventions as 3-D, re-expressed from its
    ``ntu25`` under ``<cache_dir>/derived_3d`` (MS-CLR's setting: metric 3-D in every convention).
    """
    root = _world(cache_dir, classes, tuple(layouts) if layouts else ("ntu25",), channels)
    dataset = "ntu60" if classes == 60 else "ntu120"
    train: Dataset
    train_plain: Dataset
    test: Dataset
    if layouts:
        train, train_plain, test = _multi_layout(root, tuple(layouts), channels, dataset, protocol, clip_len,
                                                 seed, center)
        labels = train.labels
    else:
        data, labels, names, _ = load_packed(root)

        def make(split: str) -> SkeletonDataset:
            return SkeletonDataset(data, labels, names, dataset=dataset, protocol=protocol, split=split,
                                   family="ctrgcn", window=clip_len, seed=seed)

        train, train_plain, test = make("train"), make("train"), make("test")
        train_plain.train = False  # the deterministic 0.95 crop: features for probes
        if center:
            train, train_plain, test = CenteredSkeletons(train), CenteredSkeletons(train_plain), CenteredSkeletons(test)
    if keep_classes is None:
        return train, train_plain, test
    keep = set(keep_classes)

    def sub(ds: Any) -> Dataset:
        idx = [i for i, j in enumerate(ds.index) if int(labels[j]) in keep]
        s = Subset(ds, idx)
        s.class_names = None  # type: ignore[attr-defined]
        return s

    return sub(train), sub(train_plain), sub(test)
