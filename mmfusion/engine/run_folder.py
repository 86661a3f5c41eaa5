"""The run folder: what a run writes at its start and at its end.

Layout (``cfg.output_dir``)::

    train_config.json     the recipe's full config (loadable with --config)
    run_info.json         processes, device, precision, versions, command line
    config.json           model card: model_name, model_kwargs, classes, ... (mmfusion.create_model)
    history.json          per-step and per-epoch records (rewritten after each epoch)
    metrics.json          final evaluation: top1, top5, mean_class, per_class, confusion, loss, ...
    model.safetensors     final weights (the weight average when ema=True: what metrics.json measured)
    model_raw.safetensors the optimizer's last weights (only with ema=True)
    model_best.safetensors the evaluated weights with the best ``best_metric`` so far (+ best.json:
                          metric, value, epoch, step); kept through resumes
    curves.png, confusion_matrix.png
    checkpoints/step_*/   resumable states (mmfusion.engine.checkpoint)
"""

from __future__ import annotations

import json
import platform
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..runs import WEIGHTS, save_weights, to_jsonable, write_json, write_model_config
from .loop import LoopState
from .metrics import ClassificationMetrics
from .plots import plot_confusion_matrix, plot_curves
from .setup import RunSetup

RAW_WEIGHTS = "model_raw.safetensors"
BEST_WEIGHTS = "model_best.safetensors"
BEST_RECORD = "best.json"


class BestWeights:
    """Keeps ``model_best.safetensors``: the evaluated weights (the weight average when ``ema``)
    with the highest ``metric`` so far; a tie keeps the earlier ones.

    ``best.json`` (``{"metric", "value", "epoch", "step", "weights"}``) is written with each new
    best, so a resumed run continues the comparison instead of starting over.
    """

    def __init__(self, metric: str, record: dict[str, Any] | None = None) -> None:
        self.metric = metric
        self.record: dict[str, Any] = dict(record or {})

    @classmethod
    def restore(cls, run: RunSetup, metric: str) -> BestWeights:
        """The best so far of ``run``'s folder (a resumed run), or an empty one."""
        path = run.run_dir / BEST_RECORD
        record = None
        if path.is_file() and (run.run_dir / BEST_WEIGHTS).is_file():
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                record = None  # unreadable: the next evaluation writes a fresh best
            if record is not None and record.get("metric") != metric:
                record = None
        return cls(metric, record)

    def update(self, run: RunSetup, metrics: ClassificationMetrics, epoch: int, step: int) -> bool:
        """Save the weights if ``metrics`` beat the best so far (main process writes); True if saved."""
        value = float(getattr(metrics, self.metric))
        if self.record and not value > float(self.record["value"]):
            return False
        if self.record.get("step") == step:
            return False  # the same weights were already saved (final evaluation after the last epoch's)
        self.record = {"metric": self.metric, "value": value, "epoch": epoch, "step": step,
                       "weights": str(run.run_dir / BEST_WEIGHTS)}
        if run.accelerator.is_main_process:
            model = run.ema.module if run.ema is not None else run.unwrapped
            save_weights(model, run.run_dir / BEST_WEIGHTS,
                         metadata={"model_name": run.model_name or "", "step": str(step), self.metric: str(value)})
            write_json(run.run_dir / BEST_RECORD, self.record)
        return True


