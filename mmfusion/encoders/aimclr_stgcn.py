"""The quarter-width ST-GCN of AimCLR / CrosSCLR / HiCLR / MS-CLR (Guo et al., "Contrastive
Learning from Extremely Augmented Skeleton Sequences for Self-supervised Action Recognition",
AAAI 2022; official ``Levigty/AimCLR`` ``net/st_gcn.py`` with ``hidden_channels: 16``,
``hidden_dim: 256``).

It is :class:`~mmfusion.encoders.stgcn.STGCN` with the official settings of that code base:

* ten ST-GCN blocks 16, 16, 16, 16, 32/s2, 32, 32, 64/s2, 64, **256** (the last block widens
  to ``hidden_dim``), temporal kernel 9, dropout 0.5 in every block but the first;
* data BatchNorm over (V, C) with persons folded into the batch (``data_bn="vc"``);
* the original ``yysijie/st-gcn`` NTU graph: STGCN's ``graph="official"`` (spatial partitions
  around SpineShoulder, joint 21 1-based, with the truncated hop distances of that code: 25 / 40 / 8
  non-zeros; the one builder is :func:`~mmfusion.encoders.graph.spatial_partition`);
* learnable edge importance; STGCN's ``init="official"`` (the ST-GCN ``weights_init`` that
  AimCLR's processor applies to the whole model).

Shapes: ``forward(x)``: (N, C, T, V, M) -> (N, 256); ``forward_features(x)``: ->
(N, M, 256, T/4, V); ``pool`` maps it to (N, 256). The registered classifiers
(``aimclr_stgcn``, ``aimclr_stgcn_tiny``) live in :mod:`mmfusion.models.skeleton_zoo`.

Parameters: 821,380 for the encoder; 836,800 with a 60-class linear head (the "0.84 M"
measured figure); AimCLR's own MoCo ``fc`` (256 -> 128) gives 854,276. fvcore: 0.61 GMACs at
T=50, M=2 (see the test).
"""

from __future__ import annotations

from typing import Any

from .stgcn import STGCN

__all__ = ["AIMCLR_STGCN_BLOCKS", "AIMCLR_STGCN_TINY_BLOCKS", "AimCLRSTGCN"]

#: (out_channels, temporal stride) of AimCLR's ST-GCN (hidden_channels 16, hidden_dim 256).
AIMCLR_STGCN_BLOCKS: tuple[tuple[int, int], ...] = (
    (16, 1), (16, 1), (16, 1), (16, 1), (32, 2), (32, 1), (32, 1), (64, 2), (64, 1), (256, 1))
AIMCLR_STGCN_TINY_BLOCKS: tuple[tuple[int, int], ...] = ((8, 1), (16, 2), (32, 1))


class AimCLRSTGCN(STGCN):
    """:class:`~mmfusion.encoders.stgcn.STGCN` with AimCLR's defaults (blocks, dropout 0.5, V*C data BN,
    edge importance, the official graph and init); shapes as :class:`STGCN`."""

    def __init__(self, layout: str = "ntu25", dropout: float = 0.5, **kwargs: Any) -> None:
        kwargs.setdefault("blocks", AIMCLR_STGCN_BLOCKS)
        kwargs.setdefault("data_bn", "vc")
        kwargs.setdefault("edge_importance", True)
        super().__init__(layout=layout, dropout=dropout, **kwargs)
