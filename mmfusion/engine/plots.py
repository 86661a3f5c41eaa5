"""Figures of a run: confusion matrix and loss / accuracy curves (PNG).

Uses matplotlib's object API with the Agg canvas directly, so importing this module never
changes the global backend (safe on headless servers and inside notebooks).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, bbox_inches="tight")
    tmp.replace(path)
    return path


def plot_confusion_matrix(confusion: torch.Tensor | np.ndarray, path: str | Path,
                          class_names: Sequence[str] | None = None, normalize: bool = True,
                          title: str | None = None) -> Path:
    """Write a (C, C) confusion matrix (rows = true, columns = predicted) as a PNG.

    Colours show row-normalised rates (each row = recall distribution of one true class) when
    ``normalize``; cells carry counts when C <= 30. The figure grows with C so that 60 or 120
    class names stay legible. Returns ``path``.
    """
    cm = confusion.detach().cpu().numpy() if isinstance(confusion, torch.Tensor) else np.asarray(confusion)
    cm = cm.astype(np.float64)
    c = cm.shape[0]
    names = list(class_names) if class_names is not None else [str(i) for i in range(c)]
    if normalize:
        rows = cm.sum(axis=1, keepdims=True)
        shown = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    else:
        shown = cm
    side = float(min(max(5.0, 0.22 * c + 3.0), 40.0))
    fig = _figure(side + 1.5, side)
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(shown, cmap="Blues", vmin=0.0, vmax=1.0 if normalize else None, interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class" if normalize else "count")
    fontsize = 9 if c <= 20 else (7 if c <= 60 else 5)
    ax.set_xticks(range(c))
    ax.set_yticks(range(c))
    ax.set_xticklabels(names, rotation=90, fontsize=fontsize)
    ax.set_yticklabels(names, fontsize=fontsize)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if c <= 30:
        for i in range(c):
            for j in range(c):
                if cm[i, j] > 0:
                    colour = "white" if shown[i, j] > 0.5 * (shown.max() or 1.0) else "black"
                    ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=fontsize, color=colour)
    ax.set_title(title or "Confusion matrix")
    return _save(fig, path)


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(values) < window:
        return values
    kernel = np.ones(window) / window
    head = np.array([values[: i + 1].mean() for i in range(window - 1)])
    return np.concatenate([head, np.convolve(values, kernel, mode="valid")])


def plot_curves(history: Mapping[str, Any], path: str | Path, title: str | None = None) -> Path:
    """Write loss (left) and accuracy (right) curves of a run as a PNG.

    ``history`` is the engine's: ``history["train"]`` = per-step dicts with ``epoch``
    (fractional progress), ``loss``; ``history["epochs"]`` = per-epoch dicts with
    ``epoch`` and any of ``train_loss``, ``train_top1``, ``eval_loss``, ``eval_top1``,
    ``eval_top5``, ``eval_mean_class``. Returns ``path``.
    """
    steps = list(history.get("train", []))
    epochs = list(history.get("epochs", []))
    fig = _figure(12, 4.5)
    ax_loss = fig.add_subplot(1, 2, 1)
    ax_acc = fig.add_subplot(1, 2, 2)
    if steps:
        x = np.array([s["epoch"] for s in steps], dtype=np.float64)
        y = np.array([s["loss"] for s in steps], dtype=np.float64)
        ax_loss.plot(x, y, color="tab:blue", alpha=0.25, linewidth=0.8, label="train (per step)")
        window = max(1, len(y) // 50)
        ax_loss.plot(x, _smooth(y, window), color="tab:blue", linewidth=1.8,
                     label=f"train (mean of {window})" if window > 1 else "train")

    def series(key: str) -> tuple[list[float], list[float]]:
        pts = [(e["epoch"], e[key]) for e in epochs if e.get(key) is not None and not _isnan(e[key])]
        return [p[0] for p in pts], [p[1] for p in pts]

    ex, ey = series("eval_loss")
    if ex:
        ax_loss.plot(ex, ey, "o-", color="tab:orange", label="eval")
    from matplotlib.ticker import MaxNLocator

    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    ax_loss.set_title("Loss")
    ax_loss.grid(alpha=0.3)
    if ax_loss.lines:
        ax_loss.legend()

    for key, label, style in (("train_top1", "train top-1", "s--"), ("eval_top1", "eval top-1", "o-"),
                              ("eval_top5", "eval top-5", "^-"), ("eval_mean_class", "eval mean-class", "d-")):
        sx, sy = series(key)
        if sx:
            ax_acc.plot(sx, [100 * v for v in sy], style, label=label)
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy (%)")
    ax_acc.set_ylim(0, 102)
    ax_acc.set_title("Accuracy")
    ax_acc.grid(alpha=0.3)
    if ax_acc.lines:
        ax_acc.legend(loc="lower right")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)
