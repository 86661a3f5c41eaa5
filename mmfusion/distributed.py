"""The process group of a launched run, created once per process.

Accelerate decides the backend when its ``PartialState`` is first created. Under
``accelerate launch --multi_gpu --num_processes 2`` (or ``torchrun``) on a machine without any
accelerator, the launcher passes ``WORLD_SIZE=2`` but also resets ``ACCELERATE_USE_CPU`` from its
own flags, so a plain ``PartialState()`` silently starts two *independent* single-process runs.
:func:`process_state` makes that case a gloo CPU group instead, which is what the user asked for.
Every mmfusion module that needs the process group goes through it.
"""

from __future__ import annotations

import os
from typing import Any

import torch


def _has_accelerator() -> bool:
    return bool(torch.accelerator.is_available()) if hasattr(torch, "accelerator") else torch.cuda.is_available()


def wants_cpu_group(cpu: bool = False) -> bool:
    """Whether the process group must be a CPU (gloo) one: asked for, or a multi-process launch
    on a machine without an accelerator."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    return cpu or (world > 1 and not _has_accelerator())


def process_state(cpu: bool = False) -> Any:
    """Accelerate's ``PartialState`` of this process (created on the first call).

    Args:
        cpu: force a CPU run (same meaning as ``Accelerator(cpu=True)``).
    """
    from accelerate import PartialState

    if not PartialState._shared_state:
        return PartialState(cpu=wants_cpu_group(cpu))
    return PartialState()
