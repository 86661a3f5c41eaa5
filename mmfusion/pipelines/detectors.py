"""Pluggable 2-D keypoint detectors (COCO-17) for the RGB-D pipeline.

Every detector maps sampled RGB frames to :class:`Detections`:

    detect(frames uint8 (T, H, W, 3), frame_index (T,), paths) -> Detections
        keypoints (M, T, 17, 2) float32 RGB pixels of the frames as given,
        scores    (M, T, 17)    float32 in [0, 1] (0 = person m absent in frame t)

``frame_index`` holds the frames' indices in the video (file-based detectors look their
keypoints up by it); ``paths`` ({"rgb": ..., "depth": ...}) lets them find files next to the
inputs. Person slots stay the same person over the clip (the R-CNN detector tracks them).

Left and right: an image detector labels a side by how it looks (``labels = "appearance"``).
Kinect v2 videos, hence NTU RGB+D and the synthetic world, are mirrored (a person facing the
camera shows its left side on the image's left), so there an image detector's "left" is the
person's right; the Kinect skeleton is labelled anatomically (``labels = "anatomical"``). The
pipeline swaps appearance labels of mirrored captures to anatomical ones.

Detectors (:data:`DETECTORS`, :func:`make_detector`):

* ``mediapipe`` -- MediaPipe Pose (BlazePose full, one person), offline: mediapipe 0.10.14's wheel
  carries the models (``pip install 'mmfusion[mediapipe]'``); the default image detector where
  installed (:func:`default_detector`). 33 landmarks mapped to COCO-17 (and NTU-25, see
  :mod:`~mmfusion.pipelines.mediapipe_pose`).
* ``keypointrcnn`` -- torchvision Keypoint R-CNN (ResNet-50 FPN, COCO). Its weights must already
  be in the torch hub cache (or be given as a file): mmfusion never downloads them.
* ``skeleton`` -- the colour-pixel joints of an NTU ``.skeleton`` file (the Kinect's own 2-D
  joints, NTU-25 mapped to COCO-17 with :data:`~mmfusion.data.layouts.NTU25_TO_COCO17`),
  denoised and packed into actor slots as the data set does.
* ``synthetic`` -- the same joints through the synthetic world's simulated detector
  (:func:`~mmfusion.data.synthetic.detector.noisy_keypoints2d`: noise, outliers, swaps).
* ``keypoints`` -- given arrays (:class:`GivenKeypoints`, or a ``.npz`` with ``keypoints``
  (M, T_video, 17, 2) and optional ``scores`` (M, T_video, 17), ``labels`` and ``layout``, as
  ``mmfusion keypoints`` (:mod:`~mmfusion.pipelines.keypoints`) writes them).
"""

from __future__ import annotations

import inspect
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.formats.skeleton import read_skeleton
from ..data.layouts import COCO17, NTU25_TO_COCO17
from ..data.preprocess import denoise_bodies
from ..data.reader import NTU_NATIVE_SIZES, meta_sizes, read_synth_meta
from ..data.synthetic.detector import noisy_keypoints2d
from ..data.transforms import scale_keypoints
from ..errors import CheckpointError, ConfigError, DataFormatError, MissingModalityError
from .mediapipe_pose import MediaPipePose, mediapipe_available, mp33_to_coco17, require_mediapipe

__all__ = ["Detections", "KeypointDetector", "KeypointRCNNDetector", "MediaPipeDetector", "SkeletonFileDetector",
           "SyntheticDetector", "GivenKeypoints", "DETECTORS", "make_detector", "track_persons",
           "keypointrcnn_weights_path", "default_detector"]

NUM_KEYPOINTS = COCO17.num_joints


