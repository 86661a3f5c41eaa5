"""Skeleton graphs built from a :class:`~mmfusion.data.layouts.SkeletonLayout`.

Adjacency tensors follow the ST-GCN convention ``A[k, v, w]``: partition ``k`` carries a
message from source joint ``v`` to target joint ``w``, so a graph convolution is
``y[..., w] = sum_v x[..., v] * A[k, v, w]`` (``einsum("nkctv,kvw->nctw")``).

Builders:

* :func:`spatial_partition` - ST-GCN's "spatial configuration" partitioning (Yan et al.,
  AAAI 2018): for each target joint, its neighbours split into the root itself, the
  neighbours farther from the centre joint (centrifugal) and the neighbours nearer to it
  (centripetal), each column-normalised by the target's degree.
* :func:`uniform_partition`, :func:`distance_partition` - the paper's two simpler strategies.
* :func:`virtual_joint_adjacency` - Hyper-GCN's ``virtual_ensemble`` graph: physical bones
  plus ``n`` virtual joints linked to every real joint, repeated per head.

All builders return ``float32`` numpy arrays; models register them as buffers.
"""

from __future__ import annotations

import numpy as np

from ..data.layouts import SkeletonLayout, get_layout
from ..errors import ConfigError


def normalize_digraph(a: np.ndarray) -> np.ndarray:
    """Column-normalise ``a`` (V, V): every target column sums to 1 (mean over in-neighbours).

    Columns with no entry stay zero (ST-GCN's ``normalize_digraph``).
    """
    deg = a.sum(axis=0)
    inv = np.divide(1.0, deg, out=np.zeros_like(deg, dtype=np.float64), where=deg > 0)
    return (a * inv[None, :]).astype(np.float32)


def normalize_undigraph(a: np.ndarray) -> np.ndarray:
    """Symmetric normalisation ``D^-1/2 A D^-1/2`` of ``a`` (V, V) (column degrees)."""
    deg = a.sum(axis=0)
    inv = np.divide(1.0, np.sqrt(deg), out=np.zeros_like(deg, dtype=np.float64), where=deg > 0)
    return (inv[:, None] * a * inv[None, :]).astype(np.float32)


