"""UniPose on the synthetic RGB-D pose world: stage A from noisy 2-D keypoints, stage B from its pseudo labels.

    python recipes/unipose_synth.py --threads 1            # default CPU config (docs/unipose.md)
    python recipes/unipose_synth.py --ablation             # + stage A without ray guidance
    python recipes/unipose_synth.py --smoke                # seconds-long run of every step
    python recipes/unipose_synth.py --train-subjects 16 --clips-per-subject 24 --num-points 2048 \\
        --stage-a.model unipose_pointnet --stage-a.epochs 60 --stage-b.epochs 30   # bigger run

Steps (no 3-D label is used for training; held-out subjects' 3-D truth only for the table):

1. render train subjects and held-out test subjects (:class:`~mmfusion.pose.data.SyntheticPoseDataset`);
2. naive baseline: every detected 2-D keypoint back-projected with the depth image there;
3. stage A (:mod:`mmfusion.pose.train`), saved to ``<save-dir>/stage_a``
   (:func:`mmfusion.pose.lift.load_lifter`); ``--load-stage-a DIR`` uses a saved one instead;
   ``--ablation`` also trains it with ``guide=0``;
4. stage B: A2J nets on depth / RGB crops trained on stage A's train-set predictions, saved to
   ``<save-dir>/stage_b_<variant>``;
5. print ``method | MPJPE mm | root-aligned MPJPE mm | AP@10cm | train s`` on the held-out subjects.

Device and mixed precision come from the engine's accelerator (``--cpu``, ``--mixed-precision bf16``).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from mmfusion.cli_errors import run_command
from mmfusion.engine import parse_args
from mmfusion.pose.data import SyntheticPoseDataset, SynthPoseConfig, lift_with_depth
from mmfusion.pose.lift import load_lifter, save_lifter
from mmfusion.pose.metrics import mpjpe_mm
from mmfusion.pose.train import (
    StageAConfig,
    StageBConfig,
    build_stage_a,
    evaluate_row,
    pose_accelerator,
    predict_stage_a,
    print_table,
    run_stage_b,
    stage_a_kwargs,
    train_stage_a,
)


@dataclass
class SynthRecipe:
    train_subjects: int = 8
    test_subjects: int = 3
    clips_per_subject: int = 24
    frames: int = 4
    num_points: int = 512
    image_size: tuple[int, int] = (120, 160)
    kp_noise_px: float = 2.0
    stage_a: StageAConfig = field(default_factory=StageAConfig)
    stage_b: StageBConfig = field(default_factory=StageBConfig)
    seed: int = 0
    threads: int = 0
    cpu: bool = False
    mixed_precision: str = "no"
    out: str = ""
    save_dir: str = "runs/unipose_synth"
    load_stage_a: str = ""
    ablation: bool = False
    skip_stage_b: bool = False
    smoke: bool = False


def _smoke(cfg: SynthRecipe) -> None:
    cfg.train_subjects, cfg.test_subjects, cfg.clips_per_subject, cfg.frames, cfg.num_points = 1, 1, 2, 3, 160
    cfg.stage_a.epochs, cfg.stage_a.batch = 1, 2
    cfg.stage_b.epochs, cfg.stage_b.batch, cfg.stage_b.crop, cfg.stage_b.variants = 1, 4, 32, ("depth", "rgb_kp")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    cfg = parse_args(SynthRecipe(), argv, description=__doc__.split("\n")[0])
    if cfg.smoke:
        _smoke(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    acc = pose_accelerator(cfg.cpu, cfg.mixed_precision, cfg.seed, cfg.save_dir or "runs/unipose_synth")
    t_start = time.time()
    common = dict(clips_per_subject=cfg.clips_per_subject, frames=cfg.frames, num_points=cfg.num_points,
                  image_size=tuple(cfg.image_size), kp_noise_px=cfg.kp_noise_px, seed=cfg.seed)
    train_set = SyntheticPoseDataset(SynthPoseConfig(subjects=tuple(range(cfg.train_subjects)), **common),
                                     resample_points=True)
    # held-out subjects: ids never used for training, their own clips and motions
    test_set = SyntheticPoseDataset(SynthPoseConfig(subjects=tuple(range(1000, 1000 + cfg.test_subjects)), **common))
    print(f"data: {len(train_set)} train clips ({cfg.train_subjects} subjects), {len(test_set)} test clips "
          f"({cfg.test_subjects} held-out subjects), T={cfg.frames}, P={cfg.num_points}, {acc.device} "
          f"[{time.time() - t_start:.0f}s]", flush=True)
    gt = torch.from_numpy(test_set.joints3d)
    valid = torch.ones(gt.shape[:3], dtype=torch.bool)
    naive = lift_with_depth(torch.from_numpy(test_set.kp2d), torch.from_numpy(test_set.depth),
                            torch.tensor(test_set.intr))
    rows = [evaluate_row("naive: 2-D detections lifted with the depth image", naive, gt, valid)]

    seconds = None
    if cfg.load_stage_a:
        model_a = load_lifter(cfg.load_stage_a)
        print(f"  stage A loaded from {cfg.load_stage_a}", flush=True)
    else:
        torch.manual_seed(cfg.seed)
        model_a = build_stage_a(cfg.stage_a, "coco17", 17)
        t0 = time.time()
        train_stage_a(model_a, train_set, cfg.stage_a, "coco17", acc, cfg.seed)
        seconds = time.time() - t0
        if cfg.save_dir:
            save_lifter(model_a, Path(cfg.save_dir) / "stage_a", cfg.stage_a.model,
                        stage_a_kwargs(cfg.stage_a, "coco17", 17), cfg.num_points)
            print(f"  saved stage A -> {Path(cfg.save_dir) / 'stage_a'}", flush=True)
    train_set.resample_points = False
    test_pred = predict_stage_a(model_a, test_set, acc)
    r = evaluate_row(f"UniPose stage A: point cloud ({cfg.stage_a.model}), weak 2-D losses", test_pred["pred"], gt,
                     valid)
    rows.append(r if seconds is None else {**r, "seconds": seconds})

    if cfg.ablation:  # the same stage A without the ray-guidance term (C3P's loss set only)
        torch.manual_seed(cfg.seed)
        abl = replace(cfg.stage_a, loss=replace(cfg.stage_a.loss, guide=0.0))
        model_n = build_stage_a(abl, "coco17", 17)
        train_set.resample_points = True
        t0 = time.time()
        train_stage_a(model_n, train_set, abl, "coco17", acc, cfg.seed)
        seconds = time.time() - t0
        train_set.resample_points = False
        r = evaluate_row("ablation: stage A without ray guidance (guide=0)",
                         predict_stage_a(model_n, test_set, acc)["pred"], gt, valid)
        rows.append({**r, "seconds": seconds})

    if not cfg.skip_stage_b:
        train_pred = predict_stage_a(model_a, train_set, acc)
        pseudo_err = mpjpe_mm(train_pred["pred"], train_pred["joints3d"])
        print(f"  stage A pseudo labels on the train set: MPJPE {pseudo_err:.1f} mm (for information only)", flush=True)
        rows += run_stage_b(cfg.stage_b, train_set, test_set, train_pred["pred"], train_pred, test_pred, "coco17", 17,
                            acc, cfg.seed, save_dir=cfg.save_dir)
    total = time.time() - t_start
    text = print_table(rows, f"held-out subjects ({len(test_set)} clips x {cfg.frames} frames), {total:.0f}s total")
    result = {"config": asdict(cfg), "rows": rows, "seconds": total, "table": text}
    if cfg.out:
        Path(cfg.out).write_text(json.dumps(result, indent=2, default=str))
    return result


if __name__ == "__main__":
    # main returns its results; a user error (missing data root, bad file, ...) ends with one line and
    # exit code 2 instead of a traceback
    sys.exit(run_command(lambda: main() and 0, "unipose_synth.py"))
