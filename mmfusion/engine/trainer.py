"""The training / evaluation loop, on HuggingFace Accelerate.

One loop serves every model: a batch is a dict of modality tensors (N, ...) plus
``"label"`` (N,) int64; the model maps it to ``{"logits": (N, C), ...}``. The loss is the
model's own ``loss(outputs, target)`` when it defines one, else cross-entropy on the logits.

The same script runs on one CPU, one GPU, several GPUs or several machines; only the launch
differs (``python recipe.py`` / ``accelerate launch --multi_gpu --num_processes N recipe.py``).

Reproducibility: ``set_seed`` (process-specific for augmentation), a seedable sampler whose
order depends only on (seed, epoch), and DataLoaders with their own generators so that
iterating a loader never draws from the global RNG. A checkpoint stores model, optimizer,
scheduler, RNG states and the loop position; resuming (``resume="auto"``) skips the batches
already seen with ``skip_first_batches`` and continues the same run: on CPU with
``num_workers=0`` the resumed per-step losses equal the uninterrupted ones bit for bit
(with worker processes, random augmentation in workers is reseeded on resume).
"""

from __future__ import annotations

import json
import math
import platform
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..errors import ConfigError, MissingModalityError
from .checkpoint import (
    CHECKPOINTS,
    WEIGHTS,
    list_checkpoints,
    load_checkpoint,
    resolve_resume,
    save_checkpoint,
    save_weights,
    write_model_config,
)
from .config import TrainConfig, to_jsonable, write_json
from .metrics import ClassificationMetrics, classification_metrics
from .plots import plot_confusion_matrix, plot_curves


@dataclass
class StepInfo:
    """What a callback sees after each optimizer step (``event="step"``) or epoch (``"epoch"``).

    ``epoch`` is 0-based (the epoch being run / just finished); ``batch_in_epoch`` counts
    micro-batches of that epoch already consumed; ``loss`` is the step loss averaged over
    micro-batches and processes (``None`` for epoch events); ``metrics`` holds the epoch's
    evaluation when there was one.
    """

    event: str
    epoch: int
    global_step: int
    batch_in_epoch: int
    loss: float | None
    lr: float
    metrics: ClassificationMetrics | None
    accelerator: Any
    model: nn.Module


Callback = Callable[[StepInfo], None]


@dataclass
class TrainResult:
    """What :func:`train` returns (on every process; files are written by the main process).

    Attributes:
        run_dir: the run folder (``cfg.output_dir``).
        metrics: final evaluation as a JSON-ready dict (``top1``, ``top5``, ``mean_class``,
            ``per_class`` {name: acc}, ``confusion``, ``loss``, ``num_samples``); {} without eval set.
        eval: the same as :class:`~mmfusion.engine.metrics.ClassificationMetrics` (or None).
        history: ``{"train": [per-step dicts: step, epoch (fractional), loss, lr],
            "epochs": [per-epoch dicts: epoch, step, train_loss, train_top1, eval_*]}``.
        weights: ``<run>/model.safetensors``.
        model_config: ``<run>/config.json`` (for ``mmfusion.create_model(name, checkpoint=run_dir)``).
        plots: {"confusion": PNG, "curves": PNG} (the ones that were drawn).
        checkpoint: the last checkpoint folder (None if checkpoints are off).
        global_step: optimizer steps done.
        files: other outputs (train_config.json, run_info.json, metrics.json, history.json, logs).
    """

    run_dir: Path
    metrics: dict[str, Any]
    eval: ClassificationMetrics | None
    history: dict[str, list[dict[str, Any]]]
    weights: Path
    model_config: Path
    plots: dict[str, Path] = field(default_factory=dict)
    checkpoint: Path | None = None
    global_step: int = 0
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def top1(self) -> float:
        return float(self.metrics.get("top1", math.nan))

    @property
    def top5(self) -> float:
        return float(self.metrics.get("top5", math.nan))

    @property
    def mean_class(self) -> float:
        return float(self.metrics.get("mean_class", math.nan))


# ------------------------------------------------------------------------------------------ helpers


