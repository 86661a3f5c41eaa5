"""ST-GCN (Yan, Xiong and Lin, "Spatial Temporal Graph Convolutional Networks for
Skeleton-Based Action Recognition", AAAI 2018): the baseline every skeleton paper compares with.

Also home of :func:`check_skeleton` (input validation), reused by :mod:`mmfusion.encoders.hypergcn`
and :mod:`mmfusion.encoders.skeleton_transformer`. The registered classifiers (``stgcn``,
``stgcn_tiny``) wrap :class:`STGCN` in :class:`mmfusion.models.heads.ModalityClassifier`
(:mod:`mmfusion.models.classifiers`).

Official defaults (``yysijie/st-gcn``): the data BatchNorm runs over V*C = 75 channels with
persons folded into the batch (``data_bn="vc"``), the graph is the official NTU matrix
(``graph="official"``: centre joint 20 (SpineShoulder), neighbours ordered by hop distances cut
at ``max_hop``, 25 / 40 / 8 non-zeros per partition) and every conv / BN starts from the official
``weights_init`` (``init="official"``: conv weights N(0, 0.02), zero bias; BN weights N(1, 0.02),
zero bias). ``data_bn="mvc"``, ``graph="paper"`` and ``init="torch"`` keep the earlier variant.

Shapes: input ``(N, C, T, V, M)`` (C=3 xyz, M persons); persons are folded into the batch
and the pooled features are averaged over persons at the end.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.layouts import SkeletonLayout, get_layout
from ..errors import ConfigError
from .graph import spatial_partition

__all__ = ["STGCN", "STGCNBlock", "SpatialGraphConv", "aggregate_then_mix", "check_skeleton", "official_stgcn_init"]

#: centre joint of the official ST-GCN graph per layout (0-based; NTU: joint 21 1-based, SpineShoulder)
OFFICIAL_CENTER: dict[str, int] = {"ntu25": 20}

#: (out_channels, temporal stride) of the ten ST-GCN blocks of the paper / official code.
STGCN_BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1), (64, 1), (64, 1), (64, 1), (128, 2), (128, 1), (128, 1), (256, 2), (256, 1), (256, 1))
STGCN_TINY_BLOCKS: tuple[tuple[int, int], ...] = ((32, 1), (64, 2), (64, 1), (128, 2))


def check_skeleton(x: Tensor, num_joints: int | None = None, in_channels: int | None = None,
                   who: str = "skeleton encoder") -> tuple[int, int, int, int, int]:
    """Validate a skeleton batch ``(N, C, T, V, M)`` and return its sizes.

    Raises:
        ConfigError: wrong rank, joint count or channel count (named, instead of an
            opaque shape error deep inside a convolution).
    """
    if not isinstance(x, Tensor) or x.ndim != 5:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ConfigError(f"{who}: expected a skeleton tensor (N, C, T, V, M), got {shape}")
    n, c, t, v, m = x.shape
    if num_joints is not None and v != num_joints:
        raise ConfigError(f"{who}: layout has {num_joints} joints but input has V={v} (shape (N, C, T, V, M) = "
                          f"{tuple(x.shape)}; is the tensor in (N, M, T, V, C) order?)")
    if in_channels is not None and c != in_channels:
        raise ConfigError(f"{who}: expected C={in_channels} channels, input has C={c} (shape {tuple(x.shape)})")
    if t < 1 or m < 1 or n < 1:
        raise ConfigError(f"{who}: empty skeleton batch {tuple(x.shape)}")
    return n, c, t, v, m


class SpatialGraphConv(nn.Module):
    """Graph convolution over K adjacency partitions (ST-GCN's ``ConvTemporalGraphical``).

    A 1x1 conv produces K groups of ``out_channels``; group k is aggregated with ``A[k]``.

    When ``C_in`` is much smaller than ``C_out`` (the first block reads 3 coordinates) the two linear maps
    are applied the other way round, which is the same mathematics: the input is aggregated over the
    joints first (one (N*C_in*T, V) @ (V, K*V) product on C_in channels instead of K*C_out), then mixed
    over (C_in, K) by a 1 x K convolution with dilation V (no (N, K, C, T, V) intermediate, no permuted
    copy); the conv bias enters as ``sum_k b_k * colsum(A_k)``. Same parameters, same state dict; about 4x
    faster for the first ST-GCN block (see docs/performance.md).

    Shapes: x (N, C_in, T, V), A (K, V, V) -> (N, C_out, T, V).
    """

    def __init__(self, in_channels: int, out_channels: int, num_partitions: int) -> None:
        super().__init__()
        self.num_partitions = num_partitions
        self.out_channels = out_channels
        self.conv = nn.Conv2d(in_channels, out_channels * num_partitions, kernel_size=1)

    def forward(self, x: Tensor, a: Tensor) -> Tensor:
        n, c_in, t, v = x.shape
        if 4 * c_in <= self.out_channels:
            return self._aggregate_first(x, a)
        y = self.conv(x).view(n, self.num_partitions, self.out_channels, t, v)
        return torch.einsum("nkctv,kvw->nctw", y, a.to(y.dtype))

    def _aggregate_first(self, x: Tensor, a: Tensor) -> Tensor:
        return aggregate_then_mix(x, a, self.conv.weight, self.conv.bias)


def aggregate_then_mix(x: Tensor, a: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``einsum("nkctv,kvw->nctw", conv1x1(x, weight, bias).view(N, K, C, T, V), A)`` with the two linear
    maps in the other order: joints first on the C_in input channels, then channels (cheaper when
    ``C_in < C_out``; see :class:`SpatialGraphConv`).

    Shapes: x (N, C_in, T, V), a (K, V, W), weight (K*C, C_in, 1, 1), bias (K*C,) -> (N, C, T, W).
    """
    n, c_in, t, v = x.shape
    k, w_out = a.shape[0], a.shape[-1]
    c = weight.shape[0] // k
    a = a.to(x.dtype)
    # xa[n, i, t, k*W + w] = sum_v x[n, i, t, v] * A[k, v, w]
    xa = torch.mm(x.reshape(n * c_in * t, v), a.permute(1, 0, 2).reshape(v, k * w_out)).view(n, c_in, t, k * w_out)
    # out[n, c, t, w] = sum_{i, k} W[k*C + c, i] * xa[n, i, t, k*W + w]: a (1, K) kernel, dilation W
    wk = weight.view(k, c, c_in).permute(1, 2, 0).unsqueeze(2).to(x.dtype)
    out = F.conv2d(xa, wk, None, dilation=(1, w_out))
    if bias is not None:
        out = out + (bias.view(k, c).to(x.dtype).t() @ a.sum(dim=1))[:, None, :]  # sum_k b_k colsum(A_k)
    return out


class STGCNBlock(nn.Module):
    """One ST-GCN unit: graph conv -> BN -> ReLU -> temporal conv (k x 1) -> BN -> dropout,
    plus a residual (identity, strided 1x1 conv + BN, or none), then ReLU.

    Shapes: (N, C_in, T, V) -> (N, C_out, ceil(T / stride), V).
    """

    def __init__(self, in_channels: int, out_channels: int, num_partitions: int, temporal_kernel: int = 9,
                 stride: int = 1, dropout: float = 0.0, residual: bool = True) -> None:
        super().__init__()
        if temporal_kernel % 2 != 1:
            raise ConfigError(f"ST-GCN: temporal kernel must be odd, got {temporal_kernel}")
        self.gcn = SpatialGraphConv(in_channels, out_channels, num_partitions)
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, (temporal_kernel, 1), (stride, 1), ((temporal_kernel - 1) // 2, 0)),
            nn.BatchNorm2d(out_channels),
            nn.Dropout(dropout),
        )
        self.residual: nn.Module | None
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=(stride, 1)),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x: Tensor, a: Tensor) -> Tensor:
        y = self.tcn(self.gcn(x, a))
        if self.residual is not None:
            y = y + self.residual(x)
        return F.relu(y)


