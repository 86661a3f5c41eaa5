"""Multi-clip test scoring (hand cases) and the best checkpoint kept by the training loop."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file
from torch import nn
from torch.utils.data import Dataset

from mmfusion.engine import TrainConfig, evaluate, train
from mmfusion.engine.evaluation import ClipTesting, clip_forward
from mmfusion.errors import ConfigError

NUM_CLASSES = 3


class EchoLogits(nn.Module):
    """Returns its input (N, C) as the logits: the test decides every score by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, batch: dict) -> dict:
        return {"logits": batch["skeleton"] + 0 * self.dummy}


def test_prob_average_is_the_mean_softmax_of_the_clips() -> None:
    # sample 0: clip logits favour class 0 once strongly, class 1 twice mildly
    clips = torch.tensor([[[10.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0]],
                          [[0.0, 0.0, 2.0], [0.0, 0.0, 2.0], [0.0, 3.0, 0.0]]])  # (N=2, K=3, C=3)
    batch = {"skeleton": clips, "label": torch.tensor([0, 2])}
    logits, probs = clip_forward(EchoLogits(), batch, ClipTesting(sample_ndim=1, average="prob"))
    expected = clips.softmax(-1).mean(1)
    torch.testing.assert_close(probs, expected)
    torch.testing.assert_close(logits.exp(), expected)
    assert probs.argmax(1).tolist() == [0, 2]
    # mean logits ("score") rank sample 0 the same way but sample 1 differently: [0, 1, 4/3] -> 2
    score_logits, none = clip_forward(EchoLogits(), batch, ClipTesting(sample_ndim=1, average="score"))
    assert none is None
    torch.testing.assert_close(score_logits, clips.mean(1))


def test_single_clip_batches_pass_through() -> None:
    x = torch.tensor([[1.0, 2.0, 0.0]])
    logits, probs = clip_forward(EchoLogits(), {"skeleton": x, "label": torch.tensor([1])},
                                 ClipTesting(sample_ndim=1, average="score"))
    torch.testing.assert_close(logits, x)
    assert probs is None
    with pytest.raises(ConfigError, match="average"):
        ClipTesting(average="max")  # type: ignore[arg-type]


class ClipSet(Dataset):
    """Samples of K clips of logits; every clip but the last votes for the label."""

    def __init__(self, n: int = 6, k: int = 4) -> None:
        g = torch.Generator().manual_seed(0)
        self.y = torch.arange(n) % NUM_CLASSES
        self.x = torch.randn(n, k, NUM_CLASSES, generator=g)
        self.x[:, :-1] += 4.0 * nn.functional.one_hot(self.y, NUM_CLASSES)[:, None]
        self.x[:, -1] += 30.0 * nn.functional.one_hot((self.y + 1) % NUM_CLASSES, NUM_CLASSES)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict:
        return {"skeleton": self.x[i], "label": int(self.y[i]), "name": f"s{i}"}


def test_evaluate_averages_clips_and_collects_named_scores() -> None:
    data = ClipSet()
    metrics, scores = evaluate(EchoLogits(), data, batch_size=4, cpu=True, collect=True,
                               clips=ClipTesting(sample_ndim=1, average="prob"))
    # one confident wrong clip cannot outvote three right ones in probability space ...
    assert metrics.top1 == 1.0 and metrics.num_samples == 6
    assert scores.kind == "prob" and scores.names == [f"s{i}" for i in range(6)]
    torch.testing.assert_close(scores.scores, data.x.softmax(-1).mean(1))
    # ... but it does when the logits are averaged
    by_score = evaluate(EchoLogits(), data, batch_size=4, cpu=True, clips=ClipTesting(sample_ndim=1,
                                                                                      average="score"))
    assert by_score.top1 == 0.0


