"""MediaPipe Pose (BlazePose GHUM full, 33 landmarks) as an offline 2-D keypoint detector.

mediapipe 0.10.14 is the last release whose wheel carries its pose models
(``mediapipe/modules/pose_detection/pose_detection.tflite`` and
``mediapipe/modules/pose_landmark/pose_landmark_full.tflite``); later releases download them at
run time. It is an optional extra: ``pip install 'mmfusion[mediapipe]'``.

The graph ``pose_landmark_cpu.binarypb`` from the wheel is run through mediapipe's
``CalculatorGraph`` directly rather than ``mp.solutions.pose.Pose``: the solutions wrapper
needs protobuf < 5 (it reads ``FieldDescriptor.label`` and ``MessageFactory.GetPrototype``,
both gone in protobuf 5+), while the graph itself, its packets and the serialized landmark
protos work with any protobuf. Same graph, same defaults as ``Pose(model_complexity=1)``
(detection and tracking thresholds 0.5, landmark smoothing in video mode).

One person per frame: the legacy pose graph follows the most prominent person only. The
pipeline's detector on top of it is :class:`~mmfusion.pipelines.detectors.MediaPipeDetector`.

Shapes:
    :meth:`MediaPipePose.process`: frames uint8 (T, H, W, 3) RGB -> landmarks (T, 33, 2) float32
    pixels, visibility (T, 33) float32 in [0, 1] (all zero where no person was found).
    :func:`mp33_to_coco17`: (..., 33, 2), (..., 33) -> (..., 17, 2), (..., 17).
    :func:`mp33_to_ntu25`: (..., 33, 2), (..., 33) -> (..., 25, 2), (..., 25).

NTU-25 from the 33 landmarks (:data:`NTU25_FROM_MP33`): shoulders, elbows, wrists, hips,
knees, ankles and thumbs are landmarks; interpolated are SpineBase (mid-hip), SpineShoulder
(mid-shoulder), SpineMid (0.57 of the way from mid-hip to mid-shoulder), Head (mid-ear), Neck
(0.35 of the way from mid-shoulder to Head), HandLeft/Right (mean of wrist, pinky and index
knuckles); the fractions are the medians of Kinect's own colour-pixel skeletons in five NTU
files (not the clip the detector is measured on). No landmark exists for the Kinect foot
(taken from the foot-index landmark) and the hand tip (taken from the index knuckle): expect
larger errors there. A mapped joint's score is the smallest visibility it is made of.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from ..data.layouts import COCO17, NTU25
from ..errors import ConfigError

__all__ = ["MP33_JOINTS", "MP33_TO_COCO17", "NTU25_FROM_MP33", "MediaPipePose",
           "mediapipe_available", "require_mediapipe", "mp33_to_coco17", "mp33_to_ntu25", "MEDIAPIPE_VERSION"]

#: the release whose wheel carries the pose models
MEDIAPIPE_VERSION = "0.10.14"

#: BlazePose's 33 landmarks (left / right as the detector labels them, see ``labels``)
MP33_JOINTS: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index")

#: COCO-17 joint k is landmark MP33_TO_COCO17[k] (all 17 exist in BlazePose)
MP33_TO_COCO17: tuple[int, ...] = tuple(MP33_JOINTS.index(n) for n in COCO17.joints)

_MID_HIP = {23: 0.5, 24: 0.5}
_MID_SHOULDER = {11: 0.5, 12: 0.5}
_HEAD = {7: 0.5, 8: 0.5}


def _mix(*parts: tuple[float, Mapping[int, float]]) -> dict[int, float]:
    out: dict[int, float] = {}
    for w, d in parts:
        for k, v in d.items():
            out[k] = out.get(k, 0.0) + w * v
    return out


#: NTU-25 joint -> {landmark: weight} (weights sum to 1); see the module docstring
NTU25_FROM_MP33: dict[str, dict[int, float]] = {
    "SpineBase": _MID_HIP,
    "SpineMid": _mix((0.43, _MID_HIP), (0.57, _MID_SHOULDER)),
    "Neck": _mix((0.65, _MID_SHOULDER), (0.35, _HEAD)),
    "Head": _HEAD,
    "ShoulderLeft": {11: 1.0}, "ElbowLeft": {13: 1.0}, "WristLeft": {15: 1.0},
    "HandLeft": {15: 1 / 3, 17: 1 / 3, 19: 1 / 3},
    "ShoulderRight": {12: 1.0}, "ElbowRight": {14: 1.0}, "WristRight": {16: 1.0},
    "HandRight": {16: 1 / 3, 18: 1 / 3, 20: 1 / 3},
    "HipLeft": {23: 1.0}, "KneeLeft": {25: 1.0}, "AnkleLeft": {27: 1.0}, "FootLeft": {31: 1.0},
    "HipRight": {24: 1.0}, "KneeRight": {26: 1.0}, "AnkleRight": {28: 1.0}, "FootRight": {32: 1.0},
    "SpineShoulder": _MID_SHOULDER,
    "HandTipLeft": {19: 1.0}, "ThumbLeft": {21: 1.0}, "HandTipRight": {20: 1.0}, "ThumbRight": {22: 1.0},
}


def _ntu_matrix() -> tuple[np.ndarray, np.ndarray]:
    w = np.zeros((NTU25.num_joints, len(MP33_JOINTS)), np.float32)
    for j, name in enumerate(NTU25.joints):
        for k, v in NTU25_FROM_MP33[name].items():
            w[j, k] = v
    return w, w > 0


_NTU_W, _NTU_USED = _ntu_matrix()


def mp33_to_coco17(keypoints: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(..., 33, 2), (..., 33) -> COCO-17 (..., 17, 2), (..., 17)."""
    idx = list(MP33_TO_COCO17)
    return np.asarray(keypoints, np.float32)[..., idx, :], np.asarray(scores, np.float32)[..., idx]


