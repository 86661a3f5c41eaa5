"""The Accelerate training loop on a toy data set and toy models (CPU, one process)."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from safetensors.torch import load_file
from torch import nn
from torch.utils.data import Dataset

import mmfusion
from mmfusion.engine import TrainConfig, train
from mmfusion.engine.checkpoint import list_checkpoints
from mmfusion.engine.optim import lr_factor
from mmfusion.errors import CheckpointError, ConfigError
from mmfusion.registry import register_model

IN_DIM, NUM_CLASSES = 6, 3


class ToySet(Dataset):
    """Separable 3-class points; train mode adds noise from the global torch RNG, like the
    real data set's augmentation does."""

    classes = [0, 1, 2]
    class_names = ["clap", "wave", "kick"]
    modalities = ("skeleton",)

    def __init__(self, n: int, seed: int = 0, augment: bool = True) -> None:
        g = torch.Generator().manual_seed(seed)
        self.y = torch.randint(0, NUM_CLASSES, (n,), generator=g)
        self.x = torch.randn(n, IN_DIM, generator=g) + 2.0 * nn.functional.one_hot(self.y, IN_DIM).float()
        self.augment = augment

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict:
        x = self.x[i] + (0.1 * torch.randn(IN_DIM) if self.augment else 0.0)
        return {"skeleton": x, "label": self.y[i], "name": f"S001C001P001R001A{i + 1:03d}"}


class ToyMLP(nn.Module):
    """(N, IN_DIM) -> logits (N, C); dropout makes the loss depend on the RNG state."""

    def __init__(self, num_classes: int = NUM_CLASSES, hidden: int = 16, dropout: float = 0.2) -> None:
        super().__init__()
        self.fc1 = nn.Linear(IN_DIM, hidden)
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, batch: dict) -> dict:
        return {"logits": self.fc2(self.drop(torch.relu(self.fc1(batch["skeleton"])))), "aux": batch["skeleton"]}


def engine_test_mlp(num_classes: int = NUM_CLASSES, hidden: int = 16, dropout: float = 0.2) -> nn.Module:
    return ToyMLP(num_classes, hidden, dropout)


@pytest.fixture(autouse=True)
def _toy_in_registry():
    """Register the toy model for one test only, so other test files never see it in list_models()."""
    from mmfusion import registry

    names = ("engine_test_mlp", "engine_test_other")
    for name in names:
        register_model(name=name)(engine_test_mlp)
    yield
    for name in names:
        for table in (registry._model_entrypoints, registry._model_to_module, registry._model_tags):
            table.pop(name, None)


def _cfg(tmp_path, name: str, **kw) -> TrainConfig:
    base = dict(epochs=2, batch_size=4, lr=0.05, cpu=True, output_dir=str(tmp_path / name), log_every=1,
                warmup_epochs=0.5, keep_last=2)
    base.update(kw)
    return TrainConfig(**base)


def _losses(result) -> list[float]:
    return [h["loss"] for h in result.history["train"]]


def _weights(result) -> dict[str, torch.Tensor]:
    return load_file(str(result.weights))


def test_one_step_is_one_sgd_update(tmp_path) -> None:
    """One full-batch step equals w - lr * grad computed by hand."""
    data = ToySet(12, augment=False)
    net = ToyMLP(dropout=0.0)
    w0 = copy.deepcopy(net)
    cfg = _cfg(tmp_path, "one", batch_size=12, max_steps=1, optimizer="sgd", momentum=0.0, weight_decay=0.0,
               scheduler="constant", warmup_epochs=0.0, lr=0.5)
    result = train(cfg, net, data, model_name="engine_test_mlp")
    assert result.global_step == 1 and len(result.history["train"]) == 1
    batch = {"skeleton": data.x, "label": data.y}
    loss = nn.functional.cross_entropy(w0(batch)["logits"], data.y)
    loss.backward()
    expected = {k: p.detach() - 0.5 * p.grad for k, p in w0.named_parameters()}
    saved = _weights(result)
    for k, v in expected.items():
        torch.testing.assert_close(saved[k], v, rtol=0, atol=1e-6)
        assert not torch.equal(saved[k], dict(w0.named_parameters())[k].detach())
    assert result.history["train"][0]["loss"] == pytest.approx(loss.item(), abs=1e-6)
    assert result.history["train"][0]["lr"] == 0.5


