"""What every NTU recipe shares: data options, dataset construction, result tables.

The engine (:mod:`mmfusion.engine`) trains any model on any dataset and knows nothing of NTU;
this module ties it to the NTU data (:mod:`mmfusion.data`) for the scripts in ``recipes/``.

A recipe is a short script: a dataclass deriving from :class:`NTURecipe` with its model and
defaults, ``parse_args`` for command-line overrides, then :func:`fit` per model::

    cfg = parse_args(MyRecipe())
    res = fit(cfg, "stgcn_tiny", modalities=("skeleton",))

Without ``--data-root`` the data is the synthetic NTU world (generated and packed once into
``--cache-dir``); with it, a raw NTU tree or a packed store (see :mod:`mmfusion.data.roots`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..data.dataset import NTUDataset
from ..data.modalities import kinds_for
from ..data.roots import resolve_data_root
from ..distributed import process_state
from ..engine import TrainConfig, TrainResult, shutdown, train


@dataclass
class NTURecipe:
    """Data options common to the NTU recipes (model and training options live in subclasses).

    Attributes:
        data_root: raw NTU tree or packed store; None = the synthetic NTU world.
        protocol: xsub / xview (NTU-60), xsub120 / xset (NTU-120).
        cache_dir: where the synthetic world and its packed store are kept.
        image_size: side of the square frames fed to the models.
        clip_len: frames per clip (per modality, aligned).
        crop: "person" (box around the skeleton, shared by the clip) or "full" frames.
        crop_scale: RandomResizedCrop area range inside the crop region (train).
        num_points: points per frame for point-cloud models.
        output_dir: run folders go below it, one per trained model.
        train: the engine's options.
    """

    data_root: str | None = None
    protocol: Literal["xsub", "xview", "xsub120", "xset"] = "xsub"
    cache_dir: str = ".cache/mmfusion"
    image_size: int = 48
    clip_len: int = 8
    crop: Literal["person", "full"] = "person"
    crop_scale: tuple[float, float] = (0.7, 1.0)
    num_points: int = 256
    output_dir: str = "runs/recipe"
    train: TrainConfig = field(default_factory=TrainConfig)


def datasets(cfg: NTURecipe, modalities: Sequence[str], **overrides: Any) -> tuple[NTUDataset, NTUDataset]:
    """(train, test) datasets of ``cfg``'s protocol for ``modalities``."""
    # what has to be packed: the skeleton always (person crop, heatmaps), plus each image source
    src = resolve_data_root(cfg.data_root, cfg.cache_dir, tuple(kinds_for(modalities, person_crop=True)))
    kw: dict[str, Any] = dict(modalities=tuple(modalities), protocol=cfg.protocol, image_size=cfg.image_size,
                              clip_len=cfg.clip_len, crop=cfg.crop, crop_scale=cfg.crop_scale,
                              num_points=cfg.num_points, verbose=False, **src)
    kw.update(overrides)
    return NTUDataset(split="train", **kw), NTUDataset(split="test", **kw)


def fit(cfg: NTURecipe, model: str, modalities: Sequence[str], run_name: str | None = None,
        model_kwargs: Mapping[str, Any] | None = None, data: tuple[NTUDataset, NTUDataset] | None = None,
        **dataset_overrides: Any) -> TrainResult:
    """Train and evaluate one registered model on ``modalities``; its run folder is
    ``<output_dir>/<run_name or model>``."""
    train_set, test_set = data if data is not None else datasets(cfg, modalities, **dataset_overrides)
    tcfg = dataclasses.replace(cfg.train, output_dir=str(Path(cfg.output_dir) / (run_name or model)))
    kwargs = {"num_classes": train_set.num_classes, **dict(model_kwargs or {})}
    return train(tcfg, model, train_set, test_set, model_kwargs=kwargs, modalities=modalities,
                 recipe_config=cfg)


def results_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A markdown table of result rows (dicts with the same keys); floats as percentages
    where the key names an accuracy."""
    if not rows:
        return ""
    cols = list(rows[0])

    def fmt(k: str, v: Any) -> str:
        if isinstance(v, float):
            return f"{100 * v:.1f}" if any(w in k for w in ("top", "acc", "class")) else f"{v:.3g}"
        return str(v)

    cells = [[fmt(c, r[c]) for c in cols] for r in rows]
    widths = [max(len(c), *(len(x[i]) for x in cells)) for i, c in enumerate(cols)]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(cols, widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(v.ljust(w) for v, w in zip(row, widths)) + " |" for row in cells]
    return "\n".join(lines)


def describe(cfg: NTURecipe, data: tuple[NTUDataset, NTUDataset]) -> str:
    """One line on the data: clip counts, classes, protocol and source."""
    return (f"{len(data[0])} train / {len(data[1])} test clips, {data[0].num_classes} classes, protocol "
            f"{cfg.protocol}, data {cfg.data_root or 'synthetic NTU world (' + cfg.cache_dir + ')'}")


def fit_row(cfg: NTURecipe, label: str, model: str, modalities: Sequence[str], rows: list[dict[str, Any]],
            runs: list[TrainResult], **fit_kwargs: Any) -> TrainResult:
    """:func:`fit` one model and append its result row (model label, modalities, top1, top5,
    mean_class, wall minutes) to ``rows`` and its :class:`TrainResult` to ``runs``."""
    start = time.perf_counter()
    res = fit(cfg, model, modalities, **fit_kwargs)
    rows.append({"model": label, "modalities": "+".join(modalities), "top1": res.top1, "top5": res.top5,
                 "mean_class": res.mean_class, "minutes": (time.perf_counter() - start) / 60})
    runs.append(res)
    return res


def print_results(cfg: NTURecipe, rows: Sequence[Mapping[str, Any]], runs: Sequence[TrainResult],
                  num_test: int, footer: str | None = None) -> None:
    """The held-out accuracy table, ``footer`` (a line under it) and the run folders (call on the
    main process only)."""
    print(f"\nHeld-out {cfg.protocol} accuracy (%), {num_test} test clips:\n")
    print(results_table(rows))
    if footer:
        print(f"\n{footer}")
    print("\nRun folders (weights, curves.png, confusion_matrix.png, metrics.json):")
    for r in runs:
        print(f"  {r.run_dir}")


def finish(cfg: NTURecipe, rows: list[dict[str, Any]], runs: Sequence[TrainResult], num_test: int,
           footer: str | None = None) -> list[dict[str, Any]]:
    """End a recipe: :func:`print_results` on the main process, then the process group's
    shutdown; returns ``rows``."""
    if process_state().is_main_process:
        print_results(cfg, rows, runs, num_test, footer)
    shutdown()
    return rows

