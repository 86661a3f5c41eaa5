"""Training engine: one Accelerate loop for every model, configs, checkpoints, metrics, plots.

A recipe is a short script::

    from dataclasses import dataclass, field
    from mmfusion.engine import TrainConfig, parse_args, train

    @dataclass
    class Recipe:
        model: str = "xshiftnet_rgb"
        num_classes: int = 60
        train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=30, lr=0.1))

    cfg = parse_args(Recipe())                # --train.lr 0.05 --train.resume auto (tyro; --help)
    result = train(cfg.train, cfg.model, train_set, eval_set,
                   model_kwargs={"num_classes": cfg.num_classes}, recipe_config=cfg)
    print(result.top1, result.weights, result.plots["confusion"])

See ``docs/training.md`` for launching on GPUs and for the run-folder layout.
"""

from __future__ import annotations

from ..runs import save_weights, to_jsonable, write_json
from .args import apply_overrides, from_dict, parse_args
from .checkpoint import latest_checkpoint, list_checkpoints, resolve_resume
from .config import TrainConfig
from .evaluation import ClipTesting, Scores, evaluate, run_evaluation
from .loaders import SeededSamples
from .loop import LoopState, StepInfo, train_one_epoch
from .metrics import (
    ClassificationMetrics,
    EvalAccumulator,
    classification_metrics,
    confusion_matrix,
    mean_class_accuracy,
    per_class_accuracy,
    topk_accuracy,
)
from .optim import build_optimizer, build_scheduler, lr_factor
from .plots import plot_confusion_matrix, plot_curves
from .setup import RunSetup, setup_run
from .trainer import TrainResult, shutdown, train

__all__ = [
    "ClassificationMetrics", "ClipTesting", "EvalAccumulator", "LoopState", "RunSetup", "Scores", "SeededSamples",
    "StepInfo", "TrainConfig",
    "TrainResult", "apply_overrides", "build_optimizer", "build_scheduler", "classification_metrics",
    "confusion_matrix", "evaluate", "from_dict", "latest_checkpoint", "list_checkpoints", "lr_factor",
    "mean_class_accuracy", "parse_args", "per_class_accuracy", "plot_confusion_matrix", "plot_curves",
    "resolve_resume", "run_evaluation", "save_weights", "setup_run", "shutdown", "to_jsonable", "topk_accuracy",
    "train", "train_one_epoch", "write_json",
]
