"""Skeleton-only action recognition: any skeleton classifier, any stream, the field's test protocol.

::

    python recipes/skeleton_ntu.py                                   # stgcn_tiny, joints, skeleton world
    python recipes/skeleton_ntu.py --model stgcn_tiny hypergcn_tiny mamp_tiny      # one table
    python recipes/skeleton_ntu.py --model ctrgcn_tiny --stream bm --family pyskl --clips 10
    python recipes/skeleton_ntu.py --model psumnet_tiny --stream psumnet           # body, hand, leg runs
    accelerate launch recipes/skeleton_ntu.py --preset ctrgcn_ntu60 --data-root /data/NTU60_CS.npz
    mmfusion test runs/skeleton_ntu/ctrgcn --clips 10 --save-scores ctrgcn_j.npz  # afterwards

Data (``--data-root``): by default the skeleton world (labelled synthetic, 60 NTU classes; generated
once into ``--cache-dir``), else a skeleton world folder, a CTR-GCN ``.npz``, a PYSKL ``.pkl`` or a
raw NTU tree (parsed, denoised and packed once). ``--dataset ntu60|ntu120|ucla|pku1|pku2`` and
``--protocol`` pick the official split; ``--family ctrgcn|pyskl|frame50`` the preprocessing;
``--stream j|b|k|jm|bm|km|psumnet`` the input; ``--clips N`` the PYSKL test clips (the scores of a
sample's clips are averaged as PYSKL does: mean softmax). ``--preset NAME`` loads a paper's recipe
(:data:`mmfusion.experiments.skeleton.PRESETS`: optimizer, schedule, batch, window, clips,
intermediate checkpoints every 5 epochs, best checkpoint), meant to run unchanged on real NTU on a GPU.

Input per sample: ``skeleton`` (3, T, 25, 2) float32 (``(K, 3, T, 25, 2)`` for K test clips). Each
model gets a row in the table and a run folder ``<output-dir>/<model>[_<stream>]``.

Figures: the ones of the previous release of this recipe (stgcn_tiny 69.0 %, hypergcn_tiny 67.1 %,
mamp_transformer_tiny 68.1 % top-1, 12 epochs, seed 0) were measured on the old 12-class multimodal
world (xsub: 360 train / 216 test clips) and are not comparable with the skeleton world. On the
skeleton world see docs/skeleton.md, section 7 (the 3-seed table, SYNTHETIC).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from mmfusion.cli_errors import run_command
from mmfusion.distributed import process_state
from mmfusion.engine import parse_args, shutdown
from mmfusion.experiments.ntu import results_table
from mmfusion.experiments.skeleton_runs import SkeletonRecipe, train_models, with_preset


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    argv = list(sys.argv[1:] if argv is None else argv)
    cfg = parse_args(with_preset(argv, SkeletonRecipe()), argv)
    rows, runs, num_test = train_models(cfg)
    if process_state().is_main_process:
        print(f"\nHeld-out {cfg.dataset}/{cfg.protocol} accuracy (%), {num_test} test samples, "
              f"{cfg.clips} clip(s):\n")
        print(results_table(rows))
        print("\nRun folders (weights, model_best, curves.png, confusion_matrix.png, metrics.json):")
        for r in runs:
            print(f"  {r.run_dir}")
    shutdown()
    return rows


if __name__ == "__main__":
    # main returns its results; a user error (missing data root, bad file, ...) ends with one line and
    # exit code 2 instead of a traceback
    sys.exit(run_command(lambda: main() and 0, "skeleton_ntu.py"))
