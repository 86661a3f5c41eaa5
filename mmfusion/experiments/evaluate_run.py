"""``mmfusion test RUN_DIR``: evaluate a trained skeleton run on its test set under the field's protocol.

::

    mmfusion test runs/skeleton_ntu/ctrgcn_j [--data-root D] [--clips 10] [--weights best|last]
                  [--batch-size 64] [--save-scores scores.npz] [--out DIR]

The model (``config.json``: name and arguments) and the test set (``train_config.json``: the
:class:`~mmfusion.experiments.skeleton.SkeletonData` fields: data source, dataset, protocol,
family, stream, window, layout, clips) are rebuilt from the run folder; ``--data-root`` points
the same settings at another copy of the data, ``--clips`` changes the number of test clips
(PYSKL family only; the clip scores are averaged by the family's rule, see
:class:`~mmfusion.engine.evaluation.ClipTesting`). ``--weights best`` (default) loads
``model_best.safetensors`` when the run kept one, else the final ``model.safetensors``.

Prints top-1 / top-5 / mean-class and the per-class accuracy; writes ``test_metrics.json`` and
``test_confusion_matrix.png`` into ``--out`` (default: the run folder) and, with
``--save-scores``, the per-sample scores (:mod:`mmfusion.experiments.scores`, no pickle).

Temporal corruption (FineTec's protocol, :mod:`mmfusion.data.skeleton.corruption`)::

    mmfusion test RUN_DIR --corrupt severe                 # the five patterns at one level + clean
    mmfusion test RUN_DIR --corrupt all                    # the level x pattern table
    mmfusion test RUN_DIR --corrupt severe --pattern prefix   # one cell, with the usual outputs

The test set passes through one hook, ``wrap`` of :func:`evaluate_run` (a function
``Dataset -> Dataset``); a table (:func:`corruption_report`) loads the run once, evaluates every
cell and writes ``<out>/corruption.json``.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from ..data.formats.jsonfile import read_json
from ..data.skeleton.corruption import LEVELS, PATTERNS, CorruptedSkeletons, corruption_table, format_corruption_table
from ..engine.evaluation import evaluate
from ..engine.metrics import ClassificationMetrics
from ..engine.plots import plot_confusion_matrix
from ..engine.run_folder import BEST_WEIGHTS
from ..errors import CheckpointError
from ..registry import create_model
from ..runs import WEIGHTS, read_run_config, to_jsonable, write_json
from .scores import save_scores
from .skeleton import clip_testing, data_from_run, load_source, make_dataset


@dataclass
class RunTest:
    """What :func:`evaluate_run` returns: the metrics, the weights file used, the scores file
    (or None) and the data settings of the test set."""

    metrics: ClassificationMetrics
    weights: Path
    scores_file: Path | None
    data: Any
    files: dict[str, Path]


def weights_file(run_dir: Path, which: str) -> Path:
    """``model_best.safetensors`` (``which="best"``, when the run kept one) or ``model.safetensors``."""
    if which not in ("best", "last"):
        raise CheckpointError(f"--weights must be 'best' or 'last', got {which!r}")
    best, last = run_dir / BEST_WEIGHTS, run_dir / WEIGHTS
    path = best if which == "best" and best.is_file() else last
    if not path.is_file():
        raise CheckpointError(f"{path}: run folder has no weights (did the run finish?)")
    return path


@dataclass
class LoadedRun:
    """A run folder's model (weights loaded) and test set, as :func:`load_run` rebuilds them."""

    model: Any
    test_set: Dataset
    data: Any
    card: dict[str, Any]
    weights: Path
    seed: int


def load_run(run_dir: str | Path, *, data_root: str | None = None, clips: int | None = None,
             weights: str = "best") -> LoadedRun:
    """Rebuild the model and the test set of ``run_dir`` (see the module docstring)."""
    run_dir = Path(run_dir)
    card = read_run_config(run_dir)
    data = data_from_run(run_dir)
    overrides: dict[str, Any] = {}
    if data_root is not None:
        overrides["data_root"] = data_root
    if clips is not None:
        overrides["clips"] = clips
    data = replace(data, **overrides) if overrides else data  # __post_init__ re-checks clips vs family
    test_set: Dataset = make_dataset(data, load_source(data), "test")
    wfile = weights_file(run_dir, weights)
    model = create_model(card["model_name"], checkpoint=wfile, **dict(card.get("model_kwargs") or {}))
    # the training run's seed: its final evaluation drew the test samples under it
    saved = read_json(run_dir / "train_config.json", "run config")
    seed = int((saved.get("train") or {}).get("seed", 0)) if isinstance(saved, dict) else 0
    return LoadedRun(model, test_set, data, card, wfile, seed)


