"""The skeleton world: a skeleton-only synthetic NTU RGB+D (labelled synthetic data).

The body model of the multimodal world (:mod:`.body`: per-subject bone lengths) performs the 60
NTU-60 classes (or all 120) built from shared motion parts (:mod:`.skeleton_world_motion`), seen
by three Kinect v2 cameras (yaw 0, +45, -45 degrees, as :data:`.render.CAMERA_YAW_DEG`) at a
height and distance that change with the setup. Nothing is rendered. Every performance is filmed
by all three cameras (as in NTU), so a world of N files has N / 3 performances.

* Names ``SsssCcccPpppRrrrAaaa`` follow the data set: 60 classes use setups 1-17 and performers
  1-40; 120 classes add setups 18-32 and performers 41-106 (actions 61-120 only there), so
  :func:`mmfusion.data.ntu.split_of` gives xsub / xview / xsub120 / xset splits unchanged.
  Replication 1 faces camera 2, replication 2 camera 3 (about +-45 degrees).
* Subjects: the body model's :class:`~.body.Subject` (size, limb proportions) plus a style
  (tempo, amplitude, arm carriage, forward lean) from the performer ID.
* Kinect-like noise per camera view: joint jitter; occlusion episodes (a limb "inferred":
  tracking state 1 and a drifting offset); left/right limb flips for a few frames; dropped
  frames (no body); extra short-lived bodies (flat, wide: they fail CTR-GCN's spread test);
  ID hand-overs (the performer's track continues under a new body ID).
* Files: real NTU ``.skeleton`` files through :func:`~mmfusion.data.formats.skeleton.write_skeleton`
  in ``OUT/nturgb+d_skeletons``; a packed cache ``OUT/packed/ntu25.npy`` ``(N, 3, T, 25, 2)``
  float32 (the actors' noisy joints in camera metres, slots = actors, dropped frames zero, no
  extra bodies or hand-overs: what a perfect denoiser recovers) with ``OUT/packed/index.npz``
  (labels 0-based, names, lengths). ``conventions`` adds ``OUT/packed/{smpl24,h36m17,coco17}.npy``
  ``(N, 2, T, V, 2)``: the clean clip in that convention (:func:`mmfusion.data.layouts.convert`),
  projected to colour-camera pixels (a 2-D estimator's view).
* Cache: ``OUT/skeleton_world.json`` holds the config and its hash; :func:`generate_skeleton_world`
  does nothing when they match, and regenerates when the config changed.
* Long tail: ``imbalance`` = n_min / n_max of BRL's exponential profile
  ``n_c = n_max * imbalance ** (c / (C - 1))`` over class index c (1 = balanced).

Determinism: work is cut into chunks fixed by the config (one class each) with their own seeds,
so the same config writes the same bytes whatever the number of workers.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import multiprocessing as mp
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ...cli_errors import run_command
from ...errors import ConfigError
from ..layouts import NTU25, convert
from ..ntu import PROTOCOLS, split_of
from .body import Subject, rot_x, rot_y
from .config import color_camera, depth_camera
from .render import CAMERA_YAW_DEG, look_at
from .skeleton_world_io import SKELETON_DIR, write_view
from .skeleton_world_motion import BASE_FRAMES, CLASSES, TWO_PERSON, apply_parts, base_angles, forward_kinematics_batch

FORMAT_VERSION = 1
META_FILE = "skeleton_world.json"
PACKED_DIR = "packed"
CHUNK = 48  # performances per work unit (fixed: results do not depend on the worker count)
_RUNTIME = ("workers",)
#: per-file noise flags stored in ``packed/index.npz`` (``noise`` (N, 5) bool)
NOISE_FLAGS: tuple[str, ...] = ("occlusion", "flip", "drop", "ghost", "handover")


@dataclass(frozen=True)
class SkeletonWorldConfig:
    """What the skeleton world contains (all fields but ``workers`` enter the cache hash)."""

    num_sequences: int = 10_000
    classes: int = 60
    seed: int = 0
    min_frames: int = 32
    max_frames: int = 100
    imbalance: float = 1.0
    jitter: float = 0.008
    occlusion: float = 0.3
    flip: float = 0.1
    drop: float = 0.15
    ghost: float = 0.15
    handover: float = 0.1
    conventions: tuple[str, ...] = ("ntu25",)
    workers: int = 2

    def __post_init__(self) -> None:
        if self.classes not in (60, 120):
            raise ConfigError(f"classes must be 60 or 120, got {self.classes}")
        if self.num_sequences < 3:
            raise ConfigError("num_sequences must be >= 3 (one performance seen by 3 cameras)")
        if not 8 <= self.min_frames <= self.max_frames <= 300:
            raise ConfigError("need 8 <= min_frames <= max_frames <= 300")
        if not 0 < self.imbalance <= 1:
            raise ConfigError("imbalance (n_min / n_max) must be in (0, 1]")
        for k in ("occlusion", "flip", "drop", "ghost", "handover"):
            if not 0 <= getattr(self, k) <= 1:
                raise ConfigError(f"{k} is a probability, got {getattr(self, k)}")
        bad = set(self.conventions) - {"ntu25", "smpl24", "h36m17", "coco17"}
        if bad or "ntu25" not in self.conventions:
            raise ConfigError(f"conventions must include ntu25 and come from smpl24/h36m17/coco17, got {bad}")
        object.__setattr__(self, "conventions", tuple(self.conventions))

    @property
    def num_performers(self) -> int:
        return 40 if self.classes == 60 else 106

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in _RUNTIME:
            d.pop(k)
        d["conventions"] = list(self.conventions)
        return d

    def config_hash(self) -> str:
        text = json.dumps({"v": FORMAT_VERSION, **self.to_dict()}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Performance:
    """One performance (filmed by the 3 cameras)."""

    setup: int
    performer: int
    replication: int
    action: int

    def name(self, camera: int) -> str:
        return f"S{self.setup:03d}C{camera:03d}P{self.performer:03d}R{self.replication:03d}A{self.action:03d}"


@lru_cache(maxsize=4096)
def performer_setups(performer: int, seed: int) -> tuple[int, ...]:
    """The three setups a performer appears in (1-17 for performers 1-40, else 18-32)."""
    rng = np.random.default_rng([seed, 91, performer])
    pool = np.arange(1, 18) if performer <= 40 else np.arange(18, 33)
    return tuple(int(s) for s in np.sort(rng.choice(pool, 3, replace=False)))


def class_counts(cfg: SkeletonWorldConfig) -> dict[int, int]:
    """Performances per class (largest-remainder rounding of the exponential profile)."""
    c = cfg.classes
    w = cfg.imbalance ** (np.arange(c) / max(c - 1, 1))
    total = math.ceil(cfg.num_sequences / 3)
    raw = total * w / w.sum()
    n = np.floor(raw).astype(int)
    n[np.argsort(-(raw - n), kind="stable")[: total - n.sum()]] += 1
    return {a + 1: int(k) for a, k in enumerate(n)}


def performances(cfg: SkeletonWorldConfig) -> list[Performance]:
    """All performances, class by class (names unique; a class with fewer free name combinations
    than its count gets them all)."""
    out: list[Performance] = []
    for action, n in class_counts(cfg).items():
        rng = np.random.default_rng([cfg.seed, 93, action])
        lo = 1 if action <= 60 else 41
        pool = [Performance(s, p, r, action) for p in range(lo, cfg.num_performers + 1)
                for s in performer_setups(p, cfg.seed) for r in (1, 2)]
        pick = rng.permutation(len(pool))[: min(n, len(pool))]
        out.extend(pool[i] for i in np.sort(pick))
    return out


def world_names(cfg: SkeletonWorldConfig) -> list[str]:
    """File names (without suffix) in packed order: performance by performance, cameras 1-3."""
    return [p.name(c) for p in performances(cfg) for c in (1, 2, 3)]


# ----------------------------------------------------------------------------- one chunk


@dataclass
class _Chunk:
    """A work unit: consecutive performances of one class (``root`` None: packed arrays only)."""

    index: int
    perfs: list[Performance]
    cfg: SkeletonWorldConfig
    root: str | None


def _style(performer: int, seed: int) -> np.ndarray:
    """(4,) tempo, amplitude, arm carriage (deg), forward lean (deg) of a performer."""
    rng = np.random.default_rng([seed, 71, performer])
    return np.array([rng.uniform(0.8, 1.25), rng.uniform(0.85, 1.15), rng.uniform(-4, 6), rng.uniform(-3, 6)])


def _setup_rig(setup: int, seed: int) -> tuple[float, float, float]:
    """Camera distance from the stage centre, camera height and aim height (m) of a setup."""
    rng = np.random.default_rng([seed, 81, setup])
    return float(rng.uniform(2.5, 3.6)), float(rng.uniform(0.7, 1.7)), float(rng.uniform(0.85, 1.0))


def _animate(perfs: list[Performance], cfg: SkeletonWorldConfig, rng: np.random.Generator,
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stage-frame joints (B, P, T, V, 3), global rotations (B, P, T, V, 3, 3) and lengths (B,)."""
    b = len(perfs)
    action = perfs[0].action
    parts = CLASSES[action]
    persons = 2 if action in TWO_PERSON else 1
    styles = np.stack([_style(p.performer, cfg.seed) for p in perfs])
    lengths = np.clip(np.round(BASE_FRAMES[action] * rng.uniform(0.85, 1.15, b) / styles[:, 0]),
                      cfg.min_frames, cfg.max_frames).astype(int)
    t = int(lengths.max())
    frames = np.arange(t)[None]
    x = np.minimum(frames / (lengths[:, None] - 1), 1.0)
    a1, a2 = rng.uniform(-0.25, 0.25, (b, 1)), rng.uniform(-0.12, 0.12, (b, 1))
    w = x + a1 * np.sin(2 * np.pi * x) / (2 * np.pi) + a2 * np.sin(4 * np.pi * x) / (4 * np.pi)
    s0, s1 = rng.uniform(0.0, 0.08, (b, 1)), rng.uniform(0.92, 1.0, (b, 1))
    tau = np.clip((w - s0) / (s1 - s0), 0.0, 1.0)
    sec = frames / 30.0
    amp = styles[:, 1] * rng.uniform(0.85, 1.15, b)
    pos_all, glob_all = [], []
    for person in range(persons):
        ids = [p.performer if person == 0 else (p.performer + 6) % cfg.num_performers + 1 for p in perfs]
        subjects = [Subject.create(i, cfg.seed) for i in ids]
        offsets = np.stack([s.offsets for s in subjects])
        my_parts = parts if person == 0 else next((q[1] for q in parts if q[0] == "partner"), ())
        ang = base_angles(b, t, rng, sec, styles[:, 2:] if person == 0 else np.zeros((b, 2)))
        add, root = apply_parts(my_parts, tau, rng, amp, 1.0 / styles[:, 0])
        for k, v in add.items():
            ang[k] = ang[k] + v
        facing = np.where([p.replication == 1 for p in perfs], 45.0, -45.0) + rng.uniform(-10, 10, b)
        origin = np.zeros((b, 3))
        if persons == 2:  # face each other, replication 2 swaps sides
            side = np.where([p.replication == 1 for p in perfs], 1.0, -1.0) * (1 if person == 0 else -1)
            facing = 90.0 * side + rng.uniform(-15, 15, b)
            origin[:, 0] = -0.55 * side
        yaw = np.deg2rad(facing[:, None] + root.get("yaw", 0.0))
        pitch = np.deg2rad(np.broadcast_to(root.get("pitch", 0.0), (b, t)))
        rr = rot_y(yaw) @ rot_x(pitch)
        heading = np.stack([np.sin(yaw), 0 * yaw, np.cos(yaw)], -1)
        lateral = np.stack([np.cos(yaw), 0 * yaw, -np.sin(yaw)], -1)
        height = np.array([s.root_height for s in subjects])[:, None]
        rp = origin[:, None] + heading * np.broadcast_to(root.get("fwd", 0.0), (b, t))[..., None] \
            + lateral * np.broadcast_to(root.get("side", 0.0), (b, t))[..., None]
        rp[..., 1] = height - root.get("drop", 0.0) + root.get("lift", 0.0)
        pos, glob = forward_kinematics_batch(offsets, rp, rr, ang)
        pos_all.append(pos)
        glob_all.append(glob)
    return np.stack(pos_all, 1), np.stack(glob_all, 1), lengths


