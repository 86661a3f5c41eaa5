"""Long-tailed skeleton action recognition: plain cross-entropy vs BRL, over seeds.

::

    python recipes/brl_ntu.py --data-root /work/cache/skel60 --lt-n-max 60 --lt-min-count 1   # synthetic
    python recipes/brl_ntu.py --data-root DIR --split-list NTU60_xsub_exp_100.txt \\
        --model stgcnpp --clip-len 64 --train.epochs 24 --step-epoch 20 --seeds 0   # BRL's setting

Data: ``--data-root`` holds a packed skeleton set (``packed/ntu25.npy`` (N, 3, T, 25, 2) and
``packed/index.npz`` with ``labels`` / ``names``: the layout ``mmfusion synth-skeleton`` writes);
without it a small balanced skeleton world is generated under ``--cache-dir``. The protocol's
training split is made long-tailed by :mod:`mmfusion.data.skeleton.longtail`: the official BRL
list when ``--split-list`` names one, else BRL's profile (``n_max`` 600, or 400 for NTU-120
xset, ``r`` 0.01; ``--lt-n-max`` / ``--lt-imbalance`` for a smaller set), drawn with
``--lt-seed``. The test split stays balanced. Clips: PYSKL's ``PreNormalize3D`` +
``UniformSampleFrames(clip_len)`` (BRL's pipeline without its random scale / rotation / flip).

Each method in ``--methods`` trains ``--model`` (a registered skeleton classifier) once per seed:
``ce`` plain cross-entropy, ``brl`` the same classifier in :class:`mmfusion.models.brl.BRL`
(rebalanced partial mixup + action-aware re-weighting from ``--step-epoch``, by default 20 / 24
of the epochs as officially). The table gives mean +- std over seeds of top-1, mean-class and
many / medium / few-shot accuracy (thresholds 100 / 20 training samples scaled by n_max / 600).
Figures: docs/robustness.md, "Long tails (BRL)". Measured on the synthetic skeleton world
(the first command, with ``--clip-len 16 --train.epochs 20 --step-epoch 11 --train.optimizer adamw
--train.lr 3e-3 --train.weight-decay 0.01 --train.warmup-epochs 1``; 766 training clips, 3 seeds):
CE top-1 47.2 +- 2.0, mean-class 48.3 +- 2.1, few-shot 22.5 +- 13.1; BRL 53.8 +- 1.9 / 54.7 +- 1.9 /
28.6 +- 10.8. With the official fraction at 9 epochs (re-weighting from epoch 8) BRL lost to CE: the
deferred re-weighting needs epochs to act.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mmfusion.cli_errors import run_command
from mmfusion.data.skeleton.datasets import SkeletonDataset
from mmfusion.data.skeleton.longtail import LongTailProfile, get_profile, longtail_subset, scaled_thresholds
from mmfusion.data.synthetic.skeleton_world import SkeletonWorldConfig, generate_skeleton_world, load_packed
from mmfusion.engine import TrainConfig, parse_args, train
from mmfusion.errors import ConfigError
from mmfusion.experiments.ntu import NTURecipe

#: NTURecipe protocol -> (SkeletonDataset dataset, protocol, BRL profile)
PROTOCOLS = {"xsub": ("ntu60", "xsub", "ntu60_xsub"), "xview": ("ntu60", "xview", "ntu60_xview"),
             "xsub120": ("ntu120", "xsub", "ntu120_xsub"), "xset": ("ntu120", "xset", "ntu120_xset")}


@dataclass
class BRLRecipe(NTURecipe):
    """Plain CE vs BRL on a long-tailed skeleton training set, mean +- std over seeds."""

    model: str = "stgcnpp_tiny"
    """registered skeleton classifier (BRL wraps it; the paper uses stgcnpp)"""
    methods: tuple[Literal["ce", "brl"], ...] = ("ce", "brl")
    """training objectives to compare"""
    seeds: tuple[int, ...] = (0, 1, 2)
    """training seeds (one run per method and seed)"""
    stream: Literal["j", "b", "k", "jm", "bm", "km"] = "j"
    """input stream (BRL trains one model per stream and fuses six)"""
    split_list: str | None = None
    """official BRL long-tail list (one name per line); None: draw the profile's quotas"""
    lt_n_max: int | None = None
    """head-class quota; None: the protocol's BRL profile (600, NTU-120 xset 400)"""
    lt_imbalance: float = 0.01
    """n_min / n_max of the exponential profile (0.01: imbalance 100)"""
    lt_min_count: int = 0
    """lowest class quota (0: BRL's floor; 1 keeps every class of a small set)"""
    lt_seed: int = 0
    """seed of the drawn long-tailed subset (fixed across training seeds)"""
    step_epoch: int | None = None
    """1-based epoch from which BRL re-weights; None: round(epochs * 20 / 24)"""
    clip_len: int = 32
    """skeleton frames per clip"""
    world_sequences: int = 3000
    """sequences of the generated world when --data-root is not given"""
    output_dir: str = "runs/brl_ntu"
    """run folders go below it, one per method and seed"""
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=24, global_batch_size=16, lr=0.0125, optimizer="sgd", momentum=0.9, nesterov=True,
        weight_decay=5e-4, scheduler="cosine", save_every=0, keep_last=0, eval_every=0, log_every=10))


