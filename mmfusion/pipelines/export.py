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

:func:`export_skeleton` (``--export-skeleton FILE``) writes the lifted NTU-25 skeleton as an NTU
``.skeleton`` file through the package's writer (:func:`mmfusion.data.formats.skeleton.write_skeleton`),
so every NTU tool (and :func:`~mmfusion.data.formats.skeleton.read_skeleton`) reads it: one frame
per video frame of the capture, bodies only in the frames the pipeline lifted (the sampled ones
plus the person-crop ones, ``Capture.crop_index``), camera metres in the depth camera's frame (as
NTU's), depthX/Y and colorX/Y the joints projected into the capture's depth and RGB frames through
its calibration. Joints copied from one COCO-17 keypoint are marked tracked (2), those mixed from
several (spine, head, hands, feet) inferred (1), as Kinect marks joints it does not see.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..data.camera import depth_to_points, project
from ..data.cloud_ops import remove_outliers, write_ply, write_skeleton_ply
from ..data.formats.skeleton import SkeletonSequence, write_skeleton
from ..data.layouts import COCO17
from .lifting import coco17_to_ntu25_matrix

__all__ = ["save_clouds", "capture_colors", "export_skeleton", "skeleton_sequence"]

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


def skeleton_sequence(capture: Any) -> SkeletonSequence:
    """The lifted NTU-25 skeleton of a capture (or a Prediction) as a :class:`SkeletonSequence`
    (M slots over the capture's ``num_frames`` video frames; see the module docstring)."""
    cap = getattr(capture, "capture", capture)
    skel = np.asarray(cap.crop_skeleton, dtype=np.float64)                 # (M, W, 25, 3)
    m, _, v, _ = skel.shape
    xyz = np.zeros((m, cap.num_frames, v, 3))
    xyz[:, cap.crop_index] = skel
    present = np.abs(xyz).sum(axis=(2, 3)) > 0                             # (M, T)
    safe = np.where(present[..., None, None], xyz, [0.0, 0.0, 1.0])        # absent slots project nowhere
    depth_xy = np.where(present[..., None, None], project(safe, cap.calibration.depth), 0.0)
    color_xy = np.where(present[..., None, None], cap.calibration.project_color(safe), 0.0)
    tracked = np.count_nonzero(coco17_to_ntu25_matrix(), axis=1) == 1      # (25,) copied from one keypoint
    tracking = np.broadcast_to(np.where(tracked, 2, 1), (m, cap.num_frames, v))
    return SkeletonSequence.from_arrays(xyz, depth_xy, color_xy, tracking=tracking, present=present)


def export_skeleton(capture: Any, path: str | os.PathLike[str]) -> Path:
    """Write the lifted skeleton of a capture (or a Prediction) as an NTU ``.skeleton`` file; returns the path."""
    return write_skeleton(path, skeleton_sequence(capture))
