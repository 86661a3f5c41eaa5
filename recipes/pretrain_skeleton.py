"""Self-supervised pre-training of a skeleton encoder (mmfusion.ssl) on the engine.

::

    python recipes/pretrain_skeleton.py --method mamp                       # CPU preset, skeleton world
    python recipes/pretrain_skeleton.py --method mamp --resume auto         # continue an interrupted run
    python recipes/pretrain_skeleton.py --method cascadeformer              # masked joints, then cascade fine-tune
    python recipes/pretrain_skeleton.py --method msclr                      # every convention of a clip per sample
    python recipes/pretrain_skeleton.py --method halp --objective mu=0 start_step=0   # builder kwargs, checked
    accelerate launch --multi_gpu --num_processes 4 recipes/pretrain_skeleton.py --method mamp \\
        --preset paper_ntu60 --cache-dir /data/ntu60_packed                  # the paper's settings on real NTU

``--preset`` names the method's settings (``cpu``: sized for the synthetic skeleton world on a
CPU; ``paper_ntu60`` / ``paper_ntu120``: the official hyper-parameters, see docs/ssl.md). The
data: the skeleton world in ``--cache-dir`` (generated there when absent), or real NTU packed in
the same layout (``packed/ntu25.npy`` (N, 3, T, 25, 2) and ``packed/index.npz`` with ``labels``
0-based and ``names``); MS-CLR reads ``packed/<layout>.npy`` of each of its preset's
``layouts`` (the same clips in another joint convention). ``--classes-seen K`` pre-trains on classes 0..K-1 only (for
the few-shot protocol on the others). The run folder gets one sub-folder per stage and the
final ``encoder.safetensors`` + ``config.json`` that ``recipes/evaluate_skeleton.py --run``
reads.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mmfusion.cli_errors import run_command
from mmfusion.engine import parse_args
from mmfusion.ssl.presets import build_stages, data_layouts, parse_overrides, world_splits
from mmfusion.ssl.pretrain import PretrainConfig, pretrain


@dataclass
class PretrainRecipe:
    """Pre-train one method's encoder."""

    method: str = "mamp"
    """registered objective (mamp, skeletonmae, cascadeformer, and the contrastive ones)"""
    preset: str = "cpu"
    """the method's named settings: cpu, paper_ntu60, paper_ntu120"""
    cache_dir: str = "/work/cache/skel60"
    """skeleton world folder (generated there when absent)"""
    protocol: str = "xsub"
    """NTU protocol: pre-training uses its training split"""
    classes_seen: int | None = None
    """pre-train on classes 0..K-1 only (few-shot on the rest)"""
    output_dir: str = "runs/pretrain_skeleton/mamp"
    seed: int = 0
    epochs: int | None = None
    """override the preset's epochs (every stage)"""
    global_batch_size: int | None = None
    lr: float | None = None
    threads: int | None = None
    max_steps: int | None = None
    resume: str | None = None
    """None or auto"""
    overwrite: bool = False
    cpu: bool = False
    objective: tuple[str, ...] = ()
    """KEY=VALUE overrides of the method's builder kwargs (VALUE read as JSON, else a string), e.g. target=motion"""


def main(argv: Sequence[str] | None = None) -> Any:
    cfg = parse_args(PretrainRecipe(), argv)
    overrides = {"epochs": cfg.epochs, "global_batch_size": cfg.global_batch_size, "lr": cfg.lr,
                 "threads": cfg.threads, "max_steps": cfg.max_steps, "seed": cfg.seed, "cpu": cfg.cpu or None}
    stages, clip_len = build_stages(cfg.method, cfg.preset, overrides,
                                    {"seed": cfg.seed, **parse_overrides(cfg.method, cfg.preset, cfg.objective)})
    keep = range(cfg.classes_seen) if cfg.classes_seen else None
    layouts, channels = data_layouts(stages[0].objective_kwargs)  # MS-CLR: every convention of a clip
    train, _, _ = world_splits(cfg.cache_dir, cfg.protocol, clip_len, keep_classes=keep, seed=cfg.seed,
                               layouts=layouts, channels=channels)
    print(f"[pretrain_skeleton] {cfg.method} ({cfg.preset}): {len(train)} clips of {clip_len} frames, "
          f"{len(stages)} stage(s) -> {cfg.output_dir}")
    pcfg = PretrainConfig(output_dir=cfg.output_dir, stages=stages,
                          resume="auto" if cfg.resume == "auto" else None, overwrite=cfg.overwrite)
    result = pretrain(pcfg, None, train, recipe_config={"recipe": cfg, "stages": stages})
    print(f"[pretrain_skeleton] encoder {result.encoder} (final loss {result.final_loss:.4f})")
    return result


if __name__ == "__main__":
    sys.exit(run_command(lambda: main() and 0, "pretrain_skeleton.py"))
