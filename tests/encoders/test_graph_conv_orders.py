"""The reordered graph convolutions compute what the official formulation computes (values and gradients):
ST-GCN's joints-first path for C_in << C_out, Hyper-GCN's head-grouped projection as a batched matmul."""

from __future__ import annotations

import torch

from mmfusion.encoders.graph import virtual_joint_adjacency
from mmfusion.encoders.hypergcn import HyperGraphConv
from mmfusion.encoders.stgcn import SpatialGraphConv


def _grads(y: torch.Tensor, inputs: list[torch.Tensor], g: torch.Tensor) -> list[torch.Tensor]:
    return list(torch.autograd.grad(y, inputs, g))


def test_stgcn_joints_first_equals_conv_then_einsum() -> None:
    torch.manual_seed(0)
    gc = SpatialGraphConv(3, 16, 3)  # 4 * C_in <= C_out: forward takes the joints-first path
    a = torch.rand(3, 25, 25)
    x = torch.randn(2, 3, 7, 25, requires_grad=True)
    y = gc(x, a)
    ref = torch.einsum("nkctv,kvw->nctw", gc.conv(x).view(2, 3, 16, 7, 25), a)
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(ref)
    params = [x, gc.conv.weight, gc.conv.bias]
    for got, want in zip(_grads(y, params, g), _grads(ref, params, g)):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_hypergcn_grouped_projection_equals_the_grouped_conv() -> None:
    torch.manual_seed(0)
    adj = torch.from_numpy(virtual_joint_adjacency("ntu25", 3, 8))
    gc = HyperGraphConv(32, 64, adj, 25)
    x = torch.randn(2, 32, 5, 28, requires_grad=True)
    y = gc._grouped_projection(x)
    ref = gc.conv_d(x).view(2, 8, 8, 5, 28)
    torch.testing.assert_close(y, ref)
    g = torch.randn_like(ref)
    params = [x, gc.conv_d.weight, gc.conv_d.bias]
    for got, want in zip(_grads(y, params, g), _grads(ref, params, g)):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
