"""``train()``: set up a run, loop over epochs, evaluate, write the run folder.

One loop serves every model: a batch is a dict of modality tensors (N, ...) plus
``"label"`` (N,) int64; the model maps it to ``{"logits": (N, C), ...}``. The loss is the
model's own ``loss(outputs, target)`` when it defines one, else cross-entropy on the logits.
The same script runs on one CPU, one GPU, several GPUs or several machines; only the launch
differs (``python recipe.py`` / ``accelerate launch --multi_gpu --num_processes N recipe.py``).

The parts, in the order a run uses them:

* :mod:`~mmfusion.engine.accelerator` - the ``Accelerator`` and the compute threads;
* :mod:`~mmfusion.engine.setup` - model, loaders, optimizer, timm schedule, weight average, resume target;
* :mod:`~mmfusion.engine.loop` - one epoch (:func:`train_one_epoch`) and the loop position;
* :mod:`~mmfusion.engine.evaluation` - metrics over all processes (torchmetrics);
* :mod:`~mmfusion.engine.run_folder` - config.json, metrics.json, plots, weights.

Reproducibility: ``set_seed`` (process-specific for augmentation), a seedable sampler whose
order depends only on (seed, epoch), and DataLoaders with their own generators so that
iterating a loader never draws from the global RNG. A checkpoint stores model, optimizer,
RNG states (and the weight average) and the loop position; resuming (``resume="auto"``) skips
the batches already seen with ``skip_first_batches`` and continues the same run: on CPU with
``num_workers=0`` the resumed per-step losses equal the uninterrupted ones bit for bit
(with worker processes, random augmentation in workers is reseeded on resume).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn
from torch.utils.data import Dataset

from ..distributed import process_state
from ..locks import FolderLock
from .accelerator import make_accelerator
from .checkpoint import load_checkpoint
from .config import TrainConfig
from .evaluation import ClipTesting, run_evaluation
from .loop import Callback, LoopState, StepInfo, current_lr, train_one_epoch
from .metrics import ClassificationMetrics, add_shot_accuracy
from .run_folder import BestWeights, write_history, write_run_end, write_run_start
from .setup import RunSetup, check_class_names, resume_target, setup_run


@dataclass
class TrainResult:
    """What :func:`train` returns (on every process; files are written by the main process).

    Attributes:
        run_dir: the run folder (``cfg.output_dir``).
        metrics: final evaluation as a JSON-ready dict (``top1``, ``top5``, ``mean_class``,
            ``per_class`` {name: acc}, ``confusion``, ``loss``, ``num_samples``, and ``shots``
            (many / medium / few-shot) when the training set has ``class_counts``); {} without eval set.
        eval: the same as :class:`~mmfusion.engine.metrics.ClassificationMetrics` (or None).
        history: ``{"train": [per-step dicts: step, epoch (fractional), loss, lr],
            "epochs": [per-epoch dicts: epoch, step, train_loss, train_top1, eval_*]}``.
        weights: ``<run>/model.safetensors`` (the weight average when ``ema``).
        model_config: ``<run>/config.json`` (for ``mmfusion.create_model(name, checkpoint=run_dir)``).
        plots: {"confusion": PNG, "curves": PNG} (the ones that were drawn).
        checkpoint: the last checkpoint folder (None if checkpoints are off).
        best: ``{"metric", "value", "epoch", "step", "weights"}`` of ``model_best.safetensors``
            ({} when ``best_metric`` is None or nothing was evaluated).
        global_step: optimizer steps done.
        files: other outputs (train_config.json, run_info.json, metrics.json, history.json, logs).
    """

    run_dir: Path
    metrics: dict[str, Any]
    eval: ClassificationMetrics | None
    history: dict[str, list[dict[str, Any]]]
    weights: Path
    model_config: Path
    plots: dict[str, Path] = field(default_factory=dict)
    checkpoint: Path | None = None
    best: dict[str, Any] = field(default_factory=dict)
    global_step: int = 0
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def top1(self) -> float:
        return float(self.metrics.get("top1", math.nan))

    @property
    def top5(self) -> float:
        return float(self.metrics.get("top5", math.nan))

    @property
    def mean_class(self) -> float:
        return float(self.metrics.get("mean_class", math.nan))


def shutdown() -> None:
    """End the distributed process group (call once at the very end of a launched script).

    :func:`train` leaves the group alive so that a script can go on (evaluate, train again);
    without this call torch may warn at exit that the group was not destroyed.
    """

    state = process_state()
    if state.use_distributed:
        state.destroy_process_group()


def resume(run: RunSetup, path: Path | None) -> LoopState:
    """The loop position to start from: restored from checkpoint ``path``, or a fresh one."""
    if path is None:
        return LoopState()
    saved = load_checkpoint(run.accelerator, path)  # model, optimizer, RNGs (and the average) in place
    state = LoopState.from_checkpoint(saved, path)
    if saved.get("batches_per_epoch") not in (None, run.batches_per_epoch):
        run.accelerator.print(f"warning: checkpoint had {saved['batches_per_epoch']} batches per epoch, now "
                              f"{run.batches_per_epoch} (batch size / process count changed): resumed position "
                              f"is approximate")
    run.scheduler.step_update(state.global_step)  # the schedule is a function of the step count
    run.accelerator.print(f"resumed from {path}: epoch {state.epoch + 1}, batch {state.batch_in_epoch}, "
                          f"step {state.global_step}")
    return state


def end_epoch(run: RunSetup, state: LoopState, class_names: Sequence[str] | None,
              callbacks: Sequence[Callback], clips: ClipTesting | None = None,
              best: BestWeights | None = None) -> None:
    """After an epoch's batches: the epoch's record, evaluation when due, history.json, checkpoint."""
    cfg, acc, epoch = run.cfg, run.accelerator, state.epoch
    entry: dict[str, Any] = {"epoch": epoch + 1, "step": state.global_step}
    stats = state.epoch_stats
    if stats["steps"]:
        entry["train_loss"] = stats["loss_sum"] / stats["steps"]
    if stats["count"]:
        entry["train_top1"] = stats["correct"] / stats["count"]
    state.epoch_stats = {"loss_sum": 0.0, "steps": 0, "correct": 0.0, "count": 0.0}
    last_epoch = epoch + 1 == cfg.epochs or state.stop
    metrics = None
    if run.eval_loader is not None and ((cfg.eval_every and (epoch + 1) % cfg.eval_every == 0) or last_epoch):
        metrics = run_evaluation(acc, run.eval_model, run.eval_loader, class_names, clips=clips)
        state.last_eval, state.last_eval_step = metrics, state.global_step
        entry.update(eval_loss=metrics.loss, eval_top1=metrics.top1, eval_top5=metrics.top5,
                     eval_mean_class=metrics.mean_class)
        if best is not None:
            best.update(run, metrics, epoch + 1, state.global_step)
    state.history["epochs"].append(entry)
    summary = "  ".join(f"{k} {v:.4f}" for k, v in entry.items() if isinstance(v, float))
    acc.print(f"epoch {epoch + 1}/{cfg.epochs} step {state.global_step}: {summary}")
    if cfg.tracker:
        acc.log({f"epoch/{k}": v for k, v in entry.items() if isinstance(v, float)}, step=state.global_step)
    write_history(run, state)
    if (cfg.save_every and (epoch + 1) % cfg.save_every == 0) or last_epoch:
        state.checkpoint(run, epoch + 1, 0)
    info = StepInfo("epoch", epoch, state.global_step, run.batches_per_epoch, None, current_lr(run), metrics,
                    acc, run.model)
    for cb in callbacks:
        cb(info)


def train(cfg: TrainConfig, model: str | nn.Module | Callable[[], nn.Module], train_set: Dataset,
          eval_set: Dataset | None = None, *, model_kwargs: Mapping[str, Any] | None = None,
          model_name: str | None = None, classes: Sequence[Any] | None = None,
          class_names: Sequence[str] | None = None, modalities: Sequence[str] | None = None,
          recipe_config: Any = None, collate_fn: Callable | None = None,
          callbacks: Sequence[Callback] = (), clip_testing: ClipTesting | None = None) -> TrainResult:
    """Train ``model`` on ``train_set``, evaluate on ``eval_set``, write the run folder.

    Args:
        cfg: training settings (see :class:`~mmfusion.engine.config.TrainConfig`).
        model: a registered model name (built with ``model_kwargs`` after seeding), a
            zero-argument factory (called after seeding), or a built ``nn.Module``.
            ``forward(batch) -> {"logits": (N, C), ...}``; an optional
            ``loss(outputs, target) -> scalar`` replaces cross-entropy.
        train_set, eval_set: map-style datasets of sample dicts with ``"label"``.
        model_kwargs: entry-function arguments, stored in ``config.json``.
        model_name: registered name for ``config.json`` when ``model`` is not a name.
        classes, class_names, modalities: stored in ``config.json`` (defaults: the training
            set's ``classes`` / ``class_names`` / ``modalities`` attributes when present).
        recipe_config: the recipe's full config dataclass; saved as ``train_config.json``
            (loadable with ``--config``) instead of ``cfg`` alone.
        collate_fn: default :func:`mmfusion.data.dataset.collate`.
        callbacks: called with a :class:`StepInfo` after every optimizer step and epoch;
            an exception raised there stops training (after any checkpoint of that step).
        clip_testing: how evaluation samples with K clips are scored
            (:class:`~mmfusion.engine.evaluation.ClipTesting`); None: one clip per sample.

    Returns:
        :class:`TrainResult` (same on every process).

    Raises:
        ConfigError: invalid settings, an output folder with an unrelated run, a model
            without ``"logits"``; CheckpointError: unusable ``resume`` target;
            FloatingPointError: a non-finite training loss.
    """
    # -- set-up ------------------------------------------------------------------------------------
    cfg.validate()
    accelerator = make_accelerator(cfg)
    with contextlib.ExitStack() as held:
        if accelerator.is_main_process:
            # one writer per run folder: a second run into it fails at once and names the holder
            held.enter_context(FolderLock(cfg.output_dir, "training"))
        resume_from = resume_target(cfg, accelerator)
        run = setup_run(cfg, accelerator, model, train_set, eval_set, model_kwargs=model_kwargs,
                        model_name=model_name, collate_fn=collate_fn)
        classes = classes if classes is not None else getattr(train_set, "classes", None)
        class_names = class_names if class_names is not None else getattr(train_set, "class_names", None)
        modalities = modalities if modalities is not None else getattr(train_set, "modalities", None)
        check_class_names(class_names, model_kwargs)
        files = write_run_start(run, recipe_config if recipe_config is not None else cfg, train_set, model_kwargs,
                                classes, class_names, modalities)
        state = resume(run, resume_from)
        # the best-so-far survives a resume through best.json (written with each new best)
        best = None
        if cfg.best_metric and run.eval_loader is not None:
            best = (BestWeights.restore(run, cfg.best_metric) if resume_from is not None
                    else BestWeights(cfg.best_metric))

        # -- epochs ------------------------------------------------------------------------------------
        state.stop = cfg.max_steps is not None and state.global_step >= cfg.max_steps
        stopped_inside = False
        while state.epoch < cfg.epochs and not state.stop:
            if not train_one_epoch(run, state, callbacks):
                stopped_inside = True  # max_steps reached inside the epoch
                break
            end_epoch(run, state, class_names, callbacks, clip_testing, best)
            state.epoch += 1
            state.batch_in_epoch = 0

        # -- final evaluation and run folder -----------------------------------------------------------
        saved_now = state.last_checkpoint is not None and state.last_checkpoint.name == f"step_{state.global_step:08d}"
        if stopped_inside and not saved_now:
            state.checkpoint(run, state.epoch, state.batch_in_epoch)
        final = state.last_eval
        if run.eval_loader is not None and (final is None or state.last_eval_step != state.global_step):
            final = run_evaluation(accelerator, run.eval_model, run.eval_loader, class_names, clips=clip_testing)
            if best is not None and final is not None:
                best.update(run, final, state.epoch, state.global_step)
        if final is not None:  # a long-tailed training set (e.g. LongTailSubset) knows its class counts
            add_shot_accuracy(final, getattr(train_set, "class_counts", None),
                              tuple(getattr(train_set, "shot_thresholds", (100.0, 20.0))))
        weights, plots = write_run_end(run, state, final, files)
        return TrainResult(run_dir=run.run_dir, metrics=final.to_dict() if final is not None else {}, eval=final,
                           history=state.history, weights=weights, model_config=run.run_dir / "config.json",
                           plots=plots, checkpoint=state.last_checkpoint, global_step=state.global_step, files=files,
                           best=best.record if best is not None else {})
