"""Pre-training on the training engine: stages of objectives, each a resumable engine run.

A pre-training run is a sequence of :class:`StageConfig` (MAMP: one stage; CascadeFormer: the
masked-joint pre-training, then the cascade fine-tune; STARS: MAMP, then NNCLR tuning). Each
stage is one :func:`mmfusion.engine.train` run of the stage's objective (wrapped in
:class:`ObjectiveModule`, whose loss is the objective's) in its own folder, so everything the
engine does for classifiers holds here: Accelerate (DDP, precision, accumulation), the seeded
data order, atomic checkpoints and ``resume="auto"`` (bit for bit on CPU), trackers, progress
bar, history and curves. Nothing of the loop is copied; the engine has two small generic hooks
for this (a model may return only ``"loss"``, and its ``after_step(step)`` runs after each
optimizer step, before any checkpoint).

Layout of ``PretrainConfig.output_dir``::

    pretrain_config.json
    stage_1_<name>/     an engine run folder (checkpoints/, history.json, curves.png, ...) plus
        encoder.safetensors     the objective's encoder (a registered classifier built with
                                num_classes=0): loadable into ``create_model(encoder, ...)``
                                with :func:`load_pretrained_encoder` (keys under ``encoder.``)
        objective.safetensors   every weight and buffer of the objective (decoders, queues, ...)
        config.json             the encoder's model card (model_name, model_kwargs) + objective
        stage.json              written last: the stage is complete
    stage_2_<name>/ ...
    encoder.safetensors, config.json   copies of the last stage's (what the protocols read)

Resuming (``resume="auto"``) skips complete stages and continues the first incomplete one from
its latest checkpoint; a stage starts from the previous stage's encoder (``init="previous"``).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from torch import Tensor, nn
from torch.utils.data import Dataset

from ..data.wrappers import DatasetWrapper
from ..engine import StepInfo, TrainConfig, train
from ..errors import CheckpointError, ConfigError
from ..runs import read_safetensors, save_weights, to_jsonable, write_json, write_model_config
from .objective import PretextObjective, create_objective

__all__ = ["ENCODER_WEIGHTS", "IndexedSamples", "ObjectiveModule", "PretrainConfig", "PretrainResult",
           "StageConfig", "StageResult", "encoder_from_run", "load_pretrained_encoder", "pretrain", "read_encoder_card"]

ENCODER_WEIGHTS = "encoder.safetensors"
OBJECTIVE_WEIGHTS = "objective.safetensors"
STAGE_MARKER = "stage.json"


@dataclass
class StageConfig:
    """One stage: an objective trained for ``train.epochs`` epochs.

    Attributes:
        name: folder suffix and log name ("mamp", "cascade_finetune", ...).
        objective: a registered objective name (:func:`~mmfusion.ssl.objective.create_objective`).
        objective_kwargs: its builder's arguments (``encoder``, ``encoder_kwargs``, method
            hyper-parameters).
        train: the engine settings (epochs, batch, optimizer, schedule, ...); ``output_dir``,
            ``resume`` and ``overwrite`` are set by :func:`pretrain`.
        init: "previous" starts the encoder from the previous stage's (every saved encoder key
            must exist in this stage's encoder; new parts, e.g. CascadeFormer's T2, stay fresh);
            "none" keeps the fresh initialisation.
        freeze: parameter-name prefixes of the objective that are not trained (e.g.
            ``("encoder.",)`` for a head-only stage).
    """

    name: str = "pretrain"
    objective: str = "mamp"
    objective_kwargs: dict[str, Any] = field(default_factory=dict)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=1, optimizer="adamw", lr=1e-3))
    init: Literal["previous", "none"] = "previous"
    freeze: tuple[str, ...] = ()


@dataclass
class PretrainConfig:
    """Stages and the run folder.

    Attributes:
        output_dir: the pre-training run folder (one sub-folder per stage).
        stages: run in order.
        resume: None (fresh) or "auto" (skip complete stages, resume the current one).
        overwrite: allow a fresh run in a folder that holds one (its stage folders are removed).
    """

    output_dir: str = "runs/pretrain"
    stages: tuple[StageConfig, ...] = (StageConfig(),)
    resume: Literal["auto"] | None = None
    overwrite: bool = False


@dataclass
class StageResult:
    name: str
    run_dir: Path
    encoder: Path
    objective: Path
    history: dict[str, list[dict[str, Any]]]
    global_step: int
    skipped: bool = False


@dataclass
class PretrainResult:
    """What :func:`pretrain` returns: the run folder, the last encoder and each stage's result."""

    run_dir: Path
    encoder: Path
    config: Path
    stages: list[StageResult]

    @property
    def final_loss(self) -> float:
        train_hist = self.stages[-1].history.get("train", [])
        return float(train_hist[-1]["loss"]) if train_hist else float("nan")