def test_evaluation_frequency_does_not_change_training(tmp_path) -> None:
    """Evaluating after every epoch or only at the end gives the same weights and final metrics:
    evaluation never draws from the RNG that dropout and augmentation use (recipes rely on it to
    evaluate less often, e.g. the demo's eval_every=7)."""
    train_set, eval_set = ToySet(32), ToySet(10, seed=1, augment=False)
    runs = {every: train(_cfg(tmp_path, f"every{every}", epochs=3, eval_every=every), "engine_test_mlp",
                         train_set, eval_set) for every in (1, 0)}
    assert len([h for h in runs[1].history["epochs"] if "eval_top1" in h]) == 3
    assert len([h for h in runs[0].history["epochs"] if "eval_top1" in h]) == 1
    assert _losses(runs[1]) == _losses(runs[0])
    for k, v in _weights(runs[1]).items():
        assert torch.equal(_weights(runs[0])[k], v), k
    assert runs[1].metrics == runs[0].metrics


def test_resume_after_crash_is_bitwise_identical(tmp_path) -> None:
    """2 epochs uninterrupted == 1 epoch, crash, resume='auto' for the 2nd (per-step losses)."""
    train_set, eval_set = ToySet(32), ToySet(10, seed=1, augment=False)
    full = train(_cfg(tmp_path, "full"), "engine_test_mlp", train_set, eval_set)
    assert full.global_step == 16

    def crash_after_first_epoch(info) -> None:
        if info.event == "epoch" and info.epoch == 0:
            raise KeyboardInterrupt("simulated crash")

    cfg = _cfg(tmp_path, "crashed")
    with pytest.raises(KeyboardInterrupt):
        train(cfg, "engine_test_mlp", train_set, eval_set, callbacks=[crash_after_first_epoch])
    assert [p.name for p in list_checkpoints(cfg.output_dir)] == ["step_00000008"]
    with pytest.raises(ConfigError, match="already holds checkpoints"):  # a fresh start would clobber it
        train(cfg, "engine_test_mlp", train_set, eval_set)
    resumed_steps: list[int] = []
    resumed = train(_cfg(tmp_path, "crashed", resume="auto"), "engine_test_mlp", train_set, eval_set,
                    callbacks=[lambda i: resumed_steps.append(i.global_step) if i.event == "step" else None])
    assert resumed_steps == list(range(9, 17))  # only the second epoch was run again
    assert _losses(resumed) == _losses(full)  # exact float equality
    assert [h["lr"] for h in resumed.history["train"]] == [h["lr"] for h in full.history["train"]]
    for k, v in _weights(full).items():
        assert torch.equal(_weights(resumed)[k], v), k
    assert resumed.metrics["top1"] == full.metrics["top1"]
    assert len(list_checkpoints(cfg.output_dir)) == 2  # keep_last


def test_mid_epoch_resume_with_accumulation(tmp_path) -> None:
    """A crash inside an epoch resumes from a step checkpoint via skip_first_batches."""
    train_set = ToySet(32)
    kw = dict(grad_accum=2, save_every_steps=3, clip_grad=1.0, optimizer="adamw", lr=0.01)
    full = train(_cfg(tmp_path, "full", **kw), "engine_test_mlp", train_set)
    assert full.global_step == 8  # 8 batches / 2 per step x 2 epochs

    def crash(info) -> None:
        if info.event == "step" and info.global_step == 6:  # epoch 2, right after the step-6 checkpoint
            raise RuntimeError("simulated crash")

    cfg = _cfg(tmp_path, "crashed", **kw)
    with pytest.raises(RuntimeError, match="simulated"):
        train(cfg, "engine_test_mlp", train_set, callbacks=[crash])
    state = json.loads((list_checkpoints(cfg.output_dir)[-1] / "trainer_state.json").read_text())
    assert (state["global_step"], state["epoch"], state["batch_in_epoch"]) == (6, 1, 4)  # mid-epoch
    resumed = train(_cfg(tmp_path, "crashed", resume=cfg.output_dir, **kw), "engine_test_mlp", train_set)
    assert _losses(resumed) == _losses(full)
    for k, v in _weights(full).items():
        assert torch.equal(_weights(resumed)[k], v), k


