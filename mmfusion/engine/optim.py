"""Optimizer and learning-rate schedule of a run (torch optimizers, timm schedulers).

The schedule is laid out over optimizer steps: a linear warm-up of ``warmup_epochs`` from
``warmup_factor * lr`` to ``lr``, then cosine to ``min_lr`` (timm's ``CosineLRScheduler``), a
step decay by ``gamma`` at each of ``milestones`` epochs, or a constant rate (timm's
``MultiStepLRScheduler``; no milestones for constant). The loop calls
``scheduler.step_update(global_step)`` after each optimizer step, so the rate is a function of
the step count alone: the same for any process count or accumulation, and restored on resume
from the step count in the checkpoint (no scheduler state is saved).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from .config import TrainConfig


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD (momentum, Nesterov) or AdamW over trainable parameters, optionally without weight
    decay on biases and 1-D (normalisation) parameters.

    A model may define ``optimizer_groups(cfg) -> [param group dicts]`` to choose its own groups
    (e.g. layer-wise learning-rate decay: a group's ``"lr_scale"`` multiplies the scheduled rate,
    as timm's schedulers apply it).
    """
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not params:
        raise ConfigError(f"{type(model).__name__} has no trainable parameters")
    custom = getattr(model, "optimizer_groups", None)
    if callable(custom) and not isinstance(custom, nn.Module):
        groups: list[dict[str, Any]] = list(custom(cfg))
    elif cfg.no_decay_norm_bias:
        decay = [p for n, p in params if p.ndim > 1 and not n.endswith(".bias")]
        no_decay = [p for n, p in params if not (p.ndim > 1 and not n.endswith(".bias"))]
        groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    else:
        groups = [{"params": [p for _, p in params], "weight_decay": cfg.weight_decay}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum,
                               nesterov=cfg.nesterov and cfg.momentum > 0)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas))


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int) -> Any:
    """timm's scheduler for ``cfg``, in optimizer steps (``t_in_epochs=False``).

    Sets the optimizer's rate for step 0 (the warm-up start) at once; call
    ``step_update(k)`` after optimizer step k.
    """
    from timm.scheduler import CosineLRScheduler, MultiStepLRScheduler  # deferred: timm imports are slow

    warmup = cfg.warmup_epochs * steps_per_epoch
    warm = {"warmup_t": warmup, "warmup_lr_init": cfg.warmup_factor * cfg.lr, "t_in_epochs": False}
    if cfg.scheduler == "cosine":
        total = max(1, cfg.epochs * steps_per_epoch)
        # warmup_prefix: the cosine starts after the warm-up and spans the remaining steps
        return CosineLRScheduler(optimizer, t_initial=max(1.0, total - warmup), lr_min=cfg.min_lr,
                                 warmup_prefix=True, cycle_limit=1, **warm)
    # timm applies milestone d when t + 1 >= d; "+ 1" makes the decay start at step m * steps_per_epoch
    milestones = [m * steps_per_epoch + 1 for m in cfg.milestones] if cfg.scheduler == "step" else []
    # milestones count from the start of training, not from the end of the warm-up
    return MultiStepLRScheduler(optimizer, decay_t=milestones, decay_rate=cfg.gamma, warmup_prefix=False, **warm)


def lr_factor(step: float, cfg: TrainConfig, steps_per_epoch: int) -> float:
    """Learning-rate multiplier (of ``cfg.lr``) after ``step`` optimizer steps, as the run's
    scheduler sets it."""
    probe = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=cfg.lr)
    scheduler = build_scheduler(probe, cfg, steps_per_epoch)
    scheduler.step_update(step)
    return probe.param_groups[0]["lr"] / cfg.lr
