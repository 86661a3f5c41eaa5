"""The batched skeleton augmentations: each op on a small hand case, and determinism under a seed."""

from __future__ import annotations

import math

import pytest
import torch

from mmfusion.errors import ConfigError
from mmfusion.ssl import augment as A


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _ramp(n: int = 2, c: int = 3, t: int = 6, v: int = 25, m: int = 1) -> torch.Tensor:
    return torch.arange(n * c * t * v * m, dtype=torch.float32).view(n, c, t, v, m)


def test_shear_is_the_official_matrix_times_the_coordinates() -> None:
    x = torch.randn(3, 3, 4, 5, 2)
    g = _gen(1)
    y = A.Shear(0.5)(x, g)
    off = (torch.rand((3, 2, 3), generator=_gen(1)) * 2 - 1) * 0.5
    for i in range(3):
        s1, s2 = off[i, 0], off[i, 1]
        r = torch.tensor([[1, s1[0], s2[0]], [s1[1], 1, s2[1]], [s1[2], s2[2], 1]])
        torch.testing.assert_close(y[i], torch.einsum("ij,jtvm->itvm", r, x[i]))
        assert (r - torch.eye(3)).abs().max() <= 0.5


def test_temporal_crop_mirrors_the_edges() -> None:
    t = 12  # pad = 2: padded order 1 0 | 0 .. 11 | 11 10
    x = torch.arange(t, dtype=torch.float32).view(1, 1, t, 1, 1).repeat(64, 1, 1, 1, 1)
    y = A.TemporalCrop(6)(x, _gen())[:, 0, :, 0, 0]
    padded = torch.tensor([1.0, 0, *range(t), 11, 10])
    starts = set()
    for row in y:
        s = [k for k in range(5) if torch.equal(padded[k:k + t], row)]
        assert s, row
        starts.add(s[0])
    assert starts == {0, 1, 2, 3, 4}  # every start of [0, 2 * pad] occurs over 64 samples


def test_crop_resize_ratio_one_is_the_identity_and_resizes_linearly() -> None:
    x = torch.arange(8, dtype=torch.float32).view(1, 1, 8, 1, 1) + 1
    same = A.CropResize((1.0, 1.0), window=8)(x, _gen())
    torch.testing.assert_close(same, x)
    up = A.CropResize((1.0, 1.0), window=16)(x, _gen())[0, 0, :, 0, 0]
    ref = torch.nn.functional.interpolate(x[0, :, :, 0, 0][None], size=16, mode="linear", align_corners=False)[0, 0]
    torch.testing.assert_close(up, ref)
    # zero-padded tail: the crop stays inside the valid frames
    z = torch.zeros(1, 1, 10, 1, 1)
    z[0, 0, :4] = 5.0
    assert torch.all(A.CropResize((0.5, 1.0), window=6)(z, _gen()) == 5.0)


def test_spatial_flip_uses_the_layout_map_and_matches_aimclr_on_ntu() -> None:
    aimclr = [0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 16, 17, 18, 19, 12, 13, 14, 15, 20, 23, 24, 21, 22]
    x = _ramp(n=1)
    y = A.SpatialFlip("ntu25", p=1.0)(x, _gen())
    torch.testing.assert_close(y, x[:, :, :, aimclr])
    assert torch.equal(A.SpatialFlip("ntu25", p=0.0)(x, _gen()), x)
    with pytest.raises(ConfigError, match="25 joints"):
        A.SpatialFlip("ntu25")(torch.zeros(1, 3, 2, 17, 1), _gen())


def test_rotation_by_hand_about_one_axis() -> None:
    x = torch.tensor([0.0, 1.0, 0.0]).view(1, 3, 1, 1, 1)
    rot = A.Rotate(main=90.0, other=0.0)
    seen = set()
    for seed in range(12):
        y = rot(x, _gen(seed))[0, :, 0, 0, 0]
        ref = _gen(seed)  # the op's draws, in its order: the main axis, then three angles
        main = int(math.floor(float(torch.rand((1,), generator=ref)) * 3))
        u = torch.rand((1, 3), generator=ref)[0]
        theta = math.radians(float(u[main]) * 90.0)
        # official matrices, x' = R x: (0, 1, 0) about x -> (0, c, -s); about y -> itself; about z -> (s, c, 0)
        expect = {0: (0.0, math.cos(theta), -math.sin(theta)), 1: (0.0, 1.0, 0.0),
                  2: (math.sin(theta), math.cos(theta), 0.0)}[main]
        torch.testing.assert_close(y, torch.tensor(expect), atol=1e-6, rtol=0)
        seen.add(main)
    assert seen == {0, 1, 2}
    # rotations keep lengths
    z = torch.randn(4, 3, 5, 6, 2)
    torch.testing.assert_close(A.Rotate()(z, _gen()).norm(dim=1), z.norm(dim=1))