def test_gradient_accumulation_matches_large_batch(tmp_path) -> None:
    """accum 2 x batch 4 == batch 8 on a linear model (no BN, no dropout)."""
    data = ToySet(32, augment=False)
    kw = dict(epochs=2, optimizer="sgd", momentum=0.9, weight_decay=1e-4, warmup_epochs=0.0)
    big = train(_cfg(tmp_path, "b8", batch_size=8, **kw), "engine_test_mlp", data,
                model_kwargs={"dropout": 0.0})
    acc = train(_cfg(tmp_path, "b4x2", batch_size=4, grad_accum=2, **kw), "engine_test_mlp", data,
                model_kwargs={"dropout": 0.0})
    assert big.global_step == acc.global_step == 8
    torch.testing.assert_close(torch.tensor(_losses(acc)), torch.tensor(_losses(big)), rtol=0, atol=1e-6)
    wb, wa = _weights(big), _weights(acc)
    for k in wb:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=1e-6)


def test_safetensors_round_trip_and_outputs(tmp_path) -> None:
    train_set, eval_set = ToySet(16), ToySet(9, seed=1, augment=False)
    net = mmfusion.create_model("engine_test_mlp", hidden=8)
    cfg = _cfg(tmp_path, "rt", epochs=1, tracker="tensorboard", keep_last=0)
    result = train(cfg, net, train_set, eval_set, model_name="engine_test_mlp", model_kwargs={"hidden": 8})
    card = json.loads(result.model_config.read_text())
    assert card["model_name"] == "engine_test_mlp" and card["model_kwargs"] == {"hidden": 8}
    assert card["class_names"] == ToySet.class_names and card["modalities"] == ["skeleton"]
    assert card["classes"] == [0, 1, 2] and card["num_classes"] == 3
    loaded = mmfusion.create_model("engine_test_mlp", checkpoint=result.run_dir).eval()
    net.eval()
    batch = {"skeleton": eval_set.x, "label": eval_set.y}
    with torch.no_grad():
        assert torch.equal(loaded(batch)["logits"], net(batch)["logits"])
    with pytest.raises(RuntimeError, match="size mismatch|do not fit"):  # shapes differ (no silent load)
        mmfusion.create_model("engine_test_mlp", checkpoint=result.run_dir, hidden=4)
    with pytest.raises(CheckpointError, match="engine_test_mlp"):  # config.json names the model
        mmfusion.create_model("engine_test_other", checkpoint=result.run_dir)
    # run folder contents
    for name in ("train_config.json", "run_info.json", "metrics.json", "history.json", "curves.png",
                 "confusion_matrix.png", "model.safetensors"):
        assert (result.run_dir / name).is_file(), name
    assert not list_checkpoints(result.run_dir)  # keep_last=0 disables checkpoints
    assert list((result.run_dir / "logs").rglob("events.out.tfevents.*"))  # tensorboard tracker
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert metrics["num_samples"] == 9 and sum(map(sum, metrics["confusion"])) == 9
    assert set(metrics["per_class"]) == set(ToySet.class_names)
    assert json.loads((result.run_dir / "train_config.json").read_text())["epochs"] == 1
    assert result.top1 == metrics["top1"]


class LossModel(ToyMLP):
    calls = 0

    def loss(self, outputs: dict, target: torch.Tensor) -> torch.Tensor:
        LossModel.calls += 1
        return 2.0 * nn.functional.cross_entropy(outputs["logits"], target)


