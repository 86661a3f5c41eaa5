"""mmixer_tiny through torch.compile: full graph (no breaks, also with the temporal shift), eval and train."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

import mmfusion

Inputs = Callable[..., tuple[Tensor, ...]]


def _train_grads_match(args: tuple[Tensor, ...], compiled: nn.Module, wrapper: nn.Module, model: nn.Module) -> None:
    model.train()
    torch.manual_seed(0)
    compiled(*args).logsumexp(-1).sum().backward()
    # every parameter reaches "logits" (no aux heads by default): DDP-safe
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    assert len(grads) == len(list(model.named_parameters()))
    model.zero_grad()
    torch.manual_seed(0)
    wrapper(*args).logsumexp(-1).sum().backward()  # same dropout mask under the same seed
    for n, p in model.named_parameters():
        if n in grads:
            assert torch.allclose(grads[n], p.grad, atol=1e-5, rtol=1e-4), n


def test_compile_fullgraph_eval_and_train(positional: type[nn.Module], inputs: Inputs) -> None:
    # the temporal shift sets a frame count on its wrappers in forward: it must not break the graph
    model = mmfusion.create_model("mmixer_tiny", temporal_shift=True)
    args = inputs()
    wrapper = positional(model)
    model.eval()
    compiled = torch.compile(wrapper, backend="aot_eager", fullgraph=True)
    with torch.no_grad():
        assert torch.allclose(compiled(*args), wrapper(*args), atol=1e-5)
    # train-mode capture (dropout on, BN batch statistics); AOT autograd is in the slow test
    _train_grads_match(args, torch.compile(wrapper, backend="eager", fullgraph=True), wrapper, model)


@pytest.mark.slow
def test_inductor_and_aot_autograd(positional: type[nn.Module], inputs: Inputs) -> None:
    """Inductor (C++ codegen, ~30-50 s on one loaded core) in eval, AOT-autograd backward in train."""
    model = mmfusion.create_model("mmixer_tiny").eval()
    args = inputs()
    wrapper = positional(model)
    compiled = torch.compile(wrapper)
    with torch.no_grad():
        assert torch.allclose(compiled(*args), wrapper(*args), atol=1e-4)
    _train_grads_match(args, torch.compile(wrapper, backend="aot_eager", fullgraph=True), wrapper, model)
