"""Temporal sampling aligned across modalities."""

from __future__ import annotations

import numpy as np
import pytest

from mmfusion.data.sampling import aligned_indices, subset_indices, uniform_indices


def test_test_mode_takes_segment_centres() -> None:
    idx = uniform_indices(80, 8, train=False)
    assert idx.tolist() == [5, 15, 25, 35, 45, 55, 65, 75]
    assert uniform_indices(8, 8, train=False).tolist() == list(range(8))


def test_train_mode_one_frame_per_segment_and_seeded() -> None:
    a = uniform_indices(100, 10, train=True, rng=np.random.default_rng(1))
    b = uniform_indices(100, 10, train=True, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    seg = a // 10
    assert seg.tolist() == list(range(10))
    # all offsets in a segment are reachable
    seen = {int(uniform_indices(100, 10, True, np.random.default_rng(s))[0]) for s in range(200)}
    assert seen == set(range(10))


def test_short_video_repeats_frames_in_order() -> None:
    idx = uniform_indices(3, 8, train=False)
    assert idx.tolist() == [0, 0, 0, 1, 1, 2, 2, 2]
    tr = uniform_indices(3, 8, train=True, rng=np.random.default_rng(0))
    assert np.all(np.diff(tr) >= 0) and tr.min() >= 0 and tr.max() <= 2
    assert uniform_indices(1, 4, train=True, rng=np.random.default_rng(0)).tolist() == [0, 0, 0, 0]


def test_multi_clip_test() -> None:
    idx = uniform_indices(40, 4, train=False, num_clips=2)
    assert idx.tolist() == [2, 12, 22, 32, 7, 17, 27, 37]


def test_aligned_indices_epam_rule() -> None:
    out = aligned_indices(300, {"skeleton": 48, "rgb": 16, "depth": 48}, train=True, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(out["rgb"], out["skeleton"][0::3])
    np.testing.assert_array_equal(out["depth"], out["skeleton"])
    # non-dividing clip length: still a subset of the dense indices
    out = aligned_indices(100, {"skeleton": 10, "rgb": 4}, train=False)
    assert set(out["rgb"].tolist()) <= set(out["skeleton"].tolist())
    assert out["rgb"].tolist() == subset_indices(out["skeleton"], 4).tolist()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        uniform_indices(0, 4, train=False)
    with pytest.raises(ValueError):
        subset_indices(np.arange(4), 5)
