"""BRL, Balanced Representation Learning for long-tailed skeleton action recognition (Liu et al.,
arXiv 2308.14024; official code ``firework8/BRL``), as a wrapper around any skeleton classifier.

:class:`BRL` wraps a classifier that reads ``batch["skeleton"]`` (N, C, T, V, M) and returns
``{"logits": (N, K), ...}`` (every entry of :mod:`~mmfusion.models.skeleton_zoo`), and adds:

* **Rebalanced partial mixup** (``mixup_recognizergcn.py``, ``rebalance_mix_up``): in training,
  for ``int(ratio * N)`` samples ``i`` of the batch (``ratio`` 1/16: one per batch of 16) a
  partner ``j != i`` is drawn from the batch and ``i``'s lower-body joints (the layout's
  ``brl/lower`` part: ntu25 {0, 12..19}) are replaced by ``j``'s, in every frame and person.
  The loss is ``alpha_i * CE(y_i) + (1 - alpha_i) * CE(y_j)`` with, from the training class
  counts ``n``: ``alpha_i = 0`` if ``n[y_i] > k * n[y_j]`` (all credit to the rarer class
  ``y_j``), ``1`` if ``n[y_j] > k * n[y_i]``, else ``alpha`` (:func:`mix_weights`). Official
  values (``apis/own.py``): ``k = 3``, ``alpha = 0.64`` on NTU (16 / 25: the upper-body share of
  the joints) and 0.55 on NW-UCLA (11 / 20); the default ``alpha=None`` takes that share from
  the layout.
* **Detached action-aware re-weighting** (``losses.py``, ``TwostageAALoss``, "DRW" schedule):
  plain CE while ``epoch + 1 < step_epoch`` (0-based epochs; ``step_epoch`` 20 of 24, so the
  weights apply from the 20th epoch on), then class weights
  ``w_c = (1 - beta_c) / (1 - beta_c ** n_c)`` normalised to sum to C, with a per-class
  ``beta_c = 0.99 + 0.0099 * (n_c - n_min) / (n_max - n_min)`` (0.99 for the rarest class,
  0.9999 for the most frequent; :func:`aa_class_weights`). The engine calls
  :meth:`BRL.set_epoch` at the start of every epoch.
* **Six-stream fusion** (``tools/ensemble.py``): scores of the j, b, k, jm, bm, km models summed
  with weights 2, 2, 2, 1, 1, 1 (four streams j, b, jm, bm: 2, 2, 1, 1; two streams j, b: 1, 1);
  :func:`fuse_streams`. The skip-bone stream ``k`` (joint minus grandparent, BRL's
  ``JointToKB``) is :func:`mmfusion.data.skeleton.streams.skip_bone`; each stream is a separate
  model trained on ``SkeletonDataset(stream_name=...)``.

Where this differs from the official code (deliberately; see docs/robustness.md):

* The official mixing builds the new skeleton as ``cat(upper joints of i, lower joints of j)``,
  which reorders the joint axis (joint 0 receives joint 1, ...); here every joint keeps its index.
* The official code keeps one ``alpha`` for the whole batch (the last mixed pair's) and applies
  it to unmixed samples too; here ``alpha`` is per sample, 1 for unmixed ones (their two terms
  are the same label). With one mixed pair per batch, as officially configured, both agree on
  that pair. Each term is the weighted CE mean, as ``F.cross_entropy(weight=w)`` is.
* The official loss reads the class counts from the hard-coded profile formula
  (``get_num_class_list``); here they are the training set's own counts (``class_counts``;
  the profile when not given), which equal the formula on the official lists.
* The paper's temporal part of STAE ("temporal reverse perception") is not in the official
  code and is not implemented.

Shapes: ``batch["skeleton"]`` (N, C, T, V, M), ``batch["label"]`` (N,) int64 (training mixup
needs it; without it the batch passes unchanged). Output: the classifier's dict plus
``"label_b"`` (N,) and ``"mix_alpha"`` (N,) in training.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.layouts import get_layout
from ..data.skeleton.longtail import PROFILES
from ..errors import ConfigError
from ..model_cfg import InputSpec, ModelCfg
from ..registry import create_model, register_model
from .skeleton_zoo import stgcnpp, stgcnpp_tiny

__all__ = ["BRL", "BRL_STREAM_WEIGHTS", "aa_class_weights", "fuse_streams", "mix_weights", "partial_mixup",
           "reweighting_schedule"]

#: ``tools/ensemble.py`` "6M": j, b, k (weight 2 each) and their motions (1 each)
BRL_STREAM_WEIGHTS: dict[str, float] = {"j": 2.0, "b": 2.0, "k": 2.0, "jm": 1.0, "bm": 1.0, "km": 1.0}
#: ``tools/ensemble.py`` "4M" and "J+B"
BRL_FOUR_STREAM_WEIGHTS: dict[str, float] = {"j": 2.0, "b": 2.0, "jm": 1.0, "bm": 1.0}
BRL_TWO_STREAM_WEIGHTS: dict[str, float] = {"j": 1.0, "b": 1.0}


def mix_weights(n_a: Tensor, n_b: Tensor, alpha: float, im_k: float = 3.0) -> Tensor:
    """Per-pair weight of the first label: 0 where ``n_a > im_k * n_b``, 1 where
    ``n_b > im_k * n_a``, else ``alpha``. ``n_a``, ``n_b`` (P,) training counts of the two classes."""
    n_a, n_b = n_a.double(), n_b.double()
    out = torch.full(n_a.shape, float(alpha), dtype=torch.float32, device=n_a.device)
    out = torch.where(n_b > im_k * n_a, torch.ones_like(out), out)
    return torch.where(n_a > im_k * n_b, torch.zeros_like(out), out)


def partial_mixup(x: Tensor, joints: Sequence[int], chosen: Tensor, partner: Tensor) -> Tensor:
    """A copy of ``x`` (N, C, T, V, M) whose samples ``chosen`` (P,) take ``joints`` (e.g. the lower
    body) from samples ``partner`` (P,) of the original batch, in every frame and person."""
    out = x.clone()
    if chosen.numel():
        j = torch.as_tensor(list(joints), device=x.device)
        ci, pi = chosen.to(x.device), partner.to(x.device)
        out[ci[:, None], :, :, j[None, :], :] = x[pi[:, None], :, :, j[None, :], :]
    return out


def aa_class_weights(counts: Sequence[int] | Tensor, beta_min: float = 0.99, beta_max: float = 0.9999) -> Tensor:
    """Action-aware class weights (C,) float32, summing to C: ``(1 - beta_c) / (1 - beta_c ** n_c)``
    with ``beta_c`` linear in ``n_c`` from ``beta_min`` (rarest class) to ``beta_max`` (most
    frequent). Counts below 1 count as 1 (a class without training samples gets a finite weight)."""
    n = torch.as_tensor(counts, dtype=torch.float64).clamp(min=1.0)
    if n.numel() == 0:
        return torch.zeros(0)
    span = float(n.max() - n.min())
    beta = beta_min + (beta_max - beta_min) * ((n - n.min()) / span if span > 0 else torch.zeros_like(n))
    w = (1.0 - beta) / (1.0 - beta ** n)
    return (w / w.sum() * n.numel()).float()


def reweighting_schedule(counts: Sequence[int] | Tensor, epoch: int, step_epoch: int = 20,
                         beta: tuple[float, float] = (0.99, 0.9999)) -> Tensor:
    """Class weights (C,) at 0-based ``epoch``: ones while ``epoch + 1 < step_epoch``, then
    :func:`aa_class_weights` (the official ``(epoch + 1) // step_epoch`` switch)."""
    n = len(counts)
    if (epoch + 1) < step_epoch:
        return torch.ones(n)
    return aa_class_weights(counts, *beta)


def fuse_streams(scores: Mapping[str, Tensor], weights: Mapping[str, float] | None = None) -> Tensor:
    """Weighted sum of per-stream scores (each (N, K); BRL sums the test-time class probabilities).
    ``weights`` default :data:`BRL_STREAM_WEIGHTS` restricted to the given streams."""
    if not scores:
        raise ConfigError("fuse_streams needs at least one stream's scores")
    weights = weights if weights is not None else BRL_STREAM_WEIGHTS
    missing = [s for s in scores if s not in weights]
    if missing:
        raise ConfigError(f"no fusion weight for streams {missing}; weights given for {sorted(weights)}")
    shapes = {tuple(v.shape) for v in scores.values()}
    if len(shapes) != 1:
        raise ConfigError(f"stream scores differ in shape: {sorted(shapes)}")
    return sum(float(weights[s]) * v.float() for s, v in scores.items())  # type: ignore[return-value]


class BRL(nn.Module):
    """BRL training around a skeleton classifier (see the module docstring).

    Args:
        classifier: maps a batch to ``{"logits": (N, K), ...}`` and reads ``batch[key]``.
        class_counts: training samples per class (K,); None: BRL's NTU profile
            (``n_max`` 600, ``r`` 0.01) for K classes, as the official code assumes.
        key: batch key of the skeleton (N, C, T, V, M).
        layout: skeleton layout whose ``brl`` part group gives the exchanged (``lower``) joints.
        ratio: share of each batch that is mixed (``int(ratio * N)`` samples).
        alpha: mixing weight of the kept sample between classes of similar frequency; None: the
            layout's upper-body share (16 / 25 = 0.64 on ntu25, the official value).
        im_k: frequency ratio above which all credit goes to the rarer class.
        step_epoch: 1-based epoch from which the action-aware weights apply.
        beta: (min, max) of the per-class beta.
        mixup, reweight: switch the two parts (both on: BRL; both off: plain CE).

    The classifier's ``num_classes`` / ``num_features`` / ``forward_features`` /
    ``forward_head`` / ``reset_classifier`` are passed through.
    """

    def __init__(self, classifier: nn.Module, class_counts: Sequence[int] | None = None, *, key: str = "skeleton",
                 layout: str = "ntu25", ratio: float = 1 / 16, alpha: float | None = None, im_k: float = 3.0,
                 step_epoch: int = 20, beta: tuple[float, float] = (0.99, 0.9999), mixup: bool = True,
                 reweight: bool = True) -> None:
        super().__init__()
        lay = get_layout(layout)
        if "brl" not in lay.part_groups:
            raise ConfigError(f"layout {lay.name} has no BRL upper / lower body groups")
        if not 0 <= ratio <= 1:
            raise ConfigError(f"BRL mixup ratio must be in [0, 1], got {ratio}")
        if not 0 < beta[0] <= beta[1] < 1:
            raise ConfigError(f"BRL beta must satisfy 0 < min <= max < 1, got {beta}")
        self.classifier, self.key = classifier, key
        self.lower: tuple[int, ...] = tuple(lay.part("brl", "lower"))
        upper = lay.part("brl", "upper")
        self.alpha = float(alpha) if alpha is not None else len(upper) / (len(upper) + len(self.lower))
        self.ratio, self.im_k, self.step_epoch, self.beta = float(ratio), float(im_k), int(step_epoch), tuple(beta)
        self.mixup, self.reweight = mixup, reweight
        self.epoch = 0
        # not persistent: the checkpoint stays the classifier's; the weights follow from counts and epoch
        self.register_buffer("class_counts", torch.zeros(0, dtype=torch.long), persistent=False)
        self.register_buffer("class_weights", torch.zeros(0), persistent=False)
        self._set_counts(class_counts)

    def _set_counts(self, class_counts: Sequence[int] | None) -> None:
        k = int(getattr(self.classifier, "num_classes", 0) or 0)
        if class_counts is None:
            p = PROFILES["ntu60_xsub"]
            class_counts = p.counts(k) if k > 0 else []
        if k and len(class_counts) != k:
            raise ConfigError(f"BRL: {len(class_counts)} class counts for a {k}-class classifier")
        device = self.class_weights.device
        self.class_counts = torch.as_tensor(list(class_counts), dtype=torch.long, device=device)
        self.set_epoch(self.epoch)

    # -- the training schedule --------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Select the class weights of 0-based ``epoch`` (called by the engine every epoch)."""
        self.epoch = int(epoch)
        n = self.class_counts.cpu()
        w = reweighting_schedule(n, self.epoch, self.step_epoch, self.beta) if self.reweight else torch.ones(len(n))
        self.class_weights = w.to(self.class_counts.device)

    # -- the classifier's interface ---------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return int(self.classifier.num_classes)

    @property
    def num_features(self) -> int:
        return int(self.classifier.num_features)

    def forward_features(self, batch: Any) -> Tensor:
        return self.classifier.forward_features(batch)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        return self.classifier.forward_head(x, pre_logits=pre_logits)

    def reset_classifier(self, num_classes: int) -> None:
        """New final layer; class counts fall back to the profile when K changes."""
        self.classifier.reset_classifier(num_classes)
        if len(self.class_counts) != num_classes:
            self._set_counts(None)

    # -- forward and loss -------------------------------------------------------------------------
    def _mix(self, batch: Mapping[str, Any]) -> tuple[dict[str, Any], Tensor, Tensor] | None:
        x, y = batch[self.key], batch["label"]
        n = int(x.shape[0])
        p = int(self.ratio * n)
        if p == 0 or n < 2 or not len(self.class_counts):
            return None
        chosen = torch.randperm(n)[:p]
        r = torch.randint(0, n - 1, (p,))
        partner = r + (r >= chosen).long()  # uniform over the other samples
        y = y.long()
        label_b = y.clone()
        label_b[chosen.to(y.device)] = y[partner.to(y.device)]
        mix_alpha = torch.ones(n, device=y.device)
        counts = self.class_counts.to(y.device)
        mix_alpha[chosen.to(y.device)] = mix_weights(counts[y[chosen.to(y.device)]],
                                                     counts[y[partner.to(y.device)]], self.alpha, self.im_k)
        return {**batch, self.key: partial_mixup(x, self.lower, chosen, partner)}, label_b, mix_alpha

    def forward(self, batch: Any) -> Any:
        mixed = None
        if self.training and self.mixup and isinstance(batch, Mapping) and "label" in batch:
            mixed = self._mix(batch)
        if mixed is None:
            return self.classifier(batch)
        out = dict(self.classifier(mixed[0]))
        out.update(label_b=mixed[1], mix_alpha=mixed[2])
        return out

    def loss(self, outputs: Mapping[str, Tensor], target: Tensor) -> Tensor:
        """``sum(alpha w_a CE_a) / sum(w_a) + sum((1 - alpha) w_b CE_b) / sum(w_b)`` (per-sample
        ``alpha``, class weights ``w`` of the current epoch) plus every ``"loss_*"`` term."""
        logits = outputs["logits"].float()
        target = target.long()
        label_b = outputs.get("label_b", target).long()
        alpha = outputs.get("mix_alpha")
        alpha = torch.ones(target.shape, device=logits.device) if alpha is None else alpha.float()
        w = self.class_weights.to(logits.device)
        if w.numel() != logits.shape[1]:
            w = torch.ones(logits.shape[1], device=logits.device)
        wa, wb = w[target], w[label_b]
        ce_a = F.cross_entropy(logits, target, reduction="none")
        ce_b = F.cross_entropy(logits, label_b, reduction="none")
        loss = (alpha * wa * ce_a).sum() / wa.sum() + ((1 - alpha) * wb * ce_b).sum() / wb.sum()
        for k, v in outputs.items():
            if k.startswith("loss_"):
                loss = loss + v.float()
        return loss


# ----------------------------------------------------------------------------- registered entries
_TAGS = ("model", "skeleton")
_SRC = ("firework8/BRL configs/BRL/ntu60_xsub_LT/j.py: PYSKL ST-GCN++ (gcn_adaptive='init', gcn_with_res, "
        "mstcn) + MixAAHead (fc, N(0, 0.01)); same parameters as stgcnpp, BRL's measured 1.40 M")
_OUT = '"logits" (N, K), "features" (N, {d}); training adds "label_b" (N,), "mix_alpha" (N,)'


def _cfg(t: int, d: int, source: str, paper_params: float | None = None, paper_macs: float | None = None) -> ModelCfg:
    return ModelCfg(inputs={"skeleton": InputSpec((3, t, 25, 2), "C T V M", values="skeleton_m")}, num_classes=60,
                    clip_len=t, paper_params=paper_params, paper_macs=paper_macs, source=source,
                    output=_OUT.format(d=d))


def _brl_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    names = ("key", "ratio", "alpha", "im_k", "step_epoch", "beta", "mixup", "reweight")
    return {k: kwargs.pop(k) for k in names if k in kwargs}


@register_model(tags=_TAGS, cfg=_cfg(64, 256, _SRC, paper_params=1.40e6, paper_macs=1.87e9))
def brl_stgcnpp(num_classes: int = 60, class_counts: Sequence[int] | None = None, layout: str = "ntu25",
                dropout: float = 0.0, **kwargs: Any) -> BRL:
    """BRL on ST-GCN++ as in the paper; ``kwargs``: :class:`BRL` options, the rest to ST-GCN++."""
    opts = _brl_options(kwargs)
    return BRL(stgcnpp(num_classes, layout, dropout, **kwargs), class_counts, layout=layout, **opts)


@register_model(tags=("model", "skeleton", "test"),
                cfg=_cfg(32, 48, "ours: BRL around the three-block ST-GCN++ (24, 48/s2, 48) for tests"))
def brl_stgcnpp_tiny(num_classes: int = 60, class_counts: Sequence[int] | None = None, layout: str = "ntu25",
                     dropout: float = 0.0, **kwargs: Any) -> BRL:
    """BRL around ``stgcnpp_tiny``."""
    opts = _brl_options(kwargs)
    return BRL(stgcnpp_tiny(num_classes, layout, dropout, **kwargs), class_counts, layout=layout, **opts)


@register_model(tags=_TAGS, cfg=_cfg(64, 256, "BRL around any registered skeleton classifier (default stgcnpp)"))
def brl(classifier: str = "stgcnpp", num_classes: int = 60, class_counts: Sequence[int] | None = None,
        layout: str = "ntu25", classifier_kwargs: Mapping[str, Any] | None = None, **kwargs: Any) -> BRL:
    """BRL around the registered classifier ``classifier`` (built with ``num_classes`` and
    ``classifier_kwargs``); ``kwargs``: :class:`BRL` options."""
    if classifier.startswith("brl"):
        raise ConfigError(f"brl wraps a plain classifier, not {classifier!r}")
    opts = _brl_options(kwargs)
    if kwargs:
        raise ConfigError(f"brl: unknown options {sorted(kwargs)} (classifier options go in classifier_kwargs)")
    inner = create_model(classifier, num_classes=num_classes, **dict(classifier_kwargs or {}))
    return BRL(inner, class_counts, layout=layout, **opts)
