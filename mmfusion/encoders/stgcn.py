"""ST-GCN (Yan, Xiong and Lin, "Spatial Temporal Graph Convolutional Networks for
Skeleton-Based Action Recognition", AAAI 2018): the baseline every skeleton paper compares with.

Also home of :func:`check_skeleton` (input validation), reused by :mod:`mmfusion.encoders.hypergcn`
and :mod:`mmfusion.encoders.skeleton_transformer`. With ``num_classes`` the skeleton and point
entries wrap their encoder in :class:`mmfusion.models.heads.ModalityClassifier` (``_maybe_head``).

Shapes: input ``(N, C, T, V, M)`` (C=3 xyz, M persons); persons are folded into the batch
and the pooled features are averaged over persons at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.layouts import SkeletonLayout, get_layout
from ..errors import ConfigError
from ..registry import register_model
from .graph import spatial_partition

__all__ = ["STGCN", "STGCNBlock", "SpatialGraphConv", "check_skeleton", "stgcn", "stgcn_tiny"]

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

    Shapes: x (N, C_in, T, V), A (K, V, V) -> (N, C_out, T, V).
    """

    def __init__(self, in_channels: int, out_channels: int, num_partitions: int) -> None:
        super().__init__()
        self.num_partitions = num_partitions
        self.out_channels = out_channels
        self.conv = nn.Conv2d(in_channels, out_channels * num_partitions, kernel_size=1)

    def forward(self, x: Tensor, a: Tensor) -> Tensor:
        n, _, t, v = x.shape
        y = self.conv(x).view(n, self.num_partitions, self.out_channels, t, v)
        return torch.einsum("nkctv,kvw->nctw", y, a.to(y.dtype))


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


class STGCN(nn.Module):
    """ST-GCN encoder.

    Args:
        layout: skeleton layout (name or object); the graph is built from it.
        in_channels: C of the input (3 for xyz).
        blocks: ``(out_channels, temporal_stride)`` per block; default is the paper's ten.
        temporal_kernel: temporal kernel size (9).
        dropout: dropout inside every block but the first (0.5 in the official NTU configs).
        edge_importance: learnable per-block mask multiplying the adjacency.
        data_bn: ``"mvc"`` - BatchNorm1d over M*V*C channels (2s-AGCN/CTR-GCN style, needs
            exactly ``num_person`` persons); ``"vc"`` - over V*C with persons folded into
            the batch (the official ST-GCN); ``"none"``.
        num_person: M expected by ``data_bn="mvc"``.
        center, truncated_hops: passed to :func:`~mmfusion.encoders.graph.spatial_partition`.

    Shapes:
        ``forward(x)``: (N, C, T, V, M) -> (N, out_dim), averaged over (T', V) and persons.
        ``forward_maps(x)``: (N, C, T, V, M) -> (N, M, out_dim, T', V) with T' = T / 4 for
        the default strides.
    """

    def __init__(self, layout: SkeletonLayout | str = "ntu25", in_channels: int = 3,
                 blocks: Sequence[tuple[int, int]] = STGCN_BLOCKS, temporal_kernel: int = 9,
                 dropout: float = 0.0, edge_importance: bool = True, data_bn: str = "mvc",
                 num_person: int = 2, center: int | None = None, truncated_hops: bool = False) -> None:
        super().__init__()
        self.layout = get_layout(layout)
        if data_bn not in ("mvc", "vc", "none"):
            raise ConfigError(f"ST-GCN: data_bn must be 'mvc', 'vc' or 'none', got {data_bn!r}")
        if not blocks:
            raise ConfigError("ST-GCN: needs at least one block")
        a = torch.from_numpy(spatial_partition(self.layout, center=center, truncated_hops=truncated_hops))
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

    def forward(self, x: Tensor) -> Tensor:
        """(N, C, T, V, M) -> (N, out_dim): mean over time, joints, then persons."""
        return self.forward_maps(x).mean(dim=(3, 4)).mean(dim=1)

    def forward_features(self, x: Tensor) -> Tensor:
        """Same as :meth:`forward`: pooled (N, out_dim) features."""
        return self.forward(x)


def _maybe_head(encoder: nn.Module, num_classes: int | None, **head_kw: Any) -> nn.Module:
    from ..models.heads import with_head  # deferred: importing mmfusion.models imports this module

    return with_head(encoder, num_classes, **head_kw)


@register_model(tags=("encoder", "skeleton", "model"))
def stgcn(num_classes: int | None = None, layout: str = "ntu25", dropout: float = 0.5, **kwargs: Any) -> nn.Module:
    """ST-GCN, paper configuration (10 blocks, 64-128-256, temporal kernel 9, spatial partitions).

    ``num_classes=None`` returns the bare :class:`STGCN` encoder (N, C, T, V, M) -> (N, 256);
    otherwise a :class:`~mmfusion.models.heads.ModalityClassifier` (batch dict -> ``{"logits"}``).
    """
    return _maybe_head(STGCN(layout=layout, dropout=dropout, **kwargs), num_classes)


@register_model(tags=("encoder", "skeleton", "model", "test"))
def stgcn_tiny(num_classes: int | None = None, layout: str = "ntu25", dropout: float = 0.0,
               **kwargs: Any) -> nn.Module:
    """Four-block ST-GCN (32, 64/s2, 64, 128/s2) for demos and tests; (N, C, T, V, M) -> (N, 128)."""
    kwargs.setdefault("blocks", STGCN_TINY_BLOCKS)
    return _maybe_head(STGCN(layout=layout, dropout=dropout, **kwargs), num_classes)
