"""Evaluation protocols of self-supervised skeleton representations.

Every protocol returns a :class:`ProtocolResult` whose ``line()`` prints the protocol's full
signature (every setting that changes the number) beside the result, so that a table row can be
repeated. Features are ``(N, D)`` float tensors from a frozen encoder (:func:`extract_features`:
``model(batch)["logits"]`` of a classifier built with ``num_classes=0``, or any ``fn(skeleton)``).

* :func:`linear_probe` - a linear classifier on frozen features: ``head="bn"`` is MAMP's
  (``main_linprobe.py``: BatchNorm1d(affine=False, eps 1e-6) + Linear, SGD lr 0.1, momentum 0.9,
  wd 0, 100 epochs, batch 256 (2 x 128), cosine), ``head="plain"`` AimCLR's (Linear only, SGD lr
  3.0, momentum 0.9, wd 0, 100 epochs, x0.1 at epoch 80, batch 128). Ours: the features are
  extracted once without augmentation (the official probes re-run the frozen encoder on
  augmented clips every epoch), so a probe costs seconds on the CPU. ``(N, L, D)`` features of
  L views (MS-CLR's joint conventions): one head per view, logits averaged (MS-CLR's ensemble).
* :func:`fuse_views` - (N, L, D) -> (N, L * D) concatenated L2-normalised views (cosine = mean of
  the per-view cosines) for kNN, few-shot and embeddings.
* :func:`refresh_batchnorm` - the BatchNorm running statistics of a frozen encoder recomputed on
  training clips (no gradient, no weight change) before its features are extracted; the
  recipes apply it to every encoder, random or pre-trained (see docs/ssl.md "Protocols": a
  randomly initialised ST-GCN's eval-mode features are otherwise ~1e-5 in scale and its probe
  sits at chance).
* :func:`knn` - cosine similarity to the training features, k in a list; ``weighted``: votes
  ``exp(sim / temperature)`` (STARS' monitor, temperature 0.1), else majority.
* :func:`label_subset` - the 1 % / 10 % semi-supervised subsets: class-balanced (every class
  ``max(1, round(fraction * n_c))`` samples) or random (MAMP's: a random fraction of all
  samples), from a seed.
* :func:`few_shot` - nearest class prototype (mean of ``shots`` support features per class,
  cosine) on classes the encoder never saw, averaged over seeded episodes.
* :func:`embed_2d` - a 2-D embedding of the features: t-SNE (scikit-learn) when installed, else
  a torch PCA (``torch.pca_lowrank``); :func:`plot_embedding` draws it per class.

Fine-tuning (layer-wise lr decay, drop path, label smoothing) and transfer run through the
training engine (``recipes/evaluate_skeleton.py``); :func:`finetune_signature` is their line.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Subset

from ..errors import ConfigError

__all__ = ["LINEAR_PRESETS", "ProtocolResult", "embed_2d", "extract_features", "few_shot", "finetune_signature",
           "fuse_views", "knn", "label_subset", "layer_decay_groups", "linear_probe", "plot_embedding",
           "refresh_batchnorm"]


@dataclass
class ProtocolResult:
    """A protocol's result and its full signature."""

    protocol: str
    signature: dict[str, Any]
    metrics: dict[str, float] = field(default_factory=dict)

    def line(self) -> str:
        sig = " ".join(f"{k}={v}" for k, v in self.signature.items())
        res = " ".join(f"{k} {100 * v:.2f}" for k, v in self.metrics.items())
        return f"[{self.protocol}] {sig} | {res}"

    def to_dict(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "signature": dict(self.signature), "metrics": dict(self.metrics)}