def default_collate(batch: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The data package's collate (tensors stacked to (N, ...), strings kept as lists)."""
    from ..data.dataset import collate

    return collate(batch)


def _fresh_accelerate_state() -> None:
    """Let one process call :func:`train` several times with different precision settings.

    Accelerate keeps process-wide singletons; the process group (``PartialState``) is kept,
    the per-run parts (mixed precision, accumulation plugin) are cleared.
    """
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=False)
    GradientState._reset_state()


def make_accelerator(cfg: TrainConfig) -> Any:
    """The ``Accelerator`` for ``cfg`` (seedable sampler, DDP kwargs, tracker, project folder)."""
    from accelerate import Accelerator, DataLoaderConfiguration, DistributedDataParallelKwargs
    from accelerate.utils import ProjectConfiguration

    from ..distributed import process_state, wants_cpu_group

    _fresh_accelerate_state()
    process_state(cfg.cpu)  # the process group first: a gloo group under a CPU-only multi-process launch
    run_dir = Path(cfg.output_dir)
    accelerator = Accelerator(
        cpu=wants_cpu_group(cfg.cpu),
        mixed_precision=cfg.mixed_precision,
        gradient_accumulation_steps=cfg.grad_accum,
        log_with=[cfg.tracker] if cfg.tracker else None,
        project_config=ProjectConfiguration(project_dir=str(run_dir), logging_dir=str(run_dir / "logs")),
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=cfg.seed),
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=cfg.find_unused_parameters)],
    )
    if accelerator.mixed_precision == "fp16" and accelerator.device.type == "cpu":
        raise ConfigError("mixed_precision='fp16' needs a GPU; use 'bf16' (or 'no') on the CPU")
    return accelerator


class SeededSamples(Dataset):
    """Wraps a map-style dataset so that sample ``i`` of epoch ``e`` is drawn under its own seed.

    Random augmentation that uses the global RNGs (torch, NumPy's legacy global, ``random``)
    becomes a function of (seed, epoch, index) only: the same in the main process or in any
    worker, for any process count or batch size, and after a mid-epoch resume. The caller's
    RNG states are restored after each sample, so the main process's global stream (dropout,
    ...) is consumed by the model alone. Attributes of the wrapped dataset stay reachable.
    """

    def __init__(self, dataset: Dataset, seed: int, stream: int = 0, follow_epoch: bool = True) -> None:
        self.dataset, self.seed, self.stream, self.epoch = dataset, int(seed), int(stream), 0
        self.follow_epoch = follow_epoch  # False: every pass draws the same samples (evaluation)

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def set_epoch(self, epoch: int) -> None:
        if self.follow_epoch:
            self.epoch = int(epoch)

    def sample_seed(self, index: int) -> int:
        return ((self.seed * 1_000_003 + self.stream) * 1_000_033 + self.epoch) * 10_000_019 + int(index)

    def __getitem__(self, index: int) -> Any:
        import random

        import numpy as np

        seed = self.sample_seed(index) % (2**63)
        py_state, np_state = random.getstate(), np.random.get_state()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            random.seed(seed)
            np.random.seed(seed % (2**32))
            try:
                return self.dataset[index]
            finally:
                random.setstate(py_state)
                np.random.set_state(np_state)

    def __getattr__(self, name: str) -> Any:
        if name == "dataset":  # not yet set (unpickling in a worker)
            raise AttributeError(name)
        return getattr(self.dataset, name)


def _epoch_generator_seed(seed: int, epoch: int) -> int:
    # Worker base seeds are drawn from the loader's generator when an epoch's iterator is made;
    # reseeding it per epoch makes them a function of (seed, epoch), also after a resume.
    return (seed + 1) * 1_000_003 + epoch


