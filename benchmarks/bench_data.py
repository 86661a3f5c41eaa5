"""Data path throughput (items/s) and the loader's share of a demo training step.

Stages, on the real sample files of ``/work/shared/real_samples`` (``--real DIR``) where present,
else on synthetic data:

* skeleton parse: ``read_skeleton`` of NTU ``.skeleton`` text files (files/s and frames/s);
* depth PNG decode: ``read_depth_png`` of 512x424 16-bit masked depth frames (frames/s);
* clip decode: ``read_video`` (decord, 1 thread) of a whole AVI, and of random sorted 16-frame
  clips of it (clips/s); the synthetic world's RGB / IR AVIs too when they exist;
* depth -> point cloud: ``depth_to_points`` (open3d and numpy back ends) and ``sample_points``
  to 2048 / 512 points, random and farthest-point sampling (frames/s);
* the loader: a short ``make demo`` training run (M-Mixer-tiny on the cached synthetic world:
  ``recipes/mmixer_ntu.py`` data settings, batch 16, AdamW), timing the wait in ``next(loader)``
  against forward + backward + step, with 0 and 2 DataLoader workers.

    OMP_NUM_THREADS=2 python benchmarks/bench_data.py [--quick] [--real DIR] [--steps 12]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import print_table, write_results

REPO = Path(__file__).resolve().parents[1]
REAL = Path(os.environ.get("MMFUSION_REAL_SAMPLES", "/work/shared/real_samples"))


MIN_CALLS = 2  # timed calls per rate at least (1 in --quick mode)


LAST_CPU_RATE: list[float] = [float("nan")]  # items per CPU-second of the last rate() call


def rate(fn: Callable[[], int], min_time: float = 1.0, max_iters: int = 200) -> tuple[float, int]:
    """(items/s wall, calls): ``fn`` returns how many items it handled; one warm-up call first.
    Items per second of process CPU time go to ``LAST_CPU_RATE`` (``row`` records them): on a
    shared machine that is what the stage costs, the wall rate also says how much CPU we got."""
    fn()
    items, calls = 0, 0
    t0, c0 = time.perf_counter(), time.process_time()
    while (time.perf_counter() - t0 < min_time or calls < MIN_CALLS) and calls < max_iters:
        items += fn()
        calls += 1
    cpu = time.process_time() - c0
    LAST_CPU_RATE[0] = items / cpu if cpu > 0 else float("nan")
    return items / (time.perf_counter() - t0), calls


def row(stage: str, what: str, unit: str, per_s: float, source: str, **extra: Any) -> dict[str, Any]:
    cpu_rate = LAST_CPU_RATE[0]
    LAST_CPU_RATE[0] = float("nan")
    r = {"stage": stage, "what": what, "unit": unit, "items/s": per_s, "ms/item": 1e3 / per_s if per_s else None,
         "items/cpu_s": cpu_rate, "source": source}
    r.update(extra)
    print(f"  {stage:14s} {what:44s} {per_s:10.1f} {unit}/s wall, {cpu_rate:10.1f} per CPU-s  ({source})",
          flush=True)
    return r


# -- stages ----------------------------------------------------------------------------------------

def bench_skeleton(real: Path, tmp: Path, min_time: float) -> list[dict[str, Any]]:
    from mmfusion.data.formats.skeleton import SkeletonSequence, read_skeleton, write_skeleton

    files = sorted((real / "ntu" / "nturgbd_skeletons").glob("*.skeleton")) if real.is_dir() else []
    source = f"{len(files)} real NTU files"
    if not files:  # synthetic: 2 bodies x 100 frames of random joints
        rng = np.random.default_rng(0)
        seq = SkeletonSequence.from_arrays(rng.normal(size=(2, 100, 25, 3)).astype(np.float32))
        files = [write_skeleton(tmp / "S001C001P001R001A001.skeleton", seq)]
        source = "synthetic 2x100-frame file"
    frames = sum(read_skeleton(f).num_frames for f in files)
    per_s, _ = rate(lambda: [read_skeleton(f) for f in files] and len(files), min_time)
    return [row("skeleton", "read_skeleton (text -> arrays)", "files", per_s, source,
                frames_per_s=per_s * frames / len(files))]


def _depth_frames(real: Path, tmp: Path) -> tuple[list[Path], str]:
    from mmfusion.data.formats.depth import write_depth_png

    folder = real / "ntu" / "nturgb+d_depth_masked" / "S001C001P001R001A058"
    files = sorted(folder.glob("MDepth-*.png")) if folder.is_dir() else []
    if files:
        return files, f"{len(files)} real masked 512x424 frames"
    yy, xx = np.mgrid[:424, :512]
    out = []
    for i in range(8):  # a person-sized blob at ~3 m on an empty (masked) background
        blob = ((yy - 212) / 150.0) ** 2 + ((xx - 256 - 4 * i) / 60.0) ** 2 < 1
        out.append(write_depth_png(tmp / f"MDepth-{i:08d}.png", np.where(blob, 3000 + (yy % 50), 0).astype(np.uint16)))
    return out, "synthetic 512x424 person blob"


def bench_depth(real: Path, tmp: Path, min_time: float, quick: bool) -> list[dict[str, Any]]:
    from mmfusion.data.formats.depth import read_depth_png
    from mmfusion.data.pointcloud import depth_to_points, sample_points

    files, source = _depth_frames(real, tmp)
    rows = [row("depth PNG", "read_depth_png 512x424 uint16", "frames",
                rate(lambda: [read_depth_png(f) for f in files] and len(files), min_time)[0], source)]
    frames = [read_depth_png(f) for f in files[:8]]
    npts = int(np.mean([np.count_nonzero(d) for d in frames]))
    for backend in ("open3d", "numpy"):
        try:
            per_s = rate(lambda b=backend: [depth_to_points(d, backend=b) for d in frames] and len(frames),
                         min_time)[0]
        except Exception as exc:  # open3d may be unavailable (libusb)
            print(f"  depth_to_points[{backend}] skipped: {exc}")
            continue
        rows.append(row("points", f"depth_to_points ({backend}), ~{npts} valid px", "frames", per_s, source))
    clouds = [depth_to_points(d) for d in frames]
    rng = np.random.default_rng(0)
    for method in ("random", "fps"):
        for n in ((2048,) if quick else (2048, 512)):
            subset = clouds[:1 if quick else 2] if method == "fps" else clouds
            per_s = rate(lambda m=method, k=n, c=subset: [sample_points(p, k, m, rng) for p in c] and len(c),
                         min_time, max_iters=20)[0]
            rows.append(row("points", f"sample_points {method} -> {n} of ~{npts}", "frames", per_s, source))
    return rows


def bench_video(real: Path, tmp: Path, min_time: float) -> list[dict[str, Any]]:
    from mmfusion.data.formats.video import read_video, video_num_frames, write_video

    videos: list[tuple[Path, str, bool]] = []
    avi = real / "ntu" / "nturgb+d_rgb" / "S001C001P001R001A001_rgb.avi"
    if avi.is_file():
        videos.append((avi, "real NTU RGB clip (re-encoded)", False))
    synth = REPO / ".cache" / "mmfusion" / "synth_ntu"
    for sub, gray in (("nturgb+d_rgb", False), ("nturgb+d_ir", True)):
        found = sorted((synth / sub).glob("*.avi"))[:1] if (synth / sub).is_dir() else []
        for f in found:
            videos.append((f, f"synthetic world {sub.split('_')[-1]} (ffv1)", gray))
    if not videos:
        rng = np.random.default_rng(0)
        frames = rng.integers(0, 255, (64, 240, 320, 3), dtype=np.uint8)
        videos.append((write_video(tmp / "clip_rgb.avi", frames), "synthetic 64x240x320 ffv1", False))
    rows = []
    rng = np.random.default_rng(0)
    for path, source, gray in videos:
        n = video_num_frames(path)
        shape = read_video(path, [0], gray=gray).shape[1:3]
        what = f"{path.suffix[1:]} {shape[1]}x{shape[0]}, {n} frames"
        rows.append(row("clip decode", f"read_video all frames, {what}", "frames",
                        rate(lambda p=path, g=gray: len(read_video(p, gray=g)), min_time, max_iters=20)[0], source))
        k = min(16, n)

        def clip(p: Path = path, g: bool = gray, total: int = n, k: int = k) -> int:
            read_video(p, sorted(rng.choice(total, k, replace=False).tolist()), gray=g)
            return 1
        rows.append(row("clip decode", f"read_video random {k}-frame clip, {what}", "clips",
                        rate(clip, min_time, max_iters=50)[0], source))
    return rows


# -- loader vs step ------------------------------------------------------------------------------------

def _recipe() -> Any:
    spec = importlib.util.spec_from_file_location("mmixer_ntu_recipe", REPO / "recipes" / "mmixer_ntu.py")
    if spec is None or spec.loader is None:
        raise FileNotFoundError("recipes/mmixer_ntu.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while the class is built
    spec.loader.exec_module(mod)
    return mod.MMixerRecipe()


def bench_loader(steps: int, workers: tuple[int, ...]) -> list[dict[str, Any]]:
    import mmfusion
    from mmfusion.data.dataset import collate
    from mmfusion.experiments.ntu import datasets

    cfg = _recipe()
    cfg.cache_dir = str(REPO / cfg.cache_dir) if not os.path.isabs(cfg.cache_dir) else cfg.cache_dir
    t0 = time.perf_counter()
    train_set, _ = datasets(cfg, cfg.modalities)
    prep_s = time.perf_counter() - t0
    bs = cfg.train.process_batch_size(1, 1)  # one process, no accumulation: the demo's per-step batch
    rows = []
    for nw in workers:
        torch.manual_seed(0)
        model = mmfusion.create_model(cfg.model, num_classes=train_set.num_classes, modalities=cfg.modalities,
                                      content=cfg.content).train()
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
        loader = torch.utils.data.DataLoader(train_set, batch_size=bs, shuffle=True, num_workers=nw,
                                             collate_fn=collate, drop_last=True,
                                             persistent_workers=False)
        n = min(steps + 1, len(loader))
        waits, computes = [], []
        t_start = time.perf_counter()
        it = iter(loader)
        for _ in range(n):
            t0 = time.perf_counter()
            batch = next(it)
            t1 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            out = model(batch)
            loss = model.loss(out, batch["label"]) if hasattr(model, "loss") else \
                torch.nn.functional.cross_entropy(out["logits"], batch["label"])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.clip_grad)
            opt.step()
            t2 = time.perf_counter()
            waits.append(t1 - t0)
            computes.append(t2 - t1)
        total = time.perf_counter() - t_start
        del it
        # the first step pays for worker start-up and first-touch of the store; reported apart
        w, c = sum(waits[1:]), sum(computes[1:])
        frac = w / (w + c) if w + c > 0 else float("nan")
        rows.append({"stage": "loader", "what": f"{cfg.model} demo step, batch {bs}, {nw} workers",
                     "unit": "steps", "items/s": (n - 1) / (w + c), "ms/item": 1e3 * (w + c) / (n - 1),
                     "source": "cached synthetic world (packed store)", "wait_fraction": frac,
                     "wait_ms_per_step": 1e3 * w / (n - 1), "compute_ms_per_step": 1e3 * c / (n - 1),
                     "first_step_wait_ms": 1e3 * waits[0], "steps_timed": n - 1, "run_s": total,
                     "samples_per_s_loader_only": bs * (n - 1) / w if w > 0 else None})
        print(f"  loader         {nw} workers: wait {1e3 * w / (n - 1):.1f} ms / step, compute "
              f"{1e3 * c / (n - 1):.1f} ms / step -> {100 * frac:.1f} % of the step waiting "
              f"(first batch {1e3 * waits[0]:.0f} ms)", flush=True)
    rows.append({"stage": "loader", "what": "dataset preparation (generate/pack once, cached)", "unit": "s",
                 "items/s": None, "ms/item": 1e3 * prep_s, "source": cfg.cache_dir})
    return rows


def main() -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter timings, fewer cases")
    parser.add_argument("--real", default=str(REAL), help="real sample folder (default: /work/shared/real_samples)")
    parser.add_argument("--steps", type=int, default=12, help="timed training steps per loader setting")
    parser.add_argument("--workers", default="0,2", help="DataLoader worker counts to try")
    parser.add_argument("--no-loader", action="store_true", help="skip the training-loop measurement")
    args = parser.parse_args()
    min_time = 0.3 if args.quick else 1.5
    global MIN_CALLS
    MIN_CALLS = 1 if args.quick else 2
    real = Path(args.real)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        rows += bench_skeleton(real, tmp, min_time)
        rows += bench_depth(real, tmp, min_time, args.quick)
        rows += bench_video(real, tmp, min_time)
    if not args.no_loader:
        try:
            rows += bench_loader(args.steps if not args.quick else min(args.steps, 4),
                                 tuple(int(w) for w in args.workers.split(",")))
        except FileNotFoundError as exc:
            print(f"  loader: skipped ({exc} not found)")
            rows.append({"stage": "loader", "what": f"skipped: {exc} not found"})
    cols = ("stage", "what", "unit", "items/s", "ms/item", "source")
    print_table([{c: r.get(c) for c in cols} for r in rows],
                f"Data path on CPU ({torch.get_num_threads()} torch threads)")
    loader = [r for r in rows if "wait_fraction" in r]
    if loader:
        print_table([{"workers": r["what"].split(", ")[-1], "wait ms/step": r["wait_ms_per_step"],
                      "compute ms/step": r["compute_ms_per_step"], "wait %": 100 * r["wait_fraction"]}
                     for r in loader], "Training step: time waiting for the loader")
    path = write_results("data_quick" if args.quick else "data", {
        "command": f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} python benchmarks/bench_data.py "
                   + " ".join(sys.argv[1:]),
        "load_avg_start": os.getloadavg(), "real_samples": str(real) if real.is_dir() else None, "rows": rows})
    print(f"wrote {path}")
    return rows


if __name__ == "__main__":
    main()