def _smooth(rng: np.random.Generator, shape: tuple[int, ...], axis: int) -> np.ndarray:
    z = rng.normal(size=shape)
    return (z + np.roll(z, 1, axis) + np.roll(z, -1, axis) + np.roll(z, 2, axis)) / 2.0


_LIMBS = [NTU25.parts[k] for k in ("left_arm", "right_arm", "left_leg", "right_leg")]


def _episodes(rng: np.random.Generator, shape: tuple[int, ...], t: int, lengths: np.ndarray, prob: float,
              lo: int, hi: int) -> np.ndarray:
    """(..., T) bool: one episode of lo..hi frames inside each sequence's length, with ``prob``."""
    on = rng.random(shape) < prob
    n = rng.integers(lo, hi + 1, shape)
    start = (rng.random(shape) * np.maximum(lengths.reshape(-1, *[1] * (len(shape) - 1)) - n, 1)).astype(int)
    fr = np.arange(t)
    return on[..., None] & (fr >= start[..., None]) & (fr < (start + n)[..., None])


def _run_chunk(job: _Chunk) -> dict[str, Any]:
    cfg = job.cfg
    rng = np.random.default_rng([cfg.seed, 101, job.index])
    pos, glob, lengths = _animate(job.perfs, cfg, rng)  # (B, P, T, V, 3)
    b, persons, t, v, _ = pos.shape
    dcam, ccam = depth_camera(), color_camera()
    tp = cfg.max_frames
    packed = {c: np.zeros((b, 3, 3 if c == "ntu25" else 2, tp, NTU25.num_joints if c == "ntu25" else
                           {"smpl24": 24, "h36m17": 17, "coco17": 17}[c], 2), np.float32) for c in cfg.conventions}
    stats = {"files": 0, "ghost": 0, "handover": 0, "flip": 0, "drop": 0, "occlusion": 0}
    flags = np.zeros((b, 3, len(NOISE_FLAGS)), bool)
    flip_idx = np.array(NTU25.flip)
    for k, perf in enumerate(job.perfs):
        radius, height, target = _setup_rig(perf.setup, cfg.seed)
        for ci, cam in enumerate((1, 2, 3)):
            th = np.deg2rad(CAMERA_YAW_DEG[cam])
            cpos = np.array([radius * np.sin(th), height, radius * np.cos(th)])
            rcam = look_at(cpos, np.array([0.0, target, 0.0]))
            n = int(lengths[k])
            clean = (pos[k, :, :n] - cpos) @ rcam.T  # (P, n, V, 3) camera metres
            xyz = clean + cfg.jitter * (0.5 * rng.normal(size=clean.shape) + _smooth(rng, clean.shape, 1))
            track = np.full(xyz.shape[:3], 2, np.int64)
            occ = _episodes(rng, (persons,), n, np.full(persons, n), cfg.occlusion, 8, 25)  # (P, n)
            limb = np.zeros((persons, v), bool)
            for pi in range(persons):
                limb[pi, list(_LIMBS[int(rng.integers(4))])] = True
            occ_j = occ[:, :, None] & limb[:, None, :]
            tips = rng.random(track.shape) < 0.15
            tips[..., [j for j in range(v) if NTU25.joints[j] not in ("HandTipLeft", "ThumbLeft", "HandTipRight",
                                                                      "ThumbRight")]] = False
            inferred = occ_j | tips
            drift = 0.06 * _smooth(rng, (persons, 1, v, 3), 0)
            xyz = np.where(inferred[..., None], xyz + drift, xyz)
            track[inferred] = 1
            flip = _episodes(rng, (persons,), n, np.full(persons, n), cfg.flip, 5, 20)
            xyz = np.where(flip[:, :, None, None], xyz[:, :, flip_idx], xyz)
            present = ~_episodes(rng, (1,), n, np.array([n]), cfg.drop, 1, 4)[0][None].repeat(persons, 0)
            before = (stats["ghost"], stats["handover"])
            flags[k, ci, :3] = occ.any(), flip.any(), (~present).any()
            for name, arr in packed.items():
                if name == "ntu25":
                    arr[k, ci, :, :n, :, :persons] = (xyz * present[..., None, None]).transpose(3, 1, 2, 0)
                else:
                    other = convert(clean, "ntu25", name, joint_axis=2)
                    z = np.maximum(other[..., 2], 1e-6)
                    uv = np.stack([ccam.cx + ccam.fx * (other[..., 0] + ccam.baseline) / z,
                                   ccam.cy - ccam.fy * other[..., 1] / z], -1)
                    arr[k, ci, :, :n, :, :persons] = uv.transpose(3, 1, 2, 0)
            if job.root is not None:
                # file-only noise (extra bodies, hand-overs, IDs) has its own stream: the packed
                # arrays are the same whether or not the files are written
                frng = np.random.default_rng([cfg.seed, 103, job.index, k, ci])
                write_view(Path(job.root), perf.name(cam), xyz, track, present, glob[k, :, :n], rcam, dcam,
                           ccam, frng, cfg, stats)
            flags[k, ci, 3:] = stats["ghost"] > before[0], stats["handover"] > before[1]
            stats["files"] += 1
    for i, key in enumerate(NOISE_FLAGS[:3]):
        stats[key] = int(flags[..., i].sum())
    return {"flags": flags.reshape(b * 3, -1), "index": job.index,
            "packed": {kk: vv.reshape(b * 3, *vv.shape[2:]) for kk, vv in packed.items()},
            "lengths": np.repeat(lengths, 3), "stats": stats}