def _make_loader(dataset: Dataset, batch_size: int, shuffle: bool, cfg: TrainConfig, collate_fn: Callable,
                 pin_memory: bool, drop_last: bool) -> tuple[DataLoader, torch.Generator]:
    gen = torch.Generator()
    gen.manual_seed(_epoch_generator_seed(cfg.seed, 0))
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=cfg.num_workers,
                        collate_fn=collate_fn, pin_memory=pin_memory, drop_last=drop_last, generator=gen)
    return loader, gen


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD (momentum, Nesterov) or AdamW over trainable parameters, optionally without weight
    decay on biases and 1-D (normalisation) parameters."""
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not params:
        raise ConfigError(f"{type(model).__name__} has no trainable parameters")
    if cfg.no_decay_norm_bias:
        decay = [p for n, p in params if p.ndim > 1 and not n.endswith(".bias")]
        no_decay = [p for n, p in params if not (p.ndim > 1 and not n.endswith(".bias"))]
        groups: list[dict[str, Any]] = [{"params": decay, "weight_decay": cfg.weight_decay},
                                        {"params": no_decay, "weight_decay": 0.0}]
    else:
        groups = [{"params": [p for _, p in params], "weight_decay": cfg.weight_decay}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum,
                               nesterov=cfg.nesterov and cfg.momentum > 0)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas))


def lr_factor(step: float, cfg: TrainConfig, steps_per_epoch: int) -> float:
    """Learning-rate multiplier after ``step`` optimizer steps (warm-up, then cosine/step/constant)."""
    total = max(1, cfg.epochs * steps_per_epoch)
    warmup = cfg.warmup_epochs * steps_per_epoch
    if warmup > 0 and step < warmup:
        return cfg.warmup_factor + (1.0 - cfg.warmup_factor) * step / warmup
    if cfg.scheduler == "cosine":
        progress = min(1.0, (step - warmup) / max(1.0, total - warmup))
        floor = cfg.min_lr / cfg.lr
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
    if cfg.scheduler == "step":
        passed = sum(1 for m in cfg.milestones if step >= m * steps_per_epoch)
        return cfg.gamma ** passed
    return 1.0


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int,
                    num_processes: int = 1) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-optimizer-step LambdaLR.

    Accelerate's prepared scheduler advances ``num_processes`` times per optimizer step (its
    convention for per-process batches), so the lambda divides its counter by that number:
    the learning rate at optimizer step k is ``lr * lr_factor(k)`` for any process count.
    """

    def factor(count: int) -> float:
        return lr_factor(count / num_processes, cfg, steps_per_epoch)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _build_model(model: Any, model_kwargs: Mapping[str, Any] | None) -> tuple[nn.Module, str | None]:
    if isinstance(model, str):
        from ..registry import create_model

        return create_model(model, **dict(model_kwargs or {})), model
    if isinstance(model, nn.Module):
        return model, None
    if callable(model):
        built = model()
        if not isinstance(built, nn.Module):
            raise ConfigError(f"model factory returned {type(built).__name__}, not an nn.Module")
        return built, None
    raise ConfigError(f"model must be a registered name, an nn.Module or a factory, got {type(model).__name__}")


def _loss_fn(model: nn.Module, cfg: TrainConfig) -> Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor]:
    custom = getattr(model, "loss", None)
    if callable(custom) and not isinstance(custom, nn.Module):
        return custom

    def ce(outputs: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs["logits"].float(), target, label_smoothing=cfg.label_smoothing)

    return ce


