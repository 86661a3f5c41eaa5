"""Clip transforms, applied identically to every frame of a clip and across modalities.

Spatial ops are ``torchvision.transforms.v2`` (functional ``resized_crop``,
``horizontal_flip``, ``normalize``), with their random parameters drawn **once per sample**
in a :class:`ClipGeometry` and applied to each modality:

* frames of one clip share the crop (a video tensor (T, C, H, W) goes through v2 in one call);
* depth and IR (same 512x424 sensor) get the same pixel box; RGB (another camera, another
  aspect) gets the box with the same relative centre, zoom and aspect; 2D keypoints follow
  the RGB box; the horizontal flip is shared by all modalities and also mirrors the 3D
  skeleton (x -> -x, left/right joints swapped with ``layout.flip``) and the point cloud;
* train: RandomResizedCrop-style (area ``scale``, aspect ``ratio``) + flip with p = 0.5;
  test: Resize(short side) + CenterCrop, i.e. the central square.

Value ranges (the dataset contract):

* rgb: uint8 (T, H, W, 3) -> float32 (3, T, S, S), ImageNet mean/std normalised;
* depth: uint16 millimetres (T, H, W) -> float32 (1, T, S, S) metres clipped to
  [0, ``max_depth``] and divided by ``depth_scale`` (default 1: metres); nearest-neighbour
  resampling so the invalid zeros around a masked person never blend into fake depths;
* ir: uint8 (or uint16) (T, H, W) -> float32 (1, T, S, S) in [0, 1] (divided by the dtype max);
* skeleton: (M, T, V, 3) metres -> (3, T, V, M); points: (T, P, 3) metres, camera frame.

2D pixel convention: pixel i has its centre at coordinate i (Kinect ``colorX/colorY``), so a
resize by s maps u -> (u + 0.5) s - 0.5 and a flip of width W maps u -> W - 1 - u.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as TF
from torchvision.transforms.v2 import functional as F

from .layouts import SkeletonLayout, get_layout

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# ---------------------------------------------------------------------------------------------
# decode-time resize (shared by the raw reader path and the packed store, so both give equal bytes)


def short_side_size(height: int, width: int, short: int | None) -> tuple[int, int]:
    """(h, w) after scaling the short side to ``short`` (aspect kept); unchanged for None."""
    if short is None:
        return height, width
    if height <= width:
        return short, max(1, int(round(width * short / height)))
    return max(1, int(round(height * short / width))), short


def resize_short_side(frames: np.ndarray, short: int | None, nearest: bool = False) -> np.ndarray:
    """Resize frames so their short side is ``short``; dtype kept.

    Args:
        frames: (T, H, W) or (T, H, W, C), uint8 or uint16.
        short: target short side, or None to return ``frames`` unchanged.
        nearest: nearest neighbour (depth); else antialiased bilinear, rounded.

    Returns:
        (T, h, w[, C]) same dtype.
    """
    if short is None:
        return frames
    t, h, w = frames.shape[:3]
    oh, ow = short_side_size(h, w, short)
    if (oh, ow) == (h, w):
        return np.ascontiguousarray(frames)
    x = torch.from_numpy(np.ascontiguousarray(frames).astype(np.float32))
    x = x.unsqueeze(1) if frames.ndim == 3 else x.permute(0, 3, 1, 2)
    if nearest:
        y = TF.interpolate(x, size=(oh, ow), mode="nearest-exact")
    else:
        y = TF.interpolate(x, size=(oh, ow), mode="bilinear", align_corners=False, antialias=True)
    y = y.squeeze(1) if frames.ndim == 3 else y.permute(0, 2, 3, 1)
    info = np.iinfo(frames.dtype)
    return y.round_().clamp_(info.min, info.max).numpy().astype(frames.dtype)


def scale_keypoints(kps: np.ndarray, src_size: tuple[int, int], dst_size: tuple[int, int]) -> np.ndarray:
    """Map pixel coordinates (..., 2) = (u, v) from an image of ``src_size`` (H, W) to ``dst_size``."""
    sy, sx = dst_size[0] / src_size[0], dst_size[1] / src_size[1]
    out = np.empty_like(kps, dtype=np.float32)
    out[..., 0] = (kps[..., 0] + 0.5) * sx - 0.5
    out[..., 1] = (kps[..., 1] + 0.5) * sy - 0.5
    return out


# ---------------------------------------------------------------------------------------------
# shared random geometry


@dataclass(frozen=True)
class ClipGeometry:
    """Random spatial parameters of one sample, shared by its modalities.

    Attributes:
        train: random resized crop (True) or central square (False).
        scale: crop area as a fraction of the image (train).
        log_ratio: log of the crop's pixel aspect w/h (train).
        cy, cx: relative crop position in [0, 1] (0 = top/left-most, 1 = bottom/right-most).
        flip: mirror horizontally.
    """

    train: bool = False
    scale: float = 1.0
    log_ratio: float = 0.0
    cy: float = 0.5
    cx: float = 0.5
    flip: bool = False

    @classmethod
    def sample(cls, train: bool, rng: np.random.Generator | None = None, scale: Sequence[float] = (0.5, 1.0),
               ratio: Sequence[float] = (3 / 4, 4 / 3), flip_prob: float = 0.5) -> ClipGeometry:
        """Draw the parameters (train) or return the deterministic test geometry."""
        if not train:
            return cls()
        rng = np.random.default_rng() if rng is None else rng
        return cls(True, float(rng.uniform(*scale)), float(rng.uniform(math.log(ratio[0]), math.log(ratio[1]))),
                   float(rng.random()), float(rng.random()), bool(rng.random() < flip_prob))

    def box(self, height: int, width: int, region: Region | None = None) -> tuple[int, int, int, int]:
        """Pixel crop box (top, left, h, w) in an image of (height, width).

        ``region`` (relative ``(y0, x0, y1, x1)``, e.g. a person box from :func:`person_region`)
        restricts the crop to that part of the image.
        """
        oy, ox = 0, 0
        if region is not None:
            y0, x0, y1, x1 = region
            oy, ox = int(round(y0 * height)), int(round(x0 * width))
            height = max(1, min(height - oy, int(round(y1 * height)) - oy))
            width = max(1, min(width - ox, int(round(x1 * width)) - ox))
        if not self.train:
            side = min(height, width)
            return oy + int(round((height - side) / 2.0)), ox + int(round((width - side) / 2.0)), side, side
        area = self.scale * height * width
        r = math.exp(self.log_ratio)
        bw = min(width, max(1, int(round(math.sqrt(area * r)))))
        bh = min(height, max(1, int(round(math.sqrt(area / r)))))
        top = int(round(self.cy * (height - bh)))
        left = int(round(self.cx * (width - bw)))
        return oy + top, ox + left, bh, bw


Region = tuple[float, float, float, float]


def person_region(pixels: np.ndarray, image_size: tuple[int, int], padding: float = 0.2) -> Region | None:
    """Relative square box ``(y0, x0, y1, x1)`` around pixel keypoints (the EPAM-Net person crop).

    Args:
        pixels: (..., 2) pixel (u, v) of the joints over a clip; rows with both coordinates 0
            (absent bodies) are ignored.
        image_size: (H, W) of the frame the pixels refer to.
        padding: added on each side, as a fraction of the box's larger side.

    Returns:
        The box, shifted (and if needed shrunk) to stay inside the image, or ``None`` when no
        joint is present (callers then crop the full frame).
    """
    h, w = image_size
    p = np.asarray(pixels, dtype=np.float64).reshape(-1, 2)
    p = p[np.isfinite(p).all(axis=1) & (np.abs(p).sum(axis=1) > 0)]
    if len(p) == 0:
        return None
    (u0, v0), (u1, v1) = p.min(axis=0), p.max(axis=0)
    side = min(max(u1 - u0, v1 - v0) * (1 + 2 * padding), h, w)
    cu = min(max((u0 + u1) / 2, side / 2), w - side / 2)
    cv = min(max((v0 + v1) / 2, side / 2), h - side / 2)
    return ((cv - side / 2) / h, (cu - side / 2) / w, (cv + side / 2) / h, (cu + side / 2) / w)


def crop_frames(frames: torch.Tensor, geom: ClipGeometry, size: int | tuple[int, int],
                interpolation: F.InterpolationMode = F.InterpolationMode.BILINEAR,
                region: Region | None = None) -> torch.Tensor:
    """Crop + resize (+ flip) every frame of a clip with one set of parameters.

    Args:
        frames: (T, C, H, W) (uint8 or float).
        size: output side S or (h, w).

    Returns:
        (T, C, h, w), same dtype.
    """
    out_hw = [size, size] if isinstance(size, int) else list(size)
    top, left, bh, bw = geom.box(frames.shape[-2], frames.shape[-1], region)
    antialias = interpolation != F.InterpolationMode.NEAREST
    out = F.resized_crop(frames, top, left, bh, bw, out_hw, interpolation=interpolation, antialias=antialias)
    return F.horizontal_flip(out) if geom.flip else out


def crop_keypoints(kps: np.ndarray, image_size: tuple[int, int], geom: ClipGeometry, size: int | tuple[int, int],
                   flip_index: Sequence[int] | None = None, joint_axis: int = -2,
                   region: Region | None = None) -> np.ndarray:
    """Apply the crop/resize/flip of :func:`crop_frames` to pixel keypoints.

    Args:
        kps: (..., V, 2) pixels (u, v) in an image of ``image_size`` (H, W).
        flip_index: joint permutation applied when flipping (``layout.flip``).

    Returns:
        (..., V, 2) float32 pixels in the output image.
    """
    oh, ow = (size, size) if isinstance(size, int) else size
    top, left, bh, bw = geom.box(*image_size, region)
    out = np.empty(kps.shape, dtype=np.float32)
    out[..., 0] = (kps[..., 0] - left + 0.5) * (ow / bw) - 0.5
    out[..., 1] = (kps[..., 1] - top + 0.5) * (oh / bh) - 0.5
    if geom.flip:
        out[..., 0] = ow - 1 - out[..., 0]
        if flip_index is not None:
            out = np.take(out, list(flip_index), axis=joint_axis)
    return out


def flip_skeleton(x: np.ndarray, layout: str | SkeletonLayout = "ntu25") -> np.ndarray:
    """Mirror 3D skeletons: x -> -x and left/right joints swapped; x is (M, T, V, 3)."""
    lay = get_layout(layout)
    out = np.take(np.asarray(x, dtype=np.float32), list(lay.flip), axis=2).copy()
    out[..., 0] *= -1
    return out


def flip_points(points: np.ndarray) -> np.ndarray:
    """Mirror a point cloud (..., 3) about the camera's Y-Z plane (x -> -x)."""
    out = np.asarray(points, dtype=np.float32).copy()
    out[..., 0] *= -1
    return out