# ----------------------------------------------------------------------------- the world


def _jobs(cfg: SkeletonWorldConfig, root: str | None) -> list[_Chunk]:
    perfs = performances(cfg)
    jobs: list[_Chunk] = []
    i = 0
    while i < len(perfs):
        j = i
        while j < len(perfs) and j - i < CHUNK and perfs[j].action == perfs[i].action:
            j += 1
        jobs.append(_Chunk(len(jobs), perfs[i:j], cfg, root))
        i = j
    return jobs


def _pool(workers: int) -> Any:
    methods = mp.get_all_start_methods()
    ctx = mp.get_context("fork" if "fork" in methods else "spawn")
    return ctx.Pool(workers)


def split_counts(names: Sequence[str], classes: int) -> dict[str, dict[str, int]]:
    """Train / test counts of every NTU protocol that applies to the world."""
    protos = ("xsub", "xview") if classes == 60 else PROTOCOLS
    out = {}
    for proto in protos:
        s = [split_of(n, proto) for n in names]
        out[proto] = {"train": s.count("train"), "test": s.count("test")}
    return out


def is_complete(root: str | os.PathLike[str], cfg: SkeletonWorldConfig) -> bool:
    p = Path(root) / META_FILE
    try:
        meta = json.loads(p.read_text())
    except (OSError, ValueError):
        return False
    return bool(meta.get("complete")) and meta.get("config_hash") == cfg.config_hash()


