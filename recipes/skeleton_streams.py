"""Several streams of one skeleton model, each trained and tested, then fused: one table.

::

    python recipes/skeleton_streams.py --model ctrgcn_tiny                      # j, b, jm, bm; CTR-GCN 4s
    python recipes/skeleton_streams.py --model stgcnpp_tiny --family pyskl --clips 10 --seeds 0 1 2
    python recipes/skeleton_streams.py --model stgcnpp_tiny --family pyskl --streams j b k jm bm km   # 6s
    python recipes/skeleton_streams.py --model psumnet_tiny --stream psumnet    # body + hand + leg

Each stream is a run of ``recipes/skeleton_ntu.py`` (same options, same run folders, below
``<output-dir>/seed<k>/``); its test scores (declared clips; with ``--clips`` > 1 also one clip)
go to ``<run>/scores.npz`` and are fused by :func:`mmfusion.experiments.ensemble.fuse`, the
function behind ``mmfusion ensemble``, with the papers' weights (CTR-GCN 4s 0.6/0.6/0.4/0.4;
PYSKL/BRL 2s 1/1, 4s 2/2/1/1, 6s 2/2/2/1/1/1; PSUMNet's per split) or ``--weights``. The
table gives top-1 as mean +- std over ``--seeds``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmfusion.cli_errors import run_command
from mmfusion.engine import parse_args
from mmfusion.experiments.skeleton_runs import SkeletonRecipe, mean_std_table, stream_table, with_preset


@dataclass
class StreamsRecipe(SkeletonRecipe):
    """A skeleton model's streams, fused (see the module docstring)."""

    streams: tuple[str, ...] = ("j", "b", "jm", "bm")
    """the streams to train (ignored with --stream psumnet: PSUMNet's parts)"""
    seeds: tuple[int, ...] = (0,)
    """one row entry per seed; the table shows mean +- std"""
    weights: tuple[float, ...] | None = None
    """fusion weights, one per stream (default: the papers' preset for these streams)"""
    output_dir: str = "runs/skeleton_streams"
    """run folders go below <output_dir>/seed<k>/"""


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    argv = list(sys.argv[1:] if argv is None else argv)
    cfg = parse_args(with_preset(argv, StreamsRecipe()), argv)
    rows, raw = stream_table(cfg, cfg.streams, cfg.seeds, weights=cfg.weights)
    print(f"\n{cfg.model[0]} on {cfg.dataset}/{cfg.protocol} ({cfg.data_root or 'skeleton world, SYNTHETIC'}), "
          f"family {cfg.family}, fusion weights {raw['weights']} ({raw['preset'] or 'given'}):\n")
    print(mean_std_table(rows))
    Path(cfg.output_dir).mkdir(parents=True, exist_ok=True)
    (Path(cfg.output_dir) / "table.json").write_text(json.dumps({"rows": rows, **raw}, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    sys.exit(run_command(lambda: main() and 0, "skeleton_streams.py"))
