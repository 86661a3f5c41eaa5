"""Clip transforms: shared crop/flip across frames and modalities, keypoints follow the pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.transforms.v2 import functional as F

from mmfusion.data.layouts import COCO17, NTU25
from mmfusion.data.transforms import (
    IMAGENET_MEAN,
    ClipGeometry,
    crop_frames,
    crop_keypoints,
    depth_to_metres,
    flip_points,
    flip_skeleton,
    ir_to_float,
    normalize_rgb,
    resize_short_side,
    rgb_to_tensor,
    scale_keypoints,
    short_side_size,
    video_transform,
)


def test_test_geometry_is_central_square() -> None:
    g = ClipGeometry.sample(train=False)
    assert g.box(36, 64) == (0, 14, 36, 36)
    assert g.box(53, 64) == (0, 6, 53, 53)


def test_train_geometry_seeded_and_inside_image() -> None:
    a = ClipGeometry.sample(True, np.random.default_rng(4))
    b = ClipGeometry.sample(True, np.random.default_rng(4))
    assert a == b
    for s in range(50):
        g = ClipGeometry.sample(True, np.random.default_rng(s), scale=(0.2, 1.0))
        for h, w in ((36, 64), (424, 512)):
            top, left, bh, bw = g.box(h, w)
            assert top >= 0 and top + bh <= h and left >= 0 and left + bw <= w and bh >= 1 and bw >= 1
            assert bh * bw <= 1.05 * h * w


def test_same_crop_for_every_frame() -> None:
    frame = torch.randint(0, 255, (3, 36, 64), dtype=torch.uint8)
    clip = frame[None].repeat(4, 1, 1, 1)
    g = ClipGeometry.sample(True, np.random.default_rng(1), flip_prob=1.0)
    out = crop_frames(clip, g, 16)
    assert out.shape == (4, 3, 16, 16) and out.dtype == torch.uint8
    for t in range(1, 4):
        assert torch.equal(out[t], out[0])
    top, left, bh, bw = g.box(36, 64)
    ref = F.horizontal_flip(F.resized_crop(frame, top, left, bh, bw, [16, 16], antialias=True))
    assert torch.equal(out[0], ref)


@pytest.mark.parametrize("train", [False, True])
def test_keypoints_follow_the_pixels(train: bool) -> None:
    h, w = 40, 60
    rng = np.random.default_rng(0)
    pts = np.stack([rng.integers(15, 45, 5), rng.integers(10, 30, 5)], -1).astype(np.float32)  # (V=5, 2) u, v
    g = ClipGeometry(train=train, scale=0.4, log_ratio=0.0, cy=0.5, cx=0.5, flip=train)
    for j, (u, v) in enumerate(pts):
        img = torch.zeros(1, 1, h, w)
        img[0, 0, int(v), int(u)] = 1.0
        out = crop_frames(img, g, 64, interpolation=F.InterpolationMode.NEAREST)[0, 0]
        kp = crop_keypoints(pts[None], (h, w), g, 64)[0, j]
        ys, xs = torch.nonzero(out, as_tuple=True)
        assert len(xs) > 0
        # the predicted point lies inside the block the pixel was upsampled to
        assert xs.min() - 1 <= kp[0] <= xs.max() + 1 and ys.min() - 1 <= kp[1] <= ys.max() + 1


def test_flip_swaps_keypoint_joints() -> None:
    kps = np.zeros((1, 1, 17, 2), np.float32)
    kps[..., 0] = np.arange(17)
    g = ClipGeometry(flip=True)
    out = crop_keypoints(kps, (17, 17), g, 17, flip_index=COCO17.flip)
    # left wrist (9) takes the mirrored position of right wrist (10)
    assert out[0, 0, 9, 0] == pytest.approx(16 - 10)
    assert out[0, 0, 0, 0] == pytest.approx(16 - 0)


def test_flip_skeleton_and_points() -> None:
    x = np.random.default_rng(0).standard_normal((2, 3, 25, 3)).astype(np.float32)
    y = flip_skeleton(x, NTU25)
    hl, hr = NTU25.joints.index("HandLeft"), NTU25.joints.index("HandRight")
    np.testing.assert_allclose(y[..., hl, 0], -x[..., hr, 0])
    np.testing.assert_allclose(y[..., hl, 1:], x[..., hr, 1:])
    np.testing.assert_allclose(flip_skeleton(y, NTU25), x)
    p = np.ones((2, 4, 3), np.float32)
    assert flip_points(p)[..., 0].tolist() == [[-1.0] * 4] * 2


def test_value_scaling() -> None:
    d = np.array([[[0, 1500, 9000]]], np.uint16)
    out = depth_to_metres(d)
    assert out.shape == (1, 1, 1, 3) and out.flatten().tolist() == pytest.approx([0.0, 1.5, 8.0])
    assert depth_to_metres(d, depth_scale=4.0).flatten().tolist() == pytest.approx([0.0, 0.375, 2.0])
    ir = np.array([[[0, 255]]], np.uint8)
    assert ir_to_float(ir).flatten().tolist() == [0.0, 1.0]
    frames = np.zeros((2, 4, 4, 3), np.uint8)
    frames[..., 0] = round(IMAGENET_MEAN[0] * 255)
    x = normalize_rgb(rgb_to_tensor(frames))
    assert x.shape == (3, 2, 4, 4) and x.dtype == torch.float32
    assert abs(float(x[0].mean())) < 0.01 and float(x[1].mean()) < -1.5


def test_resize_short_side() -> None:
    assert short_side_size(1080, 1920, 112) == (112, 199)
    assert short_side_size(424, 512, 112) == (112, 135)
    rgb = np.random.default_rng(0).integers(0, 255, (3, 36, 64, 3), dtype=np.uint8)
    out = resize_short_side(rgb, 18)
    assert out.shape == (3, 18, 32, 3) and out.dtype == np.uint8
    # antialiased 2x downscale of a constant image stays constant
    assert np.all(resize_short_side(np.full((1, 36, 64), 77, np.uint8), 18) == 77)
    depth = np.random.default_rng(0).integers(500, 5000, (2, 53, 64), dtype=np.uint16)
    dd = resize_short_side(depth, 26, nearest=True)
    assert dd.dtype == np.uint16 and set(np.unique(dd)) <= set(np.unique(depth))
    assert resize_short_side(depth, None) is depth
    kp = scale_keypoints(np.array([[-0.5, -0.5], [63.5, 35.5]], np.float32), (36, 64), (18, 32))
    np.testing.assert_allclose(kp, [[-0.5, -0.5], [31.5, 17.5]])


def test_video_transform_shares_parameters() -> None:
    from torchvision import tv_tensors

    frame = torch.randint(0, 255, (3, 30, 40), dtype=torch.uint8)
    clip = tv_tensors.Video(frame[None].repeat(3, 1, 1, 1))
    out = video_transform(train=True, size=16)(clip)
    assert out.shape == (3, 3, 16, 16)
    assert torch.equal(out[0], out[1]) and torch.equal(out[1], out[2])
    assert video_transform(train=False, size=16)(clip).shape == (3, 3, 16, 16)