class ToySet(Dataset):
    """Separable 3-class points."""

    def __init__(self, n: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.y = torch.randint(0, NUM_CLASSES, (n,), generator=g)
        self.x = torch.randn(n, 6, generator=g) + 2.0 * nn.functional.one_hot(self.y, 6).float()

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict:
        return {"skeleton": self.x[i], "label": int(self.y[i])}


class ToyMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(6, 16), nn.Linear(16, NUM_CLASSES)

    def forward(self, batch: dict) -> dict:
        return {"logits": self.fc2(torch.relu(self.fc1(batch["skeleton"])))}


def _sabotage_from(step: int):
    """A callback that breaks the classifier after every step from ``step`` on (it then predicts
    class 2 only), so the best evaluation is an earlier one."""

    def cb(info) -> None:
        if info.event == "step" and info.global_step >= step:
            with torch.no_grad():
                fc2 = getattr(info.model, "module", info.model).fc2
                fc2.weight.zero_()
                fc2.bias.copy_(torch.tensor([0.0, 0.0, 1.0]))

    return cb


def _cfg(tmp_path, name: str, **kw) -> TrainConfig:
    return TrainConfig(**{**dict(epochs=4, batch_size=4, lr=0.05, cpu=True, output_dir=str(tmp_path / name),
                                 keep_last=5, warmup_epochs=0.0, log_every=1), **kw})


def test_best_checkpoint_is_the_best_evaluation(tmp_path) -> None:
    train_set, eval_set = ToySet(16, 0), ToySet(30, 1)
    res = train(_cfg(tmp_path, "run"), ToyMLP(), train_set, eval_set, model_name="toy",
                callbacks=[_sabotage_from(4 * 2 + 1)])  # epochs 3 and 4 are broken
    tops = [e["eval_top1"] for e in res.history["epochs"]]
    first_max = max(range(len(tops)), key=lambda i: (tops[i], -i))
    best = json.loads((res.run_dir / "best.json").read_text())
    assert best["epoch"] == first_max + 1 and best["value"] == pytest.approx(tops[first_max])
    assert best["epoch"] <= 2 and res.best["epoch"] == best["epoch"]
    model = ToyMLP()
    model.load_state_dict(load_file(str(res.run_dir / "model_best.safetensors")))
    assert evaluate(model, eval_set, cpu=True).top1 == pytest.approx(best["value"])
    assert not torch.equal(load_file(str(res.weights))["fc2.weight"], model.fc2.weight.detach())


def test_best_survives_a_resume(tmp_path) -> None:
    train_set, eval_set = ToySet(16, 0), ToySet(30, 1)
    full = train(_cfg(tmp_path, "full"), ToyMLP(), train_set, eval_set, model_name="toy",
                 callbacks=[_sabotage_from(5)])
    # the same run, killed after 6 steps (inside epoch 2, after the best evaluation) by max_steps,
    # then resumed to the end: without best.json the resumed run would take epoch 2 as its best
    cut = train(_cfg(tmp_path, "cut", max_steps=6), ToyMLP(), train_set, eval_set, model_name="toy",
                callbacks=[_sabotage_from(5)])
    assert cut.global_step == 6
    torch.manual_seed(0)  # the model is rebuilt before resuming; its initial weights are overwritten
    resumed = train(_cfg(tmp_path, "cut", resume="auto"), ToyMLP(), train_set, eval_set, model_name="toy",
                    callbacks=[_sabotage_from(5)])
    assert resumed.global_step == full.global_step == 16
    best_full = json.loads((full.run_dir / "best.json").read_text())
    best_resumed = json.loads((resumed.run_dir / "best.json").read_text())
    assert {k: best_full[k] for k in ("epoch", "step", "value")} == \
        {k: best_resumed[k] for k in ("epoch", "step", "value")}
    assert best_full["epoch"] == 1 and math.isfinite(best_full["value"])
    a, b = load_file(str(full.run_dir / "model_best.safetensors")), load_file(str(resumed.run_dir /
                                                                                  "model_best.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