@dataclass
class Detections:
    """COCO-17 keypoints of up to M tracked persons over T frames.

    Attributes:
        keypoints: (M, T, 17, 2) float32 RGB pixels.
        scores: (M, T, 17) float32 in [0, 1]; all zero where person m is absent in frame t.
        source: what produced them (a detector name, a file).
    """

    keypoints: np.ndarray
    scores: np.ndarray
    source: str = ""

    def __post_init__(self) -> None:
        self.keypoints = np.asarray(self.keypoints, dtype=np.float32)
        self.scores = np.asarray(self.scores, dtype=np.float32)
        k, s = self.keypoints, self.scores
        if k.ndim != 4 or k.shape[2:] != (NUM_KEYPOINTS, 2) or s.shape != k.shape[:3]:
            raise ConfigError(f"Detections: keypoints must be (M, T, 17, 2) and scores (M, T, 17), "
                              f"got {k.shape} and {s.shape}")
        if not (np.isfinite(k).all() and np.isfinite(s).all()):
            raise ConfigError("Detections: keypoints or scores hold NaN / inf")

    @property
    def present(self) -> np.ndarray:
        """(M, T) bool: person m was detected in frame t."""
        return self.scores.max(axis=-1, initial=0.0) > 0

    @property
    def num_persons(self) -> int:
        return int(self.keypoints.shape[0])

    def select(self, max_persons: int) -> Detections:
        """The first ``max_persons`` slots, zero-padded when there are fewer."""
        m, t = self.keypoints.shape[:2]
        kps = np.zeros((max_persons, t, NUM_KEYPOINTS, 2), np.float32)
        sc = np.zeros((max_persons, t, NUM_KEYPOINTS), np.float32)
        n = min(m, max_persons)
        kps[:n], sc[:n] = self.keypoints[:n], self.scores[:n]
        return Detections(kps, sc, self.source)


class KeypointDetector(ABC):
    """A 2-D COCO-17 keypoint source (see the module docstring for the contract)."""

    name: str = "detector"
    #: False for detectors that read keypoints from files (they only use the frames' size)
    reads_pixels: bool = True
    #: "appearance": left / right as an image detector sees them (in a mirrored video, such as
    #: Kinect v2's and NTU's, that is the person's anatomical right / left); "anatomical": the
    #: person's own left / right (the Kinect skeleton)
    labels: str = "appearance"

    @abstractmethod
    def detect(self, frames: np.ndarray, frame_index: np.ndarray,
               paths: Mapping[str, Path | None] | None = None) -> Detections:
        """Keypoints of the persons in ``frames`` uint8 (T, H, W, 3) at video frames ``frame_index`` (T,)."""


# ---------------------------------------------------------------------------------------------
# tracking


def track_persons(per_frame: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], max_persons: int = 2,
                  max_jump: float = 1.0) -> Detections:
    """Link per-frame detections into person slots.

    Args:
        per_frame: for each frame ``(keypoints (K, 17, 2), keypoint scores (K, 17), person scores (K,))``.
        max_persons: slots kept: the persons with the highest summed person score.
        max_jump: largest move of a person's centre between its detections, in units of its
            box height; farther detections start a new person.

    Returns:
        :class:`Detections` with M = min(max_persons, persons found) slots (at least 1).
    """
    t = len(per_frame)
    tracks: list[dict[str, Any]] = []
    for f, (kps, sc, ps) in enumerate(per_frame):
        order = np.argsort(-np.asarray(ps), kind="stable")
        free = [i for i, tr in enumerate(tracks) if tr["last"] < f]
        for k in order:
            centre, height = _centre(kps[k], sc[k])
            best, cost = None, max_jump
            for i in free:
                d = float(np.linalg.norm(centre - tracks[i]["centre"])) / max(height, tracks[i]["height"], 1.0)
                if d <= cost:
                    best, cost = i, d
            if best is None:
                tracks.append({"frames": {}, "score": 0.0})
                best = len(tracks) - 1
            else:
                free.remove(best)
            tr = tracks[best]
            tr.update(centre=centre, height=height, last=f)
            tr["frames"][f] = (kps[k], sc[k])
            tr["score"] += float(ps[k])
    tracks.sort(key=lambda tr: -tr["score"])
    m = max(1, min(max_persons, len(tracks)))
    out_k = np.zeros((m, t, NUM_KEYPOINTS, 2), np.float32)
    out_s = np.zeros((m, t, NUM_KEYPOINTS), np.float32)
    for slot, tr in enumerate(tracks[:m]):
        for f, (kps, sc) in tr["frames"].items():
            out_k[slot, f], out_s[slot, f] = kps, np.maximum(sc, 1e-3)  # a detected person is never "absent"
    return Detections(out_k, out_s)