def official_stgcn_init(module: nn.Module) -> None:
    """``yysijie/st-gcn``'s ``weights_init`` on every conv / linear / BN of ``module``.

    Conv and linear weights N(0, 0.02) with zero bias; BatchNorm weights N(1, 0.02) with zero
    bias (affine-free norms are skipped).
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def _stgcn_graph(layout: SkeletonLayout, graph: str | np.ndarray | Tensor, center: int | None,
                 truncated_hops: bool | None) -> Tensor:
    if isinstance(graph, (np.ndarray, Tensor)):
        a = torch.as_tensor(np.asarray(graph, dtype=np.float32))
        v = layout.num_joints
        if a.ndim != 3 or a.shape[1:] != (v, v):
            raise ConfigError(f"ST-GCN: graph must be (K, {v}, {v}) for layout {layout.name}, got {tuple(a.shape)}")
        return a
    if graph == "official":
        c = OFFICIAL_CENTER.get(layout.name, layout.center) if center is None else center
        hops = True if truncated_hops is None else truncated_hops
    elif graph == "paper":
        c, hops = center, bool(truncated_hops)
    else:
        raise ConfigError(f"ST-GCN: graph must be 'official', 'paper' or a (K, V, V) array, got {graph!r}")
    return torch.from_numpy(spatial_partition(layout, center=c, truncated_hops=hops))


class STGCN(nn.Module):
    """ST-GCN encoder.

    Args:
        layout: skeleton layout (name or object); the graph is built from it.
        in_channels: C of the input (3 for xyz).
        blocks: ``(out_channels, temporal_stride)`` per block; default is the paper's ten.
        temporal_kernel: temporal kernel size (9).
        dropout: dropout inside every block but the first (0.5 in the official NTU configs).
        edge_importance: learnable per-block mask multiplying the adjacency.
        data_bn: ``"vc"`` - BatchNorm1d over V*C with persons folded into the batch (the
            official ST-GCN, default); ``"mvc"`` - over M*V*C channels (2s-AGCN/CTR-GCN style,
            needs exactly ``num_person`` persons); ``"none"``.
        num_person: M expected by ``data_bn="mvc"``.
        graph: ``"official"`` (default: the ``yysijie/st-gcn`` matrix, centre joint
            :data:`OFFICIAL_CENTER` of the layout, truncated hop distances), ``"paper"`` (the
            paper's definition: ``center`` / the layout's centre, exact hop distances), or an
            explicit (K, V, V) adjacency (e.g. from an :mod:`mmfusion.encoders.graph` builder).
        center, truncated_hops: override the centre joint / hop truncation of ``graph``.
        init: ``"official"`` (:func:`official_stgcn_init`, default) or ``"torch"`` (PyTorch defaults).

    Shapes:
        ``forward(x)``: (N, C, T, V, M) -> (N, out_dim), averaged over (T', V) and persons.
        ``forward_features(x)`` (= ``forward_maps``): (N, C, T, V, M) -> (N, M, out_dim, T', V)
        with T' = T / 4 for the default strides; ``pool`` maps it to (N, out_dim).
    """

    def __init__(self, layout: SkeletonLayout | str = "ntu25", in_channels: int = 3,
                 blocks: Sequence[tuple[int, int]] = STGCN_BLOCKS, temporal_kernel: int = 9,
                 dropout: float = 0.0, edge_importance: bool = True, data_bn: str = "vc",
                 num_person: int = 2, graph: str | np.ndarray | Tensor = "official", center: int | None = None,
                 truncated_hops: bool | None = None, init: str = "official") -> None:
        super().__init__()
        self.layout = get_layout(layout)
        if data_bn not in ("mvc", "vc", "none"):
            raise ConfigError(f"ST-GCN: data_bn must be 'mvc', 'vc' or 'none', got {data_bn!r}")
        if init not in ("official", "torch"):
            raise ConfigError(f"ST-GCN: init must be 'official' or 'torch', got {init!r}")
        if not blocks:
            raise ConfigError("ST-GCN: needs at least one block")
        a = _stgcn_graph(self.layout, graph, center, truncated_hops)
        self.register_buffer("A", a, persistent=False)
        v = self.layout.num_joints
        self.in_channels = in_channels
        self.num_person = num_person
        self.data_bn_mode = data_bn
        bn_channels = {"mvc": num_person * v * in_channels, "vc": v * in_channels, "none": 0}[data_bn]
        self.data_bn = nn.BatchNorm1d(bn_channels) if bn_channels else None
        layers = []
        c_in = in_channels
        for i, (c_out, stride) in enumerate(blocks):
            # the first block has neither residual nor dropout (official code)
            layers.append(STGCNBlock(c_in, c_out, a.shape[0], temporal_kernel, stride,
                                     dropout=0.0 if i == 0 else dropout, residual=i > 0))
            c_in = c_out
        self.blocks = nn.ModuleList(layers)
        self.edge_importance = (nn.ParameterList([nn.Parameter(torch.ones_like(a)) for _ in layers])
                                if edge_importance else None)
        self.out_dim = c_in
        if init == "official":
            official_stgcn_init(self)

    def _normalise_input(self, x: Tensor) -> Tensor:
        """(N, C, T, V, M) -> data-BN'd (N*M, C, T, V)."""
        n, c, t, v, m = check_skeleton(x, self.layout.num_joints, self.in_channels, "ST-GCN")
        if self.data_bn_mode == "mvc":
            if m != self.num_person:
                raise ConfigError(f"ST-GCN: data_bn='mvc' was built for M={self.num_person} persons, input has "
                                  f"M={m}; pad persons with zeros or build with num_person={m} / data_bn='vc'")
            y = self.data_bn(x.permute(0, 4, 3, 1, 2).reshape(n, m * v * c, t))
            return y.view(n, m, v, c, t).permute(0, 1, 3, 4, 2).reshape(n * m, c, t, v)
        if self.data_bn_mode == "vc":
            y = self.data_bn(x.permute(0, 4, 3, 1, 2).reshape(n * m, v * c, t))
            return y.view(n * m, v, c, t).permute(0, 2, 3, 1).contiguous()
        return x.permute(0, 4, 1, 2, 3).reshape(n * m, c, t, v)

    def forward_maps(self, x: Tensor) -> Tensor:
        """(N, C, T, V, M) -> (N, M, out_dim, T', V) feature maps before pooling."""
        n, m = x.shape[0], x.shape[-1]
        y = self._normalise_input(x)
        for i, block in enumerate(self.blocks):
            a = self.A if self.edge_importance is None else self.A * self.edge_importance[i]
            y = block(y, a)
        return y.view(n, m, *y.shape[1:])

    def forward_features(self, x: Tensor) -> Tensor:
        """Unpooled (N, M, out_dim, T', V) feature maps (same as :meth:`forward_maps`)."""
        return self.forward_maps(x)

    @staticmethod
    def pool(maps: Tensor) -> Tensor:
        """(N, M, C, T', V) -> (N, C): mean over time and joints, then persons (the official head's pooling)."""
        return maps.mean(dim=(3, 4)).mean(dim=1)

    def forward(self, x: Tensor) -> Tensor:
        """(N, C, T, V, M) -> (N, out_dim): mean over time, joints, then persons."""
        return self.pool(self.forward_maps(x))
