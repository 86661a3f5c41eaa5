"""The engine's optimizer_groups hook: a model's own parameter groups, scaled by the timm schedule."""

from __future__ import annotations

from torch import nn

from mmfusion.engine import TrainConfig, build_optimizer, build_scheduler


def test_model_optimizer_groups_and_lr_scale() -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    model.optimizer_groups = lambda cfg: [  # type: ignore[attr-defined]
        {"params": model[0].parameters(), "weight_decay": cfg.weight_decay, "lr_scale": 0.25},
        {"params": model[1].parameters(), "weight_decay": 0.0, "lr_scale": 1.0}]
    cfg = TrainConfig(epochs=2, lr=0.4, optimizer="adamw", weight_decay=0.1, scheduler="constant")
    opt = build_optimizer(model, cfg)
    sched = build_scheduler(opt, cfg, steps_per_epoch=3)
    sched.step_update(1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.4]
    assert [g["weight_decay"] for g in opt.param_groups] == [0.1, 0.0]
    plain = build_optimizer(nn.Linear(2, 2), cfg)
    assert len(plain.param_groups) == 1 and "lr_scale" not in plain.param_groups[0]
