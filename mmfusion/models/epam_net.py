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

import torch.nn.functional as F
from torch import Tensor, nn

from ..encoders.xshiftnet import POSE_CFG, POSE_TINY_CFG, RGB_CFG, RGB_TINY_CFG, ClipHead, XShiftNet
from ..errors import ConfigError, MissingModalityError
from ..fusion.pose_guided_attention import PoseGuidedAttention
from ..registry import check_state_fits, read_safetensors, register_model

__all__ = ["EPAMNet"]


class EPAMNet(nn.Module):
    """RGB + pose-heatmap action recogniser with pose-guided attention.

    ``forward(batch)`` reads ``batch["rgb"]`` (N, 3, Tr, H, W) and ``batch["heatmap"]``
    (N, 17, Tp, h, w) and returns::

        {"logits": (N, K) = logits_rgb + logits_pose, "logits_rgb": (N, K), "logits_pose": (N, K),
         "attention": (N, 1, Tr, H/32, W/32)}

    Args:
        num_classes: K.
        rgb_cfg / pose_cfg: :class:`XShiftNet` keyword arguments of each stream, merged over the
            official configurations (``xshiftnet.RGB_CFG`` / ``POSE_CFG``).
        dropout: dropout before each classifier.
    """

    def __init__(self, num_classes: int = 60, rgb_cfg: dict[str, Any] | None = None,
                 pose_cfg: dict[str, Any] | None = None, dropout: float = 0.5) -> None:
        super().__init__()
        if num_classes < 1:
            raise ConfigError(f"EPAMNet: num_classes must be >= 1, got {num_classes}")
        self.rgb_backbone = XShiftNet(**{**RGB_CFG, **(rgb_cfg or {})})
        self.pose_backbone = XShiftNet(**{**POSE_CFG, **(pose_cfg or {})})
        self.attention = PoseGuidedAttention()
        self.rgb_head = ClipHead(self.rgb_backbone.out_dim, num_classes, dropout)
        self.pose_head = ClipHead(self.pose_backbone.out_dim, num_classes, dropout)
        self.num_classes = num_classes

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        for key in ("rgb", "heatmap"):
            if key not in batch:
                raise MissingModalityError(key, "EPAM-Net needs batch['rgb'] (N, 3, T, H, W) and "
                                                "batch['heatmap'] (N, 17, Tp, h, w)")
        rgb_feats = self.rgb_backbone(batch["rgb"])
        pose_feats = self.pose_backbone(batch["heatmap"])
        guided, att = self.attention(rgb_feats, pose_feats, return_attention=True)
        logits_rgb = self.rgb_head(guided)
        logits_pose = self.pose_head(pose_feats)
        return {"logits": logits_rgb + logits_pose, "logits_rgb": logits_rgb, "logits_pose": logits_pose,
                "attention": att}

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


@register_model(tags=("model", "rgb", "pose"))
def epam_net(num_classes: int = 60, **kwargs: Any) -> nn.Module:
    """EPAM-Net at the official sizes: rgb (N, 3, 16, 224, 224) + heatmap (N, 17, 48, 56, 56); 2.54 M params (K=60)."""
    return EPAMNet(num_classes=num_classes, **kwargs)


@register_model(tags=("model", "rgb", "pose", "test"))
def epam_net_tiny(num_classes: int = 10, **kwargs: Any) -> nn.Module:
    """CPU-sized EPAM-Net: rgb (N, 3, 8, 64, 64) + heatmap (N, 17, 24, 16, 16) -> 2x2 maps, stride 3 in time.

    Any sizes with ``H_rgb / 32 == h_heatmap / 8`` and ``T_heatmap`` a multiple of ``T_rgb`` work.
    """
    rgb_cfg = {**RGB_TINY_CFG, **(kwargs.pop("rgb_cfg", None) or {})}
    pose_cfg = {**POSE_TINY_CFG, **(kwargs.pop("pose_cfg", None) or {})}
    return EPAMNet(num_classes=num_classes, rgb_cfg=rgb_cfg, pose_cfg=pose_cfg, **kwargs)
