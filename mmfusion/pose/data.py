"""Pose data sets for UniPose: synthetic RGB-D clips with hidden 3-D truth, ITOP, CMU Panoptic.

Synthetic pose world (:class:`SyntheticPoseDataset`)
----------------------------------------------------
A person (COCO-17 skeleton, subject-specific height, limb proportions and girth) performs one
of eight parametric motions (wave, raise, walk, squat, reach, bow, kick, punch) in front of a
Kinect-like camera (70.6 deg horizontal field of view; X right, Y up, Z forward). The body is
16 capsules (torso x2, neck, head, arms, hands, legs, feet) ray-cast exactly per pixel, which
gives

* a masked depth map (metres, 0 = background, Kinect-like axial noise, 1 % dropped pixels,
  quantised to mm) and a shaded RGB image on a textured background;
* the camera-frame point cloud of the person with normals estimated from the depth map
  (central differences), sampled to P points per frame;
* noisy 2-D keypoints standing in for an off-the-shelf COCO detector: the true projections
  + Gaussian noise (``kp_noise_px``, 1.5x on wrists/ankles), outliers (``outlier_rate``,
  8-20 px) and rare left/right swaps, with a confidence that drops with the error;
* the hidden 3-D ground truth (joint centres inside the body), used only for evaluation.

The repository's shared synthetic NTU world (mmfusion/data/synthetic) was not available when
this module was written, so the pose world renders its own frames; it depends on nothing but
numpy. Everything is deterministic given ``seed``; subjects are split by id so held-out
subjects never appear in training.

Item of every data set here (T frames, P points, J joints):
    "points" (T, P, 3) camera metres; "normals" (T, P, 3) unit, towards the camera;
    "keypoints2d" (1, T, J, 2) pixels; "keypoint_scores" (1, T, J); "intrinsics" (4,)
    [fx, fy, cx, cy]; "joints3d" (T, J, 3) ground truth (metres; NaN where unknown);
    "joints_valid" (T, J) bool; "depth" (1, T, H, W) metres; "rgb" (3, T, H, W)
    ImageNet-normalised (synthetic only); "subject" int64; "name" str.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..data.layouts import COCO17
from ..errors import ConfigError, DataFormatError
from .decode import backproject
from .itop import (
    ITOP_INTRINSICS,
    ITOP_SIZE,
    itop_path,
    parse_itop_id,
    read_itop_ids,
    read_itop_labels,
    read_itop_point_cloud,
)
from .panoptic import (
    body_to_coco17,
    nearest_frame,
    read_body3d_scene,
    read_kinect_calibration,
    read_kinect_depth,
    read_kinect_sync,
    world_to_kinect_depth,
)

__all__ = [
    "SynthPoseConfig", "SubjectParams", "make_subject", "simulate_clip", "render_frames", "depth_normals",
    "sample_cloud", "SyntheticPoseDataset", "ITOPPoseDataset", "PanopticPoseDataset", "lift_with_depth",
    "normalize_rgb", "IMAGENET_MEAN", "IMAGENET_STD",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MOTIONS: tuple[str, ...] = ("wave", "raise", "walk", "squat", "reach", "bow", "kick", "punch")
_J = {n: i for i, n in enumerate(COCO17.joints)}


@dataclass
class SynthPoseConfig:
    """Synthetic pose world settings.

    Attributes:
        subjects: subject ids to render (split train / test by choosing disjoint ids).
        clips_per_subject: clips per subject (each a random motion).
        frames: T, frames per clip.
        fps: frame rate of the motion (lower = larger motion between frames).
        image_size: (H, W) of depth and RGB.
        hfov_deg: horizontal field of view (Kinect v2 depth: 70.6).
        num_points: P, points per frame.
        kp_noise_px, outlier_rate, swap_rate: 2-D detector noise model.
        depth_noise: scale of the Kinect-like axial noise (1 = nominal).
        seed: master seed (the subject id and clip index are mixed in).
    """

    subjects: Sequence[int] = tuple(range(8))
    clips_per_subject: int = 8
    frames: int = 8
    fps: float = 10.0
    image_size: tuple[int, int] = (120, 160)
    hfov_deg: float = 70.6
    num_points: int = 512
    kp_noise_px: float = 2.0
    outlier_rate: float = 0.05
    swap_rate: float = 0.02
    depth_noise: float = 1.0
    seed: int = 0
    motions: Sequence[str] = field(default=MOTIONS)

    def intrinsics(self) -> tuple[float, float, float, float]:
        h, w = self.image_size
        f = (w / 2) / math.tan(math.radians(self.hfov_deg) / 2)
        return (f, f, (w - 1) / 2, (h - 1) / 2)


@dataclass
class SubjectParams:
    """Body of one subject (metres). ``girth`` scales every capsule radius."""

    height: float
    limb: np.ndarray  # (4,) scale of upper arm, forearm, thigh, shank
    shoulder: float
    girth: float
    colors: np.ndarray  # (4, 3) skin, shirt, trousers, shoes in [0, 1]
    long_sleeves: bool


def make_subject(subject_id: int, seed: int = 0) -> SubjectParams:
    rng = np.random.default_rng([seed, 7919, subject_id])
    shirt = rng.uniform(0.1, 0.9, 3)
    return SubjectParams(
        height=float(rng.uniform(1.50, 1.92)),
        limb=rng.uniform(0.93, 1.07, 4),
        shoulder=float(rng.uniform(0.95, 1.08)),
        girth=float(rng.uniform(0.85, 1.25)),
        colors=np.stack([rng.uniform([0.45, 0.3, 0.2], [0.95, 0.8, 0.7]), shirt,
                         rng.uniform(0.05, 0.6, 3), rng.uniform(0.0, 0.3, 3)]),
        long_sleeves=bool(rng.random() < 0.5),
    )


def _rx(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def _ry(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def _rz(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-9)


def _bend(d: np.ndarray, ref: np.ndarray, ang: np.ndarray) -> np.ndarray:
    """Rotate unit directions d (T, 3) by ang (T,) towards ref's component orthogonal to d."""
    perp = ref - (ref * d).sum(-1, keepdims=True) * d
    perp = np.where(np.linalg.norm(perp, axis=-1, keepdims=True) < 1e-6, np.array([0.0, 0.0, -1.0]), perp)
    return np.cos(ang)[:, None] * d + np.sin(ang)[:, None] * _unit(perp)


