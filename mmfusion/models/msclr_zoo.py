"""Registered classifiers on MS-CLR's layout-agnostic ST-GCN (:class:`~mmfusion.encoders.flex_stgcn.FlexSTGCN`).

``msclr_stgcn``: AimCLR's quarter-width ST-GCN (ten blocks 16 ... 256, dropout 0.5) with one graph,
edge-importance set and data BN per joint layout (default ``("ntu25", "smpl24", "smplx42", "mhad43")``,
MS-CLR's four conventions); ``msclr_stgcn_tiny``: three blocks (8, 16/s2, 32) for tests. Both read
``batch["skeleton"]`` (N, C, T, V, M) in the **first** layout (``encoder(x, layout)`` reads the
others) and return ``{"logits": (N, K), "features": (N, D)}`` (``num_classes=0``: pooled features),
the head being AimCLR's linear-evaluation ``Linear`` (PyTorch default init). With a head
(``num_classes > 0``) the other layouts' parameters stay in the state dict but are frozen
(``requires_grad=False``): the classifier's loss never reaches them. The fused per-layout
heads of MS-CLR's ensemble evaluation are :class:`~mmfusion.encoders.flex_stgcn.MultiLayoutHead`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..data.layouts import get_layout
from ..encoders.aimclr_stgcn import AIMCLR_STGCN_TINY_BLOCKS
from ..encoders.flex_stgcn import FlexSTGCN
from ..model_cfg import InputSpec, ModelCfg
from ..registry import register_model
from .heads import ModalityClassifier

__all__: list[str] = []

_MSCLR_LAYOUTS = ("ntu25", "smpl24", "smplx42", "mhad43")


def _cfg(t: int, width: int, source: str) -> ModelCfg:
    return ModelCfg(inputs={"skeleton": InputSpec((3, t, 25, 2), "C T V M", values="skeleton_m")}, num_classes=60,
                    clip_len=t, source=source, output=f'"logits" (N, K), "features" (N, {width})')


def _build(num_classes: int, layouts: Sequence[str], **kwargs: Any) -> ModalityClassifier:
    get_layout(layouts[0])  # named error for an unknown first layout
    model = ModalityClassifier(FlexSTGCN(layouts=tuple(layouts), **kwargs), "skeleton", num_classes)
    if num_classes == 0:
        return model  # the feature extractor of MS-CLR pre-training reads every layout
    # the classifier reads the first layout only: the other layouts' graphs / data BN stay in the
    # state dict (a pre-trained MS-CLR encoder loads strictly) but are frozen, since nothing in its
    # loss reaches them and DDP would wait for their gradients
    for name, param in model.named_parameters():
        if any(f".{layout}" in name for layout in layouts[1:]):
            param.requires_grad_(False)
    return model


@register_model(tags=("model", "skeleton"), cfg=_cfg(
    50, 256, "ours after MS-CLR (3Dwe-ai/ms-clr configs: FlexModel, hidden_channels 16, hidden_dim 256; the "
             "encoder file is not released): AimCLR's ST-GCN with a graph / edge importance / data BN per layout"))
def msclr_stgcn(num_classes: int = 60, layouts: Sequence[str] = _MSCLR_LAYOUTS, **kwargs: Any) -> ModalityClassifier:
    """Layout-agnostic quarter-width ST-GCN + linear head; input in the first layout."""
    return _build(num_classes, layouts, **kwargs)


@register_model(tags=("model", "skeleton", "test"), cfg=_cfg(32, 32, "ours: three FlexSTGCN blocks (8, 16/s2, 32)"))
def msclr_stgcn_tiny(num_classes: int = 60, layouts: Sequence[str] = ("ntu25", "smpl24"),
                     **kwargs: Any) -> ModalityClassifier:
    """Three-block version (8, 16/s2, 32), no dropout, for tests."""
    kwargs.setdefault("blocks", AIMCLR_STGCN_TINY_BLOCKS)
    kwargs.setdefault("dropout", 0.0)
    return _build(num_classes, layouts, **kwargs)
