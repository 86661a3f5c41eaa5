"""Write the synthetic NTU world to disk, in the exact NTU tree and file formats.

``generate(out_dir, SynthConfig())`` renders every (action, performer, camera, replication)
combination of the config and writes::

    out_dir/nturgb+d_skeletons/<name>.skeleton          (byte format of the real files)
    out_dir/nturgb+d_depth_masked/<name>/MDepth-%08d.png (16-bit mm, 0 off the person/object)
    out_dir/nturgb+d_ir/<name>_ir.avi                    (8-bit IR, background visible)
    out_dir/nturgb+d_rgb/<name>_rgb.avi                  (colour camera, 5.2 cm baseline)
    out_dir/mmfusion_synth.json                          (classes, sizes, intrinsics, counts)

Skeleton ``depthX/depthY`` and ``colorX/colorY`` are pixels of the depth and RGB frames on disk
(at full NTU sizes exactly NTU's convention); the intrinsics in the JSON are those of the
rendered frames (for back-projection and projection).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..formats.depth import depth_frame_name, write_depth_png
from ..formats.skeleton import SkeletonSequence, write_skeleton
from ..formats.video import write_video
from ..ntu import NTUSampleName, NTUTree, split_of
from ..pointcloud import KINECT_V2_DEPTH, CameraIntrinsics
from .actions import ACTIONS, perform
from .body import make_subject
from .config import SynthConfig
from .render import body_spheres, ir_image, rasterize, rgb_image

META_FILE = "mmfusion_synth.json"
#: colour camera of NTU fitted from the skeleton files (f, cx, cy) and its baseline to the depth camera
COLOR_CAMERA = CameraIntrinsics(1058.0, 1058.0, 959.0, 540.0)
COLOR_BASELINE = 0.052
CAMERA_YAW_DEG = {1: 0.0, 2: 45.0, 3: -45.0}
_BACKGROUNDS = {1: (120, 130, 140), 2: (135, 125, 110), 3: (110, 120, 105)}
FORMAT_VERSION = 1


@dataclass(frozen=True)
class SampleSpec:
    action: int
    performer: int
    camera: int
    replication: int
    setup: int

    @property
    def name(self) -> str:
        return str(NTUSampleName(self.setup, self.camera, self.performer, self.replication, self.action))


def sample_specs(cfg: SynthConfig) -> list[SampleSpec]:
    return [SampleSpec(a, p, c, r, cfg.setup) for a in cfg.actions for p in cfg.performers
            for c in cfg.cameras for r in cfg.replications]


def _yaw(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])


def render_sample(spec: SampleSpec, cfg: SynthConfig) -> dict[str, Any]:
    """Render one sample in memory.

    Returns:
        dict with "xyz" (1, T, 25, 3) noisy camera-space joints (what the .skeleton file holds),
        "xyz_clean" (1, T, 25, 3), "depth_xy"/"color_xy" (1, T, 25, 2) pixels of the rendered frames,
        "tracking" (1, T, 25), "depth" uint16 (T, H, W) mm, "ir" uint8 (T, H, W),
        "rgb" uint8 (T, H, W, 3), "intrinsics" (depth intrinsics of the rendered frames).
    """
    rng = np.random.default_rng([cfg.seed, spec.setup, spec.camera, spec.performer, spec.replication, spec.action])
    subject = make_subject(spec.performer, cfg.seed)
    action = ACTIONS[spec.action]
    t = int(rng.integers(cfg.frames[0], cfg.frames[1] + 1))
    body = perform(spec.action, subject, t, rng)
    rot = _yaw(CAMERA_YAW_DEG[spec.camera] + rng.uniform(-10, 10) + (8 if spec.replication == 2 else -8))
    offset = np.array([rng.uniform(-0.25, 0.25), -1.05 + rng.uniform(-0.05, 0.05), rng.uniform(2.4, 3.1)])
    cam = body @ rot.T + offset
    forward = rot @ np.array([0.0, 0.0, -1.0])

    spheres = body_spheres(cam, subject, action.obj, action.motion, forward)
    dh, dw = cfg.depth_size
    d_intr = KINECT_V2_DEPTH.scaled(dw / 512, dh / 424)
    depth_m, mat, shade = rasterize(spheres, d_intr, cfg.depth_size)
    noisy = depth_m * 1000.0 + rng.normal(0, 1.5, depth_m.shape)
    depth = np.where(depth_m > 0, np.clip(np.round(noisy), 1, 65535), 0).astype(np.uint16)
    ir = ir_image(mat, shade, action.obj, rng, cfg.image_noise)

    rh, rw = cfg.rgb_size
    c_intr = COLOR_CAMERA.scaled(rw / 1920, rh / 1080)
    spheres.centres = spheres.centres + np.array([COLOR_BASELINE, 0.0, 0.0])
    _, cmat, cshade = rasterize(spheres, c_intr, cfg.rgb_size)
    bg = tuple(int(v) for v in np.clip(np.array(_BACKGROUNDS[spec.camera]) + rng.integers(-10, 11, 3), 0, 255))
    rgb = rgb_image(cmat, cshade, subject, action.obj, bg, rng, cfg.image_noise)

    xyz = cam + rng.normal(0, cfg.joint_noise, cam.shape)
    tracking = np.where(rng.random(cam.shape[:2]) < cfg.inferred_rate, 1, 2)
    # pixel coordinates refer to the frames on disk (at full NTU sizes: exactly NTU's convention)
    depth_xy = d_intr.project(xyz)
    color_xy = c_intr.project(xyz + np.array([COLOR_BASELINE, 0.0, 0.0]))
    return {"xyz": xyz[None], "xyz_clean": cam[None], "depth_xy": depth_xy[None], "color_xy": color_xy[None],
            "tracking": tracking[None], "depth": depth, "ir": ir, "rgb": rgb, "intrinsics": d_intr}



def write_sample(spec: SampleSpec, cfg: SynthConfig, root: Path) -> str:
    s = render_sample(spec, cfg)
    tree = NTUTree(root)
    name = spec.name
    seq = SkeletonSequence.from_arrays(np.round(s["xyz"], 6), depth_xy=np.round(s["depth_xy"], 3),
                                       color_xy=np.round(s["color_xy"], 2), tracking=s["tracking"],
                                       body_ids=[72057594037927936 + 1000 * spec.performer + spec.camera])
    write_skeleton(tree.skeleton(name), seq)
    ddir = tree.depth_dir(name)
    for i, frame in enumerate(s["depth"]):
        write_depth_png(ddir / depth_frame_name(i), frame)
    write_video(tree.ir(name), s["ir"])
    write_video(tree.rgb(name), s["rgb"])
    return name


def _work(args: tuple[SampleSpec, SynthConfig, str]) -> str:
    spec, cfg, root = args
    return write_sample(spec, cfg, Path(root))


def _iterate(specs: list[SampleSpec], cfg: SynthConfig, root: Path) -> Iterator[str]:
    jobs = [(s, cfg, str(root)) for s in specs]
    if cfg.num_workers > 1 and len(jobs) > 1:
        # fork keeps start-up cheap; each worker runs single-threaded numpy
        with get_context("fork").Pool(cfg.num_workers) as pool:
            yield from pool.imap(_work, jobs, chunksize=4)
    else:
        yield from map(_work, jobs)


def synth_meta(cfg: SynthConfig, names: list[str]) -> dict[str, Any]:
    dh, dw = cfg.depth_size
    rh, rw = cfg.rgb_size
    d = KINECT_V2_DEPTH.scaled(dw / 512, dh / 424)
    c = COLOR_CAMERA.scaled(rw / 1920, rh / 1080)
    counts = {p: {"train": sum(split_of(n, p) == "train" for n in names),
                  "test": sum(split_of(n, p) == "test" for n in names)} for p in ("xsub", "xview")}
    return {
        "format_version": FORMAT_VERSION,
        "generator": "mmfusion.data.synthetic",
        "classes": [{"action": a, "name": ACTIONS[a].name} for a in cfg.actions],
        "sizes": {"depth": [dh, dw], "ir": [dh, dw], "rgb": [rh, rw]},
        "intrinsics": {"depth": {"fx": d.fx, "fy": d.fy, "cx": d.cx, "cy": d.cy},
                       "color": {"fx": c.fx, "fy": c.fy, "cx": c.cx, "cy": c.cy, "baseline_m": COLOR_BASELINE}},
        "fps": 30,
        "num_samples": len(names),
        "split_counts": counts,
        "config": cfg.to_dict(),
    }


def generate(out_dir: str | os.PathLike[str], cfg: SynthConfig | None = None, progress: bool = True) -> Path:
    """Render the world into ``out_dir`` (created); returns ``out_dir``.

    The JSON is written last, so its presence marks a complete world (see :func:`is_complete`).
    """
    cfg = cfg or SynthConfig()
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    specs = sample_specs(cfg)
    names = [n for n in tqdm(_iterate(specs, cfg, root), total=len(specs), desc="synthetic NTU",
                             disable=not progress, unit="sample")]
    meta_tmp = root / f".{META_FILE}.tmp"
    meta_tmp.write_text(json.dumps(synth_meta(cfg, names), indent=2) + "\n")
    os.replace(meta_tmp, root / META_FILE)
    return root


def is_complete(root: str | os.PathLike[str], cfg: SynthConfig | None = None) -> bool:
    """True when ``root`` holds a finished world generated with ``cfg`` (default config)."""
    p = Path(root) / META_FILE
    if not p.is_file():
        return False
    try:
        meta = json.loads(p.read_text())
    except json.JSONDecodeError:
        return False
    want = json.loads(json.dumps((cfg or SynthConfig()).to_dict()))
    got = dict(meta.get("config", {}))
    got.pop("num_workers", None)
    want.pop("num_workers", None)
    return meta.get("format_version") == FORMAT_VERSION and got == want
