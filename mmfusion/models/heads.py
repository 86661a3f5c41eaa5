"""Classification heads: one encoder of one batch key + a head, with the timm-style classifier contract.

:class:`ModalityClassifier` is the single wrapper behind every unimodal classifier that is an
encoder plus a head: the registered skeleton / point classifiers (``stgcn``, ``hypergcn_*``,
``mamp_transformer*``, ``point_sequence_encoder*``, :mod:`mmfusion.models.classifiers`) and the
generic ``modality_classifier`` entry (:mod:`mmfusion.models.unimodal`).

The classifier contract (every registered classifier follows it):

* ``forward(batch)`` with a dict returns ``{"logits": (N, K), "features": (N, D), **aux}``
  (``"features"``: the pooled encoder features before the head); with a Tensor it returns the
  logits tensor. With ``num_classes=0`` the final layer is ``Identity`` and the ``"logits"`` slot
  (and the tensor output) holds the pooled (N, num_features) pre-logits features, exactly like
  timm (num_features = D unless the head has a hidden layer, e.g. MAMP's fine-tune MLP).
* ``forward_features(batch_or_x)``: the encoder's unpooled output (shape per encoder, below).
* ``forward_head(x, pre_logits=False)``: pool ``forward_features``' output and classify;
  ``pre_logits=True`` stops before the final linear layer and returns (N, ``num_features``).
* ``reset_classifier(num_classes)``: a fresh final layer (0: Identity); ``num_features``: D.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError, MissingModalityError

__all__ = ["ModalityClassifier", "TokenConcatPool"]


class TokenConcatPool(nn.Module):
    """MAMP's fine-tune pooling: (N, M, T', V, D) -> dropout -> mean over T' -> (N, M, V*D) -> mean over M.

    The official head keeps the joints apart (V*D = 6400 features for NTU at D = 256) and
    applies its dropout to the token features before pooling.
    """

    def __init__(self, dropout: float = 0.3) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 5:
            raise ConfigError(f"TokenConcatPool: expected token features (N, M, T', V, D), got {tuple(x.shape)}")
        n, m = x.shape[:2]
        return self.dropout(x).mean(dim=2).reshape(n, m, -1).mean(dim=1)


class ModalityClassifier(nn.Module):
    """Classifier on top of any encoder of one batch key.

    ``forward(batch)`` reads ``batch[key]`` (e.g. ``"skeleton"`` (N, C, T, V, M), ``"points"``
    (N, T, P, 3), ``"rgb"`` (N, 3, T, H, W)) and returns
    ``{"logits": (N, K), "features": (N, D) pooled, **aux}`` (a Tensor input gives the logits
    tensor; ``num_classes=0``: the (N, num_features) pre-logits in the logits slot).
    ``forward_features`` is the encoder's ``forward_features`` (unpooled: ST-GCN / Hyper-GCN
    (N, M, C', T', V), the skeleton transformer (N, M, T', V, D), the point sequence encoder
    (N, T, D)) or, for an encoder without one, its plain output. Pooling: ``pool`` when given,
    else the encoder's ``pool``, else (N, T, D) -> mean over T.
    Encoders with ``has_aux = True`` provide ``aux_losses()`` (e.g. Hyper-GCN's ``"loss_div"``),
    merged into the outputs (an encoder without it is called as ``encoder(x, return_aux=True)`` ->
    ``(pooled, aux)``); :meth:`loss` adds every ``"loss_*"`` entry to the cross-entropy.

    Head: pooled (N, D) -> [LayerNorm if ``norm``] -> ``pre_logits`` (e.g. MAMP's fine-tune MLP,
    (N, D) -> (N, F)) -> dropout -> Linear(F, K) (Identity for K = 0).

    Args:
        encoder: the encoder module.
        key: batch key to read (``"rgb"``, ``"depth"``, ``"skeleton"``, ``"points"`` ...).
        num_classes: K (0: pooled features).
        feature_dim: D after pooling; read from ``encoder.out_dim`` when not given.
        dropout: before the final linear layer.
        norm: LayerNorm on the pooled features.
        label_smoothing: used by :meth:`loss`.
        pool: module replacing the pooling (unpooled -> (N, D)).
        pre_logits: module (N, D) -> (N, pre_logits_dim) before dropout and the final linear layer.
        pre_logits_dim: F, required with ``pre_logits``.
        head_init: called on every new final ``nn.Linear`` (official initialisations).
    """

    def __init__(self, encoder: nn.Module, key: str, num_classes: int, feature_dim: int | None = None,
                 dropout: float = 0.0, norm: bool = False, label_smoothing: float = 0.0, pool: nn.Module | None = None,
                 pre_logits: nn.Module | None = None, pre_logits_dim: int | None = None,
                 head_init: Callable[[nn.Linear], None] | None = None) -> None:
        super().__init__()
        if feature_dim is None:
            feature_dim = getattr(encoder, "out_dim", None)
        if not isinstance(feature_dim, int) or feature_dim < 1:
            raise ConfigError(f"ModalityClassifier: {type(encoder).__name__} has no integer out_dim; pass feature_dim")
        if num_classes is None or num_classes < 0:
            raise ConfigError(f"ModalityClassifier: num_classes must be >= 0 (0: pooled features), got {num_classes}")
        if (pre_logits is None) != (pre_logits_dim is None):
            raise ConfigError("ModalityClassifier: pass pre_logits and pre_logits_dim together")
        self.encoder, self.key = encoder, key
        self.out_dim: int = feature_dim
        self.label_smoothing = label_smoothing
        self.pool = pool
        self.norm = nn.LayerNorm(feature_dim) if norm else nn.Identity()
        self.pre_logits = pre_logits if pre_logits is not None else nn.Identity()
        self.num_features: int = pre_logits_dim if pre_logits_dim is not None else feature_dim
        self.dropout = nn.Dropout(dropout)
        self._head_init = head_init
        self.num_classes = num_classes
        self.head: nn.Module = self._new_head(num_classes)

    def _new_head(self, num_classes: int) -> nn.Module:
        if num_classes == 0:
            return nn.Identity()
        head = nn.Linear(self.num_features, num_classes)
        if self._head_init is not None:
            self._head_init(head)
        return head

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the final layer by a fresh one with ``num_classes`` outputs (0: Identity)."""
        if num_classes < 0:
            raise ConfigError(f"reset_classifier: num_classes must be >= 0, got {num_classes}")
        device = next(self.parameters()).device
        self.num_classes = num_classes
        self.head = self._new_head(num_classes).to(device)

    def _input(self, batch: Tensor | Mapping[str, Any]) -> Tensor:
        if isinstance(batch, Tensor):
            return batch
        if self.key not in batch:
            raise MissingModalityError(self.key, f"{type(self.encoder).__name__} classifier reads "
                                                 f"batch[{self.key!r}]; batch has keys {sorted(batch)}")
        return batch[self.key]

    def forward_features(self, batch: Tensor | Mapping[str, Any]) -> Tensor:
        """The encoder's unpooled features (shape per encoder, see the class docstring)."""
        x = self._input(batch)
        fn = getattr(self.encoder, "forward_features", None)
        feats = fn(x) if fn is not None else self.encoder(x)
        if isinstance(feats, (tuple, list)):
            feats = feats[0]
        return feats

    def _pool(self, feats: Tensor) -> Tensor:
        if feats.ndim == 2:  # already pooled (N, D)
            return feats
        if self.pool is not None:
            return self.pool(feats)
        enc_pool = getattr(self.encoder, "pool", None)
        if callable(enc_pool):
            return enc_pool(feats)
        if feats.ndim == 3:
            return feats.mean(dim=1)
        if feats.ndim != 2:
            raise ConfigError(f"ModalityClassifier: encoder output must be (N, D) or (N, T, D), got "
                              f"{tuple(feats.shape)}; give the encoder a pool() or pass pool=")
        return feats

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Unpooled features -> logits (N, K) (``pre_logits``: (N, num_features) before the final layer)."""
        x = self.pre_logits(self.norm(self._pool(x)))
        return x if pre_logits else self.head(self.dropout(x))

    def forward(self, batch: Tensor | Mapping[str, Any]) -> Tensor | dict[str, Tensor]:
        aux: dict[str, Tensor] = {}
        if getattr(self.encoder, "has_aux", False) and not hasattr(self.encoder, "aux_losses"):
            # older encoders return (features, aux) from forward(x, return_aux=True)
            pooled, aux = self.encoder(self._input(batch), return_aux=True)
        else:
            pooled = self._pool(self.forward_features(batch))
            if getattr(self.encoder, "has_aux", False):
                aux = self.encoder.aux_losses()
        logits = self.head(self.dropout(self.pre_logits(self.norm(pooled))))
        if isinstance(batch, Tensor):
            return logits
        return {"logits": logits, "features": pooled, **aux}

    def loss(self, outputs: Mapping[str, Tensor], target: Tensor) -> Tensor:
        """Cross-entropy (with ``label_smoothing``) plus every ``"loss_*"`` auxiliary term."""
        loss = F.cross_entropy(outputs["logits"].float(), target, label_smoothing=self.label_smoothing)
        for k, v in outputs.items():
            if k.startswith("loss_"):
                loss = loss + v.float()
        return loss
