"""UniPose on ITOP (side view): stage A from 2-D keypoints only, stage B (depth A2J) from its pseudo labels.

    python recipes/unipose_itop.py --data-root /data/ITOP                      # files ITOP_side_{train,test}_*.h5
    python recipes/unipose_itop.py --data-root /data/ITOP --keypoints-train det_train.npz --keypoints-test det_test.npz

ITOP ships depth only (no RGB to run a COCO detector on), so 2-D weak labels come from a
detections file when given (``.npz`` with "ids", "keypoints" (N, 15, 2), "scores" (N, 15) in
ITOP depth pixels, e.g. a detector run on the depth images), and otherwise from the labels'
``image_coordinates`` plus Gaussian noise (``--kp-noise-px``) as a stand-in. The 3-D
``real_world_coordinates`` are used only for the evaluation table (test split; ITOP reports
AP@10cm = "mAP" over the 15 joints). The RGB network of stage B is skipped (no RGB).

``--smoke`` shrinks everything to a seconds-long run (used by the tests on a fixture).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from mmfusion.cli_errors import run_command
from mmfusion.data.formats.itop import ITOP15
from mmfusion.engine import parse_args
from mmfusion.errors import ConfigError
from mmfusion.pose.data import ITOPPoseDataset, lift_with_depth
from mmfusion.pose.metrics import per_joint_ap
from mmfusion.pose.train import (
    StageAConfig,
    StageBConfig,
    build_stage_a,
    evaluate_row,
    pose_accelerator,
    predict_stage_a,
    print_table,
    run_stage_b,
    train_stage_a,
)


@dataclass
class ITOPRecipe:
    data_root: str = ""
    view: str = "side"
    clip_len: int = 4
    num_points: int = 2048
    kp_noise_px: float = 3.0
    keypoints_train: str = ""
    keypoints_test: str = ""
    max_train_clips: int = 0
    max_test_clips: int = 0
    stage_a: StageAConfig = field(default_factory=lambda: StageAConfig(model="unipose_pointnet", epochs=30, batch=4,
                                                                        lr=2e-3))
    stage_b: StageBConfig = field(default_factory=lambda: StageBConfig(depth_model="a2j_depth", epochs=20,
                                                                        crop=128, batch=32, lr=1e-3))
    skip_stage_b: bool = False
    smoke: bool = False
    seed: int = 0
    threads: int = 0
    cpu: bool = False
    mixed_precision: str = "no"
    out: str = ""


def _smoke(cfg: ITOPRecipe) -> None:
    cfg.num_points, cfg.clip_len = 256, 3
    cfg.stage_a.model, cfg.stage_a.epochs, cfg.stage_a.batch = "unipose_pointnet_tiny", 1, 2
    cfg.stage_b.depth_model, cfg.stage_b.epochs, cfg.stage_b.batch, cfg.stage_b.crop = "a2j_depth_tiny", 1, 8, 32


def main(argv: list[str] | None = None) -> dict[str, Any]:
    cfg = parse_args(ITOPRecipe(), argv, description=__doc__.split("\n")[0])
    if not cfg.data_root:
        raise ConfigError("--data-root (folder with ITOP_side_{train,test}_{labels,point_cloud}.h5) is required")
    if cfg.smoke:
        _smoke(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    acc = pose_accelerator(cfg.cpu, cfg.mixed_precision, cfg.seed, "runs/unipose_itop")
    torch.manual_seed(cfg.seed)
    t_start = time.time()

    def ds(split: str, kp: str, max_clips: int, resample: bool) -> ITOPPoseDataset:
        return ITOPPoseDataset(cfg.data_root, split, cfg.view, cfg.clip_len, cfg.num_points, keypoints=kp or None,
                               kp_noise_px=cfg.kp_noise_px, seed=cfg.seed, resample_points=resample,
                               max_clips=max_clips or None)

    train_set = ds("train", cfg.keypoints_train, cfg.max_train_clips, True)
    test_set = ds("test", cfg.keypoints_test, cfg.max_test_clips, False)
    print(f"data: {len(train_set)} train clips, {len(test_set)} test clips, T={cfg.clip_len}, P={cfg.num_points}",
          flush=True)
    rows = []
    layout, nj = ITOP15, ITOP15.num_joints

    # ITOP15 lives with its format (mmfusion.data.formats.itop), not among the named layouts: passed as an object
    model_a = build_stage_a(cfg.stage_a, layout, nj)
    t0 = time.time()
    train_stage_a(model_a, train_set, cfg.stage_a, layout, acc, cfg.seed)
    train_set.resample_points = False
    test_pred = predict_stage_a(model_a, test_set, acc)
    gt, valid = test_pred["joints3d"], test_pred["joints_valid"]
    naive = lift_with_depth(test_pred["keypoints2d"][:, 0],
                            torch.stack([test_set[i]["depth"][0] for i in range(len(test_set))]),
                            test_pred["intrinsics"])
    rows.append(evaluate_row("naive: 2-D keypoints lifted with the depth image", naive, gt, valid, layout))
    r = evaluate_row(f"UniPose stage A: point cloud ({cfg.stage_a.model}), weak 2-D losses", test_pred["pred"], gt,
                     valid, layout)
    r["seconds"] = time.time() - t0
    rows.append(r)
    if not cfg.skip_stage_b:
        train_pred = predict_stage_a(model_a, train_set, acc)
        rows += run_stage_b(cfg.stage_b, train_set, test_set, train_pred["pred"], train_pred, test_pred, layout, nj,
                            acc, cfg.seed, variants=("depth",))
    pj = per_joint_ap(test_pred["pred"], gt, valid=valid)
    text = print_table(rows, f"ITOP {cfg.view} test ({len(test_set)} clips), {time.time() - t_start:.0f}s")
    print("stage A per-joint AP@10cm: " + ", ".join(f"{n}={v:.2f}" for n, v in zip(layout.joints, pj.tolist())))
    result = {"config": asdict(cfg), "rows": rows, "table": text, "per_joint_ap_stage_a": pj.tolist()}
    if cfg.out:
        Path(cfg.out).write_text(json.dumps(result, indent=2, default=str))
    return result


if __name__ == "__main__":
    # main returns its results; a user error (missing data root, bad file, ...) ends with one line and
    # exit code 2 instead of a traceback
    sys.exit(run_command(lambda: main() and 0, "unipose_itop.py"))
