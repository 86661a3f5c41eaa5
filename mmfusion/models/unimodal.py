"""Single-modality classifiers, the baselines next to the fusion models.

* :class:`FrameGRU` — one frame-wise 2-D CNN + projection + GRU + linear head: exactly one
  M-Mixer stream with a plain GRU instead of the MCU and no cross-modal content, so the demo
  can compare each modality alone against the fusion with the same encoders.
* ``modality_classifier`` — any registered encoder of one batch key + a linear head
  (:class:`~mmfusion.models.heads.ModalityClassifier`, re-exported here).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from ..encoders.frame2d import FrameEncoder2D, channels_of
from ..errors import ConfigError, MissingModalityError
from ..model_cfg import ModelCfg, frames_input
from ..registry import create_model, get_model_cfg, register_model
from .heads import ModalityClassifier

__all__ = ["FrameGRU", "ModalityClassifier"]


class FrameGRU(nn.Module):
    """Frame encoder + GRU classifier for one video-like modality.

    ``forward(batch)`` reads ``batch[modality]`` (N, C, T, H, W) -> ``{"logits": (N, K), "features": (N, d)}``::

        (N, C, T, H, W) -> FrameEncoder2D -> (N, T, D) -> Linear -> (N, T, d) -> GRU -> h_T (N, d)
        -> Dropout -> Linear -> (N, K)

    Classifier contract: ``forward_features(batch)`` -> projected frame features (N, T, d);
    ``forward_head(x, pre_logits=False)`` runs the GRU and the head (``pre_logits``: h_T (N, d));
    ``num_classes=0`` makes the head Identity (``"logits"`` = h_T); ``reset_classifier(K)``.

    Args:
        modality: ``"rgb"`` (3 channels), ``"depth"`` or ``"ir"`` (1 channel).
        num_classes: K (0: pooled features).
        backbone: timm backbone name.
        dim: d (projection and GRU width).
        dropout: before the head.
        checkpoint_path: local safetensors backbone weights (see :class:`FrameEncoder2D`).
        temporal_shift: TSM inside the frame encoder.
    """

    def __init__(self, modality: str = "rgb", num_classes: int = 60, backbone: str = "resnet18", dim: int = 512,
                 dropout: float = 0.5, checkpoint_path: str | Path | None = None,
                 temporal_shift: bool = False) -> None:
        super().__init__()
        if num_classes < 0:
            raise ConfigError(f"FrameGRU: num_classes must be >= 0 (0: pooled features), got {num_classes}")
        self.modality, self.num_classes = modality, num_classes
        self.encoder = FrameEncoder2D(backbone, in_chans=channels_of(modality), pretrained=checkpoint_path is not None,
                                      checkpoint_path=checkpoint_path, temporal_shift=temporal_shift)
        self.proj = nn.Linear(self.encoder.out_dim, dim)
        self.gru = nn.GRU(dim, dim, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.num_features = dim
        self.head: nn.Module = nn.Linear(dim, num_classes) if num_classes else nn.Identity()

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh final layer with ``num_classes`` outputs (0: Identity)."""
        if num_classes < 0:
            raise ConfigError(f"reset_classifier: num_classes must be >= 0, got {num_classes}")
        self.num_classes = num_classes
        self.head = (nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()).to(
            self.proj.weight.device)

    def forward_features(self, batch: Mapping[str, Tensor] | Tensor) -> Tensor:
        """Projected per-frame features (N, T, d)."""
        if isinstance(batch, Tensor):
            x = batch
        elif self.modality not in batch:
            raise MissingModalityError(self.modality, f"FrameGRU needs batch[{self.modality!r}] "
                                                      f"(N, {channels_of(self.modality)}, T, H, W)")
        else:
            x = batch[self.modality]
        return self.proj(self.encoder(x))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """(N, T, d) -> GRU last state (N, d) -> logits (N, K) (``pre_logits``: the last state)."""
        _, h = self.gru(x)  # h (1, N, d)
        return h[-1] if pre_logits else self.head(self.dropout(h[-1]))

    def forward(self, batch: Mapping[str, Tensor] | Tensor) -> dict[str, Tensor] | Tensor:
        feats = self.forward_head(self.forward_features(batch), pre_logits=True)
        logits = self.head(self.dropout(feats))
        return logits if isinstance(batch, Tensor) else {"logits": logits, "features": feats}


def _stream_cfg(frames: int, size: int, paper: str, num_classes: int = 60) -> ModelCfg:
    return ModelCfg(inputs={"rgb": frames_input("rgb", frames, size)}, num_classes=num_classes, clip_len=frames,
                    source=paper, output='"logits" (N, K), "features" (N, d)')


@register_model(tags=("model", "rgb", "depth", "ir"), cfg=_stream_cfg(
    16, 112, "ours: one M-Mixer stream with a GRU; 16x112^2 clip (modality='depth'/'ir': 1 channel)"))
def frame_gru(modality: str = "rgb", num_classes: int = 60, **kwargs: Any) -> FrameGRU:
    """One M-Mixer-sized stream: frame-wise ResNet-18 + GRU(512) on ``batch[modality]``."""
    return FrameGRU(modality=modality, num_classes=num_classes, **kwargs)


@register_model(tags=("model", "rgb", "depth", "ir", "test"), cfg=_stream_cfg(
    8, 48, "ours: the make-demo baseline, 8x48^2 clip", num_classes=10))
def frame_gru_tiny(modality: str = "rgb", num_classes: int = 10, **kwargs: Any) -> FrameGRU:
    """One ``mmixer_tiny``-sized stream: timm ``test_resnet`` frames + GRU(64)."""
    kwargs.setdefault("backbone", "test_resnet")
    kwargs.setdefault("dim", 64)
    return FrameGRU(modality=modality, num_classes=num_classes, **kwargs)


@register_model(tags=("model",), cfg=_stream_cfg(8, 48, "ours: frame_tiny encoder on an 8x48^2 RGB clip"))
def modality_classifier(encoder: str = "frame_tiny", key: str = "rgb", num_classes: int = 60,
                        encoder_kwargs: Mapping[str, Any] | None = None, dropout: float = 0.0) -> ModalityClassifier:
    """Any registered bare encoder (by name, with ``encoder_kwargs``) + mean over T + linear head on ``batch[key]``.

    A classifier entry (``stgcn`` ...) is not an encoder: build it directly (``num_classes=0`` for features).
    """
    if get_model_cfg(encoder).kind != "encoder":
        raise ConfigError(f"modality_classifier: {encoder!r} is a {get_model_cfg(encoder).kind}, not an encoder; "
                          f"use create_model({encoder!r}, num_classes=...) directly")
    return ModalityClassifier(create_model(encoder, **dict(encoder_kwargs or {})), key, num_classes, dropout=dropout)
