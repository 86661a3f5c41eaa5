"""What ``import mmfusion`` costs beyond ``import torch`` (fresh interpreters, best of N).

    python benchmarks/bench_import.py [--repeat 5]

Prints one table: median and best wall time of ``import torch``, ``import mmfusion`` and of a few
heavier entry points, each in a fresh interpreter, and the difference to ``import torch``. The goal
(issue 11): ``import mmfusion`` at most 0.5 s above ``import torch``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

STATEMENTS = {
    "import torch": "import torch",
    "import mmfusion": "import mmfusion",
    "mmfusion.list_models()": "import mmfusion; mmfusion.list_models()",
    "from mmfusion.fusion import ...": "from mmfusion.fusion import MCU, CFEM, PoseGuidedAttention, "
                                      "DeformableAttention3D, JointStrideAttention, TemporalStrideAttention",
    "import mmfusion.data.dataset": "import mmfusion.data.dataset",
}


def seconds(stmt: str) -> float:
    code = f"import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5, help="fresh interpreters per statement")
    args = ap.parse_args(argv)
    times = {k: [seconds(v) for _ in range(args.repeat)] for k, v in STATEMENTS.items()}
    base = statistics.median(times["import torch"])
    print(f"| statement | median s | best s | median - torch s |  (n={args.repeat})")
    print("|---|---|---|---|")
    for k, ts in times.items():
        med = statistics.median(ts)
        print(f"| {k} | {med:.3f} | {min(ts):.3f} | {med - base:+.3f} |")


if __name__ == "__main__":
    main()
