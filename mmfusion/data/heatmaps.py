"""PoseC3D-style pose heatmap volumes (the "heatmap" modality of EPAM-Net).

A clip of 2-D keypoints becomes one Gaussian per joint and frame, 17 COCO joints stacked as
channels: float32 (V, T, h, w), EPAM-Net uses h = w = 56, sigma = 0.6 and the keypoint
confidence as the peak value, joints only (no limb maps). Overlapping persons are merged
with a max.

Geometry conventions:
* pixel coordinates are (u, v) = (column, row), pixel centres at integers;
* rescaling from the source image (or a crop box in it) to ``out_size`` uses the half-pixel
  convention ``u' = (u - x0 + 0.5) * w / bw - 0.5``, the one torch's ``interpolate``
  (align_corners=False) and :mod:`mmfusion.data.transforms` use for the RGB frames, so the
  heatmaps stay aligned with frames resized the same way (PoseC3D multiplies by the scale
  factor instead; the two differ by less than half an output pixel);
* like PoseC3D, each Gaussian is cut to a window of +-3 sigma around the keypoint
  (truncated to ints the same way), so far tails are exactly zero.

NTU RGB+D has no COCO-17 detections of its own: :func:`ntu_heatmaps` builds the volume from
the colour-image joint coordinates stored in NTU skeleton files (``colorX``/``colorY``), and
:func:`project_ntu_to_coco2d` projects 3-D camera-space joints with given intrinsics.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor

from ..errors import DataFormatError
from .camera import CameraIntrinsics, project
from .layouts import NTU25, NTU25_TO_COCO17

__all__ = [
    "keypoints_to_heatmaps", "person_box", "ntu_to_coco17", "project_ntu_to_coco2d",
    "ntu_color_to_coco2d", "ntu_heatmaps", "NTU_COLOR_SIZE",
]

ArrayT = TypeVar("ArrayT", np.ndarray, Tensor)

#: (H, W) of NTU RGB+D colour videos, the frame ``colorX``/``colorY`` refer to
NTU_COLOR_SIZE: tuple[int, int] = (1080, 1920)
#: keypoints whose confidence is below this are skipped (PoseC3D's eps)
SCORE_EPS = 1e-4


def _as_tensor(x: Any, name: str) -> Tensor:
    if isinstance(x, Tensor):
        return x.detach().to(device="cpu", dtype=torch.float32)
    try:
        return torch.as_tensor(np.asarray(x, dtype=np.float32))
    except (TypeError, ValueError) as exc:
        raise DataFormatError(None, f"{name}: not a numeric array ({exc})") from exc


def _like(out: Tensor, ref: Any) -> Any:
    return out if isinstance(ref, Tensor) else out.numpy()


def keypoints_to_heatmaps(kps: ArrayT, scores: ArrayT | None = None, img_size: tuple[int, int] = (56, 56),
                          out_size: tuple[int, int] = (56, 56), sigma: float = 0.6,
                          box: Sequence[float] | None = None, eps: float = SCORE_EPS) -> ArrayT:
    """Render 2-D keypoints as a Gaussian heatmap volume.

    Args:
        kps: (M, T, V, 2) pixel coordinates (u, v) in an image of ``img_size``; M persons.
            Non-finite coordinates mark missing joints.
        scores: (M, T, V) confidences used as peak values, or None (all 1). Joints scoring
            below ``eps`` are left out.
        img_size: (H, W) of the image the keypoints refer to.
        out_size: (h, w) of the heatmaps.
        sigma: Gaussian standard deviation in output pixels.
        box: optional (x0, y0, x1, y1) region of the image mapped onto ``out_size`` (e.g. the
            :func:`person_box` the RGB frames are cropped with); default: the whole image.
        eps: minimum score of a rendered joint.

    Returns:
        float32 (V, T, h, w) in [0, max score]; a torch Tensor if ``kps`` is one, else numpy.
    """
    k = _as_tensor(kps, "keypoints")
    if k.ndim != 4 or k.shape[-1] != 2:
        raise DataFormatError(None, f"keypoints must be (M, T, V, 2), got shape {tuple(k.shape)}")
    m, t, v, _ = k.shape
    if scores is None:
        s = torch.ones(m, t, v)
    else:
        s = _as_tensor(scores, "scores")
        if tuple(s.shape) != (m, t, v):
            raise DataFormatError(None, f"scores must be (M, T, V) = {(m, t, v)}, got shape {tuple(s.shape)}")
    if sigma <= 0:
        raise DataFormatError(None, f"sigma must be > 0, got {sigma}")
    img_h, img_w = (float(x) for x in img_size)
    h, w = (int(x) for x in out_size)
    x0, y0, x1, y1 = (0.0, 0.0, img_w, img_h) if box is None else (float(b) for b in box)
    if not (x1 > x0 and y1 > y0):
        raise DataFormatError(None, f"box {tuple(box or ())} is empty")

    u = (k[..., 0] - x0 + 0.5) * (w / (x1 - x0)) - 0.5
    vv = (k[..., 1] - y0 + 0.5) * (h / (y1 - y0)) - 0.5
    ok = torch.isfinite(u) & torch.isfinite(vv) & torch.isfinite(s) & (s >= eps)
    amp = torch.where(ok, s, torch.zeros_like(s))
    u = torch.where(ok, u, torch.zeros_like(u))
    vv = torch.where(ok, vv, torch.zeros_like(vv))

    gx = _gauss_1d(u, w, sigma)  # (M, T, V, w)
    gy = _gauss_1d(vv, h, sigma) * amp[..., None]  # (M, T, V, h)
    # separable: exp(-(dx^2+dy^2)/2s^2) = exp(-dx^2/2s^2) * exp(-dy^2/2s^2); persons merged by max
    heat = torch.zeros(t, v, h, w)
    for p in range(m):  # M is the person count (1-4), not a per-frame loop
        heat = torch.maximum(heat, gy[p, ..., :, None] * gx[p, ..., None, :])
    return _like(heat.permute(1, 0, 2, 3).contiguous(), kps)


def _gauss_1d(mu: Tensor, size: int, sigma: float) -> Tensor:
    """exp(-(i - mu)^2 / 2 sigma^2) for i in [0, size), zero outside PoseC3D's +-3 sigma window."""
    grid = torch.arange(size, dtype=torch.float32)
    lo = torch.trunc(mu - 3 * sigma).clamp(min=0)[..., None]
    hi = (torch.trunc(mu + 3 * sigma) + 1).clamp(max=size)[..., None]
    g = torch.exp(-((grid - mu[..., None]) ** 2) / (2 * sigma * sigma))
    return torch.where((grid >= lo) & (grid < hi), g, torch.zeros_like(g))


