"""ST-GCN++ (Duan et al., "PYSKL: Towards Good Practices for Skeleton Action Recognition",
ACM MM 2022), re-implemented after PYSKL's ``models/gcns/stgcn.py`` with the ST-GCN++ config
(``gcn_adaptive="init"``, ``gcn_with_res=True``, ``tcn_type="mstcn"``), the backbone BRL uses.

* Data BatchNorm over (V, C) with persons folded into the batch (PYSKL ``data_bn_type="VC"``).
* 10 blocks, 64 -> 128 (stride 2 at block 5) -> 256 (stride 2 at block 8); block 1 has no
  block residual.
* Graph conv (:class:`PyskGraphConv`, PYSKL ``unit_gcn``): a 1x1 conv to ``K * C_out`` channels,
  aggregation ``einsum("nkctv,kvw->nctw")`` with a learnable ``A`` initialised with PYSKL's
  ``nturgb+d`` "spatial" graph (hand tips and thumbs hang from the hand joints,
  :data:`~mmfusion.encoders.graph.NTU25_HAND_STAR_INWARD`), BN, + residual (conv+BN when the
  width changes), ReLU.
* Temporal module (:class:`MSTCN`, PYSKL ``mstcn``): six branches (kernel 3 with dilation 1-4,
  max-pool 3, strided 1x1) -> BN, ReLU, 1x1 conv -> BN. ``global_branch=True`` gives PYSKL's
  ``dgmstcn`` (ACLNet): an extra mean-over-joints column whose branch output is added to every
  joint with a learnable per-joint coefficient.
* Init: PyTorch defaults (PYSKL's backbone ``init_weights`` only loads checkpoints).

Shapes: ``forward(x)``: (N, C, T, V, M) -> (N, 256); ``forward_features(x)``: ->
(N, M, 256, T/4, V); ``pool`` maps it to (N, 256). The registered classifiers (``stgcnpp``,
``stgcnpp_tiny``) live in :mod:`mmfusion.models.skeleton_zoo`.

Parameter count (official config, NTU, 3 channels): 1,387,724 for the backbone; 1,403,144 with
a 60-class linear head (the "1.40 M" measured for BRL); fvcore: 1.89 GMACs at T=64, M=2
(BRL figure 1.87 G; fvcore also counts the BN and einsum terms).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..data.layouts import get_layout
from ..errors import ConfigError
from .ctrgcn import SkeletonDataBN
from .graph import NTU25_HAND_STAR_INWARD, inward_outward_graph
from .stgcn import STGCN, aggregate_then_mix

__all__ = ["MSTCN", "STGCNPP_BLOCKS", "STGCNPP_TINY_BLOCKS", "PyskGraphConv", "PyskTemporalConv", "STGCNPlusPlus",
           "STGCNPlusPlusBlock", "pyskl_spatial_graph"]

STGCNPP_BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1), (64, 1), (64, 1), (64, 1), (128, 2), (128, 1), (128, 1), (256, 2), (256, 1), (256, 1))
STGCNPP_TINY_BLOCKS: tuple[tuple[int, int], ...] = ((24, 1), (48, 2), (48, 1))

#: PYSKL ``mstcn`` default branches: (kernel, dilation), ("max", kernel), "1x1".
MSTCN_BRANCHES: tuple[Any, ...] = ((3, 1), (3, 2), (3, 3), (3, 4), ("max", 3), "1x1")


def pyskl_spatial_graph(layout: str = "ntu25") -> np.ndarray:
    """PYSKL's ``Graph(layout, mode="spatial")`` (3, V, V); for ``ntu25`` PYSKL's own NTU edges."""
    lay = get_layout(layout)
    if lay.name == "ntu25":
        return inward_outward_graph(NTU25_HAND_STAR_INWARD, 25)
    return inward_outward_graph(lay)


class PyskTemporalConv(nn.Module):
    """PYSKL ``unit_tcn``: conv (k x 1, stride, dilation) -> BN (optional) -> dropout.

    Shapes: (N, C_in, T, V) -> (N, C_out, T / stride, V).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 9, stride: int = 1,
                 dilation: int = 1, norm: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        pad = (kernel_size + (kernel_size - 1) * (dilation - 1) - 1) // 2
        self.conv = nn.Conv2d(in_channels, out_channels, (kernel_size, 1), (stride, 1), (pad, 0), (dilation, 1))
        self.bn = nn.BatchNorm2d(out_channels) if norm else nn.Identity()
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.bn(self.conv(x)))


