"""Evaluation of a prepared model on a prepared loader, and of a saved model on a dataset.

A batch is a dict of modality tensors (N, ...) plus ``"label"`` (N,) int64; the model maps it
to ``{"logits": (N, C), ...}``. Predictions are collected with ``gather_for_metrics`` (which
drops the samples the distributed sampler repeated to even out the shards) into torchmetrics
states, so the metrics cover each sample exactly once and every process computes the same.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from ..errors import ConfigError, MissingModalityError
from ..registry import create_model
from .accelerator import make_accelerator
from .config import TrainConfig
from .loaders import SeededSamples, default_collate, make_loader
from .metrics import ClassificationMetrics, EvalAccumulator


def forward(model: nn.Module, batch: Mapping[str, Any], allow_loss_only: bool = False) -> dict[str, torch.Tensor]:
    """``model(batch)``, checked: the batch has labels and the output has ``"logits"`` (N, C).

    A model that computes its own training loss (a pre-training objective, :mod:`mmfusion.ssl`)
    may return ``"loss"`` instead of logits when ``allow_loss_only``; it is then trained, never
    evaluated.
    """
    if "label" not in batch:
        raise MissingModalityError("label", "every training / evaluation batch needs integer class labels")
    outputs = model(batch)
    if not isinstance(outputs, Mapping) or ("logits" not in outputs
                                            and not (allow_loss_only and "loss" in outputs)):
        name = type(getattr(model, "module", model)).__name__
        raise ConfigError(f"{name}.forward must return a dict with 'logits' (N, num_classes), "
                          f"got {type(outputs).__name__}")
    return outputs


@torch.no_grad()
def run_evaluation(accelerator: Any, model: nn.Module, loader: Any,
                   class_names: Sequence[str] | None = None) -> ClassificationMetrics:
    """Evaluate a prepared model (or an EMA copy) on a prepared loader; every process must call
    this and gets the same metrics."""
    was_training = model.training
    model.eval()
    acc = EvalAccumulator()
    for batch in loader:
        outputs = forward(model, batch)
        logits, labels = accelerator.gather_for_metrics((outputs["logits"].float(), batch["label"]))
        labels = labels.long()
        acc.update(logits, labels, loss_sum=float(F.cross_entropy(logits, labels, reduction="sum")))
    model.train(was_training)
    names = list(class_names) if class_names is not None else None
    if names is not None and acc.metrics is not None and len(names) != acc.metrics["confusion"].num_classes:
        accelerator.print(f"warning: {len(names)} class names for {acc.metrics['confusion'].num_classes} "
                          f"classes; names not used")
        names = None
    return acc.compute(names)


def evaluate(model: str | nn.Module, dataset: Dataset, *, batch_size: int = 16, num_workers: int = 0,
             mixed_precision: str | None = None, cpu: bool = False, checkpoint: str | Path | None = None,
             model_kwargs: Mapping[str, Any] | None = None, class_names: Sequence[str] | None = None,
             collate_fn: Callable | None = None, seed: int = 0) -> ClassificationMetrics:
    """Evaluate a model (an ``nn.Module``, or a registered name + optional run folder /
    safetensors ``checkpoint``) on ``dataset``; works under ``accelerate launch`` too.

    With the run's ``seed``, a dataset with random test-time sampling yields exactly the
    samples the training run's final evaluation saw (same metrics for the same weights).
    """
    if isinstance(model, str):
        model = create_model(model, checkpoint=checkpoint, **dict(model_kwargs or {}))
    cfg = TrainConfig(epochs=1, batch_size=batch_size, num_workers=num_workers, mixed_precision=mixed_precision,
                      cpu=cpu, output_dir=".", seed=seed)
    accelerator = make_accelerator(cfg, log_threads=False)
    pin = cfg.pin_memory and accelerator.device.type == "cuda"
    data = SeededSamples(dataset, seed, stream=1, follow_epoch=False)
    loader, _ = make_loader(data, batch_size, False, cfg, collate_fn or default_collate, pin, drop_last=False)
    model = accelerator.prepare_model(model, evaluation_mode=True)  # no DDP wrapper for inference
    loader = accelerator.prepare_data_loader(loader)
    if class_names is None:
        class_names = getattr(dataset, "class_names", None)
    return run_evaluation(accelerator, model, loader, class_names)
