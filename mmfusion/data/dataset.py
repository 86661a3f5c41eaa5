"""NTU RGB+D as a PyTorch dataset: aligned multimodal clips from a raw tree or a packed store.

A sample (``dataset[i]``) is a dict (batches from :func:`collate` add a leading N):

=============== =================================== =============================================
key             shape / dtype                       content
=============== =================================== =============================================
"rgb"           float32 (3, T, S, S)                ImageNet-normalised RGB frames
"depth"         float32 (1, T, S, S)                metres, clipped to [0, depth_max] / depth_scale
"ir"            float32 (1, T, S, S)                infrared in [0, 1]
"points"        float32 (T, P, 3)                   masked-depth point cloud, metres, camera frame
"skeleton"      float32 (3, T, V=25, M)             NTU camera metres, centred on SpineMid
"heatmap"       float32 (17, T, h, w)               COCO-17 Gaussian heatmaps of the RGB crop
"keypoints2d"   float32 (M, T, 17, 2)               COCO-17 pixels in the S x S RGB crop (0 = absent)
"label"         int64 ()                            contiguous class index (see ``classes``)
"name"          str                                 NTU sample name, e.g. ``S001C002P003R002A013``
"frame_index"   int64 (T_dense,)                    original frame indices of the densest modality
=============== =================================== =============================================

S = ``image_size``; T = ``clip_len`` (a dict gives each modality its own T, see
:func:`~mmfusion.data.sampling.aligned_indices`); all modalities use the same frame indices
(skeleton frame t is video frame t: empty skeleton frames are kept as zeros at their index).

Sources: a raw NTU tree (``root``: ``nturgb+d_skeletons/``, ``nturgb+d_depth_masked/``,
``nturgb+d_rgb/``, ``nturgb+d_ir/``, optional ``mmfusion_synth.json`` from the synthetic
world) or a store packed by ``data_tools/prepare_ntu.py`` (``store=``), which gives the same
tensors without parsing text or decoding video (compare with ``decode_size`` = the store's
``size``).

Missing files are found when the index is built: without ``skip_bad`` a
:class:`~mmfusion.errors.MissingModalityError` names the file; with ``skip_bad=True`` the
sample is left out and ``(name, reason)`` goes to ``dataset.skipped`` (and a summary to the
log) -- nothing is dropped silently. Broken files raise
:class:`~mmfusion.errors.DataFormatError` (from the readers) naming the file.
"""

from __future__ import annotations

import json
import logging
import zlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import ConfigError, DataFormatError, MissingModalityError
from .layouts import COCO17, NTU25, NTU25_TO_COCO17
from .preprocess import center_skeleton, denoise_bodies, prenormalize_3d, to_ctvm
from .sampling import aligned_indices
from .transforms import (
    ClipGeometry,
    crop_frames,
    crop_keypoints,
    depth_to_metres,
    flip_points,
    flip_skeleton,
    ir_to_float,
    normalize_rgb,
    person_region,
    resize_short_side,
    rgb_to_tensor,
    scale_keypoints,
    short_side_size,
)

log = logging.getLogger(__name__)

#: every output modality and the raw file kind ("source") it is computed from
MODALITY_SOURCE: dict[str, str] = {
    "rgb": "rgb", "depth": "depth", "ir": "ir", "points": "depth",
    "skeleton": "skeleton", "heatmap": "skeleton", "keypoints2d": "skeleton",
}
SOURCES = ("skeleton", "depth", "rgb", "ir")
SYNTH_META = "mmfusion_synth.json"
#: native frame sizes (H, W) of real NTU RGB+D
NTU_NATIVE_SIZES: dict[str, tuple[int, int]] = {"rgb": (1080, 1920), "depth": (424, 512), "ir": (424, 512)}
#: points per frame kept before the per-clip subsampling (also what the store packs)
BASE_POINTS = 2048


@dataclass
class SkeletonData:
    """Denoised skeleton of a whole sample.

    Attributes:
        joints: (M, T, V, 3) float32 camera metres, not centred; zeros where absent.
        colors: (M, T, V, 2) float32 RGB pixels of the joints (native RGB resolution).
    """

    joints: np.ndarray
    colors: np.ndarray


