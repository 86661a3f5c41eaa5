"""Training skeleton runs: the recipe config, one run per (model, stream), multi-stream tables.

:class:`SkeletonRecipe` = the data options (:class:`~mmfusion.experiments.skeleton.SkeletonData`)
+ models, preset and engine settings; ``recipes/skeleton_ntu.py`` trains one stream of one or
more models, ``recipes/skeleton_streams.py`` several streams of one model and fuses their test
scores (:mod:`mmfusion.experiments.ensemble`), over one or more seeds.

Run folders: ``<output_dir>/<model>`` for the joint stream, ``<output_dir>/<model>_<stream>``
for the others, ``<output_dir>/<model>_<part>`` for PSUMNet parts (``--stream psumnet`` trains
``body``, ``hand`` and ``leg``). Each keeps ``train_config.json`` (this config, the run's
stream), so ``mmfusion test RUN_DIR`` rebuilds its test set.

Long runs (>= 30 epochs) save an intermediate checkpoint every 5 epochs unless the config
says otherwise (``save_every`` / ``save_every_steps``), and keep ``model_best.safetensors``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..distributed import process_state
from ..engine import TrainConfig, TrainResult, train
from .ensemble import PRESET_STREAMS, fuse, preset_weights
from .evaluate_run import evaluate_run
from .ntu import results_table
from .scores import load_scores
from .skeleton import PRESETS, SkeletonData, Source, apply_preset, clip_testing, load_source, skeleton_datasets

#: short model names accepted by --model
ALIASES = {"hypergcn": "hypergcn_base", "mamp": "mamp_transformer", "mamp_tiny": "mamp_transformer_tiny"}
PSUMNET_PARTS = ("body", "hand", "leg")
LONG_RUN_EPOCHS = 30


@dataclass
class SkeletonRecipe(SkeletonData):
    """Skeleton classifiers on a skeleton data set (see the module docstring)."""

    model: tuple[str, ...] = ("stgcn_tiny",)
    """one or more registered skeleton classifiers (short names: hypergcn, mamp, mamp_tiny; psumnet /
    psumnet_tiny with --stream psumnet)"""
    preset: str | None = None
    """a paper's recipe (model, data options, optimizer, schedule): ctrgcn_ntu60, ctrgcn_ntu120,
    stgcnpp_ntu60, stgcnpp_ntu120, brl_ntu60, psumnet_ntu60; command-line options still win"""
    dropout: float | None = None
    """classifier dropout; None: each model's own default"""
    output_dir: str = "runs/skeleton_ntu"
    """run folders go below it"""
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=12, global_batch_size=16, lr=3e-3, optimizer="adamw", weight_decay=0.01, scheduler="cosine",
        warmup_epochs=1, clip_grad=5.0, save_every=0, keep_last=1, log_every=5))


def with_preset(argv: Sequence[str], base: SkeletonRecipe) -> SkeletonRecipe:
    """``base`` with the preset named by ``--preset NAME`` in ``argv`` applied (before the other
    options are parsed, so that they override it)."""
    argv = list(argv)
    name = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--preset"), None)
    name = name or next((a.split("=", 1)[1] for a in argv if a.startswith("--preset=")), None)
    if name in (None, "None"):
        return base
    model, data, train_cfg = apply_preset(name, dataclasses.asdict(base), base.train)
    data = {k: v for k, v in data.items() if k in {f.name for f in dataclasses.fields(SkeletonData)}}
    return dataclasses.replace(base, **data, model=(model,), preset=name, train=train_cfg)


