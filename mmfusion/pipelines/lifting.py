"""2-D keypoints + depth -> 3-D skeletons for the RGB-D pipeline.

Steps (M persons, T frames, depth frames (H, W), J = 17 COCO joints):

1. :func:`person_masks` -- each person's pixels in the depth frames: the box around its
   keypoints (in depth pixels, :func:`person_boxes`, grown by 10 % of the keypoint extent)
   intersected with a depth band (0.5 m) around the median depth under its keypoints. It tells
   which persons have depth in which frames, and masks an unmasked capture to the persons
   (NTU depth is masked, so the action models were trained on masked depth). On the synthetic
   world's unmasked depth it keeps every person pixel at IoU 0.73-0.76 with the true mask.
2. :func:`lift_persons` -- :func:`mmfusion.pose.lift.lift_rgbd` on each person's masked depth: UniPose stage A
   (a :func:`~mmfusion.pose.lift.load_lifter` network) on the person's point cloud, or, without
   a network, the documented naive lifting: every keypoint back-projected with the depth at its
   pixel (nearest valid pixel of a 5 x 5 window). Naive joints sit on the body surface (a few
   cm in front of the joint centres).
3. :func:`coco17_to_ntu25` -- the action models' ``skeleton`` input is NTU-25 (Kinect v2), so the
   17 COCO joints are mapped by fixed affine combinations (:data:`COCO17_TO_NTU25`, joint names
   of the layouts, ratios measured on real NTU skeletons: SpineMid at 0.57 of SpineBase ->
   SpineShoulder, Neck at 0.35 of SpineShoulder -> Head, Hand / HandTip / Thumb at 1.24 / 1.42 /
   1.27 and Foot at 1.08 along forearm and shank).

All coordinates are the depth camera's (X right, Y up, Z forward, metres), the frame of NTU
skeletons and of :func:`mmfusion.data.camera.depth_to_points` (:mod:`mmfusion.data.camera`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..data.camera import CameraIntrinsics
from ..data.layouts import COCO17, NTU25
from ..errors import ConfigError
from ..pose.data import lift_with_depth
from ..pose.lift import lift_rgbd

__all__ = ["COCO17_TO_NTU25", "coco17_to_ntu25_matrix", "coco17_to_ntu25", "PersonMasks", "reference_depth",
           "person_boxes", "person_masks", "lift_persons"]

#: NTU-25 joint <- affine combination of COCO-17 joints (weights sum to 1), by joint name
COCO17_TO_NTU25: dict[str, dict[str, float]] = {
    "SpineBase": {"left_hip": 0.5, "right_hip": 0.5},
    "SpineMid": {"left_hip": 0.215, "right_hip": 0.215, "left_shoulder": 0.285, "right_shoulder": 0.285},
    "Neck": {"left_shoulder": 0.325, "right_shoulder": 0.325, "left_ear": 0.1225, "right_ear": 0.1225,
             "nose": 0.035, "left_eye": 0.035, "right_eye": 0.035},
    "Head": {"left_ear": 0.35, "right_ear": 0.35, "nose": 0.1, "left_eye": 0.1, "right_eye": 0.1},
    "SpineShoulder": {"left_shoulder": 0.5, "right_shoulder": 0.5},
    **{f"{part}{side.title()}": spec for side in ("left", "right") for part, spec in {
        "Shoulder": {f"{side}_shoulder": 1.0},
        "Elbow": {f"{side}_elbow": 1.0},
        "Wrist": {f"{side}_wrist": 1.0},
        "Hand": {f"{side}_wrist": 1.24, f"{side}_elbow": -0.24},
        "HandTip": {f"{side}_wrist": 1.42, f"{side}_elbow": -0.42},
        "Thumb": {f"{side}_wrist": 1.27, f"{side}_elbow": -0.27},
        "Hip": {f"{side}_hip": 1.0},
        "Knee": {f"{side}_knee": 1.0},
        "Ankle": {f"{side}_ankle": 1.0},
        "Foot": {f"{side}_ankle": 1.08, f"{side}_knee": -0.08},
    }.items()},
}


def coco17_to_ntu25_matrix() -> np.ndarray:
    """(25, 17) float32 weights W with ``ntu = W @ coco`` (rows sum to 1)."""
    w = np.zeros((NTU25.num_joints, COCO17.num_joints), np.float32)
    for j, name in enumerate(NTU25.joints):
        for src, weight in COCO17_TO_NTU25[name].items():
            w[j, COCO17.joints.index(src)] = weight
    return w


def coco17_to_ntu25(x: np.ndarray) -> np.ndarray:
    """COCO-17 joints (..., 17, C) -> NTU-25 (..., 25, C) (3-D metres or 2-D pixels alike)."""
    x = np.asarray(x, dtype=np.float32)
    if x.shape[-2] != COCO17.num_joints:
        raise ConfigError(f"coco17_to_ntu25: expected (..., 17, C), got {x.shape}")
    return np.einsum("vj,...jc->...vc", coco17_to_ntu25_matrix(), x).astype(np.float32)


@dataclass
class PersonMasks:
    """Each person's pixels in the depth frames.

    Attributes:
        mask: (M, T, H, W) bool.
        present: (M, T) bool, the person has detections and depth pixels in frame t.
        reference: (M, T) float32 median depth under the person's keypoints, metres (NaN where absent).
    """

    mask: np.ndarray
    present: np.ndarray
    reference: np.ndarray

    @property
    def union(self) -> np.ndarray:
        """(T, H, W) bool: pixels of any person."""
        return self.mask.any(axis=0)


def reference_depth(depth_m: np.ndarray, kps_depth: np.ndarray, scores: np.ndarray, intr: CameraIntrinsics,
                    min_score: float = 0.2) -> np.ndarray:
    """Median depth (M, T) under each person's confident keypoints (all keypoints when fewer than
    two are confident); NaN where the person is absent (all scores 0).

    Args:
        depth_m: (T, H, W) metres, 0 = no reading. kps_depth: (M, T, 17, 2) depth pixels.
    """

    m = kps_depth.shape[0]
    d = torch.from_numpy(np.ascontiguousarray(depth_m, dtype=np.float32)).unsqueeze(0).expand(m, -1, -1, -1)
    k = CameraIntrinsics.from_any(intr).as_tuple()
    z = lift_with_depth(torch.from_numpy(kps_depth), d.contiguous(), k)[..., 2].numpy()  # (M, T, J)
    keep = scores >= min_score
    keep = np.where(keep.sum(-1, keepdims=True) >= 2, keep, True)
    z = np.where(keep & (z > 0) & np.isfinite(z), z, np.nan)
    with np.errstate(all="ignore"):
        ref = np.nanmedian(np.where(np.isnan(z).all(-1, keepdims=True), 0.0, z), axis=-1)
    present = scores.max(axis=-1, initial=0.0) > 0
    return np.where(present & (ref > 0), ref, np.nan).astype(np.float32)


def person_boxes(kps: np.ndarray, scores: np.ndarray, margin: float = 0.1, min_score: float = 0.2) -> np.ndarray:
    """Boxes (..., 4) ``[x0, y0, x1, y1]`` around keypoints (..., 17, 2), grown by ``margin`` x the
    keypoint extent on every side (twice that above: the skull reaches past eyes and ears).
    Keypoints scoring below ``min_score`` are ignored (all used when fewer than two remain)."""
    keep = scores >= min_score
    keep = np.where(keep.sum(-1, keepdims=True) >= 2, keep, True)
    big = np.float32(1e9)
    lo = np.where(keep[..., None], kps, big).min(-2)
    hi = np.where(keep[..., None], kps, -big).max(-2)
    pad = margin * np.maximum((hi - lo).max(-1), 1.0)
    return np.stack([lo[..., 0] - pad, lo[..., 1] - 2 * pad, hi[..., 0] + pad, hi[..., 1] + pad], -1)


def person_masks(depth_m: np.ndarray, kps_depth: np.ndarray, scores: np.ndarray, intr: CameraIntrinsics,
                 margin: float = 0.1, band: float = 0.5, min_score: float = 0.2, chunk: int = 16) -> PersonMasks:
    """Select each person's pixels (see the module docstring, step 1).

    Args:
        depth_m: (T, H, W) float32 metres (0 = no reading).
        kps_depth: (M, T, 17, 2) keypoints in depth pixels; scores: (M, T, 17) (0 = absent).
        margin: box growth / keypoint extent (:func:`person_boxes`).
        band: largest |Z - reference| kept, metres.
        min_score: keypoints below it do not shape the box.
        chunk: frames processed at once.
    """
    m, t = kps_depth.shape[:2]
    h, w = depth_m.shape[-2:]
    ref = reference_depth(depth_m, kps_depth, scores, intr, min_score)
    boxes = person_boxes(kps_depth, scores, margin, min_score)  # (M, T, 4)
    u = np.arange(w, dtype=np.float32)[None, None, None, :]
    v = np.arange(h, dtype=np.float32)[None, None, :, None]
    mask = np.zeros((m, t, h, w), bool)
    for s in range(0, t, chunk):  # bounded memory on long clips (float (M, chunk, H, W) temporaries)
        box = boxes[:, s:s + chunk, None, None, :]
        in_box = (u >= box[..., 0]) & (u <= box[..., 2]) & (v >= box[..., 1]) & (v <= box[..., 3])
        d = depth_m[s:s + chunk][None]
        valid = (d > 0) & in_box
        near = valid & (np.abs(d - np.nan_to_num(ref[:, s:s + chunk], nan=-1e3)[..., None, None]) < band)
        # a reference on the background (every keypoint off the body) would empty the band: keep the box
        mask[:, s:s + chunk] = np.where(near.any(axis=(2, 3), keepdims=True), near, valid)
    present = np.isfinite(ref) & mask.any(axis=(2, 3))
    return PersonMasks(mask & present[..., None, None], present, ref)


def lift_persons(depth_mm: np.ndarray, kps_depth: np.ndarray, scores: np.ndarray, persons: PersonMasks,
                 intr: CameraIntrinsics, model: nn.Module | None = None, seed: int = 0,
                 mirrored: bool = False) -> np.ndarray:
    """3-D joints of every person: :func:`mmfusion.pose.lift.lift_rgbd` on that person's pixels.

    Each person is lifted from its own masked depth (:func:`person_masks`), so a keypoint that
    misses the body (detector outlier, silhouette edge) takes the person's nearest depth, not the
    wall behind it: with the synthetic world's noisy detections on unmasked depth this brings the
    naive MPJPE from 24 cm to the masked-depth value (see docs/pipeline.md).

    Args:
        depth_mm: (T, H, W) uint16 millimetres. kps_depth: (M, T, J, 2) depth pixels; scores: (M, T, J).
        persons: the persons' masks and presence; absent frames come out as zeros.
        model: a stage-A network (:func:`mmfusion.pose.lift.load_lifter`), or None for the naive lifting.
        mirrored: the frames are mirrored (Kinect v2 / NTU). UniPose is trained on unmirrored views
            with anatomical labels, so it then lifts the mirror image (depth columns reversed,
            ``u -> W - 1 - u``, ``cx -> W - 1 - cx``: the cloud's X negated exactly) and the joints
            are mirrored back (X negated); without this its left / right come out swapped
            (on the synthetic NTU world: 25 cm MPJPE instead of 8).

    Returns:
        (M, T, J, 3) float32 camera metres.
    """

    present = persons.present
    flip = mirrored and model is not None
    w = depth_mm.shape[-1]
    k = CameraIntrinsics.from_any(intr).as_tuple()
    if flip:
        depth_mm = depth_mm[..., ::-1]
        kps_depth = np.stack([w - 1 - kps_depth[..., 0], kps_depth[..., 1]], -1)
        k = (k[0], k[1], w - 1 - k[2], k[3])
    out = np.zeros((*kps_depth.shape[:3], 3), np.float32)
    for m in np.flatnonzero(present.any(axis=1)):  # person slots (M <= 2), not a forward-pass loop
        mask = persons.mask[m][..., ::-1] if flip else persons.mask[m]
        own = np.where(mask, depth_mm, 0)
        out[m] = lift_rgbd(own, kps_depth[m], k, model=model, scores=scores[m], seed=seed)
    if flip:
        out[..., 0] = -out[..., 0]
    return np.where(present[..., None, None], out, 0.0).astype(np.float32)
