"""Render samples in memory and write the synthetic world as an exact NTU RGB+D tree.

``generate(out_dir, SynthConfig())`` writes::

    out_dir/nturgb+d_skeletons/<name>.skeleton           NTU text format (CRLF, .7G numbers)
    out_dir/nturgb+d_depth_masked/<name>/MDepth-%08d.png  16-bit mm, 0 off the person and prop
    out_dir/nturgb+d_ir/<name>_ir.avi                     8-bit IR, room visible (lossless ffv1)
    out_dir/nturgb+d_rgb/<name>_rgb.avi                   colour camera, 5.2 cm baseline (ffv1)
    out_dir/mmfusion_synth.json                           classes, sizes, intrinsics, counts, config

Skeleton ``x y z`` are metres in the depth camera frame; ``depthX depthY`` and ``colorX colorY``
are 0-based pixels of the depth and RGB frames *as stored* (at NTU sizes exactly NTU's
convention); the JSON gives the intrinsics of both cameras at the stored sizes. The three
cameras of one (setup, performer, replication, action) see the same performance, as in NTU.

:func:`render_sample` returns one sample in memory, with the hidden ground truth (clean 3D
joints, COCO-17 keypoints with real face points, visibility) for pose-lifting work.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from mmfusion.data.formats.depth import depth_frame_name, write_depth_png
from mmfusion.data.formats.skeleton import SkeletonSequence, write_skeleton
from mmfusion.data.formats.video import write_video
from mmfusion.errors import ConfigError

from .actions import ACTIONS, PAIRS, perform
from .body import LEAF_JOINTS, J, Subject, coco17_points, matrix_to_quaternion
from .config import (
    XSUB_TRAIN_PERFORMERS,
    XVIEW_TRAIN_CAMERAS,
    Camera,
    SampleSpec,
    SynthConfig,
)
from .render import (
    CAMERA_YAW_DEG,
    Scene,
    body_primitives,
    kinect_depth,
    material_table,
    place_performer,
    prop_primitive,
    raycast,
    shade_ir,
    shade_rgb,
)

META_FILE = "mmfusion_synth.json"
FORMAT_VERSION = 2
NTU_DIRS = {"skeleton": "nturgb+d_skeletons", "depth": "nturgb+d_depth_masked", "rgb": "nturgb+d_rgb",
            "ir": "nturgb+d_ir", "depth_full": "nturgb+d_depth"}
KINECT_BODY_ID = 72057594037927936  # 2**56: real Kinect v2 tracking IDs start here
# ----------------------------------------------------------------------------- seeds and caches


def _rng(cfg: SynthConfig, tag: int, *key: int) -> np.random.Generator:
    return np.random.default_rng([cfg.seed, tag, *key])


@lru_cache(maxsize=256)
def _subject(performer: int, seed: int) -> Subject:
    return Subject.create(performer, seed)


@lru_cache(maxsize=64)
def _scene(setup: int, seed: int) -> Scene:
    return Scene.create(setup, seed)


def sample_specs(cfg: SynthConfig) -> list[SampleSpec]:
    """Every sample of ``cfg`` (sorted by name; ``num_samples`` keeps an even spread of them)."""
    specs = cfg.specs()
    n = cfg.num_samples
    if n is not None and n < len(specs):
        keep = np.unique(np.linspace(0, len(specs) - 1, int(n)).round().astype(int))
        specs = [specs[i] for i in keep]
    return specs


# ----------------------------------------------------------------------------- one performance


@dataclass
class Performance:
    """A performed clip in world coordinates, shared by the cameras that film it."""

    subject: Subject
    joints: np.ndarray      # (T, V, 3) world
    glob: np.ndarray        # (T, V, 3, 3) world
    tau: np.ndarray         # (T,)
    num_frames: int


def perform_spec(spec: SampleSpec, cfg: SynthConfig) -> Performance:
    """The performance behind ``spec`` (independent of its camera)."""
    key = spec.performance_key()
    rng = _rng(cfg, 41, *key)
    T = int(rng.integers(cfg.frames[0], cfg.frames[1] + 1))
    subject = _subject(spec.performer, cfg.seed)
    clip = perform(spec.action, subject, T, rng, fps=float(cfg.fps), speed_jitter=cfg.speed_jitter,
                   amplitude_jitter=cfg.amplitude_jitter)
    rot, offset = place_performer(spec.setup, spec.performer, spec.replication, key, cfg.seed)
    joints = np.einsum("ij,tvj->tvi", rot, clip.joints) + offset
    glob = np.einsum("ij,tvjk->tvik", rot, clip.glob)
    return Performance(subject, joints, glob, clip.tau, T)


def _project(xyz: np.ndarray, cam: Camera) -> np.ndarray:
    """(..., 3) depth-camera metres -> (..., 2) pixels of ``cam`` (baseline applied)."""
    z = np.maximum(xyz[..., 2], 1e-6)
    return np.stack([cam.cx + cam.fx * (xyz[..., 0] + cam.baseline) / z, cam.cy - cam.fy * xyz[..., 1] / z], -1)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], width: float) -> np.ndarray:
    """Unit-variance Gaussian noise correlated over axis 0 (frames) with a Gaussian kernel."""
    white = rng.normal(0.0, 1.0, shape)
    r = max(1, int(3 * width))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / width) ** 2)
    k /= np.sqrt((k ** 2).sum())
    pad = np.pad(white, [(r, r)] + [(0, 0)] * (white.ndim - 1), mode="reflect")
    out = np.zeros_like(white)
    for i, kv in enumerate(k):
        out += kv * pad[i:i + shape[0]]
    return out


def render_sample(spec: SampleSpec | str, cfg: SynthConfig | None = None, full_depth: bool = False) -> dict[str, Any]:
    """Render one sample in memory (nothing is written).

    Returns a dict (M = bodies in the Kinect output, 1 or 2 with a ghost; T frames):

    ``"name"`` str; ``"action"`` int (1-based NTU ID); ``"label"`` int (class index in ``cfg``);
    ``"skeleton"`` float64 (1, T, 25, 3) clean ground-truth joints, depth-camera metres;
    ``"kinect_xyz"`` (M, T, 25, 3) what the ``.skeleton`` file holds (jitter, inferred joints,
    ghost body); ``"tracking"`` (M, T, 25) int; ``"present"`` (M, T) bool;
    ``"kinect_depth_xy"`` / ``"kinect_color_xy"`` (M, T, 25, 2) pixels of the stored frames;
    ``"keypoints2d_depth"`` / ``"keypoints2d_rgb"`` (1, T, 25, 2) clean projections;
    ``"coco3d"`` (1, T, 17, 3), ``"coco2d_rgb"`` / ``"coco2d_depth"`` (1, T, 17, 2) clean COCO-17
    (face points from the head pose), ``"coco_visible_rgb"`` (1, T, 17) bool (not occluded);
    ``"depth"`` uint16 (T, H, W) masked mm; ``"depth_full"`` uint16 (T, H, W) with the room
    (only with ``full_depth=True``, else None);
    ``"mask"`` bool (T, H, W) person + prop; ``"ir"`` uint8 (T, H, W); ``"rgb"`` uint8 (T, Hc, Wc, 3);
    ``"intrinsics"`` {"depth": Camera, "color": Camera}; ``"camera_pose"`` (world position (3,),
    world->camera rotation (3, 3)); ``"world_joints"`` (1, T, 25, 3) world frame (floor y = 0);
    ``"phase"`` (T,) action phase; ``"num_frames"`` T. Aliases: ``"xyz"`` = kinect_xyz,
    ``"xyz_clean"`` = skeleton, ``"depth_xy"`` / ``"color_xy"`` = kinect_depth_xy / kinect_color_xy.
    """
    cfg = cfg or SynthConfig()
    if isinstance(spec, str):
        spec = SampleSpec.parse(spec)
    if spec.action not in ACTIONS:
        raise ConfigError(f"no synthetic motion for NTU action {spec.action}; available: {sorted(ACTIONS)}")
    if spec.camera not in CAMERA_YAW_DEG:
        raise ConfigError(f"camera must be 1, 2 or 3, got {spec.camera}")
    return _render_camera(perform_spec(spec, cfg), spec, cfg, full_depth)


def _render_camera(perf: Performance, spec: SampleSpec, cfg: SynthConfig,
                   full_depth: bool = False) -> dict[str, Any]:
    scene = _scene(spec.setup, cfg.seed)
    pos, rc = scene.camera_pose(spec.camera)
    dcam, ccam = cfg.depth_camera(), cfg.color_camera()
    T = perf.num_frames
    joints = np.einsum("ij,tvj->tvi", rc, perf.joints - pos)       # depth camera frame
    glob = np.einsum("ij,tvjk->tvik", rc, perf.glob)
    up = rc @ np.array([0.0, 1.0, 0.0])
    prop = ACTIONS[spec.action].prop
    mat_index, albedo, refl = material_table(perf.subject, prop.material if prop else None)
    prims = body_primitives(perf.subject, joints, glob, mat_index)
    # the colour camera sees the same body; a prop faces each camera (its silhouette must not
    # depend on its thickness in either view)
    cprims = [p.shifted(ccam.baseline) for p in prims]
    if prop is not None:
        prims.append(prop_primitive(prop, joints, glob, up, mat_index["prop"]))
        shifted = joints + np.array([ccam.baseline, 0.0, 0.0])
        cprims.append(prop_primitive(prop, shifted, glob, up, mat_index["prop"]))
    key = spec.performance_key()
    # one stream per purpose: a different silhouette must not shift any other draw
    rng_depth, rng_img, rng_skel = (_rng(cfg, tag, *key, spec.camera) for tag in (51, 53, 54))

    # depth / IR camera
    z, normal, mat = raycast(prims, dcam, T)
    bg_d = scene.background(spec.camera, dcam)
    depth = kinect_depth(z, rng_depth, cfg.depth_noise_mm, cfg.edge_dropout)
    gain, exposure = (float(v) for v in rng_img.uniform([0.85, 0.9], [1.15, 1.1]))
    ir = shade_ir(normal, mat, refl, dcam, bg_d["ir"], gain, rng_img, cfg.ir_noise)

    # colour camera (parallel to the depth camera, 5.2 cm to its side)
    cz, cnormal, cmat = raycast(cprims, ccam, T)
    bg_c = scene.background(spec.camera, ccam)
    rgb = shade_rgb(cnormal, cmat, albedo, rc @ scene.light, bg_c["rgb"], exposure, rng_img, cfg.rgb_noise)
    depth_full = None
    if full_depth:
        # the room as the Kinect sees it (its range ends at ~8 m); own stream: masked depth is unchanged
        full_z = np.where(np.isfinite(z), z, bg_d["z"][None])
        depth_full = kinect_depth(np.where(full_z < 8.0, full_z, np.inf), _rng(cfg, 52, *key, spec.camera),
                                  cfg.depth_noise_mm, 0.0)

    # Kinect skeleton: jitter, inferred joints (occluded ones first), optional ghost body
    # the Kinect's body tracker infers joints hidden by the body itself; props never change it
    body_z = np.where(mat == mat_index.get("prop", -2), np.inf, z)
    kin, tracking = _kinect_joints(joints, body_z, dcam, rng_skel, cfg)
    kxyz = kin[None]
    track = tracking[None]
    present = np.ones((1, T), dtype=bool)
    rng_ghost = _rng(cfg, 55, *key, spec.camera)
    if cfg.ghost_body_prob > 0 and rng_ghost.uniform() < cfg.ghost_body_prob:
        ghost, gpresent = _ghost_body(joints, rng_ghost)
        kxyz = np.concatenate([kxyz, ghost[None]])
        track = np.concatenate([track, np.full((1, T, 25), 1)])
        present = np.concatenate([present, gpresent[None]])
    coco = coco17_points(joints, glob, perf.subject.height_scale)
    coco_rgb = _project(coco, ccam)
    coco_vis = _visible(coco + np.array([ccam.baseline, 0, 0]), cz, ccam)
    return {
        "name": spec.name, "action": spec.action,
        "label": cfg.class_actions.index(spec.action) if spec.action in cfg.class_actions else -1,
        "skeleton": joints[None], "world_joints": perf.joints[None],
        "kinect_xyz": kxyz, "tracking": track, "present": present,
        "kinect_depth_xy": _project(kxyz, dcam), "kinect_color_xy": _project(kxyz, ccam),
        "orientation": _orientations(glob)[None], "lean": _lean(perf)[None],
        "keypoints2d_depth": _project(joints, dcam)[None], "keypoints2d_rgb": _project(joints, ccam)[None],
        "coco3d": coco[None], "coco2d_rgb": coco_rgb[None], "coco2d_depth": _project(coco, dcam)[None],
        "coco_visible_rgb": coco_vis[None],
        "depth": depth, "depth_full": depth_full, "mask": np.isfinite(z), "ir": ir, "rgb": rgb,
        "intrinsics": {"depth": dcam, "color": ccam}, "camera_pose": (pos, rc), "phase": perf.tau,
        "num_frames": T,
        # names used by the first version of this module
        "xyz": kxyz, "xyz_clean": joints[None], "depth_xy": _project(kxyz, dcam), "color_xy": _project(kxyz, ccam),
    }


def _visible(xyz: np.ndarray, zbuf: np.ndarray, cam: Camera, margin: float = 0.16) -> np.ndarray:
    """(T, V) bool: the point's pixel is not covered by a surface more than ``margin`` in front of it.

    ``xyz`` is in ``cam``'s own frame (baseline already applied).
    """
    T, V, _ = xyz.shape
    z = np.maximum(xyz[..., 2], 1e-6)
    u = np.rint(cam.cx + cam.fx * xyz[..., 0] / z).astype(np.int64)
    v = np.rint(cam.cy - cam.fy * xyz[..., 1] / z).astype(np.int64)
    inside = (u >= 0) & (u < cam.width) & (v >= 0) & (v < cam.height)
    surf = zbuf[np.arange(T)[:, None], np.clip(v, 0, cam.height - 1), np.clip(u, 0, cam.width - 1)]
    return inside & ~(surf < xyz[..., 2] - margin)


def _kinect_joints(joints: np.ndarray, zbuf: np.ndarray, cam: Camera, rng: np.random.Generator,
                   cfg: SynthConfig) -> tuple[np.ndarray, np.ndarray]:
    """Kinect-like noisy joints (T, V, 3) and tracking states (T, V) from the clean ones."""
    T, V, _ = joints.shape
    sigma = cfg.joint_noise
    noise = rng.normal(0.0, sigma, joints.shape) + sigma * _smooth_noise(rng, joints.shape, 3.0)
    occluded = ~_visible(joints, zbuf, cam)
    # occluded joints are inferred most of the time; a few random short episodes on top
    inferred = occluded & (rng.random((1, V)) < 0.85)
    episodes = rng.random((T, V)) < cfg.inferred_rate / 8.0
    for k in range(1, 8):
        episodes[k:] |= episodes[:-k] & (rng.random((T - k, V)) < 0.9)
    inferred |= episodes
    drift = 0.03 * _smooth_noise(rng, joints.shape, 4.0)
    xyz = joints + noise + np.where(inferred[..., None], drift, 0.0)
    return xyz, np.where(inferred, 1, 2).astype(np.int64)


def _ghost_body(joints: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A short spurious body beside the performer (3-10 frames, flat and wide: fails the spread test)."""
    T = joints.shape[0]
    n = int(rng.integers(3, min(10, T) + 1))
    start = int(rng.integers(0, T - n + 1))
    centre = joints[start, J["SpineMid"]] + np.array([rng.choice([-1, 1]) * rng.uniform(0.6, 1.2), -0.5,
                                                      rng.uniform(0.2, 0.8)])
    pts = centre + rng.normal(0, 1, (25, 3)) * np.array([0.35, 0.05, 0.1])
    ghost = np.zeros_like(joints)
    present = np.zeros(T, dtype=bool)
    present[start:start + n] = True
    ghost[start:start + n] = pts + rng.normal(0, 0.01, (n, 25, 3))
    return ghost, present


