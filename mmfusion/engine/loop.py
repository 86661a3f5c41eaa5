"""One training epoch on a :class:`~mmfusion.engine.setup.RunSetup`, and the loop's position.

The loop body is Accelerate's: ``accumulate`` / ``backward`` / ``clip_grad_norm_`` / ``step``,
then the timm schedule's ``step_update``, the model's own ``after_step(step)`` when it defines one
(pre-training objectives: momentum encoders, queues) and the weight average's ``update`` once per
optimizer step. :class:`LoopState` is the position (epoch, batch, step) and the history; it is what a
checkpoint's ``trainer_state.json`` holds, so that a resumed run continues bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import NonFiniteError
from .checkpoint import save_checkpoint
from .evaluation import forward
from .guards import NonFiniteGuard
from .loaders import SeededSamples, epoch_generator_seed
from .metrics import ClassificationMetrics
from .setup import RunSetup


@dataclass
class StepInfo:
    """What a callback sees after each optimizer step (``event="step"``) or epoch (``"epoch"``).

    ``epoch`` is 0-based (the epoch being run / just finished); ``batch_in_epoch`` counts
    micro-batches of that epoch already consumed; ``loss`` is the step loss averaged over
    micro-batches and processes (``None`` for epoch events); ``metrics`` holds the epoch's
    evaluation when there was one.
    """

    event: str
    epoch: int
    global_step: int
    batch_in_epoch: int
    loss: float | None
    lr: float
    metrics: ClassificationMetrics | None
    accelerator: Any
    model: nn.Module


Callback = Callable[[StepInfo], None]


def _zero_stats() -> dict[str, float]:
    return {"loss_sum": 0.0, "steps": 0, "correct": 0.0, "count": 0.0}


@dataclass
class LoopState:
    """Where the loop is, and what it has seen.

    Attributes:
        epoch: 0-based epoch being run (``cfg.epochs`` when done).
        batch_in_epoch: micro-batches of ``epoch`` already consumed.
        global_step: optimizer steps done.
        history: ``{"train": [per-step dicts], "epochs": [per-epoch dicts]}``.
        epoch_stats: running sums of the current epoch (loss, steps, correct, count).
        stop: ``max_steps`` reached.
        guard: the non-finite gradient policy and its skip counts (checkpointed).
    """

    epoch: int = 0
    batch_in_epoch: int = 0
    global_step: int = 0
    history: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {"train": [], "epochs": []})
    epoch_stats: dict[str, float] = field(default_factory=_zero_stats)
    stop: bool = False
    last_checkpoint: Path | None = None
    last_eval: ClassificationMetrics | None = None
    last_eval_step: int = -1
    guard: NonFiniteGuard = field(default_factory=NonFiniteGuard)

    @classmethod
    def from_checkpoint(cls, state: dict[str, Any], path: Path) -> LoopState:
        """The position stored in a checkpoint's ``trainer_state.json``."""
        out = cls(epoch=int(state["epoch"]), batch_in_epoch=int(state["batch_in_epoch"]),
                  global_step=int(state["global_step"]), last_checkpoint=path)
        out.history = state.get("history", out.history)
        out.epoch_stats = state.get("epoch_stats", out.epoch_stats)
        out.guard.load_state_dict(state.get("nonfinite", {}))
        return out

    def trainer_state(self, run: RunSetup, epoch: int, batch: int) -> dict[str, Any]:
        """The JSON saved as a checkpoint's ``trainer_state.json`` (the checkpoint format)."""
        return {"epoch": epoch, "batch_in_epoch": batch, "global_step": self.global_step,
                "batches_per_epoch": run.batches_per_epoch, "steps_per_epoch": run.steps_per_epoch,
                "num_processes": run.accelerator.num_processes, "seed": run.cfg.seed,
                "epoch_stats": self.epoch_stats, "history": self.history, "nonfinite": self.guard.state_dict()}

    def checkpoint(self, run: RunSetup, epoch: int, batch: int) -> Path | None:
        """Save the full training state (every process must call this); None when checkpoints are off."""
        if run.cfg.keep_last == 0:
            return None
        self.last_checkpoint = save_checkpoint(run.accelerator, run.run_dir, self.global_step,
                                               self.trainer_state(run, epoch, batch), run.cfg.keep_last,
                                               model=run.unwrapped)
        return self.last_checkpoint


def current_lr(run: RunSetup) -> float:
    return float(run.optimizer.param_groups[0]["lr"])


def _epoch_loader(run: RunSetup, epoch: int, skip: int) -> Any:
    """The training loader for ``epoch``, reseeded, past its first ``skip`` batches."""
    run.train_generator.manual_seed(epoch_generator_seed(run.cfg.seed, epoch))
    if isinstance(run.train_data, SeededSamples):
        run.train_data.set_epoch(epoch)
    run.train_loader.set_epoch(epoch)
    if 0 < skip < run.batches_per_epoch:
        loader = run.accelerator.skip_first_batches(run.train_loader, skip)
        loader.set_epoch(epoch)
        return loader
    return run.train_loader if skip < run.batches_per_epoch else ()


