"""CMU Panoptic (panoptic-toolbox) readers: 3-D bodies, camera and Kinect calibration, sync, depth.

Formats (see docs/unipose.md and the toolbox):

* ``hdPose3d_stage1_coco19/body3DScene_%08d.json``: ``{"version", "univTime", "fpsType",
  "bodies": [{"id", "joints19": [x, y, z, c] x 19}]}``, world centimetres; ``c`` <= 0.1
  (or -1) = invalid. Joint order :data:`PANOPTIC19_JOINTS`.
* ``calibration_<seq>.json``: ``cameras: [{name, type, resolution, panel, node, K, distCoef,
  R, t}]``; ``x = K distort((R X + t) / z)`` with OpenCV's 5 coefficients (k1 k2 p1 p2 k3).
* ``kcalibration_<seq>.json``: ``sensors[i]`` (node i + 1) with ``K_depth``, ``M_depth``,
  ``distCoeffs_depth``, ``K_color``, ``M_color``, ``distCoeffs_color``, ``M_world2sensor``.
  Following the toolbox's ``unprojectDepth_release.m``: Kinect depth-camera metres ->
  ``inv(M_depth)`` -> sensor -> ``inv(M_world2sensor)`` -> Kinoptic world metres -> x 100 ->
  Panoptic world centimetres (:func:`world_to_kinect_depth` is the inverse chain).
* ``ksynctables_<seq>.json``: ``kinect -> {color, depth} -> KINECTNODE<n> -> univ_time``
  (ms); a body frame is paired with the depth frame of nearest ``univ_time``.
* ``kinect_shared_depth/KINECTNODE<n>/depthdata.dat``: raw uint16 512 x 424 frames back to back
  (mm), each to be flipped left-right after reading.

UniPose / C3P use Kinect node 2 and 17 COCO joints (:data:`PANOPTIC_TO_COCO17`).
Camera frames here are OpenCV's (Y down); :func:`opencv_to_yup` converts to mmfusion's Y-up
convention. Every malformed file raises :class:`~mmfusion.errors.DataFormatError` naming it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import DataFormatError

__all__ = [
    "PANOPTIC19_JOINTS", "PANOPTIC_TO_COCO17", "PANOPTIC_TRAIN", "PANOPTIC_TEST", "KINECT_DEPTH_SIZE",
    "PanopticBody", "PanopticFrame", "PanopticCamera", "KinectSensor", "read_body3d_scene", "body_to_coco17",
    "read_calibration", "read_kinect_calibration", "read_kinect_sync", "nearest_frame", "read_kinect_depth",
    "project_camera", "world_to_kinect_depth", "opencv_to_yup",
]

PANOPTIC19_JOINTS: tuple[str, ...] = (
    "Neck", "Nose", "BodyCenter", "lShoulder", "lElbow", "lWrist", "lHip", "lKnee", "lAnkle", "rShoulder", "rElbow",
    "rWrist", "rHip", "rKnee", "rAnkle", "lEye", "lEar", "rEye", "rEar")
#: Panoptic joint feeding each COCO-17 joint (C3P / VoxelPose map)
PANOPTIC_TO_COCO17: tuple[int, ...] = (1, 15, 17, 16, 18, 3, 9, 4, 10, 5, 11, 6, 12, 7, 13, 8, 14)
#: C3P / VoxelPose sequence split
PANOPTIC_TRAIN: tuple[str, ...] = ("171026_pose1", "171026_pose2", "171204_pose1", "171204_pose2", "171204_pose3",
                                   "171204_pose4", "171204_pose5")
PANOPTIC_TEST: tuple[str, ...] = ("171026_pose3", "171204_pose6")
#: (H, W) of a Kinect v2 depth frame
KINECT_DEPTH_SIZE: tuple[int, int] = (424, 512)


@dataclass
class PanopticBody:
    """One person: ``id`` and ``joints19`` float32 (19, 4) = x, y, z (cm), confidence."""

    id: int
    joints19: np.ndarray


@dataclass
class PanopticFrame:
    """One ``body3DScene`` file."""

    path: Path
    univ_time: float | None
    bodies: list[PanopticBody]


@dataclass
class PanopticCamera:
    """A calibrated Panoptic camera (R, t map world cm to camera cm, OpenCV axes)."""

    name: str
    type: str
    resolution: tuple[int, int]
    panel: int
    node: int
    K: np.ndarray
    dist: np.ndarray
    R: np.ndarray
    t: np.ndarray


@dataclass
class KinectSensor:
    """One entry of ``kcalibration``'s ``sensors`` (all float64 arrays)."""

    K_depth: np.ndarray
    M_depth: np.ndarray
    dist_depth: np.ndarray
    K_color: np.ndarray
    M_color: np.ndarray
    dist_color: np.ndarray
    M_world2sensor: np.ndarray