def _orientations(glob: np.ndarray) -> np.ndarray:
    """(T, V, 4) Kinect-style joint quaternions (w, x, y, z) in the camera frame; 0 for leaf joints."""
    q = matrix_to_quaternion(glob)
    for name in LEAF_JOINTS:
        q[:, J[name]] = 0.0
    return q


def _lean(perf: Performance) -> np.ndarray:
    """(T, 2) Kinect body lean (leanX sideways, leanY forwards) from the trunk direction."""
    spine = perf.joints[:, J["SpineShoulder"]] - perf.joints[:, J["SpineBase"]]
    root = perf.glob[:, J["SpineBase"]]
    local = np.einsum("tji,tj->ti", root, spine)
    local /= np.linalg.norm(local, axis=-1, keepdims=True)
    return np.stack([np.clip(local[:, 0], -1, 1), np.clip(local[:, 2], -1, 1)], -1)


# ----------------------------------------------------------------------------- writing


def _skeleton_sequence(s: dict[str, Any], spec: SampleSpec, cfg: SynthConfig) -> Any:
    m = s["kinect_xyz"].shape[0]
    rng = _rng(cfg, 61, *spec.performance_key(), spec.camera)
    ids = [KINECT_BODY_ID + int(rng.integers(1000, 60000)) + 7 * k for k in range(m)]
    orient = np.zeros((m, *s["orientation"].shape[1:]))
    orient[0] = s["orientation"][0]
    lean = np.zeros((m, s["num_frames"], 2))
    lean[0] = s["lean"][0]
    seq = SkeletonSequence.from_arrays(s["kinect_xyz"], depth_xy=s["kinect_depth_xy"],
                                       color_xy=s["kinect_color_xy"], body_ids=ids, tracking=s["tracking"],
                                       present=s["present"], orientation=orient, lean=lean)
    # hand states of the real body: "tracked, not closed" (1, 1), never class-dependent
    main = seq.body_id == ids[0]
    seq.body_int[main, 1:5] = 1
    return seq


