"""2-D keypoints + depth -> 3-D skeletons for the RGB-D pipeline.

Steps (M persons, T frames, depth frames (H, W), J = 17 COCO joints):

1. :func:`person_depth` -- each person's pixels in the depth frames: the box around its
   keypoints (in depth pixels, :func:`person_boxes`, grown by 10 % of the keypoint extent)
   intersected with a depth band around the median depth under its keypoints. This separates
   two people in a masked NTU frame and the person from the room in an unmasked capture.
2. lifting, either
   * :class:`UniPoseLifter` -- UniPose stage A (``unipose_pointnet(_tiny)``, :mod:`mmfusion.pose`)
     on each person's point cloud (plus normals and viewing rays when the checkpoint was trained
     with them), joints decoded by heat-weighted voting in the camera frame; or
   * :func:`lift_naive` -- the documented baseline: every keypoint back-projected with the depth
     at its pixel (nearest valid pixel of a 5 x 5 window, else the frame median;
     :func:`mmfusion.pose.data.lift_with_depth`). Joints sit on the body surface (a few cm in
     front of the joint centres).
3. :func:`coco17_to_ntu25` -- the action models' ``skeleton`` input is NTU-25 (Kinect v2), so the
   17 COCO joints are mapped by fixed affine combinations (:data:`COCO17_TO_NTU25`, joint names
   of the layouts, ratios measured on real NTU skeletons: SpineMid at 0.57 of SpineBase ->
   SpineShoulder, Neck at 0.35 of SpineShoulder -> Head, Hand / HandTip / Thumb at 1.24 / 1.42 /
   1.27 and Foot at 1.08 along forearm and shank).

All coordinates are the depth camera's (X right, Y up, Z forward, metres), the frame of NTU
skeletons and of :func:`mmfusion.data.pointcloud.depth_to_points`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data.layouts import COCO17, NTU25, SkeletonLayout, get_layout
from ..data.pointcloud import CameraIntrinsics
from ..errors import CheckpointError, ConfigError

__all__ = ["COCO17_TO_NTU25", "coco17_to_ntu25_matrix", "coco17_to_ntu25", "PersonDepth", "person_boxes",
           "person_depth", "lift_naive", "UniPoseLifter", "load_pose_model"]

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


def _intr4(intr: CameraIntrinsics) -> tuple[float, float, float, float]:
    return float(intr.fx), float(intr.fy), float(intr.cx), float(intr.cy)


@dataclass
class PersonDepth:
    """Each person's depth pixels.

    Attributes:
        depth: (M, T, H, W) float32 metres, 0 off the person.
        present: (M, T) bool, the person has detections and depth pixels in frame t.
        reference: (M, T) float32 median depth under the person's keypoints (NaN where absent).
    """

    depth: np.ndarray
    present: np.ndarray
    reference: np.ndarray

    @property
    def union(self) -> np.ndarray:
        """(T, H, W) bool: pixels of any person."""
        return (self.depth > 0).any(axis=0)


def reference_depth(depth_m: np.ndarray, kps_depth: np.ndarray, scores: np.ndarray, intr: CameraIntrinsics,
                    min_score: float = 0.2) -> np.ndarray:
    """Median depth (M, T) under each person's confident keypoints (all keypoints when fewer than
    two are confident); NaN where the person is absent (all scores 0).

    Args:
        depth_m: (T, H, W) metres, 0 = no reading. kps_depth: (M, T, 17, 2) depth pixels.
    """
    from ..pose.data import lift_with_depth

    m = kps_depth.shape[0]
    d = torch.from_numpy(np.ascontiguousarray(depth_m, dtype=np.float32)).unsqueeze(0).expand(m, -1, -1, -1)
    z = lift_with_depth(torch.from_numpy(kps_depth), d.contiguous(), _intr4(intr))[..., 2].numpy()  # (M, T, J)
    keep = scores >= min_score
    keep = np.where(keep.sum(-1, keepdims=True) >= 2, keep, True)
    z = np.where(keep & (z > 0) & np.isfinite(z), z, np.nan)
    with np.errstate(all="ignore"):
        ref = np.nanmedian(np.where(np.isnan(z).all(-1, keepdims=True), 0.0, z), axis=-1)
    present = scores.max(axis=-1, initial=0.0) > 0
    return np.where(present & (ref > 0), ref, np.nan).astype(np.float32)


def person_boxes(kps: np.ndarray, scores: np.ndarray, margin: float = 0.15, min_score: float = 0.2) -> np.ndarray:
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


def person_depth(depth_m: np.ndarray, kps_depth: np.ndarray, scores: np.ndarray, intr: CameraIntrinsics,
                 margin: float = 0.1, band: float = 0.5, min_score: float = 0.2) -> PersonDepth:
    """Select each person's pixels (see the module docstring, step 1).

    Args:
        depth_m: (T, H, W) float32 metres (0 = no reading).
        kps_depth: (M, T, 17, 2) keypoints in depth pixels; scores: (M, T, 17) (0 = absent).
        margin: box growth / keypoint extent (:func:`person_boxes`).
        band: largest |Z - reference| kept, metres.
        min_score: keypoints below it do not shape the box.

    Returns:
        :class:`PersonDepth`.
    """
    h, w = depth_m.shape[-2:]
    ref = reference_depth(depth_m, kps_depth, scores, intr, min_score)
    box = person_boxes(kps_depth, scores, margin, min_score)[..., None, None, :]  # (M, T, 1, 1, 4)
    u = np.arange(w, dtype=np.float32)[None, None, None, :]
    v = np.arange(h, dtype=np.float32)[None, None, :, None]
    in_box = (u >= box[..., 0]) & (u <= box[..., 2]) & (v >= box[..., 1]) & (v <= box[..., 3])  # (M, T, H, W)
    valid = (depth_m > 0)[None] & in_box
    near = valid & (np.abs(depth_m[None] - np.nan_to_num(ref, nan=-1e3)[..., None, None]) < band)
    # a reference on the background (every keypoint off the body) would empty the band: keep the box
    mask = np.where(near.any(axis=(2, 3), keepdims=True), near, valid)
    present = np.isfinite(ref) & mask.any(axis=(2, 3))
    mask &= present[..., None, None]
    return PersonDepth(np.where(mask, depth_m[None], 0.0).astype(np.float32), present, ref)


def lift_naive(kps_depth: np.ndarray, persons: PersonDepth, intr: CameraIntrinsics) -> np.ndarray:
    """Naive lifting: (M, T, 17, 2) depth pixels -> (M, T, 17, 3) camera metres (zeros where absent)."""
    from ..pose.data import lift_with_depth

    if not persons.present.any():
        return np.zeros((*kps_depth.shape[:3], 3), np.float32)
    depth = torch.from_numpy(persons.depth)
    # frames without any pixel of the person fall back to the median of its other frames (kept finite)
    xyz = lift_with_depth(torch.from_numpy(kps_depth), _fill_absent(depth, persons.present), _intr4(intr)).numpy()
    return np.where(persons.present[..., None, None], xyz, 0.0).astype(np.float32)


def _fill_absent(depth: torch.Tensor, present: np.ndarray) -> torch.Tensor:
    """(M, T, H, W): every absent frame of a person replaced by its nearest present frame (persons
    never present keep zeros, replaced by 1 m so downstream code stays finite)."""
    out = depth.clone()
    for p in range(depth.shape[0]):  # data-side loop over persons and frames, not in a forward pass
        have = np.flatnonzero(present[p])
        if have.size == 0:
            out[p] = 1.0
            continue
        for f in np.flatnonzero(~present[p]):
            out[p, f] = depth[p, have[np.argmin(np.abs(have - f))]]
    return out


# ---------------------------------------------------------------------------------------------
# UniPose stage A


def load_pose_model(checkpoint: str | os.PathLike[str], model_name: str | None = None) -> tuple[nn.Module, dict]:
    """A UniPose stage-A model from a run folder (``model.safetensors`` + ``config.json`` naming
    ``unipose_pointnet(_tiny)`` and its kwargs) or a bare ``.safetensors`` file (then ``model_name``,
    default ``unipose_pointnet``). Returns (model in eval mode, config dict)."""
    from ..registry import create_model

    path = Path(checkpoint)
    if not path.exists():
        raise CheckpointError(f"{path}: pose checkpoint not found")
    cfg: dict[str, Any] = {}
    if path.is_dir() and (path / "config.json").is_file():
        try:
            cfg = json.loads((path / "config.json").read_text())
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"{path / 'config.json'}: not valid JSON ({exc.msg})") from None
    name = model_name or cfg.get("model_name") or "unipose_pointnet"
    model = create_model(name, checkpoint=path)
    if not all(hasattr(model, a) for a in ("num_joints", "npoints", "layout")):
        raise CheckpointError(f"{path}: {name} is not a UniPose stage-A point-cloud pose model")
    return model.eval(), cfg


class UniPoseLifter:
    """UniPose stage A on each person's point cloud.

    Args:
        checkpoint: stage-A run folder or ``.safetensors`` (see :func:`load_pose_model`).
        model_name: registered name when the checkpoint has no ``config.json``.
        num_points: P per frame; default ``config.json``'s ``num_points``, else 4 x the first
            set-abstraction level's centres (512 for ``_tiny``, 2048 for the full model).
        device: torch device.
        seed: point sampling seed.

    ``__call__(persons, intr) -> (M, T, J, 3)`` camera metres in the model's layout
    (:attr:`layout`), zeros where a person is absent.
    """

    def __init__(self, checkpoint: str | os.PathLike[str], model_name: str | None = None,
                 num_points: int | None = None, device: str | torch.device = "cpu", seed: int = 0) -> None:
        self.checkpoint = Path(checkpoint)
        self.model, cfg = load_pose_model(checkpoint, model_name)
        self.device = torch.device(device)
        self.model.to(self.device)
        self.layout: SkeletonLayout = get_layout(self.model.layout)
        if self.model.num_joints != self.layout.num_joints:
            raise CheckpointError(f"{checkpoint}: {self.model.num_joints} joints, layout {self.layout.name} has "
                                  f"{self.layout.num_joints}")
        self.num_points = int(num_points or cfg.get("num_points") or 4 * self.model.npoints[0])
        if self.num_points < self.model.npoints[0]:
            raise ConfigError(f"UniPose needs >= {self.model.npoints[0]} points per frame, got {self.num_points}")
        feat = int(getattr(self.model, "in_features", 0))
        if feat and not (feat == 3 and self.model.feature_key == "normals"):
            raise CheckpointError(f"{checkpoint}: per-point features {self.model.feature_key!r} ({feat}) cannot "
                                  f"be computed from depth (only normals)")
        self.normals = feat == 3
        self.seed = seed

    @torch.no_grad()
    def __call__(self, persons: PersonDepth, intr: CameraIntrinsics) -> np.ndarray:
        from ..pose.data import depth_normals, sample_cloud

        m, t = persons.present.shape
        out = np.zeros((m, t, self.layout.num_joints, 3), np.float32)
        who = np.flatnonzero(persons.present.any(axis=1))
        if who.size == 0:
            return out
        filled = _fill_absent(torch.from_numpy(persons.depth), persons.present).numpy()
        rng = np.random.default_rng(self.seed)
        k = _intr4(intr)
        pts, nrm = [], []
        for p in who:  # data-side loop over persons (numpy sampling)
            normals = depth_normals(filled[p], k) if self.normals else None
            a, b = sample_cloud(filled[p], normals, k, self.num_points, rng)
            pts.append(a)
            nrm.append(b)
        batch: dict[str, torch.Tensor] = {"points": torch.from_numpy(np.stack(pts)).to(self.device)}
        if self.normals:
            batch[self.model.feature_key] = torch.from_numpy(np.stack(nrm)).to(self.device)
        joints = self.model(batch)["joints"].float().cpu().numpy()  # (M', T, J, 3)
        out[who] = np.where(persons.present[who][..., None, None], joints, 0.0)
        return out

    def describe(self) -> Mapping[str, Any]:
        return {"checkpoint": str(self.checkpoint), "model": type(self.model).__name__, "layout": self.layout.name,
                "num_points": self.num_points, "normals": self.normals}
