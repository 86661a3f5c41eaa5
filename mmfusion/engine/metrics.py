"""Classification metrics from gathered predictions (torchmetrics, any device).

Conventions: ``logits`` (N, C) scores, ``target`` (N,) int64 class indices in [0, C);
the confusion matrix is (C, C) int64 with rows = true class and columns = predicted class.
Per-class accuracy is the recall of each class (diagonal / row sum); a class with no
samples in the evaluated set has accuracy NaN and is left out of the mean class accuracy
(the count of classes that entered the mean is reported as ``num_present_classes``).
That is torchmetrics' macro accuracy except for one case: a class absent from the set but
predicted for some sample counts as 0 in torchmetrics' macro mean and is left out here, so
that the figure is the mean recall over the classes the set holds (as NTU papers report it).

:class:`EvalAccumulator` collects an evaluation batch by batch (torchmetrics ``Metric``
states); the engine feeds it the predictions ``accelerator.gather_for_metrics`` collected from
all processes, so that every process holds the whole evaluation set's counts (torchmetrics'
own cross-process sync is off: it would count the gathered batches once per process).

Long-tailed training (:func:`shot_accuracy`): where the training set's samples per class are
known, the mean per-class accuracy over the many-shot (> ``many`` training samples, default
100), medium-shot (``few`` .. ``many``) and few-shot (< ``few``, default 20) classes, the
usual long-tail report beside the mean-class accuracy; :func:`add_shot_accuracy` stores it in
:attr:`ClassificationMetrics.shots`.
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
    """
    from torchmetrics.functional.classification import multiclass_accuracy

    _check(logits, target)
    n, num_classes = logits.shape
    if n == 0:
        return {k: 0 for k in ks}
    return {k: int(round(float(multiclass_accuracy(logits.float(), target, num_classes, average="micro",
                                                   top_k=min(k, num_classes))) * n)) for k in ks}


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
    from torchmetrics.functional.classification import multiclass_confusion_matrix

    if preds.numel() == 0:
        return torch.zeros(num_classes, num_classes, dtype=torch.long, device=preds.device)
    return multiclass_confusion_matrix(preds.long(), target.long(), num_classes).long()


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


SHOT_GROUPS: tuple[str, ...] = ("many", "medium", "few")


def shot_groups(train_counts: Sequence[int], many: float = 100.0, few: float = 20.0) -> dict[str, list[int]]:
    """Class indices per group: ``"many"`` (> ``many`` training samples), ``"medium"``
    (``few`` .. ``many``, both included), ``"few"`` (< ``few``)."""
    if few > many:
        raise ConfigError(f"few-shot threshold {few} is above the many-shot threshold {many}")
    groups: dict[str, list[int]] = {g: [] for g in SHOT_GROUPS}
    for c, n in enumerate(train_counts):
        groups["many" if n > many else "few" if n < few else "medium"].append(c)
    return groups


def shot_accuracy(per_class: Tensor, train_counts: Sequence[int], many: float = 100.0,
                  few: float = 20.0) -> dict[str, Any]:
    """Mean per-class accuracy of the many / medium / few-shot classes.

    ``per_class`` (C,) accuracies (NaN for a class absent from the evaluated set, left out of
    its group's mean); ``train_counts`` (C,) training samples per class. Returns
    ``{"many": acc, "medium": acc, "few": acc, "classes": {group: count}, "thresholds":
    {"many": many, "few": few}}``, NaN for a group without evaluated classes.
    """
    if len(train_counts) != per_class.shape[0]:
        raise ConfigError(f"{len(train_counts)} training class counts for {per_class.shape[0]} classes")
    out: dict[str, Any] = {}
    sizes: dict[str, int] = {}
    for g, idx in shot_groups(train_counts, many, few).items():
        acc = per_class.double()[idx] if idx else per_class.new_zeros(0, dtype=torch.float64)
        acc = acc[~torch.isnan(acc)]
        out[g] = float(acc.mean()) if acc.numel() else math.nan
        sizes[g] = len(idx)
    out["classes"] = sizes
    out["thresholds"] = {"many": float(many), "few": float(few)}
    return out


