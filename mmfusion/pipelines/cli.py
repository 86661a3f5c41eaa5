"""``mmfusion predict``: RGB video + depth clip -> top-k actions (text, JSON, PNG).

    mmfusion predict --rgb S001C001P001R001A010_rgb.avi --depth nturgb+d_depth_masked/S001C001P001R001A010 \\
        --checkpoint runs/mmixer_ntu/fusion_rgbd [--pose-checkpoint runs/unipose] [--topk 5] \\
        [--json out.json] [--render out.png] [--save-clouds DIR] [--export-skeleton out.skeleton] [--quiet]
        [--detector mediapipe|keypointrcnn|skeleton|synthetic|keypoints]

See :mod:`mmfusion.pipelines.rgb_action` for the stages and docs/pipeline.md for a walk-through.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..data.camera import CameraIntrinsics
from ..data.formats.video import read_video
from ..errors import ConfigError
from .capture import RGBDCalibration, open_depth
from .detectors import (
    KeypointDetector,
    KeypointRCNNDetector,
    MediaPipeDetector,
    SkeletonFileDetector,
    SyntheticDetector,
    default_detector,
    make_detector,
)
from .export import export_skeleton, save_clouds
from .render import render_prediction
from .rgb_action import STAGES, PipelineConfig, RGBDActionPipeline

DETECTOR_CHOICES = ("mediapipe", "keypointrcnn", "skeleton", "synthetic", "keypoints")


def _four(text: str) -> tuple[float, float, float, float]:
    vals = [float(v) for v in text.replace(",", " ").split()]
    if len(vals) != 4:
        raise argparse.ArgumentTypeError(f"expected 4 numbers 'fx,fy,cx,cy', got {text!r}")
    return vals[0], vals[1], vals[2], vals[3]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``mmfusion predict``."""
    parser.add_argument("--rgb", required=True, help="RGB video (any container decord / PyAV reads)")
    parser.add_argument("--depth", required=True,
                        help="depth: folder of 16-bit PNGs (mm), 16-bit greyscale video, or .npy (T, H, W)")
    parser.add_argument("--checkpoint", required=True, help="action model run folder (model.safetensors + config.json)")
    parser.add_argument("--model", help="registered model name (only when the checkpoint has no config.json)")
    parser.add_argument("--pose-checkpoint", help="UniPose stage-A folder (mmfusion.pose.lift.save_lifter, e.g. "
                                                  "runs/unipose_synth/stage_a); without it: naive keypoint + depth")
    parser.add_argument("--topk", type=int, default=5, help="classes to report (default 5)")
    parser.add_argument("--json", dest="json_out", help="write the result as JSON here")
    parser.add_argument("--render", help="write a PNG of the lifted skeleton over a depth frame here")
    parser.add_argument("--save-clouds", metavar="DIR",
                        help="write each sampled frame's point cloud (coloured, outliers removed) and lifted "
                             "skeleton as PLY files into DIR (open3d)")
    parser.add_argument("--export-skeleton", metavar="FILE",
                        help="write the lifted NTU-25 skeleton as an NTU .skeleton file (read_skeleton / NTU tools)")
    parser.add_argument("--quiet", action="store_true", help="no per-stage progress lines on stderr")
    g = parser.add_argument_group("2-D keypoints")
    g.add_argument("--detector", default=None, choices=DETECTOR_CHOICES,
                   help="mediapipe (default where installed: pip install 'mmfusion[mediapipe]', models in the "
                        "wheel); keypointrcnn (default otherwise): torchvision Keypoint R-CNN (weights must be in "
                        "the torch hub cache); "
                        "skeleton: colour joints of the sample's NTU .skeleton file; synthetic: the same through "
                        "the simulated detector; keypoints: a .npz (--keypoints)")
    g.add_argument("--detector-weights", help="Keypoint R-CNN weights file (default: the torch hub cache)")
    g.add_argument("--skeleton", help=".skeleton file for --detector skeleton/synthetic (default: found in the "
                                      "inputs' NTU tree)")
    g.add_argument("--keypoints", help=".npz with keypoints (M, T_video, 17, 2) [+ scores] for --detector keypoints")
    g.add_argument("--score-threshold", type=float, default=0.7, help="Keypoint R-CNN person score threshold")
    g.add_argument("--detector-size", type=int, default=800,
                   help="Keypoint R-CNN input short side (torchvision min_size; smaller = faster, default 800)")
    g = parser.add_argument_group("cameras (default: synthetic-world meta, else a fit on the sample's .skeleton "
                                  "file, else Kinect v2)")
    g.add_argument("--intrinsics", type=_four, help="depth camera fx,fy,cx,cy in pixels of the stored depth frames")
    g.add_argument("--color-intrinsics", type=_four, help="colour camera fx,fy,cx,cy in pixels of the RGB frames")
    g.add_argument("--baseline", type=float, default=0.0,
                   help="colour camera offset along +X of the depth camera, metres (with --color-intrinsics)")
    g.add_argument("--registered", action="store_true",
                   help="the RGB frames are aligned to the depth frames (same view); needs --intrinsics")
    g.add_argument("--depth-unit", type=float, default=1.0, help="millimetres per stored depth unit (default 1)")
    g.add_argument("--mirrored", choices=("auto", "yes", "no"), default="auto",
                   help="frames mirrored like Kinect v2 / NTU (a person's left shows on the image's left); auto: yes "
                        "unless --intrinsics are given")
    g = parser.add_argument_group("preprocessing (default: the training run's train_config.json)")
    g.add_argument("--clip-len", type=int)
    g.add_argument("--image-size", type=int)
    g.add_argument("--num-points", type=int)
    g.add_argument("--crop", choices=("full", "person"))
    g.add_argument("--mask-depth", choices=("auto", "on", "off"), default="auto",
                   help="mask unmasked depth to the persons (auto: when the room is visible)")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1 ...)")
    parser.add_argument("--seed", type=int, default=0)


