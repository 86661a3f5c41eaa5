"""Hardware ceiling: measured matmul throughput of this machine (fp32 and bf16).

Model FLOP utilisation in the other benchmarks is reported against these numbers. Each size is
timed by wall clock and by the CPU time the process received (per thread): on a machine shared
with other jobs the wall figure drops with the load, the CPU-time one much less.

    OMP_NUM_THREADS=2 python benchmarks/bench_gemm.py [--name gemm]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch
from common import print_table, timeit, write_results


def gemm_gflops(n: int, dtype: torch.dtype) -> float:
    """Wall-clock GFLOP/s of an ``n x n`` matmul (median call)."""
    a = torch.randn(n, n, dtype=dtype)
    b = torch.randn(n, n, dtype=dtype)
    sec = timeit(lambda: torch.mm(a, b), warmup=2, min_time=1.0)
    return 2 * n**3 / sec / 1e9


def gemm_gflops_cpu(n: int, dtype: torch.dtype, calls: int = 5) -> float:
    """GFLOP/s per thread-second of CPU received (best of ``calls`` after a warm-up)."""
    a = torch.randn(n, n, dtype=dtype)
    b = torch.randn(n, n, dtype=dtype)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(calls):
        c0 = time.process_time()
        torch.mm(a, b)
        best = min(best, time.process_time() - c0)
    return 2 * n**3 / (best / torch.get_num_threads()) / 1e9 if best > 0 else float("nan")


def main() -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="gemm", help="results file name")
    args = parser.parse_args()
    load0 = os.getloadavg()
    rows = []
    best: dict[str, float] = {}
    best_cpu: dict[str, float] = {}
    for dtype in (torch.float32, torch.bfloat16):
        key = str(dtype).replace("torch.", "")
        for n in (512, 1024, 2048):
            g = gemm_gflops(n, dtype)
            gc = gemm_gflops_cpu(n, dtype)
            rows.append({"dtype": key, "n": n, "GFLOP/s": g, "GFLOP/s per CPU-thread-s": gc})
            best[key] = max(best.get(key, 0.0), g)
            best_cpu[key] = max(best_cpu.get(key, 0.0), gc)
    print_table(rows, f"GEMM throughput ({torch.get_num_threads()} threads, load average {load0[0]:.1f})")
    write_results(args.name, {
        "command": f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} python benchmarks/bench_gemm.py "
                   + " ".join(sys.argv[1:]),
        "load_avg_start": load0, "load_avg_end": os.getloadavg(), "rows": rows,
        "peak_gflops": best, "peak_gflops_cpu_time": best_cpu})
    return best


if __name__ == "__main__":
    main()
