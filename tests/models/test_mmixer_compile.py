"""mmixer_tiny through torch.compile: full graph (no breaks, also with the temporal shift), eval and train."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

import mmfusion


class _Positional(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, rgb: Tensor, depth: Tensor, ir: Tensor) -> Tensor:
        return self.model({"rgb": rgb, "depth": depth, "ir": ir})["logits"]


def _inputs(n: int = 2, t: int = 4) -> tuple[Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(11)
    return (torch.randn(n, 3, t, 32, 32, generator=g), torch.randn(n, 1, t, 32, 32, generator=g),
            torch.randn(n, 1, t, 32, 32, generator=g))


def _train_grads_match(compiled: nn.Module, wrapper: nn.Module, model: nn.Module) -> None:
    args = _inputs()
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


def test_compile_fullgraph_eval_and_train() -> None:
    # the temporal shift sets a frame count on its wrappers in forward: it must not break the graph
    model = mmfusion.create_model("mmixer_tiny", temporal_shift=True)
    args = _inputs()
    wrapper = _Positional(model)
    model.eval()
    compiled = torch.compile(wrapper, backend="aot_eager", fullgraph=True)
    with torch.no_grad():
        assert torch.allclose(compiled(*args), wrapper(*args), atol=1e-5)
    # train-mode capture (dropout on, BN batch statistics); AOT autograd is in the slow test
    _train_grads_match(torch.compile(wrapper, backend="eager", fullgraph=True), wrapper, model)


@pytest.mark.slow
def test_inductor_and_aot_autograd() -> None:
    """Inductor (C++ codegen, ~30-50 s on one loaded core) in eval, AOT-autograd backward in train."""
    model = mmfusion.create_model("mmixer_tiny").eval()
    args = _inputs()
    wrapper = _Positional(model)
    compiled = torch.compile(wrapper)
    with torch.no_grad():
        assert torch.allclose(compiled(*args), wrapper(*args), atol=1e-4)
    _train_grads_match(torch.compile(wrapper, backend="aot_eager", fullgraph=True), wrapper, model)
