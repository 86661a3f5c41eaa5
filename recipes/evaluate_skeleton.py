"""Evaluate a pre-trained (or randomly initialised) skeleton encoder with the SSL protocols.

::

    python recipes/evaluate_skeleton.py --protocol linear --run runs/pretrain_skeleton/mamp
    python recipes/evaluate_skeleton.py --protocol linear --method mamp          # same encoder, random weights
    python recipes/evaluate_skeleton.py --protocol knn --run runs/pretrain_skeleton/mamp --ks 1 5 20
    python recipes/evaluate_skeleton.py --protocol semi --fraction 0.1 --run ...  # fine-tune on 10 % labels
    python recipes/evaluate_skeleton.py --protocol semi --fraction 0.1 --method mamp   # scratch on 10 %
    python recipes/evaluate_skeleton.py --protocol fewshot --classes-seen 40 --run ...  # classes 40..59
    python recipes/evaluate_skeleton.py --protocol transfer --run <run on world A> --cache-dir <world B>
    python recipes/evaluate_skeleton.py --protocol embed --run ...                # 2-D plot of the features

Protocols (:mod:`mmfusion.ssl.protocols`): ``linear`` (``--head bn``: MAMP's BN(affine=False) +
Linear, SGD lr 0.1, 100 epochs, batch 256; ``--head plain``: AimCLR's Linear, lr 3.0), ``knn``
(cosine, ``--ks``, weighted or ``--majority``), ``finetune`` (the whole classifier on the engine:
the method's fine-tune head, drop path, label smoothing; ``--layer-decay 0.8`` for MAMP's layer-wise
lr decay, through the engine's ``optimizer_groups`` hook), ``semi`` (fine-tune on a ``--fraction``
of the training labels, class-balanced unless ``--random-subset``, one run per ``--seeds``;
``--probe`` instead trains the linear probe on that subset), ``fewshot`` (prototypes with
``--shots`` per class on classes ``>= --classes-seen``), ``transfer`` (fine-tune on the data of
``--cache-dir``, whatever the run was pre-trained on) and ``embed`` (t-SNE or PCA plot).
Without ``--run`` the encoder of ``--method`` at ``--preset`` keeps its random initialisation:
the baseline of every table; ``--run R --random-init`` is the same for the encoder of R's card
(sizes or conventions other than the preset's). Frozen features (linear, knn, semi --probe, fewshot, embed) are
extracted after the encoder's BatchNorm running statistics are recomputed on ``--bn-refresh``
training clips (:func:`mmfusion.ssl.protocols.refresh_batchnorm`; 0 keeps them), random or
pre-trained alike. Each result prints with its full signature and is appended to
``<output-dir>/results.jsonl``.

MS-CLR (``--method msclr``; an encoder whose card has ``layouts``): the data serve every joint
convention of each clip and the features are (N, L, D), one set per convention through its own
graph and data BN (BatchNorm refreshed over all conventions). As in MS-CLR's ensemble linear
evaluation, ``linear`` and ``semi --probe`` train one head per convention and average their
logits (each convention's own top-1 is reported beside the fused one: ``top1_<first layout>`` is
MS-CLR's joint linear number, a head on that convention alone); ``knn``, ``fewshot`` and
``embed`` use the concatenated L2-normalised conventions (cosine = mean of the per-convention
cosines; kNN also per convention). ``finetune`` / ``semi`` read the first convention.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch.utils.data import Subset

from mmfusion.cli_errors import run_command
from mmfusion.engine import TrainConfig, parse_args, train
from mmfusion.errors import ConfigError
from mmfusion.registry import create_model
from mmfusion.ssl import protocols as P
from mmfusion.ssl.presets import data_layouts, method_preset, world_splits
from mmfusion.ssl.pretrain import load_pretrained_encoder, read_encoder_card


@dataclass
class EvalRecipe:
    """Evaluate one encoder with one protocol."""

    protocol: Literal["linear", "knn", "finetune", "semi", "fewshot", "transfer", "embed"] = "linear"
    run: str | None = None
    """pre-training run folder (its encoder.safetensors + config.json); None: random weights"""
    random_init: bool = False
    """with --run: the run's encoder (model and kwargs of its card) at its seeded random
    initialisation, not its weights: the random baseline of a run whose encoder is not the preset's"""
    method: str = "mamp"
    """without --run: the method whose preset encoder is evaluated at random initialisation"""
    preset: str = "cpu"
    cache_dir: str = "/work/cache/skel60"
    split: str = "xsub"
    clip_len: int | None = None
    """frames per clip (default: the method preset's)"""
    head: Literal["bn", "plain"] = "bn"
    probe_epochs: int | None = None
    bn_refresh: int = 2048
    """clips of the training split on which the frozen encoder's BatchNorm running statistics are
    recomputed before features are extracted (every encoder, random or pre-trained); 0 keeps them"""
    ks: tuple[int, ...] = (1, 5, 10, 20)
    majority: bool = False
    fraction: float = 0.1
    random_subset: bool = False
    probe: bool = False
    """semi: a linear probe on the labelled subset instead of fine-tuning"""
    seeds: tuple[int, ...] = (0,)
    shots: int = 1
    classes_seen: int = 40
    layer_decay: float | None = None
    num_classes: int = 60
    """classes of the data set (60: the world / NTU-60; 120: NTU-120)"""
    output_dir: str = "runs/evaluate_skeleton"
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=10, global_batch_size=32, optimizer="adamw", lr=1e-3, weight_decay=0.05, betas=(0.9, 0.999),
        scheduler="cosine", warmup_epochs=1, min_lr=1e-5, save_every=0, keep_last=0, eval_every=0, log_every=20))


