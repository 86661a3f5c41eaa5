"""Preprocessing families on small hand cases (AimCLR frame50, 2s-AGCN, PYSKL)."""

from __future__ import annotations

import numpy as np
import pytest

from mmfusion.data.skeleton.families import (
    agcn_pre_normalization,
    aimclr_frame50,
    linear_resize,
    pyskl_format_gcn_input,
    pyskl_pipeline,
    pyskl_prenormalize3d,
    pyskl_uniform_sample,
    select_bodies_by_energy,
)
from mmfusion.errors import DataFormatError


def _person(t: int, yaw: np.ndarray | float = 0.0, shift: float = 0.0) -> np.ndarray:
    """(T, 25, 3) a body with the spine on +y and shoulders on x, turned about y by ``yaw``, drifting."""
    base = np.zeros((25, 3))
    base[:, 1] = np.linspace(-0.5, 0.5, 25)
    base[0] = (0, -0.3, 0)
    base[1] = (0, 0.0, 0)
    base[20] = (0, 0.3, 0)
    base[4] = (-0.2, 0.3, 0)   # ShoulderLeft
    base[8] = (0.2, 0.3, 0)    # ShoulderRight
    yaw = np.broadcast_to(np.asarray(yaw, dtype=float), (t,))
    c, s = np.cos(yaw), np.sin(yaw)
    rot = np.zeros((t, 3, 3))
    rot[:, 0, 0], rot[:, 0, 2], rot[:, 1, 1], rot[:, 2, 0], rot[:, 2, 2] = c, s, 1, -s, c
    out = np.einsum("tij,vj->tvi", rot, base)
    out += np.array([shift, 0.0, 3.0]) + 0.01 * np.arange(t)[:, None, None]
    return out


def test_linear_resize_matches_cv2() -> None:
    cv2 = pytest.importorskip("cv2")
    x = np.random.default_rng(0).normal(size=(37, 25, 3)).astype(np.float32)
    ours = linear_resize(x, 30, 50, time_axis=0)
    ref = cv2.resize(x[:30], (25, 50), interpolation=cv2.INTER_LINEAR)
    assert np.allclose(ours, ref, atol=1e-5)
    down = linear_resize(x, 37, 10, time_axis=0)
    assert np.allclose(down, cv2.resize(x, (25, 10), interpolation=cv2.INTER_LINEAR), atol=1e-5)


def test_frame50_relative_resized_and_shoulders_parallel() -> None:
    t = 30
    x = np.zeros((3, 300, 25, 2))
    x[:, :t, :, 0] = _person(t, yaw=np.linspace(0.2, 0.6, t)).transpose(2, 0, 1)
    pos, mot = aimclr_frame50(x)
    assert pos.shape == mot.shape == (3, 50, 25, 2) and pos.dtype == np.float32
    assert np.allclose(pos[:, :, 20, 0], 0, atol=1e-6)  # relative to SpineShoulder
    vec = pos[:, :, 8, 0] - pos[:, :, 4, 0]
    # right -> left on +x (to the official 1e-4 added to the norm)
    assert np.allclose(vec[2], 0, atol=1e-3) and (vec[0] > 0.39).all()
    # motion comes from the raw frames (before centring), resized, not rotated
    raw = np.zeros_like(x)
    raw[:, :-1] = x[:, 1:] - x[:, :-1]
    assert np.allclose(mot, linear_resize(raw, t, 50), atol=1e-6)
    assert np.allclose(pos[..., 1], 0)  # absent second person stays zero
    with pytest.raises(DataFormatError):
        aimclr_frame50(np.zeros((3, 10, 25, 2)))