def write_sample(root: Path, spec: SampleSpec, cfg: SynthConfig,
                 sample: dict[str, Any] | None = None) -> dict[str, Any]:
    """Render (unless given) and write one sample into the NTU tree at ``root``; returns its stats."""
    s = sample if sample is not None else render_sample(spec, cfg, full_depth="depth_full" in cfg.write)
    name = spec.name
    if "skeleton" in cfg.write:
        write_skeleton(root / NTU_DIRS["skeleton"] / f"{name}.skeleton", _skeleton_sequence(s, spec, cfg))
    for key, prefix in (("depth", "MDepth"), ("depth_full", "Depth")):
        if key in cfg.write:
            folder = root / NTU_DIRS[key] / name
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            frames = s["depth"] if key == "depth" else s["depth_full"]
            for i, frame in enumerate(frames):
                fname = depth_frame_name(i) if prefix == "MDepth" else f"Depth-{i + 1:08d}.png"
                write_depth_png(folder / fname, frame)
    if "ir" in cfg.write:
        write_video(root / NTU_DIRS["ir"] / f"{name}_ir.avi", s["ir"], fps=cfg.fps)
    if "rgb" in cfg.write:
        write_video(root / NTU_DIRS["rgb"] / f"{name}_rgb.avi", s["rgb"], fps=cfg.fps)
    return {"name": name, "frames": int(s["num_frames"]), "bodies": int(s["present"].shape[0]),
            "inferred": float((s["tracking"][0] == 1).mean())}