def read_synth_meta(root: str | Path | None) -> dict[str, Any]:
    """The synthetic world's ``mmfusion_synth.json`` (classes, sizes, intrinsics), or {}."""
    if root is None:
        return {}
    p = Path(root) / SYNTH_META
    if not p.is_file():
        return {}
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise DataFormatError(p, f"not valid JSON: {exc.msg}", line=exc.lineno) from None


def meta_sizes(meta: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    """Native (H, W) per source from synthetic meta (keys ``sizes.rgb`` etc.), NTU defaults otherwise."""
    sizes = dict(NTU_NATIVE_SIZES)
    for k, v in (meta.get("sizes") or {}).items():
        if isinstance(v, Mapping):
            sizes[k] = (int(v.get("height", v.get("h"))), int(v.get("width", v.get("w"))))
        elif isinstance(v, Sequence) and len(v) == 2:
            sizes[k] = (int(v[0]), int(v[1]))
    return sizes


def meta_intrinsics(meta: Mapping[str, Any]) -> Any:
    """Depth intrinsics from synthetic meta, else Kinect v2 defaults (fx = fy = 366.3, cx 256.4, cy 208.5)."""
    from .pointcloud import KINECT_V2_DEPTH, CameraIntrinsics

    intr = meta.get("intrinsics")
    if isinstance(intr, Mapping):
        intr = intr.get("depth", intr)
        if all(k in intr for k in ("fx", "fy", "cx", "cy")):
            return CameraIntrinsics(float(intr["fx"]), float(intr["fy"]), float(intr["cx"]), float(intr["cy"]))
    return KINECT_V2_DEPTH


def frame_seed(name: str, frame: int) -> int:
    """Stable seed of one frame of one sample (point sampling must not depend on the run)."""
    return zlib.crc32(f"{name}:{frame}".encode())


def base_points(depth: np.ndarray, name: str, frames: Sequence[int], intr: Any, n: int = BASE_POINTS,
                method: str = "random") -> np.ndarray:
    """Back-project full-resolution depth frames and sample ``n`` points per frame, seeded per frame.

    Args:
        depth: (T, H, W) uint16 millimetres.
        frames: original frame index of each of the T frames (seeds the sampling).

    Returns:
        (T, n, 3) float32 metres, camera frame; all zeros for a frame without valid depth.
    """
    from .pointcloud import depth_to_points, sample_points

    out = np.zeros((len(depth), n, 3), dtype=np.float32)
    for k, (d, t) in enumerate(zip(depth, frames)):
        pts = depth_to_points(d, intr)
        if len(pts):
            out[k] = sample_points(pts, n, method=method, rng=np.random.default_rng(frame_seed(name, int(t))))
    return out


class RawSource:
    """Reads one NTU sample's modalities from a raw tree (decoded, optionally resized).

    Args:
        root: tree root.
        decode_size: short side frames are resized to right after decoding (None: native).
        max_bodies: actor slots of the denoised skeleton.
        base_points: points per frame before the per-clip subsampling.
        point_method: "random" or "fps" (see :func:`mmfusion.data.pointcloud.sample_points`).
    """

    def __init__(self, root: str | Path, decode_size: int | None = None, max_bodies: int = 2,
                 base_points: int = BASE_POINTS, point_method: str = "random") -> None:
        from .ntu import NTUTree

        self.root = Path(root)
        if not self.root.is_dir():
            raise MissingModalityError("dataset", f"NTU root {self.root} is not a folder")
        self.tree = NTUTree(self.root)
        self.meta = read_synth_meta(self.root)
        self.sizes = meta_sizes(self.meta)
        self.intrinsics = meta_intrinsics(self.meta)
        self.decode_size = decode_size
        self.max_bodies = max_bodies
        self.base_points = base_points
        self.point_method = point_method
        self._listing: dict[Path, set[str]] = {}
        self._native: dict[tuple[str, str], tuple[int, int]] = {}

    # -- index ---------------------------------------------------------------------------------
    def names(self) -> list[str]:
        return sorted(str(n) for n in self.tree.names())

    def path(self, name: str, source: str) -> Path:
        return Path({"skeleton": self.tree.skeleton, "depth": self.tree.depth_dir, "rgb": self.tree.rgb,
                     "ir": self.tree.ir}[source](name))

    def exists(self, name: str, source: str) -> bool:
        p = self.path(name, source)
        entries = self._listing.get(p.parent)
        if entries is None:
            # one listing per folder instead of one stat per sample (56k samples)
            entries = set()
            if p.parent.is_dir():
                entries = {e.name for e in p.parent.iterdir()}
            self._listing[p.parent] = entries
        return p.name in entries

    def missing(self, name: str, source: str) -> str | None:
        """Why ``source`` (a file kind, or "points" = depth) cannot be read for ``name``, or None."""
        source = "depth" if source == "points" else source
        return None if self.exists(name, source) else f"{source} file {self.path(name, source)} does not exist"

    # -- reading -------------------------------------------------------------------------------
    def num_frames(self, name: str, source: str) -> int:
        from .formats.depth import depth_frame_paths
        from .formats.video import video_num_frames

        if source == "skeleton":
            return int(self.load_skeleton(name).joints.shape[1])
        if source == "depth":
            return len(depth_frame_paths(self.path(name, "depth")))
        return int(video_num_frames(self.path(name, source)))

    def load_skeleton(self, name: str) -> SkeletonData:
        from .formats.skeleton import read_skeleton

        path = self.path(name, "skeleton")
        den = denoise_bodies(read_skeleton(path), max_bodies=self.max_bodies, keep_frame_index=True, path=str(path))
        return SkeletonData(den.joints, den.colors)

    def load_frames(self, name: str, source: str, indices: Sequence[int] | None = None) -> np.ndarray:
        """Decoded frames: depth uint16 (T, h, w), rgb uint8 (T, h, w, 3), ir uint8 (T, h, w)."""
        from .formats.depth import read_depth_folder
        from .formats.video import read_video

        idx = None if indices is None else [int(i) for i in indices]
        path = self.path(name, source)
        if source == "depth":
            frames = read_depth_folder(path, indices=idx, expected_size=self._expected(source))
            return resize_short_side(frames, self.decode_size, nearest=True)
        if source in ("rgb", "ir"):
            frames = read_video(path, indices=idx, gray=source == "ir")
            return resize_short_side(frames, self.decode_size)
        raise ConfigError(f"no frames for source {source!r}")

    def load_points(self, name: str, indices: Sequence[int]) -> np.ndarray:
        """(T, base_points, 3) from the full-resolution depth frames at ``indices``."""
        from .formats.depth import read_depth_folder

        idx = [int(i) for i in indices]
        uniq, inv = np.unique(idx, return_inverse=True)
        depth = read_depth_folder(self.path(name, "depth"), indices=uniq.tolist(),
                                  expected_size=self._expected("depth"))
        pts = base_points(depth, name, uniq.tolist(), self.intrinsics, self.base_points, self.point_method)
        return pts[inv]

    def native_size(self, name: str, source: str) -> tuple[int, int]:
        """(H, W) of ``source`` before any resize: synthetic meta, else probed from the file."""
        if "sizes" in self.meta or source not in ("rgb", "ir") or not self.exists(name, source):
            return self.sizes[source]
        key = (name, source)
        if key not in self._native:
            from .formats.video import read_video

            self._native[key] = tuple(read_video(self.path(name, source), indices=[0]).shape[1:3])
        return self._native[key]

    def _expected(self, source: str) -> tuple[int, int] | None:
        # only synthetic worlds declare sizes; for real NTU the readers check nothing but dtype
        if "sizes" in self.meta:
            return self.sizes[source]
        return None


class NTUDataset(Dataset):
    """Aligned multimodal clips of NTU RGB+D (see the module docstring for keys and shapes).

    Args:
        root: raw NTU tree (may be None when ``store`` is given).
        modalities: output keys, any of rgb, depth, ir, skeleton, points, heatmap, keypoints2d.
        split: "train", "test" or "all".
        protocol: "xsub" / "xview" (NTU-60), "xsub120" / "xset" (NTU-120).
        clip_len: frames per clip, or a dict modality -> frames (aligned: sparser modalities
            take strided subsets of the densest one).
        image_size: S, side of the square frames.
        num_points: P, points per frame.
        max_bodies: M, actor slots of skeleton / keypoints2d.
        train: random clips/crops/flips (default: ``split == "train"``).
        skip_bad: leave out samples with missing files (recorded in ``skipped``) instead of raising.
        store: a packed store folder (or :class:`~mmfusion.data.store.PackedStore`) to read instead
            of the raw tree.
        decode_size: short side frames are resized to at decoding (raw tree only; a store
            fixes it to its own size).
        classes: 0-based action IDs in class order (default: synthetic meta, else every
            action present in the source, sorted).
        missing_skeletons: official list of samples with missing skeletons (a path or names);
            excluded (and recorded) when a skeleton-based modality is requested.
        names: restrict to these sample names.
        seed: seed of the test-time randomness (point subsets); train randomness follows
            ``torch``'s generator, so DataLoader workers and epochs differ but runs repeat
            under ``torch.manual_seed``.
        skeleton_norm: "center" (CTR-GCN), "prenorm" (PreNormalize3D rotation) or None.
        flip: random horizontal flip in train mode (mirrors skeletons and points too).
        crop_scale, crop_ratio: RandomResizedCrop area / aspect range (train).
        heatmap_size, heatmap_sigma: heatmap side and Gaussian sigma (in heatmap pixels).
        depth_max, depth_scale: depth clip (metres) and divisor.
        point_method: base point sampling per frame, "random" or "fps".
        base_points: points sampled per frame (seeded by sample name and frame) before the
            per-clip subset of ``num_points`` is taken (raw tree; a store fixes it to its own).
        verbose: log the summary of skipped samples.
    """

    def __init__(self, root: str | Path | None = None,
                 modalities: Sequence[str] = ("rgb", "depth", "ir", "skeleton", "points"),
                 split: str = "train", protocol: str = "xsub", clip_len: int | Mapping[str, int] = 8,
                 image_size: int = 112, num_points: int = 512, max_bodies: int = 2, train: bool | None = None,
                 skip_bad: bool = False, store: Any = None, decode_size: int | None = None,
                 classes: Sequence[int] | None = None, missing_skeletons: str | Path | Iterable[str] | None = None,
                 names: Iterable[str] | None = None, seed: int = 0, skeleton_norm: str | None = "center",
                 flip: bool = True, crop_scale: Sequence[float] = (0.5, 1.0),
                 crop_ratio: Sequence[float] = (3 / 4, 4 / 3), heatmap_size: int = 56, heatmap_sigma: float = 0.6,
                 depth_max: float = 8.0, depth_scale: float = 1.0, point_method: str = "random",
                 base_points: int = BASE_POINTS, verbose: bool = True, crop: str = "full",
                 crop_padding: float = 0.2) -> None:
        self.modalities = tuple(modalities)
        if crop not in ("full", "person"):
            raise ConfigError(f"crop must be 'full' or 'person', got {crop!r}")
        self.crop, self.crop_padding = crop, crop_padding
        unknown = [m for m in self.modalities if m not in MODALITY_SOURCE]
        if unknown or not self.modalities:
            raise ConfigError(f"unknown modalities {unknown}; choose from {sorted(MODALITY_SOURCE)}")
        if split not in ("train", "test", "all"):
            raise ConfigError(f"split must be 'train', 'test' or 'all', got {split!r}")
        if skeleton_norm not in ("center", "prenorm", None):
            raise ConfigError(f"skeleton_norm must be 'center', 'prenorm' or None, got {skeleton_norm!r}")
        from .ntu import PROTOCOLS

        if protocol not in PROTOCOLS:
            raise ConfigError(f"unknown NTU protocol {protocol!r}; choose from {PROTOCOLS}")
        self.split, self.protocol = split, protocol
        self.train = (split == "train") if train is None else bool(train)
        if isinstance(clip_len, Mapping):
            missing = [m for m in self.modalities if m not in clip_len]
            if missing:
                raise ConfigError(f"clip_len dict lacks {missing}")
            self.clip_lens = {m: int(clip_len[m]) for m in self.modalities}
        else:
            self.clip_lens = {m: int(clip_len) for m in self.modalities}
        self.image_size, self.num_points, self.max_bodies = image_size, num_points, max_bodies
        self.seed, self.skeleton_norm, self.flip = seed, skeleton_norm, flip
        self.crop_scale, self.crop_ratio = tuple(crop_scale), tuple(crop_ratio)
        self.heatmap_size, self.heatmap_sigma = heatmap_size, heatmap_sigma
        self.depth_max, self.depth_scale = depth_max, depth_scale
        # the person crop needs the skeleton even when it is not an output
        wanted = {MODALITY_SOURCE[m] for m in self.modalities} | ({"skeleton"} if crop == "person" else set())
        self.sources = sorted(wanted, key=SOURCES.index)
        # what must be readable per sample: file kinds, with "points" on its own (a store may hold
        # points without depth frames and the other way round)
        self._needs = [s for s in self.sources if s != "depth" or "depth" in self.modalities]
        if "points" in self.modalities:
            self._needs.append("points")

        if store is not None:
            from .store import PackedStore

            self.source = store if isinstance(store, PackedStore) else PackedStore(store)
        elif root is not None:
            self.source = RawSource(root, decode_size=decode_size, max_bodies=max_bodies, base_points=base_points,
                                    point_method=point_method)
        else:
            raise ConfigError("NTUDataset needs root (raw NTU tree) or store (packed)")
        self.meta: dict[str, Any] = dict(self.source.meta)
        if "points" in self.modalities and num_points > self.source.base_points:
            raise ConfigError(f"num_points={num_points} > {self.source.base_points} points kept per frame")

        self.skipped: list[tuple[str, str]] = []
        self.names, self.labels, self.classes = self._build_index(names, classes, missing_skeletons, skip_bad)
        if self.skipped and verbose:
            kinds = Counter(reason.split(" ")[0] for _, reason in self.skipped)
            log.warning("NTUDataset(%s, %s): %d samples skipped (%s); see dataset.skipped",
                        protocol, split, len(self.skipped), ", ".join(f"{k}: {v}" for k, v in kinds.items()))

    # -- index ---------------------------------------------------------------------------------
    def _build_index(self, names: Iterable[str] | None, classes: Sequence[int] | None,
                     missing_skeletons: str | Path | Iterable[str] | None, skip_bad: bool
                     ) -> tuple[list[str], list[int], list[int]]:
        from .ntu import NTUSampleName, split_of

        all_names = self.source.names()
        if names is not None:
            wanted = set(names)
            all_names = [n for n in all_names if n in wanted]
        in_protocol = []
        for n in all_names:
            parsed = NTUSampleName.parse(n)  # once: parsing dominates for 114k names
            s = split_of(parsed, self.protocol)
            if s is not None:
                in_protocol.append((n, s, parsed.action - 1))
        if classes is None:
            classes = self.meta.get("classes")
            classes = _class_ids(classes) if classes else sorted({a for _, _, a in in_protocol})
        self.class_names = self._class_names(classes)
        class_index = {a: k for k, a in enumerate(classes)}
        listed = _load_missing(missing_skeletons) if "skeleton" in self.sources else set()

        keep: list[str] = []
        labels: list[int] = []
        for n, s, action in in_protocol:
            if self.split != "all" and s != self.split:
                continue
            if action not in class_index:
                self.skipped.append((n, f"class: action A{action + 1:03d} not in classes"))
                continue
            if n in listed:
                self.skipped.append((n, "missing-skeleton: in the official missing-skeleton list"))
                continue
            why = next(((src, r) for src in self._needs if (r := self.source.missing(n, src)) is not None), None)
            if why is not None:
                src, reason = why
                if not skip_bad:
                    raise MissingModalityError(src, f"{reason} (sample {n}); pass skip_bad=True to skip such samples")
                self.skipped.append((n, f"missing: {reason}"))
                continue
            keep.append(n)
            labels.append(class_index[action])
        return keep, labels, list(classes)

    def _class_names(self, classes: Sequence[int]) -> list[str]:
        raw = self.meta.get("classes")
        if raw and isinstance(raw[0], Mapping) and "name" in raw[0]:
            by_id = {int(c.get("action", c.get("id"))) - (1 if "action" in c else 0): str(c["name"]) for c in raw}
            return [by_id.get(a, f"A{a + 1:03d}") for a in classes]
        return [f"A{a + 1:03d}" for a in classes]

    def settings(self) -> dict[str, Any]:
        """The preprocessing options a model trained on this data set depends on (JSON-ready);
        the engine stores them in the run's ``config.json`` so that inference (the RGB-D
        pipeline) prepares its inputs exactly as in training."""
        return {"modalities": list(self.modalities), "clip_len": dict(self.clip_lens), "image_size": self.image_size,
                "num_points": self.num_points, "max_bodies": self.max_bodies, "crop": self.crop,
                "crop_padding": self.crop_padding, "skeleton_norm": self.skeleton_norm,
                "heatmap_size": self.heatmap_size, "heatmap_sigma": self.heatmap_sigma,
                "depth_max": self.depth_max, "depth_scale": self.depth_scale}

    def __len__(self) -> int:
        return len(self.names)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    # -- items ---------------------------------------------------------------------------------
    def _rng(self, index: int) -> np.random.Generator:
        if self.train:
            return np.random.default_rng(int(torch.randint(0, 2**62, (1,)).item()))
        return np.random.default_rng([self.seed, index])

    def __getitem__(self, index: int) -> dict[str, Any]:
        name = self.names[index]
        src = self.source
        rng = self._rng(index)
        skel = src.load_skeleton(name) if "skeleton" in self.sources else None
        counts = [src.num_frames(name, s) for s in self.sources if s != "skeleton"]
        if skel is not None:
            counts.append(skel.joints.shape[1])
        num_frames = min(counts)
        if num_frames < 1:
            raise DataFormatError(name, "sample has no frames")
        idx = aligned_indices(num_frames, self.clip_lens, self.train, rng)
        geom = ClipGeometry.sample(self.train, rng, self.crop_scale, self.crop_ratio, 0.5 if self.flip else 0.0)
        regions = self._person_regions(name, skel) if self.crop == "person" and skel is not None else {}
        out: dict[str, Any] = {}
        s = self.image_size
        if "rgb" in self.modalities:
            frames = rgb_to_tensor(src.load_frames(name, "rgb", idx["rgb"]))
            out["rgb"] = normalize_rgb(crop_frames(frames, geom, s, region=regions.get("rgb")))
        if "depth" in self.modalities:
            d = depth_to_metres(src.load_frames(name, "depth", idx["depth"]), self.depth_max, self.depth_scale)
            out["depth"] = crop_frames(d, geom, s, _nearest(), region=regions.get("depth")).permute(1, 0, 2, 3)
            out["depth"] = out["depth"].contiguous()
        if "ir" in self.modalities:
            ir = ir_to_float(src.load_frames(name, "ir", idx["ir"]))
            out["ir"] = crop_frames(ir, geom, s, region=regions.get("ir")).permute(1, 0, 2, 3).contiguous()
        if "points" in self.modalities:
            out["points"] = torch.from_numpy(self._points(src.load_points(name, idx["points"]), geom, rng))
        if skel is not None:
            out.update(self._skeleton_outputs(name, skel, idx, geom, regions.get("rgb")))
        dense = max(self.clip_lens, key=lambda m: self.clip_lens[m])
        out["frame_index"] = torch.from_numpy(idx[dense].astype(np.int64))
        out["label"] = torch.tensor(self.labels[index], dtype=torch.int64)
        out["name"] = name
        return out

    def _person_regions(self, name: str, skel: SkeletonData) -> dict[str, Any]:
        """Relative person boxes per image source, from the whole sample's skeleton.

        RGB uses the skeleton's colour-pixel coordinates; depth and IR (same sensor) use the 3D
        joints projected with the depth intrinsics (NTU's Kinect v2 fit, or the synthetic
        world's), so the box is right whatever resolution the frames were stored at.
        """
        out: dict[str, Any] = {}
        present = np.abs(skel.joints).sum(axis=-1) > 0                   # (M, T, V)
        colors = np.where(present[..., None], skel.colors, 0.0)
        out["rgb"] = person_region(colors, self.source.native_size(name, "rgb"), self.crop_padding)
        intr = meta_intrinsics(self.meta)
        xyz = skel.joints[present]
        if len(xyz):
            depth_native = self.source.native_size(name, "depth")
            z = np.maximum(xyz[:, 2], 1e-3)
            uv = np.stack([intr.cx + intr.fx * xyz[:, 0] / z, intr.cy - intr.fy * xyz[:, 1] / z], axis=1)
            out["depth"] = out["ir"] = person_region(uv, depth_native, self.crop_padding)
        return out

    def _points(self, pts: np.ndarray, geom: ClipGeometry, rng: np.random.Generator) -> np.ndarray:
        t, n, _ = pts.shape
        # a random subset in test mode too (``rng`` is then fixed per sample): the base points are
        # not in random order when a frame had fewer pixels than base points (the cloud is then
        # repeated in raster order and a prefix would be the top of the head)
        order = np.argsort(rng.random((t, n)), axis=1)[:, : self.num_points]
        pts = np.take_along_axis(pts, order[..., None], axis=1)
        pts = np.ascontiguousarray(pts, dtype=np.float32)
        return flip_points(pts) if geom.flip else pts

    def _skeleton_outputs(self, name: str, skel: SkeletonData, idx: Mapping[str, np.ndarray],
                          geom: ClipGeometry, rgb_region: Any = None) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        joints, colors = _fit_bodies(skel.joints, self.max_bodies), _fit_bodies(skel.colors, self.max_bodies)
        if "skeleton" in self.modalities:
            if self.skeleton_norm == "center":
                x = center_skeleton(joints, NTU25)
            elif self.skeleton_norm == "prenorm":
                x = prenormalize_3d(joints, NTU25)
            else:
                x = joints
            x = x[:, idx["skeleton"]]
            if geom.flip:
                x = flip_skeleton(x, NTU25)
            out["skeleton"] = torch.from_numpy(to_ctvm(x))
        for key in ("keypoints2d", "heatmap"):
            if key not in self.modalities:
                continue
            t = idx[key]
            present = np.any(joints[:, t] != 0, axis=(2, 3))  # (M, T)
            kps = colors[:, t][:, :, list(NTU25_TO_COCO17)]  # (M, T, 17, 2) native RGB pixels
            native = self.source.native_size(name, "rgb")
            decoded = short_side_size(*native, self.source.decode_size)
            # the same crop (and person region) as the RGB frames, so heatmaps sit on the pixels
            kps = crop_keypoints(scale_keypoints(kps, native, decoded), decoded, geom, self.image_size,
                                 flip_index=COCO17.flip, region=rgb_region)
            kps[~present] = 0.0
            if key == "keypoints2d":
                out[key] = torch.from_numpy(kps)
            else:
                from .heatmaps import keypoints_to_heatmaps

                scores = np.repeat(present[..., None], kps.shape[2], axis=2).astype(np.float32)
                hm = keypoints_to_heatmaps(kps, scores, img_size=(self.image_size, self.image_size),
                                           out_size=(self.heatmap_size, self.heatmap_size), sigma=self.heatmap_sigma)
                out[key] = torch.as_tensor(np.asarray(hm, dtype=np.float32))
        return out


def collate(batch: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Stack a list of samples: tensors get a leading N, strings (``name``) stay a list.

    Raises:
        MissingModalityError: a key present in some samples but not in others.
    """
    if not batch:
        return {}
    keys = list(batch[0])
    out: dict[str, Any] = {}
    for k in keys:
        vals = [b.get(k) for b in batch]
        if any(v is None for v in vals):
            raise MissingModalityError(k, "present in some samples of the batch but not in others")
        if isinstance(vals[0], torch.Tensor):
            out[k] = torch.stack(vals)
        elif isinstance(vals[0], np.ndarray):
            out[k] = torch.from_numpy(np.stack(vals))
        elif isinstance(vals[0], (int, float)) and not isinstance(vals[0], bool):
            out[k] = torch.tensor(vals)
        else:
            out[k] = list(vals)
    return out


# ---------------------------------------------------------------------------------------------


def _nearest() -> Any:
    from torchvision.transforms.v2 import functional as F

    return F.InterpolationMode.NEAREST


def _fit_bodies(x: np.ndarray, m: int) -> np.ndarray:
    """Keep the first ``m`` actor slots of (M, T, ...), zero-padding when there are fewer."""
    if x.shape[0] >= m:
        return x[:m]
    pad = np.zeros((m - x.shape[0], *x.shape[1:]), dtype=x.dtype)
    return np.concatenate([x, pad])


def _class_ids(classes: Sequence[Any]) -> list[int]:
    """0-based action IDs from meta classes (ints, 'A013' strings or dicts with 'action' (1-based)/'id')."""
    out = []
    for c in classes:
        if isinstance(c, Mapping):
            out.append(int(c["action"]) - 1 if "action" in c else int(c["id"]))
        elif isinstance(c, str) and c[:1] in "Aa" and c[1:].isdigit():
            out.append(int(c[1:]) - 1)
        else:
            out.append(int(c))
    return out


def _load_missing(spec: str | Path | Iterable[str] | None) -> set[str]:
    if spec is None:
        return set()
    if isinstance(spec, (str, Path)):
        from .ntu import load_missing_skeletons

        return {str(n) for n in load_missing_skeletons(spec)}
    return {str(n) for n in spec}
