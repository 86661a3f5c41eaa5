"""Skeleton graph builders: ST-GCN partitions, the CTR-GCN / PYSKL inward-outward graph, PYSKL's
random graph, PSUMNet's part graphs and Hyper-GCN's virtual-joint graph."""

from __future__ import annotations

import numpy as np
import pytest

from mmfusion.data.layouts import COCO17, NTU25, UCLA20
from mmfusion.encoders.graph import (
    NTU25_HAND_STAR_INWARD,
    PSUMNET_HAND_INWARD,
    PSUMNET_HAND_JOINTS,
    PSUMNET_LEG_INWARD,
    PSUMNET_LEG_JOINTS,
    distance_partition,
    edges_to_matrix,
    inward_outward_graph,
    normalize_digraph,
    normalize_undigraph,
    random_graph,
    spatial_partition,
    uniform_partition,
    virtual_joint_adjacency,
)
from mmfusion.errors import ConfigError


def test_normalisations_on_a_path_graph() -> None:
    a = np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]], dtype=np.float32)
    d = normalize_digraph(a)
    np.testing.assert_allclose(d.sum(axis=0), 1.0)
    np.testing.assert_allclose(d[:, 1], [1 / 3, 1 / 3, 1 / 3])
    u = normalize_undigraph(a)
    np.testing.assert_allclose(u, u.T)
    np.testing.assert_allclose(u[0, 1], 1 / np.sqrt(2 * 3))
    # an isolated node stays zero instead of dividing by zero
    assert np.all(normalize_digraph(np.zeros((2, 2))) == 0)


@pytest.mark.parametrize("layout", [NTU25, COCO17, UCLA20])
def test_spatial_partition_is_a_split_of_the_normalised_adjacency(layout) -> None:
    a = spatial_partition(layout)
    v = layout.num_joints
    assert a.shape == (3, v, v) and a.dtype == np.float32
    # the three partitions together are the column-normalised adjacency with self loops
    np.testing.assert_allclose(a.sum(axis=0), normalize_digraph(layout.adjacency(self_loops=True)), atol=1e-6)
    np.testing.assert_allclose(a.sum(axis=(0, 1)), 1.0, atol=1e-6)
    assert np.array_equal(a[0] > 0, np.eye(v, dtype=bool))
    # no two partitions share an entry
    assert ((a > 0).sum(axis=0) <= 1).all()


def test_spatial_partition_orders_neighbours_by_distance_to_centre() -> None:
    a = spatial_partition(NTU25)
    d = NTU25.hop_distance()[:, NTU25.center]
    assert [(p > 0).sum() for p in a] == [25, 24, 24]  # a tree: each bone once per direction
    for child, parent in NTU25.bones:
        for src, dst in ((child, parent), (parent, child)):
            k = 1 if d[src] >= d[dst] else 2  # 1: centrifugal, 2: centripetal
            assert a[k, src, dst] > 0 and a[3 - k, src, dst] == 0, (src, dst)
    # SpineBase (0) is one hop below the centre (SpineMid, 1): message 0 -> 1 comes from farther away
    assert a[1, 0, 1] > 0 and a[2, 1, 0] > 0


def test_truncated_hops_reproduce_the_official_stgcn_matrix() -> None:
    a = spatial_partition(NTU25, center=20, truncated_hops=True)
    assert [(p > 0).sum() for p in a] == [25, 40, 8]
    expected = {(1, 0), (2, 3), (4, 5), (8, 9), (20, 1), (20, 2), (20, 4), (20, 8)}
    assert {tuple(map(int, e)) for e in np.argwhere(a[2] > 0)} == expected
    assert a[2, 1, 0] == pytest.approx(0.25) and a[2, 2, 3] == pytest.approx(0.5)
    assert a[1, 0, 1] == pytest.approx(1 / 3) and a[0, 20, 20] == pytest.approx(0.2)


def test_uniform_and_distance_partitions() -> None:
    u = uniform_partition(NTU25)
    d = distance_partition(NTU25)
    assert u.shape == (1, 25, 25) and d.shape == (2, 25, 25)
    np.testing.assert_allclose(d.sum(axis=0), u[0], atol=1e-6)
    two = distance_partition(NTU25, max_hop=2)
    assert two.shape == (3, 25, 25) and (two[2] > 0).sum() > 0
    np.testing.assert_allclose(two.sum(axis=(0, 1)), 1.0, atol=1e-6)


def test_graph_arguments_are_validated() -> None:
    with pytest.raises(ConfigError, match="centre joint"):
        spatial_partition(NTU25, center=25)
    with pytest.raises(ConfigError, match="max_hop"):
        uniform_partition(NTU25, max_hop=0)
    with pytest.raises(ConfigError, match="unknown skeleton layout"):
        spatial_partition("no_such_layout")


def test_virtual_joint_adjacency() -> None:
    a = virtual_joint_adjacency(NTU25, num_virtual=3, num_subsets=8)
    assert a.shape == (8, 28, 28)
    g = a[0]
    np.testing.assert_array_equal(g, g.T)
    np.testing.assert_array_equal(g[:25, :25], NTU25.adjacency(self_loops=True))
    assert (g[25:, :25] == 1).all() and (g[:25, 25:] == 1).all()
    np.testing.assert_array_equal(g[25:, 25:], np.eye(3))
    assert all(np.array_equal(a[k], g) for k in range(8))


