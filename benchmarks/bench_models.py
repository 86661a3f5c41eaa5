"""Every registered model: params, MACs, CPU latency, training throughput, peak memory, FLOP utilisation.

For each name of ``mmfusion.list_models()`` (filtered by ``--models``), at the input of its
registered config (``mmfusion.get_model_cfg``; size "demo" for the ``test``-tagged CPU variants,
"paper" for the others; ``--quick``: demo only), one worker subprocess measures, in this order:

* params: of the model as benchmarked (classifiers with their 60 / 10-class head);
* MACs: ``FlopCounterMode`` FLOPs / 2 of one batch-1 forward in eval mode (see ``flops.py``:
  convolutions, matmuls, attention incl. the CPU kernel; no elementwise, norms, grid_sample,
  gathers, FPS);
* latency: median wall time of a batch-1 ``no_grad`` eval forward;
* training: median time of forward + backward + SGD(momentum) step at ``train_batch``
  (train mode), reported as samples/s; its FLOPs are counted by ``FlopCounterMode`` over
  forward + backward at that batch, so utilisation = (FLOPs / step time) / fp32 GEMM peak
  (``results/gemm.json``; run ``bench_gemm.py`` first, else it is measured here);
* peak memory: the process's resident-set high-water mark (``VmHWM``) minus its resident set
  at the start of the phase, with the mark reset (``/proc/self/clear_refs`` = 5) and
  ``malloc_trim`` run before each phase; inference at batch 1, training at ``train_batch``
  (weights, gradients, optimizer state and activations created in the phase).

Models registered without a config are listed as "no input spec".

    OMP_NUM_THREADS=2 python benchmarks/bench_models.py [--quick] [--models 'xshift*'] [--min-time 1]
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fnmatch
import gc
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
from common import RESULTS, print_table, write_results

HERE = Path(__file__).resolve().parent


MIN_ITERS = 3  # timed calls per measurement at least (``--min-iters``)


def timeit2(fn: Any, warmup: int = 1, min_time: float = 0.5, max_iters: int = 1000) -> tuple[float, float]:
    """Median (wall, process CPU) seconds per call; CPU time is what this process got, so on a
    shared machine it is far less inflated by the other jobs than wall time (1 thread)."""
    for _ in range(warmup):
        fn()
    walls: list[float] = []
    cpus: list[float] = []
    start = time.perf_counter()
    while (time.perf_counter() - start < min_time or len(walls) < MIN_ITERS) and len(walls) < max_iters:
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return sorted(walls)[len(walls) // 2], sorted(cpus)[len(cpus) // 2]


# -- memory --------------------------------------------------------------------------------------

def _status_kib(field: str) -> int:
    text = Path("/proc/self/status").read_text()
    m = re.search(rf"^{field}:\s+(\d+)\s+kB", text, re.M)
    return int(m.group(1)) if m else 0


def _phase_start() -> int:
    """Free what can be freed, reset the RSS high-water mark; returns the RSS (KiB) now."""
    gc.collect()
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    with contextlib.suppress(OSError):  # Linux >= 4.0; elsewhere the peak is the process's
        Path("/proc/self/clear_refs").write_text("5")
    return _status_kib("VmRSS")


def _phase_peak_mib(start_kib: int) -> float:
    return max(0, _status_kib("VmHWM") - start_kib) / 1024


# -- worker --------------------------------------------------------------------------------------

def measure(name: str, size: str, min_time: float) -> dict[str, Any]:
    """All figures of one model at one size (runs inside the worker process)."""
    import flops
    from common import get_spec

    import mmfusion

    spec = get_spec(name, size)
    assert spec is not None
    torch.manual_seed(0)
    row: dict[str, Any] = {"model": name, "size": size, "input": spec.describe(), "train_batch": spec.train_batch,
                           "note": spec.note}

    # inference: batch 1, eval, no_grad
    x1 = spec.batch(1)
    start = _phase_start()
    model = mmfusion.create_model(name, **spec.kwargs).eval()
    row["params"] = sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        wall, cpu = timeit2(lambda: spec.run(model, x1), warmup=1, min_time=min_time, max_iters=200)
    row["latency_ms"], row["latency_cpu_ms"] = wall * 1e3, cpu * 1e3
    row["cpu_share_latency"] = cpu / (wall * torch.get_num_threads())
    row["infer_peak_MiB"] = _phase_peak_mib(start)
    # counted with autograd on: FlopCounterMode's module tracker trips over some no_grad graphs
    # (deform3d); the count is the same
    fwd_flops, per_op = flops.count_flops(lambda: spec.run(model, x1))
    row["GMACs"] = fwd_flops / 2e9
    row["fwd_flops_by_op"] = per_op

    # training: forward + backward + SGD step at train_batch
    xb = spec.batch(spec.train_batch, seed=1)
    del model
    start = _phase_start()
    model = mmfusion.create_model(name, **spec.kwargs).train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = spec.train_loss(model, spec.run(model, xb), xb)
        loss.backward()
        opt.step()

    sec, cpu = timeit2(step, warmup=1, min_time=min_time, max_iters=50)
    row["train_step_cpu_ms"] = cpu * 1e3
    row["cpu_share_train"] = cpu / (sec * torch.get_num_threads())
    row["train_peak_MiB"] = _phase_peak_mib(start)
    row["train_step_ms"] = sec * 1e3
    row["train_samples_s"] = spec.train_batch / sec

    def fwd_bwd() -> None:
        opt.zero_grad(set_to_none=True)
        spec.train_loss(model, spec.run(model, xb), xb).backward()

    train_flops, _ = flops.count_flops(fwd_bwd)
    row["train_GFLOP_step"] = train_flops / 1e9
    row["train_GFLOP_s"] = train_flops / sec / 1e9
    # per thread-second of CPU actually received (equals train_GFLOP_s on an idle machine, 1 thread)
    row["train_GFLOP_cpu_s"] = train_flops / (cpu / torch.get_num_threads()) / 1e9 if cpu > 0 else None
    return row


def _cpu_busy(window: float = 2.0) -> float:
    """Cores busy (all processes) over ``window`` seconds, from /proc/stat; -1 where unreadable."""
    def sample() -> tuple[int, int]:
        vals = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
        return sum(vals), idle

    try:
        t0, i0 = sample()
        time.sleep(window)
        t1, i1 = sample()
    except (OSError, ValueError, IndexError):
        return -1.0
    total = max(t1 - t0, 1)
    return (os.cpu_count() or 1) * (1 - (i1 - i0) / total)


def wait_for_quiet(max_busy: float, max_wait: float) -> float:
    """Wait (at most ``max_wait`` s) until the other processes keep fewer than ``max_busy`` cores busy
    (measured while this one is idle). On a machine shared with other jobs a 2-thread OpenMP
    region mostly waits for the busy core; this keeps each measurement to a quiet moment.
    Returns the busy cores seen last.
    """
    t0 = time.monotonic()
    busy = _cpu_busy()
    while busy >= max_busy and time.monotonic() - t0 < max_wait:
        time.sleep(3)
        busy = _cpu_busy()
    return busy


def worker(names: list[str], sizes: list[str], min_time: float, out: Path, max_load: float = 0.0,
           max_wait: float = 0.0) -> None:
    """Measure ``names`` x ``sizes`` (where a spec exists) in this process; rows are written after
    each measurement, so a crash keeps what was done."""
    from common import get_spec

    rows = []
    for name in names:
        for size in sizes:
            if get_spec(name, size) is None:
                continue
            attempts = 3 if max_load > 0 else 1
            for attempt in range(attempts):
                load = wait_for_quiet(max_load, max_wait) if max_load > 0 else _cpu_busy(1.0)
                t0 = time.perf_counter()
                try:
                    row = measure(name, size, min_time)
                except Exception as exc:  # a broken model must not stop the others; the error is reported
                    row = {"model": name, "size": size, "error": f"{type(exc).__name__}: {exc}"[:300]}
                row["wall_s"] = time.perf_counter() - t0
                row["attempts"] = attempt + 1
                # preempted by another job: our threads got less CPU than wall time x threads
                if "error" in row or min(row["cpu_share_latency"], row["cpu_share_train"]) >= 0.85:
                    break
            row["busy_cores_before"], row["load_avg_after"] = load, os.getloadavg()[0]
            rows.append(row)
            out.write_text(json.dumps(rows))


# -- driver --------------------------------------------------------------------------------------

def gemm_peak() -> float:
    """fp32 GEMM GFLOP/s at this thread count: ``results/gemm.json`` if it was taken with as many
    threads, else measured now (2048^2 matmul, ~5 s)."""
    path = RESULTS / "gemm.json"
    if path.exists():
        data = json.loads(path.read_text())
        if data.get("machine", {}).get("threads") == torch.get_num_threads():
            return float(data["peak_gflops"]["float32"])
    import bench_gemm

    return max(bench_gemm.gemm_gflops(n, torch.float32) for n in (1024, 2048))


def gemm_peak_cpu(n: int = 2048) -> float:
    """fp32 GEMM GFLOP/s per thread-second of CPU received (the peak for ``train_GFLOP_cpu_s``)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    _, cpu = timeit2(lambda: torch.mm(a, b), warmup=2, min_time=1.0)
    return 2 * n**3 / (cpu / torch.get_num_threads()) / 1e9