def _load_json(path: str | PathLike[str]) -> Any:
    p = Path(path)
    if not p.is_file():
        raise DataFormatError(p, "file not found")
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise DataFormatError(p, f"invalid JSON ({exc.msg})", line=exc.lineno) from None
    except UnicodeDecodeError as exc:
        raise DataFormatError(p, f"not a text file ({exc.reason})") from None


def _array(path: Path, obj: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    try:
        a = np.asarray(obj, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataFormatError(path, f"{what} is not numeric") from None
    if a.size != int(np.prod(shape)):
        raise DataFormatError(path, f"{what} has {a.size} values, expected shape {shape}")
    a = a.reshape(shape)
    if not np.isfinite(a).all():
        raise DataFormatError(path, f"{what} contains NaN or inf")
    return a


def read_body3d_scene(path: str | PathLike[str]) -> PanopticFrame:
    """Read one ``body3DScene_%08d.json``."""
    p = Path(path)
    d = _load_json(p)
    if not isinstance(d, dict) or not isinstance(d.get("bodies"), list):
        raise DataFormatError(p, "expected an object with a 'bodies' list")
    bodies = []
    for i, b in enumerate(d["bodies"]):
        if not isinstance(b, dict) or "joints19" not in b:
            raise DataFormatError(p, f"body {i} has no 'joints19'")
        j = _array(p, b["joints19"], (19, 4), f"body {i} joints19").astype(np.float32)
        bodies.append(PanopticBody(int(b.get("id", i)), j))
    ut = d.get("univTime")
    return PanopticFrame(p, None if ut is None else float(ut), bodies)


def body_to_coco17(joints19: np.ndarray, min_conf: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """(..., 19, 4) Panoptic cm -> COCO-17 (..., 17, 3) **metres** (world frame) and valid (..., 17)."""
    j = np.asarray(joints19)[..., PANOPTIC_TO_COCO17, :]
    return (j[..., :3] / 100.0).astype(np.float32), j[..., 3] > min_conf


def read_calibration(path: str | PathLike[str]) -> dict[str, PanopticCamera]:
    """Read ``calibration_<seq>.json`` -> cameras by name (``"50_02"`` is Kinect node 2's colour camera)."""
    p = Path(path)
    d = _load_json(p)
    if not isinstance(d, dict) or not isinstance(d.get("cameras"), list):
        raise DataFormatError(p, "expected an object with a 'cameras' list")
    out = {}
    for i, c in enumerate(d["cameras"]):
        try:
            name = str(c["name"])
            cam = PanopticCamera(
                name=name, type=str(c.get("type", "")),
                resolution=tuple(int(x) for x in c.get("resolution", (0, 0))),  # type: ignore[arg-type]
                panel=int(c.get("panel", 0)), node=int(c.get("node", 0)),
                K=_array(p, c["K"], (3, 3), f"camera {name} K"),
                dist=_array(p, c.get("distCoef", [0] * 5), (5,), f"camera {name} distCoef"),
                R=_array(p, c["R"], (3, 3), f"camera {name} R"),
                t=_array(p, c["t"], (3,), f"camera {name} t"))
        except (KeyError, TypeError) as exc:
            raise DataFormatError(p, f"camera {i}: missing or bad field {exc}") from None
        out[name] = cam
    return out


def read_kinect_calibration(path: str | PathLike[str]) -> list[KinectSensor]:
    """Read ``kcalibration_<seq>.json`` -> sensors (index = node - 1)."""
    p = Path(path)
    d = _load_json(p)
    if not isinstance(d, dict) or not isinstance(d.get("sensors"), list):
        raise DataFormatError(p, "expected an object with a 'sensors' list")
    out = []
    for i, s in enumerate(d["sensors"]):
        try:
            out.append(KinectSensor(
                K_depth=_array(p, s["K_depth"], (3, 3), f"sensor {i} K_depth"),
                M_depth=_array(p, s["M_depth"], (4, 4), f"sensor {i} M_depth"),
                dist_depth=_array(p, s["distCoeffs_depth"], (5,), f"sensor {i} distCoeffs_depth"),
                K_color=_array(p, s["K_color"], (3, 3), f"sensor {i} K_color"),
                M_color=_array(p, s["M_color"], (4, 4), f"sensor {i} M_color"),
                dist_color=_array(p, s["distCoeffs_color"], (5,), f"sensor {i} distCoeffs_color"),
                M_world2sensor=_array(p, s["M_world2sensor"], (4, 4), f"sensor {i} M_world2sensor")))
        except (KeyError, TypeError) as exc:
            raise DataFormatError(p, f"sensor {i}: missing field {exc}") from None
    return out


def read_kinect_sync(path: str | PathLike[str], node: int = 2) -> dict[str, np.ndarray]:
    """Read ``ksynctables_<seq>.json`` for one node -> {"color": univ_time (n,), "depth": univ_time (m,)} (ms)."""
    p = Path(path)
    d = _load_json(p)
    out = {}
    for stream in ("color", "depth"):
        try:
            t = d["kinect"][stream][f"KINECTNODE{node}"]["univ_time"]
        except (KeyError, TypeError):
            raise DataFormatError(p, f"missing kinect/{stream}/KINECTNODE{node}/univ_time") from None
        out[stream] = _array(p, t, (len(t),), f"{stream} univ_time of node {node}")
    return out


def nearest_frame(times: np.ndarray, t: float, max_delta_ms: float = 20.0) -> int | None:
    """Index of the frame of ``times`` (ms, invalid <= 0) nearest to ``t``, or None if farther than
    ``max_delta_ms``."""
    ok = times > 0
    if not ok.any():
        return None
    d = np.where(ok, np.abs(times - t), np.inf)
    i = int(d.argmin())
    return i if d[i] <= max_delta_ms else None


def read_kinect_depth(path: str | PathLike[str], index: int, size: tuple[int, int] = KINECT_DEPTH_SIZE,
                      flip: bool = True) -> np.ndarray:
    """Frame ``index`` (0-based) of a ``depthdata.dat`` as uint16 (H, W) mm, flipped left-right as the toolbox does."""
    p = Path(path)
    if not p.is_file():
        raise DataFormatError(p, "file not found")
    h, w = size
    nbytes = h * w * 2
    total = p.stat().st_size
    if total % nbytes:
        raise DataFormatError(p, f"size {total} is not a multiple of one {w}x{h} uint16 frame ({nbytes} bytes)")
    if not 0 <= index < total // nbytes:
        raise DataFormatError(p, f"frame {index} out of range (file holds {total // nbytes})")
    with p.open("rb") as f:
        f.seek(index * nbytes)
        frame = np.frombuffer(f.read(nbytes), dtype="<u2").reshape(h, w)
    return np.ascontiguousarray(frame[:, ::-1]) if flip else frame.copy()


def _distort(xn: np.ndarray, dist: np.ndarray) -> np.ndarray:
    k1, k2, p1, p2, k3 = dist
    x, y = xn[..., 0], xn[..., 1]
    r2 = x * x + y * y
    radial = 1 + k1 * r2 + k2 * r2 ** 2 + k3 * r2 ** 3
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return np.stack([xd, yd], -1)


def project_camera(points_cm: np.ndarray, cam: PanopticCamera) -> np.ndarray:
    """World points (..., 3) cm -> pixels (..., 2) of a Panoptic camera (OpenCV distortion)."""
    pc = np.asarray(points_cm, dtype=np.float64) @ cam.R.T + cam.t
    xn = pc[..., :2] / pc[..., 2:3]
    xd = _distort(xn, cam.dist)
    return xd @ cam.K[:2, :2].T + cam.K[:2, 2]


def world_to_kinect_depth(points_cm: np.ndarray, sensor: KinectSensor) -> np.ndarray:
    """Panoptic world (..., 3) cm -> Kinect depth-camera (..., 3) metres, OpenCV axes
    (inverse of the toolbox's unprojection chain)."""
    p = np.asarray(points_cm, dtype=np.float64) / 100.0
    h = np.concatenate([p, np.ones_like(p[..., :1])], -1)
    m = sensor.M_depth @ sensor.M_world2sensor
    return (h @ m.T)[..., :3]


def opencv_to_yup(points: np.ndarray) -> np.ndarray:
    """(X right, Y down, Z forward) -> (X right, Y up, Z forward)."""
    out = np.array(points, dtype=np.float64, copy=True)
    out[..., 1] *= -1
    return out