def test_official_stgcn_ntu_graph_centre_21_counts_and_entries() -> None:
    # yysijie/st-gcn "ntu-rgb+d", strategy "spatial", centre 21 (1-based), max_hop 1, dilation 1
    a = spatial_partition(NTU25, center=20, max_hop=1, dilation=1, truncated_hops=True)
    assert [int((p > 0).sum()) for p in a] == [25, 40, 8]
    # column 20 (SpineShoulder) gathers from {1, 2, 4, 8, 20}: degree 5 -> 0.2 each; joints beyond one
    # hop of the centre all compare equal in the official code, so 4 -> 20 lands in partition 1
    assert a[0, 20, 20] == pytest.approx(1 / 5) and a[2, 4, 20] == 0 and a[1, 4, 20] == pytest.approx(1 / 5)


def test_ctrgcn_inward_outward_graph_by_hand() -> None:
    a = inward_outward_graph(NTU25)
    assert a.shape == (3, 25, 25) and a.dtype == np.float32
    # identity, 24 inward edges (0/1: one parent each), 24 outward edges
    assert [int((p > 0).sum()) for p in a] == [25, 24, 24]
    np.testing.assert_array_equal(a[0], np.eye(25))
    # edge2mat: In[parent, child]; SpineBase (0) -> SpineMid (1) inward
    assert a[1, 1, 0] == 1.0 and a[1, 0, 1] == 0.0
    # Out[child, parent] is normalised by the parent's number of children:
    # SpineShoulder (20) has children 1, 2, 4, 8 -> 1/4; SpineBase (0) has 12, 16 -> 1/2
    assert a[2, 4, 20] == pytest.approx(0.25) and a[2, 12, 0] == pytest.approx(0.5)
    np.testing.assert_allclose(a[1:].sum(axis=1)[:, [0, 3]], [[1.0, 1.0], [1.0, 0.0]])  # column sums
    # HandTipLeft (21) -> ThumbLeft (22) -> HandLeft (7) in the CTR-GCN list
    assert a[1, 22, 21] == 1.0 and a[1, 7, 22] == 1.0


def test_pyskl_hand_star_graph_differs_only_at_the_hands() -> None:
    star = inward_outward_graph(NTU25_HAND_STAR_INWARD, 25)
    chain = inward_outward_graph(NTU25)
    diff = {tuple(map(int, e)) for e in np.argwhere(np.abs(star - chain).sum(0) > 0)}
    assert diff <= {(r, c) for r in (7, 11, 21, 22, 23, 24) for c in (7, 11, 21, 22, 23, 24)}
    assert star[1, 7, 21] == 1.0 and star[1, 7, 22] == 1.0
    # HandLeft's children in the star graph are HandTipLeft and ThumbLeft: Out = 1/2 each
    assert star[2, 21, 7] == pytest.approx(0.5) and star[2, 22, 7] == pytest.approx(0.5)


def test_psumnet_part_graphs() -> None:
    hand = inward_outward_graph(PSUMNET_HAND_INWARD, len(PSUMNET_HAND_JOINTS))
    leg = inward_outward_graph(PSUMNET_LEG_INWARD, len(PSUMNET_LEG_JOINTS))
    assert hand.shape == (3, 13, 13) and leg.shape == (3, 9, 9)
    assert [int((p > 0).sum()) for p in hand] == [13, 12, 12]
    assert [int((p > 0).sum()) for p in leg] == [9, 8, 8]
    # hand: SpineShoulder (local 0) feeds both shoulders (1, 7): Out[1, 0] = Out[7, 0] = 1/2
    assert hand[2, 1, 0] == pytest.approx(0.5) and hand[2, 7, 0] == pytest.approx(0.5)
    # leg as released: local 4 (FootLeft) has two parents (3 and 0), so In column 4 is 1/2, 1/2
    assert leg[1, 3, 4] == pytest.approx(0.5) and leg[1, 0, 4] == pytest.approx(0.5)
    assert leg[1:, :, 8].sum() == 0 and leg[1:, 8, :].sum() == 0  # FootRight isolated
    assert PSUMNET_HAND_JOINTS[5] == 21 and PSUMNET_LEG_JOINTS[1] == 12


def test_random_graph_and_edge_validation() -> None:
    g = random_graph(25, 8, generator=np.random.default_rng(0))
    assert g.shape == (8, 25, 25) and g.dtype == np.float32
    assert abs(float(g.mean()) - 0.04) < 0.005 and abs(float(g.std()) - 0.02) < 0.005
    with pytest.raises(ConfigError, match="outside a graph"):
        edges_to_matrix([(0, 3)], 3)
    with pytest.raises(ConfigError, match="num_nodes"):
        inward_outward_graph([(0, 1)])


def test_hypergcn_official_graph_links_hand_tips_to_the_hand() -> None:
    a = virtual_joint_adjacency(NTU25, num_virtual=3, num_subsets=8, inward=NTU25_HAND_STAR_INWARD)
    g = a[0]
    assert a.shape == (8, 28, 28)
    np.testing.assert_array_equal(g, g.T)
    assert g[21, 7] == 1 and g[22, 7] == 1 and g[21, 22] == 0 and g[23, 11] == 1 and g[24, 11] == 1
    assert int(g[:25, :25].sum()) == 25 + 2 * 24
    assert (g[25:, :25] == 1).all()
