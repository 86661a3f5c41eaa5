"""End-to-end inference: an RGB-D capture in, an action out.

:class:`RGBDActionPipeline` reads an RGB video and a depth clip (NTU masked-depth PNG folder,
a 16-bit video or a .npy), samples the same frames from both, finds COCO-17 keypoints with a
pluggable :class:`KeypointDetector` (torchvision Keypoint R-CNN, an NTU ``.skeleton`` file, the
synthetic world's simulated detector, or given arrays), maps them into the depth image
(:class:`RGBDCalibration`), lifts them to 3-D (UniPose stage A via :mod:`mmfusion.pose.lift`, or
keypoint + depth), builds
exactly the modalities the action model consumes with :class:`~mmfusion.data.dataset.NTUDataset`'s
own preprocessing, and returns the top-k actions::

    from mmfusion.pipelines import RGBDActionPipeline
    pipe = RGBDActionPipeline("runs/mmixer_ntu/fusion_rgbd", pose_checkpoint="runs/unipose", detector="keypointrcnn")
    pred = pipe.predict("clip_rgb.avi", "clip_depth/")
    print(pred.text()); pred.to_dict()                     # top-k, shapes, persons, timings
    render_prediction(pred, "skeleton.png")              # lifted skeleton over the depth frame

Command line: ``mmfusion predict --rgb V --depth D --checkpoint C`` (:mod:`.cli`); details in
docs/pipeline.md. Modules: :mod:`.rgb_action` (pipeline), :mod:`.capture` (inputs, cameras,
in-memory :class:`~.capture.CaptureReader`), :mod:`.results` (Capture, Prediction),
:mod:`.detectors`, :mod:`.lifting`, :mod:`.render`, :mod:`.export` (per-frame PLY clouds and
skeletons, ``mmfusion predict --save-clouds DIR``; the lifted skeleton as an NTU ``.skeleton`` file,
``--export-skeleton FILE``), :mod:`.checks` (inputs that look like different recordings).
"""

from .capture import CaptureReader, DepthClip, RGBDCalibration, open_depth
from .detectors import (
    DETECTORS,
    Detections,
    GivenKeypoints,
    KeypointDetector,
    KeypointRCNNDetector,
    MediaPipeDetector,
    SkeletonFileDetector,
    SyntheticDetector,
    default_detector,
    make_detector,
)
from .export import export_skeleton, save_clouds
from .lifting import coco17_to_ntu25, lift_persons, person_masks
from .render import render_prediction, render_skeleton
from .results import ActionScore, Capture, Prediction
from .rgb_action import PipelineConfig, RGBDActionPipeline, load_action_model

__all__ = [
    "ActionScore", "Capture", "CaptureReader", "DETECTORS", "DepthClip", "Detections", "GivenKeypoints",
    "KeypointDetector", "KeypointRCNNDetector", "MediaPipeDetector", "PipelineConfig", "Prediction",
    "RGBDActionPipeline", "RGBDCalibration", "SkeletonFileDetector", "SyntheticDetector", "coco17_to_ntu25",
    "default_detector", "export_skeleton", "lift_persons", "load_action_model", "make_detector", "open_depth",
    "person_masks", "render_prediction", "render_skeleton", "save_clouds",
]