class IndexedSamples(DatasetWrapper):
    """Adds ``"index"`` (the dataset index, int) to each sample dict (memory banks, per-sample
    seeds); other attributes of the wrapped dataset stay reachable."""

    def __getitem__(self, i: int) -> dict[str, Any]:
        sample = dict(self.dataset[i])
        sample["index"] = int(i)
        return sample


class ObjectiveModule(nn.Module):
    """The engine's view of an objective: ``forward(batch)`` -> the objective's loss dict,
    ``loss(outputs, target)`` -> ``outputs["loss"]`` (labels unused), ``after_step(step)``
    forwarded. ``parts`` holds the last step's detached loss parts (logged to trackers)."""

    def __init__(self, objective: PretextObjective) -> None:
        super().__init__()
        self.objective = objective
        self.parts: dict[str, float] = {}

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        out = self.objective(batch)
        if not isinstance(out, Mapping) or "loss" not in out:
            raise ConfigError(f"objective {self.objective.name!r} must return a dict with 'loss'")
        self.parts = {k: float(v) for k, v in out.items() if k != "loss" and isinstance(v, Tensor) and v.ndim == 0}
        return dict(out)

    def loss(self, outputs: Mapping[str, Tensor], target: Tensor) -> Tensor:
        return outputs["loss"]

    def after_step(self, step: int) -> None:
        self.objective.after_step(step)


# -- encoder files ----------------------------------------------------------------------------------

def load_pretrained_encoder(model: nn.Module, path: str | Path, strict: bool = True) -> list[str]:
    """Load the ``encoder.*`` weights of a pre-trained ``encoder.safetensors`` into a classifier.

    ``model`` is a registered classifier (``create_model(name, num_classes=K, ...)``); only keys
    under ``encoder.`` are read (heads differ between pre-training and evaluation). ``strict``:
    the file and the model must hold the same encoder keys; otherwise keys the model has and the
    file lacks stay as initialised (returned). Shapes must always match.

    Raises:
        CheckpointError: unreadable file, an encoder key in the file that the model lacks,
            a shape mismatch, or (strict) an encoder key the file lacks.
    """
    state = {k: v for k, v in read_safetensors(path).items() if k.startswith("encoder.")}
    if not state:
        raise CheckpointError(f"{path}: no 'encoder.*' weights (not an encoder.safetensors of mmfusion.ssl)")
    own = {k: v for k, v in model.state_dict().items() if k.startswith("encoder.")}
    unexpected = [k for k in state if k not in own]
    missing = [k for k in own if k not in state]
    if unexpected or (strict and missing):
        raise CheckpointError(f"{path}: encoder weights do not fit {type(model).__name__}: "
                              f"missing={missing[:5]} unexpected={unexpected[:5]}")
    for k, v in state.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise CheckpointError(f"{path}: {k!r} has shape {tuple(v.shape)} in the file, {tuple(own[k].shape)} "
                                  f"in the model")
    model.load_state_dict(state, strict=False)
    return missing