@torch.no_grad()
def extract_features(model: nn.Module | Callable[[Tensor], Tensor], dataset: Dataset, batch_size: int = 256,
                     device: str | torch.device = "cpu", key: str = "skeleton") -> tuple[Tensor, Tensor]:
    """``(features (N, D) float32 CPU, labels (N,) int64)`` of ``dataset`` under a frozen model.

    A module is put in eval mode and called with the batch dict (its ``"logits"`` are the
    features: build classifiers with ``num_classes=0``); any other callable gets the
    ``(N, C, T, V, M)`` tensor.
    """
    from ..data.dataset import collate

    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate)
    if isinstance(model, nn.Module):
        was = model.training
        model.eval().to(device)
    feats, labels = [], []
    for batch in loader:
        x = batch[key].to(device)
        if isinstance(model, nn.Module):
            out = model({**batch, key: x})
            out = out["logits"] if isinstance(out, Mapping) else out
        else:
            out = model(x)
        feats.append(out.float().flatten(1).cpu())
        labels.append(torch.as_tensor(batch["label"]).long())
    if isinstance(model, nn.Module):
        model.train(was)
    if not feats:
        raise ConfigError("extract_features: the data set is empty")
    return torch.cat(feats), torch.cat(labels)


@torch.no_grad()
def refresh_batchnorm(model: nn.Module, dataset: Dataset, clips: int = 2048, batch_size: int = 128, seed: int = 0,
                      forward: Callable[[Any], Any] | None = None, key: str | None = "skeleton") -> int:
    """Recompute the running mean / variance of every BatchNorm in ``model`` on ``clips`` samples
    of ``dataset`` (a seeded random subset; all when it has fewer), then leave ``model`` in eval mode.

    Why: a frozen encoder is probed in eval mode, where BatchNorm uses its running statistics.
    A randomly initialised network has the initial ones (mean 0, var 1), which do not describe
    its activations: ST-GCN's official init (conv weights N(0, 0.02)) shrinks them ~10x per
    layer, so the pooled ``(N, D)`` features of a random ``stgcn_tiny`` are ~1e-5 and a probe
    sits at chance. Refreshing gives every encoder the statistics of the clips it is evaluated
    on ("the same encoder with random weights" with BN calibrated, as a trained one would have);
    no parameter changes, no gradient. Applied to pre-trained encoders too, whose running
    statistics were collected on the pretext task's inputs (masked or augmented clips).
    The statistics are the exact average over the batches (``momentum=None``). Dropout and the
    rest of the model stay in eval mode. Batches are ``(N, C, T, V, M)`` tensors under ``key``,
    passed to ``forward`` (default: ``model``); ``key=None`` passes the whole batch dict (MS-CLR:
    one forward per joint convention, so shared layers average over all of them). Returns the
    number of BatchNorm layers refreshed (0: nothing to do, no forward pass is run).
    """
    from ..data.dataset import collate

    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
           and m.track_running_stats]
    if not bns:
        return 0
    n = len(dataset)  # type: ignore[arg-type]
    if n == 0:
        raise ConfigError("refresh_batchnorm: the data set is empty")
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(n, generator=g)[:min(clips, n)].sort().values.tolist()
    loader = DataLoader(Subset(dataset, idx), batch_size=batch_size, shuffle=False, collate_fn=collate)
    device = next(iter(model.parameters()), torch.empty(0)).device
    momenta = [m.momentum for m in bns]
    model.eval()
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches
        m.train()
    try:
        for batch in loader:
            if len(batch[key] if key is not None else batch["label"]) < 2:
                continue  # a batch of one has no variance
            if key is None:
                (forward or model)({k: v.to(device) if isinstance(v, Tensor) else v for k, v in batch.items()})
            else:
                (forward or model)(batch[key].to(device))
    finally:
        for m, mom in zip(bns, momenta):
            m.momentum = mom
        model.eval()
    return len(bns)


#: the two linear-probe settings (see the module docstring)
LINEAR_PRESETS: dict[str, dict[str, Any]] = {
    "bn": {"lr": 0.1, "epochs": 100, "batch_size": 256, "momentum": 0.9, "weight_decay": 0.0, "schedule": "cosine"},
    "plain": {"lr": 3.0, "epochs": 100, "batch_size": 128, "momentum": 0.9, "weight_decay": 0.0,
              "schedule": "step80"},
}


