"""Skeleton graph builders: ST-GCN partitions and Hyper-GCN's virtual-joint graph."""

from __future__ import annotations

import numpy as np
import pytest

from mmfusion.data.layouts import COCO17, NTU25, UCLA20
from mmfusion.encoders.graph import (
    distance_partition,
    normalize_digraph,
    normalize_undigraph,
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
