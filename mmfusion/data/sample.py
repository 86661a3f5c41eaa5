"""The sample function: a reader, a name and settings -> one aligned multimodal sample.

:func:`make_sample` is the one place where clips are made: :class:`~mmfusion.data.dataset.NTUDataset`
calls it for training and evaluation, the RGB-D pipeline for inference (over an in-memory
capture reader), so both prepare the same tensors. It is pure: everything comes from its
arguments (the reader's arrays, the :class:`~mmfusion.data.settings.ClipSettings`, the random
generator), and the generator is drawn in a fixed order (frame indices, then the crop / flip
geometry, then the point subsets), so a seeded generator gives the same sample every time.

A sample (a dict; batches from :func:`~mmfusion.data.dataset.collate` add a leading N):

=============== =================================== =============================================
key             shape / dtype                       content
=============== =================================== =============================================
"rgb"           float32 (3, T, S, S)                ImageNet-normalised RGB frames
"depth"         float32 (1, T, S, S)                metres, clipped to [0, depth_max] / depth_scale
"ir"            float32 (1, T, S, S)                infrared in [0, 1]
"points"        float32 (T, P, 3)                   masked-depth point cloud, metres, camera frame
"skeleton"      float32 (3, T, V=25, M)             NTU camera metres, centred on SpineMid
"heatmap"       float32 (17, T, h, w)               COCO-17 Gaussian heatmaps of the RGB crop
"keypoints2d"   float32 (M, T, 17, 2)               COCO-17 pixels in the S x S RGB crop (0 = absent)
"frame_index"   int64 (T_dense,)                    original frame indices of the densest modality
"name"          str                                 the sample's name
=============== =================================== =============================================

S = ``image_size``; T = ``clip_len`` of the modality (see :mod:`mmfusion.data.modalities` for the
table and :func:`~mmfusion.data.sampling.aligned_indices` for per-modality lengths); all modalities
use the same frame indices (skeleton frame t is video frame t: empty skeleton frames are kept as
zeros at their index).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torchvision.transforms.v2 import functional as F

from ..errors import DataFormatError
from .camera import project
from .heatmaps import keypoints_to_heatmaps
from .layouts import COCO17, NTU25, NTU25_TO_COCO17
from .modalities import kinds_for
from .preprocess import center_skeleton, prenormalize_3d, to_ctvm
from .reader import SampleReader, SkeletonData
from .sampling import aligned_indices
from .settings import ClipSettings
from .transforms import (
    ClipGeometry,
    Region,
    crop_frames,
    crop_keypoints,
    depth_to_metres,
    flip_points,
    flip_skeleton,
    ir_to_float,
    normalize_rgb,
    person_region,
    rgb_to_tensor,
    scale_keypoints,
    short_side_size,
)

__all__ = ["make_sample", "sample_kinds"]


def sample_kinds(settings: ClipSettings) -> list[str]:
    """The raw file kinds :func:`make_sample` reads for ``settings`` (the person crop needs the skeleton)."""
    return kinds_for(settings.modalities, person_crop=settings.crop == "person")


def make_sample(reader: SampleReader, name: str, settings: ClipSettings, rng: np.random.Generator,
                train: bool) -> dict[str, Any]:
    """One sample of ``name`` (see the module docstring for keys and shapes).

    Args:
        reader: where the arrays come from (:class:`~mmfusion.data.reader.SampleReader`).
        name: the sample's name in ``reader`` (it also seeds the per-frame point sampling).
        settings: how to prepare the clip.
        rng: all randomness (frame offsets, crops, flips, point subsets; test mode uses it for
            the point subsets only).
        train: random clips / crops / flips (else segment centres and the central square).

    Raises:
        DataFormatError: the sample has no frames (or a reader's own error naming the file).
    """
    s = settings
    mods = s.modalities
    kinds = sample_kinds(s)
    clip_lens = s.clip_lens
    skel = reader.load_skeleton(name) if "skeleton" in kinds else None
    counts = [reader.num_frames(name, k) for k in kinds if k != "skeleton"]
    if skel is not None:
        counts.append(skel.joints.shape[1])
    num_frames = min(counts)
    if num_frames < 1:
        raise DataFormatError(name, "sample has no frames")
    idx = aligned_indices(num_frames, clip_lens, train, rng)
    geom = ClipGeometry.sample(train, rng, s.crop_scale, s.crop_ratio, 0.5 if s.flip else 0.0)
    regions = _person_regions(reader, name, skel, s.crop_padding) if s.crop == "person" and skel is not None else {}
    out: dict[str, Any] = {}
    size = s.image_size
    if "rgb" in mods:
        frames = rgb_to_tensor(reader.load_frames(name, "rgb", idx["rgb"]))
        out["rgb"] = normalize_rgb(crop_frames(frames, geom, size, region=regions.get("rgb")))
    if "depth" in mods:
        d = depth_to_metres(reader.load_frames(name, "depth", idx["depth"]), s.depth_max, s.depth_scale)
        d = crop_frames(d, geom, size, F.InterpolationMode.NEAREST, region=regions.get("depth"))
        out["depth"] = d.permute(1, 0, 2, 3).contiguous()
    if "ir" in mods:
        ir = ir_to_float(reader.load_frames(name, "ir", idx["ir"]))
        out["ir"] = crop_frames(ir, geom, size, region=regions.get("ir")).permute(1, 0, 2, 3).contiguous()
    if "points" in mods:
        out["points"] = torch.from_numpy(_points(reader.load_points(name, idx["points"]), s.num_points, geom, rng))
    if skel is not None:
        out.update(_skeleton_outputs(reader, name, skel, idx, geom, s, regions.get("rgb")))
    out["frame_index"] = torch.from_numpy(idx[s.dense_modality].astype(np.int64))
    out["name"] = name
    return out


def _person_regions(reader: SampleReader, name: str, skel: SkeletonData, padding: float) -> dict[str, Region | None]:
    """Relative person boxes per image kind, from the whole sample's skeleton.

    RGB uses the skeleton's colour-pixel coordinates; depth and IR (same sensor) use the 3D
    joints projected with the reader's depth intrinsics (NTU's Kinect v2 fit, or the synthetic
    world's), so the box is right whatever resolution the frames were stored at.
    """
    out: dict[str, Region | None] = {}
    present = np.abs(skel.joints).sum(axis=-1) > 0                   # (M, T, V)
    colors = np.where(present[..., None], skel.colors, 0.0)
    out["rgb"] = person_region(colors, reader.native_size(name, "rgb"), padding)
    xyz = skel.joints[present]
    if len(xyz):
        # joints behind / on the camera plane would project to infinity; 1 mm keeps the box finite
        uv = project(xyz, reader.intrinsics(name), min_depth=1e-3)
        out["depth"] = out["ir"] = person_region(uv, reader.native_size(name, "depth"), padding)
    return out


def _points(pts: np.ndarray, num_points: int, geom: ClipGeometry, rng: np.random.Generator) -> np.ndarray:
    t, n, _ = pts.shape
    # a random subset in test mode too (``rng`` is then fixed per sample): the base points are
    # not in random order when a frame had fewer pixels than base points (the cloud is then
    # repeated in raster order and a prefix would be the top of the head)
    order = np.argsort(rng.random((t, n)), axis=1)[:, :num_points]
    pts = np.take_along_axis(pts, order[..., None], axis=1)
    pts = np.ascontiguousarray(pts, dtype=np.float32)
    return flip_points(pts) if geom.flip else pts


def _skeleton_outputs(reader: SampleReader, name: str, skel: SkeletonData, idx: Mapping[str, np.ndarray],
                      geom: ClipGeometry, s: ClipSettings, rgb_region: Region | None = None) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    joints, colors = _fit_bodies(skel.joints, s.max_bodies), _fit_bodies(skel.colors, s.max_bodies)
    if "skeleton" in s.modalities:
        if s.skeleton_norm == "center":
            x = center_skeleton(joints, NTU25)
        elif s.skeleton_norm == "prenorm":
            x = prenormalize_3d(joints, NTU25)
        else:
            x = joints
        x = x[:, idx["skeleton"]]
        if geom.flip:
            x = flip_skeleton(x, NTU25)
        out["skeleton"] = torch.from_numpy(to_ctvm(x))
    for key in ("keypoints2d", "heatmap"):
        if key not in s.modalities:
            continue
        t = idx[key]
        present = np.any(joints[:, t] != 0, axis=(2, 3))  # (M, T)
        kps = colors[:, t][:, :, list(NTU25_TO_COCO17)]  # (M, T, 17, 2) native RGB pixels
        native = reader.native_size(name, "rgb")
        decoded = short_side_size(*native, reader.decode_size)
        # the same crop (and person region) as the RGB frames, so heatmaps sit on the pixels
        kps = crop_keypoints(scale_keypoints(kps, native, decoded), decoded, geom, s.image_size,
                             flip_index=COCO17.flip, region=rgb_region)
        kps[~present] = 0.0
        if key == "keypoints2d":
            out[key] = torch.from_numpy(kps)
        else:
            scores = np.repeat(present[..., None], kps.shape[2], axis=2).astype(np.float32)
            hm = keypoints_to_heatmaps(kps, scores, img_size=(s.image_size, s.image_size),
                                       out_size=(s.heatmap_size, s.heatmap_size), sigma=s.heatmap_sigma)
            out[key] = torch.as_tensor(np.asarray(hm, dtype=np.float32))
    return out


def _fit_bodies(x: np.ndarray, m: int) -> np.ndarray:
    """Keep the first ``m`` actor slots of (M, T, ...), zero-padding when there are fewer."""
    if x.shape[0] >= m:
        return x[:m]
    pad = np.zeros((m - x.shape[0], *x.shape[1:]), dtype=x.dtype)
    return np.concatenate([x, pad])
