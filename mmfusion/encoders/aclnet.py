"""ACLNet (Yu et al., "Affinity Contrastive Learning for Skeleton-based Human Activity
Understanding", arXiv 2601.16694): the ``GCN_Module`` backbone and its two affinity
contrastive losses, re-implemented after the official ``firework8/ACLNet`` (PYSKL-based).

Backbone (:class:`ACLNetGCN`), official NTU config (``configs/ntu60_xsub/j.py``):

* PYSKL data BN over (V, C), 10 blocks 96 -> 192 (stride 2 at block 5) -> 384 (stride 2 at 8).
* Graph conv (:class:`ACLGraphConv`): ``pre`` (1x1 conv + BN + ReLU) to ``K`` groups of
  ``ratio * C_out`` channels (K = 8, ratio 0.125), aggregated with a per-sample topology
  ``A + alpha * tanh(x1_u - x2_v)`` (channel-wise, CTR-style) ``+ beta * softmax(x1^T x2)``
  (adaptive), where ``x1``, ``x2`` are time-averaged 1x1 projections; ``A`` is learnable and
  starts from PYSKL's ``random`` graph ``N(0.04, 0.02^2)`` (:func:`~mmfusion.encoders.graph.random_graph`);
  ``post`` 1x1 conv, BN, residual, ReLU.
* Temporal module: PYSKL ``dgmstcn`` (:class:`~mmfusion.encoders.stgcnpp.MSTCN` with
  ``global_branch=True``), kernel 3 with dilations 1-4, max-pool, 1x1.
* Graph feature: the learned refinements (CTR + adaptive) of the last graph conv, averaged over
  persons and channels: (N, V*V) (625-d for NTU).
* Init: PyTorch defaults (the backbone's ``init_weights`` only loads checkpoints).

Losses, ``L = CE + 0.1 * L_inter + 0.1 * L_intra`` (:class:`ACLNetLoss`), both on a
``Linear(V*V -> 256)`` projection of the graph feature:

* :class:`IntraAffinityContrastiveLoss` - supervised contrast over a FIFO memory of past
  projections (512 for NTU-60), temperature 0.1, same-class terms of the denominator weighted
  by ``omega = exp(-0.1)``; zero until the memory is full.
* :class:`InterAffinityContrastiveLoss` - class prototypes (momentum 0.9 means of correctly
  classified samples); from ``start_epoch`` (30) a confusion bank counts "predicted as" /
  "predicted from" per class; from the next epoch every sample is contrasted with its own
  prototype against its class's affinity set (top-10 confusable classes, plus classes whose
  top-10 sets overlap by more than 4), temperature 0.1 / 0.5 / 1.0 for sets of <= 10 / <= 20 /
  more classes; classes without a set use all prototypes at temperature 0.125.

Differences from the official code (deliberate): the banks are tensors (buffers, saved in the
state dict) updated from the *global* batch - under ``torch.distributed`` every rank all-gathers
the projections, labels and predictions first, so the memory, confusion counts and prototypes are
identical on all ranks and equal to a single process fed the global batch (the official Python
lists are per rank); the loss of each rank is the mean over its own samples and the gathers are
differentiable, so after DDP's gradient averaging the update equals the single-process one. Epochs are announced with
:meth:`InterAffinityContrastiveLoss.set_epoch` (1-based) instead of a training hook.

Shapes: ``forward(x)``: (N, C, T, V, M) -> (N, 384); ``forward(x, return_aux=True)`` ->
``((N, 384), {"graph": (N, V*V)})``; ``forward_features(x)`` -> ((N, M, 384, T/4, V), (N, V*V));
``pool`` maps the first to (N, 384). The registered classifiers (``aclnet``, ``aclnet_tiny``, in
:mod:`mmfusion.models.skeleton_zoo`) return ``"graph"`` beside the logits for :class:`ACLNetLoss`.
Parameter count (official config): 3,705,696 for the backbone, 3,728,796 with a 60-class head
(the "3.73 M" measured figure; the two loss projections add 2 x 160,256); fvcore 7.48 GMACs at
T=100, M=2 (measured figure 7.42 G with torch's flop counter, which skips BN and element-wise ops).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.layouts import get_layout
from ..errors import ConfigError
from .ctrgcn import SkeletonDataBN
from .graph import random_graph
from .stgcn import STGCN
from .stgcnpp import MSTCN, PyskTemporalConv

__all__ = ["ACLNET_BLOCKS", "ACLNET_TINY_BLOCKS", "ACLGraphConv", "ACLNetBlock", "ACLNetGCN", "ACLNetLoss",
           "InterAffinityContrastiveLoss", "IntraAffinityContrastiveLoss"]

ACLNET_BLOCKS: tuple[tuple[int, int], ...] = (
    (96, 1), (96, 1), (96, 1), (96, 1), (192, 2), (192, 1), (192, 1), (384, 2), (384, 1), (384, 1))
ACLNET_TINY_BLOCKS: tuple[tuple[int, int], ...] = ((24, 1), (48, 2), (48, 1))


class ACLGraphConv(nn.Module):
    """ACLNet ``unit_gcn`` (``ctr="T"``, ``ada="T"``, tanh / softmax).

    Shapes: x (N, C_in, T, V) -> ``(y (N, C_out, T, V), refinement (N, K*C_mid, V, V))``.
    """

    def __init__(self, in_channels: int, out_channels: int, a: np.ndarray | Tensor, ratio: float = 0.125) -> None:
        super().__init__()
        a_t = torch.as_tensor(np.asarray(a, dtype=np.float32))
        self.num_subsets = k = a_t.shape[0]
        self.mid_channels = mid = int(ratio * out_channels)
        if mid < 1:
            raise ConfigError(f"ACLNet: ratio {ratio} x out_channels {out_channels} leaves no channels")
        self.A = nn.Parameter(a_t.clone())
        self.pre = nn.Sequential(nn.Conv2d(in_channels, mid * k, 1), nn.BatchNorm2d(mid * k), nn.ReLU())
        self.post = nn.Conv2d(mid * k, out_channels, 1)
        self.alpha = nn.Parameter(torch.zeros(k))
        self.beta = nn.Parameter(torch.zeros(k))
        self.conv1 = nn.Conv2d(in_channels, mid * k, 1)
        self.conv2 = nn.Conv2d(in_channels, mid * k, 1)
        self.down = (nn.Identity() if in_channels == out_channels
                     else nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.BatchNorm2d(out_channels)))
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = nn.ReLU()

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        n, _, t, v = x.shape
        k, c = self.num_subsets, self.mid_channels
        res = self.down(x)
        pre_x = self.pre(x).reshape(n, k, c, t, v)
        x1 = self.conv1(x).reshape(n, k, c, t, v).mean(dim=-2)  # (N, K, C, V)
        x2 = self.conv2(x).reshape(n, k, c, t, v).mean(dim=-2)
        ctr = torch.tanh(x1.unsqueeze(-1) - x2.unsqueeze(-2)) * self.alpha[0]  # (N, K, C, V, V)
        ada = torch.softmax(torch.einsum("nkcv,nkcw->nkvw", x1, x2), dim=-2)[:, :, None] * self.beta[0]
        refine = ctr + ada  # (N, K, C, V, V)
        topo = refine + self.A.to(x.dtype)[None, :, None]
        y = torch.einsum("nkctv,nkcvw->nkctw", pre_x, topo).reshape(n, k * c, t, v)
        y = self.act(self.bn(self.post(y)) + res)
        return y, refine.reshape(n, k * c, v, v)


class ACLNetBlock(nn.Module):
    """ACLNet ``GCN_Block``: graph conv -> ``dgmstcn``, + residual, ReLU.

    Shapes: (N, C_in, T, V) -> ``((N, C_out, T / stride, V), (N, K*C_mid, V, V))``.
    """

    def __init__(self, in_channels: int, out_channels: int, a: np.ndarray | Tensor, stride: int = 1,
                 residual: bool = True, ratio: float = 0.125) -> None:
        super().__init__()
        v = np.asarray(a).shape[-1]
        self.gcn = ACLGraphConv(in_channels, out_channels, a, ratio)
        # the official dgmstcn always holds 25 joint coefficients (uses the first V): keep that so
        # 17-joint (K400 / FineGYM) checkpoints load
        self.tcn = MSTCN(out_channels, out_channels, stride=stride, global_branch=True, num_joints=max(v, 25))
        self.relu = nn.ReLU()
        self.residual: nn.Module | None = None
        if residual:
            self.residual = (nn.Identity() if in_channels == out_channels and stride == 1
                             else PyskTemporalConv(in_channels, out_channels, 1, stride))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        y, graph = self.gcn(x)
        y = self.tcn(y)
        if self.residual is not None:
            y = y + self.residual(x)
        return self.relu(y), graph


class ACLNetGCN(nn.Module):
    """ACLNet ``GCN_Module`` encoder with the V x V graph feature.

    Args:
        layout: skeleton layout (gives V).
        in_channels: C.
        blocks: ``(out_channels, temporal_stride)`` per block.
        ratio: graph-conv group width ratio (0.125).
        num_filters, init_std, init_offset: the random graph (8, 0.02, 0.04).
        data_bn: ``"vc"`` (official), ``"mvc"`` or ``"none"``.

    Shapes: see the module docstring. ``has_aux = True``: the
    :class:`~mmfusion.models.heads.ModalityClassifier` puts ``"graph"`` into its outputs.
    """

    has_aux = True

    def __init__(self, layout: str = "ntu25", in_channels: int = 3,
                 blocks: Sequence[tuple[int, int]] = ACLNET_BLOCKS, ratio: float = 0.125, num_filters: int = 8,
                 init_std: float = 0.02, init_offset: float = 0.04, data_bn: str = "vc", num_person: int = 2,
                 seed: int | None = None) -> None:
        super().__init__()
        if not blocks:
            raise ConfigError("ACLNet: needs at least one block")
        self.layout = get_layout(layout)
        v = self.layout.num_joints
        rng = np.random.default_rng(seed) if seed is not None else np.random.default_rng(
            int(torch.randint(0, 2**31 - 1, ()).item()))  # follows torch.manual_seed when no seed is given
        a = random_graph(v, num_filters, init_std, init_offset, rng)
        self.in_channels = in_channels
        self.data_bn = SkeletonDataBN(in_channels, v, num_person, data_bn, who="ACLNet")
        layers: list[nn.Module] = []
        c_in = in_channels
        for i, (c_out, stride) in enumerate(blocks):
            layers.append(ACLNetBlock(c_in, c_out, a, stride, residual=i > 0, ratio=ratio))
            c_in = c_out
        self.gcn = nn.ModuleList(layers)
        self.out_dim = c_in
        self.graph_dim = v * v

    def forward_features(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(N, C, T, V, M) -> (maps (N, M, out_dim, T', V), graph feature (N, V*V))."""
        n, m, v = x.shape[0], x.shape[-1], x.shape[3]
        y = self.data_bn(x)
        graph = y.new_zeros(())
        for block in self.gcn:
            y, graph = block(y)
        graph = graph.reshape(n, m, -1, v, v).mean(1).mean(1).reshape(n, v * v)
        return y.reshape(n, m, *y.shape[1:]), graph

    pool = staticmethod(STGCN.pool)  # PYSKL ``GCNHead`` pooling: mean over (T', V), then persons

    def forward(self, x: Tensor, return_aux: bool = False) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        """(N, C, T, V, M) -> (N, out_dim) [, {"graph": (N, V*V)}]."""
        maps, graph = self.forward_features(x)
        feats = self.pool(maps)
        return (feats, {"graph": graph}) if return_aux else feats


