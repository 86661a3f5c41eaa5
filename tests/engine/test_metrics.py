"""Engine metrics on hand-made predictions, and the PNG figures."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from mmfusion.engine.metrics import (
    classification_metrics,
    confusion_matrix,
    mean_class_accuracy,
    per_class_accuracy,
    topk_accuracy,
)
from mmfusion.engine.plots import plot_confusion_matrix, plot_curves
from mmfusion.errors import ConfigError


def _logits_for(preds: list[int], num_classes: int, second: list[int] | None = None) -> torch.Tensor:
    """Logits whose argmax is ``preds`` and (optionally) runner-up is ``second``."""
    logits = torch.zeros(len(preds), num_classes)
    logits[torch.arange(len(preds)), torch.tensor(preds)] = 2.0
    if second is not None:
        logits[torch.arange(len(preds)), torch.tensor(second)] = 1.0
    return logits


def test_confusion_matrix_by_hand() -> None:
    target = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2, 3])
    preds = torch.tensor([0, 0, 1, 1, 2, 2, 2, 0, 2, 3])
    cm = confusion_matrix(preds, target, 5)
    expected = torch.tensor([
        [2, 1, 0, 0, 0],
        [0, 1, 1, 0, 0],
        [1, 0, 3, 0, 0],
        [0, 0, 0, 1, 0],
        [0, 0, 0, 0, 0],  # class 4 has no samples
    ])
    assert torch.equal(cm, expected)
    acc = per_class_accuracy(cm)
    assert torch.allclose(acc[:4], torch.tensor([2 / 3, 1 / 2, 3 / 4, 1.0], dtype=torch.float64))
    assert math.isnan(float(acc[4]))
    # the absent class is left out of the mean, not counted as 0
    assert mean_class_accuracy(cm) == pytest.approx((2 / 3 + 1 / 2 + 3 / 4 + 1) / 4)


def test_topk_and_summary_metrics() -> None:
    target = [0, 0, 0, 1, 1, 2, 2, 2, 2, 3]
    preds = [0, 0, 1, 1, 2, 2, 2, 0, 2, 3]
    second = [1, 2, 0, 0, 1, 1, 1, 1, 0, 0]  # true class is runner-up for samples 2 and 4 only
    logits = _logits_for(preds, 6, second)
    t = torch.tensor(target)
    acc = topk_accuracy(logits, t, ks=(1, 2, 6, 10))
    assert acc[1] == pytest.approx(7 / 10)
    assert acc[2] == pytest.approx(9 / 10)
    assert acc[6] == 1.0 and acc[10] == 1.0  # k >= C counts everything
    m = classification_metrics(logits, t, class_names=[f"c{i}" for i in range(6)], loss=0.5)
    assert m.top1 == pytest.approx(0.7)
    assert m.num_samples == 10
    assert int(m.confusion.sum()) == 10
    assert m.num_present_classes == 4
    d = m.to_dict()
    assert d["per_class"]["c0"] == pytest.approx(2 / 3)
    assert d["per_class"]["c5"] is None  # JSON has no NaN
    assert d["loss"] == 0.5
    assert "top1 70.00%" in m.summary()


def test_metric_input_checks() -> None:
    with pytest.raises(ConfigError, match="target values"):
        classification_metrics(torch.zeros(3, 4), torch.tensor([0, 1, 4]))
    with pytest.raises(ConfigError, match="logits"):
        classification_metrics(torch.zeros(3), torch.tensor([0, 1, 2]))
    with pytest.raises(ConfigError, match="class names"):
        classification_metrics(torch.zeros(2, 3), torch.tensor([0, 1]), class_names=["a"])


def test_plots_write_readable_pngs(tmp_path) -> None:
    rng = np.random.default_rng(0)
    names = [f"A{a:03d} action {a}" for a in range(1, 61)]
    cm = torch.from_numpy(rng.integers(0, 3, (60, 60)) + np.eye(60, dtype=np.int64) * 20)
    big = plot_confusion_matrix(cm, tmp_path / "cm60.png", names)
    small = plot_confusion_matrix(cm[:4, :4], tmp_path / "cm4.png", names[:4], title="four classes")
    with Image.open(big) as im_big, Image.open(small) as im_small:
        # the figure grows with the class count so that 60 names stay legible
        assert im_big.size[0] > 1.5 * im_small.size[0]
        arr = np.asarray(im_small.convert("L"))
        assert arr.min() < 100 < arr.max()  # not a blank canvas
    history = {
        "train": [{"step": s, "epoch": s / 10, "loss": 2.0 / (1 + s), "lr": 0.1} for s in range(1, 31)],
        "epochs": [{"epoch": e, "train_top1": 0.2 * e, "eval_top1": 0.25 * e, "eval_top5": 0.3 * e,
                    "eval_mean_class": 0.2 * e, "eval_loss": 1.0 / e} for e in (1, 2, 3)],
    }
    curves = plot_curves(history, tmp_path / "curves.png", title="toy")
    with Image.open(curves) as im:
        assert im.size[0] > im.size[1] > 200
    # an empty history still gives a (blank) figure instead of crashing
    assert plot_curves({"train": [], "epochs": []}, tmp_path / "empty.png").exists()
