"""Training engine: one Accelerate loop for every model, configs, checkpoints, metrics, plots.

A recipe is a short script::

    from dataclasses import dataclass, field
    from mmfusion.engine import TrainConfig, parse_args, train

    @dataclass
    class Recipe:
        model: str = "xshiftnet_rgb"
        num_classes: int = 60
        train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=30, lr=0.1))

    cfg = parse_args(Recipe())                      # --train.lr 0.05 / --lr 0.05 / --resume auto
    result = train(cfg.train, cfg.model, train_set, eval_set,
                   model_kwargs={"num_classes": cfg.num_classes}, recipe_config=cfg)
    print(result.top1, result.weights, result.plots["confusion"])

See ``docs/training.md`` for launching on GPUs and for the run-folder layout.
"""

from __future__ import annotations

from .args import apply_overrides, from_dict, parse_args
from .checkpoint import latest_checkpoint, list_checkpoints, resolve_resume, save_weights
from .config import TrainConfig, to_jsonable, write_json
from .metrics import (
    ClassificationMetrics,
    classification_metrics,
    confusion_matrix,
    mean_class_accuracy,
    per_class_accuracy,
    topk_accuracy,
)
from .plots import plot_confusion_matrix, plot_curves
from .trainer import SeededSamples, StepInfo, TrainResult, evaluate, run_evaluation, shutdown, train

__all__ = [
    "ClassificationMetrics", "SeededSamples", "StepInfo", "TrainConfig", "TrainResult",
    "apply_overrides", "classification_metrics", "confusion_matrix", "evaluate", "from_dict",
    "latest_checkpoint", "list_checkpoints", "mean_class_accuracy", "parse_args", "per_class_accuracy",
    "plot_confusion_matrix", "plot_curves", "resolve_resume", "run_evaluation", "save_weights", "shutdown",
    "to_jsonable", "topk_accuracy", "train", "write_json",
]