def generate_skeleton_world(out_dir: str | os.PathLike[str], cfg: SkeletonWorldConfig | None = None,
                            overwrite: bool = False, write_files: bool = True) -> Path:
    """Write (or reuse) the world under ``out_dir``; returns ``out_dir``. ``write_files=False``
    makes only the packed arrays (fast; no ``.skeleton`` files)."""
    cfg = cfg or SkeletonWorldConfig()
    root = Path(out_dir)
    if not overwrite and is_complete(root, cfg):
        meta = json.loads((root / META_FILE).read_text())
        if meta.get("files_written", True) or not write_files:
            return root
    for sub in (SKELETON_DIR, PACKED_DIR):
        if (root / sub).exists():
            shutil.rmtree(root / sub)
    (root / META_FILE).unlink(missing_ok=True)
    (root / PACKED_DIR).mkdir(parents=True)
    t0 = time.perf_counter()
    jobs = _jobs(cfg, str(root) if write_files else None)
    names = [p.name(c) for job in jobs for p in job.perfs for c in (1, 2, 3)]
    n = len(names)
    arrays = {}
    for conv in cfg.conventions:
        c, v = (3, 25) if conv == "ntu25" else (2, {"smpl24": 24, "h36m17": 17, "coco17": 17}[conv])
        arrays[conv] = np.lib.format.open_memmap(root / PACKED_DIR / f"{conv}.npy", mode="w+", dtype=np.float32,
                                                 shape=(n, c, cfg.max_frames, v, 2))
    lengths = np.zeros(n, np.int64)
    noise = np.zeros((n, len(NOISE_FLAGS)), bool)
    stats: dict[str, int] = {}
    offsets = np.cumsum([0] + [3 * len(j.perfs) for j in jobs])
    if cfg.workers > 1 and len(jobs) > 1:
        with _pool(cfg.workers) as pool:
            results = pool.imap(_run_chunk, jobs, chunksize=1)
            for res in results:
                _collect(res, arrays, lengths, noise, stats, offsets)
    else:
        for job in jobs:
            _collect(_run_chunk(job), arrays, lengths, noise, stats, offsets)
    for arr in arrays.values():
        arr.flush()
    labels = np.array([int(nm[-3:]) - 1 for nm in names], dtype=np.int64)
    np.savez(root / PACKED_DIR / "index.npz", labels=labels, names=np.array(names), lengths=lengths,
             noise=noise)
    meta = {"format_version": FORMAT_VERSION, "config": cfg.to_dict(), "config_hash": cfg.config_hash(),
            "complete": True, "files_written": write_files, "num_sequences": n, "num_classes": cfg.classes,
            "per_class": {str(a): int((labels == a - 1).sum()) for a in range(1, cfg.classes + 1)},
            "splits": split_counts(names, cfg.classes), "noise_files": stats,
            "seconds": round(time.perf_counter() - t0, 1), "synthetic": True}
    tmp = root / (META_FILE + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, root / META_FILE)
    return root