def _encoder_card(cfg: EvalRecipe) -> tuple[str, dict[str, Any], int]:
    """(classifier name, its kwargs without num_classes / head, clip length)."""
    kwargs, train = method_preset(cfg.method, cfg.preset)
    clip = int(train.get("clip_len", 64))
    if cfg.run is not None:
        card = read_encoder_card(cfg.run)
        name, mkw = card["model_name"], dict(card.get("model_kwargs", {}))
    else:
        name, mkw = kwargs["encoder"], dict(kwargs.get("encoder_kwargs", {}))
    for k in ("num_classes", "head"):
        mkw.pop(k, None)
    return name, mkw, int(cfg.clip_len or clip)


def _layouts(cfg: EvalRecipe) -> tuple[tuple[str, ...] | None, int]:
    """(joint conventions, channels) the encoder reads: MS-CLR's ``layouts`` (every one gets
    features, fused like its ensemble evaluation), or ``(None, 3)`` for ``ntu25`` clips."""
    return data_layouts(_encoder_card(cfg)[1])


def _init_name(cfg: EvalRecipe, seed: int) -> str:
    """The signature's ``init``: the run folder, or the random initialisation (and whose encoder card)."""
    if cfg.run is None:
        return f"random (seed {seed})"
    return f"random (seed {seed}) like {cfg.run}" if cfg.random_init else cfg.run


def _classifier(cfg: EvalRecipe, num_classes: int, head: str | None) -> torch.nn.Module:
    name, mkw, _ = _encoder_card(cfg)
    if head is not None and name.startswith("mamp_transformer"):
        mkw["head"] = head
    model = create_model(name, num_classes=num_classes, **mkw)
    if cfg.run is not None and not cfg.random_init:
        load_pretrained_encoder(model, Path(cfg.run) / "encoder.safetensors")
    if cfg.layer_decay is not None and num_classes > 0:
        decay = cfg.layer_decay
        model.optimizer_groups = lambda tcfg: P.layer_decay_groups(model, tcfg.weight_decay, decay)  # engine hook
    return model