# ---------------------------------------------------------------------------------------------
# value scaling


def rgb_to_tensor(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> uint8 (T, 3, H, W) tensor (the layout v2 ops expect)."""
    x = torch.as_tensor(np.ascontiguousarray(frames)) if isinstance(frames, np.ndarray) else frames
    return x.permute(0, 3, 1, 2)


def normalize_rgb(frames: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN,
                  std: Sequence[float] = IMAGENET_STD) -> torch.Tensor:
    """uint8/float (T, 3, H, W) -> float32 (3, T, H, W), ImageNet-normalised (uint8 scaled to [0, 1] first)."""
    x = frames.float().div_(255.0) if frames.dtype == torch.uint8 else frames.float()
    x = F.normalize(x, list(mean), list(std))
    return x.permute(1, 0, 2, 3).contiguous()


def depth_to_metres(depth: np.ndarray | torch.Tensor, max_depth: float = 8.0, depth_scale: float = 1.0
                    ) -> torch.Tensor:
    """uint16 millimetres (T, H, W) -> float32 (T, 1, H, W): metres clipped to [0, max_depth] / depth_scale."""
    d = torch.as_tensor(np.asarray(depth, dtype=np.float32)) if isinstance(depth, np.ndarray) else depth.float()
    return (d / 1000.0).clamp_(0.0, max_depth).div_(depth_scale).unsqueeze(1)


def ir_to_float(ir: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 or uint16 (T, H, W) -> float32 (T, 1, H, W) in [0, 1] (divided by the dtype maximum)."""
    arr = np.asarray(ir) if isinstance(ir, np.ndarray) else ir.numpy()
    peak = float(np.iinfo(arr.dtype).max) if np.issubdtype(arr.dtype, np.integer) else 1.0
    return torch.as_tensor(arr.astype(np.float32) / peak).unsqueeze(1)


# ---------------------------------------------------------------------------------------------
# standalone single-modality pipelines (torchvision v2 objects, for users who do not need alignment)


def video_transform(train: bool, size: int = 112, scale: Sequence[float] = (0.5, 1.0)) -> torch.nn.Module:
    """torchvision v2 pipeline for one video tensor (T, C, H, W): same parameters for all frames.

    Train: RandomResizedCrop + RandomHorizontalFlip; test: Resize(short side) + CenterCrop.
    """
    from torchvision.transforms import v2

    if train:
        return v2.Compose([v2.RandomResizedCrop(size, scale=tuple(scale), antialias=True),
                           v2.RandomHorizontalFlip()])
    return v2.Compose([v2.Resize(size, antialias=True), v2.CenterCrop(size)])