def _collect(res: dict[str, Any], arrays: dict[str, np.ndarray], lengths: np.ndarray, noise: np.ndarray,
             stats: dict[str, int], offsets: np.ndarray) -> None:
    lo = int(offsets[res["index"]])
    hi = lo + len(res["lengths"])
    for k, v in res["packed"].items():
        arrays[k][lo:hi] = v
    lengths[lo:hi] = res["lengths"]
    noise[lo:hi] = res["flags"]
    for k, v in res["stats"].items():
        stats[k] = stats.get(k, 0) + v


def load_packed(root: str | os.PathLike[str], convention: str = "ntu25",
                mmap: bool = True) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """``(data (N, C, T, V, M), labels (N,) 0-based, names, lengths (N,))`` of a generated world."""
    root = Path(root)
    path = root / PACKED_DIR / f"{convention}.npy"
    if not path.is_file():
        raise ConfigError(f"no packed {convention} arrays under {root} (generate the world first)")
    data = np.load(path, mmap_mode="r" if mmap else None)
    with np.load(root / PACKED_DIR / "index.npz") as f:
        return data, f["labels"], [str(s) for s in f["names"]], f["lengths"]


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """Options of ``mmfusion synth-skeleton OUT [--classes 60|120] [--num N] ...``."""
    ap.add_argument("out", help="output folder")
    ap.add_argument("--classes", type=int, choices=(60, 120), default=60)
    ap.add_argument("--num", type=int, default=10_000, help="number of .skeleton files (3 cameras per performance)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--imbalance", type=float, default=1.0,
                    help="n_min / n_max of the long-tail profile (1 = balanced)")
    ap.add_argument("--conventions", default="ntu25", help="comma list from ntu25,smpl24,h36m17,coco17")
    ap.add_argument("--packed-only", action="store_true", help="skip the .skeleton files")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing world in OUT")