def _angles(motion: str, t: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Joint angles (T,) per degree of freedom for one motion; left/right suffixes _l/_r."""
    z = np.zeros_like(t)
    w = 2 * math.pi * rng.uniform(0.25, 0.6)
    ph = rng.uniform(0, 2 * math.pi)
    s = np.sin(w * t + ph)
    c01 = (1 - np.cos(w * t + ph)) / 2  # 0..1
    a: dict[str, np.ndarray] = {k: z.copy() for k in (
        "abd_l", "abd_r", "flex_l", "flex_r", "elb_l", "elb_r", "hip_l", "hip_r", "habd_l", "habd_r",
        "knee_l", "knee_r", "bend", "lean", "twist")}
    for k in ("abd_l", "abd_r"):
        a[k] += 0.12
    for k in ("elb_l", "elb_r"):
        a[k] += 0.2
    side = "l" if rng.random() < 0.5 else "r"
    other = "r" if side == "l" else "l"
    amp = rng.uniform(0.6, 1.0)
    if motion == "wave":
        a[f"abd_{side}"] = z + rng.uniform(1.2, 2.4)
        a[f"elb_{side}"] = 0.5 + 0.7 * amp * (1 + s)
    elif motion == "raise":
        a["flex_l"] = a["flex_r"] = 2.7 * amp * c01
        a["abd_l"] = a["abd_r"] = 0.1 + 0.5 * c01
    elif motion == "walk":
        a["hip_l"], a["hip_r"] = 0.45 * amp * s, -0.45 * amp * s
        a["knee_l"], a["knee_r"] = 0.15 + 0.6 * amp * np.maximum(0, -s), 0.15 + 0.6 * amp * np.maximum(0, s)
        a["flex_l"], a["flex_r"] = -0.4 * amp * s, 0.4 * amp * s
        a["elb_l"] = a["elb_r"] = z + 0.4
    elif motion == "squat":
        k = 1.7 * amp * c01
        a["knee_l"] = a["knee_r"] = k
        a["hip_l"] = a["hip_r"] = 0.85 * k
        a["bend"] = 0.35 * k
        a["flex_l"] = a["flex_r"] = 1.3 * c01
    elif motion == "reach":
        a[f"abd_{side}"] = 0.2 + rng.uniform(0.5, 1.6) * c01
        a[f"flex_{side}"] = rng.uniform(0.3, 1.8) * c01
        a[f"elb_{side}"] = 0.1 + 0.3 * (1 - c01)
        a["lean"] = (0.25 if side == "l" else -0.25) * c01
    elif motion == "bow":
        a["bend"] = 1.1 * amp * c01
        a["flex_l"] = a["flex_r"] = 0.6 * c01
    elif motion == "kick":
        a[f"hip_{side}"] = 1.3 * amp * c01
        a[f"knee_{side}"] = 1.2 * (1 - c01) * c01 * 4 * 0.5
        a[f"abd_{other}"] = 0.2 + 0.5 * c01
        a["bend"] = -0.1 * c01
    elif motion == "punch":
        a["flex_l"], a["flex_r"] = 1.3 + 0.25 * s, 1.3 - 0.25 * s
        a["elb_l"], a["elb_r"] = 0.9 + 0.8 * s, 0.9 - 0.8 * s
        a["twist"] = 0.25 * s
        a["knee_l"] = a["knee_r"] = z + 0.2
        a["hip_l"] = a["hip_r"] = z + 0.15
    else:
        raise ConfigError(f"unknown synthetic motion {motion!r}; known: {MOTIONS}")
    for k in a:  # individual style: small constant offsets and tremor
        a[k] = a[k] + rng.normal(0, 0.06) + 0.02 * np.sin(2 * math.pi * rng.uniform(0.5, 1.5) * t + rng.uniform(0, 6))
    return a


def simulate_clip(subj: SubjectParams, motion: str, frames: int, fps: float, rng: np.random.Generator
                  ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """3-D joints (T, 17, 3) in camera metres (COCO-17 order) and the frame quantities the
    renderer needs (body axes, directions)."""
    t = np.arange(frames) / fps + rng.uniform(0, 10)
    ang = _angles(motion, t, rng)
    h = subj.height
    ua, fa, th, sh = (subj.limb * np.array([0.172, 0.150, 0.245, 0.246])) * h
    down = np.array([0.0, -1.0, 0.0])
    fwd = np.array([0.0, 0.0, -1.0])
    tt = len(t)
    # torso: pelvis at origin (body frame: +X person's left, +Y up, +Z backwards)
    rot_up = _rx(-ang["bend"]) @ _rz(-ang["lean"]) @ _ry(ang["twist"])
    up = rot_up @ np.array([0.0, 1.0, 0.0])
    lat = rot_up @ np.array([1.0, 0.0, 0.0])
    tfw = rot_up @ fwd
    sh_c = up * 0.30 * h
    hw = 0.105 * h * subj.shoulder
    joints = np.zeros((tt, 17, 3))
    joints[:, _J["left_shoulder"]] = sh_c + lat * hw
    joints[:, _J["right_shoulder"]] = sh_c - lat * hw
    joints[:, _J["left_hip"]] = np.array([0.055 * h, 0, 0])
    joints[:, _J["right_hip"]] = np.array([-0.055 * h, 0, 0])
    dirs: dict[str, np.ndarray] = {}
    for sd, sgn in (("left", 1.0), ("right", -1.0)):
        k = sd[0]
        rot_arm = rot_up @ _rx(ang[f"flex_{k}"]) @ _rz(sgn * ang[f"abd_{k}"])
        d_up = np.einsum("tij,tj->ti", rot_arm, np.tile(down, (tt, 1)))
        d_fo = _bend(d_up, _unit(rot_up @ np.array([0.0, 1.0, -1.0])), ang[f"elb_{k}"].clip(0, 2.5))
        el = joints[:, _J[f"{sd}_shoulder"]] + ua * d_up
        joints[:, _J[f"{sd}_elbow"]] = el
        joints[:, _J[f"{sd}_wrist"]] = el + fa * d_fo
        dirs[f"fore_{k}"] = d_fo
        d_th = np.einsum("tij,tj->ti", _rx(ang[f"hip_{k}"]) @ _rz(sgn * (0.05 + 0.3 * np.maximum(ang[f"habd_{k}"], 0))),
                         np.tile(down, (tt, 1)))
        d_sh = _bend(d_th, np.array([0.0, -1.0, 1.0]) / math.sqrt(2), ang[f"knee_{k}"].clip(0, 2.4))
        kn = joints[:, _J[f"{sd}_hip"]] + th * d_th
        joints[:, _J[f"{sd}_knee"]] = kn
        joints[:, _J[f"{sd}_ankle"]] = kn + sh * d_sh
    head_c = sh_c + up * 0.13 * h - tfw * 0.01 * h
    joints[:, _J["nose"]] = sh_c + up * 0.12 * h + tfw * 0.05 * h
    for sd, sgn in (("left", 1.0), ("right", -1.0)):
        joints[:, _J[f"{sd}_eye"]] = joints[:, _J["nose"]] + up * 0.025 * h + lat * sgn * 0.025 * h - tfw * 0.015 * h
        joints[:, _J[f"{sd}_ear"]] = sh_c + up * 0.125 * h + lat * sgn * 0.06 * h - tfw * 0.035 * h
    # stand on the floor: lowest ankle 0.04 h above it
    floor = -(joints[:, [_J["left_ankle"], _J["right_ankle"]], 1].min(1) - 0.04 * h)  # pelvis height
    # place in the scene: yaw (0 = facing the camera), distance, lateral offset, camera height/pitch
    yaw = rng.uniform(-1.2, 1.2) + np.linspace(0, rng.normal(0, 0.2), tt)
    ryaw = _ry(yaw)  # body forward (-Z) = camera -Z (towards the camera) at yaw 0
    dist = rng.uniform(2.2, 3.6)
    x0 = rng.uniform(-0.35, 0.35) * dist
    drift = np.linspace(0, 1, tt)[:, None] * rng.normal(0, 0.05, 3) * np.array([1, 0, 1])
    cam_h = rng.uniform(0.8, 1.3)
    pitch = rng.uniform(-0.12, 0.12)
    root = np.stack([np.full(tt, x0), floor - cam_h, np.full(tt, dist)], -1) + drift
    rall = _rx(np.array(pitch)) @ ryaw  # (T, 3, 3) body -> camera rotation
    shift = root @ _rx(np.array(pitch)).T

    def place(x: np.ndarray) -> np.ndarray:  # body-frame points (T, ..., 3) -> camera
        return np.einsum("tij,t...j->t...i", rall, x) + shift.reshape(tt, *([1] * (x.ndim - 2)), 3)

    def turn(d: np.ndarray) -> np.ndarray:  # body-frame directions (T, 3) or (3,) -> camera
        return np.einsum("tij,tj->ti", rall, np.broadcast_to(d, (tt, 3)))

    cam = place(joints)
    body = {"head_c": place(head_c[:, None])[:, 0], "up": turn(up), "lat": turn(lat),
            "fore_l": turn(dirs["fore_l"]), "fore_r": turn(dirs["fore_r"]), "fwd": turn(fwd)}
    return cam, body


def _capsules(j: np.ndarray, body: dict[str, np.ndarray], subj: SubjectParams) -> tuple[np.ndarray, ...]:
    """Capsules of one frame: a (K, 3), b (K, 3), radius (K,), colour index (K,)."""
    h, g = subj.height, subj.girth
    J = _J
    sh_c = (j[J["left_shoulder"]] + j[J["right_shoulder"]]) / 2
    up, lat, fwd = body["up"], body["lat"], body["fwd"]
    pel = (j[J["left_hip"]] + j[J["right_hip"]]) / 2
    segs: list[tuple[np.ndarray, np.ndarray, float, int]] = []
    for sgn in (1.0, -1.0):
        segs.append((pel + lat * sgn * 0.045 * h + up * 0.04 * h, sh_c + lat * sgn * 0.05 * h - up * 0.06 * h,
                     0.062 * h * g, 1))
    segs.append((sh_c, body["head_c"], 0.03 * h * g, 0))
    segs.append((body["head_c"], body["head_c"] + up * 1e-4, 0.06 * h, 0))
    sleeve = 1 if subj.long_sleeves else 0
    for sd, k in (("left", "l"), ("right", "r")):
        segs.append((j[J[f"{sd}_shoulder"]], j[J[f"{sd}_elbow"]], 0.03 * h * g, 1))
        segs.append((j[J[f"{sd}_elbow"]], j[J[f"{sd}_wrist"]], 0.023 * h * g, sleeve))
        segs.append((j[J[f"{sd}_wrist"]], j[J[f"{sd}_wrist"]] + body[f"fore_{k}"] * 0.05 * h, 0.022 * h, 0))
        segs.append((j[J[f"{sd}_hip"]], j[J[f"{sd}_knee"]], 0.045 * h * g, 2))
        segs.append((j[J[f"{sd}_knee"]], j[J[f"{sd}_ankle"]], 0.032 * h * g, 2))
        foot = j[J[f"{sd}_ankle"]] - up * 0.025 * h
        segs.append((foot, foot + fwd * 0.1 * h, 0.022 * h, 3))
    a = np.stack([s[0] for s in segs])
    b = np.stack([s[1] for s in segs])
    return a, b, np.array([s[2] for s in segs]), np.array([s[3] for s in segs])


def _raycast(rd: np.ndarray, a: np.ndarray, b: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest capsule hit of rays from the origin: rd (N, 3) unit -> t (N,) (inf = miss), capsule (N,)."""
    ba = b - a  # (K, 3)
    oa = -a
    baba = (ba * ba).sum(-1)[:, None]
    bard = ba @ rd.T  # (K, N)
    baoa = (ba * oa).sum(-1)[:, None]
    rdoa = oa @ rd.T
    oaoa = (oa * oa).sum(-1)[:, None]
    r2 = (r * r)[:, None]
    qa = baba - bard * bard
    qb = baba * rdoa - baoa * bard
    qc = baba * oaoa - baoa * baoa - r2 * baba
    disc = qb * qb - qa * qc
    hit = disc >= 0
    sq = np.sqrt(np.maximum(disc, 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        t_body = (-qb - sq) / qa
    y = baoa + t_body * bard
    body = hit & (y > 0) & (y < baba) & (qa > 1e-12)
    # sphere caps: the end the ray reaches first
    cap_a = y <= 0
    oc = np.where(cap_a[..., None], oa[:, None, :], -b[:, None, :])  # (K, N, 3)
    b2 = (oc * rd[None]).sum(-1)
    c2 = (oc * oc).sum(-1) - r2
    h2 = b2 * b2 - c2
    t_cap = -b2 - np.sqrt(np.maximum(h2, 0))
    t = np.where(body, t_body, np.where(hit & (h2 > 0), t_cap, np.inf))
    t = np.where(t > 0, t, np.inf)
    k = t.argmin(0)
    return t[k, np.arange(t.shape[1])], k


def render_frames(joints: np.ndarray, body: dict[str, np.ndarray], subj: SubjectParams, cfg: SynthPoseConfig,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Ray-cast the capsule body: depth (T, H, W) float32 metres (0 = background, noisy) and
    rgb (T, H, W, 3) uint8."""
    hgt, wid = cfg.image_size
    fx, fy, cx, cy = cfg.intrinsics()
    vv, uu = np.mgrid[0:hgt, 0:wid].astype(np.float64)
    rd_all = _unit(np.stack([(uu - cx) / fx, -(vv - cy) / fy, np.ones_like(uu)], -1).reshape(-1, 3))
    tt = joints.shape[0]
    depth = np.zeros((tt, hgt, wid), np.float32)
    rgb = np.zeros((tt, hgt, wid, 3), np.float32)
    # background: a per-clip colour gradient with blotches (the RGB net must not key on flat colour)
    base = rng.uniform(0.2, 0.8, 3)
    grad = rng.uniform(-0.25, 0.25, 3)
    bg = base + grad * (vv / hgt)[..., None]
    blot = rng.normal(0, 0.08, (hgt // 8 + 1, wid // 8 + 1, 3)).repeat(8, 0).repeat(8, 1)[:hgt, :wid]
    bg = np.clip(bg + blot, 0, 1)
    light = _unit(np.array([0.3, 0.5, -1.0]))
    for f in range(tt):
        a, b, r, col = _capsules(joints[f], {k: v[f] for k, v in body.items()}, subj)
        # only rays inside the projected body box are cast
        ends = np.concatenate([a, b])
        pu = cx + fx * ends[:, 0] / ends[:, 2]
        pv = cy - fy * ends[:, 1] / ends[:, 2]
        m = fx * r.max() / ends[:, 2].min() + 2
        u0, u1 = int(max(0, pu.min() - m)), int(min(wid - 1, pu.max() + m))
        v0, v1 = int(max(0, pv.min() - m)), int(min(hgt - 1, pv.max() + m))
        img = bg.copy()
        if u1 >= u0 and v1 >= v0:
            box = (vv[v0:v1 + 1, u0:u1 + 1].astype(int) * wid + uu[v0:v1 + 1, u0:u1 + 1].astype(int)).ravel()
            rd = rd_all[box]
            t, k = _raycast(rd, a, b, r)
            ok = np.isfinite(t)
            p = rd[ok] * t[ok, None]
            kk = k[ok]
            # surface normal: from the closest point of the capsule axis
            ba = b[kk] - a[kk]
            s = np.clip(((p - a[kk]) * ba).sum(-1) / np.maximum((ba * ba).sum(-1), 1e-12), 0, 1)
            n = _unit(p - (a[kk] + s[:, None] * ba))
            shade = 0.35 + 0.65 * np.clip((n * light).sum(-1), 0, 1)
            ys, xs = np.divmod(box[ok], wid)
            img[ys, xs] = subj.colors[col[kk]] * shade[:, None]
            z = p[:, 2]
            sigma = cfg.depth_noise * (0.0012 + 0.0019 * (z - 0.4) ** 2)
            z = np.round((z + rng.normal(0, 1, z.shape) * sigma) * 1000) / 1000
            drop = rng.random(z.shape) < 0.01
            depth[f, ys[~drop], xs[~drop]] = z[~drop]
        rgb[f] = img + rng.normal(0, 0.02, img.shape)
    return depth, (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)


def depth_normals(depth: np.ndarray, intr: Sequence[float]) -> np.ndarray:
    """Normals (T, H, W, 3) from masked depth (T, H, W) by central differences of back-projected
    pixels, oriented towards the camera; (0, 0, -1) where a neighbour is missing."""
    fx, fy, cx, cy = intr
    t, h, w = depth.shape
    vv, uu = np.mgrid[0:h, 0:w].astype(np.float32)
    pts = np.stack([(uu - cx) * depth / fx, -(vv - cy) * depth / fy, depth], -1)
    valid = depth > 0
    dx = np.zeros_like(pts)
    dy = np.zeros_like(pts)
    dx[:, :, 1:-1] = pts[:, :, 2:] - pts[:, :, :-2]
    dy[:, 1:-1] = pts[:, 2:] - pts[:, :-2]
    okx = np.zeros_like(valid)
    oky = np.zeros_like(valid)
    okx[:, :, 1:-1] = valid[:, :, 2:] & valid[:, :, :-2]
    oky[:, 1:-1] = valid[:, 2:] & valid[:, :-2]
    # a depth jump between neighbours is an occlusion edge, not a surface
    okx &= np.abs(dx[..., 2]) < 0.08
    oky &= np.abs(dy[..., 2]) < 0.08
    n = np.cross(dx, dy)
    n = n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-9)
    n = np.where(((n * pts).sum(-1) > 0)[..., None], -n, n)
    return np.where((okx & oky & valid)[..., None], n, np.array([0.0, 0.0, -1.0], np.float32)).astype(np.float32)


def sample_cloud(depth: np.ndarray, normals: np.ndarray | None, intr: Sequence[float], num_points: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Back-project valid pixels of (T, H, W) depth and sample ``num_points`` per frame (with
    replacement only when fewer are valid). Returns points and normals, each (T, P, 3) float32.
    A frame without any valid pixel raises ConfigError."""
    fx, fy, cx, cy = intr
    t, h, w = depth.shape
    pts = np.zeros((t, num_points, 3), np.float32)
    nrm = np.zeros((t, num_points, 3), np.float32)
    for f in range(t):  # data-side loop (numpy), not in a forward pass
        idx = np.flatnonzero(depth[f] > 0)
        if idx.size == 0:
            raise ConfigError(f"sample_cloud: frame {f} has no valid depth pixel")
        pick = rng.choice(idx, num_points, replace=idx.size < num_points)
        v, u = np.divmod(pick, w)
        z = depth[f].ravel()[pick]
        pts[f] = np.stack([(u - cx) * z / fx, -(v - cy) * z / fy, z], -1)
        if normals is not None:
            nrm[f] = normals[f].reshape(-1, 3)[pick]
    return pts, nrm


def _detector(joints: np.ndarray, intr: Sequence[float], cfg: SynthPoseConfig, rng: np.random.Generator
              ) -> tuple[np.ndarray, np.ndarray]:
    """Noisy COCO-17 detections (T, J, 2) and scores (T, J) from true 3-D joints (T, J, 3)."""
    fx, fy, cx, cy = intr
    uv = np.stack([cx + fx * joints[..., 0] / joints[..., 2], cy - fy * joints[..., 1] / joints[..., 2]], -1)
    sig = np.full(17, float(cfg.kp_noise_px))
    sig[[_J["left_wrist"], _J["right_wrist"], _J["left_ankle"], _J["right_ankle"]]] *= 1.5
    err = rng.normal(0, 1, uv.shape) * sig[None, :, None]
    out = rng.random(uv.shape[:2]) < cfg.outlier_rate
    ang = rng.uniform(0, 2 * math.pi, uv.shape[:2])
    mag = rng.uniform(8, 20, uv.shape[:2])
    err[out] = np.stack([np.cos(ang), np.sin(ang)], -1)[out] * mag[out, None]
    det = uv + err
    swap = rng.random(uv.shape[0]) < cfg.swap_rate
    flip = np.array(COCO17.flip)
    det[swap] = det[swap][:, flip]
    e = np.linalg.norm(det - uv, axis=-1)
    score = np.clip(1.0 - e / 25.0 + rng.normal(0, 0.08, e.shape), 0.05, 1.0)
    return det.astype(np.float32), score.astype(np.float32)


class SyntheticPoseDataset(Dataset):
    """Rendered synthetic pose clips, all held in memory (rendered at construction).

    Args:
        cfg: :class:`SynthPoseConfig` (subjects, clips, frames, size, noise).
        modalities: item keys to produce beyond the pose keys ("depth", "rgb").
        resample_points: draw a new point sample on every access (training augmentation);
            False gives a fixed sample per clip (evaluation).

    Items: see the module docstring (T = cfg.frames, P = cfg.num_points, J = 17).
    Attributes after construction: ``depth`` (C, T, H, W) float32, ``rgb`` (C, T, H, W, 3) uint8,
    ``joints3d`` (C, T, 17, 3), ``kp2d`` (C, T, 17, 2), ``scores`` (C, T, 17), ``subjects`` (C,).
    """

    def __init__(self, cfg: SynthPoseConfig | None = None, modalities: Sequence[str] = ("depth", "rgb"),
                 resample_points: bool = False) -> None:
        self.cfg = cfg or SynthPoseConfig()
        self.modalities = tuple(modalities)
        self.resample_points = resample_points
        self.intr = self.cfg.intrinsics()
        if self.cfg.num_points < 1 or self.cfg.frames < 1 or not self.cfg.subjects:
            raise ConfigError("SynthPoseConfig: needs subjects, frames >= 1 and num_points >= 1")
        depth, rgb, joints, kp, sc, subs, names = [], [], [], [], [], [], []
        for sid in self.cfg.subjects:
            subj = make_subject(sid, self.cfg.seed)
            for c in range(self.cfg.clips_per_subject):
                rng = np.random.default_rng([self.cfg.seed, sid, c])
                motion = self.cfg.motions[int(rng.integers(len(self.cfg.motions)))]
                j3, body = simulate_clip(subj, motion, self.cfg.frames, self.cfg.fps, rng)
                d, im = render_frames(j3, body, subj, self.cfg, rng)
                if not (d > 0).any(axis=(1, 2)).all():  # person fully out of view: redraw the placement
                    j3, body = simulate_clip(subj, motion, self.cfg.frames, self.cfg.fps, rng)
                    d, im = render_frames(j3, body, subj, self.cfg, rng)
                k2, s2 = _detector(j3, self.intr, self.cfg, rng)
                depth.append(d)
                rgb.append(im)
                joints.append(j3.astype(np.float32))
                kp.append(k2)
                sc.append(s2)
                subs.append(sid)
                names.append(f"S{sid:03d}C{c:03d}_{motion}")
        self.depth, self.rgb = np.stack(depth), np.stack(rgb)
        self.joints3d, self.kp2d, self.scores = np.stack(joints), np.stack(kp), np.stack(sc)
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
            item["rgb"] = normalize_rgb(torch.from_numpy(self.rgb[i]))
        return item


def normalize_rgb(frames: Tensor) -> Tensor:
    """uint8 (T, H, W, 3) -> ImageNet-normalised float32 (3, T, H, W)."""
    x = frames.float().div(255).permute(3, 0, 1, 2)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1, 1)
    return (x - mean) / std


def lift_with_depth(kp2d: Tensor, depth: Tensor, intr: Any, window: int = 2) -> Tensor:
    """Naive 2-D -> 3-D baseline: back-project each detected pixel with the depth image there.

    Where the (rounded) pixel has no depth, the nearest valid pixel of the (2*window+1)^2
    window is used; where the window is empty too, the frame's median valid depth (so every
    joint gets a finite estimate).

    Args:
        kp2d: (N, T, J, 2) pixels. depth: (N, T, H, W) metres, 0 = invalid.
        intr: (N, 4) or (4,) intrinsics of the depth image.

    Returns:
        (N, T, J, 3) camera metres.
    """
    n, t, j, _ = kp2d.shape
    h, w = depth.shape[-2:]
    off = torch.arange(-window, window + 1, device=kp2d.device)
    dv, du = torch.meshgrid(off, off, indexing="ij")
    du, dv = du.reshape(-1), dv.reshape(-1)
    u = kp2d[..., 0].round().long().unsqueeze(-1) + du  # (N, T, J, K)
    v = kp2d[..., 1].round().long().unsqueeze(-1) + dv
    inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
    flat = depth.reshape(n, t, 1, h * w).expand(n, t, j, h * w)
    vals = torch.gather(flat, 3, (v.clamp(0, h - 1) * w + u.clamp(0, w - 1)))
    ok = inside & (vals > 0)
    dist = (du.square() + dv.square()).float().expand_as(vals)
    dist = torch.where(ok, dist, torch.full_like(dist, float("inf")))
    best = dist.argmin(-1, keepdim=True)
    z = torch.gather(vals, 3, best)[..., 0]
    found = ok.any(-1)
    med = torch.where(depth > 0, depth, torch.full_like(depth, float("nan"))).flatten(2).nanmedian(-1).values
    z = torch.where(found, z, med.unsqueeze(-1).expand_as(z))
    intr_t = torch.as_tensor(intr, dtype=torch.float32, device=kp2d.device) if not isinstance(intr, Tensor) else intr
    intr_t = intr_t.view(n, 1, 1, 4) if intr_t.ndim == 2 else intr_t
    return backproject(kp2d.float(), z.float(), intr_t)


def _crop_cloud(pts: np.ndarray, keep: np.ndarray, num_points: int, rng: np.random.Generator) -> np.ndarray:
    """Sample ``num_points`` indices among ``keep`` (bool (M,)); all valid points if none kept."""
    idx = np.flatnonzero(keep)
    if idx.size == 0:
        idx = np.flatnonzero(np.abs(pts).sum(-1) > 0)
    if idx.size == 0:
        raise ConfigError("a frame has no valid point")
    return rng.choice(idx, num_points, replace=idx.size < num_points)


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
            pick = _crop_cloud(cloud[k], keep, self.num_points, rng)
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
    camera (Y up, metres) via :func:`~mmfusion.pose.panoptic.world_to_kinect_depth`.

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
            cam = world_to_kinect_depth(xyz * 100.0, self.sensor)
            cam[..., 1] *= -1  # OpenCV -> Y up
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
            pick = _crop_cloud(cloud, keep, self.num_points, rng)
            pts[k], nrm[k] = cloud[pick], normals[k].reshape(-1, 3)[pick]
        return {
            "points": torch.from_numpy(pts), "normals": torch.from_numpy(nrm),
            "keypoints2d": torch.from_numpy(kp[None]), "keypoint_scores": torch.from_numpy(self.scores[idx][None]),
            "intrinsics": torch.tensor(self.intr, dtype=torch.float32),
            "joints3d": torch.from_numpy(self.joints3d[idx]), "joints_valid": torch.from_numpy(self.valid[idx]),
            "depth": torch.from_numpy(depth[None]), "subject": torch.tensor(0), "name": f"{self.hd[idx[0]]:08d}",
        }
