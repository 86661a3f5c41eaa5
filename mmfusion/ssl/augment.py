"""Batched, seeded skeleton augmentations for the contrastive objectives (AimCLR / HiCLR / HaLP / MS-CLR).

Every op maps a batch ``(N, C, T, V, M)`` to a batch of the same shape (``CropResize`` changes T
to its ``window``), draws one set of random parameters **per sample** from an explicit
``torch.Generator`` (the official code draws them per sample in the data loader), and runs on the
batch's device: the random numbers are drawn on the generator's device and moved, so a CPU
generator drives a CUDA batch and the same seed gives the same views on both.

2-D skeletons (C = 2, e.g. the projected conventions MS-CLR pairs): :class:`Shear` and :class:`Rotate`
use the top-left 2 x 2 block of their 3-D matrix (ours; the official code is 3-D only).

Ops (official ``Levigty/AimCLR`` / ``JHang2020/HiCLR`` ``feeder/tools.py`` semantics, re-implemented):

* :class:`Shear` ``(r=0.5)``: ``x' = S x`` over C with ``S = [[1, a0, b0], [a1, 1, b1], [a2, b2, 1]]``,
  every ``a, b ~ U(-r, r)``.
* :class:`TemporalCrop` ``(padding_ratio=6)``: pad ``T // ratio`` frames at both ends by mirroring
  (the edge frame repeats: ``[x2, x1, x0 | x0 ... x_{T-1} | x_{T-1}, ...]``) and cut T frames at a
  start drawn from ``[0, 2 * pad]``.
* :class:`CropResize` ``(ratio=(0.1, 1.0), window=64)``: the HaLP / CTR-GCN ``valid_crop_resize``:
  a random crop of ``ratio * valid_length`` frames (valid = up to the last non-zero frame), linearly
  resized to ``window`` frames (``F.interpolate(mode="linear", align_corners=False)`` per sample).
* :class:`SpatialFlip` ``(layout, p=0.5)``: joints permuted by the layout's left/right flip map
  (on ``ntu25`` exactly AimCLR's ``transform_order['ntu']``).
* :class:`Rotate` ``(main=30, other=1 degrees)``: one main axis drawn from {x, y, z} gets an angle
  ``U(0, main)``, the two others ``U(0, other)``; the rotations are applied x, then y, then z with
  the official matrices (``x' = R x``, ``Rx = [[1,0,0],[0,c,s],[0,-s,c]]`` ...).
* :class:`GaussNoise` ``(std=0.01, p=0.5)``; :class:`TimeFlip` ``(p=0.5)``: reverse the T axis;
  :class:`AxisMask` ``(p=0.5)``: zero one channel drawn from the first three.
* :class:`GaussBlur` ``(kernel=15, sigma=(0.1, 2), p=0.5)``: temporal convolution with zero padding
  and the official **un-normalised** kernel ``exp(-k^2 / (2 sigma^2))`` (its sum grows with sigma,
  so the blur also scales the sequence; ``normalize=True`` divides by the sum).
* :class:`JointMask` ``(ratio=0.1)``: HiCLR's ``Jointmask``: in every frame ``int(V * ratio)``
  joints are hidden and replaced by a token, a learnable scalar (``learnable=True``: HiCLR's
  ``mask_param``, initialised at 0) or 0; as in the official code one (T, V) mask is shared by the
  batch and the persons (``per_sample=True`` draws one per sample).
* :func:`feeder_random_rot` ``(max_angle=0.3 rad)``: the CTR-GCN feeder's ``random_rot`` (MAMP,
  STARS and CascadeFormer train on it): angles about x, y, z drawn from ``U[-max, max]``,
  ``R = Rz Ry Rx`` shared by all frames and persons; its numbers come from (seed, step, index)
  (:mod:`mmfusion.ssl.seeding`) instead of a generator, as these objectives' masks do.

Presets (:func:`preset`): ``"basic"`` = temporal crop 6 + shear 0.5 (AimCLR's normal view);
``"strong"`` = basic + flip, rotate, noise, blur, axis mask, time flip (AimCLR's extreme view,
``aug_method='123456'``); ``"strongest"`` = strong + joint mask 0.1 with a learnable token (HiCLR);
``"halp"`` = crop-resize (0.1-1) to 64 frames + one of shear 0.5 / joint mask 0.1 at random (HaLP's
intra-skeleton views, ours: HaLP's joint corruption replaced by the joint mask); ``"none"``.

Example: ``aug = preset("strong", layout="ntu25"); view = aug(x, torch.Generator().manual_seed(0))``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.layouts import SkeletonLayout, get_layout
from ..errors import ConfigError
from .seeding import sample_uniform

__all__ = ["AxisMask", "Compose", "CropResize", "GaussBlur", "GaussNoise", "JointMask", "OneOf", "PRESETS",
           "Rotate", "Shear", "SkeletonAug", "SpatialFlip", "TemporalCrop", "TimeFlip", "feeder_random_rot", "preset",
           "random_rotation"]


def _rand(g: torch.Generator, *shape: int, like: Tensor) -> Tensor:
    """U(0, 1) of ``shape`` drawn on the generator's device, returned on ``like``'s device / dtype."""
    return torch.rand(shape, generator=g, device=g.device).to(device=like.device, dtype=like.dtype)


def _check(x: Tensor, who: str) -> tuple[int, int, int, int, int]:
    if not isinstance(x, Tensor) or x.ndim != 5:
        raise ConfigError(f"augment.{who}: expected a skeleton batch (N, C, T, V, M), got "
                          f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}")
    return tuple(x.shape)  # type: ignore[return-value]


def _bernoulli(g: torch.Generator, n: int, p: float, like: Tensor) -> Tensor:
    """(N,) bool: which samples an op with probability ``p`` touches."""
    return _rand(g, n, like=like) < p


class SkeletonAug(nn.Module):
    """Base of the ops: ``forward(x (N, C, T, V, M), g) -> (N, C, T', V, M)``."""

    def forward(self, x: Tensor, g: torch.Generator) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class Shear(SkeletonAug):
    """Per-sample shear ``x' = S x`` over the first three channels (AimCLR ``shear``)."""

    def __init__(self, r: float = 0.5) -> None:
        super().__init__()
        self.r = r

    def forward(self, x: Tensor, g: torch.Generator) -> Tensor:
        n, c, *_ = _check(x, "Shear")
        if c not in (2, 3):
            raise ConfigError(f"augment.Shear: needs C=3 (xyz) or C=2 (xy), got C={c}")
        off = (_rand(g, n, 2, 3, like=x) * 2 - 1) * self.r  # s1 (row 0) and s2 (row 1) of the official code
        s = torch.eye(3, device=x.device, dtype=x.dtype).repeat(n, 1, 1)
        s[:, 0, 1], s[:, 1, 0], s[:, 2, 0] = off[:, 0, 0], off[:, 0, 1], off[:, 0, 2]
        s[:, 0, 2], s[:, 1, 2], s[:, 2, 1] = off[:, 1, 0], off[:, 1, 1], off[:, 1, 2]
        return torch.einsum("nij,njtvm->nitvm", s[:, :c, :c], x)


class TemporalCrop(SkeletonAug):
    """Mirror-pad ``T // padding_ratio`` frames at both ends, crop T at a random start (AimCLR ``temperal_crop``)."""

    def __init__(self, padding_ratio: int = 6) -> None:
        super().__init__()
        if padding_ratio < 1:
            raise ConfigError(f"augment.TemporalCrop: padding_ratio must be >= 1, got {padding_ratio}")
        self.padding_ratio = padding_ratio

    def forward(self, x: Tensor, g: torch.Generator) -> Tensor:
        n, c, t, v, m = _check(x, "TemporalCrop")
        pad = t // self.padding_ratio
        if pad == 0:
            return x
        start = (_rand(g, n, like=x.float()) * (2 * pad + 1)).floor().long().clamp_max(2 * pad)
        src = start[:, None] + torch.arange(t, device=x.device)[None] - pad  # index into the original
        src = torch.where(src < 0, -src - 1, src)
        src = torch.where(src >= t, 2 * t - 1 - src, src)
        return torch.gather(x, 2, src.view(n, 1, t, 1, 1).expand(n, c, t, v, m))


class CropResize(SkeletonAug):
    """Random crop of ``U(ratio) * valid_length`` frames, linearly resized to ``window`` frames.

    ``valid_length`` is one past the last frame with a non-zero value (zero-padded clips);
    the crop keeps at least ``min_frames`` frames (CTR-GCN's 64 is clamped to the valid length).
    """

    def __init__(self, ratio: tuple[float, float] = (0.1, 1.0), window: int = 64, min_frames: int = 1) -> None:
        super().__init__()
        lo, hi = ratio
        if not 0 < lo <= hi <= 1:
            raise ConfigError(f"augment.CropResize: ratio must satisfy 0 < lo <= hi <= 1, got {ratio}")
        self.ratio, self.window, self.min_frames = (lo, hi), window, min_frames

    def forward(self, x: Tensor, g: torch.Generator) -> Tensor:
        n, c, t, v, m = _check(x, "CropResize")
        nonzero = x.abs().flatten(3).sum(dim=(1, 3)) > 0  # (N, T)
        idx = torch.arange(1, t + 1, device=x.device)
        valid = (nonzero * idx).amax(dim=1).clamp_min(1).float()  # (N,)
        lo, hi = self.ratio
        p = lo + (hi - lo) * _rand(g, n, like=valid)
        length = torch.minimum(torch.maximum((p * valid).floor(), torch.full_like(valid, self.min_frames)), valid)
        offset = ((valid - length + 1) * _rand(g, n, like=valid)).floor().clamp_max(valid - length)
        # align_corners=False sampling of `window` points over [offset, offset + length)
        w = self.window
        pos = offset[:, None] + (torch.arange(w, device=x.device) + 0.5)[None] * (length / w)[:, None] - 0.5
        pos = torch.minimum(pos.clamp_min(0), (offset + length - 1)[:, None])
        i0 = pos.floor().long()
        i1 = torch.minimum(i0 + 1, (offset + length - 1).long()[:, None])
        frac = (pos - i0.float()).to(x.dtype).view(n, 1, w, 1, 1)

        def take(i: Tensor) -> Tensor:
            return torch.gather(x, 2, i.view(n, 1, w, 1, 1).expand(n, c, w, v, m))

        return take(i0) * (1 - frac) + take(i1) * frac


class SpatialFlip(SkeletonAug):
    """Left/right joint swap by the layout's flip map, with probability ``p`` per sample."""

    def __init__(self, layout: str | SkeletonLayout = "ntu25", p: float = 0.5) -> None:
        super().__init__()
        self.layout = get_layout(layout)
        self.p = p
        self.register_buffer("perm", torch.tensor(self.layout.flip, dtype=torch.long), persistent=False)

    def forward(self, x: Tensor, g: torch.Generator) -> Tensor:
        n, c, t, v, m = _check(x, "SpatialFlip")
        if v != self.layout.num_joints:
            raise ConfigError(f"augment.SpatialFlip: layout {self.layout.name} has {self.layout.num_joints} "
                              f"joints, batch has V={v}")
        hit = _bernoulli(g, n, self.p, x).view(n, 1, 1, 1, 1)
        return torch.where(hit, x.index_select(3, self.perm.to(x.device)), x)


def _axis_rotation(axis: int, angle: Tensor) -> Tensor:
    """(N,) angles -> (N, 3, 3) official rotation matrices (``x' = R x``) about x (0), y (1) or z (2)."""
    c, s = torch.cos(angle), torch.sin(angle)
    o, z = torch.ones_like(angle), torch.zeros_like(angle)
    rows = {0: ((o, z, z), (z, c, s), (z, -s, c)),
            1: ((c, z, -s), (z, o, z), (s, z, c)),
            2: ((c, s, z), (-s, c, z), (z, z, o))}[axis]
    return torch.stack([torch.stack(r, dim=-1) for r in rows], dim=-2)


def random_rotation(angles: Tensor) -> Tensor:
    """(N, 3) angles (rad) about x, y, z -> (N, 3, 3) matrices ``Rz @ Ry @ Rx`` (CTR-GCN ``tools.rot``)."""
    cx, cy, cz = torch.cos(angles).unbind(-1)
    sx, sy, sz = torch.sin(angles).unbind(-1)
    one, zero = torch.ones_like(cx), torch.zeros_like(cx)
    rx = torch.stack([one, zero, zero, zero, cx, sx, zero, -sx, cx], -1).view(-1, 3, 3)
    ry = torch.stack([cy, zero, -sy, zero, one, zero, sy, zero, cy], -1).view(-1, 3, 3)
    rz = torch.stack([cz, sz, zero, -sz, cz, zero, zero, zero, one], -1).view(-1, 3, 3)
    return rz @ ry @ rx


def feeder_random_rot(x: Tensor, max_angle: float, seed: int, step: int, index: Tensor, stream: int = 1) -> Tensor:
    """CTR-GCN's ``random_rot`` on a batch (N, 3, T, V, M): one rotation per sample, angles
    ``U[-max_angle, max_angle]`` about x, y, z from (seed, step, index); identity when ``max_angle <= 0``
    or C != 3 (2-D skeletons are left as they are)."""
    if max_angle <= 0 or x.shape[1] != 3:
        return x
    u = sample_uniform(seed, step, index, (3,), x.device, stream=stream)
    rot = random_rotation((2 * u - 1) * max_angle).to(x.dtype)
    return torch.einsum("nij,njtvm->nitvm", rot, x)


class Rotate(SkeletonAug):
    """AimCLR ``random_rotate``: main axis ``U(0, main)`` degrees, the others ``U(0, other)``; x, y, z in turn."""

    def __init__(self, main: float = 30.0, other: float = 1.0) -> None:
        super().__init__()
        self.main, self.other = main, other

    def forward(self, x: Tensor, g: torch.Generator) -> Tensor:
        n, c, *_ = _check(x, "Rotate")
        if c not in (2, 3):
            raise ConfigError(f"augment.Rotate: needs C=3 (xyz) or C=2 (xy), got C={c}")
        main_axis = (_rand(g, n, like=x.float()) * 3).floor().long().clamp_max(2)
        u = _rand(g, n, 3, like=x)
        r = torch.eye(3, device=x.device, dtype=x.dtype).repeat(n, 1, 1)
        for axis in range(3):
            deg = torch.where(main_axis == axis, u[:, axis] * self.main, u[:, axis] * self.other)
            r = _axis_rotation(axis, torch.deg2rad(deg)) @ r
        return torch.einsum("nij,njtvm->nitvm", r[:, :c, :c], x)


class GaussNoise(SkeletonAug):
    """Add N(0, std^2) noise to every value of a sample, with probability ``p`` per sample."""

    def __init__(self, std: float = 0.01, p: float = 0.5) -> None:
        super().__init__()
        self.std, self.p = std, p

    def forward(self, x: Tensor, g: torch.Generator) -> Tensor:
        n = _check(x, "GaussNoise")[0]
        hit = _bernoulli(g, n, self.p, x).view(n, 1, 1, 1, 1)
        noise = torch.randn(x.shape, generator=g, device=g.device).to(device=x.device, dtype=x.dtype)
        return torch.where(hit, x + self.std * noise, x)


class GaussBlur(SkeletonAug):
    """Temporal Gaussian filter (zero padding), sigma ``U(sigma)`` per sample, probability ``p``.

    ``normalize=False`` keeps the official un-normalised kernel (see the module docstring).
    """

    def __init__(self, kernel: int = 15, sigma: tuple[float, float] = (0.1, 2.0), p: float = 0.5,
                 normalize: bool = False) -> None:
        super().__init__()
        if kernel % 2 != 1:
            raise ConfigError(f"augment.GaussBlur: kernel must be odd, got {kernel}")
        self.kernel, self.sigma, self.p, self.normalize = kernel, sigma, p, normalize

    def forward(self, x: Tensor, g: torch.Generator) -> Tensor:
        n, c, t, v, m = _check(x, "GaussBlur")
        lo, hi = self.sigma
        sigma = lo + (hi - lo) * _rand(g, n, like=x)
        hit = _bernoulli(g, n, self.p, x).view(n, 1, 1, 1, 1)
        radius = self.kernel // 2
        k = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
        w = torch.exp(-k[None] ** 2 / (2 * sigma[:, None] ** 2))  # (N, K)
        if self.normalize:
            w = w / w.sum(dim=1, keepdim=True)
        xp = F.pad(x.permute(0, 1, 3, 4, 2), (radius, radius))  # (N, C, V, M, T + 2r)
        windows = xp.unfold(-1, self.kernel, 1)  # (N, C, V, M, T, K)
        y = torch.einsum("ncvmtk,nk->nctvm", windows, w)
        return torch.where(hit, y, x)


class AxisMask(SkeletonAug):
    """Zero one of the first three channels (drawn per sample), with probability ``p`` per sample."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor, g: torch.Generator) -> Tensor:
        n, c, *_ = _check(x, "AxisMask")
        axis = (_rand(g, n, like=x.float()) * 3).floor().long().clamp_max(min(c, 3) - 1)
        hit = _bernoulli(g, n, self.p, x)
        keep = torch.ones(n, c, device=x.device, dtype=x.dtype)
        keep[torch.arange(n, device=x.device)[hit], axis[hit]] = 0
        return x * keep.view(n, c, 1, 1, 1)


class TimeFlip(SkeletonAug):
    """Reverse the T axis with probability ``p`` per sample."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor, g: torch.Generator) -> Tensor:
        n = _check(x, "TimeFlip")[0]
        hit = _bernoulli(g, n, self.p, x).view(n, 1, 1, 1, 1)
        return torch.where(hit, x.flip(2), x)


class JointMask(SkeletonAug):
    """HiCLR ``Jointmask``: ``int(V * ratio)`` joints per frame replaced by a (learnable) token.

    Shapes: (N, C, T, V, M) -> same; :meth:`mask` gives the (N or 1, 1, T, V, 1) keep-mask (1 = kept).
    """

    def __init__(self, ratio: float = 0.1, learnable: bool = False, per_sample: bool = False) -> None:
        super().__init__()
        if not 0 <= ratio < 1:
            raise ConfigError(f"augment.JointMask: ratio must be in [0, 1), got {ratio}")
        self.ratio, self.per_sample = ratio, per_sample
        self.token = nn.Parameter(torch.zeros(1)) if learnable else None

    def mask(self, x: Tensor, g: torch.Generator) -> Tensor:
        n, _, t, v, _ = _check(x, "JointMask")
        rows = n if self.per_sample else 1
        k = int(v * self.ratio)
        # k joints per frame without replacement: the k smallest of V uniform draws
        order = _rand(g, rows, t, v, like=x.float()).argsort(dim=-1)
        keep = torch.ones(rows, t, v, device=x.device, dtype=x.dtype)
        keep.scatter_(-1, order[..., :k], 0.0)
        return keep.view(rows, 1, t, v, 1)

    def forward(self, x: Tensor, g: torch.Generator) -> Tensor:
        keep = self.mask(x, g)
        token = self.token.to(x.dtype) if self.token is not None else x.new_zeros(1)
        return x * keep + token * (1 - keep)


class Compose(SkeletonAug):
    """Ops applied in order, all from the same generator."""

    def __init__(self, ops: Sequence[SkeletonAug]) -> None:
        super().__init__()
        self.ops = nn.ModuleList(ops)

    def forward(self, x: Tensor, g: torch.Generator) -> Tensor:
        for op in self.ops:
            x = op(x, g)
        return x


class OneOf(SkeletonAug):
    """One op drawn uniformly per sample (every op runs on the whole batch; samples pick their result)."""

    def __init__(self, ops: Sequence[SkeletonAug]) -> None:
        super().__init__()
        if not ops:
            raise ConfigError("augment.OneOf: needs at least one op")
        self.ops = nn.ModuleList(ops)

    def forward(self, x: Tensor, g: torch.Generator) -> Tensor:
        n = _check(x, "OneOf")[0]
        choice = (_rand(g, n, like=x.float()) * len(self.ops)).floor().long().clamp_max(len(self.ops) - 1)
        outs = [op(x, g) for op in self.ops]
        y = outs[0]
        for i, out in enumerate(outs[1:], start=1):
            y = torch.where((choice == i).view(n, 1, 1, 1, 1), out, y)
        return y


def _basic() -> list[SkeletonAug]:
    return [TemporalCrop(6), Shear(0.5)]


def _strong(layout: str | SkeletonLayout) -> list[SkeletonAug]:
    return [*_basic(), SpatialFlip(layout), Rotate(), GaussNoise(), GaussBlur(), AxisMask(), TimeFlip()]


#: preset name -> what it is (see :func:`preset`)
PRESETS: dict[str, str] = {
    "none": "identity",
    "basic": "temporal crop (padding ratio 6) + shear 0.5: AimCLR / HiCLR normal view",
    "strong": "basic + spatial flip, rotate, Gaussian noise, Gaussian blur, axis mask, time flip: AimCLR extreme view",
    "strongest": "strong + joint mask 0.1 with a learnable token: HiCLR's third branch",
    "halp": "crop-resize (0.1-1.0) to `window` frames + one of shear 0.5 / joint mask 0.1: HaLP-style views",
}


def preset(name: str, layout: str | SkeletonLayout = "ntu25", window: int = 64) -> Compose:
    """A named pipeline (:data:`PRESETS`); ``layout`` drives the flip map, ``window`` the crop-resize length."""
    if name == "none":
        return Compose([])
    if name == "basic":
        return Compose(_basic())
    if name == "strong":
        return Compose(_strong(layout))
    if name == "strongest":
        return Compose([*_strong(layout), JointMask(0.1, learnable=True)])
    if name == "halp":
        return Compose([CropResize((0.1, 1.0), window), OneOf([Shear(0.5), JointMask(0.1, per_sample=True)])])
    raise ConfigError(f"augment: unknown preset {name!r}; choose from {sorted(PRESETS)}")

