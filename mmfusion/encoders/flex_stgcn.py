"""Layout-agnostic ST-GCN for MS-CLR (Multi-Skeleton Contrastive Learning, arXiv 2508.14889).

MS-CLR's ``net/st_gcn_flex.py`` (``FlexModel``) is referenced by its configs but missing from the
release (``3Dwe-ai/ms-clr``); what the configs and paper state: an ST-GCN with AimCLR's quarter
widths (``hidden_channels`` 16, ``hidden_dim`` 256, spatial strategy) that takes clips of several
joint conventions, zero-padded to the largest V, plus the name of the convention, which selects
the graph. This module is our re-implementation of that description:

* the ten AimCLR blocks (:data:`~mmfusion.encoders.aimclr_stgcn.AIMCLR_STGCN_BLOCKS`) are shared
  by all layouts: their 1 x 1 graph-conv and k x 1 temporal convolutions do not depend on V;
* per layout (ours, since V differs): the ST-GCN spatial 3-partition graph of that layout
  (:func:`~mmfusion.encoders.graph.spatial_partition`, the official truncated hop distances around
  the layout's centre joint), its edge-importance masks and its data BatchNorm over V * C;
* ``forward(x, layout)``: ``x`` (N, C, T, V', M) with V' >= V of the layout (zero-padded joints
  beyond V are cut off before the network, so they never enter BN statistics or the pooling).

Shapes: ``forward(x, layout)`` -> (N, out_dim) (mean over T', V, then persons);
``forward_maps(x, layout)`` -> (N, M, out_dim, T', V). ``layout=None`` uses ``default_layout``
(the first), so a :class:`~mmfusion.models.heads.ModalityClassifier` can wrap the encoder.

:class:`MultiLayoutHead`: one linear classifier per layout; at evaluation the per-layout logits
are averaged (MS-CLR's "ensemble" linear evaluation, ``fc`` as a ``ModuleDict`` per skeleton, "soft
voting" on the logits as the official ``processor/linear_evaluation.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from ..data.layouts import get_layout
from ..errors import ConfigError
from .aimclr_stgcn import AIMCLR_STGCN_BLOCKS
from .graph import spatial_partition
from .stgcn import OFFICIAL_CENTER, STGCNBlock, check_skeleton, official_stgcn_init

__all__ = ["FlexSTGCN", "MultiLayoutHead"]


class FlexSTGCN(nn.Module):
    """ST-GCN whose graph, edge importance and data BN are chosen per joint layout.

    Args:
        layouts: the joint conventions it accepts (``"ntu25"``, ``"smpl24"``, ``"h36m17"`` ...).
        in_channels: C (3 for xyz, 2 for image coordinates).
        blocks: ``(out_channels, stride)`` per block (AimCLR's ten by default).
        temporal_kernel, dropout: as :class:`~mmfusion.encoders.stgcn.STGCN` (9, 0.5).
        edge_importance: learnable per-layout, per-block masks on the adjacency.
    """

    def __init__(self, layouts: Sequence[str] = ("ntu25", "smpl24"), in_channels: int = 3,
                 blocks: Sequence[tuple[int, int]] = AIMCLR_STGCN_BLOCKS, temporal_kernel: int = 9,
                 dropout: float = 0.5, edge_importance: bool = True) -> None:
        super().__init__()
        if not layouts:
            raise ConfigError("FlexSTGCN: needs at least one layout")
        self.layouts = tuple(get_layout(n).name for n in layouts)
        self.default_layout = self.layouts[0]
        self.in_channels = in_channels
        graphs = {}
        for name in self.layouts:
            lay = get_layout(name)
            a = spatial_partition(lay, center=OFFICIAL_CENTER.get(name, lay.center), truncated_hops=True)
            graphs[name] = torch.from_numpy(a)
            self.register_buffer(f"A_{name}", graphs[name], persistent=False)
        k = {g.shape[0] for g in graphs.values()}
        if len(k) != 1:
            raise ConfigError(f"FlexSTGCN: layouts give different partition counts {sorted(k)}")
        self.num_partitions = k.pop()
        self.data_bn = nn.ModuleDict({n: nn.BatchNorm1d(get_layout(n).num_joints * in_channels) for n in self.layouts})
        self.blocks = nn.ModuleList()
        c_in = in_channels
        for i, (c_out, stride) in enumerate(blocks):
            self.blocks.append(STGCNBlock(c_in, c_out, self.num_partitions, temporal_kernel, stride,
                                          dropout=0.0 if i == 0 else dropout, residual=i > 0))
            c_in = c_out
        self.edge_importance = nn.ParameterDict(
            {f"{n}_{i}": nn.Parameter(torch.ones_like(graphs[n])) for n in self.layouts for i in range(len(blocks))}
        ) if edge_importance else None
        self.out_dim = c_in
        official_stgcn_init(self)

    def _layout(self, layout: str | None) -> str:
        name = self.default_layout if layout is None else layout
        if name not in self.layouts:
            raise ConfigError(f"FlexSTGCN: layout {name!r} not among its layouts {self.layouts}")
        return name

    def forward_maps(self, x: Tensor, layout: str | None = None) -> Tensor:
        """(N, C, T, V', M) -> (N, M, out_dim, T', V) for ``layout`` (V' >= V; extra joints dropped)."""
        name = self._layout(layout)
        v = get_layout(name).num_joints
        n, c, t, v_in, m = check_skeleton(x, None, self.in_channels, "FlexSTGCN")
        if v_in < v:
            raise ConfigError(f"FlexSTGCN: layout {name} has {v} joints, input has V={v_in}")
        x = x[:, :, :, :v]
        y = self.data_bn[name](x.permute(0, 4, 3, 1, 2).reshape(n * m, v * c, t))
        y = y.view(n * m, v, c, t).permute(0, 2, 3, 1).contiguous()
        a = getattr(self, f"A_{name}")
        for i, block in enumerate(self.blocks):
            y = block(y, a if self.edge_importance is None else a * self.edge_importance[f"{name}_{i}"])
        return y.view(n, m, *y.shape[1:])

    def forward_features(self, x: Tensor, layout: str | None = None) -> Tensor:
        return self.forward_maps(x, layout)

    @staticmethod
    def pool(maps: Tensor) -> Tensor:
        """(N, M, C, T', V) -> (N, C): mean over time and joints, then persons."""
        return maps.mean(dim=(3, 4)).mean(dim=1)

    def forward(self, x: Tensor, layout: str | None = None) -> Tensor:
        """(N, C, T, V', M) -> (N, out_dim)."""
        return self.pool(self.forward_maps(x, layout))


class MultiLayoutHead(nn.Module):
    """One ``Linear(D, K)`` per layout; ``forward({layout: (N, D)})`` -> fused (N, K) logits (their mean).

    ``logits(features, layout)`` gives one layout's (N, K) logits (what each head is trained on).
    """

    def __init__(self, layouts: Sequence[str], in_dim: int, num_classes: int) -> None:
        super().__init__()
        self.heads = nn.ModuleDict({get_layout(n).name: nn.Linear(in_dim, num_classes) for n in layouts})

    def logits(self, features: Tensor, layout: str) -> Tensor:
        if layout not in self.heads:
            raise ConfigError(f"MultiLayoutHead: no head for layout {layout!r} (has {sorted(self.heads)})")
        return self.heads[layout](features)

    def forward(self, features: Mapping[str, Tensor]) -> Tensor:
        if not features:
            raise ConfigError("MultiLayoutHead: needs the features of at least one layout")
        return torch.stack([self.logits(f, n) for n, f in features.items()]).mean(dim=0)
