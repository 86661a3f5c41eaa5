"""Classification heads: one encoder of one batch key + a linear head, following the model batch contract.

:class:`ModalityClassifier` is the single wrapper behind every unimodal classifier that is an
encoder plus a head: the registered skeleton / point encoders with ``num_classes``
(``stgcn``, ``hypergcn_*``, ``mamp_transformer*``, ``point_sequence_encoder*``) and the
generic ``modality_classifier`` entry (:mod:`mmfusion.models.unimodal`).

Encoders import :func:`with_head` inside their entry functions, not at module top: importing
:mod:`mmfusion.models` imports every encoder module, so a top-level import would be circular.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError, MissingModalityError

__all__ = ["ModalityClassifier", "with_head"]


class ModalityClassifier(nn.Module):
    """Linear classifier on top of any encoder of one batch key.

    ``forward(batch)`` with a dict reads ``batch[key]`` (e.g. ``"skeleton"`` (N, C, T, V, M),
    ``"points"`` (N, T, P, 3), ``"rgb"`` (N, 3, T, H, W)) and returns
    ``{"logits": (N, num_classes), "features": (N, D), **aux}``; with a Tensor it returns the
    logits tensor. Encoder outputs (N, D) are used as they are, (N, T, D) are averaged over T,
    a tuple / list contributes its first element. Encoders that expose ``has_aux = True`` are
    called with ``return_aux=True`` and their aux dict (e.g. Hyper-GCN's ``"loss_div"``) is merged
    into the outputs; :meth:`loss` adds every ``"loss_*"`` entry to the cross-entropy.

    Args:
        encoder: module returning (N, D) or (N, T, D).
        key: batch key to read (``"rgb"``, ``"depth"``, ``"skeleton"``, ``"points"`` ...).
        num_classes: K.
        feature_dim: D; read from ``encoder.out_dim`` when not given.
        dropout: before the head.
        norm: LayerNorm on the pooled features before the head (MAMP-style finetuning).
        label_smoothing: used by :meth:`loss`.
    """

    def __init__(self, encoder: nn.Module, key: str, num_classes: int, feature_dim: int | None = None,
                 dropout: float = 0.0, norm: bool = False, label_smoothing: float = 0.0) -> None:
        super().__init__()
        if feature_dim is None:
            feature_dim = getattr(encoder, "out_dim", None)
        if not isinstance(feature_dim, int) or feature_dim < 1:
            raise ConfigError(f"ModalityClassifier: {type(encoder).__name__} has no integer out_dim; pass feature_dim")
        if num_classes < 1:
            raise ConfigError(f"ModalityClassifier: num_classes must be >= 1, got {num_classes}")
        self.encoder, self.key, self.num_classes = encoder, key, num_classes
        self.out_dim: int = feature_dim
        self.label_smoothing = label_smoothing
        self.norm = nn.LayerNorm(feature_dim) if norm else nn.Identity()
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(feature_dim, num_classes)

    def _input(self, batch: Tensor | Mapping[str, Any]) -> Tensor:
        if isinstance(batch, Tensor):
            return batch
        if self.key not in batch:
            raise MissingModalityError(self.key, f"{type(self.encoder).__name__} classifier reads "
                                                 f"batch[{self.key!r}]; batch has keys {sorted(batch)}")
        return batch[self.key]

    def _encode(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        aux: dict[str, Tensor] = {}
        if getattr(self.encoder, "has_aux", False):
            feats, aux = self.encoder(x, return_aux=True)
        else:
            feats = self.encoder(x)
        if isinstance(feats, (tuple, list)):
            feats = feats[0]
        if feats.ndim == 3:
            feats = feats.mean(dim=1)
        elif feats.ndim != 2:
            raise ConfigError(f"ModalityClassifier: encoder output must be (N, D) or (N, T, D), got "
                              f"{tuple(feats.shape)}; pool it to one of those first")
        return feats, aux

    def forward_features(self, batch: Tensor | Mapping[str, Any]) -> Tensor:
        """Pooled encoder features (N, D)."""
        return self._encode(self._input(batch))[0]

    def forward_head(self, features: Tensor) -> Tensor:
        """(N, D) -> logits (N, num_classes)."""
        return self.head(self.dropout(self.norm(features)))

    def forward(self, batch: Tensor | Mapping[str, Any]) -> Tensor | dict[str, Tensor]:
        feats, aux = self._encode(self._input(batch))
        logits = self.forward_head(feats)
        if isinstance(batch, Tensor):
            return logits
        return {"logits": logits, "features": feats, **aux}

    def loss(self, outputs: Mapping[str, Tensor], target: Tensor) -> Tensor:
        """Cross-entropy (with ``label_smoothing``) plus every ``"loss_*"`` auxiliary term."""
        loss = F.cross_entropy(outputs["logits"].float(), target, label_smoothing=self.label_smoothing)
        for k, v in outputs.items():
            if k.startswith("loss_"):
                loss = loss + v.float()
        return loss


def with_head(encoder: nn.Module, num_classes: int | None, key: str = "skeleton", **head_kw: Any) -> nn.Module:
    """The bare ``encoder`` when ``num_classes`` is None, else a :class:`ModalityClassifier` reading ``key``."""
    return encoder if num_classes is None else ModalityClassifier(encoder, key, num_classes, **head_kw)
