"""Hardware ceiling: measured matmul throughput of this machine (fp32 and bf16).

Model FLOP utilisation in the other benchmarks is reported against these numbers.

    python benchmarks/bench_gemm.py
"""

from __future__ import annotations

import torch
from common import print_table, timeit, write_results


def gemm_gflops(n: int, dtype: torch.dtype) -> float:
    a = torch.randn(n, n, dtype=dtype)
    b = torch.randn(n, n, dtype=dtype)
    sec = timeit(lambda: torch.mm(a, b), warmup=2, min_time=1.0)
    return 2 * n**3 / sec / 1e9


def main() -> dict[str, float]:
    rows = []
    best: dict[str, float] = {}
    for dtype in (torch.float32, torch.bfloat16):
        for n in (512, 1024, 2048):
            g = gemm_gflops(n, dtype)
            rows.append({"dtype": str(dtype).replace("torch.", ""), "n": n, "GFLOP/s": g})
            key = str(dtype).replace("torch.", "")
            best[key] = max(best.get(key, 0.0), g)
    print_table(rows, f"GEMM throughput ({torch.get_num_threads()} threads)")
    write_results("gemm", {"rows": rows, "peak_gflops": best})
    return best


if __name__ == "__main__":
    main()
