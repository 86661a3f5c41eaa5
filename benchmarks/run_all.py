"""Run every benchmark (each as a subprocess, quick options), print a summary, write summary.json.

    make bench                          # = python benchmarks/run_all.py
    python benchmarks/run_all.py [--full] [--only models,data] [--threads 2]

Quick mode (default) keeps the whole run under 15 minutes on a 2-core CPU, also when the machine
is shared: demo sizes only for the models, short timings, and a time budget (``--budget``, 14 min):
each job's time limit is cut to what is left of it, and the model benchmark gets its own share
(models it cannot start in time are listed as "skipped: time budget", the others keep their rows).
``--full`` also measures the paper sizes (tens of minutes, no budget).

Where results go: a ``--full`` run writes the result files the docs are made from
(``benchmarks/results/<name>.json``). A quick run leaves those alone -- it is shorter, and often
taken on a loaded machine -- and keeps its own under ``benchmarks/results/quick/`` (the scripts
write to the usual place; this driver moves the new file there and puts the previous one back).

Threads: ``--threads``, else ``OMP_NUM_THREADS``, else 2 -- or 1 when the machine is already
loaded (1-minute load average >= the core count): a 2-thread OpenMP region on a busy machine
spends most of its time waiting for its second thread, so 1 thread gets more done.
Benchmarks are never run by the test suite. Scripts that do not exist yet (written by other
parts of the project) are reported as "missing", not as failures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import RESULTS, print_table, write_results

HERE = Path(__file__).resolve().parent
QUICK = RESULTS / "quick"

# (name, script, quick args (None: full mode only), full args, results file, timeout s)
JOBS: list[tuple[str, str, list[str] | None, list[str], str, float]] = [
    ("gemm", "bench_gemm.py", [], [], "gemm", 120),
    ("models", "bench_models.py", ["--quick", "--min-time", "0.2", "--min-iters", "2", "--group", "12",
                                   "--budget", "450"], ["--min-time", "1"], "models_quick", 480),
    # the skeleton/point encoders are in bench_models' quick run too; their own script keeps its full table
    ("encoders", "bench_encoders_skeleton_points.py", None, [], "encoders_skeleton_points", 600),
    ("data", "bench_data.py", ["--quick"], [], "data_quick", 600),
    ("skeleton_parser", "bench_skeleton_parser.py", [], [], "skeleton_parser", 300),
    ("store", "bench_store.py", ["--samples", "12", "--reads", "10"], [], "store", 600),
]


def _summary(name: str, data: dict[str, Any]) -> str:
    """A few headline figures per results file (best effort: formats belong to each script)."""
    try:
        if name == "gemm":
            p = data["peak_gflops"]
            return f"fp32 {p['float32']:.0f} GFLOP/s, bf16 {p['bfloat16']:.0f} GFLOP/s"
        if name == "models":
            ok = [r for r in data["rows"] if "error" not in r]
            bad = [r for r in data["rows"] if "error" in r]
            skipped = sum("time budget" in r["error"] for r in bad)
            head = f"{len(ok)} model/size rows, {len(bad)} without figures ({skipped} skipped: time budget)"
            util = [(r.get("util_cpu_%") or 0.0, r["model"]) for r in ok]
            if util:  # CPU-time utilisation: what the wall-time one would be on an idle machine
                head += "; best utilisation {:.0f} % ({}) of the CPU-time GEMM peak".format(*max(util))
            return head
        if name == "data":
            loader = [r for r in data["rows"] if "wait_fraction" in r]
            return "; ".join(f"{r['what'].split(', ')[-1]}: {100 * r['wait_fraction']:.1f} % of the step waiting"
                             for r in loader) or f"{len(data['rows'])} rows"
        rows = data.get("rows")
        return f"{len(rows)} rows" if isinstance(rows, list) else "written"
    except (KeyError, TypeError, ValueError) as exc:
        return f"(no summary: {exc})"


def _run(cmd: list[str], env: dict[str, str], timeout: float) -> tuple[str, list[str]]:
    """Run one job in its own process group; on timeout the whole group (the job's worker
    processes too) is killed. Returns (status, last output lines)."""
    with subprocess.Popen(cmd, cwd=HERE, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          start_new_session=True) as proc:
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            return f"timeout {timeout:.0f} s", (out or "").strip().splitlines()[-3:]
    return ("ok" if proc.returncode == 0 else f"exit {proc.returncode}"), (out or "").strip().splitlines()[-3:]


def _keep_apart(res_file: Path, before: bytes | None) -> Path:
    """Move a quick run's new results file to ``results/quick/`` and restore the previous one."""
    QUICK.mkdir(parents=True, exist_ok=True)
    dest = QUICK / res_file.name
    dest.write_bytes(res_file.read_bytes())
    if before is not None:
        res_file.write_bytes(before)
    else:
        res_file.unlink()
    return dest


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="paper sizes too, longer timings")
    parser.add_argument("--only", default="", help="comma-separated job names: " + ",".join(j[0] for j in JOBS))
    parser.add_argument("--threads", type=int, default=None,
                        help="OMP_NUM_THREADS for the jobs (default: the environment's, else 2; 1 on a loaded machine)")
    parser.add_argument("--budget", type=float, default=840.0, help="seconds for the whole quick run (0: none)")
    args = parser.parse_args()
    only = {s for s in args.only.split(",") if s}
    env = dict(os.environ)
    load0 = os.getloadavg()
    cores = os.cpu_count() or 1
    threads = args.threads or env.get("OMP_NUM_THREADS") or (1 if load0[0] >= cores else min(2, cores))
    env["OMP_NUM_THREADS"] = str(threads)
    env.setdefault("TQDM_DISABLE", "1")
    budget = 0.0 if args.full else args.budget
    rows: list[dict[str, Any]] = []
    t_all = time.perf_counter()
    for name, script, quick, full, result, timeout in JOBS:
        if only and name not in only:
            continue
        path = HERE / script
        if quick is None and not args.full:
            rows.append({"job": name, "status": "skipped", "wall_s": None, "summary": "full mode only (--full)"})
            continue
        if not path.exists():
            rows.append({"job": name, "status": "missing", "wall_s": None, "summary": f"{script} not written yet"})
            print(f"[{name}] {script} missing, skipped", flush=True)
            continue
        cmd = [sys.executable, str(path), *(full if args.full or quick is None else quick)]
        if budget > 0:
            left = budget - (time.perf_counter() - t_all)
            if left < 10:
                rows.append({"job": name, "status": "skipped", "wall_s": None,
                             "summary": f"time budget ({budget:.0f} s) spent"})
                print(f"[{name}] skipped: time budget spent", flush=True)
                continue
            timeout = min(timeout, left)
        print(f"[{name}] {' '.join(cmd[1:])}", flush=True)
        result_name = result if not args.full or name != "models" else "models"
        res_file = RESULTS / f"{result_name}.json"
        before = res_file.read_bytes() if res_file.exists() else None
        t0 = time.perf_counter()
        status, tail = _run(cmd, env, timeout)
        wall = time.perf_counter() - t0
        if not args.full and res_file.exists() and res_file.read_bytes() != before:
            res_file = _keep_apart(res_file, before)
        summary = ""
        if res_file.exists() and res_file.stat().st_mtime >= time.time() - wall - 1:  # written by this run
            summary = _summary(name, json.loads(res_file.read_text()))
        elif tail:
            summary = tail[-1][:160]
        rows.append({"job": name, "status": status, "wall_s": wall, "summary": summary,
                     "results": str(res_file.relative_to(HERE.parent)) if res_file.exists() else None})
        print(f"[{name}] {status} in {wall:.0f} s: {summary}", flush=True)
    total = time.perf_counter() - t_all
    print_table([{k: r[k] for k in ("job", "status", "wall_s", "summary")} for r in rows],
                f"Benchmarks ({env['OMP_NUM_THREADS']} threads, {'full' if args.full else 'quick'}), "
                f"{total / 60:.1f} min, load average at start {load0[0]:.1f}")
    payload = {"command": "python benchmarks/run_all.py " + " ".join(sys.argv[1:]), "threads": env["OMP_NUM_THREADS"],
               "mode": "full" if args.full else "quick", "total_s": total, "load_avg_start": load0,
               "load_avg_end": os.getloadavg(), "budget_s": budget, "jobs": rows}
    path = write_results("summary" if args.full else "quick/summary", payload)
    print(f"wrote {path}")
    return payload


if __name__ == "__main__":
    main()