def train_one_epoch(run: RunSetup, state: LoopState, callbacks: Sequence[Callback] = ()) -> bool:
    """Run the rest of epoch ``state.epoch`` from batch ``state.batch_in_epoch``.

    Updates ``state`` (position, history, epoch sums); sets ``state.stop`` when ``max_steps`` is
    reached. Calls the model's ``set_epoch(epoch)`` (0-based) first when it has one, also on
    resume. Returns whether the epoch's batches were all consumed.
    """
    from tqdm.auto import tqdm  # deferred: tqdm.auto probes for notebooks at import

    cfg, accelerator, net = run.cfg, run.accelerator, run.model
    epoch, n_batches = state.epoch, run.batches_per_epoch
    state.guard.policy = cfg.nonfinite
    skip = min(state.batch_in_epoch, n_batches)
    net.train()
    # a model whose training changes with the epoch (BRL's deferred re-weighting) learns it here
    set_epoch = getattr(run.unwrapped, "set_epoch", None)
    if callable(set_epoch):
        set_epoch(epoch)
    after_step = getattr(run.unwrapped, "after_step", None)
    after_step = after_step if callable(after_step) and not isinstance(after_step, nn.Module) else None
    loader = _epoch_loader(run, epoch, skip)
    state.batch_in_epoch = skip
    run_loss = torch.zeros((), device=accelerator.device)
    run_correct = torch.zeros((), device=accelerator.device)
    run_count, micro = 0, 0
    bar = tqdm(total=n_batches, initial=skip, desc=f"epoch {epoch + 1}/{cfg.epochs}",
               disable=not accelerator.is_local_main_process, dynamic_ncols=True, leave=False)
    for batch in loader:
        with accelerator.accumulate(net):
            outputs = forward(net, batch, allow_loss_only=True)
            target = batch["label"]
            loss = run.compute_loss(outputs, target)
            accelerator.backward(loss)
            if accelerator.sync_gradients and cfg.clip_grad:
                accelerator.clip_grad_norm_(net.parameters(), cfg.clip_grad)
            # a finite loss can still give NaN gradients: check them (after clipping) before they reach the
            # weights; with a GradScaler (fp16) the scaler already skips such steps itself
            skipped = (accelerator.sync_gradients and accelerator.scaler is None
                       and not state.guard.allow_step(net, step=state.global_step + 1, epoch=epoch))
            if not skipped:
                run.optimizer.step()
            run.optimizer.zero_grad(set_to_none=True)
        state.batch_in_epoch += 1
        micro += 1
        bar.update(1)
        run_loss += loss.detach().float()
        if "logits" in outputs:  # a pre-training objective returns its loss only: no accuracy
            run_correct += (outputs["logits"].detach().argmax(dim=1) == target).sum()
            run_count += int(target.shape[0])
        if not accelerator.sync_gradients:
            continue
        # -- one optimizer step done ----------------------------------------------------------------
        state.global_step += 1
        run.scheduler.step_update(state.global_step)
        if after_step is not None:  # e.g. momentum encoders of pre-training objectives; before any checkpoint
            after_step(state.global_step)
        if run.ema is not None:
            run.ema.update(run.unwrapped, step=state.global_step)
        # one all-reduce per optimizer step: [mean loss over micro-batches, correct, count]
        stats = torch.stack([run_loss / micro, run_correct.float(),
                             torch.tensor(float(run_count), device=run_loss.device)])
        stats = accelerator.reduce(stats, reduction="sum")
        step_loss = float(stats[0]) / accelerator.num_processes
        if not math.isfinite(step_loss) and not skipped:
            raise NonFiniteError(f"non-finite training loss ({step_loss}) at step {state.global_step}, epoch "
                                 f"{epoch + 1}; lower lr, enable clip_grad, or set nonfinite='skip'")
        lr = current_lr(run)
        if not skipped:  # a dropped update does not enter the curves or the epoch's means
            state.history["train"].append({"step": state.global_step,
                                           "epoch": epoch + state.batch_in_epoch / n_batches,
                                           "loss": step_loss, "lr": lr})
            state.epoch_stats["loss_sum"] += step_loss
            state.epoch_stats["steps"] += 1
            state.epoch_stats["correct"] += float(stats[1])
            state.epoch_stats["count"] += float(stats[2])
        run_loss.zero_()
        run_correct.zero_()
        run_count, micro = 0, 0
        if state.global_step % cfg.log_every == 0:
            bar.set_postfix(loss=f"{step_loss:.4f}", lr=f"{lr:.3g}")
            if cfg.tracker:
                accelerator.log({"train/loss": step_loss, "train/lr": lr}, step=state.global_step)
        state.stop = cfg.max_steps is not None and state.global_step >= cfg.max_steps
        if cfg.save_every_steps and state.global_step % cfg.save_every_steps == 0 \
                and state.batch_in_epoch < n_batches:
            state.checkpoint(run, epoch, state.batch_in_epoch)
        info = StepInfo("step", epoch, state.global_step, state.batch_in_epoch, step_loss, lr, None, accelerator, net)
        for cb in callbacks:
            cb(info)
        if state.stop:
            break
    bar.close()
    return state.batch_in_epoch >= n_batches