def _features(cfg: EvalRecipe, train_plain: Any, test: Any, seed: int) -> tuple[torch.Tensor, ...]:
    """Frozen pooled features: the encoder's own pooling (MAMP: mean over tokens and persons).

    Cached in ``<output-dir>/features/`` per (encoder run or random seed, split, clip, classes):
    linear, kNN, semi-probe and few-shot on one encoder extract once.
    """
    _, _, clip = _encoder_card(cfg)
    if cfg.run and cfg.random_init:
        who = f"random_like_{Path(cfg.run).resolve().name}_seed{seed}"
    else:
        who = f"run_{Path(cfg.run).resolve().name}" if cfg.run else f"random_{cfg.method}_{cfg.preset}_seed{seed}"
    scope = f"c{cfg.classes_seen}-59" if cfg.protocol == "fewshot" else "all"
    bn = f"_bn{cfg.bn_refresh}" if cfg.bn_refresh else ""
    path = Path(cfg.output_dir) / "features" / f"{who}_{cfg.split}_t{clip}_{scope}{bn}.pt"
    weights = Path(cfg.run) / "encoder.safetensors" if cfg.run and not cfg.random_init else None
    if weights is not None and path.is_file() and path.stat().st_mtime < weights.stat().st_mtime:
        path.unlink()  # the run was re-trained since
    if path.is_file():
        saved = torch.load(path, weights_only=True)
        return saved["xtr"], saved["ytr"], saved["xte"], saved["yte"]
    torch.manual_seed(seed)  # the random baseline's initialisation
    enc = _classifier(cfg, 0, "linprobe").eval().encoder
    layouts = _layouts(cfg)[0]
    t0 = time.time()
    if cfg.bn_refresh:
        # MS-CLR: one forward per convention, so the shared blocks' statistics average over all of them
        fwd = (lambda b: [enc(b[f"skeleton_{n}"], n) for n in layouts]) if layouts else None
        n_bn = P.refresh_batchnorm(enc, train_plain, clips=cfg.bn_refresh, seed=seed, forward=fwd,
                                   key=None if layouts else "skeleton")
        print(f"[evaluate_skeleton] BatchNorm statistics of {n_bn} layer(s) refreshed on {cfg.bn_refresh} "
              f"training clips in {time.time() - t0:.0f} s")
    out = []
    for ds in (train_plain, test):
        if layouts:  # (N, L, D): each convention through its own graph / data BN
            per = [P.extract_features(lambda x, n=n: enc(x, n), ds, key=f"skeleton_{n}") for n in layouts]
            out += [torch.stack([f for f, _ in per], dim=1), per[0][1]]
        else:
            out += list(P.extract_features(lambda x: enc(x), ds))
    xtr, ytr, xte, yte = out
    print(f"[evaluate_skeleton] features {tuple(xtr.shape)} / {tuple(xte.shape)} in {time.time() - t0:.0f} s")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"xtr": xtr, "ytr": ytr, "xte": xte, "yte": yte}, path)
    return xtr, ytr, xte, yte


def _finetune(cfg: EvalRecipe, train_set: Any, test: Any, seed: int, tag: str) -> P.ProtocolResult:
    from dataclasses import replace

    tcfg = replace(cfg.train, seed=seed, output_dir=str(Path(cfg.output_dir) / f"{tag}_seed{seed}"), overwrite=True)
    # the engine seeds before it builds the model: a random baseline's initialisation follows the seed
    name, mkw, clip = _encoder_card(cfg)
    res = train(tcfg, lambda: _classifier(cfg, cfg.num_classes, "finetune"), train_set, test, model_name=name)
    sig = P.finetune_signature(model=name, init=_init_name(cfg, seed), head="finetune (official)", clip=clip,
                               train=len(train_set), epochs=tcfg.epochs,
                               batch=tcfg.global_batch_size or tcfg.batch_size,
                               optimizer=tcfg.optimizer, lr=tcfg.lr, min_lr=tcfg.min_lr, wd=tcfg.weight_decay,
                               warmup=tcfg.warmup_epochs, layer_decay=cfg.layer_decay, seed=seed)
    return P.ProtocolResult(tag, sig, {"top1": res.top1, "top5": res.top5})


def _report(cfg: EvalRecipe, results: list[P.ProtocolResult]) -> None:
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.jsonl", "a") as f:
        for r in results:
            print(r.line())
            f.write(json.dumps({**r.to_dict(), "run": cfg.run, "method": cfg.method}) + "\n")
    if len(results) > 1:
        for key in results[0].metrics:
            vals = [100 * r.metrics[key] for r in results]
            print(f"[{results[0].protocol}] {key} over seeds {list(cfg.seeds)}: {statistics.mean(vals):.2f} +- "
                  f"{statistics.stdev(vals):.2f}")


