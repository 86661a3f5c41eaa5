"""Training configuration as a plain dataclass (no config framework).

A recipe builds a :class:`TrainConfig` (usually nested in its own recipe dataclass), lets
:func:`mmfusion.engine.args.parse_args` apply command-line overrides, and hands it to
:func:`mmfusion.engine.train`. The resolved config is printed at start and written to
``<output_dir>/train_config.json`` so that a run can be repeated exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError
from ..runs import to_jsonable

Optimizer = Literal["sgd", "adamw"]
Scheduler = Literal["cosine", "step", "constant"]
Precision = Literal["no", "bf16", "fp16"]


@dataclass
class TrainConfig:
    """Everything the engine needs to train and evaluate one model.

    Batch sizes are per process: with N processes and ``grad_accum`` A, one optimizer step
    sees ``batch_size * N * A`` samples. Learning-rate schedules are laid out over whole
    epochs, so they do not change with N or A (only the number of steps does).

    Attributes:
        epochs: passes over the training set.
        batch_size: training samples per process and micro-step.
        eval_batch_size: evaluation batch per process (default: ``batch_size``).
        global_batch_size: if set, replaces ``batch_size``: each process takes
            ``global_batch_size / (N * A)`` samples per micro-step, so that one optimizer step sees
            the same samples whatever the process count (same run on 1 CPU or 8 GPUs, up to
            BatchNorm statistics); it must be divisible by ``N * A``.
        lr: peak learning rate (after warm-up).
        weight_decay: L2 (SGD) or decoupled (AdamW) weight decay.
        optimizer: "sgd" (momentum, optionally Nesterov) or "adamw".
        momentum: SGD momentum.
        nesterov: SGD with Nesterov momentum.
        betas: AdamW betas.
        no_decay_norm_bias: exclude biases and 1-D (norm) parameters from weight decay.
        scheduler: "cosine" (to ``min_lr``), "step" (x ``gamma`` at each of ``milestones``)
            or "constant"; all after a linear warm-up of ``warmup_epochs`` (may be fractional).
        warmup_epochs: linear warm-up length in epochs, starting at ``warmup_factor * lr``.
        warmup_factor: first warm-up learning rate as a fraction of ``lr``.
        min_lr: final learning rate of the cosine schedule.
        milestones: epochs at which the step schedule multiplies the rate by ``gamma``.
        gamma: step-schedule factor.
        label_smoothing: for the default cross-entropy loss (a model's own ``loss`` ignores it).
        grad_accum: micro-batches per optimizer step (``accelerator.accumulate``); the
            launcher's ``--gradient_accumulation_steps`` (environment) overrides it, as in Accelerate.
        clip_grad: max global gradient norm; ``None`` or 0 turns clipping off.
        mixed_precision: "no", "bf16" or "fp16" (both for GPUs; on the CPU train in fp32: torch 2.14's
            CPU bf16 autocast gave NaN gradients in conv backward, see docs/reliability.md);
            None follows the launcher (``accelerate config`` / ``accelerate launch
            --mixed_precision``), else "no". An explicit value wins over the launcher.
        nonfinite: a non-finite gradient (checked after unscaling and clipping, before the step):
            "stop" raises :class:`~mmfusion.errors.NonFiniteError`, "skip" drops that update
            (counted in the log and the checkpoint; 100 in a row still stop).
        seed: seeds Python, NumPy, torch and the data order; a run is a function of it.
        deterministic: also ask torch for deterministic kernels (slower on GPU).
        sample_seeding: draw every sample under a seed of (seed, epoch, index), so that data
            augmentation does not depend on workers, process count or resumption.
        num_workers: DataLoader workers per process.
        pin_memory: pin host memory for GPU transfers (ignored on CPU).
        drop_last: drop the last incomplete training batch (keeps BatchNorm statistics sane).
        output_dir: the run folder (checkpoints, logs, weights, metrics, plots).
        resume: None (fresh run), "auto" (latest checkpoint in ``output_dir`` if any) or a
            checkpoint folder / run folder to continue from.
        overwrite: allow a fresh run (``resume=None``) in a folder that has checkpoints;
            they are deleted first.
        save_every: save a checkpoint every this many epochs (0: only at the end).
        save_every_steps: also save every this many optimizer steps (0: off); enables
            mid-epoch resume on long epochs.
        keep_last: checkpoints to keep (older ones are deleted); 0 disables checkpoints.
        eval_every: evaluate every this many epochs (0: only after the last epoch).
        best_metric: after each evaluation, keep the weights with the highest value of this
            metric ("top1", "top5" or "mean_class") as ``model_best.safetensors`` (+ ``best.json``);
            None: off. Ties keep the earlier epoch.
        log_every: optimizer steps between tracker / progress-bar updates.
        tracker: an Accelerate tracker name ("tensorboard", "wandb", ...) or None.
        run_name: tracker project name (default: the ``output_dir`` folder name).
        find_unused_parameters: DDP flag, needed when a modality stream does not reach the
            loss in some steps (dropped modality, auxiliary heads switched off).
        max_steps: stop after this many optimizer steps (smoke tests); the learning-rate
            schedule still follows ``epochs``.
        ema: keep an exponential moving average of the weights (timm's ``ModelEmaV3``), updated
            after every optimizer step; evaluation then uses the averaged weights, which are also
            saved as ``model_ema.safetensors`` in the run folder.
        ema_decay: the average's decay per optimizer step.
        ema_warmup: ramp the decay up over the first steps (timm's warm-up) so that early averages
            are not dominated by the random initial weights.
        threads: torch compute threads per process; None: all cores the launch leaves (cores //
            processes on this machine, minus ``num_workers``; see docs/training.md).
        cpu: force the CPU even when a GPU is visible.
    """

    epochs: int = 30
    batch_size: int = 16
    eval_batch_size: int | None = None
    global_batch_size: int | None = None
    lr: float = 0.1
    weight_decay: float = 5e-4
    optimizer: Optimizer = "sgd"
    momentum: float = 0.9
    nesterov: bool = True
    betas: tuple[float, float] = (0.9, 0.999)
    no_decay_norm_bias: bool = False
    scheduler: Scheduler = "cosine"
    warmup_epochs: float = 0.0
    warmup_factor: float = 0.01
    min_lr: float = 0.0
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    label_smoothing: float = 0.0
    grad_accum: int = 1
    clip_grad: float | None = None
    mixed_precision: Precision | None = None
    nonfinite: Literal["stop", "skip"] = "stop"
    seed: int = 0
    deterministic: bool = False
    sample_seeding: bool = True
    num_workers: int = 0
    pin_memory: bool = True
    drop_last: bool = True
    output_dir: str = "runs/default"
    resume: str | None = None
    overwrite: bool = False
    save_every: int = 1
    save_every_steps: int = 0
    keep_last: int = 3
    eval_every: int = 1
    best_metric: Literal["top1", "top5", "mean_class"] | None = "top1"
    log_every: int = 10
    tracker: str | None = None
    run_name: str | None = None
    find_unused_parameters: bool = False
    max_steps: int | None = None
    ema: bool = False
    ema_decay: float = 0.9998
    ema_warmup: bool = False
    threads: int | None = None
    cpu: bool = False

    def __post_init__(self) -> None:
        self.validate()

    def process_batch_size(self, num_processes: int, accum: int) -> int:
        """Training samples per process and micro-step for ``num_processes`` x ``accum``."""
        if self.global_batch_size is None:
            return self.batch_size
        div = num_processes * accum
        if self.global_batch_size % div:
            raise ConfigError(f"TrainConfig.global_batch_size={self.global_batch_size} is not divisible by "
                              f"{num_processes} process(es) x {accum} accumulation step(s)")
        return self.global_batch_size // div

    def validate(self) -> None:
        """Raise :class:`~mmfusion.errors.ConfigError` on values that would fail later, deep in torch."""
        positive = {"epochs": self.epochs, "batch_size": self.batch_size, "grad_accum": self.grad_accum}
        if self.eval_batch_size is not None:
            positive["eval_batch_size"] = self.eval_batch_size
        if self.global_batch_size is not None:
            positive["global_batch_size"] = self.global_batch_size
        for name, value in positive.items():
            if int(value) < 1:
                raise ConfigError(f"TrainConfig.{name} must be >= 1, got {value}")
        non_negative = {"weight_decay": self.weight_decay, "warmup_epochs": self.warmup_epochs,
                        "min_lr": self.min_lr, "num_workers": self.num_workers, "save_every": self.save_every,
                        "save_every_steps": self.save_every_steps, "keep_last": self.keep_last,
                        "eval_every": self.eval_every, "label_smoothing": self.label_smoothing}
        for name, value in non_negative.items():
            if value < 0:
                raise ConfigError(f"TrainConfig.{name} must be >= 0, got {value}")
        if not self.lr > 0:
            raise ConfigError(f"TrainConfig.lr must be > 0, got {self.lr}")
        if not 0 < self.warmup_factor <= 1:
            raise ConfigError(f"TrainConfig.warmup_factor must be in (0, 1], got {self.warmup_factor}")
        if self.log_every < 1:
            raise ConfigError(f"TrainConfig.log_every must be >= 1, got {self.log_every}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"TrainConfig.max_steps must be >= 1 or None, got {self.max_steps}")
        if not 0 < self.ema_decay < 1:
            raise ConfigError(f"TrainConfig.ema_decay must be in (0, 1), got {self.ema_decay}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"TrainConfig.threads must be >= 1 or None, got {self.threads}")
        if self.clip_grad is not None and self.clip_grad < 0:
            raise ConfigError(f"TrainConfig.clip_grad must be >= 0 or None, got {self.clip_grad}")
        choices = {"optimizer": ("sgd", "adamw"), "scheduler": ("cosine", "step", "constant"),
                   "mixed_precision": ("no", "bf16", "fp16", None), "nonfinite": ("stop", "skip"),
                   "best_metric": ("top1", "top5", "mean_class", None)}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"TrainConfig.{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.scheduler == "step" and not self.milestones:
            raise ConfigError("TrainConfig.scheduler='step' needs milestones (epochs), e.g. milestones=(20, 30)")
        if list(self.milestones) != sorted(self.milestones):
            raise ConfigError(f"TrainConfig.milestones must be increasing, got {self.milestones}")
        if len(self.betas) != 2:
            raise ConfigError(f"TrainConfig.betas must have 2 values, got {self.betas}")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"TrainConfig.label_smoothing must be in [0, 1), got {self.label_smoothing}")

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir)

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)
