"""Scale of the packed store (issue 17, section 4): packing, size, random access, memory, DDP.

    python benchmarks/bench_scale.py --world /work/cache/skel60 --sizes 1000 3000 10000 \\
        --work /work/cache/capture/scale [--world-for 30000=/work/cache/capture/world30k] [--skip-ddp]

For each size N, the first N samples of a skeleton world (``mmfusion synth-skeleton``: NTU
``.skeleton`` files, 32-100 frames, 1-2 bodies) are packed with ``mmfusion prepare --modalities
skeleton`` (a store already packed there by this script is reused with its recorded time), then,
each in a fresh process so that memory figures are the process's own:

* **pack**: wall time of ``mmfusion prepare`` (one process; includes start-up, so the slope
  between sizes is the per-sample cost), store size (shards + ``index.json``);
* **open**: ``PackedStore(path)`` (read + validate ``index.json``) and the Python heap it holds;
* **access**: random ``NTUDataset`` samples/s through a shuffled ``DataLoader`` (batch 32) with
  0, 1 and 2 worker processes; the store was just written, so its pages are in the page cache
  (warm reads; a cold disk adds its own latency);
* **train memory**: a training process (``stgcn_tiny``, AdamW, batch 16, 15 steps, 0 workers):
  the anonymous memory the opened data set adds (its index), VmHWM (peak RSS) and, at the end,
  RssAnon (the process's own memory: index, model, activations) and the resident pages of the
  mapped store files (``/proc/self/smaps``; page cache, shared between processes, reclaimable);
* **DDP** (largest size only): the engine's ``train`` over 1 and 2 CPU processes (accelerate's
  debug launcher, gloo), one epoch over the same 512 samples: samples/s of the whole run and in
  the steady state (first to last optimizer step).

Prints the tables and writes ``benchmarks/results/scale.json``; the extrapolation to NTU-120
(114,480) and Kinetics-skeleton (~240,000) is a linear fit over the measured sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TARGETS = {"NTU-120": 114_480, "Kinetics-skeleton": 240_000}


def _status(pid: int | str = "self") -> dict[str, int]:
    """VmRSS / VmHWM / RssAnon / RssFile of a process in KiB (Linux /proc)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, val = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
            out[key] = int(val.split()[0])
    return out