def person_box(kps: ArrayT, scores: ArrayT | None = None, img_size: tuple[int, int] | None = None,
               padding: float = 0.25, hw_ratio: float | None = 1.0, eps: float = SCORE_EPS
               ) -> tuple[float, float, float, float]:
    """Union box of all valid keypoints of a clip (PoseC3D ``PoseCompact`` rule, as EPAM-Net crops).

    The tight box is grown by ``1 + padding`` about its centre, then widened so that
    ``h >= hw_ratio * w`` and ``w >= h / hw_ratio`` (1.0: square), then clipped to the image
    (no image padding).

    Args:
        kps: (M, T, V, 2) pixels; non-finite or low-score joints are ignored.
        scores: (M, T, V) or None.
        img_size: (H, W) to clip to, or None for no clipping.

    Returns:
        (x0, y0, x1, y1) in pixels; the whole image if no joint is valid.
    """
    k = _as_tensor(kps, "keypoints")
    if k.ndim < 2 or k.shape[-1] != 2:
        raise DataFormatError(None, f"keypoints must be (..., 2), got shape {tuple(k.shape)}")
    ok = torch.isfinite(k).all(-1)
    if scores is not None:
        ok &= _as_tensor(scores, "scores") >= eps
    pts = k[ok]
    if pts.numel() == 0:
        if img_size is None:
            raise DataFormatError(None, "person_box: no valid keypoint and no image size")
        return 0.0, 0.0, float(img_size[1]), float(img_size[0])
    (xmin, ymin), (xmax, ymax) = pts.min(0).values.tolist(), pts.max(0).values.tolist()
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
    half_w, half_h = (xmax - xmin) / 2 * (1 + padding), (ymax - ymin) / 2 * (1 + padding)
    if hw_ratio is not None:
        half_h = max(hw_ratio * half_w, half_h)
        half_w = max(half_h / hw_ratio, half_w)
    half_w, half_h = max(half_w, 0.5), max(half_h, 0.5)  # a single point still gets a 1-pixel box
    x0, y0, x1, y1 = cx - half_w, cy - half_h, cx + half_w, cy + half_h
    if img_size is not None:
        x0, y0 = max(x0, 0.0), max(y0, 0.0)
        x1, y1 = min(x1, float(img_size[1])), min(y1, float(img_size[0]))
    return x0, y0, x1, y1


# ---------------------------------------------------------------------------------------------
# NTU RGB+D skeletons -> COCO-17 2-D keypoints


def ntu_to_coco17(joints: ArrayT, joint_axis: int = -2) -> ArrayT:
    """Select the NTU-25 joints feeding each COCO-17 joint (``layouts.NTU25_TO_COCO17``).

    (..., 25, C) -> (..., 17, C). The five face points all take the Kinect head joint.
    """
    if joints.shape[joint_axis] != NTU25.num_joints:
        raise DataFormatError(None, f"expected {NTU25.num_joints} NTU joints on axis {joint_axis}, "
                                    f"got shape {tuple(joints.shape)}")
    if isinstance(joints, Tensor):
        idx = torch.as_tensor(NTU25_TO_COCO17, device=joints.device)
        return joints.index_select(joint_axis % joints.ndim, idx)
    return np.take(joints, list(NTU25_TO_COCO17), axis=joint_axis)


