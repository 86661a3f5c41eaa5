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
* :func:`inward_outward_graph` - the CTR-GCN / PYSKL / PSUMNet ``"spatial"`` graph
  ``[I, norm(inward), norm(outward)]`` from a list of (child, parent) edges.
* :func:`random_graph` - PYSKL's ``mode="random"`` graph (ACLNet): ``K`` learnable
  ``V x V`` matrices drawn from ``N(off, std^2)``.
* Edge lists of the official graphs that differ from mmfusion's layouts:
  :data:`NTU25_HAND_STAR_INWARD` (PYSKL / Hyper-GCN NTU graph: hand tip and thumb hang
  straight from the hand joint), :data:`PSUMNET_HAND_INWARD` / :data:`PSUMNET_LEG_INWARD`
  (PSUMNet's part graphs) with :data:`PSUMNET_HAND_JOINTS` / :data:`PSUMNET_LEG_JOINTS`
  (the NTU-25 joints each part stream reads).

Orientation: :func:`inward_outward_graph` keeps the orientation of the official CTR-GCN /
PYSKL ``edge2mat`` (``A[k, j, i] = 1`` for an edge ``i -> j``, so ``A[1][parent, child]``
holds the inward edges); each encoder uses it with the einsum of its official code.

All builders return ``float32`` numpy arrays; models register them as buffers.
"""

from __future__ import annotations

from collections.abc import Sequence

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


def virtual_joint_adjacency(layout: SkeletonLayout | str, num_virtual: int = 3, num_subsets: int = 8,
                            inward: Sequence[tuple[int, int]] | None = None) -> np.ndarray:
    """Hyper-GCN's ``virtual_ensemble`` graph (un-normalised 0/1).

    Real joints keep their bones (both directions) and self loops; each of the
    ``num_virtual`` virtual joints has a self loop and an edge to and from every real
    joint (virtual joints are not linked to each other). The matrix is repeated for each of
    the ``num_subsets`` channel groups (heads).

    ``inward``: (child, parent) edges replacing the layout's bones; the official Hyper-GCN
    NTU graph is ``virtual_joint_adjacency("ntu25", inward=NTU25_HAND_STAR_INWARD)``.

    Returns:
        float32 array (num_subsets, V + num_virtual, V + num_virtual).
    """
    lay = get_layout(layout)
    if num_virtual < 0 or num_subsets < 1:
        raise ConfigError(f"graph: num_virtual={num_virtual}, num_subsets={num_subsets} are invalid")
    v = lay.num_joints
    a = np.zeros((v + num_virtual, v + num_virtual), dtype=np.float32)
    if inward is None:
        a[:v, :v] = lay.adjacency(self_loops=True)
    else:
        real = edges_to_matrix(inward, v)
        a[:v, :v] = np.minimum(real + real.T + np.eye(v), 1.0)
    a[v:, :v] = 1.0
    a[:v, v:] = 1.0
    a[np.arange(v, v + num_virtual), np.arange(v, v + num_virtual)] = 1.0
    return np.repeat(a[None], num_subsets, axis=0)


#: NTU-25 inward edges (child, parent), 0-based, of the PYSKL ``nturgb+d`` and Hyper-GCN graphs:
#: as :data:`~mmfusion.data.layouts.NTU25` except that HandTip / Thumb (21-24) hang straight from
#: the hand joints (7, 11) instead of forming a chain tip -> thumb -> hand.
NTU25_HAND_STAR_INWARD: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 20), (2, 20), (3, 2), (4, 20), (5, 4), (6, 5), (7, 6), (8, 20), (9, 8), (10, 9),
    (11, 10), (12, 0), (13, 12), (14, 13), (15, 14), (16, 0), (17, 16), (18, 17), (19, 18),
    (21, 7), (22, 7), (23, 11), (24, 11))

#: NTU-25 joints read by PSUMNet's hand stream (SpineShoulder, both arms with hand tips / thumbs).
PSUMNET_HAND_JOINTS: tuple[int, ...] = (20, 4, 5, 6, 7, 21, 22, 8, 9, 10, 11, 23, 24)
#: NTU-25 joints read by PSUMNet's leg stream (SpineBase and both legs).
PSUMNET_LEG_JOINTS: tuple[int, ...] = (0, 12, 13, 14, 15, 16, 17, 18, 19)
#: PSUMNet hand graph, (child, parent) in hand-stream indices (official ``hand_inward``).
PSUMNET_HAND_INWARD: tuple[tuple[int, int], ...] = (
    (1, 0), (2, 1), (3, 2), (4, 3), (5, 4), (6, 4), (7, 0), (8, 7), (9, 8), (10, 9), (11, 10), (12, 10))
#: PSUMNet leg graph as released (``leg_inward``): local joint 4 (FootLeft) is linked to the
#: pelvis and to HipRight, and local joint 8 (FootRight) has no edge - kept for weight
#: compatibility, see docs/models.md.
PSUMNET_LEG_INWARD: tuple[tuple[int, int], ...] = (
    (1, 0), (2, 1), (3, 2), (4, 3), (4, 0), (5, 4), (6, 5), (7, 6))


def edges_to_matrix(edges: Sequence[tuple[int, int]], num_nodes: int) -> np.ndarray:
    """0/1 matrix (V, V) with ``A[j, i] = 1`` for every edge ``(i, j)`` (official ``edge2mat``)."""
    a = np.zeros((num_nodes, num_nodes), dtype=np.float64)
    for i, j in edges:
        if not (0 <= i < num_nodes and 0 <= j < num_nodes):
            raise ConfigError(f"graph: edge ({i}, {j}) outside a graph of {num_nodes} nodes")
        a[j, i] = 1.0
    return a


def inward_outward_graph(inward: SkeletonLayout | str | Sequence[tuple[int, int]],
                         num_nodes: int | None = None) -> np.ndarray:
    """CTR-GCN / PYSKL / PSUMNet ``"spatial"`` graph: ``[I, norm(In), norm(Out)]``, shape (3, V, V).

    Args:
        inward: (child, parent) edges, or a layout (its ``bones``; for ``ntu25`` these are
            CTR-GCN's edges).
        num_nodes: V; required with an edge list.

    ``In = edge2mat(inward)`` has ``In[parent, child] = 1``; ``Out`` is its transpose; both
    are column-normalised (:func:`normalize_digraph`), so ``In`` stays 0/1 on a tree (each
    child has one parent) and ``Out[child, parent] = 1 / (number of children of parent)``.
    """
    if isinstance(inward, (SkeletonLayout, str)):
        lay = get_layout(inward)
        edges: list[tuple[int, int]] = lay.bones
        v = lay.num_joints
    else:
        edges = [(int(i), int(j)) for i, j in inward]
        if num_nodes is None:
            raise ConfigError("graph: inward_outward_graph needs num_nodes with an edge list")
        v = num_nodes
    ident = np.eye(v)
    a_in = normalize_digraph(edges_to_matrix(edges, v))
    a_out = normalize_digraph(edges_to_matrix([(j, i) for i, j in edges], v))
    return np.stack([ident, a_in, a_out]).astype(np.float32)


def random_graph(num_nodes: int, num_filters: int = 8, std: float = 0.02, offset: float = 0.04,
                 generator: np.random.Generator | None = None) -> np.ndarray:
    """PYSKL ``Graph(mode="random")``: (num_filters, V, V) drawn from ``N(offset, std^2)``.

    ACLNet initialises its learnable topology with ``num_filters=8, std=0.02, offset=0.04``.
    """
    if num_nodes < 1 or num_filters < 1:
        raise ConfigError(f"graph: random_graph needs num_nodes, num_filters >= 1, got {num_nodes}, {num_filters}")
    rng = generator if generator is not None else np.random.default_rng()
    return (rng.standard_normal((num_filters, num_nodes, num_nodes)) * std + offset).astype(np.float32)
