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
from ..registry import create_model, register_model
from .heads import ModalityClassifier

__all__ = ["FrameGRU", "ModalityClassifier"]


class FrameGRU(nn.Module):
    """Frame encoder + GRU classifier for one video-like modality.

    ``forward(batch)`` reads ``batch[modality]`` (N, C, T, H, W) -> ``{"logits": (N, K)}``::

        (N, C, T, H, W) -> FrameEncoder2D -> (N, T, D) -> Linear -> (N, T, d) -> GRU -> h_T (N, d)
        -> Dropout -> Linear -> (N, K)

    Args:
        modality: ``"rgb"`` (3 channels), ``"depth"`` or ``"ir"`` (1 channel).
        num_classes: K.
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
        if num_classes < 1:
            raise ConfigError(f"FrameGRU: num_classes must be >= 1, got {num_classes}")
        self.modality, self.num_classes = modality, num_classes
        self.encoder = FrameEncoder2D(backbone, in_chans=channels_of(modality), pretrained=checkpoint_path is not None,
                                      checkpoint_path=checkpoint_path, temporal_shift=temporal_shift)
        self.proj = nn.Linear(self.encoder.out_dim, dim)
        self.gru = nn.GRU(dim, dim, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        if self.modality not in batch:
            raise MissingModalityError(self.modality, f"FrameGRU needs batch[{self.modality!r}] "
                                                      f"(N, {channels_of(self.modality)}, T, H, W)")
        feats = self.proj(self.encoder(batch[self.modality]))
        _, h = self.gru(feats)  # h (1, N, d)
        return {"logits": self.head(self.dropout(h[-1]))}


@register_model(tags=("model", "rgb", "depth", "ir"))
def frame_gru(modality: str = "rgb", num_classes: int = 60, **kwargs: Any) -> nn.Module:
    """One M-Mixer-sized stream: frame-wise ResNet-18 + GRU(512) on ``batch[modality]``."""
    return FrameGRU(modality=modality, num_classes=num_classes, **kwargs)


@register_model(tags=("model", "rgb", "depth", "ir", "test"))
def frame_gru_tiny(modality: str = "rgb", num_classes: int = 10, **kwargs: Any) -> nn.Module:
    """One ``mmixer_tiny``-sized stream: timm ``test_resnet`` frames + GRU(64)."""
    kwargs.setdefault("backbone", "test_resnet")
    kwargs.setdefault("dim", 64)
    return FrameGRU(modality=modality, num_classes=num_classes, **kwargs)


@register_model(tags=("model",))
def modality_classifier(encoder: str = "frame_tiny", key: str = "rgb", num_classes: int = 60,
                        encoder_kwargs: Mapping[str, Any] | None = None, dropout: float = 0.0) -> nn.Module:
    """Any registered encoder (by name, built with ``encoder_kwargs``) + mean over T + linear head on ``batch[key]``."""
    return ModalityClassifier(create_model(encoder, **dict(encoder_kwargs or {})), key, num_classes, dropout=dropout)