def _calibration(args: argparse.Namespace, rgb: Path, depth: Path) -> RGBDCalibration | None:
    """An explicit RGBDCalibration from the options, or None (pipeline defaults)."""
    if args.intrinsics is None:
        if args.registered or args.color_intrinsics is not None:
            raise ConfigError("--registered / --color-intrinsics need --intrinsics (the depth camera)")
        return None
    depth_intr = CameraIntrinsics(*args.intrinsics)
    if args.color_intrinsics is not None:
        return RGBDCalibration(depth_intr, CameraIntrinsics(*args.color_intrinsics), args.baseline, "given")
    if not args.registered:
        raise ConfigError("with --intrinsics, give the colour camera too (--color-intrinsics [--baseline]) or "
                          "--registered when the RGB frames are aligned to the depth frames")
    h_rgb, w_rgb = read_video(rgb, [0]).shape[1:3]
    d0 = open_depth(depth, args.depth_unit).read([0])
    return RGBDCalibration.registered(depth_intr, tuple(d0.shape[1:3]), (h_rgb, w_rgb))


def _detector(args: argparse.Namespace, max_persons: int = 2) -> KeypointDetector:
    name = args.detector or default_detector()
    if name == "mediapipe":
        return MediaPipeDetector(max_persons=max_persons)
    if name == "keypointrcnn":
        return KeypointRCNNDetector(args.detector_weights, score_threshold=args.score_threshold,
                                    max_persons=max_persons, device=args.device, min_size=args.detector_size,
                                    max_size=max(args.detector_size, round(args.detector_size * 1333 / 800)))
    if name == "skeleton":
        return SkeletonFileDetector(args.skeleton, max_persons=max_persons)
    if name == "synthetic":
        return SyntheticDetector(args.skeleton, max_persons=max_persons, seed=args.seed)
    return make_detector("keypoints", path=args.keypoints)


def _print_stage(stage: str, seconds: float, detail: str) -> None:
    """One stderr line per pipeline stage, as it ends (stdout keeps only the result)."""
    print(f"[{STAGES.index(stage) + 1}/{len(STAGES)}] {stage:<10} {seconds:7.2f} s  {detail}", file=sys.stderr,
          flush=True)


def run(args: argparse.Namespace) -> int:
    """Run the pipeline once; prints the top-k, writes --json / --render. Returns 0."""
    if args.topk < 1:
        raise ConfigError(f"--topk must be >= 1, got {args.topk}")
    rgb, depth = Path(args.rgb), Path(args.depth)
    config = PipelineConfig(clip_len=args.clip_len, image_size=args.image_size, num_points=args.num_points,
                            crop=args.crop, depth_unit_mm=args.depth_unit, mask_depth=args.mask_depth, seed=args.seed,
                            mirrored=None if args.mirrored == "auto" else args.mirrored == "yes")
    pipe = RGBDActionPipeline(args.checkpoint, pose_checkpoint=args.pose_checkpoint, detector=_detector(args),
                              calibration=_calibration(args, rgb, depth), config=config, device=args.device,
                              model_name=args.model, progress=None if args.quiet else _print_stage)
    pred = pipe.predict(rgb, depth, topk=args.topk)
    print(pred.text())
    if args.json_out:
        out = Path(args.json_out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(pred.to_dict(), indent=2) + "\n")
        print(f"wrote {out}")
    if args.render:
        print(f"wrote {render_prediction(pred, args.render)}")
    if args.export_skeleton:
        print(f"wrote {export_skeleton(pred, args.export_skeleton)}")
    if args.save_clouds:
        files = save_clouds(pred, args.save_clouds)
        print(f"wrote {len(files)} PLY files ({len(files) // 2} frames: cloud + skeleton) into {args.save_clouds}")
    return 0
