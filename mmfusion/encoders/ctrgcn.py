"""CTR-GCN (Chen et al., "Channel-wise Topology Refinement Graph Convolution for Skeleton-Based
Action Recognition", ICCV 2021), re-implemented after the official ``Uason-Chen/CTR-GCN``
``model/ctrgcn.py``.

* Data BatchNorm over (M, V, C) (:class:`SkeletonDataBN`, also used by ST-GCN++, ACLNet, PSUMNet).
* 10 TCN-GCN units, 64 -> 128 (stride 2 at unit 5) -> 256 (stride 2 at unit 8); unit 1 has no
  residual.
* Each graph conv (:class:`CTRGCNGraphConv`) sums, over the 3 partitions of the
  ``[I, In, Out]`` graph (:func:`~mmfusion.encoders.graph.inward_outward_graph`, kept as a
  learnable ``PA`` as in the official ``adaptive=True``), a :class:`CTRGC`: a channel-wise
  refined topology ``alpha * conv4(tanh(x1_u - x2_v)) + A`` aggregating ``conv3(x)``.
* Multi-scale temporal conv (:class:`MultiScaleTemporalConv`): 2 dilated kernel-5 branches
  (dilation 1, 2), a max-pool branch and a 1x1 branch.
* Official init: kaiming-normal (fan_out) convs, BN weight 1 (the graph conv's output BN
  1e-6), temporal-module BN weights ``N(1, 0.02)``.

Shapes: ``forward(x)``: (N, C, T, V, M) -> (N, 256), mean over (T', V) then persons;
``forward_features(x)``: (N, C, T, V, M) -> (N, M, 256, T/4, V); ``pool`` maps it to (N, 256).
The registered classifiers (``ctrgcn``, ``ctrgcn_tiny``) live in :mod:`mmfusion.models.skeleton_zoo`.

Parameter count at the official NTU-60 configuration: 1,431,252 for the encoder; with the
60-class linear head 1,446,672, the "1.46 M" of the paper (its figure includes the head).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ..data.layouts import get_layout
from ..errors import ConfigError
from .graph import inward_outward_graph
from .stgcn import STGCN, check_skeleton

__all__ = ["CTRGC", "CTRGCN", "CTRGCNBlock", "CTRGCNGraphConv", "CTRGCN_BLOCKS", "CTRGCN_TINY_BLOCKS",
           "MultiScaleTemporalConv", "SkeletonDataBN", "init_linear_head"]

#: (out_channels, temporal stride) of the ten official CTR-GCN units.
CTRGCN_BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1), (64, 1), (64, 1), (64, 1), (128, 2), (128, 1), (128, 1), (256, 2), (256, 1), (256, 1))
CTRGCN_TINY_BLOCKS: tuple[tuple[int, int], ...] = ((24, 1), (48, 2), (48, 1))


def conv_init(conv: nn.Conv2d) -> None:
    """Official CTR-GCN conv init: kaiming normal (fan_out), zero bias."""
    nn.init.kaiming_normal_(conv.weight, mode="fan_out")
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


def bn_init(bn: nn.BatchNorm1d | nn.BatchNorm2d, scale: float) -> None:
    nn.init.constant_(bn.weight, scale)
    nn.init.zeros_(bn.bias)


class SkeletonDataBN(nn.Module):
    """Input BatchNorm1d of the GCN family and person folding.

    ``mode="mvc"``: one BN channel per (person, joint, coordinate) (CTR-GCN, PSUMNet; needs
    exactly ``num_person`` persons); ``"vc"``: per (joint, coordinate), persons folded into
    the batch (ST-GCN, PYSKL); ``"none"``: no normalisation.

    Shapes: (N, C, T, V, M) -> (N*M, C, T, V).
    """

    def __init__(self, in_channels: int, num_joints: int, num_person: int = 2, mode: str = "mvc",
                 who: str = "skeleton encoder") -> None:
        super().__init__()
        if mode not in ("mvc", "vc", "none"):
            raise ConfigError(f"{who}: data_bn must be 'mvc', 'vc' or 'none', got {mode!r}")
        self.mode, self.in_channels, self.num_joints, self.num_person, self.who = (
            mode, in_channels, num_joints, num_person, who)
        channels = {"mvc": num_person * num_joints * in_channels, "vc": num_joints * in_channels, "none": 0}[mode]
        self.bn = nn.BatchNorm1d(channels) if channels else None
        if self.bn is not None:
            bn_init(self.bn, 1.0)

    def forward(self, x: Tensor) -> Tensor:
        n, c, t, v, m = check_skeleton(x, self.num_joints, self.in_channels, self.who)
        if self.mode == "mvc":
            if m != self.num_person:
                raise ConfigError(f"{self.who}: data_bn='mvc' was built for M={self.num_person} persons, input has "
                                  f"M={m}; pad persons with zeros or build with num_person={m}")
            y = self.bn(x.permute(0, 4, 3, 1, 2).reshape(n, m * v * c, t))
        elif self.mode == "vc":
            y = self.bn(x.permute(0, 4, 3, 1, 2).reshape(n * m, v * c, t))
        else:
            y = x.permute(0, 4, 3, 1, 2)
        return y.reshape(n, m, v, c, t).permute(0, 1, 3, 4, 2).reshape(n * m, c, t, v)


def _temporal_module_init(module: nn.Module) -> None:
    # official ``weights_init`` of MultiScale_TemporalConv: BN weights N(1, 0.02)
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            conv_init(m)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class _TemporalConvBN(nn.Sequential):
    """Conv (k x 1, dilation, stride) + BN; (N, C, T, V) -> (N, C', T/stride, V)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, dilation: int = 1) -> None:
        pad = (kernel + (kernel - 1) * (dilation - 1) - 1) // 2
        super().__init__(nn.Conv2d(c_in, c_out, (kernel, 1), (stride, 1), (pad, 0), (dilation, 1)),
                         nn.BatchNorm2d(c_out))


class MultiScaleTemporalConv(nn.Module):
    """CTR-GCN's multi-scale temporal conv: ``len(dilations)`` dilated branches + max-pool + 1x1.

    Every branch has ``out_channels / (len(dilations) + 2)`` channels (must divide).

    Shapes: (N, C_in, T, V) -> (N, C_out, T / stride, V).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5, stride: int = 1,
                 dilations: Sequence[int] = (1, 2), residual: bool = False) -> None:
        super().__init__()
        nb = len(dilations) + 2
        if out_channels % nb:
            raise ConfigError(f"CTR-GCN: out_channels={out_channels} must be a multiple of the {nb} temporal branches")
        bc = out_channels // nb
        branches: list[nn.Module] = [
            nn.Sequential(nn.Conv2d(in_channels, bc, 1), nn.BatchNorm2d(bc), nn.ReLU(inplace=True),
                          _TemporalConvBN(bc, bc, kernel_size, stride, d)) for d in dilations]
        branches.append(nn.Sequential(nn.Conv2d(in_channels, bc, 1), nn.BatchNorm2d(bc), nn.ReLU(inplace=True),
                                      nn.MaxPool2d((3, 1), (stride, 1), (1, 0)), nn.BatchNorm2d(bc)))
        branches.append(nn.Sequential(nn.Conv2d(in_channels, bc, 1, stride=(stride, 1)), nn.BatchNorm2d(bc)))
        self.branches = nn.ModuleList(branches)
        self.residual: nn.Module | None = None
        if residual:
            self.residual = (nn.Identity() if in_channels == out_channels and stride == 1
                             else _TemporalConvBN(in_channels, out_channels, 1, stride))
        _temporal_module_init(self)

    def forward(self, x: Tensor) -> Tensor:
        out = torch.cat([b(x) for b in self.branches], dim=1)
        return out if self.residual is None else out + self.residual(x)


class CTRGC(nn.Module):
    """Channel-wise topology refinement graph conv for one partition.

    ``rel`` = 8 and ``mid`` = 16 channels when ``in_channels`` is in ``small_inputs`` (the
    official special case for raw coordinates), else ``in / rel_reduction`` and ``in / mid_reduction``.

    Shapes: x (N, C_in, T, V), A (V, V) -> (N, C_out, T, V); the refined topology is
    (N, C_out, V, V), ``y[..., u] = sum_v topo[:, :, u, v] * conv3(x)[..., v]``.
    """

    def __init__(self, in_channels: int, out_channels: int, rel_reduction: int = 8, mid_reduction: int = 1,
                 small_inputs: Sequence[int] = (3, 9)) -> None:
        super().__init__()
        if in_channels in small_inputs:
            self.rel_channels, self.mid_channels = 8, 16
        else:
            self.rel_channels, self.mid_channels = in_channels // rel_reduction, in_channels // mid_reduction
        if self.rel_channels < 1:
            raise ConfigError(f"CTR-GCN: in_channels={in_channels} leaves no relation channels "
                              f"(rel_reduction={rel_reduction})")
        self.conv1 = nn.Conv2d(in_channels, self.rel_channels, 1)
        self.conv2 = nn.Conv2d(in_channels, self.rel_channels, 1)
        self.conv3 = nn.Conv2d(in_channels, out_channels, 1)
        self.conv4 = nn.Conv2d(self.rel_channels, out_channels, 1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                conv_init(m)

    def forward(self, x: Tensor, a: Tensor, alpha: Tensor | float = 1.0) -> Tensor:
        x1, x2, x3 = self.conv1(x).mean(-2), self.conv2(x).mean(-2), self.conv3(x)
        topo = self.conv4(torch.tanh(x1.unsqueeze(-1) - x2.unsqueeze(-2))) * alpha + a.to(x.dtype)[None, None]
        return torch.einsum("ncuv,nctv->nctu", topo, x3)


class CTRGCNGraphConv(nn.Module):
    """CTR-GCN ``unit_gcn``: sum of one :class:`CTRGC` per partition, BN, residual, ReLU.

    ``adaptive=True`` (official default) makes the graph a learnable ``PA`` initialised with
    ``A``; otherwise it is a buffer.

    Shapes: (N, C_in, T, V) -> (N, C_out, T, V).
    """

    def __init__(self, in_channels: int, out_channels: int, a: np.ndarray | Tensor, adaptive: bool = True,
                 residual: bool = True, small_inputs: Sequence[int] = (3, 9)) -> None:
        super().__init__()
        a_t = torch.as_tensor(np.asarray(a, dtype=np.float32))
        self.num_subsets = a_t.shape[0]
        self.convs = nn.ModuleList([CTRGC(in_channels, out_channels, small_inputs=small_inputs)
                                    for _ in range(self.num_subsets)])
        self.down: nn.Module | None = None
        if residual:
            self.down = (nn.Identity() if in_channels == out_channels
                         else nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.BatchNorm2d(out_channels)))
        self.adaptive = adaptive
        if adaptive:
            self.PA = nn.Parameter(a_t.clone())
        else:
            self.register_buffer("A", a_t.clone())
        self.alpha = nn.Parameter(torch.zeros(1))
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                conv_init(m)
            elif isinstance(m, nn.BatchNorm2d):
                bn_init(m, 1.0)
        bn_init(self.bn, 1e-6)

    @property
    def graph(self) -> Tensor:
        return self.PA if self.adaptive else self.A

    def forward(self, x: Tensor) -> Tensor:
        a = self.graph
        y = self.convs[0](x, a[0], self.alpha)
        for i in range(1, self.num_subsets):
            y = y + self.convs[i](x, a[i], self.alpha)
        y = self.bn(y)
        if self.down is not None:
            y = y + self.down(x)
        return self.relu(y)


class CTRGCNBlock(nn.Module):
    """CTR-GCN ``TCN_GCN_unit``: graph conv -> multi-scale TCN, + residual, ReLU.

    Shapes: (N, C_in, T, V) -> (N, C_out, T / stride, V).
    """

    def __init__(self, in_channels: int, out_channels: int, a: np.ndarray | Tensor, stride: int = 1,
                 residual: bool = True, adaptive: bool = True, kernel_size: int = 5,
                 dilations: Sequence[int] = (1, 2), small_inputs: Sequence[int] = (3, 9)) -> None:
        super().__init__()
        self.gcn1 = CTRGCNGraphConv(in_channels, out_channels, a, adaptive=adaptive, small_inputs=small_inputs)
        self.tcn1 = MultiScaleTemporalConv(out_channels, out_channels, kernel_size, stride, dilations, residual=False)
        self.relu = nn.ReLU(inplace=True)
        self.residual: nn.Module | None = None
        if residual:
            if in_channels == out_channels and stride == 1:
                self.residual = nn.Identity()
            else:
                self.residual = _TemporalConvBN(in_channels, out_channels, 1, stride)
                conv_init(self.residual[0])
                bn_init(self.residual[1], 1.0)

    def forward(self, x: Tensor) -> Tensor:
        y = self.tcn1(self.gcn1(x))
        if self.residual is not None:
            y = y + self.residual(x)
        return self.relu(y)


class CTRGCN(nn.Module):
    """CTR-GCN encoder (also the trunk of PSUMNet's part streams).

    Args:
        layout: skeleton layout; gives V and, when ``graph`` is None, the ``[I, In, Out]`` graph.
        in_channels: C of the input (3 for xyz; 12 for PSUMNet's unified modality).
        num_person: M expected by the ``"mvc"`` data BN.
        blocks: ``(out_channels, temporal_stride)`` per unit; the first has no residual.
        graph: (K, V, V) graph overriding the layout's (PSUMNet part graphs).
        num_joints: V when ``graph`` is given without a matching layout.
        adaptive: learnable graph (official default True).
        small_inputs: input widths that get the fixed 8 / 16 relation channels in the first
            CTRGC ((3, 9) in CTR-GCN, (3, 6) in PSUMNet).
        data_bn: ``"mvc"`` (official), ``"vc"`` or ``"none"``.

    Shapes: see the module docstring; ``out_dim`` is the last block's width.
    """

    def __init__(self, layout: str = "ntu25", in_channels: int = 3, num_person: int = 2,
                 blocks: Sequence[tuple[int, int]] = CTRGCN_BLOCKS, graph: np.ndarray | None = None,
                 num_joints: int | None = None, adaptive: bool = True, small_inputs: Sequence[int] = (3, 9),
                 kernel_size: int = 5, dilations: Sequence[int] = (1, 2), data_bn: str = "mvc",
                 name: str = "CTR-GCN") -> None:
        super().__init__()
        if not blocks:
            raise ConfigError(f"{name}: needs at least one block")
        if graph is None:
            graph = inward_outward_graph(layout)
        graph = np.asarray(graph, dtype=np.float32)
        if graph.ndim != 3 or graph.shape[1] != graph.shape[2]:
            raise ConfigError(f"{name}: graph must be (K, V, V), got {graph.shape}")
        v = graph.shape[-1] if num_joints is None else num_joints
        lay = get_layout(layout)
        # a part graph (PSUMNet) has fewer nodes than the layout: then no layout describes the input
        self.layout = lay if lay.num_joints == v else None
        if graph.shape[-1] != v:
            raise ConfigError(f"{name}: graph has {graph.shape[-1]} nodes but num_joints={v}")
        self.num_joints, self.in_channels, self.num_person = v, in_channels, num_person
        self.data_bn = SkeletonDataBN(in_channels, v, num_person, data_bn, who=name)
        layers: list[nn.Module] = []
        c_in = in_channels
        for i, (c_out, stride) in enumerate(blocks):
            layers.append(CTRGCNBlock(c_in, c_out, graph, stride, residual=i > 0, adaptive=adaptive,
                                      kernel_size=kernel_size, dilations=dilations, small_inputs=small_inputs))
            c_in = c_out
        self.layers = nn.ModuleList(layers)
        self.out_dim = c_in

    def forward_features(self, x: Tensor) -> Tensor:
        """(N, C, T, V, M) -> (N, M, out_dim, T', V) before pooling."""
        n, m = x.shape[0], x.shape[-1]
        y = self.data_bn(x)
        for layer in self.layers:
            y = layer(y)
        return y.reshape(n, m, *y.shape[1:])

    pool = staticmethod(STGCN.pool)  # (N, M, C, T', V) -> (N, C): mean over (T', V), then persons (official)

    def forward(self, x: Tensor) -> Tensor:
        """(N, C, T, V, M) -> (N, out_dim): mean over (T', V), then over persons (official order)."""
        return self.pool(self.forward_features(x))


def init_linear_head(head: nn.Linear) -> None:
    """Official CTR-GCN / PSUMNet classifier init: weight ``N(0, 2 / num_classes)``, zero bias."""
    nn.init.normal_(head.weight, 0.0, math.sqrt(2.0 / head.out_features))
    nn.init.zeros_(head.bias)
