"""PoseC3D-style heatmap volumes and NTU -> COCO-17 keypoints."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from mmfusion.data.heatmaps import (
    keypoints_to_heatmaps,
    ntu_color_to_coco2d,
    ntu_heatmaps,
    ntu_to_coco17,
    person_box,
    project_ntu_to_coco2d,
)
from mmfusion.data.layouts import COCO17, NTU25_TO_COCO17
from mmfusion.errors import DataFormatError


def _peak(hm: np.ndarray) -> tuple[int, int]:
    r, c = np.unravel_index(np.argmax(hm), hm.shape)
    return int(c), int(r)  # (u, v)


def test_peak_location_value_and_width() -> None:
    rng = np.random.default_rng(0)
    m, t, v = 1, 3, 17
    kps = rng.uniform(5, 50, size=(m, t, v, 2)).astype(np.float32)
    scores = rng.uniform(0.3, 1.0, size=(m, t, v)).astype(np.float32)
    hm = keypoints_to_heatmaps(kps, scores, img_size=(56, 56), out_size=(56, 56), sigma=0.6)
    assert isinstance(hm, np.ndarray) and hm.dtype == np.float32 and hm.shape == (v, t, 56, 56)
    for j in range(v):
        for f in range(t):
            u, vv = _peak(hm[j, f])
            assert (u, vv) == (round(float(kps[0, f, j, 0])), round(float(kps[0, f, j, 1])))
            d2 = (u - kps[0, f, j, 0]) ** 2 + (vv - kps[0, f, j, 1]) ** 2
            assert hm[j, f, vv, u] == pytest.approx(scores[0, f, j] * math.exp(-d2 / (2 * 0.6**2)), rel=1e-5)


def test_integer_keypoint_exact_values_and_window() -> None:
    kps = np.zeros((1, 1, 17, 2), np.float32)
    kps[0, 0, :] = (20, 30)  # u = 20 (column), v = 30 (row)
    scores = np.full((1, 1, 17), 0.8, np.float32)
    sigma = 1.5
    hm = keypoints_to_heatmaps(kps, scores, (56, 56), (56, 56), sigma=sigma)[0, 0]
    assert hm[30, 20] == pytest.approx(0.8)  # peak value equals the score
    assert hm[30, 21] == pytest.approx(0.8 * math.exp(-1 / (2 * sigma**2)), rel=1e-6)
    assert hm[32, 20] == pytest.approx(0.8 * math.exp(-4 / (2 * sigma**2)), rel=1e-6)
    assert hm[31, 19] == pytest.approx(0.8 * math.exp(-2 / (2 * sigma**2)), rel=1e-6)
    # window: columns int(20 - 4.5) = 15 .. int(20 + 4.5) = 24 inclusive, zero beyond
    row = hm[30]
    assert np.all(row[15:25] > 0) and row[14] == 0 and row[25] == 0
    # symmetric, and the Gaussian's second moment is sigma^2
    for k in range(1, 5):
        assert hm[30 - k, 20] == hm[30 + k, 20] == pytest.approx(row[20 + k])
    cols = np.arange(56)
    var = float((row * (cols - 20) ** 2).sum() / row.sum())
    assert var == pytest.approx(sigma**2, rel=0.02)


def test_default_sigma_width() -> None:
    kps = np.array([[[[10.0, 12.0]]]], np.float32)  # (1, 1, 1, 2)
    hm = keypoints_to_heatmaps(kps, None, (56, 56), (56, 56))[0, 0]
    assert hm[12, 10] == 1.0
    assert hm[12, 11] == pytest.approx(math.exp(-1 / 0.72), rel=1e-6)  # sigma 0.6
    # +-3 sigma = 1.8 -> window columns 8..11
    assert np.count_nonzero(hm[12]) == 4 and np.count_nonzero(hm) == 16


def test_rescale_box_and_persons() -> None:
    # a 224x448 image mapped onto 56x56: half-pixel rescale u' = (u + .5) * 56/448 - .5
    kps = torch.tensor([[[[100.0, 60.0]]], [[[300.0, 180.0]]]])  # 2 persons, 1 frame, 1 joint
    scores = torch.tensor([[[0.9]], [[0.5]]])
    hm = keypoints_to_heatmaps(kps, scores, img_size=(224, 448), out_size=(56, 56))
    assert isinstance(hm, torch.Tensor) and hm.shape == (1, 1, 56, 56)
    u0, v0 = (100.5 * 56 / 448 - 0.5), (60.5 * 56 / 224 - 0.5)
    u1, v1 = (300.5 * 56 / 448 - 0.5), (180.5 * 56 / 224 - 0.5)
    assert _peak(hm[0, 0].numpy()) == (round(u0), round(v0))
    # second person kept by the max merge, with its own amplitude
    assert hm[0, 0, round(v1), round(u1)].item() == pytest.approx(
        0.5 * math.exp(-((round(u1) - u1) ** 2 + (round(v1) - v1) ** 2) / 0.72), rel=1e-5)
    # overlapping persons: max, not sum
    same = keypoints_to_heatmaps(kps[:1].repeat(2, 1, 1, 1), torch.tensor([[[0.9]], [[0.7]]]), (224, 448))
    assert same.max().item() == pytest.approx(hm[0, 0].max().item())
    # a crop box maps its corner to the output origin
    boxed = keypoints_to_heatmaps(np.array([[[[40.0, 20.0]]]]), None, (100, 100), (56, 56), box=(40, 20, 96, 76))
    assert _peak(boxed[0, 0]) == (0, 0) and boxed[0, 0, 0, 0] == pytest.approx(1.0)


def test_missing_and_low_score_joints() -> None:
    kps = np.full((1, 2, 3, 2), 20.0, np.float32)
    kps[0, 0, 1] = np.nan
    scores = np.ones((1, 2, 3), np.float32)
    scores[0, 1, 2] = 0.0
    hm = keypoints_to_heatmaps(kps, scores, (56, 56))
    assert np.isfinite(hm).all()
    assert hm[1, 0].max() == 0 and hm[2, 1].max() == 0 and hm[0, 0].max() == 1
    far = keypoints_to_heatmaps(np.array([[[[-30.0, 500.0]]]]), None, (56, 56))
    assert far.max() == 0
    with pytest.raises(DataFormatError, match="M, T, V, 2"):
        keypoints_to_heatmaps(np.zeros((2, 3, 2)), None)
    with pytest.raises(DataFormatError, match="scores"):
        keypoints_to_heatmaps(np.zeros((1, 2, 3, 2)), np.zeros((1, 2, 4)))


def test_vectorised_speed_shape() -> None:
    # a full EPAM-Net clip: 2 persons x 48 frames x 17 joints
    kps = np.random.default_rng(1).uniform(0, 224, (2, 48, 17, 2)).astype(np.float32)
    hm = keypoints_to_heatmaps(kps, np.ones((2, 48, 17), np.float32), (224, 224), (56, 56))
    assert hm.shape == (17, 48, 56, 56) and hm.max() <= 1.0 and hm.max() > 0.5


def test_person_box() -> None:
    kps = np.array([[[[10.0, 20.0], [30.0, 60.0], [np.nan, np.nan]]]], np.float32)
    x0, y0, x1, y1 = person_box(kps, None, img_size=None, padding=0.25, hw_ratio=1.0)
    # tight box 20 x 40 centred at (20, 40), padded to 25 x 50, made square 50 x 50
    assert (x0, y0, x1, y1) == pytest.approx((-5.0, 15.0, 45.0, 65.0))
    assert person_box(kps, None, img_size=(100, 100)) == pytest.approx((0.0, 15.0, 45.0, 65.0))
    assert person_box(np.full((1, 1, 2, 2), np.nan), None, img_size=(10, 20)) == (0.0, 0.0, 20.0, 10.0)


def test_ntu_to_coco17_and_projection() -> None:
    xyz = np.zeros((1, 2, 25, 3), np.float32)
    xyz[..., 0] = np.arange(25) * 0.01
    xyz[..., 1] = 0.5
    xyz[..., 2] = 2.0
    xyz[0, 1] = 0  # an absent body frame (zero-filled)
    coco = ntu_to_coco17(xyz)
    assert coco.shape == (1, 2, 17, 3)
    np.testing.assert_array_equal(coco[0, 0, :, 0], xyz[0, 0, list(NTU25_TO_COCO17), 0])
    uv = project_ntu_to_coco2d(xyz, (366.3, 366.3, 256.4, 208.5))
    assert uv.shape == (1, 2, 17, 2)
    lw = COCO17.joints.index("left_wrist")
    assert uv[0, 0, lw, 0] == pytest.approx(366.3 * 0.06 / 2 + 256.4, rel=1e-5)  # NTU WristLeft = 6
    assert uv[0, 0, lw, 1] == pytest.approx(208.5 - 366.3 * 0.5 / 2, rel=1e-5)  # Y up -> v up
    assert np.isnan(uv[0, 1]).all()
    hm = keypoints_to_heatmaps(uv, None, (424, 512))
    assert np.isfinite(hm).all() and hm[:, 1].max() == 0 and hm[:, 0].max() > 0
    t = project_ntu_to_coco2d(torch.from_numpy(xyz), (366.3, 366.3, 256.4, 208.5))
    assert isinstance(t, torch.Tensor)
    with pytest.raises(DataFormatError):
        project_ntu_to_coco2d(np.zeros((1, 2, 17, 3)), (1, 1, 0, 0))


def test_ntu_color_helper() -> None:
    color = np.zeros((2, 3, 25, 2), np.float32)
    color[0, ..., 0] = 900 + np.arange(25) * 4
    color[0, ..., 1] = 500 + np.arange(25) * 8
    present = np.array([[True, True, False], [False, False, False]])
    kps = ntu_color_to_coco2d(color, present)
    assert np.isnan(kps[1]).all() and np.isnan(kps[0, 2]).all() and np.isfinite(kps[0, :2]).all()
    hm = ntu_heatmaps(color, present)  # person-box crop, 56 x 56
    assert hm.shape == (17, 3, 56, 56) and hm[:, 2].max() == 0
    peaks = [_peak(hm[j, 0]) for j in range(17)]
    # the union box is square and covers every joint: all peaks inside the map, ordered like the joints
    assert all(0 <= u < 56 and 0 <= v < 56 for u, v in peaks)
    assert hm[:, 0].max() == pytest.approx(1.0, abs=0.35)
    full = ntu_heatmaps(color, present, box=None)
    assert full.shape == (17, 3, 56, 56)


def _read_ntu_skeleton(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimal reader for the test: first body's xyz, depth_xy, color_xy as (1, T, 25, *)."""
    lines = path.read_text().split()
    pos = 0

    def nxt() -> str:
        nonlocal pos
        pos += 1
        return lines[pos - 1]

    frames = int(nxt())
    xyz, dxy, cxy = (np.zeros((1, frames, 25, k), np.float32) for k in (3, 2, 2))
    for f in range(frames):
        for b in range(int(nxt())):
            pos += 10
            for j in range(int(nxt())):
                vals = [float(nxt()) for _ in range(12)]
                if b == 0:
                    xyz[0, f, j], dxy[0, f, j], cxy[0, f, j] = vals[0:3], vals[3:5], vals[5:7]
    return xyz, dxy, cxy


@pytest.mark.real
def test_projection_matches_real_ntu_depth_coordinates(real_samples: Path) -> None:
    path = real_samples / "ntu" / "nturgbd_skeletons" / "S001C001P001R001A011.skeleton"
    xyz, depth_xy, color_xy = _read_ntu_skeleton(path)
    uv = project_ntu_to_coco2d(xyz, (366.3, 366.3, 256.4, 208.5))
    ref = ntu_to_coco17(depth_xy)
    err = np.linalg.norm(uv - ref, axis=-1)
    assert np.nanmedian(err) < 2.0, f"median reprojection error {np.nanmedian(err):.2f} px"
    hm = ntu_heatmaps(color_xy)
    assert hm.shape == (17, xyz.shape[1], 56, 56) and hm.max() > 0.5