def evaluate_run(run_dir: str | Path, *, data_root: str | None = None, clips: int | None = None,
                 weights: str = "best", batch_size: int = 64, save_scores_to: str | Path | None = None,
                 out_dir: str | Path | None = None, wrap: Callable[[Dataset], Dataset] | None = None,
                 verbose: bool = True) -> RunTest:
    """Evaluate the run in ``run_dir`` on its test set (see the module docstring)."""
    run_dir = Path(run_dir)
    loaded = load_run(run_dir, data_root=data_root, clips=clips, weights=weights)
    model, data, card, wfile, seed = loaded.model, loaded.data, loaded.card, loaded.weights, loaded.seed
    test_set = wrap(loaded.test_set) if wrap is not None else loaded.test_set
    metrics, scores = evaluate(model, test_set, batch_size=batch_size, clips=clip_testing(data), collect=True,
                               class_names=card.get("class_names"), seed=seed)
    out = Path(out_dir) if out_dir is not None else run_dir
    files = {"metrics": out / "test_metrics.json", "confusion": out / "test_confusion_matrix.png"}
    tag = f"{run_dir.name}: {card['model_name']} stream {data.stream}, {data.clips} clip(s), {wfile.name}"
    write_json(files["metrics"], {"weights": str(wfile), "data": to_jsonable(data), **metrics.to_dict()})
    plot_confusion_matrix(metrics.confusion, files["confusion"], metrics.class_names,
                          title=f"{tag}\ntop-1 {100 * metrics.top1:.2f}%  mean-class {100 * metrics.mean_class:.2f}%")
    saved_scores = None
    if save_scores_to is not None:
        names = getattr(test_set, "class_names", None) or card.get("class_names") or []
        meta = {"run": str(run_dir), "model": card["model_name"], "stream": data.stream, "clips": data.clips,
                "weights": str(wfile), "family": data.family}
        saved_scores = save_scores(save_scores_to, scores.scores.numpy(), scores.labels.numpy(), scores.names,
                                   scores.kind, names, meta=meta)
        files["scores"] = saved_scores
    if verbose:
        print(f"{tag}\n  {metrics.summary()}")
        names = metrics.class_names or [str(i) for i in range(len(metrics.per_class))]
        accs = [f"{n} {100 * a:.1f}" for n, a in zip(names, metrics.per_class.tolist()) if not math.isnan(a)]
        print("  per-class top-1 (%): " + ", ".join(accs))
        print(f"  wrote {', '.join(str(p) for p in files.values())}")
    return RunTest(metrics, wfile, saved_scores, data, files)


def corruption_report(run_dir: str | Path, levels: tuple[str, ...], patterns: tuple[str, ...], *,
                      seed: int = 0, out_dir: str | Path | None = None, data_root: str | None = None,
                      clips: int | None = None, weights: str = "best", batch_size: int = 64,
                      verbose: bool = True) -> dict[str, dict[str, float]]:
    """Top-1 of the run under every (level, pattern) of temporal corruption and on the clean test
    set: ``table[level][pattern]``, ``table[level]["mean"]``, ``table["clean"]["none"]``
    (:func:`~mmfusion.data.skeleton.corruption.corruption_table`). Writes ``<out>/corruption.json``
    and prints the Markdown table."""
    loaded = load_run(run_dir, data_root=data_root, clips=clips, weights=weights)

    def top1(ds: Dataset) -> float:
        return evaluate(loaded.model, ds, batch_size=batch_size, clips=clip_testing(loaded.data),
                        seed=loaded.seed).top1

    table = corruption_table(top1, loaded.test_set, levels=levels, patterns=patterns, seed=seed)
    out = Path(out_dir) if out_dir is not None else Path(run_dir)
    write_json(out / "corruption.json", {"run": str(run_dir), "weights": str(loaded.weights), "mask_seed": seed,
                                         "metric": "top1", "table": table})
    if verbose:
        print(f"{Path(run_dir).name}: top-1 (%) under temporal corruption ({loaded.weights.name}, mask seed {seed})\n")
        print(format_corruption_table(table))
        print(f"\n  wrote {out / 'corruption.json'}")
    return table


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """Options of ``mmfusion test``."""
    ap.add_argument("run_dir", help="a skeleton run folder (recipes/skeleton_ntu.py)")
    ap.add_argument("--data-root", help="the same data elsewhere (world folder, .npz, .pkl or raw NTU tree)")
    ap.add_argument("--clips", type=int, help="test clips per sample (PYSKL family; default: the run's)")
    ap.add_argument("--weights", choices=("best", "last"), default="best",
                    help="model_best.safetensors (when kept) or the final model.safetensors")
    ap.add_argument("--batch-size", type=int, default=64, help="samples per batch (each with its clips)")
    ap.add_argument("--save-scores", metavar="FILE", help="write per-sample scores (.npz, no pickle)")
    ap.add_argument("--out", help="folder for test_metrics.json / test_confusion_matrix.png (default: the run)")
    ap.add_argument("--corrupt", choices=(*LEVELS, "all"),
                    help="temporal corruption level (missing frames: minor 30 %%, moderate 50 %%, severe 70 %%)")
    ap.add_argument("--pattern", choices=(*PATTERNS, "all"), default="all",
                    help="which frames are lost (default: a table of all five patterns)")
    ap.add_argument("--corrupt-seed", type=int, default=0, help="seed of the per-sample masks")


def run(a: argparse.Namespace) -> int:
    common: dict[str, Any] = dict(data_root=a.data_root, clips=a.clips, weights=a.weights, batch_size=a.batch_size)
    if a.corrupt is not None and (a.corrupt == "all" or a.pattern == "all"):
        levels = tuple(LEVELS) if a.corrupt == "all" else (a.corrupt,)
        patterns = PATTERNS if a.pattern == "all" else (a.pattern,)
        corruption_report(a.run_dir, levels, patterns, seed=a.corrupt_seed, out_dir=a.out, **common)
        return 0
    wrap = None
    if a.corrupt is not None:
        def wrap(ds: Dataset) -> Dataset:
            return CorruptedSkeletons(ds, a.pattern, a.corrupt, a.corrupt_seed)
    evaluate_run(a.run_dir, save_scores_to=a.save_scores, out_dir=a.out, wrap=wrap, **common)
    return 0


__all__ = ["LoadedRun", "RunTest", "add_arguments", "corruption_report", "evaluate_run", "load_run", "run",
           "weights_file"]