def _mapped_kib(prefix: str) -> int:
    """Resident KiB of this process's mappings of files under ``prefix`` (the store's shards)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5 and ":" in head[3]:  # a mapping's header line
            inside = len(head) >= 6 and head[5].startswith(prefix)
        elif inside and line.startswith("Rss:"):
            total += int(head[1])
    return total


def _dataset(store: str) -> Any:
    from mmfusion.data.dataset import NTUDataset

    return NTUDataset(store=store, modalities=("skeleton",), split="all", clip_len=32)


# --------------------------------------------------------------------------------------------- children


def child_open(store: str) -> dict[str, Any]:
    import tracemalloc

    from mmfusion.data.packed import PackedStore
    from mmfusion.data.store_index import load_index

    # the index as plain dicts (json.load, what PackedStore held before CompactEntries)
    tracemalloc.start()
    t0 = time.perf_counter()
    plain = {e["name"]: e for e in load_index(store)["samples"]}
    plain_s = time.perf_counter() - t0
    plain_heap = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del plain
    before = _status()
    tracemalloc.start()
    t0 = time.perf_counter()
    s = PackedStore(store)
    dt = time.perf_counter() - t0
    heap = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    t0 = time.perf_counter()
    PackedStore(store)
    dt2 = time.perf_counter() - t0
    after = _status()
    return {"samples": len(s), "open_s": dt2, "open_traced_s": dt, "index_heap_mb": heap / 2**20,
            "dict_index_heap_mb": plain_heap / 2**20, "json_load_s": plain_s,
            "index_bytes_per_sample": heap / max(len(s), 1), "rss_delta_mb": (after["VmRSS"] - before["VmRSS"]) / 1024}


def child_access(store: str, workers: int, batches: int) -> dict[str, Any]:
    import torch
    from torch.utils.data import DataLoader

    from mmfusion.data.dataset import collate

    torch.set_num_threads(1)
    ds = _dataset(store)
    loader = DataLoader(ds, batch_size=32, shuffle=True, num_workers=workers, collate_fn=collate,
                        generator=torch.Generator().manual_seed(0))
    it = iter(loader)
    next(it)  # warm-up: worker start, first maps
    n, t0 = 0, time.perf_counter()
    for _ in range(batches):
        n += len(next(it)["label"])
    return {"workers": workers, "samples_per_s": n / (time.perf_counter() - t0)}


def child_train_memory(store: str, steps: int) -> dict[str, Any]:
    import torch
    from torch.utils.data import DataLoader

    import mmfusion
    from mmfusion.data.dataset import collate

    torch.set_num_threads(1)
    torch.manual_seed(0)
    base = _status()
    ds = _dataset(store)
    opened = _status()
    model = mmfusion.create_model("stgcn_tiny", num_classes=60)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loader = DataLoader(ds, batch_size=16, shuffle=True, num_workers=0, collate_fn=collate,
                        generator=torch.Generator().manual_seed(0))
    t0 = time.perf_counter()
    for k, batch in enumerate(loader):
        if k == steps:
            break
        loss = torch.nn.functional.cross_entropy(model({"skeleton": batch["skeleton"]})["logits"], batch["label"])
        opt.zero_grad()
        loss.backward()
        opt.step()
    dt = time.perf_counter() - t0
    end = _status()
    mb = 1 / 1024
    return {"samples": len(ds), "rss_after_import_mb": base["VmRSS"] * mb,
            "dataset_open_mb": (opened["RssAnon"] - base["RssAnon"]) * mb, "peak_rss_mb": end["VmHWM"] * mb,
            "rss_anon_mb": end["RssAnon"] * mb, "store_pages_mb": _mapped_kib(str(Path(store).resolve())) * mb,
            "train_samples_per_s": steps * 16 / dt}


def _ddp_worker(store: str, out: str, n: int) -> None:
    import torch
    from accelerate.state import PartialState
    from torch.utils.data import Subset

    from mmfusion.engine import TrainConfig, train

    PartialState._reset_state()
    torch.set_num_threads(1)
    ds = _dataset(store)
    sub = Subset(ds, np.random.default_rng(0).permutation(len(ds))[:n].tolist())
    sub.classes, sub.class_names, sub.modalities = ds.classes, ds.class_names, ds.modalities  # type: ignore[attr-defined]
    cfg = TrainConfig(epochs=1, batch_size=16, lr=0.01, cpu=True, output_dir=out, keep_last=0, overwrite=True,
                      log_every=1000, threads=1)
    stamps: list[float] = []

    def on_step(info: Any) -> None:
        if info.event == "step":
            stamps.append(time.perf_counter())

    t0 = time.perf_counter()
    train(cfg, "stgcn_tiny", sub, None, model_kwargs={"num_classes": 60}, callbacks=[on_step])
    dt = time.perf_counter() - t0
    state = PartialState()
    if state.is_main_process:
        # steady state: from the first optimizer step to the last (set-up, first batches and saving excluded)
        steady = (len(stamps) - 1) * 16 * state.num_processes / (stamps[-1] - stamps[0])
        Path(out, "timing.json").write_text(json.dumps({"processes": state.num_processes, "seconds": dt,
                                                        "steps": len(stamps), "steady": steady}))


def child_ddp(store: str, processes: int, n: int, out: str) -> dict[str, Any]:
    from accelerate import debug_launcher

    os.environ["OMP_NUM_THREADS"] = "1"
    if processes == 1:
        _ddp_worker(store, out, n)
    else:
        debug_launcher(_ddp_worker, args=(store, out, n), num_processes=processes)
    rec = json.loads(Path(out, "timing.json").read_text())
    return {"processes": processes, "samples": n, "steps": rec["steps"], "run s": rec["seconds"],
            "run samples/s": n / rec["seconds"], "steady samples/s": rec["steady"]}


CHILDREN = {"open": child_open, "access": child_access, "memory": child_train_memory, "ddp": child_ddp}


def _child(kind: str, *args: Any) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; returns its JSON result."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    code = (f"import sys, json; sys.path.insert(0, {str(HERE)!r}); import bench_scale as b; "
            f"print('RESULT' + json.dumps(b.CHILDREN[{kind!r}](*{list(args)!r})))")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")]
    if proc.returncode or not lines:
        raise RuntimeError(f"{kind} {args} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return json.loads(lines[-1][6:])


# --------------------------------------------------------------------------------------------- driver


def pack(world: Path, out: Path, n: int, workers: int) -> dict[str, Any]:
    rec_path = out / "bench_pack.json"
    if rec_path.is_file() and (out / "index.json").is_file():
        return json.loads(rec_path.read_text())
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "mmfusion.cli", "prepare", str(world), str(out), "--modalities", "skeleton",
           "--limit", str(n), "--no-progress", "--overwrite", "--workers", str(workers)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"prepare failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    shards = sum(p.stat().st_size for p in (out / "shards").glob("*.bin"))
    rec = {"samples": n, "pack_s": dt, "workers": workers, "shards_mb": shards / 2**20,
           "index_mb": (out / "index.json").stat().st_size / 2**20, "prepare_output": proc.stdout.strip()[-400:]}
    rec_path.write_text(json.dumps(rec))
    return rec


def _slope(xs: list[float], ys: list[float]) -> tuple[float, float]:
    a, b = np.polyfit(np.asarray(xs, float), np.asarray(ys, float), 1)
    return float(a), float(b)


def main(argv: list[str] | None = None) -> int:
    from common import print_table, write_results

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--world", required=True, help="skeleton world (nturgb+d_skeletons/) to take the first N samples of")
    p.add_argument("--world-for", nargs="*", default=[], metavar="N=PATH",
                   help="take size N from another (larger) world instead")
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000, 10000])
    p.add_argument("--work", required=True, help="folder for the stores (one sub-folder per size)")
    p.add_argument("--pack-workers", type=int, default=1)
    p.add_argument("--batches", type=int, default=30, help="random-access batches (x 32 samples) per measurement")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=15, help="training steps of the memory measurement")
    p.add_argument("--ddp-samples", type=int, default=512)
    p.add_argument("--skip-ddp", action="store_true")
    p.add_argument("--ddp-only", action="store_true", help="only the DDP measurement (stores already packed)")
    args = p.parse_args(argv)
    worlds = {int(k): Path(v) for k, v in (s.split("=", 1) for s in args.world_for)}
    work = Path(args.work)
    rows, mem_rows, acc_rows = [], [], []
    for n in [] if args.ddp_only else args.sizes:
        out = work / f"n{n}"
        pk = pack(worlds.get(n, Path(args.world)), out, n, args.pack_workers)
        op = _child("open", str(out))
        rows.append({"samples": n, "pack s": pk["pack_s"], "shards MB": pk["shards_mb"], "index MB": pk["index_mb"],
                     "open s": op["open_s"], "index heap MB": op["index_heap_mb"],
                     "heap B/sample": op["index_bytes_per_sample"],
                     "dict index heap MB (before)": op["dict_index_heap_mb"]})
        for w in args.workers:
            acc_rows.append({"samples": n, **_child("access", str(out), w, args.batches)})
        mem_rows.append(_child("memory", str(out), args.steps))
        print(f"done {n}: {rows[-1]} {acc_rows[-len(args.workers):]} {mem_rows[-1]}", flush=True)
    ddp_rows = []
    if not args.skip_ddp:
        biggest = work / f"n{max(args.sizes)}"
        for procs in (1, 2):
            ddp_rows.append(_child("ddp", str(biggest), procs, args.ddp_samples, str(work / f"ddp{procs}")))
    print_table(rows, "packing, size, opening (skeleton-only stores)")
    print_table(acc_rows, "random access, NTUDataset skeleton clip_len 32, DataLoader batch 32")
    print_table(mem_rows, "training process memory (stgcn_tiny, 0 workers)")
    if ddp_rows:
        print_table(ddp_rows, "engine train(), 1 vs 2 CPU processes (gloo)")
    proj = []
    ns = [r["samples"] for r in rows]
    if len(ns) >= 2:
        fits = {"pack s": _slope(ns, [r["pack s"] for r in rows]),
                "store MB": _slope(ns, [r["shards MB"] + r["index MB"] for r in rows]),
                "open s": _slope(ns, [r["open s"] for r in rows]),
                "index heap MB": _slope(ns, [r["index heap MB"] for r in rows]),
                "dict index heap MB (before)": _slope(ns, [r["dict index heap MB (before)"] for r in rows]),
                "index RssAnon MB": _slope(ns, [r["dataset_open_mb"] for r in mem_rows])}
        for name, target in TARGETS.items():
            proj.append({"target": name, "samples": target,
                         **{k: a * target + b for k, (a, b) in fits.items()}})
        print_table(proj, "projected (linear fit over the measured sizes)")
    if args.ddp_only:
        write_results("scale_ddp", {"ddp": ddp_rows, "store": str(work / f"n{max(args.sizes)}")})
        return 0
    write_results("scale", {"pack": rows, "access": acc_rows, "memory": mem_rows, "ddp": ddp_rows,
                            "projected": proj, "sizes": args.sizes})
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(main())
