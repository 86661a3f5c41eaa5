"""Every registered classifier must be trainable under DistributedDataParallel without
``find_unused_parameters``: each trainable parameter gets a finite gradient from the model's own
training loss (a parameter outside the loss stalls DDP's reducer, as the per-stream heads of
M-Mixer once did in the 2-process demo). Inputs: the demo-size specs of the benchmarks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

import mmfusion
from mmfusion.registry import list_models

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from model_inputs import get_spec  # noqa: E402

# the paper-size variants have the same structure as their tiny versions and cost seconds each
SMALL = [n for n in list_models(tag="model") if n.endswith("_tiny") or n == "modality_classifier"]


def test_every_model_has_a_small_variant_here() -> None:
    assert {"mmixer_tiny", "epam_net_tiny", "deform3d_tiny", "stgcn_tiny", "frame_gru_tiny"} <= set(SMALL)


@pytest.mark.parametrize("name", SMALL)
def test_all_parameters_reach_the_training_loss(name: str) -> None:
    spec = get_spec(name, "demo")
    if spec is None:
        pytest.skip(f"no demo input spec for {name} in benchmarks/model_inputs.py")
    torch.manual_seed(0)
    model = mmfusion.create_model(name, **spec.kwargs).train()
    batch = spec.batch(2)
    loss = spec.train_loss(model, spec.run(model, batch), batch)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"{name}: parameters outside the training loss (DDP would stall): {missing[:8]}"
    bad = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not bad, f"{name}: non-finite gradients in {bad[:8]}"