def _centre(kps: np.ndarray, sc: np.ndarray) -> tuple[np.ndarray, float]:
    ok = sc >= 0.5 * sc.max(initial=0.0)
    pts = kps[ok] if ok.any() else kps
    return pts.mean(axis=0), float(np.ptp(pts[:, 1])) if len(pts) > 1 else 1.0


# ---------------------------------------------------------------------------------------------
# torchvision Keypoint R-CNN


def keypointrcnn_weights_path() -> Path:
    """Where torchvision keeps the COCO Keypoint R-CNN weights (``<torch hub dir>/checkpoints/``)."""
    import torch
    from torchvision.models.detection import KeypointRCNN_ResNet50_FPN_Weights

    url = KeypointRCNN_ResNet50_FPN_Weights.COCO_V1.url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


class KeypointRCNNDetector(KeypointDetector):
    """torchvision ``keypointrcnn_resnet50_fpn`` (COCO person keypoints), tracked into slots.

    Args:
        weights: a local weights file; default the torch hub cache file (see
            :func:`keypointrcnn_weights_path`). A missing file is a :class:`CheckpointError`
            that says how to get it; nothing is downloaded.
        score_threshold: person boxes kept (COCO-trained scores).
        max_persons: person slots.
        device: torch device of the network.
        batch_size: frames per forward pass.
        model: an already built detection model (tests); ``weights`` is then ignored.
        min_size, max_size: torchvision's resize of the input frames (smaller = faster).

    Keypoint scores are ``sigmoid`` of torchvision's keypoint logits.
    """

    name = "keypointrcnn"

    def __init__(self, weights: str | os.PathLike[str] | None = None, score_threshold: float = 0.7,
                 max_persons: int = 2, device: str = "cpu", batch_size: int = 4, model: Any = None,
                 min_size: int = 800, max_size: int = 1333) -> None:
        import torch

        self.score_threshold, self.max_persons, self.batch_size = score_threshold, max_persons, batch_size
        self.device = torch.device(device)
        if model is None:
            from torchvision.models.detection import keypointrcnn_resnet50_fpn

            path = Path(weights) if weights is not None else keypointrcnn_weights_path()
            if not path.is_file():
                raise CheckpointError(
                    f"Keypoint R-CNN weights not found at {path}; mmfusion does not download them. Fetch them once "
                    f"with  python -c \"import torchvision; torchvision.models.detection.keypointrcnn_resnet50_fpn("
                    f"weights='DEFAULT')\"  (stores them in the torch hub cache, $TORCH_HOME), or pass "
                    f"--detector-weights FILE, or use another detector (--detector skeleton / synthetic / keypoints)")
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as exc:  # torch raises several unrelated types on bad files
                raise CheckpointError(f"{path}: not a readable Keypoint R-CNN state dict ({exc})") from exc
            model = keypointrcnn_resnet50_fpn(weights=None, weights_backbone=None, min_size=min_size,
                                              max_size=max_size)
            try:
                model.load_state_dict(state)
            except RuntimeError as exc:
                raise CheckpointError(f"{path}: weights do not fit keypointrcnn_resnet50_fpn ({exc})") from exc
        self.model = model.to(self.device).eval()

    def candidates(self, frames: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Untracked persons of each frame uint8 (T, H, W, 3): ``(keypoints (K, 17, 2), keypoint
        scores (K, 17), person scores (K,))`` per frame, as :func:`track_persons` takes them."""
        import torch

        per_frame: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        with torch.no_grad():
            for s in range(0, len(frames), self.batch_size):
                chunk = torch.from_numpy(np.ascontiguousarray(frames[s:s + self.batch_size]))
                images = [img.permute(2, 0, 1).float().div(255).to(self.device) for img in chunk]
                for out in self.model(images):
                    keep = (out["scores"] >= self.score_threshold) & (out["labels"] == 1)
                    per_frame.append((out["keypoints"][keep, :, :2].cpu().numpy(),
                                      torch.sigmoid(out["keypoints_scores"][keep]).cpu().numpy(),
                                      out["scores"][keep].cpu().numpy()))
        return per_frame

    def detect(self, frames: np.ndarray, frame_index: np.ndarray,
               paths: Mapping[str, Path | None] | None = None) -> Detections:
        det = track_persons(self.candidates(frames), self.max_persons)
        det.source = self.name
        return det


class MediaPipeDetector(KeypointDetector):
    """MediaPipe Pose (BlazePose full, from the mediapipe 0.10.14 wheel: nothing is downloaded)
    as COCO-17 keypoints of one person (see :mod:`~mmfusion.pipelines.mediapipe_pose`).

    Each :meth:`detect` call runs a fresh graph over the given frames in video mode (tracking
    and smoothing across them; ``video=False`` detects each frame on its own). Scores are the
    landmark visibilities, at least 1e-3 where the person was found (so it counts as present),
    0 elsewhere. Labels are by appearance, like any image detector.

    Args:
        max_persons: slots of the returned :class:`Detections`; slot 0 holds the person, the
            others stay empty (the graph follows the most prominent person only).
        video, fps: see :class:`~mmfusion.pipelines.mediapipe_pose.MediaPipePose`.

    Raises:
        ConfigError: mediapipe 0.10.14 (``pip install 'mmfusion[mediapipe]'``) is not installed.
    """

    name = "mediapipe"

    def __init__(self, max_persons: int = 1, video: bool = True, fps: float = 30.0) -> None:
        require_mediapipe()   # fail now, with the install hint, rather than at the first clip
        self.max_persons, self.video, self.fps = max(1, int(max_persons)), video, fps

    def landmarks(self, frames: np.ndarray, frame_index: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The 33 raw landmarks: (T, 33, 2) pixels, (T, 33) visibility (0 where nobody was found)."""
        with MediaPipePose(self.video, self.fps) as pose:
            return pose.process(frames, frame_index)

    def detect(self, frames: np.ndarray, frame_index: np.ndarray,
               paths: Mapping[str, Path | None] | None = None) -> Detections:
        kps33, vis33 = self.landmarks(frames, frame_index)
        kps, sc = mp33_to_coco17(kps33, vis33)
        found = vis33.max(axis=-1, initial=0.0) > 0
        sc = np.where(found[:, None], np.maximum(sc, 1e-3), 0.0)
        kps = np.where(found[:, None, None], kps, 0.0)
        return Detections(kps[None], sc[None], self.name).select(self.max_persons)


# ---------------------------------------------------------------------------------------------
# file / array based sources


def find_skeleton_file(paths: Mapping[str, Path | None] | None) -> Path:
    """The ``.skeleton`` file of the sample whose RGB / depth ``paths`` sit in an NTU tree."""
    from .capture import find_ntu_tree

    paths = paths or {}
    found = find_ntu_tree(paths.get("depth"), paths.get("rgb"))
    if found is not None:
        root, name = found
        for folder in ("nturgb+d_skeletons", "nturgbd_skeletons", "nturgbd_skeletons_s001_to_s017",
                       "nturgbd_skeletons_s018_to_s032"):
            cand = root / folder / f"{name}.skeleton"
            if cand.is_file():
                return cand
    raise MissingModalityError("skeleton", f"no .skeleton file found next to the inputs "
                                           f"({', '.join(str(p) for p in paths.values() if p)}); pass --skeleton FILE")


class SkeletonFileDetector(KeypointDetector):
    """Colour-pixel joints of an NTU ``.skeleton`` file as COCO-17 keypoints.

    Args:
        path: the file; default: found next to the inputs in their NTU tree.
        max_persons: actor slots (the data set's denoising and packing picks them).
        color_size: (H, W) of the image the file's colour pixels refer to; default the
            synthetic world's RGB size when the file lies in one, else NTU's 1080 x 1920.
            Keypoints are rescaled to the frames given to :meth:`detect`.
    """

    name = "skeleton"
    reads_pixels = False
    labels = "anatomical"

    def __init__(self, path: str | os.PathLike[str] | None = None, max_persons: int = 2,
                 color_size: tuple[int, int] | None = None) -> None:
        self.path = None if path is None else Path(path)
        self.max_persons = max_persons
        self.color_size = color_size

    def _joints(self, paths: Mapping[str, Path | None] | None) -> tuple[Path, np.ndarray, np.ndarray, tuple[int, int]]:
        """(file, colour pixels (M, T_file, 25, 2), present (M, T_file), their image size)."""

        path = self.path if self.path is not None else find_skeleton_file(paths)
        if not path.is_file():
            raise MissingModalityError("skeleton", f"{path} does not exist")
        den = denoise_bodies(read_skeleton(path), max_bodies=self.max_persons, keep_frame_index=True, path=str(path))
        size = self.color_size
        if size is None:
            meta = read_synth_meta(path.parent.parent)
            size = meta_sizes(meta)["rgb"] if "sizes" in meta else NTU_NATIVE_SIZES["rgb"]
        return path, den.colors, den.present, size

    def _at(self, colors: np.ndarray, present: np.ndarray, frame_index: np.ndarray, src: tuple[int, int],
            dst: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:

        m, t_file = present.shape
        idx = np.asarray(frame_index, dtype=np.int64)
        inside = (idx >= 0) & (idx < t_file)
        safe = np.clip(idx, 0, max(t_file - 1, 0))
        kps = scale_keypoints(colors[:, safe], src, dst)
        ok = present[:, safe] & inside[None]
        return np.where(ok[..., None, None], kps, 0.0).astype(np.float32), ok

    def detect(self, frames: np.ndarray, frame_index: np.ndarray,
               paths: Mapping[str, Path | None] | None = None) -> Detections:
        path, colors, present, size = self._joints(paths)
        kps25, ok = self._at(colors, present, frame_index, size, tuple(frames.shape[1:3]))
        kps = kps25[:, :, list(NTU25_TO_COCO17)]
        scores = np.repeat(ok[..., None], NUM_KEYPOINTS, axis=-1).astype(np.float32)
        return Detections(kps, scores, f"{self.name}:{path}")


class SyntheticDetector(SkeletonFileDetector):
    """A simulated detector: the skeleton file's colour joints through
    :func:`~mmfusion.data.synthetic.detector.noisy_keypoints2d` (seeded; extra keyword
    arguments go to it: ``sigma``, ``outlier_rate``, ``miss_rate``, ``swap_rate``)."""

    name = "synthetic"

    def __init__(self, path: str | os.PathLike[str] | None = None, max_persons: int = 2,
                 color_size: tuple[int, int] | None = None, seed: int = 0, **noise: float) -> None:
        super().__init__(path, max_persons, color_size)
        self.seed, self.noise = seed, noise

    def detect(self, frames: np.ndarray, frame_index: np.ndarray,
               paths: Mapping[str, Path | None] | None = None) -> Detections:

        path, colors, present, size = self._joints(paths)
        kps25, ok = self._at(colors, present, frame_index, size, tuple(frames.shape[1:3]))
        kps, scores = noisy_keypoints2d(kps25, rng=self.seed, image_size=tuple(frames.shape[1:3]), **self.noise)
        scores = np.where(ok[..., None], np.maximum(scores, 1e-3), 0.0)
        return Detections(np.where(ok[..., None, None], kps, 0.0), scores, f"{self.name}:{path}")


class GivenKeypoints(KeypointDetector):
    """Keypoints computed elsewhere, for the whole video: (M, T_video, 17, 2) RGB pixels of the
    video's own frame size, scores (M, T_video, 17) (default 1 where a keypoint is non-zero).
    ``labels``: "appearance" (an image detector's output, the default) or "anatomical"."""

    name = "keypoints"
    reads_pixels = False

    def __init__(self, keypoints: np.ndarray, scores: np.ndarray | None = None, source: str = "given",
                 labels: str = "appearance") -> None:
        if labels not in ("appearance", "anatomical"):
            raise ConfigError(f"GivenKeypoints: labels must be 'appearance' or 'anatomical', got {labels!r}")
        self.labels = labels
        kps = np.asarray(keypoints, dtype=np.float32)
        if kps.ndim != 4 or kps.shape[2:] != (NUM_KEYPOINTS, 2):
            raise ConfigError(f"GivenKeypoints: keypoints must be (M, T, 17, 2), got {kps.shape}")
        if scores is None:
            scores = (np.abs(kps).sum(-1) > 0).astype(np.float32)
        self.keypoints, self.scores, self.source = kps, np.asarray(scores, dtype=np.float32), source
        if self.scores.shape != kps.shape[:3]:
            raise ConfigError(f"GivenKeypoints: scores must be {kps.shape[:3]}, got {self.scores.shape}")

    @classmethod
    def from_npz(cls, path: str | os.PathLike[str]) -> GivenKeypoints:
        p = Path(path)
        if not p.is_file():
            raise MissingModalityError("keypoints2d", f"{p} does not exist")
        try:
            with np.load(p, allow_pickle=False) as z:
                if "keypoints" not in z:
                    raise DataFormatError(p, f"no 'keypoints' array (found {sorted(z.files)})")
                kps = z["keypoints"]
                scores = z.get("scores")
                layout = str(z["layout"]) if "layout" in z else "coco17"
                labels = str(z["labels"]) if "labels" in z else "appearance"
        except (OSError, ValueError) as exc:
            raise DataFormatError(p, f"cannot read keypoints ({exc})") from exc
        if layout != "coco17":
            raise DataFormatError(p, f"keypoints are {layout}, the pipeline takes coco17 "
                                     f"(mmfusion keypoints --layout coco17)")
        if kps.ndim == 3:  # one person: (T, 17, 2)
            kps = kps[None]
            scores = None if scores is None else scores[None]
        try:
            return cls(kps, scores, source=str(p), labels=labels)
        except ConfigError as exc:
            raise DataFormatError(p, str(exc)) from None

    def detect(self, frames: np.ndarray, frame_index: np.ndarray,
               paths: Mapping[str, Path | None] | None = None) -> Detections:
        idx = np.asarray(frame_index, dtype=np.int64)
        t = self.keypoints.shape[1]
        if idx.size and (idx.min() < 0 or idx.max() >= t):
            raise ConfigError(f"GivenKeypoints ({self.source}): frame {int(idx.max())} asked, keypoints cover {t} "
                              f"frames")
        return Detections(self.keypoints[:, idx], self.scores[:, idx], f"{self.name}:{self.source}")


#: detector name -> class (``make_detector(name, **options)``)
DETECTORS: dict[str, type[KeypointDetector]] = {
    "mediapipe": MediaPipeDetector, "keypointrcnn": KeypointRCNNDetector, "skeleton": SkeletonFileDetector,
    "synthetic": SyntheticDetector,
}


def default_detector() -> str:
    """The image detector to use when none is named: ``mediapipe`` where it is installed (its
    models come with the wheel), else ``keypointrcnn`` (needs its weights in the torch hub cache)."""
    return "mediapipe" if mediapipe_available() else "keypointrcnn"


def make_detector(name: str | KeypointDetector, **options: Any) -> KeypointDetector:
    """A detector by name (``mediapipe``, ``keypointrcnn``, ``skeleton``, ``synthetic``, ``keypoints``) or as given.

    ``keypoints`` needs ``path=`` (a ``.npz``); ``None`` options are dropped.
    """
    if isinstance(name, KeypointDetector):
        return name
    opts = {k: v for k, v in options.items() if v is not None}
    if name == "keypoints":
        if "path" not in opts:
            raise ConfigError("detector 'keypoints' needs a .npz file (--keypoints FILE)")
        return GivenKeypoints.from_npz(opts["path"])
    if name not in DETECTORS:
        raise ConfigError(f"unknown detector {name!r}; choose from {sorted([*DETECTORS, 'keypoints'])}")
    cls = DETECTORS[name]
    try:
        inspect.signature(cls).bind(**opts)
    except TypeError as exc:
        raise ConfigError(f"detector {name!r}: {exc}") from None
    return cls(**opts)