def read_encoder_card(run_dir: str | Path) -> dict[str, Any]:
    """The ``config.json`` of a pre-training run (or stage) folder: model_name, model_kwargs, objective."""
    path = Path(run_dir) / "config.json"
    try:
        card = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable pre-training config ({exc})") from exc
    if not isinstance(card, dict) or not card.get("model_name"):
        raise CheckpointError(f"{path}: no model_name (not a pre-training run folder)")
    return card


# -- the run ----------------------------------------------------------------------------------------

def _stage_dir(root: Path, i: int, stage: StageConfig) -> Path:
    return root / f"stage_{i + 1}_{stage.name}"


def _freeze(objective: nn.Module, prefixes: Sequence[str]) -> None:
    if not prefixes:
        return
    names = [n for n, _ in objective.named_parameters()]
    for p in prefixes:
        if not any(n.startswith(p) for n in names):
            raise ConfigError(f"freeze prefix {p!r} matches no parameter of the objective")
    for n, prm in objective.named_parameters():
        if any(n.startswith(p) for p in prefixes):
            prm.requires_grad_(False)


def _factory(stage: StageConfig, given: PretextObjective | None, init: Path | None,
             holder: list[ObjectiveModule]) -> Callable[[], nn.Module]:
    """Builds the stage's objective after the engine seeded the run (so that a resumed run
    initialises exactly like the interrupted one) and remembers it for the export."""

    def build() -> nn.Module:
        obj = given if given is not None else create_objective(stage.objective, **stage.objective_kwargs)
        if init is not None:
            load_pretrained_encoder(obj.encoder, init, strict=False)
        _freeze(obj, stage.freeze)
        holder.append(ObjectiveModule(obj))
        return holder[-1]

    return build


def _log_parts(info: StepInfo) -> None:
    if info.event != "step":
        return
    model = info.accelerator.unwrap_model(info.model)
    if info.accelerator.trackers and getattr(model, "parts", None):
        info.accelerator.log({f"train/{k}": v for k, v in model.parts.items()}, step=info.global_step)


def _export(run_dir: Path, module: ObjectiveModule, stage: StageConfig, encoder_name: str | None,
            encoder_kwargs: Mapping[str, Any], step: int) -> None:
    # the builder's resolved encoder arguments when it records them (e.g. MAMP's head="linprobe")
    encoder_name = getattr(module.objective, "encoder_name", None) or encoder_name
    encoder_kwargs = getattr(module.objective, "encoder_kwargs", None) or encoder_kwargs
    meta = {"objective": stage.objective, "stage": stage.name, "step": str(step), "model_name": encoder_name or ""}
    save_weights(module.objective.encoder, run_dir / ENCODER_WEIGHTS, metadata=meta)
    save_weights(module.objective, run_dir / OBJECTIVE_WEIGHTS, metadata=meta)
    (run_dir / "model.safetensors").unlink(missing_ok=True)  # the engine's copy of objective.safetensors
    write_model_config(run_dir, encoder_name, {**dict(encoder_kwargs), "num_classes": 0}, modalities=("skeleton",),
                       extra={"weights": ENCODER_WEIGHTS, "objective": stage.objective,
                              "objective_kwargs": stage.objective_kwargs, "stage": stage.name, "step": step})
    write_json(run_dir / STAGE_MARKER, {"stage": stage.name, "objective": stage.objective, "global_step": step})


