"""Many / medium / few-shot accuracy of long-tailed training, and the engine's final report of it."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from mmfusion.engine import TrainConfig, train
from mmfusion.engine.metrics import add_shot_accuracy, classification_metrics, shot_accuracy, shot_groups
from mmfusion.errors import ConfigError


def test_groups_use_strict_many_and_few_thresholds() -> None:
    assert shot_groups([101, 100, 20, 19, 0]) == {"many": [0], "medium": [1, 2], "few": [3, 4]}
    assert shot_groups([11, 10, 2, 1], many=10, few=2) == {"many": [0], "medium": [1, 2], "few": [3]}
    with pytest.raises(ConfigError, match="above"):
        shot_groups([1], many=5, few=10)


def test_shot_accuracy_is_the_mean_class_accuracy_per_group() -> None:
    per_class = torch.tensor([1.0, 0.5, 0.25, 0.0, math.nan])  # class 4 absent from the test set
    out = shot_accuracy(per_class, [500, 150, 50, 10, 5])
    assert out["many"] == pytest.approx(0.75) and out["medium"] == pytest.approx(0.25) and out["few"] == 0.0
    assert out["classes"] == {"many": 2, "medium": 1, "few": 2}
    assert math.isnan(shot_accuracy(per_class, [5, 5, 5, 5, 5])["many"])  # an empty group
    with pytest.raises(ConfigError, match="class counts"):
        shot_accuracy(per_class, [1, 2])


def test_metrics_carry_shots_into_dict_and_summary() -> None:
    logits = torch.eye(3)[[0, 1, 2, 2]]
    target = torch.tensor([0, 1, 2, 1])
    m = classification_metrics(logits, target)
    assert "shots" not in m.to_dict()
    add_shot_accuracy(m, [300, 50, 3])
    assert m.to_dict()["shots"]["medium"] == pytest.approx(0.5)
    assert "many 100.00%" in m.summary() and "few 100.00%" in m.summary()
    assert add_shot_accuracy(classification_metrics(logits, target), [1, 2]).shots is None  # wrong length


class _Set(Dataset):
    class_counts = [6, 3, 1]
    shot_thresholds = (5.0, 2.0)

    def __init__(self) -> None:
        self.y = torch.tensor([0] * 6 + [1] * 3 + [2])
        self.x = nn.functional.one_hot(self.y, 3).float()

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict:
        return {"skeleton": self.x[i], "label": self.y[i]}


class _EpochAware(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.epochs: list[int] = []

    def set_epoch(self, epoch: int) -> None:
        self.epochs.append(epoch)

    def forward(self, batch: dict) -> dict:
        return {"logits": self.fc(batch["skeleton"])}


def test_engine_calls_set_epoch_and_reports_shots(tmp_path) -> None:
    model = _EpochAware()
    cfg = TrainConfig(epochs=3, batch_size=5, lr=0.1, cpu=True, output_dir=str(tmp_path / "run"), keep_last=0,
                      eval_every=0, threads=1)
    res = train(cfg, model, _Set(), _Set())
    assert model.epochs == [0, 1, 2]
    shots = json.loads((tmp_path / "run" / "metrics.json").read_text())["shots"]
    assert shots["classes"] == {"many": 1, "medium": 1, "few": 1} and shots["thresholds"] == {"many": 5.0, "few": 2.0}
    assert res.metrics["shots"]["many"] == shots["many"]
