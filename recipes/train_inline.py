"""A skeleton classifier on NTU RGB+D with the training loop written out, as in Accelerate's examples.

The other recipes call :func:`mmfusion.engine.train`; this one shows what it does, in one
place: ``accelerator.prepare``, the loop with ``accumulate`` / ``backward`` / ``clip_grad_norm_`` /
``step``, evaluation with ``gather_for_metrics``, ``save_state`` / ``load_state`` for resume.
Pieces that are not Accelerate's come from the engine: the optimizer and the timm schedule
(:mod:`mmfusion.engine.optim`), per-sample seeding (:class:`~mmfusion.engine.SeededSamples`),
the torchmetrics accumulator and the safetensors writer::

    python recipes/train_inline.py                                   # stgcn_tiny, synthetic NTU world
    python recipes/train_inline.py --train.max-steps 30              # stop early (a checkpoint is kept)
    python recipes/train_inline.py --train.resume auto               # ... and continue the same run
    accelerate launch --num_processes 2 recipes/train_inline.py      # the same on two processes

Input per clip: ``skeleton`` (3, T, 25, 2) float32 (NTU camera metres, two actor slots). The run
folder holds ``checkpoint/`` (Accelerate's state + ``position.json``), ``model.safetensors``,
``config.json`` (``mmfusion.create_model(name, checkpoint=run)``) and ``metrics.json``. A run
stopped by ``--train.max-steps`` and continued with ``--train.resume auto`` ends with the same
weights, bit for bit, as a run that was never stopped (CPU, ``num_workers=0``).
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from mmfusion.cli_errors import run_command
from mmfusion.data.dataset import collate
from mmfusion.distributed import process_state, set_compute_threads, wants_cpu_group
from mmfusion.engine import EvalAccumulator, SeededSamples, TrainConfig, parse_args, write_json
from mmfusion.engine.optim import build_optimizer, build_scheduler
from mmfusion.experiments.ntu import NTURecipe, datasets
from mmfusion.registry import create_model
from mmfusion.runs import save_weights, write_model_config


@dataclass
class InlineRecipe(NTURecipe):
    """A skeleton classifier on NTU RGB+D, the training loop written out."""

    model: str = "stgcn_tiny"
    """registered skeleton classifier"""
    clip_len: int = 32
    """skeleton frames per clip"""
    output_dir: str = "runs/train_inline"
    """the run folder"""
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=12, global_batch_size=16, lr=3e-3, optimizer="adamw", weight_decay=0.01, scheduler="cosine",
        warmup_epochs=1, clip_grad=5.0))
    """training options (this recipe uses: epochs, batch sizes, optimizer and schedule, grad_accum,
    clip_grad, mixed_precision, seed, num_workers, resume, max_steps, threads, cpu)"""


def evaluate(accelerator: Any, model: torch.nn.Module, loader: DataLoader) -> dict[str, Any]:
    """Metrics over the whole evaluation set, the same on every process."""
    model.eval()
    metrics = EvalAccumulator()
    with torch.no_grad():
        for batch in loader:
            logits = model(batch)["logits"].float()
            # each process sees its shard; gather_for_metrics drops the duplicates that even out the shards
            logits, labels = accelerator.gather_for_metrics((logits, batch["label"]))
            metrics.update(logits, labels.long())
    model.train()
    return metrics.compute().to_dict()


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    from accelerate import Accelerator, DataLoaderConfiguration
    from accelerate.utils import set_seed

    cfg = parse_args(InlineRecipe(), argv)
    tc, run_dir = cfg.train, Path(cfg.output_dir)
    ckpt_dir = run_dir / "checkpoint"

    # -- set-up --------------------------------------------------------------------------------------
    process_state(tc.cpu)  # a gloo group for a CPU-only multi-process launch (see mmfusion.distributed)
    threads = set_compute_threads(tc.threads, tc.num_workers)
    accelerator = Accelerator(cpu=wants_cpu_group(tc.cpu), mixed_precision=tc.mixed_precision,
                              gradient_accumulation_steps=tc.grad_accum,
                              # the shuffling order is a function of (seed, epoch): needed for an exact resume
                              dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=tc.seed))
    accelerator.print(threads)
    set_seed(tc.seed, device_specific=True)
    train_set, test_set = datasets(cfg, ("skeleton",))
    model = create_model(cfg.model, num_classes=train_set.num_classes)
    accum = accelerator.gradient_accumulation_steps
    batch_size = tc.process_batch_size(accelerator.num_processes, accum)
    # sample i of epoch e is drawn under its own seed: augmentation does not depend on where a run resumed
    train_data = SeededSamples(train_set, tc.seed)
    train_dl = DataLoader(train_data, batch_size=batch_size, shuffle=True, drop_last=tc.drop_last,
                          collate_fn=collate, num_workers=tc.num_workers)
    eval_dl = DataLoader(SeededSamples(test_set, tc.seed, stream=1, follow_epoch=False),
                         batch_size=tc.eval_batch_size or batch_size, collate_fn=collate, num_workers=tc.num_workers)
    optimizer = build_optimizer(model, tc)
    model, optimizer, train_dl, eval_dl = accelerator.prepare(model, optimizer, train_dl, eval_dl)
    steps_per_epoch = math.ceil(len(train_dl) / accum)
    scheduler = build_scheduler(optimizer, tc, steps_per_epoch)  # timm: step_update(k) after optimizer step k

    # -- resume --------------------------------------------------------------------------------------
    epoch, skip, step = 0, 0, 0
    if tc.resume is not None and (ckpt_dir / "position.json").is_file():
        accelerator.load_state(str(ckpt_dir))  # model, optimizer, RNG states
        position = json.loads((ckpt_dir / "position.json").read_text())
        epoch, skip, step = position["epoch"], position["batch"], position["step"]
        scheduler.step_update(step)
        accelerator.print(f"resumed at epoch {epoch + 1}, batch {skip}, step {step}")
    elif accelerator.is_main_process and ckpt_dir.exists():
        shutil.rmtree(ckpt_dir)  # a fresh run
    accelerator.wait_for_everyone()

    def save_position(epoch: int, batch: int) -> None:
        accelerator.save_state(str(ckpt_dir))
        if accelerator.is_main_process:
            write_json(ckpt_dir / "position.json", {"epoch": epoch, "batch": batch, "step": step})
        accelerator.wait_for_everyone()

    # -- training ------------------------------------------------------------------------------------
    metrics: dict[str, Any] = {}
    stopped = False
    loss = torch.zeros((), device=accelerator.device)
    while epoch < tc.epochs and not stopped:
        model.train()
        train_data.set_epoch(epoch)
        train_dl.set_epoch(epoch)
        loader = accelerator.skip_first_batches(train_dl, skip) if skip else train_dl
        batch_idx = skip
        for batch in loader:
            with accelerator.accumulate(model):
                outputs = model(batch)
                loss = F.cross_entropy(outputs["logits"].float(), batch["label"])
                accelerator.backward(loss)
                if accelerator.sync_gradients and tc.clip_grad:
                    accelerator.clip_grad_norm_(model.parameters(), tc.clip_grad)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            batch_idx += 1
            if not accelerator.sync_gradients:
                continue
            step += 1
            scheduler.step_update(step)
            if tc.max_steps is not None and step >= tc.max_steps:
                stopped = True
                break
        done = batch_idx >= len(train_dl)
        if done:
            metrics = evaluate(accelerator, model, eval_dl)
            loss_value = accelerator.reduce(loss.detach(), reduction="mean").item()
            accelerator.print(f"epoch {epoch + 1}/{tc.epochs} step {step}: last loss {loss_value:.4f}  "
                              f"eval top1 {100 * metrics['top1']:.2f}%  mean-class {100 * metrics['mean_class']:.2f}%")
            epoch, skip = epoch + 1, 0
        else:
            skip = batch_idx
        save_position(epoch, skip)  # at each epoch's end, and where max_steps stopped the run

    # -- outputs -------------------------------------------------------------------------------------
    if not metrics:
        metrics = evaluate(accelerator, model, eval_dl)
    if accelerator.is_main_process:
        save_weights(accelerator.unwrap_model(model), run_dir / "model.safetensors",
                     metadata={"model_name": cfg.model, "step": str(step)})
        write_model_config(run_dir, cfg.model, {"num_classes": train_set.num_classes}, train_set.classes,
                           train_set.class_names, ("skeleton",), extra={"dataset": train_set.settings})
        write_json(run_dir / "metrics.json", {"step": step, **metrics})
        accelerator.print(f"{step} steps; top1 {100 * metrics['top1']:.2f}%; weights in {run_dir}")
    accelerator.end_training()
    return {"step": step, **metrics}


if __name__ == "__main__":
    # main returns its results; a user error (missing data root, bad file, ...) ends with one line and
    # exit code 2 instead of a traceback
    sys.exit(run_command(lambda: main() and 0, "train_inline.py"))