def _performance_groups(specs: Sequence[SampleSpec]) -> list[list[SampleSpec]]:
    groups: dict[tuple[int, ...], list[SampleSpec]] = {}
    for sp in specs:
        groups.setdefault((sp.setup, *sp.performance_key()), []).append(sp)
    return list(groups.values())


def _work(job: tuple[list[SampleSpec], SynthConfig, str]) -> list[dict[str, Any]]:
    specs, cfg, root = job
    perf = perform_spec(specs[0], cfg)
    full = "depth_full" in cfg.write
    return [write_sample(Path(root), sp, cfg, _render_camera(perf, sp, cfg, full)) for sp in specs]


def _run(jobs: list[tuple[list[SampleSpec], SynthConfig, str]], workers: int) -> Iterator[list[dict[str, Any]]]:
    if workers > 1 and len(jobs) > 1:
        ctx = get_context("fork") if "fork" in _start_methods() else get_context()
        with ctx.Pool(workers, initializer=_worker_init) as pool:
            yield from pool.imap(_work, jobs, chunksize=1)
    else:
        yield from map(_work, jobs)


def _start_methods() -> list[str]:
    import multiprocessing

    return multiprocessing.get_all_start_methods()


def _worker_init() -> None:
    # one BLAS thread per worker: the work is many small arrays
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _split_counts(names: Sequence[str]) -> dict[str, dict[str, int]]:
    out = {"xsub": {"train": 0, "test": 0}, "xview": {"train": 0, "test": 0}}
    for n in names:
        sp = SampleSpec.parse(n)
        out["xsub"]["train" if sp.performer in XSUB_TRAIN_PERFORMERS else "test"] += 1
        out["xview"]["train" if sp.camera in XVIEW_TRAIN_CAMERAS else "test"] += 1
    return out