def test_model_loss_bf16_and_input_errors(tmp_path) -> None:
    data = ToySet(16, augment=False)
    res = train(_cfg(tmp_path, "loss", epochs=1, max_steps=2, mixed_precision="bf16"), lambda: LossModel(), data,
                model_name="engine_test_mlp")
    assert LossModel.calls == 2 and res.global_step == 2
    assert all(h["loss"] > 1.0 for h in res.history["train"])  # 2 x CE of ~3 classes is > 2 ln(3)/2
    assert list_checkpoints(res.run_dir)[-1].name == "step_00000002"  # stopped mid-epoch: saved there

    class NoLogits(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(IN_DIM, 3)

        def forward(self, batch: dict) -> torch.Tensor:
            return self.fc(batch["skeleton"])

    with pytest.raises(ConfigError, match="logits"):
        train(_cfg(tmp_path, "nologits", epochs=1), NoLogits(), data)
    with pytest.raises(ConfigError, match="fp16"):
        train(_cfg(tmp_path, "fp16", mixed_precision="fp16"), ToyMLP(), data)
    with pytest.raises(ConfigError, match="no training batch"):
        train(_cfg(tmp_path, "tiny", batch_size=32), ToyMLP(), data)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        train(_cfg(tmp_path, "nores", resume=str(tmp_path / "missing")), ToyMLP(), data)


def test_lr_schedule_shapes() -> None:
    cfg = TrainConfig(epochs=10, lr=0.1, warmup_epochs=1, warmup_factor=0.1, min_lr=0.001)
    spe = 10
    assert lr_factor(0, cfg, spe) == pytest.approx(0.1)
    assert lr_factor(5, cfg, spe) == pytest.approx(0.55)
    assert lr_factor(10, cfg, spe) == pytest.approx(1.0)
    assert lr_factor(100, cfg, spe) == pytest.approx(0.01)  # min_lr / lr
    assert lr_factor(55, cfg, spe) == pytest.approx(0.01 + 0.99 * 0.5)  # half-way through the cosine
    step = TrainConfig(epochs=10, scheduler="step", milestones=(3, 6), gamma=0.1)
    assert [lr_factor(s, step, spe) for s in (29, 30, 59, 60)] == pytest.approx([1, 0.1, 0.1, 0.01])
    with pytest.raises(ConfigError, match="milestones"):
        TrainConfig(scheduler="step")


class SettingsSet(ToySet):
    def settings(self) -> dict:
        return {"clip_len": {"skeleton": 4}, "image_size": 32}


def test_dataset_settings_go_to_the_model_card(tmp_path) -> None:
    """A data set's preprocessing settings are stored with the weights (inference needs them)."""
    result = train(_cfg(tmp_path, "ds", epochs=1, keep_last=0), "engine_test_mlp", SettingsSet(8))
    card = json.loads(result.model_config.read_text())
    assert card["dataset"] == {"clip_len": {"skeleton": 4}, "image_size": 32}
    plain = train(_cfg(tmp_path, "plain", epochs=1, keep_last=0), "engine_test_mlp", ToySet(8))
    assert "dataset" not in json.loads(plain.model_config.read_text())


def test_weight_average_is_evaluated_saved_and_resumed(tmp_path) -> None:
    """ema=True: metrics.json measures the average, model.safetensors holds it, model_raw.safetensors
    the optimizer's weights; a crash + resume gives the same average bit for bit."""
    from mmfusion.engine import evaluate
    from mmfusion.registry import load_weights

    train_set, eval_set = ToySet(32), ToySet(10, seed=1, augment=False)
    ema = dict(ema=True, ema_decay=0.9)
    full = train(_cfg(tmp_path, "ema", **ema), "engine_test_mlp", train_set, eval_set)
    avg, raw = _weights(full), load_file(str(tmp_path / "ema" / "model_raw.safetensors"))
    assert not torch.equal(avg["fc1.weight"], raw["fc1.weight"])
    net = ToyMLP()
    load_weights(net, full.weights)
    again = evaluate(net, eval_set, batch_size=4, cpu=True)
    assert again.confusion.tolist() == full.metrics["confusion"] and again.top1 == full.metrics["top1"]
    plain = train(_cfg(tmp_path, "plain"), "engine_test_mlp", train_set, eval_set)
    for k, v in _weights(plain).items():  # the average does not change the training itself
        assert torch.equal(raw[k], v), k

    def crash(info) -> None:
        if info.event == "step" and info.global_step == 11:
            raise KeyboardInterrupt("simulated crash")

    cut = _cfg(tmp_path, "ema_cut", save_every_steps=5, **ema)
    with pytest.raises(KeyboardInterrupt):
        train(cut, "engine_test_mlp", train_set, eval_set, callbacks=[crash])
    assert (list_checkpoints(cut.output_dir)[-1] / "ema.safetensors").is_file()
    resumed = train(_cfg(tmp_path, "ema_cut", resume="auto", save_every_steps=5, **ema), "engine_test_mlp",
                    train_set, eval_set)
    for k, v in avg.items():
        assert torch.equal(_weights(resumed)[k], v), k
    assert resumed.metrics["loss"] == full.metrics["loss"]


def test_schedule_is_timms_and_follows_steps(tmp_path) -> None:
    """The logged rate of every step is the timm schedule's (cosine with warm-up, per optimizer step)."""
    cfg = _cfg(tmp_path, "sched", epochs=3, warmup_epochs=1, warmup_factor=0.1, min_lr=0.001)
    result = train(cfg, ToyMLP(), ToySet(32), model_name="engine_test_mlp")
    spe = 8
    assert [h["lr"] for h in result.history["train"]] == pytest.approx(
        [cfg.lr * lr_factor(k, cfg, spe) for k in range(1, 3 * spe + 1)], rel=1e-12)
    assert result.history["train"][spe - 1]["lr"] == pytest.approx(cfg.lr)  # warm-up ends after epoch 1
    assert result.history["train"][-1]["lr"] == pytest.approx(0.001)
