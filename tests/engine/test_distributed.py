"""Two CPU processes (gloo) through accelerate's debug_launcher: DDP training and exact
evaluation counts with gather_for_metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from mmfusion.engine import TrainConfig, evaluate, train
from mmfusion.engine.optim import lr_factor

IN_DIM, NUM_CLASSES = 6, 3
TRAIN_N, EVAL_N = 32, 13  # 13 does not split evenly over 2 processes x batch 4: padding must not count


class ToySet(Dataset):
    def __init__(self, n: int, seed: int = 0, augment: bool = True) -> None:
        g = torch.Generator().manual_seed(seed)
        self.y = torch.randint(0, NUM_CLASSES, (n,), generator=g)
        self.x = torch.randn(n, IN_DIM, generator=g) + 2.0 * nn.functional.one_hot(self.y, IN_DIM).float()
        self.augment = augment
        self.class_names = ["clap", "wave", "kick"]

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict:
        x = self.x[i] + (0.1 * torch.randn(IN_DIM) if self.augment else 0.0)
        return {"skeleton": x, "label": self.y[i], "name": f"s{i}"}


class TwoStream(nn.Module):
    """(N, IN_DIM) -> logits (N, C); the second stream is dropped (never reaches the loss),
    as with a missing modality, so DDP needs find_unused_parameters=True."""

    def __init__(self) -> None:
        super().__init__()
        self.used = nn.Sequential(nn.Linear(IN_DIM, 16), nn.ReLU(), nn.Linear(16, NUM_CLASSES))
        self.dropped = nn.Linear(IN_DIM, NUM_CLASSES)

    def forward(self, batch: dict) -> dict:
        return {"logits": self.used(batch["skeleton"])}


def _config(out_dir: str) -> TrainConfig:
    return TrainConfig(epochs=2, batch_size=4, eval_batch_size=4, lr=0.05, warmup_epochs=0.5, cpu=True,
                       output_dir=out_dir, find_unused_parameters=True, log_every=1, keep_last=1)


def _worker(out_dir: str) -> None:
    from accelerate.state import PartialState

    PartialState._reset_state()  # forked from pytest: drop the parent's single-process state
    torch.set_num_threads(1)
    result = train(_config(out_dir), TwoStream, ToySet(TRAIN_N), ToySet(EVAL_N, seed=1, augment=False))
    state = PartialState()
    record = {"rank": state.process_index, "world": state.num_processes, "steps": result.global_step,
              "metrics": result.metrics, "lrs": [h["lr"] for h in result.history["train"]]}
    Path(out_dir, f"rank{state.process_index}.json").write_text(json.dumps(record))


@pytest.mark.slow
def test_two_process_training_and_exact_eval_counts(tmp_path, monkeypatch) -> None:
    from accelerate import debug_launcher

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    out = str(tmp_path / "ddp")
    debug_launcher(_worker, args=(out,), num_processes=2)
    records = [json.loads(Path(out, f"rank{r}.json").read_text()) for r in (0, 1)]
    cfg = _config(out)
    steps_per_epoch = TRAIN_N // (cfg.batch_size * 2)
    for rec in records:
        assert rec["world"] == 2
        assert rec["steps"] == cfg.epochs * steps_per_epoch == 8
        m = rec["metrics"]
        # gather_for_metrics removed the 3 padded duplicates: each eval sample counted once
        assert m["num_samples"] == EVAL_N and sum(map(sum, m["confusion"])) == EVAL_N
        # the schedule follows optimizer steps whatever the process count
        expected = [cfg.lr * lr_factor(k, cfg, steps_per_epoch) for k in range(1, 9)]
        assert rec["lrs"] == pytest.approx(expected, rel=1e-9)
    assert records[0]["metrics"] == records[1]["metrics"]  # every rank computed the same metrics
    # a single-process evaluation of the saved weights finds the same numbers
    net = TwoStream()
    from mmfusion.registry import load_weights

    load_weights(net, Path(out, "model.safetensors"))
    single = evaluate(net, ToySet(EVAL_N, seed=1, augment=False), batch_size=5, cpu=True)
    assert single.num_samples == EVAL_N
    assert single.confusion.tolist() == records[0]["metrics"]["confusion"]
    assert math.isclose(single.top1, records[0]["metrics"]["top1"])
    assert math.isclose(single.loss, records[0]["metrics"]["loss"], rel_tol=1e-5)
    assert Path(out, "confusion_matrix.png").is_file() and Path(out, "checkpoints").is_dir()


def _global_batch_config(out_dir: str) -> TrainConfig:
    return TrainConfig(epochs=2, global_batch_size=8, lr=0.05, warmup_epochs=0.5, cpu=True, output_dir=out_dir,
                       find_unused_parameters=True, log_every=1, keep_last=0, eval_every=0)


def _global_batch_worker(out_dir: str) -> None:
    from accelerate.state import PartialState

    PartialState._reset_state()
    torch.set_num_threads(1)
    train(_global_batch_config(out_dir), TwoStream, ToySet(TRAIN_N))


def test_process_batch_size() -> None:
    cfg = TrainConfig(global_batch_size=16)
    assert cfg.process_batch_size(1, 1) == 16 and cfg.process_batch_size(2, 2) == 4
    assert TrainConfig(batch_size=5).process_batch_size(4, 1) == 5
    from mmfusion.errors import ConfigError

    with pytest.raises(ConfigError, match="not divisible by 3 process"):
        cfg.process_batch_size(3, 1)


@pytest.mark.slow
def test_global_batch_makes_two_processes_train_like_one(tmp_path, monkeypatch) -> None:
    """Same global batch: one step of 2 processes x 4 samples = one step of 1 process x 8 samples
    (same samples, same augmentation), so the weights agree up to float summation order."""
    from accelerate import debug_launcher
    from safetensors.torch import load_file

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    result = train(_global_batch_config(one), TwoStream, ToySet(TRAIN_N))
    assert result.global_step == 2 * TRAIN_N // 8
    debug_launcher(_global_batch_worker, args=(two,), num_processes=2)
    w1, w2 = load_file(Path(one, "model.safetensors")), load_file(Path(two, "model.safetensors"))
    assert w1.keys() == w2.keys()
    torch.manual_seed(0)  # the engine seeds with cfg.seed=0 before building: the initial weights
    start = TwoStream()
    for k in w1:
        torch.testing.assert_close(w1[k], w2[k], rtol=1e-5, atol=1e-6)
    moved = (w1["used.0.weight"] - start.used[0].weight.detach()).abs().max().item()
    assert moved > 1e-3  # training moved them (the agreement above is not trivial)
