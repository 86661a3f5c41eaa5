"""Evaluation of a prepared model on a prepared loader, and of a saved model on a dataset.

A batch is a dict of modality tensors (N, ...) plus ``"label"`` (N,) int64; the model maps it
to ``{"logits": (N, C), ...}``. Predictions are collected with ``gather_for_metrics`` (which
drops the samples the distributed sampler repeated to even out the shards) into torchmetrics
states, so the metrics cover each sample exactly once and every process computes the same.

Multi-clip testing (:class:`ClipTesting`): a test sample may hold K clips of a modality,
``(K, C, T, V, M)`` per sample, ``(N, K, C, T, V, M)`` per batch. The model sees the N*K clips
as one batch and the K clip scores of a sample are averaged: ``"prob"`` = the mean of the
softmax probabilities (PYSKL's ``average_clips`` default in ``RecognizerGCN.forward_test``),
``"score"`` = the mean of the logits. The metrics then read ``log(mean prob)`` (same ranking,
and its cross-entropy is the NLL of the averaged probability) or the mean logits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

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


@dataclass(frozen=True)
class ClipTesting:
    """How test samples with several clips are scored (see the module docstring).

    Attributes:
        keys: the batch keys that may carry a clip axis.
        sample_ndim: dimensions of one clip of those keys (4 for a skeleton ``(C, T, V, M)``);
            a batch tensor with ``sample_ndim + 2`` dimensions is ``(N, K, ...)``, one with
            ``sample_ndim + 1`` a plain single-clip batch.
        average: "prob" (mean softmax, PYSKL's default) or "score" (mean logits).
    """

    keys: tuple[str, ...] = ("skeleton",)
    sample_ndim: int = 4
    average: Literal["prob", "score"] = "prob"

    def __post_init__(self) -> None:
        if self.average not in ("prob", "score"):
            raise ConfigError(f"ClipTesting.average must be 'prob' or 'score', got {self.average!r}")


@dataclass
class Scores:
    """Per-sample test scores collected by :func:`run_evaluation` (``collect=True``).

    Attributes:
        scores: (N, C) float32: the clip-averaged probabilities when ``kind == "prob"``, else
            the (clip-averaged) logits.
        labels: (N,) int64.
        names: N sample names (``""`` where the batch had no ``"name"``).
        kind: "prob" or "logit".
    """

    scores: torch.Tensor
    labels: torch.Tensor
    names: list[str] = field(default_factory=list)
    kind: str = "logit"


def clip_forward(model: nn.Module, batch: Mapping[str, Any], clips: ClipTesting | None
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(logits (N, C), probs (N, C) or None)`` of a batch whose ``clips.keys`` may be (N, K, ...).

    With K clips the model runs once on the N*K clips; ``probs`` is the mean softmax for
    ``average="prob"`` (then ``logits = log(probs)``), None otherwise.
    """
    k = None
    if clips is not None:
        multi = [key for key in clips.keys if key in batch and torch.is_tensor(batch[key])
                 and batch[key].ndim == clips.sample_ndim + 2]
        if multi:
            ks = {int(batch[key].shape[1]) for key in multi}
            if len(ks) != 1:
                raise ConfigError(f"multi-clip keys {multi} disagree on the clip count: {sorted(ks)}")
            k = ks.pop()
    if k is None:
        logits = forward(model, batch)["logits"].float()
        if clips is not None and clips.average == "prob":
            probs = logits.softmax(-1)
            return probs.clamp_min(1e-12).log(), probs
        return logits, None
    folded = dict(batch)
    for key in multi:
        x = batch[key]
        folded[key] = x.reshape(x.shape[0] * k, *x.shape[2:])
    n = len(batch["label"])
    folded["label"] = batch["label"].repeat_interleave(k)  # forward() checks labels are there
    logits = forward(model, folded)["logits"].float().reshape(n, k, -1)
    if clips is not None and clips.average == "prob":
        probs = logits.softmax(-1).mean(1)
        return probs.clamp_min(1e-12).log(), probs
    return logits.mean(1), None


@torch.no_grad()
def run_evaluation(accelerator: Any, model: nn.Module, loader: Any,
                   class_names: Sequence[str] | None = None, clips: ClipTesting | None = None,
                   collect: bool = False) -> ClassificationMetrics | tuple[ClassificationMetrics, Scores]:
    """Evaluate a prepared model (or an EMA copy) on a prepared loader; every process must call
    this and gets the same metrics.

    ``clips``: multi-clip testing (None: every batch tensor is one clip per sample, the
    logits are used as they are). ``collect``: also return the per-sample :class:`Scores`.
    """
    was_training = model.training
    model.eval()
    acc = EvalAccumulator()
    kept: list[torch.Tensor] = []
    kept_labels: list[torch.Tensor] = []
    kept_names: list[str] = []
    for batch in loader:
        logits, probs = clip_forward(model, batch, clips)
        logits, labels = accelerator.gather_for_metrics((logits, batch["label"]))
        labels = labels.long()
        acc.update(logits, labels, loss_sum=float(F.cross_entropy(logits, labels, reduction="sum")))
        if collect:
            kept.append((logits.exp() if probs is not None else logits).cpu())
            kept_labels.append(labels.cpu())
            names = list(batch.get("name", [""] * len(batch["label"])))
            kept_names.extend(accelerator.gather_for_metrics(names, use_gather_object=True)
                              if accelerator.num_processes > 1 else names)
    model.train(was_training)
    names = list(class_names) if class_names is not None else None
    if names is not None and acc.metrics is not None and len(names) != acc.metrics["confusion"].num_classes:
        accelerator.print(f"warning: {len(names)} class names for {acc.metrics['confusion'].num_classes} "
                          f"classes; names not used")
        names = None
    metrics = acc.compute(names)
    if not collect:
        return metrics
    kind = "prob" if clips is not None and clips.average == "prob" else "logit"
    scores = Scores(torch.cat(kept) if kept else torch.zeros(0, metrics.confusion.shape[0]),
                    torch.cat(kept_labels) if kept_labels else torch.zeros(0, dtype=torch.long), kept_names, kind)
    return metrics, scores


def evaluate(model: str | nn.Module, dataset: Dataset, *, batch_size: int = 16, num_workers: int = 0,
             mixed_precision: str | None = None, cpu: bool = False, checkpoint: str | Path | None = None,
             model_kwargs: Mapping[str, Any] | None = None, class_names: Sequence[str] | None = None,
             collate_fn: Callable | None = None, seed: int = 0, clips: ClipTesting | None = None,
             collect: bool = False) -> ClassificationMetrics | tuple[ClassificationMetrics, Scores]:
    """Evaluate a model (an ``nn.Module``, or a registered name + optional run folder /
    safetensors ``checkpoint``) on ``dataset``; works under ``accelerate launch`` too.
    ``clips`` and ``collect`` as in :func:`run_evaluation`.

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
    return run_evaluation(accelerator, model, loader, class_names, clips=clips, collect=collect)