# ----------------------------------------------------------------------------------------------
# losses and their banks


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _gather(x: Tensor) -> Tensor:
    """Concatenate ``x`` (B, ...) of every rank in rank order (no gradient); equal B required."""
    rank, world = _world()
    if world == 1:
        return x.detach()
    parts = [torch.empty_like(x) for _ in range(world)]
    dist.all_gather(parts, x.detach().contiguous())
    return torch.cat(parts)


def _gather_with_grad(x: Tensor) -> tuple[Tensor, int]:
    """Global batch in rank order, differentiable: the backward pass sums every rank's gradient
    into the owner of each row, so with DDP's gradient averaging the update equals a single
    process fed the global batch. Returns (global batch, row offset of this rank)."""
    rank, world = _world()
    if world == 1:
        return x, 0
    from torch.distributed.nn.functional import all_gather  # deferred: only under torch.distributed

    return torch.cat(all_gather(x.contiguous())), rank * x.shape[0]


def _all_reduce_sum(x: Tensor) -> Tensor:
    """Differentiable sum of ``x`` over ranks (identity in a single process)."""
    _, world = _world()
    if world == 1:
        return x
    from torch.distributed.nn.functional import all_reduce  # deferred: only under torch.distributed

    return all_reduce(x.contiguous())


class IntraAffinityContrastiveLoss(nn.Module):
    """ACLNet intra-ACL: supervised contrast of the current batch against a FIFO memory.

    Args:
        memory: memory size (512 NTU-60 / PKU, 1024 NTU-120 / FineGYM, 2048 K400); must be
            larger than the global batch.
        in_dim: graph-feature size (V*V).
        proj_dim: projection size (256).
        temperature: 0.1.
        epsilon: same-class denominator weight ``omega = exp(-epsilon)``.

    Buffers ``bank_feats`` (memory, proj_dim), ``bank_labels`` (memory,) hold the newest entries
    last; ``num_filled`` counts valid rows. Call with graph features (B, in_dim) and labels (B,);
    returns a scalar (0 until the memory is full).
    """

    def __init__(self, memory: int = 512, in_dim: int = 625, proj_dim: int = 256, temperature: float = 0.1,
                 epsilon: float = 0.1) -> None:
        super().__init__()
        if memory < 2:
            raise ConfigError(f"ACLNet intra loss: memory must be >= 2, got {memory}")
        self.memory, self.temperature, self.omega = memory, temperature, math.exp(-epsilon)
        self.cl_fc = nn.Linear(in_dim, proj_dim)
        self.register_buffer("bank_feats", torch.zeros(memory, proj_dim))
        self.register_buffer("bank_labels", torch.full((memory,), -1, dtype=torch.long))
        self.register_buffer("num_filled", torch.zeros((), dtype=torch.long))

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        f = self.cl_fc(features)
        f = f / (f.norm(p=2, dim=1, keepdim=True) + 1e-12)
        f_all, offset = _gather_with_grad(f)
        y_all = _gather(labels.long())
        b, b_all = f.shape[0], f_all.shape[0]
        if b_all >= self.memory:
            raise ConfigError(f"ACLNet intra loss: global batch {b_all} must be smaller than the memory {self.memory}")
        with torch.no_grad():
            self.bank_feats.copy_(torch.cat([self.bank_feats[b_all:], f_all.detach().to(self.bank_feats.dtype)]))
            self.bank_labels.copy_(torch.cat([self.bank_labels[b_all:], y_all]))
            self.num_filled.fill_(min(int(self.num_filled) + b_all, self.memory))
        if int(self.num_filled) < self.memory:
            return f.sum() * 0.0
        contrast = torch.cat([self.bank_feats[: self.memory - b_all].to(f.dtype), f_all])  # (memory, D)
        labels_c = self.bank_labels
        anchor_idx = torch.arange(self.memory - b_all + offset, self.memory - b_all + offset + b, device=f.device)
        logits = f @ contrast.t() / self.temperature  # (B, memory)
        logits = logits - logits.max(dim=1, keepdim=True).values.detach()
        same = labels_c[anchor_idx][:, None] == labels_c[None, :]
        not_self = torch.ones_like(same)
        not_self[torch.arange(b), anchor_idx] = False
        pos = (same & not_self).to(f.dtype)
        neg = (~same).to(f.dtype)
        exp = logits.exp() * not_self.to(f.dtype)
        denom = self.omega * exp * pos + (exp * neg).sum(dim=1, keepdim=True)
        log_prob = logits - torch.log(denom + 1e-6)
        row = (pos * log_prob).sum(1) / pos.sum(1).clamp(min=1.0)
        return -row.mean()


