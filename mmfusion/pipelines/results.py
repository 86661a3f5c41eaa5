"""What the RGB-D pipeline returns: the :class:`Capture` (every intermediate result), the
:class:`Prediction` (probabilities, top-k, input shapes) and its :class:`ActionScore` rows.

Shapes: T sampled frames, M person slots, K classes, (H, W) RGB and (h, w) depth frame sizes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .capture import RGBDCalibration
from .detectors import Detections
from .lifting import PersonMasks

__all__ = ["Capture", "ActionScore", "Prediction"]


@dataclass
class Capture:
    """What the pipeline made of one RGB-D capture, before the action model.

    Attributes:
        rgb_path, depth_path: the inputs.
        num_frames: frames used (min of the two streams' counts); rgb_frames, depth_frames: each count.
        frame_index: (T,) sampled video frame indices.
        rgb: uint8 (T, H, W, 3); depth: uint16 (T, h, w) mm as read; model_depth: the depth the
            model sees (masked to the persons when masking applied).
        detections: 2-D COCO-17 keypoints (M, T, 17, 2) in RGB pixels + scores (M, T, 17).
        keypoints_depth: (M, T, 17, 2) the keypoints in depth pixels.
        persons: each person's depth pixels (:class:`~mmfusion.pipelines.lifting.PersonMasks`).
        joints3d: (M, T, 17, 3) lifted COCO-17 joints, camera metres (zeros where absent).
        skeleton: (M, T, 25, 3) NTU-25 joints fed to the data set; colors: (M, T, 25, 2) RGB pixels.
        lifting: "unipose" or "naive".
        masked: whether the depth was masked to the persons.
        mirrored: whether the frames are mirrored like Kinect v2's (see :class:`PipelineConfig`).
        calibration: the camera geometry used.
        crop_index: (W,) every video frame with a skeleton: the sampled frames plus those that shape
            the person crop (``PipelineConfig.crop_frames``); crop_skeleton (M, W, 25, 3) and
            crop_colors (M, W, 25, 2) hold their NTU-25 joints and RGB pixels.
        timings: seconds per stage.
        warnings: signs that the inputs are different recordings (:mod:`~mmfusion.pipelines.checks`).
    """

    rgb_path: Path
    depth_path: Path
    num_frames: int
    rgb_frames: int
    depth_frames: int
    frame_index: np.ndarray
    rgb: np.ndarray
    depth: np.ndarray
    model_depth: np.ndarray
    detections: Detections
    keypoints_depth: np.ndarray
    persons: PersonMasks
    joints3d: np.ndarray
    skeleton: np.ndarray
    colors: np.ndarray
    lifting: str
    masked: bool
    mirrored: bool
    calibration: RGBDCalibration
    crop_index: np.ndarray
    crop_skeleton: np.ndarray
    crop_colors: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def present(self) -> np.ndarray:
        """(M, T) bool: person m has a lifted skeleton in frame t."""
        return self.persons.present


@dataclass
class ActionScore:
    """One of the top-k classes."""

    rank: int
    index: int
    action: int | None
    code: str
    name: str
    probability: float


@dataclass
class Prediction:
    """Result of :meth:`RGBDActionPipeline.predict`.

    Attributes:
        probabilities: (K,) float32 softmax over the model's classes.
        topk: the k most probable classes, best first.
        capture: the intermediate results.
        inputs: shape of every model input (with the batch axis).
        model_name, modalities, checkpoint: the action model.
    """

    probabilities: np.ndarray
    topk: list[ActionScore]
    capture: Capture
    inputs: dict[str, tuple[int, ...]]
    model_name: str
    modalities: tuple[str, ...]
    checkpoint: str
    detector: str
    pose: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (see docs/pipeline.md for an example)."""
        c = self.capture
        return {
            "rgb": str(c.rgb_path), "depth": str(c.depth_path),
            "frames": {"rgb": c.rgb_frames, "depth": c.depth_frames, "used": c.num_frames,
                       "sampled": [int(i) for i in c.frame_index]},
            "model": {"name": self.model_name, "checkpoint": self.checkpoint, "modalities": list(self.modalities),
                      "inputs": {k: list(v) for k, v in self.inputs.items()}},
            "detector": {"name": self.detector, "source": c.detections.source},
            "persons": [{"slot": m, "frames_detected": int(c.detections.present[m].sum()),
                         "frames_lifted": int(c.present[m].sum())} for m in range(c.present.shape[0])],
            "lifting": {"method": c.lifting, "layout": "coco17", **({"pose_model": dict(self.pose)} if self.pose
                                                                     else {})},
            "depth_masked_to_persons": c.masked,
            "mirrored": c.mirrored,
            "person_crop_frames": len(c.crop_index),
            "calibration": c.calibration.to_dict(),
            "topk": [vars(s) for s in self.topk],
            "timings_s": {k: round(v, 3) for k, v in c.timings.items()},
            "warnings": list(c.warnings),
        }

    def text(self) -> str:
        """Human-readable summary."""
        c = self.capture
        lines = [f"{c.rgb_path.name} + {c.depth_path.name}: {len(c.frame_index)} of {c.num_frames} frames, "
                 f"{int(c.present.any(axis=1).sum())} person(s), keypoints {self.detector}, 3-D {c.lifting}",
                 f"model {self.model_name} ({', '.join(self.modalities)})"]
        width = max((len(s.name) for s in self.topk), default=0)
        for s in self.topk:
            lines.append(f"  {s.rank}. {s.code:>5} {s.name:<{width}}  {100 * s.probability:5.1f} %")
        lines += [f"warning: {w}" for w in c.warnings]
        return "\n".join(lines)
