"""The run's ``Accelerator``: process group, precision, accumulation, data seeding, threads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..distributed import process_state, set_compute_threads, wants_cpu_group
from ..errors import ConfigError
from .config import TrainConfig


def _fresh_accelerate_state() -> None:
    """Let one process call :func:`~mmfusion.engine.train` several times with different
    precision settings.

    Accelerate keeps process-wide singletons; the process group (``PartialState``) is kept,
    the per-run parts (mixed precision, accumulation plugin) are cleared.
    """
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=False)
    GradientState._reset_state()


def make_accelerator(cfg: TrainConfig, log_threads: bool = True) -> Any:
    """The ``Accelerator`` for ``cfg`` (seedable sampler, DDP kwargs, tracker, project folder),
    with torch's compute threads set by :func:`mmfusion.distributed.set_compute_threads`."""
    from accelerate import Accelerator, DataLoaderConfiguration, DistributedDataParallelKwargs
    from accelerate.utils import ProjectConfiguration

    _fresh_accelerate_state()
    process_state(cfg.cpu)  # the process group first: a gloo group under a CPU-only multi-process launch
    threads_line = set_compute_threads(cfg.threads, cfg.num_workers)
    run_dir = Path(cfg.output_dir)
    accelerator = Accelerator(
        cpu=wants_cpu_group(cfg.cpu),
        mixed_precision=cfg.mixed_precision,
        gradient_accumulation_steps=cfg.grad_accum,
        log_with=[cfg.tracker] if cfg.tracker else None,
        project_config=ProjectConfiguration(project_dir=str(run_dir), logging_dir=str(run_dir / "logs")),
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=cfg.seed),
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=cfg.find_unused_parameters)],
    )
    if accelerator.mixed_precision == "fp16" and accelerator.device.type == "cpu":
        raise ConfigError("mixed_precision='fp16' needs a GPU; use 'no' (fp32) on the CPU")
    if log_threads:
        accelerator.print(threads_line)
    return accelerator
