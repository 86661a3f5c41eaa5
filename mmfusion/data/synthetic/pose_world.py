"""The synthetic pose world: one performer in front of one Kinect-like camera, hidden 3-D truth.

UniPose's training and evaluation data (:class:`mmfusion.pose.data.SyntheticPoseDataset`). It
is built from the same pieces as the NTU world, so both worlds share one body, one renderer and
one detector simulation:

* body: :class:`~.body.Subject` (the 25-joint Kinect body with per-subject size, proportions,
  girth and clothing) posed by :func:`~.body.forward_kinematics` from the joint angles of one
  of eight parametric motions (:data:`POSE_MOTIONS`: wave, raise, walk, squat, reach, bow,
  kick, punch; :func:`motion_angles`, degrees per :data:`~.actions.DRIVERS` driver);
* placement: random yaw (facing the camera +-69 degrees, slowly turning), distance 2.2-3.6 m,
  lateral offset, camera height 0.8-1.3 m and pitch +-7 degrees; the lowest ankle stands on
  the floor in every frame;
* rendering: :func:`~.render.raycast` of :func:`~.render.body_primitives` (exact per pixel),
  :func:`~.render.kinect_depth` (axial noise growing with Z^2, silhouette-edge dropout, mm
  quantisation) and :func:`~.render.shade_rgb` over a per-clip textured background;
* 2-D detections: :func:`~.detector.noisy_keypoints2d` with a fixed pixel noise
  (``kp_noise_px``), outliers and left/right swaps, on the true COCO-17 projections;
* ground truth: COCO-17 joint centres (:func:`~.body.coco17_points`, face points from the head).

Camera frame: NTU axes (X towards image right, Y up, Z forward; ``u = cx + fx X / Z``,
``v = cy - fy Y / Z``), intrinsics from ``image_size`` and ``hfov_deg`` (:meth:`SynthPoseConfig.camera`).
Everything is deterministic given the seed, the subject id and the clip index.

Shapes (T frames, J = 17): :class:`PoseClip` holds ``depth`` float32 (T, H, W) metres (0 = no
reading), ``rgb`` uint8 (T, H, W, 3), ``joints3d`` float32 (T, 17, 3) camera metres,
``keypoints2d`` float32 (T, 17, 2) pixels and ``scores`` float32 (T, 17).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from mmfusion.errors import ConfigError

from .actions import DRIVERS, driver_rotation
from .body import ANKLE_HEIGHT, J, Subject, coco17_points, forward_kinematics, rot_x, rot_y
from .config import Camera
from .detector import noisy_keypoints2d
from .render import body_primitives, kinect_depth, material_table, raycast, shade_rgb

#: the pose world's motions
POSE_MOTIONS: tuple[str, ...] = ("wave", "raise", "walk", "squat", "reach", "bow", "kick", "punch")


@dataclass
class SynthPoseConfig:
    """Pose world settings.

    Attributes:
        subjects: subject ids to render (split train / test by choosing disjoint ids).
        clips_per_subject: clips per subject (each a random motion).
        frames: T, frames per clip.
        fps: frame rate of the motion (lower = larger motion between frames).
        image_size: (H, W) of depth and RGB.
        hfov_deg: horizontal field of view (Kinect v2 depth: 70.6).
        num_points: P, points per frame (read by the data set's point sampling).
        kp_noise_px, outlier_rate, swap_rate: 2-D detector noise (pixel std, per-joint outlier
            and per-frame left/right swap probabilities).
        depth_noise: scale of the Kinect-like axial noise (1 = nominal, 4 mm at 3 m).
        edge_dropout: probability that a silhouette-edge depth pixel is invalid.
        rgb_noise: per-pixel Gaussian noise std of the RGB frames, 8-bit levels.
        seed: master seed (the subject id and clip index are mixed in).
        motions: motion names drawn from (subset of :data:`POSE_MOTIONS`).
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
    edge_dropout: float = 0.15
    rgb_noise: float = 5.0
    seed: int = 0
    motions: Sequence[str] = field(default=POSE_MOTIONS)

    def intrinsics(self) -> tuple[float, float, float, float]:
        """(fx, fy, cx, cy) of the camera."""
        h, w = self.image_size
        f = (w / 2) / math.tan(math.radians(self.hfov_deg) / 2)
        return (f, f, (w - 1) / 2, (h - 1) / 2)

    def camera(self) -> Camera:
        return Camera(*self.intrinsics(), int(self.image_size[0]), int(self.image_size[1]))

    def validate(self) -> None:
        if self.num_points < 1 or self.frames < 1 or not len(self.subjects):
            raise ConfigError("SynthPoseConfig: needs subjects, frames >= 1 and num_points >= 1")
        unknown = sorted(set(self.motions) - set(POSE_MOTIONS))
        if unknown or not len(self.motions):
            raise ConfigError(f"SynthPoseConfig.motions: unknown {unknown}; known: {POSE_MOTIONS}")


@dataclass
class PoseClip:
    """One rendered clip (see the module docstring for shapes)."""

    depth: np.ndarray
    rgb: np.ndarray
    joints3d: np.ndarray
    keypoints2d: np.ndarray
    scores: np.ndarray
    motion: str


def motion_angles(motion: str, t: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Joint angles of one motion: driver name (:data:`~.actions.DRIVERS`) -> (T, 3) degrees
    ``(flex, abduction, twist)`` at times ``t`` (T,) seconds; the side of one-sided motions,
    amplitude, speed, phase and a per-joint style offset and tremor are drawn from ``rng``."""
    z = np.zeros_like(t)
    w = 2 * math.pi * rng.uniform(0.25, 0.6)
    ph = rng.uniform(0, 2 * math.pi)
    s = np.sin(w * t + ph)
    c01 = (1 - np.cos(w * t + ph)) / 2  # 0..1
    # radians per degree of freedom; the names are mapped to drivers below
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
        raise ConfigError(f"unknown pose-world motion {motion!r}; known: {POSE_MOTIONS}")
    for k in a:  # individual style: small constant offsets and tremor
        a[k] = a[k] + rng.normal(0, 0.06) + 0.02 * np.sin(2 * math.pi * rng.uniform(0.5, 1.5) * t + rng.uniform(0, 6))
    a["elb_l"], a["elb_r"] = a["elb_l"].clip(0, 2.5), a["elb_r"].clip(0, 2.5)
    a["knee_l"], a["knee_r"] = a["knee_l"].clip(0, 2.4), a["knee_r"].clip(0, 2.4)
    a["habd_l"], a["habd_r"] = 0.05 + 0.3 * np.maximum(a["habd_l"], 0), 0.05 + 0.3 * np.maximum(a["habd_r"], 0)
    deg = {k: np.rad2deg(v) for k, v in a.items()}
    out = {"lumbar": np.stack([deg["bend"], deg["lean"], deg["twist"]], -1)}
    for k in ("l", "r"):
        # outward twist with abduction: a raised arm's elbow bends up and forward, not only forward
        twist = np.rad2deg(np.clip(0.5 * a[f"abd_{k}"], 0.0, 1.0))
        out[f"shoulder_{k}"] = np.stack([deg[f"flex_{k}"], deg[f"abd_{k}"], twist], -1)
        out[f"elbow_{k}"] = np.stack([deg[f"elb_{k}"], z, z], -1)
        out[f"hip_{k}"] = np.stack([deg[f"hip_{k}"], deg[f"habd_{k}"], z], -1)
        out[f"knee_{k}"] = np.stack([deg[f"knee_{k}"], z, z], -1)
    return out


def perform_in_view(subject: Subject, motion: str, frames: int, fps: float, rng: np.random.Generator
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Pose ``subject`` for ``frames`` frames and place it before the camera.

    Returns joints (T, 25, 3) and global rotations (T, 25, 3, 3) in the camera frame.
    """
    t = np.arange(frames) / fps + rng.uniform(0, 10)
    ang = motion_angles(motion, t, rng)
    v = len(J)
    local = np.broadcast_to(np.eye(3), (frames, v, 3, 3)).copy()
    for driver, val in ang.items():
        local[:, J[DRIVERS[driver][0]]] = driver_rotation(driver, val)
    eye = np.broadcast_to(np.eye(3), (frames, 3, 3))
    pos, glob = forward_kinematics(subject, np.zeros((frames, 3)), eye, local)
    # stand on the floor (y = 0): the lowest ankle at its rest height in every frame
    ankles = pos[:, [J["AnkleLeft"], J["AnkleRight"]], 1].min(1)
    pos[..., 1] += (ANKLE_HEIGHT * subject.height_scale - ankles)[:, None]
    # body frame -> camera: yaw 0 faces the camera (body +z = camera -Z), then pitch and position
    yaw = rng.uniform(-1.2, 1.2) + np.linspace(0, rng.normal(0, 0.2), frames)
    dist = rng.uniform(2.2, 3.6)
    x0 = rng.uniform(-0.35, 0.35) * dist
    drift = np.linspace(0, 1, frames)[:, None] * rng.normal(0, 0.05, 3) * np.array([1, 0, 1])
    cam_h = rng.uniform(0.8, 1.3)
    pitch = rot_x(rng.uniform(-0.12, 0.12))
    rot = pitch @ rot_y(math.pi + yaw)                                     # (T, 3, 3)
    shift = (np.array([x0, -cam_h, dist]) + drift) @ pitch.T              # (T, 3)
    joints = np.einsum("tij,tvj->tvi", rot, pos) + shift[:, None]
    return joints, np.einsum("tij,tvjk->tvik", rot, glob)


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """(H, W, 3) in [0, 1]: a colour gradient with blotches (the RGB net must not key on a flat colour)."""
    base = rng.uniform(0.2, 0.8, 3)
    grad = rng.uniform(-0.25, 0.25, 3)
    vv = np.arange(h, dtype=np.float64)[:, None, None]
    bg = base + grad * (vv / h) + np.zeros((1, w, 1))
    blot = rng.normal(0, 0.08, (h // 8 + 1, w // 8 + 1, 3)).repeat(8, 0).repeat(8, 1)[:h, :w]
    return np.clip(bg + blot, 0, 1)


#: direction towards the light in the camera frame (above, in front of the person)
_LIGHT = np.array([0.3, 0.5, -1.0]) / np.linalg.norm([0.3, 0.5, -1.0])


def render_pose_clip(cfg: SynthPoseConfig, subject: Subject, rng: np.random.Generator) -> PoseClip:
    """One clip of ``subject`` (random motion and placement, redrawn once if the person leaves
    the view in some frame), rendered and detected; all draws from ``rng``."""
    motion = cfg.motions[int(rng.integers(len(cfg.motions)))]
    cam = cfg.camera()
    index, albedo, _ = material_table(subject, None)
    for _attempt in range(2):
        joints, glob = perform_in_view(subject, motion, cfg.frames, cfg.fps, rng)
        z, normal, mat = raycast(body_primitives(subject, joints, glob, index), cam, cfg.frames)
        if np.isfinite(z).any(axis=(1, 2)).all():
            break
    depth = kinect_depth(z, rng, 4.0 * cfg.depth_noise, cfg.edge_dropout).astype(np.float32) / 1000.0
    rgb = shade_rgb(normal, mat, albedo, _LIGHT, _background(rng, cam.height, cam.width), 1.0, rng, cfg.rgb_noise)
    coco = coco17_points(joints, glob, subject.height_scale)
    uv = np.stack([cam.cx + cam.fx * coco[..., 0] / coco[..., 2], cam.cy - cam.fy * coco[..., 1] / coco[..., 2]], -1)
    kp, sc = noisy_keypoints2d(uv[None], None, rng, outlier_rate=cfg.outlier_rate, miss_rate=0.0,
                               swap_rate=cfg.swap_rate, sigma_px=cfg.kp_noise_px)
    return PoseClip(depth, rgb, coco.astype(np.float32), kp[0], sc[0], motion)


def pose_subject(subject_id: int, seed: int = 0) -> Subject:
    """The pose world's subject ``subject_id`` (the NTU world's performer of that id)."""
    return Subject.create(subject_id, seed)


__all__ = ["POSE_MOTIONS", "PoseClip", "SynthPoseConfig", "motion_angles", "perform_in_view", "pose_subject",
           "render_pose_clip"]