def project_ntu_to_coco2d(xyz: ArrayT, intrinsics: Any) -> ArrayT:
    """Pinhole-project NTU camera-space joints to COCO-17 pixel keypoints.

    :func:`mmfusion.data.camera.project` (Kinect camera space: X right, Y up, Z forward, metres;
    ``u = cx + fx X / Z``, ``v = cy - fy Y / Z``). With the depth intrinsics
    (``KINECT_V2_DEPTH``) the result is in the 512x424 depth image.

    Args:
        xyz: (M, T, 25, 3) metres; absent bodies are zero-filled in NTU arrays.
        intrinsics: anything :meth:`~mmfusion.data.camera.CameraIntrinsics.from_any` reads
            (a CameraIntrinsics, an object or dict with ``fx, fy, cx, cy``, a 4-tuple).

    Returns:
        (M, T, 17, 2) float32 pixels (u, v); joints with Z <= 0 or non-finite input are NaN,
        which :func:`keypoints_to_heatmaps` treats as missing.
    """
    x = _as_tensor(xyz, "xyz")
    if x.ndim != 4 or x.shape[-2:] != (NTU25.num_joints, 3):
        raise DataFormatError(None, f"xyz must be (M, T, 25, 3), got shape {tuple(x.shape)}")
    intr = CameraIntrinsics.from_any(intrinsics)
    x = ntu_to_coco17(x)
    valid = torch.isfinite(x).all(-1) & (x[..., 2] > 0)
    x = torch.where(valid[..., None], x, torch.tensor([0.0, 0.0, 1.0]))
    uv = project(x, intr)
    uv = torch.where(valid[..., None], uv, torch.full_like(uv, float("nan")))
    return _like(uv, xyz)


def ntu_color_to_coco2d(color_xy: ArrayT, present: ArrayT | None = None) -> ArrayT:
    """COCO-17 keypoints from NTU skeleton colour coordinates (``colorX``, ``colorY``).

    Args:
        color_xy: (M, T, 25, 2) pixels in the 1920x1080 colour frame.
        present: optional (M, T) bool, False where a body slot is empty.

    Returns:
        (M, T, 17, 2) float32; absent bodies and exactly-zero joints (NTU's padding) are NaN.
    """
    c = _as_tensor(color_xy, "color_xy")
    if c.ndim != 4 or c.shape[-2:] != (NTU25.num_joints, 2):
        raise DataFormatError(None, f"color_xy must be (M, T, 25, 2), got shape {tuple(c.shape)}")
    c = ntu_to_coco17(c)
    valid = torch.isfinite(c).all(-1) & (c != 0).any(-1)
    if present is not None:
        pres = torch.as_tensor(np.asarray(present, dtype=bool)) if not isinstance(present, Tensor) else present.bool()
        if tuple(pres.shape) != tuple(c.shape[:2]):
            raise DataFormatError(None, f"present must be (M, T) = {tuple(c.shape[:2])}, got {tuple(pres.shape)}")
        valid &= pres.cpu()[..., None]
    c = torch.where(valid[..., None], c, torch.full_like(c, float("nan")))
    return _like(c, color_xy)


def ntu_heatmaps(color_xy: ArrayT, present: ArrayT | None = None, img_size: tuple[int, int] = NTU_COLOR_SIZE,
                 out_size: tuple[int, int] = (56, 56), sigma: float = 0.6,
                 box: Sequence[float] | str | None = "person", padding: float = 0.25) -> ArrayT:
    """Heatmap volume (17, T, h, w) from NTU skeleton colour coordinates (M, T, 25, 2).

    Args:
        color_xy: (M, T, 25, 2) ``colorX``/``colorY`` of each body and joint.
        present: optional (M, T) bool body-present mask.
        img_size: (H, W) of the colour frame.
        box: ``"person"`` crops to the clip's square union person box (EPAM-Net's RGB crop;
            crop the frames with the same :func:`person_box`), None uses the whole frame, or
            an explicit (x0, y0, x1, y1).
        padding: person-box padding.

    Returns:
        float32 (17, T, h, w), same array type as ``color_xy``; all joints score 1.
    """
    kps = ntu_color_to_coco2d(color_xy, present)
    if isinstance(box, str):
        if box != "person":
            raise DataFormatError(None, f"box must be 'person', None or (x0, y0, x1, y1), got {box!r}")
        box = person_box(kps, None, img_size, padding=padding)
    return keypoints_to_heatmaps(kps, None, img_size, out_size, sigma, box=box)