def _forward(model: nn.Module, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    if "label" not in batch:
        raise MissingModalityError("label", "every training / evaluation batch needs integer class labels")
    outputs = model(batch)
    if not isinstance(outputs, Mapping) or "logits" not in outputs:
        name = type(getattr(model, "module", model)).__name__
        raise ConfigError(f"{name}.forward must return a dict with 'logits' (N, num_classes), "
                          f"got {type(outputs).__name__}")
    return outputs


def _flat_hparams(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten a config for trackers (TensorBoard hparams take scalars and strings only)."""
    out: dict[str, Any] = {}
    data = to_jsonable(obj)
    if not isinstance(data, dict):
        return {prefix.rstrip(".") or "value": str(data)}
    for k, v in data.items():
        if isinstance(v, dict):
            out.update(_flat_hparams(v, f"{prefix}{k}."))
        elif isinstance(v, (bool, int, float, str)):
            out[f"{prefix}{k}"] = v
        else:
            out[f"{prefix}{k}"] = json.dumps(v)
    return out


def _run_info(accelerator: Any, cfg: TrainConfig, model_name: str | None) -> dict[str, Any]:
    import accelerate

    from .. import __version__

    return {
        "model_name": model_name, "seed": cfg.seed, "num_processes": accelerator.num_processes,
        "distributed_type": str(accelerator.distributed_type), "device": str(accelerator.device),
        "mixed_precision": accelerator.mixed_precision, "grad_accum": accelerator.gradient_accumulation_steps,
        "global_batch_size": cfg.process_batch_size(accelerator.num_processes, accelerator.gradient_accumulation_steps)
        * accelerator.num_processes * accelerator.gradient_accumulation_steps,
        "versions": {"mmfusion": __version__, "torch": torch.__version__, "accelerate": accelerate.__version__,
                     "python": platform.python_version()},
        "command": sys.argv, "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def shutdown() -> None:
    """End the distributed process group (call once at the very end of a launched script).

    :func:`train` leaves the group alive so that a script can go on (evaluate, train again);
    without this call torch may warn at exit that the group was not destroyed.
    """
    from ..distributed import process_state

    state = process_state()
    if state.use_distributed:
        state.destroy_process_group()


# ---------------------------------------------------------------------------------------- evaluation


@torch.no_grad()
def run_evaluation(accelerator: Any, model: nn.Module, loader: Any,
                   class_names: Sequence[str] | None = None) -> ClassificationMetrics:
    """Evaluate a prepared model on a prepared loader; every process must call this.

    Logits and labels are collected with ``gather_for_metrics`` (which drops the samples the
    distributed sampler repeated to even out the shards), so the metrics cover each sample of
    the evaluation set exactly once. All processes compute the same metrics.
    """
    was_training = model.training
    model.eval()
    logits_all: list[torch.Tensor] = []
    labels_all: list[torch.Tensor] = []
    for batch in loader:
        outputs = _forward(model, batch)
        logits, labels = accelerator.gather_for_metrics((outputs["logits"].float(), batch["label"]))
        logits_all.append(logits.cpu())
        labels_all.append(labels.cpu())
    model.train(was_training)
    if not logits_all:
        raise ConfigError("the evaluation set is empty")
    logits = torch.cat(logits_all)
    labels = torch.cat(labels_all).long()
    loss = float(F.cross_entropy(logits, labels))
    names = list(class_names) if class_names is not None else None
    if names is not None and len(names) != logits.shape[1]:
        accelerator.print(f"warning: {len(names)} class names for {logits.shape[1]} classes; names not used")
        names = None
    return classification_metrics(logits, labels, names, loss=loss)


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
        from ..registry import create_model

        model = create_model(model, checkpoint=checkpoint, **dict(model_kwargs or {}))
    cfg = TrainConfig(epochs=1, batch_size=batch_size, num_workers=num_workers, mixed_precision=mixed_precision,
                      cpu=cpu, output_dir=".")
    accelerator = make_accelerator(cfg)
    pin = cfg.pin_memory and accelerator.device.type == "cuda"
    cfg.seed = seed
    data = SeededSamples(dataset, seed, stream=1, follow_epoch=False)
    loader, _ = _make_loader(data, batch_size, False, cfg, collate_fn or default_collate, pin, drop_last=False)
    model = accelerator.prepare_model(model, evaluation_mode=True)  # no DDP wrapper for inference
    loader = accelerator.prepare_data_loader(loader)
    if class_names is None:
        class_names = getattr(dataset, "class_names", None)
    return run_evaluation(accelerator, model, loader, class_names)


# ------------------------------------------------------------------------------------------ training


def train(cfg: TrainConfig, model: str | nn.Module | Callable[[], nn.Module], train_set: Dataset,
          eval_set: Dataset | None = None, *, model_kwargs: Mapping[str, Any] | None = None,
          model_name: str | None = None, classes: Sequence[Any] | None = None,
          class_names: Sequence[str] | None = None, modalities: Sequence[str] | None = None,
          recipe_config: Any = None, collate_fn: Callable | None = None,
          callbacks: Sequence[Callback] = ()) -> TrainResult:
    """Train ``model`` on ``train_set``, evaluate on ``eval_set``, write the run folder.

    Args:
        cfg: training settings (see :class:`~mmfusion.engine.config.TrainConfig`).
        model: a registered model name (built with ``model_kwargs`` after seeding), a
            zero-argument factory (called after seeding), or a built ``nn.Module``.
            ``forward(batch) -> {"logits": (N, C), ...}``; an optional
            ``loss(outputs, target) -> scalar`` replaces cross-entropy.
        train_set, eval_set: map-style datasets of sample dicts with ``"label"``.
        model_kwargs: entry-function arguments, stored in ``config.json``.
        model_name: registered name for ``config.json`` when ``model`` is not a name.
        classes, class_names, modalities: stored in ``config.json`` (defaults: the training
            set's ``classes`` / ``class_names`` / ``modalities`` attributes when present).
        recipe_config: the recipe's full config dataclass; saved as ``train_config.json``
            (loadable with ``--config``) instead of ``cfg`` alone.
        collate_fn: default :func:`mmfusion.data.dataset.collate`.
        callbacks: called with a :class:`StepInfo` after every optimizer step and epoch;
            an exception raised there stops training (after any checkpoint of that step).

    Returns:
        :class:`TrainResult` (same on every process).

    Raises:
        ConfigError: invalid settings, an output folder with an unrelated run, a model
            without ``"logits"``; CheckpointError: unusable ``resume`` target;
            FloatingPointError: a non-finite training loss.
    """
    cfg.validate()
    run_dir = Path(cfg.output_dir)
    accelerator = make_accelerator(cfg)
    from accelerate.utils import set_seed

    is_main = accelerator.is_main_process
    collate_fn = collate_fn or default_collate
    # -- run folder / resume target -------------------------------------------------------------
    resume_from = resolve_resume(cfg.resume, run_dir)
    if resume_from is None and list_checkpoints(run_dir):
        if not cfg.overwrite:
            raise ConfigError(f"{run_dir} already holds checkpoints of a run; pass resume='auto' (--resume auto) "
                              f"to continue it, overwrite=True to start over, or another output_dir")
        if is_main:
            shutil.rmtree(run_dir / CHECKPOINTS, ignore_errors=True)
    accelerator.wait_for_everyone()
    if is_main:
        run_dir.mkdir(parents=True, exist_ok=True)

    # -- seeded construction ---------------------------------------------------------------------
    set_seed(cfg.seed, device_specific=True, deterministic=cfg.deterministic)
    net, built_name = _build_model(model, model_kwargs)
    model_name = model_name or built_name
    if len(train_set) == 0:  # type: ignore[arg-type]
        raise ConfigError("the training set is empty")
    pin = cfg.pin_memory and accelerator.device.type == "cuda"
    train_data: Dataset = SeededSamples(train_set, cfg.seed, stream=0) if cfg.sample_seeding else train_set
    eval_data = eval_set
    if eval_set is not None and cfg.sample_seeding:
        eval_data = SeededSamples(eval_set, cfg.seed, stream=1, follow_epoch=False)
    batch_size = cfg.process_batch_size(accelerator.num_processes, int(accelerator.gradient_accumulation_steps))
    train_dl, train_gen = _make_loader(train_data, batch_size, True, cfg, collate_fn, pin, cfg.drop_last)
    eval_dl = None
    if eval_data is not None:
        eval_dl, _ = _make_loader(eval_data, cfg.eval_batch_size or batch_size, False, cfg, collate_fn, pin,
                                  drop_last=False)
    optimizer = build_optimizer(net, cfg)
    if eval_dl is not None:
        net, optimizer, train_dl, eval_dl = accelerator.prepare(net, optimizer, train_dl, eval_dl)
    else:
        net, optimizer, train_dl = accelerator.prepare(net, optimizer, train_dl)
    batches_per_epoch = len(train_dl)
    if batches_per_epoch == 0:
        raise ConfigError(f"no training batch: {len(train_set)} samples, batch_size={batch_size} "  # type: ignore[arg-type]
                          f"x {accelerator.num_processes} processes with drop_last={cfg.drop_last}")
    accum = int(accelerator.gradient_accumulation_steps)  # the launcher's environment may override cfg
    if accum != cfg.grad_accum:
        accelerator.print(f"note: gradient accumulation {accum} from the launcher (config says {cfg.grad_accum})")
    steps_per_epoch = math.ceil(batches_per_epoch / accum)
    scheduler = accelerator.prepare(build_scheduler(optimizer, cfg, steps_per_epoch, accelerator.num_processes))
    unwrapped = accelerator.unwrap_model(net)
    compute_loss = _loss_fn(unwrapped, cfg)

    classes = classes if classes is not None else getattr(train_set, "classes", None)
    class_names = class_names if class_names is not None else getattr(train_set, "class_names", None)
    modalities = modalities if modalities is not None else getattr(train_set, "modalities", None)
    if model_kwargs and "num_classes" in model_kwargs and class_names is not None \
            and len(class_names) != model_kwargs["num_classes"]:
        raise ConfigError(f"{len(class_names)} class names but num_classes={model_kwargs['num_classes']}")
    if model_name is None:
        accelerator.print("note: model_name unknown (pass model as a registered name or model_name=...); "
                          "config.json will not be loadable with mmfusion.create_model")

    # -- config out ------------------------------------------------------------------------------
    files: dict[str, Path] = {}
    saved_cfg = recipe_config if recipe_config is not None else cfg
    files["train_config"] = run_dir / "train_config.json"
    files["run_info"] = run_dir / "run_info.json"
    model_config_path = run_dir / "config.json"
    if is_main:
        write_json(files["train_config"], saved_cfg)
        write_json(files["run_info"], _run_info(accelerator, cfg, model_name))
        extra: dict[str, Any] = {"num_classes": (model_kwargs or {}).get("num_classes",
                                                                        len(class_names) if class_names else None)}
        data_settings = getattr(train_set, "settings", None)
        if data_settings is not None:  # e.g. NTUDataset's ClipSettings: how inputs were prepared, for inference
            extra["dataset"] = data_settings() if callable(data_settings) else data_settings
        write_model_config(run_dir, model_name, model_kwargs, classes, class_names, modalities, extra=extra)
    accelerator.print(f"mmfusion training run {run_dir}  ({accelerator.num_processes} process(es), "
                      f"{accelerator.device}, mixed_precision={accelerator.mixed_precision})")
    accelerator.print(json.dumps(to_jsonable(saved_cfg), indent=2))
    accelerator.print(f"{batches_per_epoch} batches per epoch / {accum} accumulation -> {steps_per_epoch} "
                      f"optimizer steps per epoch; global batch {batch_size * accelerator.num_processes * accum}")
    if cfg.tracker:
        accelerator.init_trackers(cfg.run_name or run_dir.name, config=_flat_hparams(saved_cfg))

    # -- resume ----------------------------------------------------------------------------------
    history: dict[str, list[dict[str, Any]]] = {"train": [], "epochs": []}
    start_epoch, start_batch, global_step = 0, 0, 0
    epoch_stats = {"loss_sum": 0.0, "steps": 0, "correct": 0.0, "count": 0.0}
    last_ckpt: Path | None = None
    if resume_from is not None:
        state = load_checkpoint(accelerator, resume_from)
        last_ckpt = resume_from
        start_epoch, start_batch = int(state["epoch"]), int(state["batch_in_epoch"])
        global_step = int(state["global_step"])
        history = state.get("history", history)
        epoch_stats = state.get("epoch_stats", epoch_stats)
        if state.get("batches_per_epoch") not in (None, batches_per_epoch):
            accelerator.print(f"warning: checkpoint had {state['batches_per_epoch']} batches per epoch, now "
                              f"{batches_per_epoch} (batch size / process count changed): resumed position is "
                              f"approximate")
        accelerator.print(f"resumed from {resume_from}: epoch {start_epoch + 1}, batch {start_batch}, "
                          f"step {global_step}")

    def trainer_state(epoch: int, batch: int) -> dict[str, Any]:
        return {"epoch": epoch, "batch_in_epoch": batch, "global_step": global_step,
                "batches_per_epoch": batches_per_epoch, "steps_per_epoch": steps_per_epoch,
                "num_processes": accelerator.num_processes, "seed": cfg.seed,
                "epoch_stats": epoch_stats, "history": history}

    def checkpoint(epoch: int, batch: int) -> Path | None:
        nonlocal last_ckpt
        if cfg.keep_last == 0:
            return None
        last_ckpt = save_checkpoint(accelerator, run_dir, global_step, trainer_state(epoch, batch), cfg.keep_last)
        return last_ckpt

    def current_lr() -> float:
        return float(optimizer.param_groups[0]["lr"])

    def notify(info: StepInfo) -> None:
        for cb in callbacks:
            cb(info)

    # -- loop ------------------------------------------------------------------------------------
    from tqdm.auto import tqdm

    last_eval: ClassificationMetrics | None = None
    last_eval_step = -1
    stop = cfg.max_steps is not None and global_step >= cfg.max_steps
    epoch = start_epoch
    batch_idx = start_batch
    for epoch in range(start_epoch, cfg.epochs):
        if stop:
            break
        net.train()
        skip = start_batch if epoch == start_epoch else 0
        if skip >= batches_per_epoch:  # checkpoint taken right at the end of an epoch's batches
            skip = batches_per_epoch
        train_gen.manual_seed(_epoch_generator_seed(cfg.seed, epoch))
        if isinstance(train_data, SeededSamples):
            train_data.set_epoch(epoch)
        train_dl.set_epoch(epoch)
        loader = train_dl
        if 0 < skip < batches_per_epoch:
            loader = accelerator.skip_first_batches(train_dl, skip)
            loader.set_epoch(epoch)
        batch_idx = skip
        run_loss = torch.zeros((), device=accelerator.device)
        run_correct = torch.zeros((), device=accelerator.device)
        run_count = 0
        micro = 0
        bar = tqdm(total=batches_per_epoch, initial=skip, desc=f"epoch {epoch + 1}/{cfg.epochs}",
                   disable=not accelerator.is_local_main_process, dynamic_ncols=True, leave=False)
        for batch in (loader if skip < batches_per_epoch else ()):
            with accelerator.accumulate(net):
                outputs = _forward(net, batch)
                target = batch["label"]
                loss = compute_loss(outputs, target)
                accelerator.backward(loss)
                if accelerator.sync_gradients and cfg.clip_grad:
                    accelerator.clip_grad_norm_(net.parameters(), cfg.clip_grad)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
            batch_idx += 1
            micro += 1
            bar.update(1)
            run_loss += loss.detach().float()
            logits = outputs["logits"].detach()
            run_correct += (logits.argmax(dim=1) == target).sum()
            run_count += int(target.shape[0])
            if not accelerator.sync_gradients:
                continue
            # one all-reduce per optimizer step: [mean loss over micro-batches, correct, count]
            stats = torch.stack([run_loss / micro, run_correct.float(),
                                 torch.tensor(float(run_count), device=run_loss.device)])
            stats = accelerator.reduce(stats, reduction="sum")
            step_loss = float(stats[0]) / accelerator.num_processes
            global_step += 1
            if not math.isfinite(step_loss):
                raise FloatingPointError(f"non-finite training loss ({step_loss}) at step {global_step}, epoch "
                                         f"{epoch + 1}; lower lr, enable clip_grad or use bf16 instead of fp16")
            lr = current_lr()
            history["train"].append({"step": global_step, "epoch": epoch + batch_idx / batches_per_epoch,
                                     "loss": step_loss, "lr": lr})
            epoch_stats["loss_sum"] += step_loss
            epoch_stats["steps"] += 1
            epoch_stats["correct"] += float(stats[1])
            epoch_stats["count"] += float(stats[2])
            run_loss.zero_()
            run_correct.zero_()
            run_count = 0
            micro = 0
            if global_step % cfg.log_every == 0:
                bar.set_postfix(loss=f"{step_loss:.4f}", lr=f"{lr:.3g}")
                if cfg.tracker:
                    accelerator.log({"train/loss": step_loss, "train/lr": lr}, step=global_step)
            if cfg.max_steps is not None and global_step >= cfg.max_steps:
                stop = True
            if cfg.save_every_steps and global_step % cfg.save_every_steps == 0 and batch_idx < batches_per_epoch:
                checkpoint(epoch, batch_idx)
            notify(StepInfo("step", epoch, global_step, batch_idx, step_loss, lr, None, accelerator, net))
            if stop:
                break
        bar.close()
        if batch_idx < batches_per_epoch:  # stopped inside the epoch (max_steps)
            break
        # -- end of epoch ------------------------------------------------------------------------
        entry: dict[str, Any] = {"epoch": epoch + 1, "step": global_step}
        if epoch_stats["steps"]:
            entry["train_loss"] = epoch_stats["loss_sum"] / epoch_stats["steps"]
        if epoch_stats["count"]:
            entry["train_top1"] = epoch_stats["correct"] / epoch_stats["count"]
        epoch_stats = {"loss_sum": 0.0, "steps": 0, "correct": 0.0, "count": 0.0}
        last_epoch = epoch + 1 == cfg.epochs or stop
        metrics = None
        if eval_dl is not None and ((cfg.eval_every and (epoch + 1) % cfg.eval_every == 0) or last_epoch):
            metrics = run_evaluation(accelerator, net, eval_dl, class_names)
            last_eval, last_eval_step = metrics, global_step
            entry.update(eval_loss=metrics.loss, eval_top1=metrics.top1, eval_top5=metrics.top5,
                         eval_mean_class=metrics.mean_class)
        history["epochs"].append(entry)
        summary = "  ".join(f"{k} {v:.4f}" for k, v in entry.items() if isinstance(v, float))
        accelerator.print(f"epoch {epoch + 1}/{cfg.epochs} step {global_step}: {summary}")
        if cfg.tracker:
            accelerator.log({f"epoch/{k}": v for k, v in entry.items() if isinstance(v, float)}, step=global_step)
        if is_main:
            write_json(run_dir / "history.json", history)
        if (cfg.save_every and (epoch + 1) % cfg.save_every == 0) or last_epoch:
            checkpoint(epoch + 1, 0)
        notify(StepInfo("epoch", epoch, global_step, batches_per_epoch, None, current_lr(), metrics,
                        accelerator, net))

    # -- final outputs ---------------------------------------------------------------------------
    saved_now = last_ckpt is not None and last_ckpt.name == f"step_{global_step:08d}"
    if stop and batch_idx < batches_per_epoch and not saved_now:
        checkpoint(epoch, batch_idx)
    if eval_dl is not None and (last_eval is None or last_eval_step != global_step):
        last_eval = run_evaluation(accelerator, net, eval_dl, class_names)
    metrics_dict = last_eval.to_dict() if last_eval is not None else {}
    weights = run_dir / WEIGHTS
    plots: dict[str, Path] = {}
    accelerator.wait_for_everyone()
    if is_main:
        save_weights(accelerator.unwrap_model(net), weights,
                     metadata={"model_name": model_name or "", "step": str(global_step)})
        files["metrics"] = write_json(run_dir / "metrics.json", {"step": global_step, **metrics_dict})
        files["history"] = write_json(run_dir / "history.json", history)
        title = f"{model_name or type(unwrapped).__name__} - {run_dir.name}"
        plots["curves"] = plot_curves(history, run_dir / "curves.png", title=title)
        if last_eval is not None:
            plots["confusion"] = plot_confusion_matrix(
                last_eval.confusion, run_dir / "confusion_matrix.png", last_eval.class_names,
                title=f"{title}\ntop-1 {100 * last_eval.top1:.2f}%  mean-class {100 * last_eval.mean_class:.2f}%")
    else:
        files["metrics"], files["history"] = run_dir / "metrics.json", run_dir / "history.json"
        plots["curves"] = run_dir / "curves.png"
        if last_eval is not None:
            plots["confusion"] = run_dir / "confusion_matrix.png"
    if last_eval is not None:
        accelerator.print(f"final ({global_step} steps): {last_eval.summary()}")
        if cfg.tracker:
            accelerator.log({"final/top1": last_eval.top1, "final/top5": last_eval.top5,
                             "final/mean_class": last_eval.mean_class}, step=global_step)
    if cfg.tracker:
        files["logs"] = run_dir / "logs"
        for tracker in accelerator.trackers:  # not end_training(): that also ends the process group
            tracker.finish()
    accelerator.wait_for_everyone()
    return TrainResult(run_dir=run_dir, metrics=metrics_dict, eval=last_eval, history=history, weights=weights,
                       model_config=model_config_path, plots=plots, checkpoint=last_ckpt, global_step=global_step,
                       files=files)

