"""Memory bandwidth of this machine, STREAM-style, with torch kernels: the other roof of a roofline.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_bandwidth.py [--mib 256] [--repeats 9] [--name bandwidth]

Kernels on float32 arrays far larger than the caches (default 256 MiB each):

* ``copy``  ``b.copy_(a)``               2 arrays moved (read a, write b)
* ``scale`` ``torch.mul(a, s, out=b)``   2
* ``add``   ``torch.add(a, b, out=c)``   3
* ``triad`` ``torch.add(b, c, alpha=s, out=a)``  3

Bytes per call = arrays moved x size (STREAM's convention: write-allocate traffic not counted). Reported:
GB/s from CPU time (``time.process_time``, the time the process actually ran, robust on a shared
machine) and from wall time, median of ``--repeats``. Results: ``benchmarks/results/<name>.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import print_table, write_results  # noqa: E402


def measure(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(median CPU seconds, median wall seconds) of ``fn`` after one warm-up call."""
    fn()
    cpu, wall = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return statistics.median(cpu), statistics.median(wall)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mib", type=int, default=256, help="size of each array")
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--name", default="bandwidth")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    n = args.mib * 2**20 // 4
    a, b, c = (torch.rand(n) for _ in range(3))
    s = 3.0
    kernels: dict[str, tuple[Callable[[], object], int]] = {
        "copy": (lambda: b.copy_(a), 2),
        "scale": (lambda: torch.mul(a, s, out=b), 2),
        "add": (lambda: torch.add(a, b, out=c), 3),
        "triad": (lambda: torch.add(b, c, alpha=s, out=a), 3),
    }
    rows = []
    for name, (fn, arrays) in kernels.items():
        cpu, wall = measure(fn, args.repeats)
        moved = arrays * n * 4
        rows.append({"kernel": name, "MiB per array": args.mib, "GB/s (cpu)": moved / cpu / 1e9,
                     "GB/s (wall)": moved / wall / 1e9, "cpu_share": cpu / wall})
    print_table(rows, title=f"STREAM-like bandwidth, {args.threads} thread(s), float32")
    path = write_results(args.name, {"command": " ".join(sys.argv), "load_avg": os.getloadavg(),
                                     "repeats": args.repeats, "rows": rows})
    print(f"-> {path}")


if __name__ == "__main__":
    main()
