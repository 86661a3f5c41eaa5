"""Batched PointNet++ operators against brute-force references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmfusion.encoders.pointnet2 import (
    GlobalSetAbstraction,
    SetAbstraction,
    ball_query,
    farthest_point_sample,
    gather_points,
)
from mmfusion.errors import ConfigError


def fps_reference(pts: np.ndarray, n: int) -> list[int]:
    """Textbook greedy farthest-point sampling starting at index 0."""
    chosen = [0]
    d = np.full(len(pts), np.inf)
    for _ in range(n - 1):
        d = np.minimum(d, ((pts - pts[chosen[-1]]) ** 2).sum(-1))
        chosen.append(int(np.argmax(d)))
    return chosen


def ball_reference(pts: np.ndarray, centres: np.ndarray, r: float, k: int) -> np.ndarray:
    out = np.zeros((len(centres), k), dtype=np.int64)
    for s, c in enumerate(centres):
        d2 = ((pts - c) ** 2).sum(-1)
        inside = [i for i in range(len(pts)) if d2[i] < r * r]
        if not inside:
            inside = [int(np.argmin(d2))]
        row = inside[:k]
        out[s] = row + [row[0]] * (k - len(row))
    return out


def test_fps_on_a_hand_made_example() -> None:
    pts = torch.tensor([[[0.0, 0, 0], [1, 0, 0], [10, 0, 0], [5, 0, 0], [9, 0, 0], [0, 3, 0]]])
    idx = farthest_point_sample(pts, 4)[0].tolist()
    # 0 first; farthest from it is 10 (x=10); then x=5 (distance 5); then (0,3,0) (distance 3 from 0)
    assert idx == [0, 2, 3, 5]


def test_fps_matches_reference_and_is_batched() -> None:
    gen = torch.Generator().manual_seed(3)
    pts = torch.rand(3, 200, 3, generator=gen)
    idx = farthest_point_sample(pts, 32)
    assert idx.shape == (3, 32) and idx.dtype == torch.long
    for b in range(3):
        row = idx[b].tolist()
        assert row[0] == 0
        assert len(set(row)) == 32  # distinct
        assert row == fps_reference(pts[b].numpy(), 32)
        # greedy max-min: each pick is the point farthest from those already chosen
        p = pts[b]
        for i in range(1, 32):
            d_set = torch.cdist(p, p[row[:i]]).min(dim=1).values
            assert torch.isclose(d_set[row[i]], d_set.max())
    # batching does not mix samples
    torch.testing.assert_close(farthest_point_sample(pts[1:2], 32), idx[1:2])


def test_fps_under_autocast_and_validation() -> None:
    pts = torch.rand(2, 64, 3)
    ref = farthest_point_sample(pts, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(farthest_point_sample(pts, 16), ref)
    with pytest.raises(ConfigError, match="npoint"):
        farthest_point_sample(pts, 65)
    with pytest.raises(ConfigError, match=r"\(B, P, 3\)"):
        farthest_point_sample(torch.rand(2, 64), 4)


def test_ball_query_matches_brute_force() -> None:
    gen = torch.Generator().manual_seed(5)
    pts = torch.rand(2, 80, 3, generator=gen)
    centres = torch.cat([pts[:, :6], torch.full((2, 1, 3), 5.0)], dim=1)  # last centre: empty ball
    for r, k in ((0.15, 4), (0.3, 8), (0.6, 100)):
        idx = ball_query(pts, centres, r, k)
        assert idx.shape == (2, 7, k)
        for b in range(2):
            ref = ball_reference(pts[b].numpy(), centres[b].numpy(), r, k)
            np.testing.assert_array_equal(idx[b].numpy(), ref)


def test_ball_query_padding_and_radius_is_strict() -> None:
    pts = torch.tensor([[[0.0, 0, 0], [0.5, 0, 0], [1.0, 0, 0], [0.2, 0, 0]]])
    idx = ball_query(pts, pts[:, :1], radius=0.5, nsample=4)
    assert idx[0, 0].tolist() == [0, 3, 0, 0]  # 0.5 is not < 0.5; padded with the first hit
    with pytest.raises(ConfigError):
        ball_query(pts, pts, radius=0.0, nsample=2)


def test_gather_points() -> None:
    x = torch.arange(24.0).view(2, 4, 3)
    idx = torch.tensor([[[3, 0]], [[1, 1]]])
    g = gather_points(x, idx)
    assert g.shape == (2, 1, 2, 3)
    assert torch.equal(g[0, 0, 0], x[0, 3]) and torch.equal(g[1, 0, 1], x[1, 1])


def test_set_abstraction_shapes_and_translation_invariance() -> None:
    sa1 = SetAbstraction(32, 0.3, 8, 0, (8, 16)).eval()
    sa2 = SetAbstraction(8, 0.6, 8, 16, (16, 24)).eval()
    glob = GlobalSetAbstraction(24, (32,)).eval()
    pts = torch.rand(3, 128, 3)
    with torch.no_grad():
        xyz1, f1 = sa1(pts)
        assert xyz1.shape == (3, 32, 3) and f1.shape == (3, 16, 32)
        xyz2, f2 = sa2(xyz1, f1)
        assert xyz2.shape == (3, 8, 3) and f2.shape == (3, 24, 8)
        assert glob(xyz2, f2).shape == (3, 32)
        # sampling, grouping and relative coordinates do not depend on where the cloud is
        xyz1b, f1b = sa1(pts + torch.tensor([3.0, -2.0, 7.0]))
    torch.testing.assert_close(f1b, f1, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(xyz1b - xyz1, torch.tensor([3.0, -2.0, 7.0]).expand_as(xyz1))
    with pytest.raises(ConfigError, match="npoint"):
        sa1(torch.rand(1, 16, 3))
    with pytest.raises(ConfigError, match="feature channels"):
        sa2(xyz1, torch.rand(3, 5, 32))
