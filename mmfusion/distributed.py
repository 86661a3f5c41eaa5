"""The process group of a launched run, created once per process.

Accelerate decides the backend when its ``PartialState`` is first created. Under
``accelerate launch --multi_gpu --num_processes 2`` (or ``torchrun``) on a machine without any
accelerator, the launcher passes ``WORLD_SIZE=2`` but also resets ``ACCELERATE_USE_CPU`` from its
own flags, so a plain ``PartialState()`` silently starts two *independent* single-process runs.
:func:`process_state` makes that case a gloo CPU group instead, which is what the user asked for.
Every mmfusion module that needs the process group goes through it.

It also decides how many torch threads a process computes with (:func:`set_compute_threads`):
launchers set ``OMP_NUM_THREADS=1``, which would leave all but one core idle on a CPU run.
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


#: set by ``accelerate launch`` (every launcher mode) and by ``torchrun``; both also set
#: OMP_NUM_THREADS (to 1 unless told otherwise), which then says nothing about the user's wish
_LAUNCHER_MARKERS = ("ACCELERATE_DYNAMO_BACKEND", "TORCHELASTIC_RUN_ID")


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask; ``os.cpu_count()`` elsewhere)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS / Windows
        return os.cpu_count() or 1


def local_processes() -> int:
    """Processes of this run on this machine (the launcher's LOCAL_WORLD_SIZE, else WORLD_SIZE)."""
    for key in ("LOCAL_WORLD_SIZE", "WORLD_SIZE"):
        value = os.environ.get(key, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 1


def compute_threads(requested: int | None = None, num_workers: int = 0) -> tuple[int, str]:
    """How many torch threads one process should use for compute, and why (for the log).

    Policy, first match wins:

    1. ``requested`` (``TrainConfig.threads``): exactly that.
    2. ``OMP_NUM_THREADS`` set by the user (not by ``accelerate launch`` / ``torchrun``, which
       set it to 1 on their own): that.
    3. All the cores the launch leaves: ``cores // local processes``, minus the process's
       DataLoader workers (each works single-threaded), at least 1.
    """
    cores, procs = available_cores(), local_processes()
    plural = "process" if procs == 1 else "processes"
    if requested is not None:
        return int(requested), f"{cores} cores, {procs} {plural}, set by TrainConfig.threads"
    omp = os.environ.get("OMP_NUM_THREADS", "")
    launched = any(k in os.environ for k in _LAUNCHER_MARKERS)
    if omp.isdigit() and int(omp) > 0 and not launched:
        return int(omp), f"{cores} cores, {procs} {plural}, set by OMP_NUM_THREADS"
    workers = f", {num_workers} data worker(s)" if num_workers else ""
    return max(1, cores // procs - num_workers), f"{cores} cores, {procs} {plural}{workers}"


def busy_machine_note(threads: int) -> str | None:
    """A warning when several threads meet a machine that other jobs already keep busy.

    OpenMP's default wait policy spins at each barrier; when another process holds one of the
    cores, the spinning threads wait for a descheduled peer, and a step can take many times as
    long as with one thread (measured: 8.6 s vs 0.7 s per M-Mixer step, load 3 on 2 cores).
    ``OMP_WAIT_POLICY=PASSIVE`` (read when torch is imported) avoids that. The thread count is
    not lowered here: it would make a run's numbers depend on the machine's load.
    """
    if threads < 2 or os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE":
        return None
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return None
    cores = available_cores()
    if load <= cores:
        return None
    return (f"warning: load average {load:.1f} on {cores} cores: {threads} threads that spin-wait can be much "
            f"slower than 1; set OMP_WAIT_POLICY=PASSIVE (before starting Python) or --train.threads 1")


def set_compute_threads(requested: int | None = None, num_workers: int = 0) -> str:
    """Apply :func:`compute_threads` to torch; returns the line(s) to log
    (``"torch threads: 2 (2 cores, 1 process)"``, plus :func:`busy_machine_note`'s warning)."""
    threads, why = compute_threads(requested, num_workers)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    note = busy_machine_note(threads)
    return f"torch threads: {threads} ({why})" + (f"\n{note}" if note else "")