def run(a: argparse.Namespace) -> int:
    if a.num < 1 or a.workers < 1 or not 0 < a.imbalance <= 1:
        raise ConfigError(f"--num and --workers must be >= 1 and --imbalance in (0, 1], got {a.num}, {a.workers}, "
                          f"{a.imbalance}")
    cfg = SkeletonWorldConfig(num_sequences=a.num, classes=a.classes, seed=a.seed, workers=a.workers,
                              imbalance=a.imbalance, conventions=tuple(a.conventions.split(",")))
    t0 = time.perf_counter()
    root = generate_skeleton_world(a.out, cfg, overwrite=a.overwrite, write_files=not a.packed_only)
    meta = json.loads((root / META_FILE).read_text())
    print(f"{root}: {meta['num_sequences']} sequences, {cfg.classes} classes, splits {meta['splits']} "
          f"({time.perf_counter() - t0:.1f} s; generation {meta['seconds']} s)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``mmfusion synth-skeleton OUT [--classes 60|120] [--num N] ...``"""
    ap = argparse.ArgumentParser(prog="mmfusion synth-skeleton",
                                 description="Generate the skeleton-only synthetic NTU world (labelled synthetic).")
    add_arguments(ap)
    args = ap.parse_args(argv)
    return run_command(lambda: run(args), "mmfusion synth-skeleton")


__all__ = ["META_FILE", "Performance", "SkeletonWorldConfig", "add_arguments", "class_counts",
           "generate_skeleton_world", "is_complete", "load_packed", "main", "performances", "run", "split_counts",
           "world_names"]
