"""EPAM-Net: efficient pose-driven attention-guided multimodal network (Abdelkawy et al., 2025).

Two X-ShiftNet streams (RGB clip, COCO-17 heatmap volume), a pose-guided spatial-temporal
attention on the last RGB feature map, one classifier per stream; the prediction is the
sum of the two streams' raw logits and training minimises CE(rgb) + CE(pose).

Shapes (full model, official sizes)::

    batch["rgb"]     (N, 3, 16, 224, 224) -> X-ShiftNet-RGB  -> (N, 432, 16, 7, 7) ─┐
    batch["heatmap"] (N, 17, 48, 56, 56)  -> X-ShiftNet-pose -> (N, 216, 48, 7, 7) ─┴─> attention
        -> RGB' (N, 432, 16, 7, 7) -> head -> logits_rgb (N, K)
        pose features            -> head -> logits_pose (N, K);  logits = logits_rgb + logits_pose

The RGB frames must be every ``s``-th heatmap frame (``s = T_pose / T_rgb``) and both inputs
cropped to the same person box so that the 7x7 maps line up (224 / 32 = 56 / 8).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..encoders.xshiftnet import POSE_CFG, POSE_TINY_CFG, RGB_CFG, RGB_TINY_CFG, ClipHead, XShiftNet
from ..errors import ConfigError, MissingModalityError
from ..fusion.pose_guided_attention import PoseGuidedAttention
from ..model_cfg import InputSpec, ModelCfg, frames_input
from ..registry import check_state_fits, read_safetensors, register_model

__all__ = ["EPAMNet"]


class EPAMNet(nn.Module):
    """RGB + pose-heatmap action recogniser with pose-guided attention.

    ``forward(batch)`` reads ``batch["rgb"]`` (N, 3, Tr, H, W) and ``batch["heatmap"]``
    (N, 17, Tp, h, w) and returns::

        {"logits": (N, K) = logits_rgb + logits_pose, "logits_rgb": (N, K), "logits_pose": (N, K),
         "features": (N, Cr + Cp), "attention": (N, 1, Tr, H/32, W/32)}

    Classifier contract: ``forward_features(batch)`` -> ``{"rgb": guided RGB maps (N, Cr, Tr, H/32, W/32),
    "pose": pose maps (N, Cp, Tp, h/8, w/8), "attention": A}``; ``forward_head(feats, pre_logits=False)``
    -> logits_rgb + logits_pose (``pre_logits``: the pooled streams concatenated, (N, Cr + Cp)).
    With ``num_classes=0`` both heads are Identity: ``"logits"`` holds the concatenated pooled
    features (N, Cr + Cp) (the streams' own pooled features in ``"logits_rgb"`` / ``"logits_pose"``).

    Args:
        num_classes: K (0: pooled features).
        rgb_cfg / pose_cfg: :class:`XShiftNet` keyword arguments of each stream, merged over the
            official configurations (``xshiftnet.RGB_CFG`` / ``POSE_CFG``).
        dropout: dropout before each classifier.
    """

    def __init__(self, num_classes: int = 60, rgb_cfg: dict[str, Any] | None = None,
                 pose_cfg: dict[str, Any] | None = None, dropout: float = 0.5) -> None:
        super().__init__()
        if num_classes < 0:
            raise ConfigError(f"EPAMNet: num_classes must be >= 0 (0: pooled features), got {num_classes}")
        self.rgb_backbone = XShiftNet(**{**RGB_CFG, **(rgb_cfg or {})})
        self.pose_backbone = XShiftNet(**{**POSE_CFG, **(pose_cfg or {})})
        self.attention = PoseGuidedAttention()
        self.rgb_head = ClipHead(self.rgb_backbone.out_dim, num_classes, dropout)
        self.pose_head = ClipHead(self.pose_backbone.out_dim, num_classes, dropout)
        self.num_classes = num_classes
        self.num_features = self.rgb_backbone.out_dim + self.pose_backbone.out_dim

    def reset_classifier(self, num_classes: int) -> None:
        """Fresh final layers of both streams with ``num_classes`` outputs (0: Identity)."""
        if num_classes < 0:
            raise ConfigError(f"reset_classifier: num_classes must be >= 0, got {num_classes}")
        self.rgb_head.reset(num_classes)
        self.pose_head.reset(num_classes)
        self.num_classes = num_classes

    def forward_features(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """``{"rgb": guided RGB maps, "pose": pose maps, "attention": A}`` (unpooled)."""
        for key in ("rgb", "heatmap"):
            if key not in batch:
                raise MissingModalityError(key, "EPAM-Net needs batch['rgb'] (N, 3, T, H, W) and "
                                                "batch['heatmap'] (N, 17, Tp, h, w)")
        rgb_feats = self.rgb_backbone(batch["rgb"])
        pose_feats = self.pose_backbone(batch["heatmap"])
        guided, att = self.attention(rgb_feats, pose_feats, return_attention=True)
        return {"rgb": guided, "pose": pose_feats, "attention": att}

    def forward_head(self, feats: dict[str, Tensor], pre_logits: bool = False) -> Tensor:
        """Stream maps -> logits_rgb + logits_pose (N, K) (``pre_logits``: pooled streams concatenated)."""
        if pre_logits:
            return torch.cat([ClipHead.pool(feats["rgb"]), ClipHead.pool(feats["pose"])], dim=1)
        if self.num_classes == 0:
            return self.forward_head(feats, pre_logits=True)
        return self.rgb_head(feats["rgb"]) + self.pose_head(feats["pose"])

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        feats = self.forward_features(batch)
        logits_rgb = self.rgb_head(feats["rgb"])
        logits_pose = self.pose_head(feats["pose"])
        pooled = torch.cat([ClipHead.pool(feats["rgb"]), ClipHead.pool(feats["pose"])], dim=1)
        logits = pooled if self.num_classes == 0 else logits_rgb + logits_pose
        return {"logits": logits, "logits_rgb": logits_rgb, "logits_pose": logits_pose, "features": pooled,
                "attention": feats["attention"]}

    @staticmethod
    def loss(outputs: dict[str, Tensor], target: Tensor) -> Tensor:
        """CE(logits_rgb) + CE(logits_pose); ``target`` is (N,) class ids or (N, K) soft targets."""
        return F.cross_entropy(outputs["logits_rgb"].float(), target) + \
            F.cross_entropy(outputs["logits_pose"].float(), target)

    def load_stream(self, stream: str, path: str | Path) -> None:
        """Initialise one stream from a unimodal checkpoint (the official two-stage recipe).

        ``path`` is a safetensors file of the registered ``xshiftnet_rgb`` / ``xshiftnet_pose``
        classifier (keys ``backbone.*``, ``head.*``); both parts must fit exactly.
        """
        if stream not in ("rgb", "pose"):
            raise ConfigError(f"EPAMNet.load_stream: stream must be 'rgb' or 'pose', got {stream!r}")
        state = read_safetensors(path)
        parts = (("backbone", getattr(self, f"{stream}_backbone")), ("head", getattr(self, f"{stream}_head")))
        for part, module in parts:
            sub = {k[len(part) + 1:]: v for k, v in state.items() if k.startswith(part + ".")}
            check_state_fits(module, sub, path, f"the {stream} stream's {part}")
            module.load_state_dict(sub)


@register_model(tags=("model", "rgb", "pose"), cfg=ModelCfg(
    inputs={"rgb": frames_input("rgb", 16, 224), "heatmap": InputSpec((17, 48, 56, 56), "C T H W", values="unit")},
    num_classes=60, clip_len=16, paper_params=2.54e6, paper_macs=7.6e9,
    source="EPAM-Net paper Table 3 / official code: 2.54 M (K = 60); MACs: sum of the two streams",
    output='"logits", "logits_rgb", "logits_pose" (N, K), "features" (N, 648), "attention"'))
def epam_net(num_classes: int = 60, **kwargs: Any) -> nn.Module:
    """EPAM-Net at the official sizes: rgb (N, 3, 16, 224, 224) + heatmap (N, 17, 48, 56, 56); 2.54 M params (K=60)."""
    return EPAMNet(num_classes=num_classes, **kwargs)


@register_model(tags=("model", "rgb", "pose", "test"), cfg=ModelCfg(
    inputs={"rgb": frames_input("rgb", 8, 64), "heatmap": InputSpec((17, 24, 16, 16), "C T H W", values="unit")},
    num_classes=10, clip_len=8, source="ours: CPU-sized streams, 2x2 maps, stride 3 in time",
    output='"logits", "logits_rgb", "logits_pose" (N, K), "features" (N, 126), "attention"'))
def epam_net_tiny(num_classes: int = 10, **kwargs: Any) -> nn.Module:
    """CPU-sized EPAM-Net: rgb (N, 3, 8, 64, 64) + heatmap (N, 17, 24, 16, 16) -> 2x2 maps, stride 3 in time.

    Any sizes with ``H_rgb / 32 == h_heatmap / 8`` and ``T_heatmap`` a multiple of ``T_rgb`` work.
    """
    rgb_cfg = {**RGB_TINY_CFG, **(kwargs.pop("rgb_cfg", None) or {})}
    pose_cfg = {**POSE_TINY_CFG, **(kwargs.pop("pose_cfg", None) or {})}
    return EPAMNet(num_classes=num_classes, rgb_cfg=rgb_cfg, pose_cfg=pose_cfg, **kwargs)