def flat_hparams(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten a config for trackers (TensorBoard hparams take scalars and strings only)."""
    out: dict[str, Any] = {}
    data = to_jsonable(obj)
    if not isinstance(data, dict):
        return {prefix.rstrip(".") or "value": str(data)}
    for k, v in data.items():
        if isinstance(v, dict):
            out.update(flat_hparams(v, f"{prefix}{k}."))
        elif isinstance(v, (bool, int, float, str)):
            out[f"{prefix}{k}"] = v
        else:
            out[f"{prefix}{k}"] = json.dumps(v)
    return out


def run_info(run: RunSetup) -> dict[str, Any]:
    """Facts of the run that are not in its config (processes, device, versions, command)."""
    import accelerate


    acc, cfg = run.accelerator, run.cfg
    return {
        "model_name": run.model_name, "seed": cfg.seed, "num_processes": acc.num_processes,
        "distributed_type": str(acc.distributed_type), "device": str(acc.device),
        "mixed_precision": acc.mixed_precision, "grad_accum": run.accum,
        "global_batch_size": run.batch_size * acc.num_processes * run.accum,
        "torch_threads": torch.get_num_threads(),
        "versions": {"mmfusion": __version__, "torch": torch.__version__, "accelerate": accelerate.__version__,
                     "python": platform.python_version()},
        "command": sys.argv, "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def write_run_start(run: RunSetup, saved_cfg: Any, train_set: Any, model_kwargs: Mapping[str, Any] | None,
                    classes: Sequence[Any] | None, class_names: Sequence[str] | None,
                    modalities: Sequence[str] | None) -> dict[str, Path]:
    """Write train_config.json, run_info.json and config.json (main process); print the header."""
    acc, run_dir = run.accelerator, run.run_dir
    files = {"train_config": run_dir / "train_config.json", "run_info": run_dir / "run_info.json"}
    if acc.is_main_process:
        write_json(files["train_config"], saved_cfg)
        write_json(files["run_info"], run_info(run))
        extra: dict[str, Any] = {"num_classes": (model_kwargs or {}).get("num_classes",
                                                                        len(class_names) if class_names else None)}
        data_settings = getattr(train_set, "settings", None)
        if data_settings is not None:  # e.g. NTUDataset's ClipSettings: how inputs were prepared, for inference
            extra["dataset"] = data_settings() if callable(data_settings) else data_settings
        write_model_config(run_dir, run.model_name, model_kwargs, classes, class_names, modalities, extra=extra)
    if run.model_name is None:
        acc.print("note: model_name unknown (pass model as a registered name or model_name=...); "
                  "config.json will not be loadable with mmfusion.create_model")
    acc.print(f"mmfusion training run {run_dir}  ({acc.num_processes} process(es), {acc.device}, "
              f"mixed_precision={acc.mixed_precision})")
    acc.print(json.dumps(to_jsonable(saved_cfg), indent=2))
    acc.print(f"{run.batches_per_epoch} batches per epoch / {run.accum} accumulation -> {run.steps_per_epoch} "
              f"optimizer steps per epoch; global batch {run.batch_size * acc.num_processes * run.accum}")
    if run.cfg.tracker:
        acc.init_trackers(run.cfg.run_name or run_dir.name, config=flat_hparams(saved_cfg))
    return files


def write_history(run: RunSetup, state: LoopState) -> None:
    if run.accelerator.is_main_process:
        write_json(run.run_dir / "history.json", state.history)


def write_run_end(run: RunSetup, state: LoopState, final: ClassificationMetrics | None,
                  files: dict[str, Path]) -> tuple[Path, dict[str, Path]]:
    """Weights, metrics.json, history.json and the plots (main process); returns (weights, plots)."""
    acc, run_dir, cfg = run.accelerator, run.run_dir, run.cfg
    weights = run_dir / WEIGHTS
    metrics_dict = final.to_dict() if final is not None else {}
    plots: dict[str, Path] = {"curves": run_dir / "curves.png"}
    if final is not None:
        plots["confusion"] = run_dir / "confusion_matrix.png"
    files.update(metrics=run_dir / "metrics.json", history=run_dir / "history.json")
    if run.ema is not None:
        files["raw_weights"] = run_dir / RAW_WEIGHTS
    acc.wait_for_everyone()
    if acc.is_main_process:
        meta = {"model_name": run.model_name or "", "step": str(state.global_step), "ema": str(run.ema is not None)}
        if run.ema is not None:
            save_weights(run.ema.module, weights, metadata=meta)
            save_weights(run.unwrapped, files["raw_weights"], metadata={**meta, "ema": "False"})
        else:
            save_weights(run.unwrapped, weights, metadata=meta)
        write_json(files["metrics"], {"step": state.global_step, **metrics_dict})
        write_json(files["history"], state.history)
        title = f"{run.model_name or type(run.unwrapped).__name__} - {run_dir.name}"
        plot_curves(state.history, plots["curves"], title=title)
        if final is not None:
            plot_confusion_matrix(final.confusion, plots["confusion"], final.class_names,
                                  title=f"{title}\ntop-1 {100 * final.top1:.2f}%  mean-class "
                                        f"{100 * final.mean_class:.2f}%")
    if final is not None:
        acc.print(f"final ({state.global_step} steps{', weight average' if run.ema else ''}): {final.summary()}")
        if cfg.tracker:
            acc.log({"final/top1": final.top1, "final/top5": final.top5, "final/mean_class": final.mean_class},
                    step=state.global_step)
    if cfg.tracker:
        files["logs"] = run_dir / "logs"
        for tracker in acc.trackers:  # not end_training(): that also ends the process group
            tracker.finish()
    acc.wait_for_everyone()
    return weights, plots


__all__ = ["BEST_RECORD", "BEST_WEIGHTS", "RAW_WEIGHTS", "BestWeights", "flat_hparams", "run_info",
           "write_history", "write_run_end", "write_run_start"]
