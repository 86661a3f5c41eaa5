"""Pose data sets for UniPose: synthetic RGB-D clips with hidden 3-D truth, ITOP, CMU Panoptic.

* :class:`SyntheticPoseDataset`: clips of the synthetic pose world
  (:mod:`mmfusion.data.synthetic.pose_world`: the shared synthetic body, renderer and 2-D
  detector simulation), rendered at construction and held in memory;
* :class:`ITOPPoseDataset`: ITOP's published HDF5 files (:mod:`mmfusion.data.formats.itop`);
* :class:`PanopticPoseDataset`: a CMU Panoptic (Kinoptic) sequence and Kinect node
  (:mod:`mmfusion.data.formats.panoptic`).

Each draws P points per frame of the person from the depth frames with depth-map normals
(:mod:`.cloud`); subjects are split by id so held-out subjects never appear in training.

Item of every data set here (T frames, P points, J joints):
    "points" (T, P, 3) camera metres; "normals" (T, P, 3) unit, towards the camera;
    "keypoints2d" (1, T, J, 2) pixels; "keypoint_scores" (1, T, J); "intrinsics" (4,)
    [fx, fy, cx, cy]; "joints3d" (T, J, 3) ground truth (metres; NaN where unknown);
    "joints_valid" (T, J) bool; "depth" (1, T, H, W) metres; "rgb" (3, T, H, W)
    ImageNet-normalised (synthetic only); "subject" int64; "name" str.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..data.formats.itop import (
    ITOP_INTRINSICS,
    ITOP_SIZE,
    itop_path,
    parse_itop_id,
    read_itop_ids,
    read_itop_labels,
    read_itop_point_cloud,
)
from ..data.formats.panoptic import (
    body_to_coco17,
    nearest_frame,
    opencv_to_yup,
    read_body3d_scene,
    read_kinect_calibration,
    read_kinect_depth,
    read_kinect_sync,
    world_to_kinect_depth,
)
from ..data.synthetic.pose_world import SynthPoseConfig, pose_subject, render_pose_clip
from ..data.transforms import normalize_rgb, rgb_to_tensor
from ..errors import ConfigError, DataFormatError
from .cloud import depth_normals, lift_with_depth, sample_cloud, sample_indices

__all__ = ["ITOPPoseDataset", "PanopticPoseDataset", "SyntheticPoseDataset", "SynthPoseConfig", "lift_with_depth"]


def _load_keypoints(path: Any, ids: Sequence[str], num_joints: int) -> tuple[np.ndarray, np.ndarray]:
    """Detections file (.npz with "ids" (N,), "keypoints" (N, J, 2), "scores" (N, J)) aligned to ``ids``."""
    try:
        z = np.load(path, allow_pickle=False)
        kid = [str(x) for x in z["ids"]]
        kp = np.asarray(z["keypoints"], dtype=np.float32)
        sc = np.asarray(z["scores"], dtype=np.float32) if "scores" in z else np.ones(kp.shape[:2], np.float32)
    except (OSError, KeyError, ValueError) as exc:
        raise DataFormatError(path, f"bad detections file: {exc}") from None
    if kp.ndim != 3 or kp.shape[1:] != (num_joints, 2) or sc.shape != kp.shape[:2] or len(kid) != len(kp):
        raise DataFormatError(path, f"keypoints must be (N, {num_joints}, 2) with scores (N, {num_joints}) and N ids")
    pos = {k: i for i, k in enumerate(kid)}
    missing = [i for i in ids if i not in pos]
    if missing:
        raise DataFormatError(path, f"no detections for {len(missing)} frames, e.g. {missing[0]}")
    sel = [pos[i] for i in ids]
    return kp[sel], sc[sel]


def _clips(person: np.ndarray, frame: np.ndarray, keep: np.ndarray, clip_len: int, stride: int) -> list[np.ndarray]:
    """Windows of ``clip_len`` consecutive kept frames of one person (frame numbers step by 1)."""
    out = []
    order = np.lexsort((frame, person))
    order = order[keep[order]]
    start = 0
    while start < len(order):
        end = start + 1
        while (end < len(order) and person[order[end]] == person[order[start]]
               and frame[order[end]] == frame[order[end - 1]] + 1):
            end += 1
        for s in range(start, end - clip_len + 1, stride):
            out.append(order[s:s + clip_len])
        start = end
    return out


class SyntheticPoseDataset(Dataset):
    """Rendered synthetic pose clips, all held in memory (rendered at construction).

    Args:
        cfg: :class:`~mmfusion.data.synthetic.pose_world.SynthPoseConfig` (subjects, clips,
            frames, size, noise).
        modalities: item keys to produce beyond the pose keys ("depth", "rgb").
        resample_points: draw a new point sample on every access (training augmentation);
            False gives a fixed sample per clip (evaluation).

    Items: see the module docstring (T = cfg.frames, P = cfg.num_points, J = 17, COCO-17).
    Attributes after construction: ``depth`` (C, T, H, W) float32, ``rgb`` (C, T, H, W, 3) uint8,
    ``joints3d`` (C, T, 17, 3), ``kp2d`` (C, T, 17, 2), ``scores`` (C, T, 17), ``subjects`` (C,).
    """

    def __init__(self, cfg: SynthPoseConfig | None = None, modalities: Sequence[str] = ("depth", "rgb"),
                 resample_points: bool = False) -> None:
        self.cfg = cfg or SynthPoseConfig()
        self.cfg.validate()
        self.modalities = tuple(modalities)
        self.resample_points = resample_points
        self.intr = self.cfg.intrinsics()
        clips, subs, names = [], [], []
        for sid in self.cfg.subjects:
            subj = pose_subject(sid, self.cfg.seed)
            for c in range(self.cfg.clips_per_subject):
                clip = render_pose_clip(self.cfg, subj, np.random.default_rng([self.cfg.seed, sid, c]))
                clips.append(clip)
                subs.append(sid)
                names.append(f"S{sid:03d}C{c:03d}_{clip.motion}")
        self.depth = np.stack([c.depth for c in clips])
        self.rgb = np.stack([c.rgb for c in clips])
        self.joints3d = np.stack([c.joints3d for c in clips])
        self.kp2d = np.stack([c.keypoints2d for c in clips])
        self.scores = np.stack([c.scores for c in clips])
        self.subjects = np.array(subs)
        self.names = names
        self._normals = depth_normals(self.depth.reshape(-1, *self.depth.shape[2:]), self.intr).reshape(
            *self.depth.shape, 3)
        self._epoch = 0

    def __len__(self) -> int:
        return len(self.names)

    def set_epoch(self, epoch: int) -> None:
        """New point samples per epoch when ``resample_points``."""
        self._epoch = epoch

    def __getitem__(self, i: int) -> dict[str, Any]:
        # deterministic: a new sample per epoch when resampling, the same one otherwise
        seed = [self.cfg.seed, 104729, i] + ([1, self._epoch] if self.resample_points else [])
        rng = np.random.default_rng(seed)
        pts, nrm = sample_cloud(self.depth[i], self._normals[i], self.intr, self.cfg.num_points, rng)
        item: dict[str, Any] = {
            "points": torch.from_numpy(pts), "normals": torch.from_numpy(nrm),
            "keypoints2d": torch.from_numpy(self.kp2d[i][None]),
            "keypoint_scores": torch.from_numpy(self.scores[i][None]),
            "intrinsics": torch.tensor(self.intr, dtype=torch.float32),
            "joints3d": torch.from_numpy(self.joints3d[i]),
            "joints_valid": torch.ones(self.joints3d.shape[1:3], dtype=torch.bool),
            "subject": torch.tensor(int(self.subjects[i])), "name": self.names[i],
        }
        if "depth" in self.modalities:
            item["depth"] = torch.from_numpy(self.depth[i][None])
        if "rgb" in self.modalities:
            item["rgb"] = normalize_rgb(rgb_to_tensor(self.rgb[i]))
        return item


class ITOPPoseDataset(Dataset):
    """ITOP clips for UniPose (stage A input + ground truth), read from the published HDF5 files.

    Args:
        root: folder with ``ITOP_{view}_{split}_{labels,point_cloud}.h5``.
        split, view: file selection ("train"/"test", "side"/"top").
        clip_len: T consecutive valid frames of one person per item; stride: step between clips
            (default T, no overlap).
        num_points: P, sampled among the person's pixels (``segmentation >= 0``).
        keypoints: optional .npz of 2-D detections ("ids", "keypoints" (N, 15, 2), "scores");
            without it the labels' ``image_coordinates`` + Gaussian noise of ``kp_noise_px``
            stand in for a detector (ITOP ships no RGB to run one on).
        resample_points: new point sample per access.

    Items: see the module docstring (J = 15, ``ITOP15`` layout; "depth" (1, T, 240, 320)).
    """

    def __init__(self, root: Any, split: str = "train", view: str = "side", clip_len: int = 4,
                 num_points: int = 2048, keypoints: Any = None, kp_noise_px: float = 3.0, stride: int | None = None,
                 seed: int = 0, resample_points: bool = False, max_clips: int | None = None) -> None:
        self.labels_path = itop_path(root, split, "labels", view)
        self.cloud_path = itop_path(root, split, "point_cloud", view)
        self.labels = read_itop_labels(self.labels_path)
        cloud_ids = read_itop_ids(self.cloud_path)
        if cloud_ids != self.labels.ids:
            raise DataFormatError(self.cloud_path, f"ids differ from {self.labels_path.name}")
        pf = np.array([parse_itop_id(i) for i in self.labels.ids]).reshape(-1, 2)
        self.clips = _clips(pf[:, 0], pf[:, 1], self.labels.is_valid, clip_len, stride or clip_len)
        if max_clips is not None:
            self.clips = self.clips[:max_clips]
        if not self.clips:
            raise ConfigError(f"{self.labels_path}: no run of {clip_len} consecutive valid frames")
        self.intr = ITOP_INTRINSICS
        self.num_points, self.seed, self.resample_points = num_points, seed, resample_points
        n = len(self.labels)
        if keypoints is not None:
            self.kp2d, self.scores = _load_keypoints(keypoints, self.labels.ids, 15)
        else:
            rng = np.random.default_rng([seed, 31337])
            noise = rng.normal(0, kp_noise_px, (n, 15, 2)).astype(np.float32)
            self.kp2d = self.labels.image_coordinates + noise
            self.scores = np.clip(1 - np.linalg.norm(noise, axis=-1) / 25, 0.05, 1).astype(np.float32)
        self._epoch = 0

    def __len__(self) -> int:
        return len(self.clips)

    def set_epoch(self, epoch: int) -> None:
        self._epoch = epoch

    def __getitem__(self, i: int) -> dict[str, Any]:
        idx = self.clips[i]
        _, cloud = read_itop_point_cloud(self.cloud_path, idx)  # (T, 76800, 3)
        t = len(idx)
        seed = [self.seed, 7, i] + ([1, self._epoch] if self.resample_points else [])
        rng = np.random.default_rng(seed)
        depth = cloud[..., 2].reshape(t, *ITOP_SIZE).astype(np.float32)
        normals = depth_normals(depth, self.intr).reshape(t, -1, 3)
        seg = self.labels.segmentation
        pts = np.zeros((t, self.num_points, 3), np.float32)
        nrm = np.zeros_like(pts)
        for k, fi in enumerate(idx):  # data-side loop over the T frames
            keep = depth[k].reshape(-1) > 0
            if seg is not None:
                keep &= seg[fi].reshape(-1) >= 0
            pick = sample_indices(cloud[k], keep, self.num_points, rng)
            pts[k], nrm[k] = cloud[k][pick], normals[k][pick]
        gt = self.labels.real_world_coordinates[idx]
        return {
            "points": torch.from_numpy(pts), "normals": torch.from_numpy(nrm),
            "keypoints2d": torch.from_numpy(self.kp2d[idx][None]),
            "keypoint_scores": torch.from_numpy(self.scores[idx][None]),
            "intrinsics": torch.tensor(self.intr, dtype=torch.float32),
            "joints3d": torch.from_numpy(gt), "joints_valid": torch.ones(gt.shape[:2], dtype=torch.bool),
            "joints_visible": torch.from_numpy(self.labels.visible_joints[idx]),
            "depth": torch.from_numpy(depth[None]),
            "subject": torch.tensor(int(self.labels.ids[idx[0]].split("_")[0])),
            "name": self.labels.ids[idx[0]],
        }


class PanopticPoseDataset(Dataset):
    """CMU Panoptic (Kinoptic) frames of one sequence and Kinect node, as UniPose stage-A items.

    Each ``body3DScene`` frame with a first body is paired with the node's depth frame of
    nearest ``univ_time`` (``ksynctables``, within ``max_delta_ms``); the depth frame is
    back-projected with ``K_depth`` (lens distortion ignored), the person cropped to the
    points whose projection falls in the 2-D keypoint box (+ ``box_margin`` px) and within
    ``depth_band`` metres of the median keypoint depth. Ground truth is moved to the depth
    camera (Y up, metres) via :func:`~mmfusion.data.formats.panoptic.world_to_kinect_depth`.

    Args:
        seq_root: sequence folder (``hdPose3d_stage1_coco19``, ``kcalibration_<seq>.json``,
            ``ksynctables_<seq>.json``, ``kinect_shared_depth/KINECTNODE<n>/depthdata.dat``).
        node: Kinect node (UniPose / C3P: 2).
        clip_len: T consecutive paired frames per item.
        keypoints: optional .npz detections keyed by "%08d" HD index (in depth-image pixels);
            otherwise projected ground truth + ``kp_noise_px`` noise stands in for a detector.

    Items: see the module docstring (J = 17 COCO joints, "joints_valid" from c > 0.1).
    """

    def __init__(self, seq_root: Any, node: int = 2, clip_len: int = 4, num_points: int = 2048,
                 keypoints: Any = None, kp_noise_px: float = 3.0, max_delta_ms: float = 20.0, box_margin: float = 10.0,
                 depth_band: float = 0.8, seed: int = 0, resample_points: bool = False) -> None:
        root = Path(seq_root)
        seq = root.name
        sensors = read_kinect_calibration(root / f"kcalibration_{seq}.json")
        if not 1 <= node <= len(sensors):
            raise ConfigError(f"{root}: node {node} not in kcalibration (has {len(sensors)} sensors)")
        self.sensor = sensors[node - 1]
        sync = read_kinect_sync(root / f"ksynctables_{seq}.json", node)
        self.depth_file = root / "kinect_shared_depth" / f"KINECTNODE{node}" / "depthdata.dat"
        k = self.sensor.K_depth
        self.intr = (float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2]))
        hd, depth_idx, gts, valid = [], [], [], []
        for f in sorted((root / "hdPose3d_stage1_coco19").glob("body3DScene_*.json")):
            fr = read_body3d_scene(f)
            if not fr.bodies or fr.univ_time is None:
                continue
            di = nearest_frame(sync["depth"], fr.univ_time, max_delta_ms)
            if di is None:
                continue
            xyz, ok = body_to_coco17(fr.bodies[0].joints19)
            cam = opencv_to_yup(world_to_kinect_depth(xyz * 100.0, self.sensor))
            hd.append(int(f.stem.split("_")[-1]))
            depth_idx.append(di)
            gts.append(cam.astype(np.float32))
            valid.append(ok)
        if len(hd) < clip_len:
            raise ConfigError(f"{root}: only {len(hd)} body frames paired with node {node} depth")
        self.hd = np.array(hd)
        self.depth_idx = np.array(depth_idx)
        self.joints3d = np.stack(gts)
        self.valid = np.stack(valid)
        ids = [f"{h:08d}" for h in self.hd]
        if keypoints is not None:
            self.kp2d, self.scores = _load_keypoints(keypoints, ids, 17)
        else:
            fx, fy, cx, cy = self.intr
            j = self.joints3d
            uv = np.stack([cx + fx * j[..., 0] / j[..., 2], cy - fy * j[..., 1] / j[..., 2]], -1)
            noise = np.random.default_rng([seed, 4242]).normal(0, kp_noise_px, uv.shape)
            self.kp2d = (uv + noise).astype(np.float32)
            self.scores = np.where(self.valid, np.clip(1 - np.linalg.norm(noise, axis=-1) / 25, 0.05, 1), 0.0
                                   ).astype(np.float32)
        keep = np.ones(len(hd), bool)
        self.clips = _clips(np.zeros(len(hd), int), self.hd, keep, clip_len, clip_len)
        if not self.clips:
            raise ConfigError(f"{root}: no {clip_len} consecutive HD frames")
        self.num_points, self.seed, self.resample_points = num_points, seed, resample_points
        self.box_margin, self.depth_band = box_margin, depth_band
        self._epoch = 0

    def __len__(self) -> int:
        return len(self.clips)

    def set_epoch(self, epoch: int) -> None:
        self._epoch = epoch

    def __getitem__(self, i: int) -> dict[str, Any]:
        idx = self.clips[i]
        t = len(idx)
        depth = np.stack([read_kinect_depth(self.depth_file, int(self.depth_idx[k])) for k in idx]).astype(np.float32)
        depth /= 1000.0
        normals = depth_normals(depth, self.intr)
        seed = [self.seed, 11, i] + ([1, self._epoch] if self.resample_points else [])
        rng = np.random.default_rng(seed)
        fx, fy, cx, cy = self.intr
        h, w = depth.shape[1:]
        vv, uu = np.mgrid[0:h, 0:w].astype(np.float32)
        pts = np.zeros((t, self.num_points, 3), np.float32)
        nrm = np.zeros_like(pts)
        kp = self.kp2d[idx]
        for k in range(t):  # data-side loop over the T frames
            z = depth[k]
            lo, hi = kp[k].min(0) - self.box_margin, kp[k].max(0) + self.box_margin
            inbox = (uu >= lo[0]) & (uu <= hi[0]) & (vv >= lo[1]) & (vv <= hi[1]) & (z > 0)
            zin = z[inbox]
            zref = float(np.median(zin)) if zin.size else 0.0
            keep = (inbox & (np.abs(z - zref) < self.depth_band)).reshape(-1)
            cloud = np.stack([(uu - cx) * z / fx, -(vv - cy) * z / fy, z], -1).reshape(-1, 3)
            pick = sample_indices(cloud, keep, self.num_points, rng)
            pts[k], nrm[k] = cloud[pick], normals[k].reshape(-1, 3)[pick]
        return {
            "points": torch.from_numpy(pts), "normals": torch.from_numpy(nrm),
            "keypoints2d": torch.from_numpy(kp[None]), "keypoint_scores": torch.from_numpy(self.scores[idx][None]),
            "intrinsics": torch.tensor(self.intr, dtype=torch.float32),
            "joints3d": torch.from_numpy(self.joints3d[idx]), "joints_valid": torch.from_numpy(self.valid[idx]),
            "depth": torch.from_numpy(depth[None]), "subject": torch.tensor(0), "name": f"{self.hd[idx[0]]:08d}",
        }
