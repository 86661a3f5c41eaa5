"""Hyper-GCN (Zhou et al., "Adaptive Hyper-Graph Convolution Network for Skeleton-based
Human Action Recognition with Virtual Connections", ICCV 2025, arXiv 2411.14796).

Architecture facts follow the official ``6UOOON9/Hyper-GCN`` ``hypergcn_base.py``
(re-implemented, device-agnostic):

* joint embedding ``Linear(3 -> 128)`` + learned per-joint position embedding + tanh, then a
  data BatchNorm over (M, V, 128);
* 9 TCN-GCN units in 3 stages (128, 128, 128 | 256/s2, 256, 256 | 256/s2, 256, 256), the
  third unit of a stage reads the sum of the first two outputs;
* each graph conv (:class:`HyperGraphConv`) appends ``3`` learnable virtual ("hyper") joints
  to the V real joints, splits channels into 8 heads and aggregates with
  ``A_hat + relu(alpha) * G`` where ``A_hat`` is the row-normalised physical+virtual graph
  times a learnable edge importance and ``G`` is an input-dependent hyper-graph: for each
  head, time-averaged features are projected to ``(C_in/8)/4`` dims, every joint's ``k=9``
  nearest joints (Euclidean) form its hyper-edge with softmax(-distance) incidence ``H``,
  an MLP predicts hyper-edge weights ``W`` (tanh), and
  ``G = D_v^-1 (H W) (W D_e^-1) H^T`` with ``D_e = |H|`` column sums and ``D_v = |H W|`` row
  sums (the official normalisation, where ``W`` enters twice);
* multi-scale TCN: 4 branches (kernel 5 with dilation 1 and 2, max-pool 3, 1x1), replicate
  padding;
* diversity loss on the hyper joints: mean ReLU'd off-diagonal cosine similarity, averaged
  over layers (returned as ``"loss_div"`` by ``forward(x, return_aux=True)``).

Graph: ``graph="official"`` (default) is the official NTU edge list, in which HandTip / Thumb hang
straight from the hand (:data:`~mmfusion.encoders.graph.NTU25_HAND_STAR_INWARD`, the PYSKL
``nturgb+d`` graph) for the ``ntu25`` layout, the layout's bones for other layouts;
``graph="layout"`` uses the :class:`~mmfusion.data.layouts.SkeletonLayout` bones for every layout
(mmfusion's NTU25 bones are ST-GCN's; the earlier default). The graph is a fixed buffer, so both
have the same parameter count.

Differences from the official code (documented, deliberate): the fixed adjacency is a buffer
(the official code stores it as a frozen ``nn.Parameter``, which naive parameter counts
include: 9 x 8 x 28 x 28 = 56,448 extra); the three hyper joints start from independent
random vectors (the official code repeats one random vector).

Initialisation follows the official code: residual projections kaiming-normal (fan-out) with zero
bias, the classifier N(0, sqrt(2 / K)) (:func:`official_head_init`, used by the registered
``hypergcn_*`` classifiers in :mod:`mmfusion.models.classifiers`).

Shapes: ``forward(x)``: (N, C, T, V, M) -> (N, out_dim); ``forward_features`` (= ``forward_maps``):
-> (N, M, out_dim, T/4, V).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.layouts import SkeletonLayout, get_layout
from ..errors import ConfigError
from .graph import NTU25_HAND_STAR_INWARD, virtual_joint_adjacency
from .stgcn import STGCN, check_skeleton

__all__ = ["HyperGCN", "HyperGraphConv", "MultiScaleTCN", "HyperGCNUnit", "hyper_joint_diversity_loss",
           "official_head_init"]

HYPERGCN_BASE_STAGES: tuple[tuple[int, ...], ...] = ((128, 128, 128), (256, 256, 256), (256, 256, 256))
HYPERGCN_LARGE_STAGES: tuple[tuple[int, ...], ...] = ((128, 128, 128), (256, 256, 256), (512, 512, 512))
HYPERGCN_TINY_STAGES: tuple[tuple[int, ...], ...] = ((32, 32, 32), (64, 64, 64))


def hyper_joint_diversity_loss(hyper_joints: Sequence[Tensor]) -> Tensor:
    """Mean over layers of the mean ReLU'd off-diagonal cosine similarity of hyper joints.

    Args:
        hyper_joints: per layer a (J, C) tensor (J >= 2 virtual joints).

    Returns:
        scalar tensor in [0, 1]; 0 when all pairs are orthogonal or opposed.
    """
    losses = []
    for h in hyper_joints:
        j = h.shape[0]
        if j < 2:
            losses.append(h.new_zeros(()))
            continue
        hn = F.normalize(h.float(), dim=-1, eps=1e-8)
        sim = F.relu(hn @ hn.t())
        off = sim.sum() - sim.diagonal().sum()
        losses.append(off / (j * (j - 1)))
    return torch.stack(losses).mean()


class HyperGraphConv(nn.Module):
    """Adaptive multi-head hyper-graph convolution with virtual joints.

    Args:
        in_channels, out_channels: channels (both divisible by ``num_subsets``).
        adjacency: (num_subsets, V + J, V + J) physical + virtual graph (0/1).
        num_real: V, the real joints (virtual ones are the last J rows).
        num_subsets: heads; the 1x1 projection is grouped by head.
        rel_reduction: hidden size of the distance space is ``(C_in / heads) / rel_reduction``.
        k: joints per hyper-edge (nearest neighbours, self included).
        hyper: add the input-dependent hyper-graph term (``False`` keeps only ``A_hat``).

    Shapes: (N, C_in, T, V) -> (N, C_out, T, V); ``hyper_joint`` is (J, C_in).
    """

    def __init__(self, in_channels: int, out_channels: int, adjacency: Tensor, num_real: int, num_subsets: int = 8,
                 rel_reduction: int = 4, k: int = 9, hyper: bool = True) -> None:
        super().__init__()
        if in_channels % num_subsets or out_channels % num_subsets:
            raise ConfigError(f"Hyper-GCN: channels {in_channels}->{out_channels} must divide by {num_subsets} heads")
        self.num_subsets = num_subsets
        self.num_real = num_real
        self.num_virtual = adjacency.shape[-1] - num_real
        self.out_channels = out_channels
        self.hyper = hyper
        self.k = min(k, adjacency.shape[-1])
        self.register_buffer("A", adjacency.float(), persistent=False)
        self.edge_importance = nn.Parameter(torch.ones_like(adjacency, dtype=torch.float32))
        self.hyper_joint = nn.Parameter(torch.randn(self.num_virtual, in_channels))
        if hyper:
            self.hidden = max(1, in_channels // num_subsets // rel_reduction)
            self.to_v = nn.Conv1d(in_channels, num_subsets * self.hidden, 1, groups=num_subsets)
            self.to_w = nn.Sequential(
                nn.Conv1d(in_channels, num_subsets * self.hidden, 1, groups=num_subsets),
                nn.LeakyReLU(),
                nn.Conv1d(num_subsets * self.hidden, num_subsets, 1),
                nn.Tanh(),
            )
            self.alpha = nn.Parameter(torch.ones(1))
        self.conv_d = nn.Conv2d(in_channels, out_channels, 1, groups=num_subsets)
        self.down = (nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.BatchNorm2d(out_channels))
                     if in_channels != out_channels else nn.Identity())
        self.bn = nn.BatchNorm2d(out_channels)
        self._init()

    def _init(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Conv1d, nn.Conv2d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        # the block starts close to its residual path
        nn.init.constant_(self.bn.weight, 1e-6)

    def hypergraph(self, x: Tensor) -> Tensor:
        """Input-dependent hyper-graph ``G`` (N, heads, V+J, V+J) from x (N, C_in, T, V+J)."""
        n, _, _, vj = x.shape
        t_x = x.float().mean(dim=2)  # distances and softmax in fp32, also under autocast
        with torch.autocast(device_type=x.device.type, enabled=False):
            feats = self.to_v(t_x).view(n, self.num_subsets, self.hidden, vj).transpose(2, 3)
            dist = torch.cdist(feats, feats)
            top_d, top_i = torch.topk(dist, self.k, dim=-1, largest=False)
            h = torch.zeros_like(dist).scatter_(-1, top_i, torch.softmax(-top_d, dim=-1))
            w = self.to_w(t_x)  # (N, heads, V+J): one weight per hyper-edge
            hw = h * w.unsqueeze(-2)  # H @ diag(W)
            d_e = h.abs().sum(dim=-2, keepdim=True) + 1e-8  # per hyper-edge
            d_v = hw.abs().sum(dim=-1, keepdim=True) + 1e-8  # per vertex
            return (hw / d_v) @ ((w.unsqueeze(-1) / d_e.transpose(-1, -2)) * h.transpose(-1, -2))

    def _grouped_projection(self, x: Tensor) -> Tensor:
        """``conv_d`` (a 1x1 conv grouped by head) as one batched matmul: (N, C_in, T, V+J) -> (N, heads,
        C_out/heads, T, V+J). Same weights and mathematics; the CPU convolution runs a grouped 1x1 conv as a
        loop over samples and groups, about 2x slower in a training step (docs/performance.md)."""
        n, c, t, vj = x.shape
        h, w = self.num_subsets, self.conv_d.weight
        if x.device.type != "cpu":
            return self.conv_d(x).view(n, h, self.out_channels // h, t, vj)
        y = torch.matmul(w.view(h, self.out_channels // h, c // h).to(x.dtype), x.reshape(n, h, c // h, t * vj))
        if self.conv_d.bias is not None:
            y = y + self.conv_d.bias.view(h, -1, 1).to(y.dtype)
        return y.view(n, h, self.out_channels // h, t, vj)

    def forward(self, x: Tensor) -> Tensor:
        n, c, t, v = x.shape
        hj = self.hyper_joint.to(x.dtype).t()[None, :, None, :].expand(n, c, t, self.num_virtual)
        xv = torch.cat([x, hj], dim=-1)
        a = self.A * self.edge_importance
        a = a / (a.abs().sum(dim=-1, keepdim=True) + 1e-8)  # row-normalise: mean over neighbours
        a = a.unsqueeze(0)
        if self.hyper:
            a = a + F.relu(self.alpha) * self.hypergraph(xv)
        d = self._grouped_projection(xv)
        y = torch.einsum("nkuv,nkctv->nkctu", a.to(d.dtype), d).reshape(n, self.out_channels, t, -1)
        y = self.bn(y[..., : self.num_real])
        return F.relu(y + self.down(x))


class _TemporalConv(nn.Sequential):
    """Dilated temporal conv (replicate padding) + BN; (N, C, T, V) -> (N, C', ceil(T/s), V)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 dilation: int = 1) -> None:
        pad = (kernel_size + (kernel_size - 1) * (dilation - 1) - 1) // 2
        super().__init__(
            nn.Conv2d(in_channels, out_channels, (kernel_size, 1), (stride, 1), (pad, 0), (dilation, 1),
                      padding_mode="replicate"),
            nn.BatchNorm2d(out_channels))


class MultiScaleTCN(nn.Module):
    """Multi-scale temporal conv: one branch per dilation, a max-pool branch and a 1x1 branch,
    concatenated (each branch ``out/branches`` channels).

    Shapes: (N, C_in, T, V) -> (N, C_out, ceil(T / stride), V).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5, stride: int = 1,
                 dilations: Sequence[int] = (1, 2)) -> None:
        super().__init__()
        nb = len(dilations) + 2
        if out_channels % nb:
            raise ConfigError(f"Hyper-GCN: TCN out channels {out_channels} must divide by {nb} branches")
        bc = out_channels // nb
        self.branches = nn.ModuleList()
        for d in dilations:
            self.branches.append(nn.Sequential(
                nn.Conv2d(in_channels, bc, 1), nn.BatchNorm2d(bc), nn.ReLU(inplace=True),
                _TemporalConv(bc, bc, kernel_size, stride, d)))
        self.branches.append(nn.Sequential(
            nn.Conv2d(in_channels, bc, 1), nn.BatchNorm2d(bc), nn.ReLU(inplace=True),
            nn.MaxPool2d((3, 1), (stride, 1), (1, 0)), nn.BatchNorm2d(bc)))
        self.branches.append(nn.Sequential(nn.Conv2d(in_channels, bc, 1, stride=(stride, 1)), nn.BatchNorm2d(bc)))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([b(x) for b in self.branches], dim=1)


class HyperGCNUnit(nn.Module):
    """Hyper-graph conv -> multi-scale TCN, plus residual (identity or strided 1x1 conv + BN), ReLU.

    Shapes: (N, C_in, T, V) -> (N, C_out, ceil(T / stride), V).
    """

    def __init__(self, in_channels: int, out_channels: int, adjacency: Tensor, num_real: int, stride: int = 1,
                 kernel_size: int = 5, dilations: Sequence[int] = (1, 2), num_subsets: int = 8, k: int = 9,
                 hyper: bool = True, official_init: bool = True) -> None:
        super().__init__()
        self.gcn = HyperGraphConv(in_channels, out_channels, adjacency, num_real, num_subsets, k=k, hyper=hyper)
        self.tcn = MultiScaleTCN(out_channels, out_channels, kernel_size, stride, dilations)
        if in_channels == out_channels and stride == 1:
            self.residual: nn.Module = nn.Identity()
        else:
            self.residual = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=(stride, 1)),
                                          nn.BatchNorm2d(out_channels))
            if official_init:  # official unit_tcn init: conv kaiming-normal (fan-out), zero bias; BN 1, 0
                self._official_residual_init()

    def _official_residual_init(self) -> None:
        if isinstance(self.residual, nn.Sequential):
            nn.init.kaiming_normal_(self.residual[0].weight, mode="fan_out")
            nn.init.zeros_(self.residual[0].bias)
            nn.init.ones_(self.residual[1].weight)
            nn.init.zeros_(self.residual[1].bias)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.tcn(self.gcn(x)) + self.residual(x))


class HyperGCN(nn.Module):
    """Hyper-GCN encoder.

    Args:
        layout: skeleton layout (name or object).
        in_channels: C of the input.
        embed_dim: joint embedding width (128 in the paper).
        stages: channel widths per stage; the first unit of every stage but the first has
            temporal stride 2; a unit at position >= 2 in its stage reads
            ``previous output + first unit's output`` (the official dense skip).
        num_virtual: hyper joints per layer (3).
        num_subsets: heads of the graph conv (8).
        k: joints per hyper-edge (9).
        num_person: M for the data BatchNorm over (M, V, embed_dim).
        hyper: use the adaptive hyper-graph term (ablation switch).
        graph: ``"official"`` (the official NTU edges for ``ntu25``, default) or ``"layout"`` (the
            layout's bones); see the module docstring.
        init: ``"official"`` (residual projections kaiming-normal fan-out, default) or ``"torch"``
            (PyTorch's default init of those projections, the earlier mmfusion behaviour).

    Shapes:
        ``forward(x)``: (N, C, T, V, M) -> (N, out_dim);
        ``forward(x, return_aux=True)``: -> ((N, out_dim), {"loss_div": scalar});
        ``forward_maps(x)``: -> (N, M, out_dim, T', V).
    """

    has_aux = True

    def __init__(self, layout: SkeletonLayout | str = "ntu25", in_channels: int = 3, embed_dim: int = 128,
                 stages: Sequence[Sequence[int]] = HYPERGCN_BASE_STAGES, num_virtual: int = 3, num_subsets: int = 8,
                 k: int = 9, num_person: int = 2, hyper: bool = True, kernel_size: int = 5,
                 dilations: Sequence[int] = (1, 2), graph: str = "official", init: str = "official") -> None:
        super().__init__()
        if init not in ("official", "torch"):
            raise ConfigError(f"Hyper-GCN: init must be 'official' or 'torch', got {init!r}")
        if graph not in ("official", "layout"):
            raise ConfigError(f"Hyper-GCN: graph must be 'official' or 'layout', got {graph!r}")
        self.layout = get_layout(layout)
        v = self.layout.num_joints
        if not stages or not all(stages):
            raise ConfigError("Hyper-GCN: stages must be non-empty lists of channel widths")
        self.in_channels = in_channels
        self.embed_dim = embed_dim
        self.num_person = num_person
        self.to_joint_embedding = nn.Linear(in_channels, embed_dim)
        self.pos_embedding = nn.Parameter(torch.randn(1, v, embed_dim))
        self.data_bn = nn.BatchNorm1d(num_person * v * embed_dim)
        inward = NTU25_HAND_STAR_INWARD if graph == "official" and self.layout.name == "ntu25" else None
        adj = torch.from_numpy(virtual_joint_adjacency(self.layout, num_virtual, num_subsets, inward=inward))
        units: list[HyperGCNUnit] = []
        self._skip: list[bool] = []
        c_in = embed_dim
        for s, widths in enumerate(stages):
            for i, c_out in enumerate(widths):
                stride = 2 if (s > 0 and i == 0) else 1
                units.append(HyperGCNUnit(c_in, c_out, adj, v, stride, kernel_size, dilations, num_subsets, k, hyper,
                                          official_init=init == "official"))
                self._skip.append(i >= 2)
                c_in = c_out
        self._stage_start = [sum(len(st) for st in stages[:s]) for s in range(len(stages))]
        self.units = nn.ModuleList(units)
        self.out_dim = c_in

    def hyper_joints(self) -> list[Tensor]:
        """The (J, C_in) hyper joints of every unit, for the diversity loss."""
        return [u.gcn.hyper_joint for u in self.units]

    def forward_maps(self, x: Tensor) -> Tensor:
        """(N, C, T, V, M) -> (N, M, out_dim, T', V)."""
        n, c, t, v, m = check_skeleton(x, self.layout.num_joints, self.in_channels, "Hyper-GCN")
        if m != self.num_person:
            raise ConfigError(f"Hyper-GCN: data BN was built for M={self.num_person} persons, input has M={m}; "
                              f"pad persons with zeros or build with num_person={m}")
        y = torch.tanh(self.to_joint_embedding(x.permute(0, 4, 2, 3, 1)) + self.pos_embedding)  # (N, M, T, V, D)
        d = self.embed_dim
        y = self.data_bn(y.permute(0, 1, 3, 4, 2).reshape(n, m * v * d, t))
        y = y.view(n, m, v, d, t).permute(0, 1, 3, 4, 2).reshape(n * m, d, t, v)
        first: Tensor | None = None
        for i, unit in enumerate(self.units):
            if self._skip[i]:
                assert first is not None
                y = y + first
            y = unit(y)
            if i in self._stage_start:
                first = y
        return y.view(n, m, *y.shape[1:])

    def forward_features(self, x: Tensor) -> Tensor:
        """Unpooled (N, M, out_dim, T', V) maps (same as :meth:`forward_maps`)."""
        return self.forward_maps(x)

    pool = staticmethod(STGCN.pool)  # (N, M, C, T', V) -> (N, C): the official mean over (T, V, M)

    def aux_losses(self) -> dict[str, Tensor]:
        """``{"loss_div": scalar}``: the hyper-joint diversity loss (depends on parameters only)."""
        return {"loss_div": hyper_joint_diversity_loss(self.hyper_joints())}

    def forward(self, x: Tensor, return_aux: bool = False) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        feats = self.pool(self.forward_maps(x))
        if return_aux:
            return feats, self.aux_losses()
        return feats


def official_head_init(fc: nn.Linear) -> None:
    """The official (CTR-GCN lineage) classifier init: weights N(0, sqrt(2 / K)); PyTorch's default bias."""
    nn.init.normal_(fc.weight, 0.0, math.sqrt(2.0 / fc.out_features))
