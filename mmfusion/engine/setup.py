"""Setting up a run: model, loaders, optimizer, schedule and weight average, all prepared by
Accelerate, and the run folder's resume target.

:func:`setup_run` returns a :class:`RunSetup`, everything the epoch loop
(:mod:`mmfusion.engine.loop`) and the evaluation need; nothing here trains.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from ..errors import CheckpointError, ConfigError
from ..registry import create_model
from ..runs import save_weights
from .checkpoint import CHECKPOINTS, list_checkpoints, resolve_resume
from .config import TrainConfig
from .loaders import SeededSamples, default_collate, make_loader
from .optim import build_optimizer, build_scheduler

#: the weight average inside a checkpoint folder (written by a save_state hook, so that it is
#: part of the atomic checkpoint) and in the run folder
EMA_CHECKPOINT = "ema.safetensors"

LossFn = Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor]


@dataclass
class RunSetup:
    """What one run trains with (model, optimizer and loaders prepared by ``accelerator``).

    Attributes:
        model: the prepared model (DDP-wrapped on several processes); ``unwrapped`` is the module.
        scheduler: timm scheduler; ``step_update(global_step)`` after each optimizer step.
        train_data: the training set as the loader sees it (a :class:`SeededSamples` when
            ``sample_seeding``), set to each epoch.
        train_generator: the training loader's generator, reseeded per epoch.
        ema: timm ``ModelEmaV3`` of the weights when ``cfg.ema``, else None.
        batches_per_epoch: micro-batches per epoch and process; ``steps_per_epoch`` optimizer steps.
        batch_size: training samples per process and micro-batch.
    """

    cfg: TrainConfig
    accelerator: Any
    model: nn.Module
    unwrapped: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    train_loader: Any
    eval_loader: Any | None
    train_data: Dataset
    train_generator: torch.Generator
    compute_loss: LossFn
    ema: Any | None
    batches_per_epoch: int
    steps_per_epoch: int
    batch_size: int
    model_name: str | None

    @property
    def run_dir(self) -> Path:
        return Path(self.cfg.output_dir)

    @property
    def eval_model(self) -> nn.Module:
        """The weights evaluation uses: the average when ``cfg.ema``, else the trained model."""
        return self.ema.module if self.ema is not None else self.model

    @property
    def accum(self) -> int:
        return int(self.accelerator.gradient_accumulation_steps)


def build_model(model: Any, model_kwargs: Mapping[str, Any] | None) -> tuple[nn.Module, str | None]:
    """A module from a registered name (+ kwargs), a zero-argument factory or a module."""
    if isinstance(model, str):
        return create_model(model, **dict(model_kwargs or {})), model
    if isinstance(model, nn.Module):
        return model, None
    if callable(model):
        built = model()
        if not isinstance(built, nn.Module):
            raise ConfigError(f"model factory returned {type(built).__name__}, not an nn.Module")
        return built, None
    raise ConfigError(f"model must be a registered name, an nn.Module or a factory, got {type(model).__name__}")


def model_loss(model: nn.Module, cfg: TrainConfig) -> LossFn:
    """The model's own ``loss(outputs, target)`` when it has one, else cross-entropy on the logits."""
    custom = getattr(model, "loss", None)
    if callable(custom) and not isinstance(custom, nn.Module):
        return custom

    def ce(outputs: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs["logits"].float(), target, label_smoothing=cfg.label_smoothing)

    return ce


def resume_target(cfg: TrainConfig, accelerator: Any) -> Path | None:
    """The checkpoint to resume from (None: a fresh run); creates the run folder.

    Raises:
        ConfigError: a fresh run in a folder that holds checkpoints, without ``overwrite``.
        CheckpointError: an explicit ``resume`` path without a checkpoint.
    """
    run_dir = Path(cfg.output_dir)
    resume_from = resolve_resume(cfg.resume, run_dir)
    if resume_from is None and list_checkpoints(run_dir):
        if not cfg.overwrite:
            raise ConfigError(f"{run_dir} already holds checkpoints of a run; pass resume='auto' (--resume auto) "
                              f"to continue it, overwrite=True to start over, or another output_dir")
        if accelerator.is_main_process:
            shutil.rmtree(run_dir / CHECKPOINTS, ignore_errors=True)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
    return resume_from


