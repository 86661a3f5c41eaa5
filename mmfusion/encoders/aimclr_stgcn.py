"""The quarter-width ST-GCN of AimCLR / CrosSCLR / HiCLR / MS-CLR (Guo et al., "Contrastive
Learning from Extremely Augmented Skeleton Sequences for Self-supervised Action Recognition",
AAAI 2022; official ``Levigty/AimCLR`` ``net/st_gcn.py`` with ``hidden_channels: 16``,
``hidden_dim: 256``).

It is :class:`~mmfusion.encoders.stgcn.STGCN` with the official settings of that code base:

* ten ST-GCN blocks 16, 16, 16, 16, 32/s2, 32, 32, 64/s2, 64, **256** (the last block widens
  to ``hidden_dim``), temporal kernel 9, dropout 0.5 in every block but the first;
* data BatchNorm over (V, C) with persons folded into the batch (``data_bn="vc"``);
* the original ``yysijie/st-gcn`` NTU graph: spatial partitions around SpineShoulder (joint 21,
  1-based) with the truncated hop distances of that code (25 / 40 / 8 non-zeros,
  :func:`~mmfusion.encoders.graph.spatial_partition` with ``truncated_hops=True``);
* learnable edge importance; PyTorch default init.

Shapes: ``forward(x)``: (N, C, T, V, M) -> (N, 256); ``forward_features(x)``: ->
(N*M, 256, T/4, V) (person-major rows).

Parameters: 821,380 for the encoder; 836,800 with a 60-class linear head (the "0.84 M"
measured figure); AimCLR's own MoCo ``fc`` (256 -> 128) gives 854,276. fvcore: 0.61 GMACs at
T=50, M=2 (see the test).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from ..registry import register_model
from .stgcn import STGCN, _maybe_head

__all__ = ["AIMCLR_STGCN_BLOCKS", "AimCLRSTGCN", "aimclr_stgcn", "aimclr_stgcn_tiny"]

#: (out_channels, temporal stride) of AimCLR's ST-GCN (hidden_channels 16, hidden_dim 256).
AIMCLR_STGCN_BLOCKS: tuple[tuple[int, int], ...] = (
    (16, 1), (16, 1), (16, 1), (16, 1), (32, 2), (32, 1), (32, 1), (64, 2), (64, 1), (256, 1))
AIMCLR_STGCN_TINY_BLOCKS: tuple[tuple[int, int], ...] = ((8, 1), (16, 2), (32, 1))


class AimCLRSTGCN(STGCN):
    """:class:`~mmfusion.encoders.stgcn.STGCN` with AimCLR's defaults; ``forward_features``
    returns the unpooled map (N*M, C', T', V) instead of pooled features."""

    def __init__(self, layout: str = "ntu25", dropout: float = 0.5, **kwargs: Any) -> None:
        kwargs.setdefault("blocks", AIMCLR_STGCN_BLOCKS)
        kwargs.setdefault("data_bn", "vc")
        kwargs.setdefault("edge_importance", True)
        if layout == "ntu25":
            kwargs.setdefault("center", 20)  # SpineShoulder, the official ST-GCN NTU centre
            kwargs.setdefault("truncated_hops", True)
        super().__init__(layout=layout, dropout=dropout, **kwargs)

    def forward_features(self, x: Tensor) -> Tensor:
        """(N, C, T, V, M) -> (N*M, out_dim, T', V) before pooling."""
        y = self.forward_maps(x)
        return y.reshape(-1, *y.shape[2:])


@register_model(tags=("encoder", "skeleton", "model"))
def aimclr_stgcn(num_classes: int | None = None, layout: str = "ntu25", **kwargs: Any) -> nn.Module:
    """AimCLR's quarter-width ST-GCN: (N, 3, T, V, M) -> (N, 256) or logits."""
    return _maybe_head(AimCLRSTGCN(layout=layout, **kwargs), num_classes)


@register_model(tags=("encoder", "skeleton", "model", "test"))
def aimclr_stgcn_tiny(num_classes: int | None = None, layout: str = "ntu25", **kwargs: Any) -> nn.Module:
    """Three-block version (8, 16/s2, 32) for tests; (N, C, T, V, M) -> (N, 32)."""
    kwargs.setdefault("blocks", AIMCLR_STGCN_TINY_BLOCKS)
    kwargs.setdefault("dropout", 0.0)
    return _maybe_head(AimCLRSTGCN(layout=layout, **kwargs), num_classes)
