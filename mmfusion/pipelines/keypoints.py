"""``mmfusion keypoints``: 2-D keypoints of every frame of a video (pyskl's pose-extraction step).

    mmfusion keypoints VIDEO --out FILE.npz|FILE.json [--detector mediapipe|keypointrcnn]
        [--layout coco17|ntu25|mediapipe33] [--mirrored] [--max-persons M] [--chunk 64]

Output (no pickle; ``.npz`` read with ``np.load(..., allow_pickle=False)``, or ``.json``):

* ``keypoints`` float32 (M, T, V, 2): pixels (x, y) of the video's own frames; 0 where absent;
* ``scores`` float32 (M, T, V): keypoint confidence in [0, 1]; all 0 where person m is absent
  in frame t;
* ``img_shape`` int (2,): (H, W) of the frames; ``total_frames`` int: T;
* ``layout`` str: coco17, ntu25 (mediapipe only) or mediapipe33; ``joints`` str (V,): the
  layout's joint names in order;
* ``labels`` str: "appearance" (left / right as the image shows them, any image detector) or
  "anatomical" (after ``--mirrored`` on a Kinect / NTU video: the person's own sides, as in
  the ``.skeleton`` files);
* ``detector`` str, ``video`` str: what made it from what.

``keypoints`` and ``scores`` use the names that ``--detector keypoints --keypoints FILE`` of
``mmfusion predict`` reads (:class:`~mmfusion.pipelines.detectors.GivenKeypoints`, COCO-17
layout). pyskl's pickles call them ``keypoint`` / ``keypoint_score`` with the same shapes.

The video is decoded ``--chunk`` frames at a time, so long videos need little memory.
MediaPipe tracks one person through the whole video; Keypoint R-CNN detects every frame and
the persons are linked into ``--max-persons`` slots at the end
(:func:`~mmfusion.pipelines.detectors.track_persons`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..cli_errors import run_command
from ..data.formats.video import read_video, video_num_frames
from ..data.layouts import COCO17, NTU25
from ..errors import ConfigError
from .detectors import KeypointRCNNDetector, default_detector, track_persons
from .mediapipe_pose import MP33_JOINTS, MediaPipePose, mp33_to_coco17, mp33_to_ntu25, require_mediapipe

LAYOUT_JOINTS: dict[str, tuple[str, ...]] = {"coco17": COCO17.joints, "ntu25": NTU25.joints,
                                             "mediapipe33": MP33_JOINTS}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``mmfusion keypoints``."""
    parser.add_argument("video", help="input video (any container decord / PyAV reads)")
    parser.add_argument("--out", required=True, help="output file, .npz or .json")
    parser.add_argument("--detector", choices=("mediapipe", "keypointrcnn"), default=None,
                        help="mediapipe (default where installed: BlazePose, one person, models in the wheel) or "
                             "keypointrcnn (torchvision; weights must be in the torch hub cache)")
    parser.add_argument("--layout", choices=tuple(LAYOUT_JOINTS), default="coco17",
                        help="joint layout of the output; ntu25 and mediapipe33 need --detector mediapipe")
    parser.add_argument("--mirrored", action="store_true",
                        help="the video is mirrored like Kinect v2's (NTU RGB+D): swap the detector's left / right "
                             "to the person's own (labels 'anatomical', as in the .skeleton files)")
    parser.add_argument("--max-persons", type=int, default=2, help="person slots M (mediapipe fills one)")
    parser.add_argument("--chunk", type=int, default=64, help="frames decoded at a time")
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate (mediapipe's smoothing uses it)")
    parser.add_argument("--detector-weights", help="Keypoint R-CNN weights file (default: the torch hub cache)")
    parser.add_argument("--score-threshold", type=float, default=0.7, help="Keypoint R-CNN person score threshold")
    parser.add_argument("--device", default="cpu", help="torch device for Keypoint R-CNN")


def extract(video: str | Path, detector: str | None = None, layout: str = "coco17", mirrored: bool = False,
            max_persons: int = 2, chunk: int = 64, fps: float = 30.0, **rcnn: Any) -> dict[str, Any]:
    """Keypoints of every frame of ``video`` as the dict described in the module docstring.

    Args:
        detector: "mediapipe" or "keypointrcnn"; default :func:`~mmfusion.pipelines.detectors.default_detector`.
        rcnn: options of :class:`~mmfusion.pipelines.detectors.KeypointRCNNDetector` (weights, ...).

    Raises:
        ConfigError: a bad option combination or a missing optional package.
        CheckpointError: Keypoint R-CNN weights missing.
        DataFormatError: an unreadable video.
    """
    detector = detector or default_detector()
    if layout not in LAYOUT_JOINTS:
        raise ConfigError(f"layout must be one of {sorted(LAYOUT_JOINTS)}, got {layout!r}")
    if detector == "keypointrcnn" and layout != "coco17":
        raise ConfigError(f"keypointrcnn gives COCO-17 keypoints only, not {layout}")
    if detector not in ("mediapipe", "keypointrcnn"):
        raise ConfigError(f"detector must be 'mediapipe' or 'keypointrcnn', got {detector!r}")
    if chunk < 1 or max_persons < 1:
        raise ConfigError(f"--chunk and --max-persons must be >= 1, got {chunk} and {max_persons}")
    path = Path(video)
    total = video_num_frames(path)
    chunks = [range(s, min(s + chunk, total)) for s in range(0, total, chunk)]
    img_shape = (0, 0)
    if detector == "mediapipe":
        require_mediapipe()
        parts_k, parts_s = [], []
        with MediaPipePose(video=True, fps=fps) as pose:
            for idx in chunks:
                frames = read_video(path, list(idx))
                img_shape = frames.shape[1:3]
                k, s = pose.process(frames, np.asarray(idx))
                parts_k.append(k)
                parts_s.append(s)
        k33 = np.concatenate(parts_k) if parts_k else np.zeros((0, 33, 2), np.float32)
        s33 = np.concatenate(parts_s) if parts_s else np.zeros((0, 33), np.float32)
        convert = {"coco17": mp33_to_coco17, "ntu25": mp33_to_ntu25, "mediapipe33": lambda k, s: (k, s)}[layout]
        kps, scores = convert(k33, s33)
        keypoints = np.zeros((max_persons, total, *kps.shape[1:]), np.float32)
        sc = np.zeros((max_persons, total, kps.shape[1]), np.float32)
        keypoints[0], sc[0] = np.where(s33.max(-1, initial=0)[:, None, None] > 0, kps, 0.0), scores
    else:
        det = KeypointRCNNDetector(max_persons=max_persons, **{k: v for k, v in rcnn.items() if v is not None})
        per_frame = []
        for idx in chunks:
            frames = read_video(path, list(idx))
            img_shape = frames.shape[1:3]
            per_frame += det.candidates(frames)
        tracked = track_persons(per_frame, max_persons).select(max_persons)
        keypoints, sc = tracked.keypoints, tracked.scores
    labels = "appearance"
    if mirrored:
        flip = {"coco17": COCO17.flip, "ntu25": NTU25.flip, "mediapipe33": _MP33_FLIP}[layout]
        keypoints, sc = keypoints[:, :, list(flip)], sc[:, :, list(flip)]
        labels = "anatomical"
    return {"keypoints": keypoints.astype(np.float32), "scores": sc.astype(np.float32),
            "img_shape": np.asarray(img_shape, dtype=np.int64), "total_frames": int(total), "layout": layout,
            "joints": list(LAYOUT_JOINTS[layout]), "labels": labels, "detector": detector, "video": str(path)}


def _mp33_flip() -> tuple[int, ...]:
    swap = {"left": "right", "right": "left"}
    out = []
    for name in MP33_JOINTS:
        for a, b in swap.items():
            if name.startswith(a + "_") or name.endswith("_" + a):
                name = name.replace(a, b)
                break
        out.append(MP33_JOINTS.index(name))
    return tuple(out)


_MP33_FLIP = _mp33_flip()


def save(result: dict[str, Any], out: str | Path) -> Path:
    """Write :func:`extract`'s dict as ``.npz`` (strings as numpy unicode, no pickle) or ``.json``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".json":
        data = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in result.items()}
        out.write_text(json.dumps(data) + "\n")
    elif out.suffix == ".npz":
        arrays = {k: (np.asarray(v) if not isinstance(v, list) else np.asarray(v, dtype=str))
                  for k, v in result.items()}
        np.savez_compressed(out, **arrays)
    else:
        raise ConfigError(f"--out must end in .npz or .json, got {out.name}")
    return out


def load(path: str | Path) -> dict[str, Any]:
    """Read a file :func:`save` wrote (arrays as numpy arrays, scalars as Python values)."""
    p = Path(path)
    if p.suffix == ".json":
        d = json.loads(p.read_text())
        d["keypoints"] = np.asarray(d["keypoints"], np.float32)
        d["scores"] = np.asarray(d["scores"], np.float32)
        d["img_shape"] = np.asarray(d["img_shape"], np.int64)
        return d
    with np.load(p, allow_pickle=False) as z:
        return {k: (z[k].item() if z[k].ndim == 0 else z[k]) for k in z.files}


def run(args: argparse.Namespace) -> int:
    """Extract and write; prints a one-line summary. Returns 0."""
    result = extract(args.video, args.detector, args.layout, args.mirrored, args.max_persons, args.chunk, args.fps,
                     weights=args.detector_weights, score_threshold=args.score_threshold, device=args.device)
    out = save(result, args.out)
    present = (result["scores"].max(axis=-1, initial=0) > 0).sum(axis=1)
    print(f"wrote {out}: {result['detector']} {result['layout']} keypoints {tuple(result['keypoints'].shape)}, "
          f"person frames {present.tolist()} of {result['total_frames']}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m mmfusion.pipelines.keypoints VIDEO --out FILE`` (also ``mmfusion keypoints``)."""
    parser = argparse.ArgumentParser(prog="mmfusion keypoints", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    return run_command(lambda: run(args), "mmfusion keypoints")


if __name__ == "__main__":
    sys.exit(main())