def test_agcn_padding_centring_alignment() -> None:
    x = np.zeros((3, 6, 25, 2))
    body = _person(3, yaw=0.4)
    x[:, 1:3, :, 0] = body[:2].transpose(2, 0, 1)  # empty first frame, then 2 valid frames
    out = agcn_pre_normalization(x)
    s = out[..., 0].transpose(1, 2, 0)  # (T, V, C)
    # valid frames moved to the front and repeated: frames 0, 2, 4 equal (pose-wise)
    assert np.allclose(s[0], s[2], atol=1e-5) and np.allclose(s[1], s[3], atol=1e-5)
    assert np.allclose(s[:, 1], 0, atol=1e-6)  # joint 1 of person 0 per frame at the origin
    spine = s[0, 1] - s[0, 0]
    assert abs(spine[0]) < 1e-5 and abs(spine[1]) < 1e-5 and spine[2] > 0  # hip -> spine on +z
    sh = s[0, 8] - s[0, 4]
    assert abs(sh[1]) < 1e-5 and abs(sh[2]) < 1e-5 and sh[0] > 0  # right -> left on +x
    assert np.allclose(out[..., 1], 0)


def test_select_bodies_by_energy() -> None:
    rng = np.random.default_rng(0)
    x = np.zeros((4, 10, 25, 3))
    x[0] = 1.0  # static: energy 0
    x[1] = rng.normal(0, 0.1, (10, 25, 3))
    x[3] = rng.normal(0, 1.0, (10, 25, 3))
    out = select_bodies_by_energy(x)
    assert out.shape == (2, 10, 25, 3)
    assert np.array_equal(out[0], x[3]) and np.array_equal(out[1], x[1])


def test_pyskl_prenormalize_swaps_drops_and_centres() -> None:
    kp = np.zeros((2, 8, 25, 3))
    kp[0, 2:4] = _person(2)
    kp[1, 1:7] = _person(6, shift=1.0)
    out = pyskl_prenormalize3d(kp, align_spine=False)
    assert out.shape == (2, 6, 25, 3)  # person 1 had more frames: it leads, its frames kept
    assert np.allclose(out[0, 0, 1], 0)  # joint 1 of frame 0 is the origin
    assert np.allclose(out[0, 1, 1], [0.01, 0.01, 0.01], atol=1e-6)  # later frames keep their motion
    assert np.allclose(out[1, 0], 0) and not np.allclose(out[1, 1], 0)  # absent stays zero (masked)
    aligned = pyskl_prenormalize3d(kp)
    sh = aligned[0, 0, 8] - aligned[0, 0, 4]
    assert abs(sh[1]) < 1e-5 and abs(sh[2]) < 1e-5


def test_pyskl_uniform_sample_hand_cases() -> None:
    inds = pyskl_uniform_sample(10, 5, test_mode=True)
    assert ((inds >= np.arange(0, 10, 2)) & (inds < np.arange(2, 12, 2))).all()  # one per segment
    many = pyskl_uniform_sample(100, 64, num_clips=10, test_mode=True)
    assert many.shape == (640,) and np.array_equal(many, pyskl_uniform_sample(100, 64, num_clips=10, test_mode=True))
    assert all((np.diff(c) > 0).all() for c in many.reshape(10, 64))  # 64 <= 100 < 128: sorted, no repeats
    short = pyskl_uniform_sample(3, 5, num_clips=2, test_mode=True)
    assert short.tolist() == [0, 1, 2, 0, 1, 1, 2, 0, 1, 2]  # start i, wrapped modulo 3
    tr = pyskl_uniform_sample(50, 8, num_clips=2, rng=np.random.RandomState(0), p_interval=(0.5, 1.0))
    assert tr.shape == (16,) and tr.max() < 50


def test_pyskl_format_and_pipeline() -> None:
    kp = np.random.default_rng(0).normal(size=(1, 20, 25, 3))
    out = pyskl_format_gcn_input(kp, num_clips=2)
    assert out.shape == (2, 2, 10, 25, 3) and np.allclose(out[:, 1], 0)
    clips = pyskl_pipeline(kp, clip_len=8, num_clips=3, test_mode=True)
    assert clips.shape == (3, 3, 8, 25, 2) and clips.dtype == np.float32