class InterAffinityContrastiveLoss(nn.Module):
    """ACLNet inter-ACL: contrast against the prototypes of confusable ("affinitive") classes.

    Args:
        num_classes: number of classes.
        in_dim, proj_dim: graph-feature and projection sizes (625, 256).
        temperature: fallback temperature with all prototypes (0.125).
        momentum: prototype momentum (0.9).
        start_epoch: first (1-based) epoch whose confusions are counted (30); the loss is
            active from the next epoch.
        top_k: confusable classes kept per class (10); overlap: merge threshold (4).

    Buffers: ``prototypes`` (proj_dim, num_classes), ``confusion`` (num_classes, num_classes)
    counts (row: true class), ``affinity`` (num_classes, num_classes) bool, ``epoch``.
    Call with graph features (B, in_dim), labels (B,) and logits (B, num_classes).
    """

    def __init__(self, num_classes: int, in_dim: int = 625, proj_dim: int = 256, temperature: float = 0.125,
                 momentum: float = 0.9, start_epoch: int = 30, top_k: int = 10, overlap: int = 4,
                 pred_threshold: float = 0.0) -> None:
        super().__init__()
        if num_classes < 2:
            raise ConfigError(f"ACLNet inter loss: needs >= 2 classes, got {num_classes}")
        self.num_classes, self.temperature, self.momentum = num_classes, temperature, momentum
        self.start_epoch, self.top_k, self.overlap, self.pred_threshold = start_epoch, top_k, overlap, pred_threshold
        self.cl_fc = nn.Linear(in_dim, proj_dim)
        self.register_buffer("prototypes", torch.randn(proj_dim, num_classes))
        self.register_buffer("confusion", torch.zeros(num_classes, num_classes))
        self.register_buffer("affinity", torch.zeros(num_classes, num_classes, dtype=torch.bool))
        self.register_buffer("epoch", torch.ones((), dtype=torch.long))

    @property
    def active(self) -> bool:
        return int(self.epoch) > self.start_epoch

    def set_epoch(self, epoch: int) -> None:
        """Announce the (1-based) epoch about to start; past ``start_epoch`` the affinity sets
        are rebuilt from the confusions counted so far (the official per-epoch refresh)."""
        self.epoch.fill_(int(epoch))
        if self.active:
            self.affinity.copy_(self.affinity_sets(self.confusion))

    def affinity_sets(self, confusion: Tensor) -> Tensor:
        """(C, C) bool: each class's top-k confused classes (ties: lower index first) plus the
        classes whose top-k sets share more than ``overlap`` members with it."""
        c = confusion.shape[0]
        k = min(self.top_k, c)
        counts = confusion.detach().cpu().numpy()
        order = np.argsort(-counts, axis=1, kind="stable")[:, :k]
        top = np.zeros((c, c), dtype=np.float64)
        np.put_along_axis(top, order, 1.0, axis=1)
        shared = top @ top.T
        np.fill_diagonal(shared, 0.0)
        return torch.from_numpy((top > 0) | (shared > self.overlap)).to(confusion.device)

    def forward(self, features: Tensor, labels: Tensor, logits: Tensor) -> Tensor:
        f = self.cl_fc(features)  # (B, D)
        labels = labels.long()
        logits = logits.detach()
        pred = logits.argmax(1)
        conf_ok = torch.softmax(logits.float(), 1).gather(1, pred[:, None])[:, 0] > self.pred_threshold
        tp = F.one_hot(labels, self.num_classes).to(f.dtype) * ((pred == labels) & conf_ok)[:, None].to(f.dtype)
        if int(self.epoch) >= self.start_epoch:
            self._count_confusions(_gather(labels), _gather(pred))
        # prototype update from the global batch; gradients through this rank's samples
        f_sum = _all_reduce_sum(f.t() @ tp)  # (D, C)
        n_sum = _all_reduce_sum(tp.sum(0, keepdim=True)).detach()  # (1, C)
        f_mask = f_sum / (n_sum + 1e-12)
        keep = torch.where(n_sum > 1e-8, torch.full_like(n_sum, self.momentum), torch.ones_like(n_sum))
        protos = self.prototypes.to(f.dtype) * keep + (1 - keep) * f_mask
        with torch.no_grad():
            self.prototypes.copy_(protos.detach().to(self.prototypes.dtype))
        if not self.active:
            return f.sum() * 0.0
        fn = f / (f.norm(p=2, dim=1, keepdim=True) + 1e-12)
        pn = protos.t() / (protos.t().norm(p=2, dim=1, keepdim=True) + 1e-12)  # (C, D)
        scores = fn @ pn.t()  # (B, C)
        own = scores.gather(1, labels[:, None])[:, 0]
        sets = self.affinity[labels]  # (B, C)
        size = sets.sum(1)
        tmp = torch.where(size <= 10, 0.1, torch.where(size <= 20, 0.5, 1.0)).to(f.dtype)
        # official candidates: the own prototype first, then the affinity set (own class again if in it)
        cand = torch.cat([own[:, None], scores.masked_fill(~sets, float("-inf"))], 1) / tmp[:, None]
        loss_set = torch.logsumexp(cand, 1) - own / tmp
        loss_all = F.cross_entropy(scores / self.temperature, labels, reduction="none")
        return torch.where(size > 0, loss_set, loss_all).mean()

    @torch.no_grad()
    def _count_confusions(self, labels: Tensor, pred: Tensor) -> None:
        wrong = pred != labels
        ones = torch.ones(int(wrong.sum()), device=labels.device, dtype=self.confusion.dtype)
        self.confusion.index_put_((labels[wrong], pred[wrong]), ones, accumulate=True)
        # "predicted from": sample j predicted as i's class while belonging to another class
        pairs = (pred[None, :] == labels[:, None]) & (labels[None, :] != labels[:, None])
        ii, jj = pairs.nonzero(as_tuple=True)
        self.confusion.index_put_((labels[ii], labels[jj]),
                                  torch.ones(ii.numel(), device=labels.device, dtype=self.confusion.dtype),
                                  accumulate=True)