def synth_meta(cfg: SynthConfig, stats: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The content of ``mmfusion_synth.json``."""
    dcam, ccam = cfg.depth_camera(), cfg.color_camera()
    names = [s["name"] for s in stats]
    pairs = {a: (b, mods) for a, b, mods in PAIRS}
    pairs.update({b: (a, mods) for a, b, mods in PAIRS})
    classes = []
    for k, a in enumerate(cfg.class_actions):
        d = ACTIONS[a]
        entry: dict[str, Any] = {"label": k, "action": a, "id": a - 1, "code": f"A{a:03d}", "name": d.name,
                                 "motion": d.motion, "prop": d.prop.name if d.prop else None, "cue": d.cue}
        if a in pairs and pairs[a][0] in cfg.class_actions:
            entry["partner"] = pairs[a][0]
            entry["separable_by"] = list(pairs[a][1])
        classes.append(entry)
    per_class = {f"A{a:03d}": sum(SampleSpec.parse(n).action == a for n in names) for a in cfg.class_actions}
    frames = [s["frames"] for s in stats]
    return {
        "format": "mmfusion-synthetic-ntu", "format_version": FORMAT_VERSION, "generator": "mmfusion.data.synthetic",
        "classes": classes,
        "sizes": {"depth": list(cfg.depth_size), "ir": list(cfg.depth_size), "rgb": list(cfg.rgb_size)},
        "intrinsics": {"depth": dcam.to_dict(), "ir": dcam.to_dict(), "color": ccam.to_dict()},
        "skeleton_pixels": "depthX/depthY and colorX/colorY are pixels of the stored depth and RGB frames",
        "cameras": {str(c): {"yaw_deg": CAMERA_YAW_DEG[c], "view": "frontal" if c == 1 else "45 degrees"}
                    for c in cfg.cameras},
        "fps": cfg.fps, "seed": cfg.seed, "config": cfg.to_dict(),
        "counts": {"samples": len(names), "frames": int(sum(frames)),
                   "frames_per_sample": [int(min(frames, default=0)), int(max(frames, default=0))],
                   "per_class": per_class, "ghost_bodies": int(sum(s["bodies"] > 1 for s in stats)),
                   "inferred_joint_fraction": round(float(np.mean([s["inferred"] for s in stats])) if stats else 0.0,
                                                    4),
                   **_split_counts(names)},
        "num_samples": len(names), "split_counts": _split_counts(names),
        "performers": {"xsub_train": sorted({p for p in cfg.performers if p in XSUB_TRAIN_PERFORMERS}),
                       "xsub_test": sorted({p for p in cfg.performers if p not in XSUB_TRAIN_PERFORMERS})},
        "complete": True,
    }


def is_complete(root: str | os.PathLike[str], cfg: SynthConfig | None = None) -> bool:
    """True when ``root`` holds a finished world generated with ``cfg`` (default config) by this version."""
    p = Path(root) / META_FILE
    if not p.is_file():
        return False
    try:
        meta = json.loads(p.read_text())
    except (json.JSONDecodeError, OSError):
        return False
    want = (cfg or SynthConfig()).to_dict()
    return (meta.get("format_version") == FORMAT_VERSION and bool(meta.get("complete"))
            and meta.get("config") == json.loads(json.dumps(want)))


def _clear_stale(root: Path, keep: set[str]) -> None:
    """Remove samples of an earlier synthetic world in ``root`` that the new config does not make."""
    for folder in NTU_DIRS.values():
        d = root / folder
        if not d.is_dir():
            continue
        for entry in os.scandir(d):
            if entry.name[:20] not in keep:
                if entry.is_dir():
                    shutil.rmtree(entry.path)
                else:
                    os.remove(entry.path)


def generate(out_dir: str | os.PathLike[str], cfg: SynthConfig | None = None, overwrite: bool = False,
             progress: bool | None = None) -> Path:
    """Write the synthetic world described by ``cfg`` into ``out_dir``; returns ``out_dir``.

    Does nothing when ``out_dir`` already holds a complete world of the same config (unless
    ``overwrite``). The JSON is written last, so its presence marks a finished world. An
    existing NTU tree that was not written by this generator is never touched.

    Raises:
        ConfigError: ``out_dir`` holds a foreign NTU tree, or the config is invalid.
    """
    cfg = cfg or SynthConfig()
    root = Path(out_dir)
    if not overwrite and is_complete(root, cfg):
        return root
    meta_path = root / META_FILE
    ours = meta_path.is_file()
    foreign = [f for f in NTU_DIRS.values() if (root / f).is_dir() and any(os.scandir(root / f))]
    if foreign and not ours:
        raise ConfigError(f"{root} already holds an NTU tree ({', '.join(foreign)}) not written by the "
                          f"synthetic generator; choose an empty folder")
    root.mkdir(parents=True, exist_ok=True)
    specs = sample_specs(cfg)
    if ours:
        meta_path.unlink()
        _clear_stale(root, {s.name for s in specs})
    groups = _performance_groups(specs)
    jobs = [(g, cfg, str(root)) for g in groups]
    show = cfg.progress if progress is None else progress
    stats: list[dict[str, Any]] = []
    from tqdm import tqdm

    with tqdm(total=len(specs), desc="synthetic NTU", unit="sample", disable=not show) as bar:
        for res in _run(jobs, cfg.num_workers):
            stats.extend(res)
            bar.update(len(res))
    stats.sort(key=lambda s: s["name"])
    tmp = root / f".{META_FILE}.tmp"
    tmp.write_text(json.dumps(synth_meta(cfg, stats), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, meta_path)
    return root


__all__ = ["META_FILE", "NTU_DIRS", "Performance", "coco17_points", "generate", "is_complete", "perform_spec",
           "render_sample", "sample_specs", "synth_meta", "write_sample"]