def add_shot_accuracy(metrics: ClassificationMetrics, train_counts: Sequence[int] | None,
                      thresholds: tuple[float, float] = (100.0, 20.0)) -> ClassificationMetrics:
    """Set ``metrics.shots`` from the training set's class counts (unchanged when None or when
    the counts do not match the evaluated classes); returns ``metrics``."""
    if train_counts is not None and len(train_counts) == metrics.per_class.shape[0]:
        metrics.shots = shot_accuracy(metrics.per_class, train_counts, *thresholds)
    return metrics


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
        shots: many / medium / few-shot accuracies (:func:`shot_accuracy`) when the training
            set's class counts are known, else None.
    """

    top1: float
    top5: float
    mean_class: float
    per_class: Tensor
    confusion: Tensor
    num_samples: int
    loss: float | None = None
    class_names: list[str] | None = field(default=None)
    shots: dict[str, Any] | None = field(default=None)

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
            **({"shots": self.shots} if self.shots is not None else {}),
        }

    def summary(self) -> str:
        loss = f" loss {self.loss:.4f}" if self.loss is not None else ""
        shots = ""
        if self.shots is not None:
            shots = "  " + "  ".join(f"{g} {100 * self.shots[g]:.2f}%" for g in SHOT_GROUPS
                                     if not math.isnan(self.shots[g]))
        return (f"top1 {100 * self.top1:.2f}%  top5 {100 * self.top5:.2f}%  "
                f"mean-class {100 * self.mean_class:.2f}%{shots}{loss}  (n={self.num_samples})")


class EvalAccumulator:
    """Top-1 / top-5 accuracy, confusion matrix and mean loss of an evaluation, batch by batch.

    ``update(logits (N, C), target (N,))``; ``compute()`` -> :class:`ClassificationMetrics`.
    The torchmetrics states live on the device of the first batch. C is taken from the first
    batch's logits.
    """

    def __init__(self) -> None:
        self.metrics: Any = None
        self.loss_sum = 0.0
        self.num_samples = 0

    def _build(self, num_classes: int, device: torch.device) -> Any:
        from torchmetrics import MetricCollection
        from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix

        common = {"num_classes": num_classes, "sync_on_compute": False}  # inputs are already gathered
        return MetricCollection({
            "top1": MulticlassAccuracy(top_k=1, average="micro", **common),
            "top5": MulticlassAccuracy(top_k=min(5, num_classes), average="micro", **common),
            "confusion": MulticlassConfusionMatrix(**common),
        }).to(device)

    def update(self, logits: Tensor, target: Tensor, loss_sum: float | None = None) -> None:
        """Add a batch; ``loss_sum`` is the batch's summed loss (cross-entropy when None)."""
        import torch.nn.functional as F

        _check(logits, target)
        if target.numel() == 0:
            return
        logits, target = logits.float(), target.long()
        if self.metrics is None:
            self.metrics = self._build(logits.shape[1], logits.device)
        elif logits.shape[1] != self.metrics["confusion"].num_classes:
            raise ConfigError(f"logits have {logits.shape[1]} classes, earlier batches "
                              f"{self.metrics['confusion'].num_classes}")
        self.metrics.update(logits, target)
        if loss_sum is None:
            loss_sum = float(F.cross_entropy(logits, target, reduction="sum"))
        self.loss_sum += float(loss_sum)
        self.num_samples += int(target.shape[0])

    def compute(self, class_names: Sequence[str] | None = None) -> ClassificationMetrics:
        if self.metrics is None:
            raise ConfigError("the evaluation set is empty")
        values = self.metrics.compute()
        cm = values["confusion"].long().cpu()
        if class_names is not None and len(class_names) != cm.shape[0]:
            raise ConfigError(f"{len(class_names)} class names for {cm.shape[0]} logits columns")
        return ClassificationMetrics(
            top1=float(values["top1"]), top5=float(values["top5"]), mean_class=mean_class_accuracy(cm),
            per_class=per_class_accuracy(cm), confusion=cm, num_samples=self.num_samples,
            loss=self.loss_sum / self.num_samples,
            class_names=list(class_names) if class_names is not None else None)


def classification_metrics(logits: Tensor, target: Tensor, class_names: Sequence[str] | None = None,
                           loss: float | None = None) -> ClassificationMetrics:
    """All metrics from (N, C) logits and (N,) targets (computed in float32 on the logits' device)."""
    _check(logits, target)
    num_classes = logits.shape[1]
    if class_names is not None and len(class_names) != num_classes:
        raise ConfigError(f"{len(class_names)} class names for {num_classes} logits columns")
    n = int(target.shape[0])
    if n == 0:
        cm = torch.zeros(num_classes, num_classes, dtype=torch.long)
        return ClassificationMetrics(top1=math.nan, top5=math.nan, mean_class=math.nan,
                                     per_class=per_class_accuracy(cm), confusion=cm, num_samples=0, loss=loss,
                                     class_names=list(class_names) if class_names is not None else None)
    acc = EvalAccumulator()
    acc.update(logits, target)
    result = acc.compute(class_names)
    result.loss = loss
    return result
