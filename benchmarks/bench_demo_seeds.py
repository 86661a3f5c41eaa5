"""The main job over several seeds: mean +- std of every row of the demo table, and the fusion gain per seed.

    python benchmarks/bench_demo_seeds.py --seeds 0 1 2            # runs `make demo`'s command per seed
    python benchmarks/bench_demo_seeds.py --collect runs/demo_seeds # only reads finished run folders

Each seed runs ``accelerate launch ... recipes/mmixer_ntu.py --train.seed S --output-dir OUT/seed_S``
exactly as ``make demo`` does (the synthetic world is the same for every seed: its own seed is fixed;
the training seed changes initialisation, data order and augmentation). The table is read back from
each run folder's ``metrics.json``. Figures are synthetic (the embedded synthetic NTU world).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROWS = (("single_rgb", "frame_gru_tiny (rgb only)"), ("single_depth", "frame_gru_tiny (depth only)"),
        ("single_ir", "frame_gru_tiny (ir only)"), ("fusion", "mmixer_tiny (fusion)"))
ROOT = Path(__file__).resolve().parents[1]


def run_seed(seed: int, out: Path) -> None:
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    accelerate = Path(sys.executable).with_name("accelerate")
    cmd = [str(accelerate), "launch", "--num_processes", "1", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", str(ROOT / "recipes" / "mmixer_ntu.py"), "--train.seed", str(seed),
           "--output-dir", str(out / f"seed_{seed}")]
    subprocess.run(cmd, check=True, env=env, cwd=ROOT)


def collect(out: Path) -> dict[int, dict[str, dict[str, float]]]:
    """seed -> run name -> metrics (top1, top5, mean_class in %)."""
    res: dict[int, dict[str, dict[str, float]]] = {}
    for seed_dir in sorted(out.glob("seed_*")):
        seed = int(seed_dir.name.split("_")[1])
        runs = {}
        for run, _ in ROWS:
            f = seed_dir / run / "metrics.json"
            if f.is_file():
                m = json.loads(f.read_text())
                runs[run] = {k: 100 * float(m[k]) for k in ("top1", "top5", "mean_class")}
        if len(runs) == len(ROWS):
            res[seed] = runs
    return res


def table(res: dict[int, dict[str, dict[str, float]]]) -> str:
    seeds = sorted(res)

    def cell(run: str, key: str) -> str:
        vals = [res[s][run][key] for s in seeds]
        sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
        return f"{statistics.mean(vals):.1f} +- {sd:.1f}"

    lines = [f"Held-out xsub accuracy (%), mean +- std over seeds {', '.join(map(str, seeds))} (synthetic world):", "",
             "| model | top1 | top5 | mean_class | top1 per seed |", "|---|---|---|---|---|"]
    for run, label in ROWS:
        per = " / ".join(f"{res[s][run]['top1']:.1f}" for s in seeds)
        lines.append(f"| {label} | {cell(run, 'top1')} | {cell(run, 'top5')} | {cell(run, 'mean_class')} | {per} |")
    gains = [res[s]["fusion"]["top1"] - max(res[s][r]["top1"] for r, _ in ROWS[:-1]) for s in seeds]
    lines += ["", "fusion vs best single modality, per seed: " + ", ".join(f"{g:+.1f}" for g in gains) +
              f" points top-1 (mean {statistics.mean(gains):+.1f})"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds to run")
    ap.add_argument("--out", default="runs/demo_seeds", help="parent folder of the seed_S run folders")
    ap.add_argument("--collect", metavar="DIR", help="do not train: read the seed_S folders under DIR")
    args = ap.parse_args(argv)
    out = Path(args.collect or args.out)
    if not args.collect:
        for s in args.seeds:
            run_seed(s, out)
    res = collect(out)
    if not res:
        raise SystemExit(f"no complete seed_S run folders under {out}")
    print(table(res))


if __name__ == "__main__":
    main()