def run_worker(names: list[str], sizes: list[str], min_time: float, timeout: float,
               quiet: tuple[float, float] = (0.0, 0.0)) -> list[dict[str, Any]]:
    """One subprocess for ``names``; models it did not report (crash, timeout) get an error row."""
    from common import get_spec

    out = RESULTS / f".bench_models_{os.getpid()}_{names[0]}.json"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", ",".join(names), "--sizes", ",".join(sizes),
           "--min-time", str(min_time), "--min-iters", str(MIN_ITERS), "--out", str(out),
           "--max-load", str(quiet[0]), "--max-wait", str(quiet[1])]
    error = ""
    try:
        proc = subprocess.run(cmd, cwd=HERE, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            error = f"worker exit {proc.returncode}: {tail[0][:200]}"
    except subprocess.TimeoutExpired:
        error = f"timeout after {timeout:.0f} s"
    rows = json.loads(out.read_text()) if out.exists() else []
    out.unlink(missing_ok=True)
    done = {(r["model"], r["size"]) for r in rows}
    rows += [{"model": n, "size": s, "error": error or "not measured"} for n in names for s in sizes
             if get_spec(n, s) is not None and (n, s) not in done]
    return rows


def main() -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="demo sizes only")
    parser.add_argument("--models", default="*", help="shell pattern over registered names, e.g. 'xshift*'")
    parser.add_argument("--min-time", type=float, default=1.0, help="seconds of timing per measurement")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per worker process")
    parser.add_argument("--group", type=int, default=1,
                        help="models per worker process (1: full isolation; more saves start-up time)")
    parser.add_argument("--max-load", type=float, default=0.0,
                        help="before each measurement wait until other processes keep fewer than this many cores "
                             "busy (e.g. 0.3; 0: never wait)")
    parser.add_argument("--max-wait", type=float, default=900.0, help="longest wait for --max-load, seconds")
    parser.add_argument("--min-iters", type=int, default=3, help="timed calls per measurement at least")
    parser.add_argument("--budget", type=float, default=0.0,
                        help="seconds for the whole run (0: none); models not started within it are listed as "
                             "'skipped: time budget' and a running worker is stopped at the budget's end")
    parser.add_argument("--update", default=None,
                        help="results file (e.g. models.json) whose rows of the measured models/sizes are replaced "
                             "by this run's; utilisation uses that file's GEMM peaks so its rows stay comparable")
    parser.add_argument("--name", default=None, help="results file name (default: models or models_quick)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default="paper,demo", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    global MIN_ITERS
    MIN_ITERS = max(1, args.min_iters)
    if args.worker:
        worker(args.worker.split(","), args.sizes.split(","), args.min_time, Path(args.out), args.max_load,
               args.max_wait)
        return []

    from common import get_spec

    import mmfusion

    base = json.loads((RESULTS / args.update).read_text()) if args.update else None
    if base is not None:
        peak, peak_cpu = base["gemm_peak_gflops_fp32"], base["gemm_peak_gflops_fp32_cpu_time"]
    else:
        peak, peak_cpu = gemm_peak(), gemm_peak_cpu()
    print(f"fp32 GEMM peak: {peak:.0f} GFLOP/s (wall), {peak_cpu:.0f} GFLOP/s per CPU-thread-second", flush=True)
    names = [n for n in mmfusion.list_models() if fnmatch.fnmatch(n, args.models)]
    sizes = ["demo"] if args.quick else ["paper", "demo"]
    rows: list[dict[str, Any]] = []
    t_start = time.perf_counter()
    load0 = os.getloadavg()
    todo: list[str] = []
    for name in names:
        if not any(get_spec(name, s) is not None for s in sizes):
            reason = "no input spec (registered without a cfg)" if get_spec(name, "paper") is None and \
                get_spec(name, "demo") is None else "no spec at this size"
            rows.append({"model": name, "size": ",".join(sizes), "error": reason})
            print(f"  {name}: {reason}", flush=True)
        else:
            todo.append(name)
    group = max(1, args.group)
    name = args.name or ("models_quick" if args.quick else "models")
    if args.models != "*" and args.name is None and base is None:
        name += "_" + re.sub(r"[^A-Za-z0-9]+", "_", args.models).strip("_")
    command = (f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} python benchmarks/bench_models.py "
               + " ".join(sys.argv[1:]))

    def save(final: bool) -> Path:
        """Write what is measured so far (after each worker: a stopped run keeps its rows)."""
        order = {n: i for i, n in enumerate(names)}
        rows.sort(key=lambda r: (order.get(r["model"], -1), r.get("size", "")))
        if base is not None:
            done = {(r["model"], r.get("size")) for r in rows}
            merged = [r for r in base["rows"] if (r["model"], r.get("size")) not in done] + rows
            merged.sort(key=lambda r: (r["model"], r.get("size", "")))
            updates = [u for u in base.get("updates", []) if u.get("command") != command or final]
            payload = {**{k: v for k, v in base.items() if k not in ("machine", "rows", "updates")},
                       "updates": [*updates, {"command": command, "load_avg_start": load0,
                                              "load_avg_end": os.getloadavg(), "rows": sorted(done),
                                              "at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}],
                       "rows": merged}
            return write_results(Path(args.update).stem, payload)
        return write_results(name, {
            "command": command, "gemm_peak_gflops_fp32": peak, "gemm_peak_gflops_fp32_cpu_time": peak_cpu,
            "load_avg_start": load0, "load_avg_end": os.getloadavg(), "wall_s": time.perf_counter() - t_start,
            "complete": final,
            "note": "MACs = FlopCounterMode FLOPs/2 (conv, matmul, attention incl. CPU SDPA); memory = VmHWM delta",
            "rows": rows})

    for i in range(0, len(todo), group):
        names_i = todo[i:i + group]
        timeout = args.timeout * len(names_i) + (args.max_wait * 2 * group if args.max_load else 0)
        if args.budget > 0:
            left = args.budget - (time.perf_counter() - t_start)
            if left < 5:
                for n in names_i:
                    rows += [{"model": n, "size": s, "error": f"skipped: time budget ({args.budget:.0f} s) spent"}
                             for s in sizes if get_spec(n, s) is not None]
                print(f"  {', '.join(names_i)}: skipped (time budget)", flush=True)
                continue
            timeout = min(timeout, left)
        for row in run_worker(names_i, sizes, args.min_time, timeout, (args.max_load, args.max_wait)):
            if "error" not in row:
                row["util_%"] = 100 * row["train_GFLOP_s"] / peak
                if row.get("train_GFLOP_cpu_s"):
                    row["util_cpu_%"] = 100 * row["train_GFLOP_cpu_s"] / peak_cpu
                print(f"  {row['model']} [{row['size']}] {row['input']}: {row['params']:,} params, "
                      f"{row['GMACs']:.3f} GMACs, {row['latency_ms']:.1f} ms, train {row['train_samples_s']:.2f} "
                      f"samples/s ({row['util_%']:.1f} % of fp32 peak), mem {row['infer_peak_MiB']:.0f}/"
                      f"{row['train_peak_MiB']:.0f} MiB  [{row['wall_s']:.0f} s, other load "
                      f"{row['busy_cores_before']:.2f} cores]", flush=True)
            else:
                print(f"  {row['model']} [{row['size']}]: ERROR {row['error']}", flush=True)
            rows.append(row)
        save(final=False)
    path = save(final=True)

    cols = ("model", "size", "input", "params", "GMACs", "latency_ms", "train_batch", "train_samples_s",
            "train_GFLOP_s", "util_%", "util_cpu_%", "infer_peak_MiB", "train_peak_MiB")
    table = [{c: r.get(c, r.get("error") if c == "input" else None) for c in cols} for r in rows]
    title = (f"Models on CPU ({torch.get_num_threads()} threads; fp32 GEMM peak {peak:.0f} GFLOP/s; "
             f"latency batch 1 eval; training fwd+bwd+SGD)")
    print_table(table, title)
    print(f"wrote {path}")
    return rows


if __name__ == "__main__":
    main()