def normalize_rows(a: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """Divide every row of ``a`` (..., U, V) by its L1 norm (Hyper-GCN's ``a_norm``)."""
    return (a / (np.abs(a).sum(axis=-1, keepdims=True) + eps)).astype(np.float32)


def hop_distance(layout: SkeletonLayout | str, max_hop: int | None = None) -> np.ndarray:
    """(V, V) hop distance; ``inf`` beyond ``max_hop`` (``None``: exact distances)."""
    d = get_layout(layout).hop_distance().astype(np.float64)
    if max_hop is not None:
        d = np.where(d <= max_hop, d, np.inf)
    return d


def _reach(layout: SkeletonLayout, max_hop: int, dilation: int) -> tuple[np.ndarray, list[int]]:
    if max_hop < 1 or dilation < 1:
        raise ConfigError(f"graph: max_hop ({max_hop}) and dilation ({dilation}) must be >= 1")
    hops = list(range(0, max_hop + 1, dilation))
    d = hop_distance(layout, max_hop)
    adj = np.isin(d, hops).astype(np.float64)
    return normalize_digraph(adj), hops


def uniform_partition(layout: SkeletonLayout | str, max_hop: int = 1, dilation: int = 1) -> np.ndarray:
    """ST-GCN "uniform labelling": one partition, shape (1, V, V)."""
    lay = get_layout(layout)
    norm, _ = _reach(lay, max_hop, dilation)
    return norm[None]


def distance_partition(layout: SkeletonLayout | str, max_hop: int = 1, dilation: int = 1) -> np.ndarray:
    """ST-GCN "distance partitioning": one partition per hop, shape (len(hops), V, V)."""
    lay = get_layout(layout)
    norm, hops = _reach(lay, max_hop, dilation)
    d = hop_distance(lay, max_hop)
    return np.stack([np.where(d == h, norm, 0.0) for h in hops]).astype(np.float32)


def spatial_partition(layout: SkeletonLayout | str, center: int | None = None, max_hop: int = 1,
                      dilation: int = 1, truncated_hops: bool = False) -> np.ndarray:
    """ST-GCN "spatial configuration" partitioning.

    Args:
        layout: skeleton layout (or its registry name).
        center: joint whose hop distance orders the neighbours; ``None`` takes
            ``layout.center``. (The official ST-GCN NTU graph uses joint 20, SpineShoulder;
            mmfusion's NTU25 layout centres on joint 1, SpineMid.)
        max_hop, dilation: which hop rings are neighbours (ST-GCN defaults 1 and 1).
        truncated_hops: reproduce the official ``yysijie/st-gcn`` matrix exactly. That code
            orders neighbours by hop distances that are themselves cut at ``max_hop``, so
            every joint farther than ``max_hop`` from the centre has distance ``inf``; pairs
            of such joints compare equal and land in the first partition. With NTU-25 and
            centre 20 the official partitions hold 25 / 40 / 8 non-zeros instead of the
            25 / 24 / 24 of the paper's definition (``False``, default).

    Returns:
        float32 array (K, V, V) with ``K = 1 + 2 * (number of non-zero hops)``; for the
        default ``max_hop=1``: ``[root (self loops), centrifugal (neighbour v at least as
        far from the centre as target w), centripetal (v nearer than w)]``. Entries are the
        column-normalised adjacency of all reachable joints, so the partitions of a column
        sum to 1.
    """
    lay = get_layout(layout)
    c = lay.center if center is None else int(center)
    if not 0 <= c < lay.num_joints:
        raise ConfigError(f"graph: centre joint {c} outside layout {lay.name} ({lay.num_joints} joints)")
    norm, hops = _reach(lay, max_hop, dilation)
    d = hop_distance(lay, max_hop)
    to_center = hop_distance(lay, max_hop if truncated_hops else None)[:, c]
    src = to_center[:, None]  # distance of the neighbour v (rows)
    dst = to_center[None, :]  # distance of the target w (columns)
    parts: list[np.ndarray] = []
    for h in hops:
        ring = d == h
        same = ring & (src == dst)
        farther = ring & (src > dst)
        nearer = ring & ~(src == dst) & ~(src > dst)
        if h == 0:
            parts.append(np.where(same, norm, 0.0))
        else:
            parts.append(np.where(same | farther, norm, 0.0))
            parts.append(np.where(nearer, norm, 0.0))
    return np.stack(parts).astype(np.float32)


def virtual_joint_adjacency(layout: SkeletonLayout | str, num_virtual: int = 3, num_subsets: int = 8) -> np.ndarray:
    """Hyper-GCN's ``virtual_ensemble`` graph (un-normalised 0/1).

    Real joints keep their bones (both directions) and self loops; each of the
    ``num_virtual`` virtual joints has a self loop and an edge to and from every real
    joint (virtual joints are not linked to each other). The matrix is repeated for each of
    the ``num_subsets`` channel groups (heads).

    Returns:
        float32 array (num_subsets, V + num_virtual, V + num_virtual).
    """
    lay = get_layout(layout)
    if num_virtual < 0 or num_subsets < 1:
        raise ConfigError(f"graph: num_virtual={num_virtual}, num_subsets={num_subsets} are invalid")
    v = lay.num_joints
    a = np.zeros((v + num_virtual, v + num_virtual), dtype=np.float32)
    a[:v, :v] = lay.adjacency(self_loops=True)
    a[v:, :v] = 1.0
    a[:v, v:] = 1.0
    a[np.arange(v, v + num_virtual), np.arange(v, v + num_virtual)] = 1.0
    return np.repeat(a[None], num_subsets, axis=0)
