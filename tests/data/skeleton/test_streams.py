"""Streams on hand-computed values, numpy and torch, (C, T, V, M) and (N, C, T, V, M)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmfusion.data.layouts import NTU25, SkeletonLayout
from mmfusion.data.skeleton.streams import (
    acceleration,
    bone,
    concat_streams,
    motion,
    part_stream,
    psumnet_streams,
    skip_bone,
    stream,
)
from mmfusion.errors import ConfigError

CHAIN = SkeletonLayout("chain3", ("a", "b", "c"), (0, 0, 1), (0, 1, 2))


def _chain() -> np.ndarray:
    # (C=1, T=4, V=3, M=1): joint v at frame t sits at 10 * v + t ** 2
    t = np.arange(4.0)[:, None]
    v = np.arange(3.0)[None, :]
    return (10 * v + t ** 2)[None, :, :, None]


def test_bone_skip_motion_acceleration_by_hand() -> None:
    x = _chain()
    assert bone(x, CHAIN)[0, :, :, 0].tolist() == [[0, 10, 10]] * 4
    assert skip_bone(x, CHAIN)[0, :, :, 0].tolist() == [[0, 0, 20]] * 4  # b's parent is the root: no skip bone
    assert motion(x)[0, :, 0, 0].tolist() == [1, 3, 5, 0]
    assert motion(x, stride=2)[0, :, 0, 0].tolist() == [4, 8, 0, 0]
    assert acceleration(x)[0, :, 1, 0].tolist() == [0, 2, 2, 0]
    assert stream(x, "bm", CHAIN).sum() == 0  # bones are constant
    assert stream(x, "km", CHAIN).shape == x.shape


def test_torch_and_batched_equal_numpy() -> None:
    x = np.random.default_rng(0).normal(size=(2, 3, 6, 25, 2)).astype(np.float32)
    for name in ("j", "b", "k", "jm", "bm", "km", "ja"):
        a = stream(x, name, NTU25)
        b = stream(torch.from_numpy(x), name, NTU25)
        assert isinstance(b, torch.Tensor)
        assert np.allclose(a, b.numpy())
        assert np.allclose(a[1], stream(x[1], name, NTU25))


def test_psumnet_order_and_parts() -> None:
    x = np.random.default_rng(1).normal(size=(3, 5, 25, 2))
    out = psumnet_streams(x)
    assert out.shape == (12, 5, 25, 2)
    assert np.allclose(out[:3], x) and np.allclose(out[3:6], bone(x, NTU25))
    assert np.allclose(out[6:9], motion(x)) and np.allclose(out[9:], motion(bone(x, NTU25)))
    assert np.allclose(concat_streams(x, ["j", "b", "jm", "bm"]), out)
    hand, lay = part_stream(x, NTU25, "psumnet", "hand")
    assert hand.shape == (3, 5, 13, 2) and np.allclose(hand[:, :, 0], x[:, :, 20])
    assert psumnet_streams(hand, lay).shape == (12, 5, 13, 2)
    leg, lay = part_stream(torch.from_numpy(x), NTU25, "psumnet", "leg")
    assert tuple(leg.shape) == (3, 5, 9, 2)
    # right hip (leg joint 5) minus pelvis (leg joint 0)
    assert torch.allclose(bone(leg, lay)[:, :, 5], leg[:, :, 5] - leg[:, :, 0])


def test_bad_input_is_refused() -> None:
    with pytest.raises(ConfigError, match="joints"):
        bone(np.zeros((3, 4, 24, 2)), NTU25)
    with pytest.raises(ConfigError, match="unknown skeleton stream"):
        stream(np.zeros((3, 4, 25, 2)), "xx")
    with pytest.raises(ConfigError):
        bone(np.zeros((4, 25, 2)), NTU25)