def model_kwargs(name: str, cfg: SkeletonRecipe, part: str | None = None) -> dict[str, Any]:
    """Entry-function arguments of one skeleton model for ``cfg``'s clips (``part``: PSUMNet stream)."""
    kwargs: dict[str, Any] = {} if cfg.dropout is None else {"dropout": cfg.dropout}
    if name.startswith("mamp_transformer"):
        # its temporal position table must cover the clip, in whole 4-frame patches
        kwargs["num_frames"] = -(-cfg.window // 4) * 4
    if part is not None and name == "psumnet_tiny":
        kwargs["stream"] = part
    if cfg.dataset == "ucla" and not name.startswith(("psumnet", "mamp", "bigru", "cascadeformer")):
        kwargs["layout"] = cfg.layout or "ucla20"
    return kwargs


def runs_of(cfg: SkeletonRecipe) -> list[tuple[str, str, dict[str, Any]]]:
    """(run name, registered model, kwargs) of every run ``cfg`` asks for."""
    out = []
    for m in cfg.model:
        name = ALIASES.get(m, m)
        if cfg.stream == "psumnet":
            for part in PSUMNET_PARTS:
                reg = f"psumnet_{part}" if name == "psumnet" else name
                out.append((f"{name}_{part}", reg, model_kwargs(reg, cfg, part)))
        else:
            out.append((name if cfg.stream == "j" else f"{name}_{cfg.stream}", name, model_kwargs(name, cfg)))
    return out


def long_run_defaults(tcfg: TrainConfig) -> TrainConfig:
    """Intermediate checkpoints for long runs that did not ask for any (a crash near the end of
    a 140-epoch run must not lose it)."""
    if tcfg.epochs >= LONG_RUN_EPOCHS and not tcfg.save_every and not tcfg.save_every_steps:
        return dataclasses.replace(tcfg, save_every=5, keep_last=max(tcfg.keep_last, 1))
    return tcfg


def fit_run(cfg: SkeletonRecipe, run_name: str, model: str, kwargs: dict[str, Any],
            data: tuple[Any, Any], evaluate_in_training: bool = True) -> TrainResult:
    """Train one run into ``<output_dir>/<run_name>`` (the test set evaluated under the declared
    clip protocol; ``evaluate_in_training=False`` leaves testing to :func:`evaluate_run`)."""
    train_set, test_set = data
    tcfg = long_run_defaults(dataclasses.replace(cfg.train, output_dir=str(Path(cfg.output_dir) / run_name)))
    kwargs = {"num_classes": train_set.num_classes, **kwargs}
    return train(tcfg, model, train_set, test_set if evaluate_in_training else None, model_kwargs=kwargs,
                 modalities=("skeleton",), recipe_config=dataclasses.replace(cfg, train=tcfg),
                 clip_testing=clip_testing(cfg))


def train_models(cfg: SkeletonRecipe) -> tuple[list[dict[str, Any]], list[TrainResult], int]:
    """Every run of ``cfg`` (one stream); result rows (model, stream, top1, top5, mean_class, minutes)."""
    seed = cfg.train.seed
    data = skeleton_datasets(cfg, seed)
    if process_state().is_main_process:
        print(f"[skeleton] {len(data[0])} train / {len(data[1])} test samples, {data[0].num_classes} classes, "
              f"{cfg.dataset}/{cfg.protocol}, family {cfg.family}, stream {cfg.stream}, window {cfg.window}, "
              f"{cfg.clips} test clip(s), data {cfg.data_root or 'skeleton world (synthetic)'}")
    rows: list[dict[str, Any]] = []
    runs: list[TrainResult] = []
    for run_name, model, kwargs in runs_of(cfg):
        start = time.perf_counter()
        res = fit_run(cfg, run_name, model, kwargs, data)
        rows.append({"model": run_name, "stream": cfg.stream, "top1": res.top1, "top5": res.top5,
                     "mean_class": res.mean_class, "minutes": (time.perf_counter() - start) / 60})
        runs.append(res)
    return rows, runs, len(data[1])


# -- several streams, fused -----------------------------------------------------------------------


def ensemble_preset(cfg: SkeletonRecipe, streams: Sequence[str]) -> str | None:
    """The papers' preset for these streams: PSUMNet's per split, PYSKL/BRL 2s/4s/6s for the
    PYSKL family, CTR-GCN's 4s otherwise (None: no preset fits, equal weights)."""
    if cfg.stream == "psumnet":
        name = f"psumnet_{cfg.dataset}_{cfg.protocol}"
        return name if name in PRESET_STREAMS else "psumnet_ntu60_xsub"
    for name in (("2s", "4s", "6s") if cfg.family == "pyskl" else ("ctrgcn4s", "2s", "6s")):
        if tuple(streams) == PRESET_STREAMS[name]:
            return name
    return None


def stream_table(cfg: SkeletonRecipe, streams: Sequence[str], seeds: Sequence[int], one_clip_too: bool = True,
                 weights: Sequence[float] | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Train ``streams`` of ``cfg.model[0]`` for each seed, test each (declared clips, and 1 clip
    when ``one_clip_too`` and clips > 1), fuse the declared-clip scores; rows of mean +- std.

    With ``cfg.stream == "psumnet"`` the streams are PSUMNet's parts (``streams`` ignored).
    Returns (rows, raw) where raw maps "<label>" -> list of per-seed top-1.
    """
    src: Source = load_source(cfg)
    model = ALIASES.get(cfg.model[0], cfg.model[0])
    parts = PSUMNET_PARTS if cfg.stream == "psumnet" else tuple(streams)
    preset = None if weights is not None else ensemble_preset(cfg, parts)
    w = tuple(weights) if weights is not None else (preset_weights(preset, len(parts)) if preset else None)
    raw: dict[str, list[float]] = {}
    for seed in seeds:
        files = []
        for part in parts:
            one = dataclasses.replace(cfg, stream=cfg.stream if cfg.stream == "psumnet" else part,
                                      output_dir=str(Path(cfg.output_dir) / f"seed{seed}"),
                                      train=dataclasses.replace(cfg.train, seed=seed))
            run_name, reg, kwargs = next(r for r in runs_of(one) if cfg.stream != "psumnet" or r[0].endswith(part))
            data = skeleton_datasets(one, seed, src)
            fit_run(one, run_name, reg, kwargs, data, evaluate_in_training=False)
            run_dir = Path(one.output_dir) / run_name
            res = evaluate_run(run_dir, weights="last", save_scores_to=run_dir / "scores.npz", verbose=False)
            raw.setdefault(f"{part} ({cfg.clips} clip{'s' if cfg.clips > 1 else ''})", []).append(res.metrics.top1)
            files.append(res.scores_file)
            if one_clip_too and cfg.clips > 1:
                res1 = evaluate_run(run_dir, weights="last", clips=1, out_dir=run_dir / "one_clip", verbose=False)
                raw.setdefault(f"{part} (1 clip)", []).append(res1.metrics.top1)
        fused = fuse([load_scores(f) for f in files], w)
        how = preset or ("given weights" if weights is not None else "equal weights")
        raw.setdefault(f"fused {'+'.join(parts)} ({how})", []).append(fused.top1)
    rows = [{"model": label, "stream": model, "top1": float(np.mean(v)),
             "std": float(np.std(v)) if len(v) > 1 else math.nan, "seeds": len(v)} for label, v in raw.items()]
    return rows, {"raw": raw, "weights": w, "preset": preset}


def mean_std_table(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown table of :func:`stream_table` rows: top-1 mean +- std (%) over seeds."""
    cells = [{"run": r["model"], "model": r["stream"],
              "top1 (%)": f"{100 * r['top1']:.1f} +- {100 * r['std']:.1f}" if not math.isnan(r["std"])
              else f"{100 * r['top1']:.1f}", "seeds": str(r["seeds"])} for r in rows]
    return results_table(cells)


__all__ = ["ALIASES", "LONG_RUN_EPOCHS", "PRESETS", "PSUMNET_PARTS", "SkeletonRecipe", "ensemble_preset", "fit_run",
           "long_run_defaults", "mean_std_table", "model_kwargs", "runs_of", "stream_table", "train_models",
           "with_preset"]