class MSTCN(nn.Module):
    """PYSKL multi-scale temporal conv (``mstcn``; ``global_branch=True``: ``dgmstcn``).

    Branch widths: ``out / len(branches)``, the first takes the remainder.

    Shapes: (N, C_in, T, V) -> (N, C_out, T / stride, V).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 branches: Sequence[Any] = MSTCN_BRANCHES, dropout: float = 0.0, global_branch: bool = False,
                 num_joints: int = 25) -> None:
        super().__init__()
        nb = len(branches)
        mid = out_channels // nb
        rem = out_channels - mid * (nb - 1)
        if mid < 1:
            raise ConfigError(f"MSTCN: out_channels={out_channels} is too small for {nb} branches")
        mods: list[nn.Module] = []
        for i, cfg in enumerate(branches):
            bc = rem if i == 0 else mid
            if cfg == "1x1":
                mods.append(nn.Conv2d(in_channels, bc, 1, stride=(stride, 1)))
            elif isinstance(cfg, (tuple, list)) and cfg[0] == "max":
                mods.append(nn.Sequential(nn.Conv2d(in_channels, bc, 1), nn.BatchNorm2d(bc), nn.ReLU(),
                                          nn.MaxPool2d((int(cfg[1]), 1), (stride, 1), (1, 0))))
            elif isinstance(cfg, (tuple, list)) and all(isinstance(c, int) for c in cfg):
                mods.append(nn.Sequential(nn.Conv2d(in_channels, bc, 1), nn.BatchNorm2d(bc), nn.ReLU(),
                                          PyskTemporalConv(bc, bc, cfg[0], stride, cfg[1], norm=False)))
            else:
                raise ConfigError(f"MSTCN: unknown branch {cfg!r}")
        self.branches = nn.ModuleList(mods)
        self.global_branch = global_branch
        if global_branch:
            self.add_coeff = nn.Parameter(torch.zeros(num_joints))
        tin = mid * (nb - 1) + rem
        self.transform = nn.Sequential(nn.BatchNorm2d(tin), nn.ReLU(), nn.Conv2d(tin, out_channels, 1))
        self.bn = nn.BatchNorm2d(out_channels)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        v = x.shape[-1]
        if self.global_branch:
            x = torch.cat([x, x.mean(-1, keepdim=True)], -1)
        out = torch.cat([b(x) for b in self.branches], dim=1)
        if self.global_branch:
            out = out[..., :v] + out[..., v:] * self.add_coeff[:v].to(out.dtype)
        return self.drop(self.bn(self.transform(out)))


class PyskGraphConv(nn.Module):
    """PYSKL ``unit_gcn`` (``conv_pos="pre"``): 1x1 conv to K groups, aggregate with ``A[k]``.

    ``adaptive``: ``"init"`` (``A`` learnable, ST-GCN++), ``None`` (fixed buffer) or
    ``"importance"`` (fixed ``A`` times a learnable mask initialised to 1).

    Shapes: (N, C_in, T, V) -> (N, C_out, T, V).
    """

    def __init__(self, in_channels: int, out_channels: int, a: np.ndarray | Tensor, adaptive: str | None = "init",
                 with_res: bool = True) -> None:
        super().__init__()
        a_t = torch.as_tensor(np.asarray(a, dtype=np.float32))
        if adaptive not in (None, "init", "importance"):
            raise ConfigError(f"ST-GCN++: gcn adaptive must be None, 'init' or 'importance', got {adaptive!r}")
        self.adaptive, self.num_subsets, self.out_channels = adaptive, a_t.shape[0], out_channels
        # registration order follows PYSKL (bn, A, PA, conv, down) so state dicts line up
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = nn.ReLU()
        if adaptive == "init":
            self.A = nn.Parameter(a_t.clone())
        else:
            self.register_buffer("A", a_t.clone())
        if adaptive == "importance":
            self.PA = nn.Parameter(torch.ones_like(a_t))
        self.conv = nn.Conv2d(in_channels, out_channels * self.num_subsets, 1)
        self.down: nn.Module | None = None
        if with_res:
            self.down = (nn.Identity() if in_channels == out_channels
                         else nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.BatchNorm2d(out_channels)))

    def forward(self, x: Tensor) -> Tensor:
        n, _, t, v = x.shape
        a = self.A * self.PA if self.adaptive == "importance" else self.A
        if 4 * x.shape[1] <= self.out_channels:  # the first block (3 coordinates): joints first, same math
            y = aggregate_then_mix(x, a, self.conv.weight, self.conv.bias)
        else:
            y = self.conv(x).view(n, self.num_subsets, self.out_channels, t, v)
            y = torch.einsum("nkctv,kvw->nctw", y, a.to(y.dtype))
        y = self.bn(y)
        if self.down is not None:
            y = y + self.down(x)
        return self.act(y)


class STGCNPlusPlusBlock(nn.Module):
    """PYSKL ``STGCNBlock``: graph conv -> MSTCN, + block residual (identity or strided conv+BN), ReLU.

    Shapes: (N, C_in, T, V) -> (N, C_out, T / stride, V).
    """

    def __init__(self, in_channels: int, out_channels: int, a: np.ndarray | Tensor, stride: int = 1,
                 residual: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        self.gcn = PyskGraphConv(in_channels, out_channels, a, adaptive="init", with_res=True)
        self.tcn = MSTCN(out_channels, out_channels, stride=stride, dropout=dropout)
        self.relu = nn.ReLU()
        self.residual: nn.Module | None = None
        if residual:
            self.residual = (nn.Identity() if in_channels == out_channels and stride == 1
                             else PyskTemporalConv(in_channels, out_channels, 1, stride))

    def forward(self, x: Tensor) -> Tensor:
        y = self.tcn(self.gcn(x))
        if self.residual is not None:
            y = y + self.residual(x)
        return self.relu(y)


class STGCNPlusPlus(nn.Module):
    """ST-GCN++ encoder.

    Args:
        layout: skeleton layout (``ntu25`` uses PYSKL's NTU edges, see :func:`pyskl_spatial_graph`).
        in_channels: C (3 for xyz / bones / motion).
        blocks: ``(out_channels, temporal_stride)`` per block.
        dropout: temporal-module dropout of every block but the first (PYSKL ``tcn_dropout``, 0).
        data_bn: ``"vc"`` (PYSKL default), ``"mvc"`` or ``"none"``.
        num_person: M for ``data_bn="mvc"``.

    Shapes: see the module docstring.
    """

    def __init__(self, layout: str = "ntu25", in_channels: int = 3,
                 blocks: Sequence[tuple[int, int]] = STGCNPP_BLOCKS, dropout: float = 0.0, data_bn: str = "vc",
                 num_person: int = 2) -> None:
        super().__init__()
        if not blocks:
            raise ConfigError("ST-GCN++: needs at least one block")
        self.layout = get_layout(layout)
        a = pyskl_spatial_graph(self.layout.name)
        self.in_channels, self.num_person = in_channels, num_person
        self.data_bn = SkeletonDataBN(in_channels, self.layout.num_joints, num_person, data_bn, who="ST-GCN++")
        layers: list[nn.Module] = []
        c_in = in_channels
        for i, (c_out, stride) in enumerate(blocks):
            layers.append(STGCNPlusPlusBlock(c_in, c_out, a, stride, residual=i > 0,
                                             dropout=0.0 if i == 0 else dropout))
            c_in = c_out
        self.gcn = nn.ModuleList(layers)
        self.out_dim = c_in

    def forward_features(self, x: Tensor) -> Tensor:
        """(N, C, T, V, M) -> (N, M, out_dim, T', V) before pooling."""
        n, m = x.shape[0], x.shape[-1]
        y = self.data_bn(x)
        for block in self.gcn:
            y = block(y)
        return y.reshape(n, m, *y.shape[1:])

    pool = staticmethod(STGCN.pool)  # PYSKL ``GCNHead`` pooling: mean over (T', V), then persons

    def forward(self, x: Tensor) -> Tensor:
        """(N, C, T, V, M) -> (N, out_dim)."""
        return self.pool(self.forward_features(x))
