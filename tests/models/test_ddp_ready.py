"""Every registered classifier must be trainable under DistributedDataParallel without
``find_unused_parameters``: each trainable parameter gets a finite gradient from the model's own
training loss (a parameter outside the loss stalls DDP's reducer, as the per-stream heads of
M-Mixer once did in the 2-process demo). Inputs: built from each entry's registered config."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import mmfusion
from mmfusion.model_cfg import call_model
from mmfusion.registry import list_models

# the paper-size variants have the same structure as their tiny versions and cost seconds each
SMALL = [n for n in list_models(tag="model") if n.endswith("_tiny") or n == "modality_classifier"]


def test_every_model_has_a_small_variant_here() -> None:
    assert {"mmixer_tiny", "epam_net_tiny", "deform3d_tiny", "stgcn_tiny", "frame_gru_tiny"} <= set(SMALL)


@pytest.mark.parametrize("name", SMALL)
def test_all_parameters_reach_the_training_loss(name: str) -> None:
    cfg = mmfusion.get_model_cfg(name)
    assert cfg.kind == "classifier"
    k = cfg.num_classes or 10
    torch.manual_seed(0)
    model = mmfusion.create_model(name, num_classes=k).train()
    batch = mmfusion.dummy_inputs(name, batch_size=2)
    target = torch.tensor([0, k - 1])
    out = call_model(model, cfg, batch)
    loss = model.loss(out, target) if hasattr(model, "loss") else F.cross_entropy(out["logits"].float(), target)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"{name}: parameters outside the training loss (DDP would stall): {missing[:8]}"
    bad = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not bad, f"{name}: non-finite gradients in {bad[:8]}"
