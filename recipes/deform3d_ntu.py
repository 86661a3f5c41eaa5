"""3D deformable RGB + pose transformer on NTU RGB+D (Kim et al., ICCV 2023).

::

    python recipes/deform3d_ntu.py                                  # synthetic NTU world, CPU-sized
    python recipes/deform3d_ntu.py --baselines                      # + an RGB-only and a skeleton-only model
    accelerate launch recipes/deform3d_ntu.py --data-root /data/ntu --protocol xview --model deform3d \\
        --image-size 224 --clip-len 16 --pose-clip-len 32 --train.epochs 30

Inputs per clip: ``rgb`` (3, T, S, S) person crops and ``skeleton`` (3, Tp, 25, 2) NTU camera
metres (centred), sampled at aligned frames (the RGB frames are a subset of the skeleton's).
The model turns the RGB clip into a (T', S', S') token volume, the skeleton into joint tokens,
and reads its prediction from two cross-modal tokens that attend to both. With
``--baselines``, ``frame_gru_tiny`` (RGB) and ``stgcn_tiny`` (skeleton) are trained alone
on the same clips.

Measured on the synthetic world (xsub: 360 train / 216 test clips, 12 classes), defaults,
one process, ``OMP_NUM_THREADS=1``, wall time on a 2-core machine shared with other jobs
(load average ~6, so about 3x a quiet machine):
``deform3d_tiny`` top-1 70.8 % (top-5 100 %, mean-class 70.8 %) in 9.4 min (30 epochs);
``stgcn_tiny`` on the skeleton alone (``recipes/skeleton_ntu.py``): 66.7 %.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mmfusion.cli_errors import run_command
from mmfusion.engine import TrainConfig, parse_args
from mmfusion.experiments.ntu import NTURecipe, datasets, describe, finish, fit_row


@dataclass
class Deform3DRecipe(NTURecipe):
    """3D deformable RGB + pose transformer on NTU RGB+D."""

    model: str = "deform3d_tiny"
    """registered 3D deformable transformer variant"""
    image_size: int = 32
    """side of the square RGB crops"""
    clip_len: int = 8
    """RGB frames per clip"""
    pose_clip_len: int = 16
    """skeleton frames per clip (= the model's pose_frames)"""
    baselines: bool = False
    """also train an RGB-only and a skeleton-only model"""
    rgb_baseline: str = "frame_gru_tiny"
    """registered RGB-only baseline"""
    skeleton_baseline: str = "stgcn_tiny"
    """registered skeleton-only baseline"""
    output_dir: str = "runs/deform3d_ntu"
    """run folders go below it, one per trained model"""
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=30, global_batch_size=16, lr=2e-3, optimizer="adamw", weight_decay=0.05, scheduler="cosine",
        warmup_epochs=2, clip_grad=5.0, save_every=0, keep_last=1, log_every=5))


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    cfg = parse_args(Deform3DRecipe(), argv)
    modalities = ("rgb", "skeleton")
    data = datasets(cfg, modalities, clip_len={"rgb": cfg.clip_len, "skeleton": cfg.pose_clip_len})
    print(f"[deform3d_ntu] {describe(cfg, data)}")
    rows: list[dict[str, Any]] = []
    runs: list[Any] = []
    if cfg.baselines:
        fit_row(cfg, f"{cfg.rgb_baseline} (rgb only)", cfg.rgb_baseline, ("rgb",), rows, runs,
                run_name="single_rgb", data=data, model_kwargs={"modality": "rgb"})
        fit_row(cfg, f"{cfg.skeleton_baseline} (skeleton only)", cfg.skeleton_baseline, ("skeleton",), rows, runs,
                run_name="single_skeleton", data=data)
    fit_row(cfg, f"{cfg.model} (fusion)", cfg.model, modalities, rows, runs, run_name="fusion", data=data,
            model_kwargs={"pose_frames": cfg.pose_clip_len})
    return finish(cfg, rows, runs, len(data[1]))


if __name__ == "__main__":
    # main returns its results; a user error (missing data root, bad file, ...) ends with one line and
    # exit code 2 instead of a traceback
    sys.exit(run_command(lambda: main() and 0, "deform3d_ntu.py"))
