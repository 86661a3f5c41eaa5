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

The test set passes through one hook, ``wrap`` of :func:`evaluate_run` (a function
``Dataset -> Dataset``), so that a corruption wrapper (``--corrupt LEVEL --pattern P``) is one line.
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


def evaluate_run(run_dir: str | Path, *, data_root: str | None = None, clips: int | None = None,
                 weights: str = "best", batch_size: int = 64, save_scores_to: str | Path | None = None,
                 out_dir: str | Path | None = None, wrap: Callable[[Dataset], Dataset] | None = None,
                 verbose: bool = True) -> RunTest:
    """Evaluate the run in ``run_dir`` on its test set (see the module docstring)."""
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
    if wrap is not None:
        test_set = wrap(test_set)
    wfile = weights_file(run_dir, weights)
    model = create_model(card["model_name"], checkpoint=wfile, **dict(card.get("model_kwargs") or {}))
    # the training run's seed: its final evaluation drew the test samples under it
    saved = read_json(run_dir / "train_config.json", "run config")
    seed = int((saved.get("train") or {}).get("seed", 0)) if isinstance(saved, dict) else 0
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


def run(a: argparse.Namespace) -> int:
    # issue 15 wires its corruption wrapper here: wrap = lambda ds: <wrapper>(ds, a.corrupt, a.pattern)
    wrap = None
    evaluate_run(a.run_dir, data_root=a.data_root, clips=a.clips, weights=a.weights, batch_size=a.batch_size,
                 save_scores_to=a.save_scores, out_dir=a.out, wrap=wrap)
    return 0


__all__ = ["RunTest", "add_arguments", "evaluate_run", "run", "weights_file"]
