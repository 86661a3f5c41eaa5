"""Markdown tables for docs/performance.md from ``benchmarks/results/*.json``.

    python benchmarks/report.py [models|paper|data|all] [--models-file models_1t.json] [--clock cpu|wall]

Prints tables only (no measurement); paste them into the doc after a benchmark run.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from common import RESULTS


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def _g(v: Any, digits: int = 3) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if abs(v) >= 100:
            return f"{v:,.0f}"
        return f"{v:.{digits}g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def md_table(header: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(_g(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def models_table(data: dict[str, Any], size: str, clock: str = "cpu") -> str:
    """One row per model at ``size``. ``clock="cpu"``: latency, samples/s and utilisation from the
    CPU time the process received (per thread), i.e. what an otherwise idle machine gives;
    ``"wall"``: wall-clock figures as measured."""
    threads = data["machine"]["threads"]
    rows = []
    for r in data["rows"]:
        if r.get("size") != size and not (size in str(r.get("size")) and "error" in r):
            continue
        if "error" in r:
            rows.append([f"`{r['model']}`", r["error"], "", "", "", "", "", "", ""])
            continue
        if clock == "cpu" and r.get("train_step_cpu_ms"):
            lat = r["latency_cpu_ms"] / threads
            sps = r["train_batch"] / (r["train_step_cpu_ms"] / threads / 1e3)
            util = r.get("util_cpu_%")
        else:
            lat, sps, util = r["latency_ms"], r["train_samples_s"], r["util_%"]
        rows.append([f"`{r['model']}`", r["input"], r["params"] / 1e6, r["GMACs"], lat,
                     f"{sps:.3g} (b{r['train_batch']})", util,
                     round(r["infer_peak_MiB"]), round(r["train_peak_MiB"])])
    return md_table(["model", "input (per sample)", "params (M)", "GMACs", "latency ms (b1)",
                     "train samples/s (batch)", "FLOP util %", "infer MiB", "train MiB"], rows)


def paper_table(data: dict[str, Any]) -> str:
    from common import paper_numbers

    import mmfusion

    rows = []
    by = {(r["model"], r.get("size")): r for r in data["rows"] if "error" not in r}
    for name, (p_params, p_macs, what) in paper_numbers().items():
        default = sum(p.numel() for p in mmfusion.create_model(name).parameters())
        r = by.get((name, "paper"))
        rows.append([f"`{name}`", what, p_params / 1e6 if p_params else None, f"{default:,}",
                     f"{r['params']:,}" if r else None, p_macs / 1e9 if p_macs else None,
                     f"{r['GMACs']:.3f}" if r else None])
    return md_table(["model", "published figure counts", "paper params (M)", "ours, default build",
                     "ours, benchmarked (with head)", "paper GMACs", "ours GMACs"], rows)


def data_table(data: dict[str, Any]) -> str:
    rows = [[r["stage"], r["what"], r.get("unit"), r.get("items/cpu_s"), r.get("items/s"), r.get("source")]
            for r in data["rows"] if "wait_fraction" not in r and r.get("items/s")]
    return md_table(["stage", "what", "unit", "per CPU-second", "per wall second", "source"], rows)


def loader_table(data: dict[str, Any]) -> str:
    rows = [[r["what"], r["wait_ms_per_step"], r["compute_ms_per_step"], 100 * r["wait_fraction"],
             r["first_step_wait_ms"]] for r in data["rows"] if "wait_fraction" in r]
    return md_table(["run", "wait ms/step", "compute ms/step", "waiting %", "first batch ms"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="?", default="all", choices=("models", "paper", "data", "all"))
    parser.add_argument("--models-file", default="models_1t.json", help="the main table of docs/performance.md")
    parser.add_argument("--data-file", default="data.json")
    parser.add_argument("--clock", default="cpu", choices=("cpu", "wall"),
                        help="model figures from process CPU time (default) or wall time")
    args = parser.parse_args()
    models = _load(args.models_file)
    if args.what in ("models", "all") and models:
        m = models["machine"]
        peak = models["gemm_peak_gflops_fp32_cpu_time" if args.clock == "cpu" else "gemm_peak_gflops_fp32"]
        load = ", ".join(f"{v:.1f}" for v in models["load_avg_start"])
        print(f"<!-- {args.models_file}: {m['threads']} threads, torch {m['torch']}, {args.clock} clock, "
              f"GEMM peak {peak:.0f} GFLOP/s, load average at start {load} -->\n")
        for size in ("paper", "demo"):
            print(f"**{size} size**\n\n{models_table(models, size, args.clock)}\n")
    if args.what in ("paper", "all") and models:
        print(paper_table(models) + "\n")
    data = _load(args.data_file)
    if args.what in ("data", "all") and data:
        print(data_table(data) + "\n\n" + loader_table(data) + "\n")


if __name__ == "__main__":
    main()
