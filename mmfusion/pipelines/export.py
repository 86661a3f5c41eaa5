"""3-D files of a prediction: per-frame PLY point clouds and lifted skeletons (``--save-clouds DIR``).

For every sampled frame t of a :class:`~mmfusion.pipelines.rgb_action.Capture` (video frame
``f = frame_index[t]``), :func:`save_clouds` writes

* ``frame_<f>_cloud.ply`` -- the depth the model sees (masked to the persons when the pipeline
  masked it) back-projected with the depth camera (:func:`mmfusion.data.camera.depth_to_points`,
  camera metres, X right, Y up, Z forward), Kinect flying pixels removed
  (:func:`mmfusion.data.cloud_ops.remove_outliers`), coloured from the RGB frame through the
  calibration (points outside the RGB image are grey);
* ``frame_<f>_skeleton.ply`` -- the lifted COCO-17 joints of every person as a line set along
  the layout's bones (open3d ``LineSet``: vertices + edges).

Both open in open3d (``o3d.io.read_point_cloud`` / ``read_line_set``), MeshLab, CloudCompare or
Blender, in the same coordinates, so the skeleton sits inside its cloud.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..data.camera import depth_to_points
from ..data.cloud_ops import remove_outliers, write_ply, write_skeleton_ply
from ..data.layouts import COCO17

__all__ = ["save_clouds", "capture_colors"]

_GREY = np.array([128, 128, 128], np.uint8)


def capture_colors(points: np.ndarray, rgb: np.ndarray, calibration: Any) -> np.ndarray:
    """(N, 3) uint8 colours of depth-camera points (N, 3) seen in the RGB frame (H, W, 3) through
    ``calibration`` (:class:`~mmfusion.pipelines.capture.RGBDCalibration`); grey outside the image."""
    if not len(points):
        return np.zeros((0, 3), np.uint8)
    uv = np.rint(calibration.project_color(points)).astype(np.int64)
    h, w = rgb.shape[:2]
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
    out = np.tile(_GREY, (len(points), 1))
    out[inside] = rgb[uv[inside, 1], uv[inside, 0]]
    return out


def save_clouds(capture: Any, out_dir: str | os.PathLike[str], outliers: bool = True) -> list[Path]:
    """Write every sampled frame's cloud and skeleton PLY into ``out_dir`` (see the module docstring).

    Args:
        capture: a :class:`~mmfusion.pipelines.rgb_action.Capture` (or a Prediction: its ``.capture``).
        outliers: remove Kinect flying pixels (statistical outlier removal) from the clouds.

    Returns:
        The written paths, cloud then skeleton per frame.
    """
    cap = getattr(capture, "capture", capture)
    out = Path(out_dir)
    paths: list[Path] = []
    intr = cap.calibration.depth
    for t, frame in enumerate(np.asarray(cap.frame_index).tolist()):
        pts = depth_to_points(cap.model_depth[t], intr)
        if outliers and len(pts):
            pts = pts[remove_outliers(pts)]
        colors = capture_colors(pts, cap.rgb[t], cap.calibration)
        paths.append(write_ply(out / f"frame_{frame:05d}_cloud.ply", pts, colors))
        paths.append(write_skeleton_ply(out / f"frame_{frame:05d}_skeleton.ply", cap.joints3d[:, t], COCO17.bones))
    return paths
