"""Non-finite training guards: NaN/inf gradients before the optimizer step, non-finite weights before saving.

The training loop used to check only the loss, after ``optimizer.step()``. A finite loss with a
NaN gradient (one bad sample, an overflow in one layer, or -- seen with torch 2.14 -- CPU bf16
autocast, whose conv backward produces NaN gradients nondeterministically) then wrote NaN
weights into the optimizer state and into the next checkpoint, so resuming could not recover.

* :func:`check_gradients` -- True when every gradient is finite. One fused reduction: the
  max-abs (inf) norm of all gradients through ``torch.nn.utils.get_total_norm`` (``_foreach``
  kernels, one scalar, one host sync). The inf norm propagates NaN and inf and, unlike the L2
  norm, cannot overflow on finite gradients. Call it after ``accelerator.backward`` and after
  clipping (which unscales fp16 gradients), only when ``accelerator.sync_gradients`` (under
  gradient accumulation the gradients are complete, and all-reduced across processes, only then;
  so every process takes the same decision).
* :class:`NonFiniteGuard` -- the policy ``nonfinite: "stop" | "skip"``: "stop" raises
  :class:`~mmfusion.errors.NonFiniteError` naming step and epoch; "skip" drops the update (no
  ``optimizer.step()``), counts it (``guard.skipped``) and logs one line per skipped step.
* :func:`assert_finite_state` -- refuses (``CheckpointError``) to write a checkpoint or weights
  file whose floating tensors hold NaN or inf.

With fp16 and a ``GradScaler`` the scaler already skips overflowing steps (and lowers its scale):
leave those steps to it and call the guard only when ``accelerator.scaler is None``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ..errors import ConfigError, NonFiniteError

NonFinitePolicy = Literal["stop", "skip"]
log = logging.getLogger(__name__)


def _grads(params: nn.Module | Iterable[torch.Tensor]) -> list[torch.Tensor]:
    it = params.parameters() if isinstance(params, nn.Module) else params
    return [p.grad for p in it if p.grad is not None]


def gradient_max_abs(params: nn.Module | Iterable[torch.Tensor]) -> torch.Tensor:
    """Largest absolute gradient value as a 0-dim tensor on the gradients' device (NaN if any is NaN).

    ``params``: a model or its parameters. 0 when no parameter has a gradient.
    """
    grads = _grads(params)
    if not grads:
        return torch.zeros(())
    return torch.nn.utils.get_total_norm(grads, norm_type=math.inf, error_if_nonfinite=False)


def check_gradients(params: nn.Module | Iterable[torch.Tensor],
                    reduce: Callable[[torch.Tensor], torch.Tensor] | None = None) -> bool:
    """True when every gradient of ``params`` (a model or its parameters) is finite.

    Args:
        reduce: for sharded gradients (FSDP / ZeRO) where processes hold different parts,
            a cross-process reduction of the 0-dim max (e.g. ``lambda t: accelerator.reduce(t, "max")``)
            so that all processes agree; not needed with DDP (gradients are all-reduced).
    """
    m = gradient_max_abs(params).float()
    if reduce is not None:
        m = reduce(m)
    return bool(torch.isfinite(m))


@dataclass
class NonFiniteGuard:
    """Decides, once per optimizer step, whether the step may update the weights.

    Args:
        policy: "stop" (raise :class:`NonFiniteError`) or "skip" (drop the update, count it).
        max_consecutive_skips: with "skip", raise once this many steps in a row were skipped
            (a run that only produces NaN must not go on silently); None: never.

    Attributes:
        skipped: steps skipped so far (store it in the trainer state to keep it across resumes).
        consecutive: skipped steps in a row, ending with the last checked step.
    """

    policy: NonFinitePolicy = "stop"
    max_consecutive_skips: int | None = 100
    skipped: int = 0
    consecutive: int = 0

    def __post_init__(self) -> None:
        if self.policy not in ("stop", "skip"):
            raise ConfigError(f"nonfinite must be 'stop' or 'skip', got {self.policy!r}")

    def allow_step(self, params: nn.Module | Iterable[torch.Tensor], step: int, epoch: int | None = None,
                   reduce: Callable[[torch.Tensor], torch.Tensor] | None = None) -> bool:
        """True: call ``optimizer.step()``. False: skip this update ("skip" policy).

        Raises:
            NonFiniteError: a non-finite gradient under "stop", or too many skips in a row.
        """
        if check_gradients(params, reduce):
            self.consecutive = 0
            return True
        where = f"step {step}" + (f", epoch {epoch + 1}" if epoch is not None else "")
        if self.policy == "stop":
            raise NonFiniteError(f"non-finite gradient at {where} (the loss may still be finite); the weights "
                                 f"were not updated. Lower the learning rate, enable clip_grad, train in fp32 "
                                 f"(mixed_precision='no') on the CPU, or set nonfinite='skip'")
        self.skipped += 1
        self.consecutive += 1
        log.warning("non-finite gradient at %s: update skipped (%d skipped so far)", where, self.skipped)
        if self.max_consecutive_skips is not None and self.consecutive >= self.max_consecutive_skips:
            raise NonFiniteError(f"{self.consecutive} optimizer steps in a row had non-finite gradients (last at "
                                 f"{where}); stopping instead of skipping further")
        return False

    def state_dict(self) -> dict[str, int]:
        return {"skipped": self.skipped, "consecutive": self.consecutive}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        self.skipped = int(state.get("skipped", 0))
        self.consecutive = int(state.get("consecutive", 0))
