"""Classification metrics from gathered predictions (plain torch, any device).

Conventions: ``logits`` (N, C) scores, ``target`` (N,) int64 class indices in [0, C);
the confusion matrix is (C, C) int64 with rows = true class and columns = predicted class.
Per-class accuracy is the recall of each class (diagonal / row sum); a class with no
samples in the evaluated set has accuracy NaN and is left out of the mean class accuracy
(the count of classes that entered the mean is reported as ``num_present_classes``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ..errors import ConfigError


def _check(logits: Tensor, target: Tensor) -> None:
    if logits.ndim != 2:
        raise ConfigError(f"logits must be (N, C), got shape {tuple(logits.shape)}")
    if target.ndim != 1 or target.shape[0] != logits.shape[0]:
        raise ConfigError(f"target must be (N,) with N={logits.shape[0]}, got shape {tuple(target.shape)}")
    if target.numel() and (int(target.min()) < 0 or int(target.max()) >= logits.shape[1]):
        raise ConfigError(f"target values must lie in [0, {logits.shape[1]}), got "
                          f"[{int(target.min())}, {int(target.max())}]")


def topk_correct(logits: Tensor, target: Tensor, ks: Sequence[int] = (1, 5)) -> dict[int, int]:
    """Number of samples whose true class is among the ``k`` highest scores, per ``k``.

    ``k`` larger than C counts every sample (the true class is always among all C).
    Ties are broken by ``torch.topk`` (lowest index first on CPU).
    """
    _check(logits, target)
    kmax = min(max(ks), logits.shape[1])
    top = logits.topk(kmax, dim=1).indices  # (N, kmax)
    hit = top.eq(target[:, None])  # (N, kmax)
    return {k: int(hit[:, : min(k, kmax)].any(dim=1).sum()) for k in ks}


def topk_accuracy(logits: Tensor, target: Tensor, ks: Sequence[int] = (1, 5)) -> dict[int, float]:
    """Top-k accuracy in [0, 1] per ``k`` (NaN for an empty set)."""
    n = target.shape[0]
    return {k: (c / n if n else math.nan) for k, c in topk_correct(logits, target, ks).items()}


def confusion_matrix(preds: Tensor, target: Tensor, num_classes: int) -> Tensor:
    """(C, C) int64 counts, rows = true class, columns = predicted class."""
    if preds.shape != target.shape or preds.ndim != 1:
        raise ConfigError(f"preds and target must both be (N,), got {tuple(preds.shape)} and {tuple(target.shape)}")
    for name, t in (("preds", preds), ("target", target)):
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= num_classes):
            raise ConfigError(f"{name} values must lie in [0, {num_classes})")
    idx = target.long() * num_classes + preds.long()
    return torch.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def per_class_accuracy(cm: Tensor) -> Tensor:
    """(C,) float64 recall per class from a confusion matrix; NaN where a class has no samples."""
    cm = cm.double()
    support = cm.sum(dim=1)
    acc = cm.diagonal() / support
    return torch.where(support > 0, acc, torch.full_like(acc, math.nan))


def mean_class_accuracy(cm: Tensor) -> float:
    """Mean of per-class accuracies over classes that have samples (NaN if none)."""
    acc = per_class_accuracy(cm)
    present = ~torch.isnan(acc)
    return float(acc[present].mean()) if bool(present.any()) else math.nan


@dataclass
class ClassificationMetrics:
    """Metrics of one evaluation.

    Attributes:
        top1, top5: accuracies in [0, 1] (top5 is top-min(5, C)).
        mean_class: mean per-class accuracy over classes present in the set.
        per_class: (C,) per-class accuracy, NaN for absent classes.
        confusion: (C, C) int64, rows = true, columns = predicted.
        num_samples: evaluated samples (after ``gather_for_metrics`` removed padding).
        loss: mean cross-entropy of the logits, if computed.
        class_names: optional names, index-aligned with ``per_class``.
    """

    top1: float
    top5: float
    mean_class: float
    per_class: Tensor
    confusion: Tensor
    num_samples: int
    loss: float | None = None
    class_names: list[str] | None = field(default=None)

    @property
    def num_present_classes(self) -> int:
        return int((~torch.isnan(self.per_class)).sum())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: absent-class accuracies become None; per-class keyed by name when known."""
        names = self.class_names or [str(i) for i in range(len(self.per_class))]
        per_class = {n: (None if math.isnan(float(a)) else float(a)) for n, a in zip(names, self.per_class.tolist())}
        return {
            "top1": self.top1, "top5": self.top5, "mean_class": self.mean_class, "loss": self.loss,
            "num_samples": self.num_samples, "num_present_classes": self.num_present_classes,
            "per_class": per_class, "confusion": self.confusion.tolist(),
        }

    def summary(self) -> str:
        loss = f" loss {self.loss:.4f}" if self.loss is not None else ""
        return (f"top1 {100 * self.top1:.2f}%  top5 {100 * self.top5:.2f}%  "
                f"mean-class {100 * self.mean_class:.2f}%{loss}  (n={self.num_samples})")


def classification_metrics(logits: Tensor, target: Tensor, class_names: Sequence[str] | None = None,
                           loss: float | None = None) -> ClassificationMetrics:
    """All metrics from (N, C) logits and (N,) targets (computed in float32 on the logits' device)."""
    _check(logits, target)
    num_classes = logits.shape[1]
    if class_names is not None and len(class_names) != num_classes:
        raise ConfigError(f"{len(class_names)} class names for {num_classes} logits columns")
    logits = logits.float()
    correct = topk_correct(logits, target, (1, 5))
    n = int(target.shape[0])
    cm = confusion_matrix(logits.argmax(dim=1), target, num_classes).cpu()
    return ClassificationMetrics(
        top1=correct[1] / n if n else math.nan, top5=correct[5] / n if n else math.nan,
        mean_class=mean_class_accuracy(cm), per_class=per_class_accuracy(cm), confusion=cm,
        num_samples=n, loss=loss, class_names=list(class_names) if class_names is not None else None)