def main(argv: Sequence[str] | None = None) -> list[P.ProtocolResult]:
    cfg = parse_args(EvalRecipe(), argv)
    if cfg.random_init and cfg.run is None:
        raise ConfigError("--random-init needs --run (whose encoder card to initialise; without --run the "
                          "preset's encoder is already evaluated at random weights)")
    torch.set_num_threads(cfg.train.threads or torch.get_num_threads())
    _, _, clip = _encoder_card(cfg)
    keep = range(cfg.classes_seen, cfg.num_classes) if cfg.protocol == "fewshot" else None
    layouts, channels = _layouts(cfg)
    train_set, train_plain, test = world_splits(cfg.cache_dir, cfg.split, clip, keep_classes=keep, layouts=layouts,
                                                channels=channels)
    results: list[P.ProtocolResult] = []
    if cfg.protocol in ("finetune", "transfer"):
        results = [_finetune(cfg, train_set, test, s, cfg.protocol) for s in cfg.seeds]
    elif cfg.protocol == "semi" and not cfg.probe:
        labels = torch.as_tensor([int(train_set.labels[j]) for j in train_set.index])
        for s in cfg.seeds:
            idx = P.label_subset(labels, cfg.fraction, balanced=not cfg.random_subset, seed=s)
            r = _finetune(cfg, Subset(train_set, idx.tolist()), test, s, f"semi{cfg.fraction:g}")
            r.signature.update(fraction=cfg.fraction, subset="random" if cfg.random_subset else "class-balanced")
            results.append(r)
    else:
        xtr, ytr, xte, yte = _features(cfg, train_plain, test, cfg.seeds[0])
        init = {"encoder": _encoder_card(cfg)[0], "init": _init_name(cfg, cfg.seeds[0]),
                "bn_refresh": cfg.bn_refresh, **({"layouts": list(layouts)} if layouts else {})}
        if cfg.protocol == "linear":
            results = [P.linear_probe(xtr, ytr, xte, yte, head=cfg.head, epochs=cfg.probe_epochs, seed=s,
                                      num_classes=cfg.num_classes, views=layouts) for s in cfg.seeds]
        elif cfg.protocol == "semi":
            for s in cfg.seeds:
                idx = P.label_subset(ytr, cfg.fraction, balanced=not cfg.random_subset, seed=s)
                r = P.linear_probe(xtr[idx], ytr[idx], xte, yte, head=cfg.head, epochs=cfg.probe_epochs, seed=s,
                                   num_classes=cfg.num_classes, views=layouts)
                r.protocol = f"semi{cfg.fraction:g}-linear"
                r.signature.update(fraction=cfg.fraction, subset="random" if cfg.random_subset else "class-balanced")
                results.append(r)
        elif cfg.protocol == "knn":
            results = [P.knn(P.fuse_views(xtr), ytr, P.fuse_views(xte), yte, ks=cfg.ks, weighted=not cfg.majority)]
            for i, n in enumerate(layouts or ()):  # each convention alone beside the fused
                one = P.knn(xtr[:, i], ytr, xte[:, i], yte, ks=cfg.ks, weighted=not cfg.majority)
                results[0].metrics.update({f"{k}_{n}": v for k, v in one.metrics.items()})
        elif cfg.protocol == "fewshot":
            results = [P.few_shot(P.fuse_views(xtr), ytr, P.fuse_views(xte), yte, shots=cfg.shots, seed=s)
                       for s in cfg.seeds]
            for r in results:
                r.signature["classes_unseen_in_pretraining"] = f"{cfg.classes_seen}..59"
        else:  # embed
            pts, how = P.embed_2d(P.fuse_views(xte))
            path = P.plot_embedding(pts, yte, Path(cfg.output_dir) / f"embedding_{Path(cfg.run or 'random').name}.png",
                                    title=f"{init['encoder']} ({init['init']}), {how}")
            results = [P.ProtocolResult("embed", {"method": how, "points": len(pts), "plot": str(path)}, {})]
        for r in results:
            r.signature = {**init, **r.signature}
    _report(cfg, results)
    return results


if __name__ == "__main__":
    sys.exit(run_command(lambda: main() and 0, "evaluate_skeleton.py"))