def test_feeder_random_rot_by_hand() -> None:
    # CTR-GCN's rot(): R = Rz Ry Rx with x' = R x; a quarter turn about z alone sends (1, 0, 0) to (0, -1, 0)
    r = A.random_rotation(torch.tensor([[0.0, 0.0, math.pi / 2]]))[0]
    torch.testing.assert_close(r @ torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, -1.0, 0.0]), atol=1e-6, rtol=0)
    # about x: (0, 1, 0) -> (0, c, -s), as the AimCLR matrix of the same axis
    a = 0.25
    torch.testing.assert_close(A.random_rotation(torch.tensor([[a, 0.0, 0.0]]))[0] @ torch.tensor([0.0, 1.0, 0.0]),
                               torch.tensor([0.0, math.cos(a), -math.sin(a)]))
    x = torch.randn(3, 3, 4, 5, 2)
    idx = torch.tensor([5, 9, 11])
    y = A.feeder_random_rot(x, 0.3, seed=1, step=2, index=idx)
    # one rigid rotation per sample, shared by frames, joints and persons, within +-0.3 rad per axis
    for i in range(3):
        pts = x[i].permute(1, 2, 3, 0).reshape(-1, 3)
        got = y[i].permute(1, 2, 3, 0).reshape(-1, 3)
        sol = torch.linalg.lstsq(pts, got).solution.T  # got = pts @ R^T
        torch.testing.assert_close(sol @ sol.T, torch.eye(3), atol=1e-4, rtol=0)
        assert float(torch.linalg.det(sol)) > 0
        assert float((sol - torch.eye(3)).abs().max()) < 0.6
    # per sample: the same index gives the same rotation in any batch; 0 or 2-D leaves x as is
    torch.testing.assert_close(A.feeder_random_rot(x[1:2], 0.3, 1, 2, idx[1:2]), y[1:2])
    assert not torch.allclose(A.feeder_random_rot(x, 0.3, 1, 3, idx), y)
    assert A.feeder_random_rot(x, 0.0, 1, 2, idx) is x
    torch.testing.assert_close(A.feeder_random_rot(x[:, :2], 0.3, 1, 2, idx), x[:, :2])


def test_noise_time_flip_axis_mask_with_probability_one_and_zero() -> None:
    x = _ramp()
    assert torch.equal(A.GaussNoise(p=0.0)(x, _gen()), x)
    d = A.GaussNoise(std=0.01, p=1.0)(x, _gen()) - x
    assert 0.005 < float(d.std()) < 0.02
    torch.testing.assert_close(A.TimeFlip(p=1.0)(x, _gen()), x.flip(2))
    y = A.AxisMask(p=1.0)(x, _gen())
    zeroed = (y.abs().sum(dim=(2, 3, 4)) == 0)  # (N, C)
    assert zeroed.sum(dim=1).tolist() == [1, 1]
    kept = ~zeroed
    assert torch.equal(y[kept], x[kept])


def test_gauss_blur_is_the_unnormalised_official_kernel() -> None:
    t = 9
    x = torch.zeros(1, 1, t, 1, 1)
    x[0, 0, 4] = 1.0  # an impulse returns the kernel
    blur = A.GaussBlur(kernel=5, sigma=(1.0, 1.0), p=1.0)
    y = blur(x, _gen())[0, 0, :, 0, 0]
    k = torch.exp(-torch.arange(-2.0, 3.0) ** 2 / 2)
    expect = torch.zeros(t)
    expect[2:7] = k
    torch.testing.assert_close(y, expect)
    yn = A.GaussBlur(kernel=5, sigma=(1.0, 1.0), p=1.0, normalize=True)(x, _gen())
    torch.testing.assert_close(yn.sum(), torch.tensor(1.0))


def test_joint_mask_hides_the_same_count_per_frame_and_uses_the_token() -> None:
    x = torch.ones(2, 3, 4, 20, 2)
    jm = A.JointMask(0.1, learnable=True)
    with torch.no_grad():
        jm.token.fill_(-7.0)
    y = jm(x, _gen())
    hidden = (y == -7.0).all(dim=1)  # (N, T, V, M)
    assert hidden.sum(dim=2).unique().tolist() == [2]  # int(20 * 0.1) joints per frame
    assert torch.equal(hidden[0], hidden[1]) and torch.equal(hidden[..., 0], hidden[..., 1])  # official: shared
    y.sum().backward()
    assert jm.token.grad is not None and float(jm.token.grad) == hidden.sum() * 3
    per = A.JointMask(0.5, per_sample=True)(torch.ones(8, 1, 3, 10, 1), _gen())
    assert not all(torch.equal(per[0], per[i]) for i in range(1, 8))


@pytest.mark.parametrize("name", sorted(A.PRESETS))
def test_presets_are_deterministic_under_a_seed(name: str) -> None:
    x = torch.randn(4, 3, 30, 25, 2)
    aug = A.preset(name, layout="ntu25", window=30)
    a, b = aug(x, _gen(5)), aug(x, _gen(5))
    assert a.shape == x.shape and torch.equal(a, b)
    if name != "none":
        assert not torch.equal(aug(x, _gen(6)), a)


def test_unknown_preset_and_bad_input_are_named() -> None:
    with pytest.raises(ConfigError, match="unknown preset"):
        A.preset("extreme")
    with pytest.raises(ConfigError, match=r"\(N, C, T, V, M\)"):
        A.Shear()(torch.zeros(3, 4, 5), _gen())


def test_two_dimensional_clips_use_the_top_left_block() -> None:
    x3 = torch.randn(3, 3, 4, 5, 1)
    x3[:, 2] = 0.0  # z = 0: the 3-D op's x, y equal the 2 x 2 block applied to (x, y)
    for op in (A.Shear(0.5), A.Rotate()):
        torch.testing.assert_close(op(x3[:, :2], _gen(4)), op(x3, _gen(4))[:, :2])
    with pytest.raises(ConfigError, match="C=2"):
        A.Shear()(torch.zeros(1, 4, 2, 3, 1), _gen())