class ACLNetLoss(nn.Module):
    """ACLNet objective ``CE + w_inter * L_inter + w_intra * L_intra`` (weights 0.1, 0.1).

    ``forward(logits (B, K), graph (B, V*V), labels (B,))`` -> dict with ``"loss"`` (total),
    ``"loss_cls"``, ``"loss_inter"``, ``"loss_intra"``.
    """

    def __init__(self, num_classes: int, memory: int = 512, graph_dim: int = 625, proj_dim: int = 256,
                 weights: tuple[float, float] = (0.1, 0.1), start_epoch: int = 30) -> None:
        super().__init__()
        self.inter = InterAffinityContrastiveLoss(num_classes, graph_dim, proj_dim, start_epoch=start_epoch)
        self.intra = IntraAffinityContrastiveLoss(memory, graph_dim, proj_dim)
        self.weights = weights

    def set_epoch(self, epoch: int) -> None:
        self.inter.set_epoch(epoch)

    def forward(self, logits: Tensor, graph: Tensor, labels: Tensor) -> dict[str, Tensor]:
        ce = F.cross_entropy(logits.float(), labels)
        inter = self.inter(graph, labels, logits)
        intra = self.intra(graph, labels)
        total = ce + self.weights[0] * inter.float() + self.weights[1] * intra.float()
        return {"loss": total, "loss_cls": ce, "loss_inter": inter, "loss_intra": intra}