def _attach_ema(accelerator: Any, unwrapped: nn.Module, cfg: TrainConfig) -> Any:
    """timm's ``ModelEmaV3`` of ``unwrapped``, saved into and restored from each checkpoint.

    Accelerate would pickle a registered object (and load it with ``weights_only=False``), so
    the average travels as safetensors through save/load-state hooks instead.
    """
    from safetensors.torch import load_file
    from timm.utils import ModelEmaV3

    ema = ModelEmaV3(unwrapped, decay=cfg.ema_decay, use_warmup=cfg.ema_warmup)

    def save_hook(models: Any, weights: Any, output_dir: str) -> None:
        if accelerator.is_main_process:
            save_weights(ema.module, Path(output_dir) / EMA_CHECKPOINT)

    def load_hook(models: Any, input_dir: str) -> None:
        path = Path(input_dir) / EMA_CHECKPOINT
        if not path.is_file():
            raise CheckpointError(f"{path}: missing; the checkpoint was saved without ema=True")
        state = load_file(str(path), device=str(next(ema.module.parameters()).device))
        ema.module.load_state_dict(state)

    accelerator.register_save_state_pre_hook(save_hook)
    accelerator.register_load_state_pre_hook(load_hook)
    return ema


def setup_run(cfg: TrainConfig, accelerator: Any, model: Any, train_set: Dataset, eval_set: Dataset | None, *,
              model_kwargs: Mapping[str, Any] | None = None, model_name: str | None = None,
              collate_fn: Callable | None = None) -> RunSetup:
    """Seed, build the model, the loaders, the optimizer, the schedule and the average, and
    prepare them with ``accelerator``."""
    from accelerate.utils import set_seed

    collate_fn = collate_fn or default_collate
    set_seed(cfg.seed, device_specific=True, deterministic=cfg.deterministic)
    net, built_name = build_model(model, model_kwargs)
    if len(train_set) == 0:  # type: ignore[arg-type]
        raise ConfigError("the training set is empty")
    pin = cfg.pin_memory and accelerator.device.type == "cuda"
    train_data: Dataset = SeededSamples(train_set, cfg.seed, stream=0) if cfg.sample_seeding else train_set
    eval_data = eval_set
    if eval_set is not None and cfg.sample_seeding:
        eval_data = SeededSamples(eval_set, cfg.seed, stream=1, follow_epoch=False)
    accum = int(accelerator.gradient_accumulation_steps)  # the launcher's environment may override cfg
    batch_size = cfg.process_batch_size(accelerator.num_processes, accum)
    train_dl, train_gen = make_loader(train_data, batch_size, True, cfg, collate_fn, pin, cfg.drop_last)
    eval_dl = None
    if eval_data is not None:
        eval_dl, _ = make_loader(eval_data, cfg.eval_batch_size or batch_size, False, cfg, collate_fn, pin,
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
    if accum != cfg.grad_accum:
        accelerator.print(f"note: gradient accumulation {accum} from the launcher (config says {cfg.grad_accum})")
    steps_per_epoch = math.ceil(batches_per_epoch / accum)
    # not prepared: Accelerate's wrapper would step it once per process; the loop sets it by step count
    scheduler = build_scheduler(optimizer, cfg, steps_per_epoch)
    unwrapped = accelerator.unwrap_model(net)
    ema = _attach_ema(accelerator, unwrapped, cfg) if cfg.ema else None
    return RunSetup(cfg=cfg, accelerator=accelerator, model=net, unwrapped=unwrapped, optimizer=optimizer,
                    scheduler=scheduler, train_loader=train_dl, eval_loader=eval_dl, train_data=train_data,
                    train_generator=train_gen, compute_loss=model_loss(unwrapped, cfg), ema=ema,
                    batches_per_epoch=batches_per_epoch, steps_per_epoch=steps_per_epoch, batch_size=batch_size,
                    model_name=model_name or built_name)


def check_class_names(class_names: Sequence[str] | None, model_kwargs: Mapping[str, Any] | None) -> None:
    if model_kwargs and "num_classes" in model_kwargs and class_names is not None \
            and len(class_names) != model_kwargs["num_classes"]:
        raise ConfigError(f"{len(class_names)} class names but num_classes={model_kwargs['num_classes']}")