def mp33_to_ntu25(keypoints: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(..., 33, 2), (..., 33) -> NTU-25 (..., 25, 2), (..., 25); a joint's score is the smallest
    visibility among its landmarks."""
    kps = np.einsum("jk,...kc->...jc", _NTU_W, np.asarray(keypoints, np.float32))
    sc = np.asarray(scores, np.float32)[..., None, :]
    sc = np.where(_NTU_USED, sc, np.inf).min(axis=-1)
    return kps.astype(np.float32), sc.astype(np.float32)


def mediapipe_available() -> bool:
    """mediapipe is importable and its wheel carries the pose models."""
    try:
        require_mediapipe()
    except ConfigError:
        return False
    return True


def require_mediapipe() -> Path:
    """The folder holding the ``mediapipe`` package (mediapipe resolves model paths from it).

    Raises:
        ConfigError: mediapipe is not installed, or is a release without the bundled pose models.
    """
    quiet = io.StringIO()
    try:
        # optional dependency, imported only when used; with protobuf 5+ its bindings print a
        # harmless "MessageFactory ... GetPrototype" error on import, which is dropped
        with contextlib.redirect_stderr(quiet):
            import mediapipe
    except ImportError as exc:
        raise ConfigError(f"detector 'mediapipe' needs the optional package mediapipe=={MEDIAPIPE_VERSION} "
                          f"(pip install 'mmfusion[mediapipe]'; later releases download their models at run "
                          f"time and are not supported) ({exc})") from None
    finally:
        other = [ln for ln in quiet.getvalue().splitlines() if "GetPrototype" not in ln]
        if other:
            sys.stderr.write("\n".join(other) + "\n")
    root = Path(mediapipe.__file__).resolve().parent.parent
    for rel in ("pose_landmark/pose_landmark_cpu.binarypb", "pose_landmark/pose_landmark_full.tflite",
                "pose_detection/pose_detection.tflite"):
        if not (root / "mediapipe" / "modules" / rel).is_file():
            raise ConfigError(f"mediapipe {getattr(mediapipe, '__version__', '?')} has no bundled "
                              f"mediapipe/modules/{rel}; install mediapipe=={MEDIAPIPE_VERSION}, whose wheel "
                              f"carries the pose models")
    return root


class MediaPipePose:
    """A running MediaPipe pose graph (use as a context manager, or call :meth:`close`).

    Args:
        video: True: track across calls (the previous frame's landmarks seed the next region,
            landmarks are smoothed over time; frames must come in time order with increasing
            timestamps); False: every frame is detected on its own.
        fps: frame rate used to turn frame indices into timestamps (smoothing depends on it).
    """

    def __init__(self, video: bool = True, fps: float = 30.0) -> None:
        root = require_mediapipe()
        # mediapipe's compiled modules; imported here so that mmfusion imports without mediapipe
        from mediapipe.python import packet_creator
        from mediapipe.python._framework_bindings import calculator_graph, resource_util

        resource_util.set_resource_dir(str(root))
        self.video, self.fps = video, float(fps)
        self._creator = packet_creator
        self._graph = calculator_graph.CalculatorGraph(
            binary_graph_path=os.path.join(root, "mediapipe", "modules", "pose_landmark", "pose_landmark_cpu.binarypb"))
        self._out: dict[str, bytes] = {}
        self._graph.observe_output_stream("pose_landmarks", self._on_landmarks, True)
        side = {"model_complexity": packet_creator.create_int(1),   # "full", the model in the wheel
                "smooth_landmarks": packet_creator.create_bool(video),
                "enable_segmentation": packet_creator.create_bool(False),
                "smooth_segmentation": packet_creator.create_bool(False),
                "use_prev_landmarks": packet_creator.create_bool(video)}
        self._graph.start_run(side)
        self._last_ts = -1

    def _on_landmarks(self, stream: str, packet: Any) -> None:
        from mediapipe.python._framework_bindings import _packet_getter

        if not packet.is_empty():
            # the serialized proto: parsing it ourselves avoids protobuf's removed GetPrototype
            self._out[stream] = _packet_getter._get_serialized_proto(packet)

    def process(self, frames: np.ndarray, frame_index: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Landmarks of frames uint8 (T, H, W, 3) RGB at video frames ``frame_index`` (T,).

        Returns:
            (T, 33, 2) float32 pixels, (T, 33) float32 visibility (all zero exactly where nobody
            was found).
        """
        from mediapipe.framework.formats import landmark_pb2
        from mediapipe.python._framework_bindings import image_frame

        if self._graph is None:
            raise ConfigError("MediaPipePose: process() after close()")
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ConfigError(f"MediaPipePose: frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
        t, h, w = frames.shape[:3]
        idx = np.arange(t) if frame_index is None else np.asarray(frame_index, dtype=np.int64)
        kps = np.zeros((t, len(MP33_JOINTS), 2), np.float32)
        vis = np.zeros((t, len(MP33_JOINTS)), np.float32)
        for i in range(t):
            ts = int(round(idx[i] * 1e6 / self.fps))
            ts = max(ts, self._last_ts + 1)   # repeated / unordered indices: timestamps must increase
            self._last_ts = ts
            self._out.clear()
            img = self._creator.create_image_frame(image_format=image_frame.ImageFormat.SRGB,
                                                   data=np.ascontiguousarray(frames[i]))
            self._graph.add_packet_to_input_stream("image", img.at(ts))
            self._graph.wait_until_idle()
            data = self._out.get("pose_landmarks")
            if data is None:
                continue
            lm = landmark_pb2.NormalizedLandmarkList.FromString(data).landmark
            kps[i] = [(p.x * w, p.y * h) for p in lm]
            # a found person is never "absent": visibility at least 1e-6
            vis[i] = np.clip([p.visibility for p in lm], 1e-6, 1.0)
        return kps, vis

    def close(self) -> None:
        if self._graph is not None:
            self._graph.close()
            self._graph = None

    def __enter__(self) -> MediaPipePose:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
