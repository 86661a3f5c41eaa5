"""EPAM-Net (``ahmed-nady/Multimodal-Action-Recognition`` ``actionModels/rgb_pose_action_recognition_model.py``
``RGBPoseAttentionActionRecognizer``, attention ``CBAM_spatial_efficient_temporal``) -> ``epam_net``.

Official names (mmcv ``ConvModule`` = ``conv`` + ``bn``): ``rgb_backbone`` (``X3DTemporalShift``) and
``pose_backbone`` (``X3DTemporalShiftPose``) with ``conv1_s``, ``layer<k>.<j>`` blocks (``conv1``,
``conv2``, ``conv3``, ``se_module.fc1`` / ``fc2``, ``downsample``) and ``conv5``; the heads
``rgb_cls_head.fc_cls`` (K, 432) / ``pose_cls_head.fc_cls`` (K, 216) (I3DHead); the attention
``attention_module.spatial`` (conv + bn) and ``conv_temporal_attention``. The released
multimodal checkpoints are listed in ``pretrained_EPAM_models/README.md``; trainer scripts may nest
them under ``state_dict`` / ``model``.
"""

from __future__ import annotations

from . import register_converter
from .base import Converter

EPAM = register_converter(Converter(
    source="epam", models=("epam_net",),
    official="ahmed-nady/Multimodal-Action-Recognition RGBPoseAttentionActionRecognizer",
    rules=((r"_backbone\.conv1_s\.conv\.", "_backbone.stem.0."),
           (r"_backbone\.conv1_s\.bn\.", "_backbone.stem.1."),
           (r"_backbone\.layer(\d+)\.", lambda m: f"_backbone.stages.{int(m.group(1)) - 1}."),
           (r"\.(conv\d|downsample)\.conv\.", r".\1.0."),
           (r"\.(conv\d|downsample)\.bn\.", r".\1.1."),
           (r"\.se_module\.", ".se."),
           (r"^(rgb|pose)_cls_head\.fc_cls\.", r"\1_head.fc."),
           (r"^attention_module\.spatial\.conv\.", "attention.spatial_conv."),
           (r"^attention_module\.spatial\.bn\.", "attention.spatial_bn."),
           (r"^attention_module\.conv_temporal_attention\.", "attention.temporal_conv.")),
    head="rgb_head.fc.weight"))
