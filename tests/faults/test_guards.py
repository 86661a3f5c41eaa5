"""Non-finite training: a NaN gradient with a finite loss is caught before the optimizer step."""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

from mmfusion.engine.guards import NonFiniteGuard, check_gradients, gradient_max_abs
from mmfusion.errors import CheckpointError, ConfigError, NonFiniteError
from mmfusion.runs import assert_finite_state


def _model_with_nan_grad(poison: float = float("nan")) -> tuple[nn.Module, torch.Tensor]:
    """A model whose first layer's weight gradient gets ``poison`` in one element; the loss stays finite."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3))
    first = model[0].weight

    def hook(g: torch.Tensor) -> torch.Tensor:
        g = g.clone()
        g.view(-1)[5] = poison
        return g

    first.register_hook(hook)
    loss = model(torch.randn(5, 2, 4)).logsumexp(1).mean()
    loss.backward()
    return model, loss


@pytest.mark.parametrize("poison", [float("nan"), float("inf"), float("-inf")])
def test_nonfinite_gradient_with_finite_loss(poison: float) -> None:
    model, loss = _model_with_nan_grad(poison)
    assert torch.isfinite(loss)                  # the old loss-only check passes
    assert not check_gradients(model)
    assert not check_gradients(list(model.parameters()))
    assert not torch.isfinite(gradient_max_abs(model))


def test_finite_gradients_pass_even_when_huge() -> None:
    p = nn.Parameter(torch.zeros(4))
    p.grad = torch.full((4,), 1e30)              # the L2 norm would overflow to inf in float32
    assert check_gradients([p])
    assert check_gradients([nn.Parameter(torch.zeros(2))])  # no gradients at all


def test_stop_policy_raises_before_the_update() -> None:
    model, _ = _model_with_nan_grad()
    with pytest.raises(NonFiniteError, match="step 7, epoch 2"):
        NonFiniteGuard("stop").allow_step(model, step=7, epoch=1)


def test_skip_policy_keeps_weights_finite_and_counts(caplog: pytest.LogCaptureFixture) -> None:
    model, _ = _model_with_nan_grad()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    guard = NonFiniteGuard("skip")
    with caplog.at_level(logging.WARNING, logger="mmfusion.engine.guards"):
        if guard.allow_step(model, step=3):
            opt.step()
    opt.zero_grad()
    assert guard.skipped == 1 and "update skipped" in caplog.text
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    # a good step afterwards resets the run of skips
    model(torch.randn(5, 2, 4)).sum().backward()
    for p in model.parameters():
        p.grad = torch.nan_to_num(p.grad, nan=0.0)
    assert guard.allow_step(model, step=4) and guard.consecutive == 0 and guard.state_dict()["skipped"] == 1


def test_skip_policy_gives_up_after_too_many_in_a_row() -> None:
    model, _ = _model_with_nan_grad()
    guard = NonFiniteGuard("skip", max_consecutive_skips=3)
    assert not guard.allow_step(model, 1) and not guard.allow_step(model, 2)
    with pytest.raises(NonFiniteError, match="3 optimizer steps in a row"):
        guard.allow_step(model, 3)


def test_bad_policy() -> None:
    with pytest.raises(ConfigError):
        NonFiniteGuard("ignore")  # type: ignore[arg-type]


def test_assert_finite_state_names_tensors() -> None:
    state = {"a": torch.zeros(3), "steps": torch.tensor(5), "b": torch.tensor([1.0, float("nan")]),
             "c": torch.tensor([float("inf")], dtype=torch.bfloat16)}
    with pytest.raises(CheckpointError, match=r"ckpt: .*b, c"):
        assert_finite_state(state, "ckpt")
    assert_finite_state({"a": torch.zeros(3), "n": torch.tensor(3)}, "ckpt")


def test_bf16_cpu_autocast_gradients_are_checked() -> None:
    """CPU bf16 autocast: whatever the conv backward produces, the guard's verdict matches the gradients."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv3d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool3d(1), nn.Flatten(),
                          nn.Linear(8, 4))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(torch.randn(2, 3, 4, 8, 8)).float().logsumexp(1).mean()
    loss.backward()
    finite = all(torch.isfinite(p.grad).all() for p in model.parameters())
    assert check_gradients(model) == finite


class _PoisonAt(nn.Module):
    """(N, 4) -> logits (N, 2); the gradient of ``fc.weight`` is NaN at backward call ``at`` (1-based),
    while the loss stays finite."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)
        self.calls = 0

        def hook(g: torch.Tensor) -> torch.Tensor:
            self.calls += 1
            return torch.full_like(g, float("nan")) if self.calls == at else g

        self.fc.weight.register_hook(hook)

    def forward(self, batch: dict) -> dict:
        return {"logits": self.fc(batch["skeleton"])}


def _toy_data() -> list[dict]:
    g = torch.Generator().manual_seed(0)
    return [{"skeleton": torch.randn(4, generator=g), "label": torch.tensor(k % 2)} for k in range(16)]


@pytest.mark.parametrize("policy", ["stop", "skip"])
def test_training_with_a_nan_gradient_at_step_2(tmp_path, policy: str) -> None:
    """The engine checks gradients before each step: "stop" raises and leaves only finite checkpoints,
    "skip" drops that one update, counts it, and ends with finite weights."""
    import json

    from safetensors.torch import load_file

    from mmfusion.engine import TrainConfig, train

    cfg = TrainConfig(epochs=2, batch_size=4, output_dir=str(tmp_path / "run"), mixed_precision="no",
                      nonfinite=policy, save_every=1, keep_last=5)
    model = _PoisonAt(at=6)  # epoch 2, step 2 (4 steps per epoch): after the epoch-1 checkpoint
    if policy == "stop":
        with pytest.raises(NonFiniteError, match="non-finite gradient at step 6"):
            train(cfg, model, _toy_data())
        ckpts = sorted((tmp_path / "run" / "checkpoints").glob("step_*"))
        assert ckpts, "the epoch-1 checkpoint must exist"
        for c in ckpts:
            for f in c.glob("*.safetensors"):
                assert all(torch.isfinite(t).all() for t in load_file(f).values())
        assert not (tmp_path / "run" / "model.safetensors").exists()
    else:
        res = train(cfg, model, _toy_data())
        assert all(torch.isfinite(p).all() for p in model.parameters())
        assert all(torch.isfinite(t).all() for t in load_file(res.weights).values())
        state = json.loads((sorted((tmp_path / "run" / "checkpoints").glob("step_*"))[-1]
                            / "trainer_state.json").read_text())
        assert state["nonfinite"]["skipped"] == 1
        assert len(res.history["train"]) == 7  # 8 steps, one dropped from the curve
