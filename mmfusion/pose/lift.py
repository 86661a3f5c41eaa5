"""Lift a clip's 2-D keypoints to 3-D camera joints with its depth frames (UniPose stage A or naive).

The one-call API for pipelines (RGB-D -> skeleton -> action)::

    from mmfusion.pose.lift import lift_rgbd, load_lifter
    net = load_lifter("runs/unipose_synth/stage_a")        # or None for the naive lifting
    joints = lift_rgbd(depth_mm, kp2d, KINECT_V2_DEPTH, model=net)   # (T, V, 3) metres

* ``model=None``: every keypoint is back-projected with the depth image at its pixel (nearest
  valid pixel of a 5 x 5 window, else the frame's median depth) —
  :func:`mmfusion.pose.cloud.lift_with_depth`. The joints then lie on the visible body
  surface (a few cm in front of the joint centres) and inherit every depth hole / occlusion.
* ``model`` = a stage-A :class:`~mmfusion.pose.pointnet_pose.PointPoseNet` (or the folder of
  one, see :func:`save_lifter`): the person's points are cut from the depth frames with the
  2-D keypoints (a square box around them, a depth gate around the depth at the keypoints,
  which drops walls, and with ``remove_floor_plane=True`` a RANSAC floor plane under the
  feet, for unmasked depth), sampled to ``num_points``
  per frame with depth-map normals, and the network votes the joints. The 2-D keypoints are
  only used to find the person; the joints come from the cloud.

Camera convention (:mod:`mmfusion.data.pointcloud`): X right, Y up, Z forward, metres.
A frame without any usable depth pixel gives all-zero joints (the NTU convention for an
absent body); nothing becomes NaN.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import CheckpointError, ConfigError
from ..registry import create_model
from ..runs import save_weights, write_model_config
from .a2j import keypoint_boxes
from .cloud import depth_normals, lift_with_depth, sample_cloud
from .decode import intrinsics_tensor

__all__ = ["lift_rgbd", "load_lifter", "save_lifter", "person_depth", "remove_floor"]

#: points per frame when the checkpoint does not say (stage A's recipes train with 512)
DEFAULT_POINTS = 512
#: half depth of the gate around the person's depth (a body is < ~0.6 m deep; arms reach forward)
GATE_M = 0.8
#: points closer than this to the floor plane are dropped (metres; Kinect noise at 3-4 m is ~1-2 cm)
FLOOR_TOL = 0.04


def save_lifter(model: nn.Module, run_dir: str | Path, model_name: str, model_kwargs: Mapping[str, Any],
                num_points: int, extra: Mapping[str, Any] | None = None) -> Path:
    """Write a stage-A network as ``<run_dir>/model.safetensors`` + ``config.json``.

    The folder loads with ``mmfusion.create_model(model_name, checkpoint=run_dir)`` or
    :func:`load_lifter`; ``num_points`` (points per frame at training) is kept in the JSON
    and used by :func:`lift_rgbd`. Returns the folder.
    """
    run_dir = Path(run_dir)
    save_weights(model, run_dir / "model.safetensors", metadata={"model_name": model_name})
    write_model_config(run_dir, model_name, dict(model_kwargs), modalities=("points", "keypoints2d"),
                       extra={"num_points": int(num_points), "task": "unipose_stage_a", **dict(extra or {})})
    return run_dir


def load_lifter(run_dir: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """A stage-A network from a :func:`save_lifter` folder, in eval mode, on ``device``.

    Raises:
        CheckpointError: no ``config.json`` / weights, or weights that do not fit.
    """
    run_dir = Path(run_dir)
    cfg_file = run_dir / "config.json"
    if not cfg_file.is_file():
        raise CheckpointError(f"{cfg_file}: missing; expected a stage-A folder written by save_lifter")
    try:
        cfg = json.loads(cfg_file.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{cfg_file}: not valid JSON ({exc})") from exc
    if not cfg.get("model_name"):
        raise CheckpointError(f"{cfg_file}: no 'model_name'")
    model = create_model(cfg["model_name"], checkpoint=run_dir)
    model.lift_num_points = int(cfg.get("num_points") or DEFAULT_POINTS)  # read by lift_rgbd
    return model.to(device).eval()


def _as_numpy(x: Any, name: str) -> np.ndarray:
    if isinstance(x, Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, np.ndarray):
        return x
    raise ConfigError(f"lift_rgbd: {name} must be a numpy array or a tensor, got {type(x).__name__}")


def person_depth(depth_m: np.ndarray, kp: np.ndarray, scores: np.ndarray | None,
                 intr: tuple[float, float, float, float] | None = None, margin: float = 1.2,
                 gate: float = GATE_M, seed: int = 0) -> np.ndarray:
    """Keep the person in (T, H, W) metre depth: pixels in the square box around each frame's
    2-D keypoints (``margin`` x their extent) within ``gate`` metres of the median depth at
    the keypoints; everything else 0. kp (T, V, 2) pixels, scores (T, V) or None. With the
    intrinsics ``(fx, fy, cx, cy)`` the floor under the feet is removed too (:func:`remove_floor`)."""
    t, h, w = depth_m.shape
    sc = None if scores is None else torch.from_numpy(scores.astype(np.float32))
    boxes = keypoint_boxes(torch.from_numpy(kp.astype(np.float32)), sc, margin=margin).numpy()
    # nearest surface in a 5 x 5 window around each keypoint: a detection just off a thin limb
    # then still reads the limb, not the wall behind it (in unmasked depth most would)
    z_kp = np.full(kp.shape[:2], np.inf, np.float32)
    u0, v0 = np.round(kp[..., 0]).astype(int), np.round(kp[..., 1]).astype(int)
    frame = np.arange(t)[:, None]
    for dv in range(-2, 3):
        for du in range(-2, 3):
            u, v = u0 + du, v0 + dv
            ok = (u >= 0) & (u < w) & (v >= 0) & (v < h)
            z = depth_m[frame, v.clip(0, h - 1), u.clip(0, w - 1)]
            z_kp = np.minimum(z_kp, np.where(ok & (z > 0), z, np.inf))
    # median over the keypoints that found depth (inf = none; a frame without any gets z_ref = inf: empty cut)
    z_ref = np.sort(z_kp, axis=1)[np.arange(t), np.maximum((np.isfinite(z_kp).sum(1) - 1) // 2, 0)]
    vv, uu = np.mgrid[0:h, 0:w]
    x0, y0, side = boxes[:, 0, None, None], boxes[:, 1, None, None], boxes[:, 2, None, None]
    inside = (uu >= x0) & (uu <= x0 + side) & (vv >= y0) & (vv <= y0 + side)
    near = np.abs(depth_m - z_ref[:, None, None]) < gate
    cut = np.where(inside & near & (depth_m > 0), depth_m, 0).astype(np.float32)
    if intr is not None:
        cut = remove_floor(cut, kp, intr, np.random.default_rng(seed))
    return cut


def remove_floor(cut: np.ndarray, kp: np.ndarray, intr: tuple[float, float, float, float],
                 rng: np.random.Generator, tol: float = FLOOR_TOL, hypotheses: int = 64) -> np.ndarray:
    """Zero the floor in person cuts (T, H, W) metres: per frame a RANSAC plane among the points
    of the lowest 30 % of the keypoints' height (shins, feet and whatever is around them). A
    plane within 40 deg of horizontal (camera Y up) that holds >= 30 % of them, most of them
    more than 0.35 m from the two lowest keypoints (the feet: a floor reaches beyond them,
    the tops of the feet do not), is the floor; every point less than ``tol`` above it (or
    below it) is dropped. For unmasked depth only: on masked depth (the person alone) it
    sometimes takes a patch of legs cut by the image border for a floor."""
    fx, fy, cx, cy = intr
    out = cut.copy()
    h, w = cut.shape[1:]
    vv, uu = np.mgrid[0:h, 0:w]
    lifted = lift_with_depth(torch.from_numpy(kp.astype(np.float32))[None], torch.from_numpy(cut)[None],
                             tuple(float(v) for v in intr))[0].numpy()  # (T, V, 3) surface under each keypoint
    for f in range(len(cut)):  # data-side loop over frames (numpy), not in a forward pass
        top, bottom = kp[f, :, 1].min(), kp[f, :, 1].max()
        valid = cut[f] > 0
        low = valid & (vv >= top + 0.7 * (bottom - top))
        if low.sum() < 20:
            continue
        z = cut[f][low]
        pts = np.stack([(uu[low] - cx) * z / fx, -(vv[low] - cy) * z / fy, z], -1)  # (N, 3)
        tri = pts[rng.integers(0, len(pts), (hypotheses, 3))]  # (K, 3, 3)
        n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        norm = np.linalg.norm(n, axis=-1, keepdims=True)
        n = np.where(norm > 1e-9, n / np.maximum(norm, 1e-9), 0.0)
        n = n * np.where(n[:, 1:2] < 0, -1.0, 1.0)  # normals point up
        d = (n * tri[:, 0]).sum(-1)
        height = pts @ n.T - d  # (N, K) signed height above each plane
        count = (np.abs(height) < tol).sum(0) * (n[:, 1] > math.cos(math.radians(40)))
        best = int(count.argmax())
        if count[best] < max(20, 0.3 * len(pts)):
            continue
        feet = lifted[f][np.argsort(kp[f, :, 1])[-2:]]  # (2, 3)
        inl = pts[np.abs(height[:, best]) < tol]
        away = np.linalg.norm(inl[:, None] - feet[None], axis=-1).min(1) > 0.35
        if not np.isfinite(feet).all() or away.mean() < 0.5:
            continue
        z_all = cut[f]
        p_all = np.stack([(uu - cx) * z_all / fx, -(vv - cy) * z_all / fy, z_all], -1)
        floor = valid & ((p_all @ n[best] - d[best]) < tol)
        out[f][floor] = 0
    return out


@torch.no_grad()
def lift_rgbd(depth: Any, keypoints2d: Any, intrinsics: Any, model: nn.Module | str | Path | None = None,
              scores: Any = None, num_points: int | None = None, depth_scale: float = 1000.0,
              seed: int = 0, chunk: int = 64, remove_floor_plane: bool = False) -> Any:
    """Lift a clip's 2-D keypoints to 3-D camera joints.

    Args:
        depth: (T, H, W) depth frames, uint16 millimetres (0 = no reading) — any numeric
            array/tensor, divided by ``depth_scale`` to get metres.
        keypoints2d: (T, V, 2) pixels (u = column, v = row) in the depth image; for a
            stage-A model V must be its joint count (COCO-17 for the shipped recipes).
        intrinsics: of the depth camera: ``CameraIntrinsics``, ``(fx, fy, cx, cy)`` or a
            tensor (4,).
        model: None (naive lifting), a stage-A network, or a :func:`save_lifter` folder.
        scores: optional (T, V) keypoint confidences (used to place the person box).
        num_points: points per frame for the network (default: the checkpoint's training
            value, else 512).
        depth_scale: depth units per metre.
        seed: point sampling seed (the result is deterministic given it).
        chunk: frames per forward pass.
        remove_floor_plane: for unmasked depth (the floor in view): drop the floor under the
            feet (:func:`remove_floor`) before the network sees the cloud. Leave it off for
            masked depth (NTU's ``nturgb+d_depth_masked``, body-index masks).

    Returns:
        (T, V, 3) float32 camera metres (X right, Y up, Z forward); a numpy array when
        ``keypoints2d`` is one, else a tensor. Frames without usable depth give zeros.

    Raises:
        ConfigError: wrong shapes, or a model whose joint count differs from V.
    """
    as_tensor = isinstance(keypoints2d, Tensor)
    d = _as_numpy(depth, "depth").astype(np.float32) / float(depth_scale)
    kp = _as_numpy(keypoints2d, "keypoints2d").astype(np.float32)
    sc = None if scores is None else _as_numpy(scores, "scores").astype(np.float32)
    if d.ndim != 3 or kp.ndim != 3 or kp.shape[-1] != 2 or kp.shape[0] != d.shape[0]:
        raise ConfigError(f"lift_rgbd: depth must be (T, H, W) and keypoints2d (T, V, 2) with the same T; got "
                          f"{d.shape} and {kp.shape}")
    if sc is not None and sc.shape != kp.shape[:2]:
        raise ConfigError(f"lift_rgbd: scores must be {kp.shape[:2]}, got {sc.shape}")
    if not np.isfinite(kp).all() or not np.isfinite(d).all():
        raise ConfigError("lift_rgbd: keypoints2d / depth contain NaN or inf")
    intr = intrinsics_tensor(intrinsics, torch.zeros(()))
    intr_t = tuple(float(v) for v in intr.reshape(4))
    has_depth = (d > 0).any(axis=(1, 2))  # (T,)
    if model is None:
        out = lift_with_depth(torch.from_numpy(kp)[None], torch.from_numpy(d)[None], intr)[0].numpy()
    else:
        net = load_lifter(model) if isinstance(model, (str, Path)) else model
        out = _lift_with_net(net, d, kp, sc, intr_t, num_points, seed, chunk, remove_floor_plane)
    out = np.where(has_depth[:, None, None], np.nan_to_num(out, nan=0.0), 0.0).astype(np.float32)
    return torch.from_numpy(out) if as_tensor else out


def _lift_with_net(net: nn.Module, d: np.ndarray, kp: np.ndarray, sc: np.ndarray | None,
                   intr: tuple[float, float, float, float], num_points: int | None, seed: int, chunk: int,
                   floor: bool) -> np.ndarray:
    j = getattr(net, "num_joints", None)
    if j is not None and j != kp.shape[1]:
        raise ConfigError(f"lift_rgbd: the model predicts {j} joints, keypoints2d has {kp.shape[1]}")
    p = int(num_points or getattr(net, "lift_num_points", DEFAULT_POINTS))
    p = max(p, int(getattr(net, "npoints", (1,))[0]))
    person = person_depth(d, kp, sc, intr if floor else None, seed=seed)
    # frames whose person cut is empty (keypoints off the body) fall back to the whole valid depth
    empty = ~(person > 0).any(axis=(1, 2))
    person = np.where(empty[:, None, None], d, person)
    usable = (person > 0).any(axis=(1, 2))
    out = np.zeros((*kp.shape[:2], 3), np.float32)
    if not usable.any():
        return out
    frames = np.flatnonzero(usable)
    normals = depth_normals(person[frames], intr) if getattr(net, "in_features", 0) else None
    pts, nrm = sample_cloud(person[frames], normals, intr, p, np.random.default_rng(seed))
    was_training = net.training
    net.eval()
    try:
        dev = next(net.parameters()).device
        key = getattr(net, "feature_key", "normals")
        for s in range(0, len(frames), chunk):
            batch = {"points": torch.from_numpy(pts[s:s + chunk]).to(dev)[None]}
            if normals is not None:
                batch[key] = torch.from_numpy(nrm[s:s + chunk]).to(dev)[None]
            out[frames[s:s + chunk]] = net(batch)["joints"][0].float().cpu().numpy()
    finally:
        net.train(was_training)
    return out