def _accuracy(logits: Tensor, labels: Tensor, k: int = 1) -> float:
    k = min(k, logits.shape[1])
    return float((logits.topk(k, dim=1).indices == labels[:, None]).any(dim=1).float().mean())


def _fit_linear(train_x: Tensor, train_y: Tensor, test_x: Tensor, p: Mapping[str, Any], head: str, k: int,
                seed: int) -> Tensor:
    """Train one linear head (settings ``p``) on ``(N, D)`` features; its ``(N_test, K)`` test logits."""
    g = torch.Generator().manual_seed(seed)
    d = train_x.shape[1]
    lin = nn.Linear(d, k)
    # xavier-style small init as MAE-lineage probes (trunc normal 0.01); zero bias
    with torch.no_grad():
        lin.weight.normal_(0, 0.01, generator=g)
        lin.bias.zero_()
    model = nn.Sequential(nn.BatchNorm1d(d, affine=False, eps=1e-6), lin) if head == "bn" else lin
    opt = torch.optim.SGD(model.parameters(), lr=p["lr"], momentum=p["momentum"], weight_decay=p["weight_decay"])
    n = train_x.shape[0]
    steps = max(1, math.ceil(n / p["batch_size"]))
    total = steps * p["epochs"]
    step = 0
    for epoch in range(p["epochs"]):
        model.train()
        order = torch.randperm(n, generator=g)
        for i in range(steps):
            idx = order[i * p["batch_size"]:(i + 1) * p["batch_size"]]
            if head == "bn" and len(idx) < 2:
                continue
            if p["schedule"] == "cosine":
                factor = 0.5 * (1 + math.cos(math.pi * step / total))
            else:
                factor = 0.1 if epoch >= int(0.8 * p["epochs"]) else 1.0
            for grp in opt.param_groups:
                grp["lr"] = p["lr"] * factor
            loss = F.cross_entropy(model(train_x[idx]), train_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
    model.eval()
    with torch.no_grad():
        return model(test_x)


def _probe_settings(head: str, lr: float | None, epochs: int | None, batch_size: int | None) -> dict[str, Any]:
    if head not in LINEAR_PRESETS:
        raise ConfigError(f"linear_probe: head must be one of {sorted(LINEAR_PRESETS)}, got {head!r}")
    p = dict(LINEAR_PRESETS[head])
    p.update({k: v for k, v in {"lr": lr, "epochs": epochs, "batch_size": batch_size}.items() if v is not None})
    return p


def linear_probe(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor, *,
                 head: Literal["bn", "plain"] = "bn", lr: float | None = None, epochs: int | None = None,
                 batch_size: int | None = None, num_classes: int | None = None, seed: int = 0,
                 views: Sequence[str] | None = None) -> ProtocolResult:
    """Train a linear head on frozen features; top-1 / top-5 on the test features.

    ``(N, D)`` features: one head. ``(N, L, D)`` (L views of each clip, e.g. MS-CLR's joint
    conventions): one head per view, each trained with these settings and the same seeded batch
    order (so the same as MS-CLR's ensemble probe, which sums the per-skeleton losses of
    separate ``fc`` heads), fused by averaging their test **logits** (``processor/
    linear_evaluation.py``: "soft voting"); metrics add each view's ``top1_<name>`` (``views``
    names them, default ``0 .. L-1``).
    """
    p = _probe_settings(head, lr, epochs, batch_size)
    k = int(num_classes or int(max(train_y.max(), test_y.max())) + 1)
    multi = train_x.ndim == 3
    xs_tr = train_x.unbind(1) if multi else (train_x,)
    xs_te = test_x.unbind(1) if multi else (test_x,)
    logits = [_fit_linear(a, train_y, b, p, head, k, seed) for a, b in zip(xs_tr, xs_te)]
    fused = torch.stack(logits).mean(dim=0)
    sig = {"head": "BN(affine=False)+Linear" if head == "bn" else "Linear", "optimizer": "SGD", **p,
           "train": int(train_x.shape[0]), "test": int(test_x.shape[0]), "dim": int(train_x.shape[-1]), "seed": seed}
    metrics = {"top1": _accuracy(fused, test_y), "top5": _accuracy(fused, test_y, 5)}
    if multi:
        names = list(views or range(len(logits)))
        sig.update(views=[str(n) for n in names], fusion="mean of the per-view heads' logits")
        metrics.update({f"top1_{n}": _accuracy(lg, test_y) for n, lg in zip(names, logits)})
    return ProtocolResult("linear", sig, metrics)


def fuse_views(x: Tensor) -> Tensor:
    """(N, L, D) features of L views -> (N, L * D): the L2-normalised views concatenated, so the
    cosine similarity of two fused vectors is the mean of the per-view cosine similarities
    (kNN, prototypes and embeddings on several joint conventions); (N, D) passes unchanged."""
    return F.normalize(x.float(), dim=-1).flatten(1) if x.ndim == 3 else x


def knn(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor, *, ks: Sequence[int] = (1, 5, 10, 20),
        weighted: bool = True, temperature: float = 0.1, chunk: int = 1024) -> ProtocolResult:
    """k-nearest-neighbour accuracy with cosine similarity, for every k in ``ks``."""
    if not ks or min(ks) < 1:
        raise ConfigError(f"knn: ks must be positive, got {ks}")
    k_max = min(max(ks), train_x.shape[0])
    num_classes = int(max(train_y.max(), test_y.max())) + 1
    a, b = F.normalize(train_x.float(), dim=1), F.normalize(test_x.float(), dim=1)
    correct = {k: 0.0 for k in ks}
    for lo in range(0, b.shape[0], chunk):
        sim, idx = (b[lo:lo + chunk] @ a.T).topk(k_max, dim=1)
        labels = train_y[idx]
        y = test_y[lo:lo + chunk]
        for k in ks:
            kk = min(k, k_max)
            w = (sim[:, :kk] / temperature).exp() if weighted else torch.ones_like(sim[:, :kk])
            votes = torch.zeros(len(y), num_classes).scatter_add_(1, labels[:, :kk], w)
            correct[k] += float((votes.argmax(dim=1) == y).sum())
    n = float(test_x.shape[0])
    sig = {"similarity": "cosine", "ks": list(ks), "vote": f"weighted exp(sim/{temperature})" if weighted
           else "majority", "train": int(train_x.shape[0]), "test": int(n)}
    return ProtocolResult("knn", sig, {f"top1@k{k}": correct[k] / n for k in ks})


def label_subset(labels: Tensor | Sequence[int], fraction: float, balanced: bool = True, seed: int = 0) -> Tensor:
    """Indices of a labelled subset: ``fraction`` of the samples, per class (balanced) or overall."""
    if not 0 < fraction <= 1:
        raise ConfigError(f"label_subset: fraction must be in (0, 1], got {fraction}")
    y = torch.as_tensor(labels).long()
    g = torch.Generator().manual_seed(seed)
    if not balanced:
        n = max(1, round(fraction * len(y)))
        return torch.randperm(len(y), generator=g)[:n].sort().values
    out = []
    for c in torch.unique(y).tolist():
        idx = (y == c).nonzero().flatten()
        n = max(1, round(fraction * len(idx)))
        out.append(idx[torch.randperm(len(idx), generator=g)[:n]])
    return torch.cat(out).sort().values


def few_shot(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor, *, shots: int = 1,
             episodes: int = 10, seed: int = 0) -> ProtocolResult:
    """Nearest class prototype (cosine) with ``shots`` support samples per class from the
    training features; mean and std of the accuracy over ``episodes`` seeded draws."""
    classes = torch.unique(test_y)
    a, b = F.normalize(train_x.float(), dim=1), F.normalize(test_x.float(), dim=1)
    g = torch.Generator().manual_seed(seed)
    accs = []
    for _ in range(episodes):
        protos = []
        for c in classes.tolist():
            idx = (train_y == c).nonzero().flatten()
            if len(idx) < shots:
                raise ConfigError(f"few_shot: class {c} has {len(idx)} training samples < shots={shots}")
            protos.append(a[idx[torch.randperm(len(idx), generator=g)[:shots]]].mean(0))
        pred = classes[(b @ F.normalize(torch.stack(protos), dim=1).T).argmax(dim=1)]
        accs.append(float((pred == test_y).float().mean()))
    t = torch.tensor(accs)
    sig = {"shots": shots, "episodes": episodes, "classes": int(len(classes)), "rule": "cosine prototype",
           "test": int(test_x.shape[0]), "seed": seed}
    return ProtocolResult("fewshot", sig, {"top1": float(t.mean()), "top1_std": float(t.std()) if episodes > 1
                                           else 0.0})


def layer_decay_groups(model: nn.Module, weight_decay: float, layer_decay: float) -> list[dict[str, Any]]:
    """Parameter groups with MAE / MAMP layer-wise lr decay (``util/lr_decay.py``) for a classifier
    around a :class:`~mmfusion.encoders.skeleton_transformer.SkeletonTransformer`.

    Layer ids: the embeddings (patch, temporal, spatial) 0, block i -> i + 1, everything after
    the blocks (final norm, head) depth + 1; a group's ``lr_scale`` is
    ``layer_decay ** (depth + 1 - id)``. No weight decay on 1-D parameters and the position
    tables (MAE's ``no_weight_decay``). Attach as ``model.optimizer_groups`` for the engine.
    """
    blocks = getattr(getattr(model, "encoder", model), "blocks", None)
    if blocks is None:
        raise ConfigError(f"layer-wise lr decay needs a transformer encoder with .blocks, got {type(model).__name__}")
    depth = len(blocks)
    groups: dict[tuple[int, bool], dict[str, Any]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        local = name.split("encoder.", 1)[1] if name.startswith("encoder.") else None
        if local is not None and local.startswith(("patch_embed", "temp_embed", "pos_embed")):
            layer = 0
        elif local is not None and local.startswith("blocks."):
            layer = int(local.split(".")[1]) + 1
        else:
            layer = depth + 1
        no_wd = p.ndim == 1 or name.endswith(("temp_embed", "pos_embed"))
        g = groups.setdefault((layer, no_wd), {"params": [], "weight_decay": 0.0 if no_wd else weight_decay,
                                               "lr_scale": layer_decay ** (depth + 1 - layer)})
        g["params"].append(p)
    return list(groups.values())


def finetune_signature(**settings: Any) -> dict[str, Any]:
    """The declared settings of a fine-tune / semi-supervised / transfer run (for its line)."""
    return dict(settings)


def embed_2d(features: Tensor, method: Literal["auto", "tsne", "pca"] = "auto", seed: int = 0) -> tuple[Tensor, str]:
    """(N, D) -> ((N, 2), method used): t-SNE (scikit-learn) when available and asked, else PCA."""
    x = features.float()
    if method in ("auto", "tsne"):
        try:
            from sklearn.manifold import TSNE  # optional dependency
        except ImportError:
            if method == "tsne":
                raise ConfigError("embed_2d: method='tsne' needs scikit-learn (pip install scikit-learn)") from None
        else:
            emb = TSNE(n_components=2, init="pca", random_state=seed).fit_transform(x.numpy())
            return torch.as_tensor(emb, dtype=torch.float32), "tsne"
    x = x - x.mean(dim=0)
    torch.manual_seed(seed)
    _, _, v = torch.pca_lowrank(x, q=min(2, x.shape[1]), center=False)
    return x @ v[:, :2], "pca"


def plot_embedding(points: Tensor, labels: Tensor, path: str | Path, title: str = "") -> Path:
    """Scatter the 2-D embedding coloured by class into a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 6))
    ax.scatter(points[:, 0].numpy(), points[:, 1].numpy(), c=labels.numpy(), cmap="tab20", s=4)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path
