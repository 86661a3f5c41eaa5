"""RGB-D video in, action out: :class:`RGBDActionPipeline`.

Stages (T = the model's densest clip length, M = person slots, K = classes)::

    RGB video + depth clip
      1. sampling     aligned_indices over min(#RGB, #depth) frames (test-time segment centres)
                      -> frame_index (T,), rgb uint8 (T, H, W, 3), depth uint16 (T, h, w) mm
      2. detection    a KeypointDetector -> COCO-17 keypoints (M, T, 17, 2) RGB pixels + scores
      3. registration RGBDCalibration: RGB pixels -> depth pixels (M, T, 17, 2)
      4. persons      each person's depth pixels (box + depth band); unmasked depth is masked
                      to the persons (NTU's depth is masked, so the models were trained on that)
      5. lifting      UniPose stage A (with --pose-checkpoint) or naive keypoint + depth
                      -> joints (M, T, 17, 3) camera metres -> NTU-25 skeleton (M, T, 25, 3)
      6. inputs       the data set's sample function over the capture (make_sample on a
                      CaptureReader, with the run's ClipSettings): exactly
                      the modalities the model consumes ("rgb" (3, T, S, S), "depth" (1, T, S, S),
                      "points" (T, P, 3), "skeleton" (3, T, 25, M), "heatmap" (17, T, h, w),
                      "keypoints2d" (M, T, 17, 2)), with a leading batch axis N = 1
      7. model        create_model(name, checkpoint=run_dir) -> logits (1, K) -> softmax -> top-k

Progress: each stage reports its time as it ends (``progress=`` callback and an INFO log line;
``mmfusion predict`` prints them): "read", "detect 2-D", "register" (3-4), "lift", "encode" (6),
"classify" (7). Inputs that look like different recordings (NTU names or frame counts,
:mod:`.checks`) are logged as warnings and kept in ``Capture.warnings``.

Left / right: the models learnt NTU's mirrored Kinect v2 view with anatomical joint labels; see
:class:`PipelineConfig` ``mirrored`` for how other captures and image detectors are brought to it.

Data settings (:class:`~mmfusion.data.settings.ClipSettings`: clip length, image size, points,
crop, ...) come from the run folder's ``config.json`` ``"dataset"`` entry (the training data set's
settings, loaded with ``ClipSettings.from_dict``), else ``train_config.json`` (the recipe's saved
options, for run folders older than that entry) over the ClipSettings defaults;
:class:`PipelineConfig` overrides them. "ir" cannot come from an RGB-D capture: a
model that consumes it is refused with a :class:`~mmfusion.errors.MissingModalityError`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data.dataset import collate
from ..data.formats.video import read_video, video_num_frames
from ..data.layouts import COCO17
from ..data.modalities import MODALITIES, POSE_MODALITIES, modality
from ..data.ntu import NTU_ACTIONS
from ..data.reader import read_synth_meta
from ..data.sample import make_sample
from ..data.sampling import aligned_indices
from ..data.settings import ClipSettings
from ..errors import CheckpointError, ConfigError, DataFormatError, MissingModalityError
from ..pose.lift import load_lifter
from ..registry import create_model, get_model_cfg
from .capture import CaptureReader, RGBDCalibration, _require, find_ntu_tree, open_depth
from .checks import input_mismatches
from .detectors import Detections, KeypointDetector, default_detector, find_skeleton_file, make_detector
from .lifting import PersonMasks, coco17_to_ntu25, lift_persons, person_masks, reference_depth
from .results import ActionScore, Capture, Prediction

log = logging.getLogger(__name__)

__all__ = ["PipelineConfig", "Capture", "ActionScore", "Prediction", "RGBDActionPipeline", "load_action_model",
           "STAGES", "ProgressFn"]

#: the stages reported to ``progress`` (in order)
STAGES: tuple[str, ...] = ("read", "detect 2-D", "register", "lift", "encode", "classify")
#: ``progress(stage, seconds, detail)``, called as each stage ends
ProgressFn = Callable[[str, float, str], None]

#: PipelineConfig fields that override the run's ClipSettings
DATA_SETTINGS: tuple[str, ...] = ("clip_len", "image_size", "num_points", "max_bodies", "crop", "crop_padding",
                                  "skeleton_norm", "heatmap_size", "heatmap_sigma", "depth_max", "depth_scale",
                                  "decode_size", "point_method", "base_points")


@dataclass
class PipelineConfig:
    """Options of :class:`RGBDActionPipeline`; ``None`` = the training run's value.

    Attributes:
        clip_len, image_size, num_points, max_bodies, crop, crop_padding, skeleton_norm,
        heatmap_size, heatmap_sigma, depth_max, depth_scale, decode_size, point_method,
        base_points: override the run's :class:`~mmfusion.data.settings.ClipSettings` fields.
        depth_unit_mm: millimetres per stored depth unit (1 for NTU / Kinect / RealSense default).
        mask_depth: "auto" (mask to the persons when more than ``unmasked_fraction`` of the
            pixels have depth, i.e. the room is visible), "on" or "off".
        unmasked_fraction: see ``mask_depth``.
        person_margin: person box growth on each side / keypoint extent.
        depth_band: metres around the keypoints' median depth that belong to the person.
        min_score: keypoints below it do not shape person boxes.
        mirrored: the frames are mirrored like Kinect v2's (NTU RGB+D, the synthetic world): a person
            facing the camera shows its left side on the image's left. None: True unless the caller
            gives the cameras (``calibration=``, ``--intrinsics``: another sensor). The models are
            trained on NTU's mirrored view with anatomical left / right, so an unmirrored capture is
            mirrored before the model, and an image detector's left / right on a mirrored capture
            are swapped to anatomical ones.
        crop_frames: with ``crop="person"`` the data set boxes the person over the whole video; the
            pipeline lifts the sampled frames plus this many evenly spaced ones for that box.
            None: 32 for detectors that read keypoints from files, 0 for image detectors (each
            extra frame costs a detector pass).
        frame_tolerance: RGB, depth and skeleton frame counts may differ by this fraction (at
            least 2 frames) before the inputs are reported as different recordings.
        seed: seed of the point sampling.
    """

    clip_len: int | dict[str, int] | None = None
    image_size: int | None = None
    num_points: int | None = None
    max_bodies: int | None = None
    crop: str | None = None
    crop_padding: float | None = None
    skeleton_norm: str | None = None
    heatmap_size: int | None = None
    heatmap_sigma: float | None = None
    depth_max: float | None = None
    depth_scale: float | None = None
    decode_size: int | None = None
    point_method: str | None = None
    base_points: int | None = None
    depth_unit_mm: float = 1.0
    mask_depth: str = "auto"
    unmasked_fraction: float = 0.3
    person_margin: float = 0.1
    depth_band: float = 0.5
    min_score: float = 0.2
    crop_frames: int | None = None
    mirrored: bool | None = None
    frame_tolerance: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        if self.mask_depth not in ("auto", "on", "off"):
            raise ConfigError(f"mask_depth must be 'auto', 'on' or 'off', got {self.mask_depth!r}")
        if not self.depth_band > 0 or not self.person_margin > 0:
            raise ConfigError("depth_band and person_margin must be > 0")


def _data_settings(config: PipelineConfig, card: Mapping[str, Any], train_cfg: Mapping[str, Any],
                   modalities: tuple[str, ...] | None = None) -> ClipSettings:
    """The run's clip settings: the ``config.json`` ``"dataset"`` entry (``ClipSettings.from_dict``),
    else the recipe's ``train_config.json`` options (``clip_len``, ``pose_clip_len`` for the pose
    modalities, ``image_size`` ...) over the defaults; then ``config``'s explicit values; then
    ``modalities`` (the model's) with their clip lengths."""
    stored = card.get("dataset")
    if stored:
        base = ClipSettings.from_dict(stored)
    else:
        fields = {f.name for f in dataclasses.fields(ClipSettings)}
        recipe = {k: v for k, v in train_cfg.items() if k in fields and v is not None}
        pose_len = train_cfg.get("pose_clip_len")
        clip = recipe.get("clip_len", ClipSettings.clip_len)
        if pose_len and not isinstance(clip, Mapping):
            recipe["clip_len"] = {m: int(pose_len) if m in POSE_MODALITIES else int(clip) for m in MODALITIES}
        base = ClipSettings.from_dict(recipe)
    lens = base.clip_lens
    # a uniform clip length applies to any modality (the model may consume one the data set did not emit)
    clip_len = config.clip_len if config.clip_len is not None else (
        next(iter(lens.values())) if len(set(lens.values())) == 1 else lens)
    changes = {k: getattr(config, k) for k in DATA_SETTINGS if k != "clip_len" and getattr(config, k) is not None}
    mods = tuple(modalities) if modalities is not None else base.modalities
    if isinstance(clip_len, Mapping):
        missing = [m for m in mods if m not in clip_len]
        if missing:
            raise ConfigError(f"clip_len {dict(clip_len)} has no length for {missing}")
        clip_len = {m: int(clip_len[m]) for m in mods}
    return base.replace(modalities=mods, clip_len=clip_len, **changes)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None


def load_action_model(checkpoint: str | os.PathLike[str], model_name: str | None = None
                      ) -> tuple[nn.Module, dict[str, Any], dict[str, Any]]:
    """An action model from an engine run folder (``model.safetensors`` + ``config.json``) or a
    ``.safetensors`` file (``model_name`` required, ``config.json`` looked for beside it).

    Returns:
        (model in eval mode, model card = config.json content, training options = train_config.json or {}).
    """

    path = Path(checkpoint)
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint not found (expected an engine run folder or a .safetensors file)")
    folder = path if path.is_dir() else path.parent
    card = _read_json(folder / "config.json") if (folder / "config.json").is_file() else {}
    train_cfg = _read_json(folder / "train_config.json") if (folder / "train_config.json").is_file() else {}
    name = model_name or card.get("model_name")
    if not name:
        raise CheckpointError(f"{path}: no config.json naming the model; pass the registered model name (--model)")
    kwargs: dict[str, Any] = {}
    if not path.is_dir():
        kwargs = dict(card.get("model_kwargs") or {})
    model = create_model(name, checkpoint=path, **kwargs)
    card = {**card, "model_name": name}
    return model.eval(), card, train_cfg


def _model_modalities(card: Mapping[str, Any]) -> tuple[str, ...]:
    """The batch keys the model consumes: ``config.json`` ``"modalities"`` (written by the engine),
    else the registered model's input config where the registry has one."""
    mods = card.get("modalities")
    if not mods:
        mods = tuple(get_model_cfg(card["model_name"]).inputs)
    if isinstance(mods, str):
        mods = (mods,)
    if not mods:
        raise ConfigError(f"cannot tell which modalities {card.get('model_name')} consumes: its config.json lists "
                          f"none; pass modalities=...")
    for m in mods:
        modality(m)  # ConfigError naming an unknown key
    return tuple(mods)


class RGBDActionPipeline:
    """RGB video + depth clip -> top-k actions (see the module docstring for the stages).

    Args:
        checkpoint: engine run folder of the action model (or a ``.safetensors`` + ``model_name``).
        pose_checkpoint: UniPose stage-A folder (:func:`mmfusion.pose.lift.save_lifter`, COCO-17);
            None = naive lifting.
        detector: a :class:`~mmfusion.pipelines.detectors.KeypointDetector` or its name
            ("keypointrcnn" (default), "skeleton", "synthetic"; "keypoints" needs an instance or
            :func:`~mmfusion.pipelines.detectors.make_detector`).
        calibration: camera geometry; default: the synthetic world's meta next to the inputs, else a
            fit on the sample's NTU ``.skeleton`` file, else Kinect v2 scaled to the frame sizes.
        config: :class:`PipelineConfig`.
        device: torch device of the models.
        model_name: registered action model name when the checkpoint has no config.json.
        progress: ``progress(stage, seconds, detail)`` as each of :data:`STAGES` ends (also logged at INFO).

    Raises:
        CheckpointError: unreadable / mismatching checkpoints, missing detector weights.
        MissingModalityError: the model consumes "ir".
    """

    def __init__(self, checkpoint: str | os.PathLike[str], pose_checkpoint: str | os.PathLike[str] | None = None,
                 detector: str | KeypointDetector | None = None, calibration: RGBDCalibration | None = None,
                 config: PipelineConfig | None = None, device: str | torch.device = "cpu",
                 model_name: str | None = None, progress: ProgressFn | None = None) -> None:
        self.config = config or PipelineConfig()
        self.progress = progress
        self.device = torch.device(device)
        self.checkpoint = str(checkpoint)
        self.model, self.card, train_cfg = load_action_model(checkpoint, model_name)
        self.model.to(self.device)
        self.model_name: str = self.card["model_name"]
        self.modalities = _model_modalities(self.card)
        if "ir" in self.modalities:
            raise MissingModalityError("ir", f"model {self.model_name} ({checkpoint}) consumes infrared "
                                             f"({', '.join(self.modalities)}), which an RGB-D capture does not have; "
                                             f"use a model trained without 'ir'")
        self.settings = _data_settings(self.config, self.card, train_cfg, self.modalities)
        #: model modality -> T (tests and callers may change it before :meth:`capture`)
        self.clip_lens = self.settings.clip_lens
        self.calibration = calibration
        detector = detector or default_detector()  # mediapipe where installed, else keypointrcnn
        if isinstance(detector, str):
            opts: dict[str, Any] = {"max_persons": int(self.settings.max_bodies)}
            if detector == "keypointrcnn":
                opts["device"] = str(self.device)
            detector = make_detector(detector, **opts)
        self.detector: KeypointDetector = detector
        self.pose_checkpoint = None if pose_checkpoint is None else str(pose_checkpoint)
        self.pose_model = self._pose_model(pose_checkpoint)
        self.classes, self.class_names = self._class_info()

    def _pose_model(self, checkpoint: str | os.PathLike[str] | None) -> nn.Module | None:
        if checkpoint is None:
            return None
        net = load_lifter(checkpoint, self.device)
        if getattr(net, "layout", COCO17.name) != COCO17.name or getattr(net, "num_joints", 17) != COCO17.num_joints:
            raise CheckpointError(f"{checkpoint}: the pose network predicts {net.num_joints} joints in layout "
                                  f"{net.layout!r}; the pipeline's keypoints are COCO-17")
        return net

    def _pose_info(self) -> dict[str, Any] | None:
        if self.pose_model is None:
            return None
        return {"checkpoint": self.pose_checkpoint, "model": type(self.pose_model).__name__,
                "num_points": int(getattr(self.pose_model, "lift_num_points", 0))}

    # -- classes ---------------------------------------------------------------------------------
    def _class_info(self) -> tuple[list[int | None], list[str]]:
        k = int(self.card.get("num_classes") or len(self.card.get("class_names") or []) or
                getattr(self.model, "num_classes", 0) or 0)
        classes = list(self.card.get("classes") or [])
        names = list(self.card.get("class_names") or [])
        k = k or len(classes)
        actions: list[int | None] = [int(a) + 1 if isinstance(a, (int, float)) else None for a in classes] or [None] * k
        if not names:
            names = [NTU_ACTIONS[a - 1] if a is not None and 1 <= a <= len(NTU_ACTIONS) else f"class {i}"
                     for i, a in enumerate(actions)]
        return actions, names

    # -- stages ----------------------------------------------------------------------------------
    def _stage(self, stage: str, seconds: float, detail: str) -> None:
        log.info("%s: %.2f s (%s)", stage, seconds, detail)
        if self.progress is not None:
            self.progress(stage, seconds, detail)

    def _mismatches(self, rgb: Path, depth: Path, n_rgb: int, n_depth: int, sources: tuple[str, ...]) -> list[str]:
        """Signs that the inputs are different recordings (:func:`~mmfusion.pipelines.checks.input_mismatches`),
        with the skeleton file the detector or the calibration read, if any."""
        paths: dict[str, Path | None] = {"rgb": rgb, "depth": depth}
        frames = {"rgb": n_rgb, "depth": n_depth}
        for src in sources:  # "skeleton:<file>", "synthetic:<file>", "fit:<file>"
            _, _, file = src.partition(":")
            if file.endswith(".skeleton") and Path(file).is_file():
                paths["skeleton"] = Path(file)
                try:
                    with open(file, "rb") as f:  # an NTU file's first line is its frame count
                        frames["skeleton"] = int(f.readline())
                except ValueError:
                    pass
                break
        found = input_mismatches(paths, frames, self.config.frame_tolerance)
        for w in found:
            log.warning("%s", w)
        return found

    def sample_frames(self, num_frames: int) -> np.ndarray:
        """(T,) test-time frame indices of the densest modality (the others take subsets of them)."""
        idx = aligned_indices(num_frames, self.clip_lens, train=False)
        return idx[max(self.clip_lens, key=lambda m: self.clip_lens[m])]

    def _calibration(self, rgb: Path, depth: Path, depth_size: tuple[int, int], rgb_size: tuple[int, int]
                     ) -> RGBDCalibration:
        if self.calibration is not None:
            return self.calibration
        found = find_ntu_tree(depth, rgb)
        if found is not None:
            cal = RGBDCalibration.from_meta(read_synth_meta(found[0]), depth_size, rgb_size)
            if cal is not None:
                return cal
        skeleton = getattr(self.detector, "path", None)
        if skeleton is None:
            try:
                skeleton = find_skeleton_file({"rgb": rgb, "depth": depth})
            except MissingModalityError:
                skeleton = None
        if skeleton is not None and Path(skeleton).is_file():
            try:
                return RGBDCalibration.from_skeleton_file(skeleton, depth_size, rgb_size)
            except (ConfigError, DataFormatError) as exc:
                log.warning("cannot fit the cameras on %s (%s); using Kinect v2 defaults", skeleton, exc)
        if abs(depth_size[1] / depth_size[0] - 512 / 424) > 0.02:
            log.warning("depth frames are %dx%d, not Kinect v2's 512x424 aspect: assuming scaled Kinect v2 "
                        "intrinsics; pass the camera's own (--intrinsics)", depth_size[1], depth_size[0])
        return RGBDCalibration.kinect_v2(depth_size, rgb_size)

    def crop_frames(self, num_frames: int) -> np.ndarray:
        """Extra video frames whose skeletons shape the person crop (the data set uses every frame)."""
        k = self.config.crop_frames
        if self.settings.crop != "person":
            return np.zeros(0, np.int64)
        if k is None:
            k = 0 if self.detector.reads_pixels else 32
        if k <= 0:
            return np.zeros(0, np.int64)
        return np.unique(np.rint(np.linspace(0, num_frames - 1, min(k, num_frames))).astype(np.int64))

    def capture(self, rgb: str | os.PathLike[str], depth: str | os.PathLike[str]) -> Capture:
        """Stages 1-5: read, detect, register, select persons, lift (see the module docstring)."""
        cfg = self.config
        times: dict[str, float] = {}
        t0 = time.perf_counter()
        rgb_path, depth_path = Path(rgb), Path(depth)
        _require(rgb_path, "rgb")
        clip = open_depth(depth_path, cfg.depth_unit_mm)
        n_rgb, n_depth = video_num_frames(rgb_path), clip.num_frames()
        if n_rgb != n_depth:
            log.info("%s has %d frames, %s %d: using the first %d", rgb_path, n_rgb, depth_path, n_depth,
                     min(n_rgb, n_depth))
        num = min(n_rgb, n_depth)
        if num < 1:
            raise MissingModalityError("rgb" if n_rgb < 1 else "depth", "no frames")
        index = self.sample_frames(num)
        # every frame that gets a skeleton: the sampled ones + the person-crop ones
        work = np.unique(np.concatenate([index, self.crop_frames(num)]))
        pos = np.searchsorted(work, index)
        frames = read_video(rgb_path, index.tolist())
        if not self.detector.reads_pixels:
            # file-based keypoints only need the frame size
            det_frames = np.broadcast_to(frames[:1], (len(work), *frames.shape[1:]))
        elif len(work) == len(np.unique(index)):
            det_frames = frames[np.searchsorted(index, work)]  # index is sorted; repeats read once
        else:
            det_frames = read_video(rgb_path, work.tolist())
        depth_w = clip.read(work.tolist())
        times["read"] = time.perf_counter() - t0
        self._stage("read", times["read"], f"{len(index)} of {num} frames sampled; {n_rgb} RGB, {n_depth} depth frames")

        t0 = time.perf_counter()
        paths = {"rgb": rgb_path, "depth": depth_path}
        det_w = self.detector.detect(det_frames, work, paths).select(int(self.settings.max_bodies))
        mirrored = self.calibration is None if cfg.mirrored is None else bool(cfg.mirrored)
        if mirrored and self.detector.labels == "appearance":
            flip = list(COCO17.flip)
            det_w = Detections(det_w.keypoints[:, :, flip], det_w.scores[:, :, flip], det_w.source)
        times["detect"] = time.perf_counter() - t0
        self._stage("detect 2-D", times["detect"], f"{self.detector.name} on {len(work)} frames, "
                                                   f"{int(det_w.present.any(axis=1).sum())} person(s)")

        t0 = time.perf_counter()
        cal = self._calibration(rgb_path, depth_path, tuple(depth_w.shape[1:3]), tuple(frames.shape[1:3]))
        depth_m = depth_w.astype(np.float32) / 1000.0
        # parallax needs the depth of the seen point: a first pass without it finds that depth
        rough = cal.color_to_depth(det_w.keypoints)
        ref = reference_depth(depth_m, rough, det_w.scores, cal.depth, cfg.min_score)
        kd_w = np.where(det_w.present[..., None, None], cal.color_to_depth(det_w.keypoints, ref[..., None]), 0.0)
        persons_w = person_masks(depth_m, kd_w, det_w.scores, cal.depth, cfg.person_margin, cfg.depth_band,
                                 cfg.min_score)
        depth_mm = depth_w[pos]
        valid_fraction = float((depth_mm > 0).mean())
        masked = cfg.mask_depth == "on" or (cfg.mask_depth == "auto" and valid_fraction > cfg.unmasked_fraction)
        model_depth = np.where(persons_w.union[pos], depth_mm, 0).astype(np.uint16) if masked else depth_mm
        times["persons"] = time.perf_counter() - t0
        self._stage("register", times["persons"],
                    f"cameras {cal.source}, depth {'masked to the persons' if masked else 'as read'}")
        warnings = self._mismatches(rgb_path, depth_path, n_rgb, n_depth, (det_w.source, cal.source))

        t0 = time.perf_counter()
        joints_w = lift_persons(depth_w, kd_w, det_w.scores, persons_w, cal.depth, self.pose_model, cfg.seed,
                                mirrored)
        method = "naive" if self.pose_model is None else "unipose"
        lifted = persons_w.present[..., None, None]
        skeleton_w = np.where(lifted, coco17_to_ntu25(joints_w), 0.0).astype(np.float32)
        colors_w = np.where(lifted, coco17_to_ntu25(det_w.keypoints), 0.0).astype(np.float32)
        times["lift"] = time.perf_counter() - t0
        self._stage("lift", times["lift"], f"{method}, {int(persons_w.present.any(axis=1).sum())} person(s)")
        det = Detections(det_w.keypoints[:, pos], det_w.scores[:, pos], det_w.source)
        persons = PersonMasks(persons_w.mask[:, pos], persons_w.present[:, pos], persons_w.reference[:, pos])
        return Capture(rgb_path, depth_path, num, n_rgb, n_depth, index, frames, depth_mm, model_depth, det,
                       kd_w[:, pos], persons, joints_w[:, pos], skeleton_w[:, pos], colors_w[:, pos], method, masked,
                       mirrored, cal, work, skeleton_w, colors_w, times, warnings)

    def inputs(self, capture: Capture) -> dict[str, Any]:
        """Stage 6: the model's batch (N = 1): :func:`~mmfusion.data.sample.make_sample` over the capture."""
        s = self.settings.replace(modalities=tuple(self.modalities), clip_len=dict(self.clip_lens))
        # a capture inside an NTU tree keeps its name, which seeds the point sampling as in the data set
        found = find_ntu_tree(capture.depth_path, capture.rgb_path)
        name = found[1] if found is not None else capture.rgb_path.stem
        rgb, depth, skel, colors, intr = (capture.rgb, capture.model_depth, capture.crop_skeleton, capture.crop_colors,
                                          capture.calibration.depth)
        if not capture.mirrored:
            # the models learnt NTU's mirrored view (anatomical labels): show an unmirrored capture that way
            present = np.abs(skel).sum(-1, keepdims=True) > 0
            rgb, depth = np.ascontiguousarray(rgb[:, :, ::-1]), np.ascontiguousarray(depth[:, :, ::-1])
            skel = (skel * np.array([-1.0, 1.0, 1.0], np.float32)).astype(np.float32)
            colors = np.where(present, np.stack([rgb.shape[2] - 1 - colors[..., 0], colors[..., 1]], -1),
                              0.0).astype(np.float32)
            intr = intr.mirrored(depth.shape[2])
        reader = CaptureReader(name, capture.num_frames, capture.frame_index, rgb, depth, capture.crop_index, skel,
                               colors, intr, decode_size=s.decode_size, base_points=s.base_points,
                               point_method=s.point_method)
        for m in self.modalities:
            why = reader.missing(name, modality(m).kind if m != "points" else "points")
            if why is not None:
                raise MissingModalityError(m, why)
        # the data set's test-time generator of its first sample (NTUDataset.rng with index 0)
        sample = make_sample(reader, name, s, np.random.default_rng([self.config.seed, 0]), train=False)
        batch = collate([sample])
        for m in self.modalities:
            if not torch.isfinite(batch[m]).all():
                raise ConfigError(f"input {m!r} holds NaN / inf after preprocessing ({capture.rgb_path})")
        return batch

    @torch.no_grad()
    def classify(self, capture: Capture, topk: int = 5) -> Prediction:
        """Stages 6-7 on a :class:`Capture`."""
        t0 = time.perf_counter()
        batch = self.inputs(capture)
        capture.timings["inputs"] = time.perf_counter() - t0
        self._stage("encode", capture.timings["inputs"],
                    ", ".join(f"{m} {tuple(batch[m].shape)}" for m in self.modalities))
        t0 = time.perf_counter()
        feed = {m: batch[m].to(self.device) for m in self.modalities}
        logits = self.model(feed)["logits"].float()
        if logits.ndim != 2 or logits.shape[0] != 1:
            raise ConfigError(f"{self.model_name} returned logits of shape {tuple(logits.shape)}, expected (1, K)")
        probs = torch.softmax(logits[0], dim=0).cpu().numpy()
        if not np.isfinite(probs).all():
            raise ConfigError(f"{self.model_name} returned non-finite logits on {capture.rgb_path}")
        capture.timings["model"] = time.perf_counter() - t0
        k = len(probs)
        names = self.class_names if len(self.class_names) == k else [f"class {i}" for i in range(k)]
        actions = self.classes if len(self.classes) == k else [None] * k
        order = np.argsort(-probs, kind="stable")[: max(1, min(topk, k))]
        top = [ActionScore(r + 1, int(i), actions[i], f"A{actions[i]:03d}" if actions[i] else f"#{i}", names[i],
                           float(probs[i])) for r, i in enumerate(order)]
        self._stage("classify", capture.timings["model"], f"{self.model_name}: {top[0].code} {top[0].name} "
                                                          f"{100 * top[0].probability:.1f} %")
        return Prediction(probs.astype(np.float32), top, capture, {m: tuple(batch[m].shape) for m in self.modalities},
                          self.model_name, self.modalities, self.checkpoint, self.detector.name,
                          self._pose_info())

    def predict(self, rgb: str | os.PathLike[str], depth: str | os.PathLike[str], topk: int = 5) -> Prediction:
        """All stages: top-``topk`` actions of one RGB-D capture."""
        return self.classify(self.capture(rgb, depth), topk)

    __call__ = predict