def pretrain(cfg: PretrainConfig, objective: PretextObjective | None, dataset: Dataset, *,
             recipe_config: Any = None, callbacks: Sequence[Callable[[StepInfo], None]] = ()) -> PretrainResult:
    """Run ``cfg.stages`` on ``dataset`` (sample dicts with ``"skeleton"`` and ``"label"``;
    ``"index"`` is added).

    Args:
        cfg: stages and the run folder.
        objective: a built objective for the first stage (None: built from the stage config).
        dataset: the pre-training samples (labels are carried, never read by objectives).
        recipe_config: saved as ``pretrain_config.json`` (default: ``cfg``).
        callbacks: the engine's callbacks (:class:`~mmfusion.engine.StepInfo` after each step / epoch).

    Returns:
        :class:`PretrainResult` (the same on every process; files are written by the main one).
    """
    if not cfg.stages:
        raise ConfigError("PretrainConfig.stages is empty")
    names = [s.name for s in cfg.stages]
    if len(set(names)) != len(names):
        raise ConfigError(f"stage names must differ, got {names}")
    root = Path(cfg.output_dir)
    data = IndexedSamples(dataset)
    results: list[StageResult] = []
    previous: Path | None = None
    fresh_wipe = cfg.resume is None and cfg.overwrite
    for i, stage in enumerate(cfg.stages):
        run_dir = _stage_dir(root, i, stage)
        kwargs = stage.objective_kwargs
        given = objective if i == 0 else None
        enc_name = kwargs.get("encoder", getattr(given, "encoder_name", None))
        enc_kwargs = dict(kwargs.get("encoder_kwargs", getattr(given, "encoder_kwargs", {})) or {})
        if cfg.resume == "auto" and (run_dir / STAGE_MARKER).is_file():
            hist_path = run_dir / "history.json"
            history = json.loads(hist_path.read_text()) if hist_path.is_file() else {}
            marker = json.loads((run_dir / STAGE_MARKER).read_text())
            results.append(StageResult(stage.name, run_dir, run_dir / ENCODER_WEIGHTS, run_dir / OBJECTIVE_WEIGHTS,
                                       history, int(marker.get("global_step", 0)), skipped=True))
            previous = run_dir / ENCODER_WEIGHTS
            print(f"[pretrain] stage {i + 1} {stage.name}: complete, skipped")
            continue
        if fresh_wipe and run_dir.exists() and _is_main():
            shutil.rmtree(run_dir)  # a fresh run must not mix with an old stage's files
        tcfg = replace(stage.train, output_dir=str(run_dir), resume=cfg.resume, overwrite=cfg.overwrite)
        holder: list[ObjectiveModule] = []
        init = previous if (stage.init == "previous" and previous is not None) else None
        print(f"[pretrain] stage {i + 1}/{len(cfg.stages)} {stage.name}: objective {stage.objective} "
              f"encoder {enc_name} for {tcfg.epochs} epochs")
        res = train(tcfg, _factory(stage, given, init, holder), data, None, model_name=enc_name,
                    recipe_config=recipe_config if recipe_config is not None else cfg,
                    callbacks=(_log_parts, *callbacks))
        if _is_main():
            _export(run_dir, holder[-1], stage, enc_name, enc_kwargs, res.global_step)
        _barrier()
        results.append(StageResult(stage.name, run_dir, run_dir / ENCODER_WEIGHTS, run_dir / OBJECTIVE_WEIGHTS,
                                   res.history, res.global_step))
        previous = run_dir / ENCODER_WEIGHTS
    last = results[-1].run_dir
    if _is_main():
        shutil.copyfile(last / ENCODER_WEIGHTS, root / ENCODER_WEIGHTS)
        shutil.copyfile(last / "config.json", root / "config.json")
        write_json(root / "pretrain_config.json", to_jsonable(recipe_config if recipe_config is not None else cfg))
    _barrier()
    return PretrainResult(run_dir=root, encoder=root / ENCODER_WEIGHTS, config=root / "config.json", stages=results)


def _is_main() -> bool:
    from ..distributed import process_state

    return bool(process_state().is_main_process)


def _barrier() -> None:
    from ..distributed import process_state

    process_state().wait_for_everyone()


def encoder_from_run(run_dir: str | Path, num_classes: int, **overrides: Any) -> nn.Module:
    """A classifier built from a pre-training run's card (``create_model(model_name, num_classes,
    **model_kwargs, **overrides)``) with the pre-trained encoder loaded."""
    from ..registry import create_model

    card = read_encoder_card(run_dir)
    kwargs = {**card.get("model_kwargs", {}), **overrides, "num_classes": num_classes}
    model = create_model(card["model_name"], **kwargs)
    load_pretrained_encoder(model, Path(run_dir) / card.get("weights", ENCODER_WEIGHTS))
    return model


