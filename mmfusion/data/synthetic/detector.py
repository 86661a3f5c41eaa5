"""A simulated off-the-shelf 2D pose detector (COCO-17) for the synthetic world.

:func:`noisy_keypoints2d` turns clean projected keypoints into what an HRNet-like detector
outputs: Gaussian pixel noise proportional to the person's size in the image (larger at
wrists/ankles and at occluded joints), occasional outliers (a joint jumps elsewhere with a low
score), missed joints (score near 0, position arbitrary) and whole-body left/right swaps.
Scores fall with the error, as a detector's confidence does. Both synthetic worlds use it: the
NTU world through :func:`detect`, the pose world (:mod:`.pose_world`) with a fixed pixel noise
(``sigma_px``).

Shapes: keypoints ``(M, T, V, 2)`` pixels, visibility and scores ``(M, T, V)``; V = 17
(COCO-17) or 25 (NTU-25, mapped to COCO-17 with :data:`~mmfusion.data.layouts.NTU25_TO_COCO17`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mmfusion.data.layouts import COCO17, NTU25_TO_COCO17
from mmfusion.errors import ConfigError

#: per-joint noise multiplier (COCO-17 order): extremities are harder to localise
_JOINT_NOISE = np.array([0.8, 0.7, 0.7, 0.9, 0.9, 1.0, 1.0, 1.2, 1.2, 1.5, 1.5, 1.1, 1.1, 1.3, 1.3, 1.5, 1.5])


def noisy_keypoints2d(keypoints: np.ndarray, visible: np.ndarray | None = None,
                      rng: np.random.Generator | int | None = None, sigma: float = 0.012,
                      outlier_rate: float = 0.02, miss_rate: float = 0.01, swap_rate: float = 0.01,
                      image_size: tuple[int, int] | None = None,
                      sigma_px: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Simulate a 2D detector on clean keypoints.

    Args:
        keypoints: (M, T, 17, 2) COCO-17 (or (M, T, 25, 2) NTU-25) clean pixel coordinates.
        visible: (M, T, V) bool, False where the joint is occluded (noisier, lower score).
        rng: generator or seed (default 0: deterministic).
        sigma: noise std as a fraction of the person's box height in each frame.
        outlier_rate, miss_rate: per-joint probabilities of an outlier / a missed joint.
        swap_rate: per-frame probability of a left/right swap of the whole body.
        image_size: (H, W); if given, outputs are clipped to the image.
        sigma_px: if given, the noise std in pixels (instead of ``sigma`` x box height): a
            detector of fixed pixel accuracy, as the pose world's ``kp_noise_px``.

    Returns:
        keypoints (M, T, 17, 2) float32 pixels and scores (M, T, 17) float32 in [0, 1].
    """
    kps = np.asarray(keypoints, dtype=np.float64)
    if kps.ndim != 4 or kps.shape[-1] != 2 or kps.shape[2] not in (17, 25):
        raise ConfigError(f"keypoints must be (M, T, 17|25, 2), got {kps.shape}")
    if visible is None:
        visible = np.ones(kps.shape[:3], dtype=bool)
    visible = np.asarray(visible, dtype=bool)
    if visible.shape != kps.shape[:3]:
        raise ConfigError(f"visible must be {kps.shape[:3]}, got {visible.shape}")
    if kps.shape[2] == 25:
        kps = kps[:, :, list(NTU25_TO_COCO17)]
        visible = visible[:, :, list(NTU25_TO_COCO17)]
    for name, v in (("sigma", sigma), ("outlier_rate", outlier_rate), ("miss_rate", miss_rate),
                    ("swap_rate", swap_rate)):
        if not 0 <= v <= 1:
            raise ConfigError(f"{name}={v} must be in [0, 1]")
    if sigma_px is not None and not sigma_px >= 0:
        raise ConfigError(f"sigma_px={sigma_px} must be >= 0")
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(0 if rng is None else rng)
    m, t, v, _ = kps.shape
    box_h = np.maximum(np.ptp(kps[..., 1], axis=-1), 1.0)[..., None, None]          # (M, T, 1, 1)
    base = sigma * box_h if sigma_px is None else sigma_px
    scale = base * _JOINT_NOISE[None, None, :, None] * np.where(visible, 1.0, 2.5)[..., None]
    err = rng.normal(0.0, 1.0, kps.shape) * scale
    out = kps + err
    # outliers: the joint lands somewhere else on (or near) the body
    outlier = rng.random((m, t, v)) < outlier_rate
    jump = rng.normal(0.0, 1.0, kps.shape)
    jump *= (rng.uniform(0.1, 0.3, (m, t, v)) * box_h[..., 0] / np.maximum(np.linalg.norm(jump, axis=-1), 1e-9))[
        ..., None]
    out = np.where(outlier[..., None], kps + jump, out)
    # missed joints: arbitrary position inside the person's box, near-zero score
    missed = rng.random((m, t, v)) < miss_rate
    lo, hi = kps.min(2, keepdims=True), kps.max(2, keepdims=True)
    out = np.where(missed[..., None], lo + rng.random(kps.shape) * (hi - lo), out)
    # whole-body left/right swaps (the classic detector failure on side views)
    swap = rng.random((m, t)) < swap_rate
    out = np.where(swap[..., None, None], out[:, :, list(COCO17.flip)], out)
    dist = np.linalg.norm(out - kps, axis=-1) / box_h[..., 0]
    score = np.clip(0.97 - 2.5 * dist + rng.normal(0.0, 0.03, dist.shape), 0.05, 1.0)
    score = np.where(visible, score, score * rng.uniform(0.4, 0.8, dist.shape))
    score = np.where(outlier, rng.uniform(0.05, 0.4, dist.shape), score)
    score = np.where(missed, rng.uniform(0.0, 0.08, dist.shape), score)
    if image_size is not None:
        out[..., 0] = np.clip(out[..., 0], 0, image_size[1] - 1)
        out[..., 1] = np.clip(out[..., 1], 0, image_size[0] - 1)
    return out.astype(np.float32), score.astype(np.float32)


def detect(sample: dict[str, Any], rng: np.random.Generator | int | None = None, camera: str = "rgb",
           **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
    """:func:`noisy_keypoints2d` on a :func:`~.generate.render_sample` result (camera "rgb" or "depth")."""
    if camera not in ("rgb", "depth"):
        raise ConfigError(f"camera must be 'rgb' or 'depth', got {camera!r}")
    kps = sample[f"coco2d_{camera}"]
    vis = sample["coco_visible_rgb"] if camera == "rgb" else None
    cam = sample["intrinsics"]["color" if camera == "rgb" else "depth"]
    return noisy_keypoints2d(kps, vis, rng, image_size=(cam.height, cam.width), **kwargs)


__all__ = ["detect", "noisy_keypoints2d"]
