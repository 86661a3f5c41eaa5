"""Wall time of the demo end to end: ``accelerate launch recipes/mmixer_ntu.py`` (what ``make demo`` runs).

Runs the launcher with the arguments of the Makefile's ``demo`` target (read from the Makefile,
so a change of process count or options there is measured as is), in a subprocess, with its own
output folder (and, with
``--cold``, its own empty cache folder, so that generating and packing the synthetic world is
part of the time). Records the wall time, the phases seen in the output (world generation,
each model's training), the accuracy table, and writes ``benchmarks/results/demo.json``.

    python benchmarks/bench_demo.py [--cold] [-- extra recipe options]

Not part of ``run_all.py``'s quick mode (it takes longer than the whole quick suite).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import write_results

REPO = Path(__file__).resolve().parents[1]
_DEFAULT_LAUNCH = ["launch", "--num_processes", "1", "--num_machines", "1", "--mixed_precision", "no",
                   "--dynamo_backend", "no"]


def makefile_demo(makefile: Path = REPO / "Makefile") -> tuple[dict[str, str], list[str], str]:
    """(environment assignments, ``accelerate`` arguments up to the recipe, the Makefile line) of
    ``make demo``; the defaults above when the Makefile has no ``accelerate launch`` line for it."""
    lines = makefile.read_text().splitlines() if makefile.exists() else []
    in_demo = False
    for line in lines:
        if re.match(r"^demo\s*:", line):
            in_demo = True
            continue
        if in_demo and line and not line.startswith("\t"):
            break
        if in_demo and "accelerate launch" in line and "mmixer_ntu.py" in line:
            words = shlex.split(line.strip())
            env = dict(w.split("=", 1) for w in words if re.match(r"^[A-Z_][A-Z0-9_]*=", w))
            words = [w for w in words if not re.match(r"^[A-Z_][A-Z0-9_]*=", w)]
            start = next(i for i, w in enumerate(words) if w.endswith("accelerate")) + 1
            end = next(i for i, w in enumerate(words) if w.endswith("mmixer_ntu.py"))
            return env, words[start:end], line.strip()
    return {}, list(_DEFAULT_LAUNCH), "(no accelerate line in the Makefile's demo target: defaults)"


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true", help="fresh cache folder: world generation included")
    parser.add_argument("--keep", action="store_true", help="keep the run / cache folders")
    parser.add_argument("extra", nargs="*", help="recipe options after --")
    args = parser.parse_args()
    recipe = REPO / "recipes" / "mmixer_ntu.py"
    if not recipe.exists():
        print("recipes/mmixer_ntu.py does not exist yet")
        return {}
    work = Path(tempfile.mkdtemp(prefix="mmfusion_demo_"))
    opts = ["--output_dir", str(work / "runs")]
    if args.cold:
        opts += ["--cache_dir", str(work / "cache")]
    launcher = REPO / ".venv" / "bin" / "accelerate"
    make_env, launch_args, make_line = makefile_demo()
    cmd = [str(launcher) if launcher.exists() else "accelerate", *launch_args, str(recipe), *opts, *args.extra]
    env = dict(os.environ, TQDM_DISABLE="1", **make_env)
    print("$", " ".join(cmd), flush=True)
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    marks: list[tuple[float, str]] = []
    lines: list[str] = []
    with subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          bufsize=1) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            t = time.perf_counter() - t0
            lines.append(line.rstrip("\n"))
            print(f"[{t:7.1f}s] {line}", end="", flush=True)
            if re.search(r"generat|packing|epoch \d+/\d+ step|train / .* test clips|Held-out", line):
                marks.append((t, line.strip()[:160]))
        rc = proc.wait()
    wall = time.perf_counter() - t0
    table_start = next((i for i, s in enumerate(lines) if s.startswith("Held-out")), None)
    table = lines[table_start: table_start + 12] if table_start is not None else []
    payload = {"command": " ".join(["time", *cmd[:1], *cmd[1:]]), "makefile_line": make_line,
               "env": make_env, "cold_cache": args.cold, "returncode": rc,
               "wall_s": wall, "load_avg_start": load0, "load_avg_end": os.getloadavg(),
               "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "phases": marks, "accuracy_table": table}
    path = write_results("demo_cold" if args.cold else "demo", payload)
    print(f"\ndemo {'(cold cache) ' if args.cold else ''}finished with exit {rc} in {wall / 60:.1f} min; wrote {path}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return payload


if __name__ == "__main__":
    sys.exit(0 if main().get("returncode", 1) == 0 else 1)