def load_arrays(cfg: BRLRecipe) -> tuple[np.ndarray, np.ndarray, list[str], str]:
    """(data (N, 3, T, 25, 2), labels (N,), names, source) of ``cfg``'s packed skeleton set."""
    if cfg.data_root is not None:
        root = Path(cfg.data_root)
        if not (root / "packed" / "ntu25.npy").is_file():
            raise ConfigError(f"{root}: no packed skeleton set (expected packed/ntu25.npy and packed/index.npz)")
    else:
        root = Path(cfg.cache_dir) / "skeleton_world_brl"
        generate_skeleton_world(root, SkeletonWorldConfig(num_sequences=cfg.world_sequences, workers=1))
    data, labels, names, _ = load_packed(root)
    return data, labels, names, str(root)


def datasets(cfg: BRLRecipe) -> tuple[Any, SkeletonDataset, LongTailProfile]:
    """(long-tailed training set, balanced test set, profile)."""
    dataset, protocol, profile_name = PROTOCOLS[cfg.protocol]
    data, labels, names, _ = load_arrays(cfg)
    kw: dict[str, Any] = dict(dataset=dataset, protocol=protocol, family="pyskl", stream_name=cfg.stream,
                              window=cfg.clip_len)
    train_full = SkeletonDataset(data, labels, names, split="train", **kw)
    test = SkeletonDataset(data, labels, names, split="test", **kw)
    base = get_profile(profile_name)
    profile = LongTailProfile(cfg.lt_n_max or base.n_max, cfg.lt_imbalance, cfg.lt_min_count)
    num_classes = 60 if dataset == "ntu60" else 120
    lt = longtail_subset(train_full, profile, split_list=cfg.split_list, num_classes=num_classes, seed=cfg.lt_seed,
                         shot_thresholds=scaled_thresholds(profile.n_max))
    return lt, test, profile


def _mean_std(values: Sequence[float]) -> str:
    vals = [100 * v for v in values]
    if len(vals) == 1:
        return f"{vals[0]:.1f}"
    return f"{statistics.mean(vals):.1f} +- {statistics.stdev(vals):.1f}"


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    cfg = parse_args(BRLRecipe(), argv)
    lt, test, profile = datasets(cfg)
    step = cfg.step_epoch if cfg.step_epoch is not None else max(1, round(cfg.train.epochs * 20 / 24))
    counts = lt.class_counts
    print(f"[brl_ntu] {len(lt)} long-tailed train / {len(test)} test clips, {lt.num_classes} classes, counts "
          f"{max(counts)} .. {min(counts)} (n_max {profile.n_max}, r {profile.imbalance}), shots many > "
          f"{lt.shot_thresholds[0]:g}, few < {lt.shot_thresholds[1]:g}, BRL re-weights from epoch {step}")
    runs: list[dict[str, Any]] = []
    out = Path(cfg.output_dir) / "summary.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    for seed in cfg.seeds:  # seed by seed, so that an interrupted comparison is still paired
        for method in cfg.methods:
            name = cfg.model if method == "ce" else "brl"
            kwargs: dict[str, Any] = {"num_classes": lt.num_classes}
            if method == "brl":
                kwargs.update(classifier=cfg.model, class_counts=counts, step_epoch=step)
            tcfg = dataclasses.replace(cfg.train, seed=seed,
                                       output_dir=str(Path(cfg.output_dir) / f"{method}_{cfg.stream}_s{seed}"))
            res = train(tcfg, name, lt, test, model_kwargs=kwargs, recipe_config=cfg)
            shots = res.metrics.get("shots", {})
            runs.append({"method": method, "seed": seed, "top1": res.top1, "mean_class": res.mean_class,
                         **{g: shots.get(g, float("nan")) for g in ("many", "medium", "few")}})
            out.write_text(json.dumps({"runs": runs, "class_counts": counts}, indent=1))
    rows = []
    for method in cfg.methods:
        mine = [r for r in runs if r["method"] == method]
        rows.append({"method": method, **{k: _mean_std([r[k] for r in mine])
                                          for k in ("top1", "mean_class", "many", "medium", "few")}})
    print(f"\nHeld-out {cfg.protocol} accuracy (%), mean +- std over seeds {list(cfg.seeds)}, "
          f"{len(test)} test clips:\n")
    print("| method | top-1 | mean-class | many | medium | few |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['top1']} | {r['mean_class']} | {r['many']} | {r['medium']} | {r['few']} |")
    out.write_text(json.dumps({"runs": runs, "rows": rows, "class_counts": counts}, indent=1))
    print(f"\nper-run figures: {out}")
    return runs


if __name__ == "__main__":
    sys.exit(run_command(lambda: main() and 0, "brl_ntu.py"))
