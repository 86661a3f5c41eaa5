"""X-ShiftNet: an X3D backbone whose temporal kernels are all replaced by temporal shifts.

The two streams of EPAM-Net (Abdelkawy et al., Neurocomputing 2025). Every convolution is
spatial-only ((1, k, k) or 1x1x1); the only temporal modelling is a :func:`temporal_shift`
at the input of each residual branch, so the time axis is never strided.

Block (bottleneck ``P``, output ``Cout``)::

    x -> TSM -> Conv1x1x1(Cin->P)+BN+ReLU -> DWConv(1,3,3, stride (1,s,s))+BN
      -> [SE(P) on even-indexed blocks] -> Swish -> Conv1x1x1(P->Cout)+BN (gamma 0 at init)
      -> + identity (1x1x1 stride-s conv+BN where shape changes) -> ReLU

Configurations (official EPAM-Net code; numbers measured by ``tests/test_xshiftnet_*``):

=================  ==============  =======  ==============  =========  ==========  ==========
name               input           stages   widths          conv5 out  params      MACs
=================  ==============  =======  ==============  =========  ==========  ==========
``xshiftnet_rgb``  (3, 16, 224²)   3/5/11/7 24/48/96/192    432        1,980,030   4.262 G
``xshiftnet_pose`` (17, 48, 56²)   5/11/7   24/48/96        216        519,580     3.356 G
=================  ==============  =======  ==============  =========  ==========  ==========

(MACs count convolutions and linear layers only, as the paper-style counters do.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError, MissingModalityError
from ..model_cfg import InputSpec, ModelCfg, frames_input
from ..registry import register_model
from .temporal_shift import TemporalShift

__all__ = ["XShiftBlock", "XShiftNet", "XShiftNetClassifier", "ClipHead", "SqueezeExcite", "SpatialDepthwiseConv3d",
           "StridedPointwiseConv3d", "round_width"]


def round_width(width: float, multiplier: float, min_width: int = 8, divisor: int = 8) -> int:
    """X3D channel rounding: ``width * multiplier`` to a multiple of ``divisor`` (>= ``min_width``),
    bumped up one step when rounding down lost more than 10 %."""
    w = width * multiplier
    out = max(min_width, int(w + divisor / 2) // divisor * divisor)
    if out < 0.9 * w:
        out += divisor
    return int(out)


class SqueezeExcite(nn.Module):
    """Channel gating: (N, C, T, H, W) -> (N, C, T, H, W), gate from the clip-wide mean.

    The bottleneck width is ``round_width(C, reduction)`` (X3D rule: multiple of 8, at
    least 8), and both 1x1x1 convolutions carry a bias, as in X3D.
    """

    def __init__(self, channels: int, reduction: float = 1 / 16) -> None:
        super().__init__()
        self.bottleneck = round_width(channels, reduction)
        self.fc1 = nn.Conv3d(channels, self.bottleneck, kernel_size=1, bias=True)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv3d(self.bottleneck, channels, kernel_size=1, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        s = x.mean(dim=(2, 3, 4), keepdim=True)
        return x * self.fc2(self.act(self.fc1(s))).sigmoid()


class SpatialDepthwiseConv3d(nn.Conv3d):
    """Depthwise ``(1, k, k)`` Conv3d computed as a 2-D depthwise conv: (N, C, T, H, W) -> (N, C, T, H', W').

    Same module, parameters and state-dict keys as ``nn.Conv3d``; only the kernel that runs
    differs. Time is folded into the channels, ``(N, C, T, H, W) -> (N, C*T, H, W)`` (a free
    view), and the weight is repeated T times, so the oneDNN 2-D depthwise kernel runs instead
    of the 3-D one: 4-7x faster forward + backward on CPU (``docs/performance.md``). Any other
    configuration (temporal kernel/stride/padding, non-depthwise groups) falls back to ``nn.Conv3d``,
    and so does tracing/ONNX export (the graph keeps one plain Conv3d with a static kernel shape).
    """

    def _foldable(self) -> bool:
        return (self.groups == self.in_channels == self.out_channels and self.kernel_size[0] == 1
                and self.stride[0] == 1 and self.dilation[0] == 1 and self.padding_mode == "zeros"
                and isinstance(self.padding, tuple) and self.padding[0] == 0)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 5 or not self._foldable() or torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
            return super().forward(x)
        c, t = self.in_channels, x.shape[2]
        # channel c*T + t of the folded input is frame t of channel c: weight c repeated T times
        w = self.weight.expand(-1, t, -1, -1, -1).reshape(c * t, 1, *self.kernel_size[1:])
        b = None if self.bias is None else self.bias[:, None].expand(-1, t).reshape(c * t)
        y = F.conv2d(x.flatten(1, 2), w, b, self.stride[1:], self.padding[1:], self.dilation[1:], c * t)
        return y.unflatten(1, (c, t))


class StridedPointwiseConv3d(nn.Conv3d):
    """1x1x1 Conv3d with a stride, computed as the unstrided conv of the subsampled input.

    Same module, parameters and state-dict keys as ``nn.Conv3d``; a strided 1x1x1 conv reads
    only the positions ``x[:, :, ::st, ::sh, ::sw]``, so slicing first gives the same values and
    lets oneDNN run its plain pointwise kernel: 1.4-2x faster forward + backward on CPU than its
    strided one (``docs/performance.md``). Tracing / ONNX export keep the plain strided Conv3d.
    """

    def forward(self, x: Tensor) -> Tensor:
        if (x.ndim != 5 or self.kernel_size != (1, 1, 1) or self.padding not in ((0, 0, 0), "valid")
                or self.stride == (1, 1, 1) or torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()):
            return super().forward(x)
        st, sh, sw = self.stride
        return F.conv3d(x[:, :, ::st, ::sh, ::sw], self.weight, self.bias, 1, 0, self.dilation, self.groups)


def _conv_bn(cin: int, cout: int, kernel: tuple[int, int, int] = (1, 1, 1), stride: tuple[int, int, int] = (1, 1, 1),
             groups: int = 1, relu: bool = False) -> nn.Sequential:
    """Conv3d (no bias; BN follows) + BatchNorm3d (+ ReLU). Padding keeps the spatial size / stride."""
    pad = tuple(k // 2 for k in kernel)
    conv: type[nn.Conv3d] = nn.Conv3d
    if groups == cin == cout and kernel[0] == 1 and stride[0] == 1:
        conv = SpatialDepthwiseConv3d
    elif kernel == (1, 1, 1) and stride != (1, 1, 1):
        conv = StridedPointwiseConv3d
    layers: list[nn.Module] = [
        conv(cin, cout, kernel, stride=stride, padding=pad, groups=groups, bias=False),
        nn.BatchNorm3d(cout),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class XShiftBlock(nn.Module):
    """One X-ShiftNet bottleneck: (N, Cin, T, H, W) -> (N, Cout, T, ceil(H/s), ceil(W/s)).

    Args:
        in_channels: Cin.
        planes: bottleneck width P (depthwise 1x3x3 convolution runs at this width).
        out_channels: Cout.
        spatial_stride: s, applied by the depthwise conv and the shortcut projection.
        use_se: insert squeeze-excitation after the depthwise conv.
        se_reduction: SE bottleneck ratio.
        fold_div: temporal shift of 1/fold_div of the channels each way.
    """

    def __init__(self, in_channels: int, planes: int, out_channels: int, spatial_stride: int = 1,
                 use_se: bool = False, se_reduction: float = 1 / 16, fold_div: int = 8) -> None:
        super().__init__()
        self.shift = TemporalShift(fold_div)
        self.conv1 = _conv_bn(in_channels, planes, relu=True)
        self.conv2 = _conv_bn(planes, planes, (1, 3, 3), (1, spatial_stride, spatial_stride), groups=planes)
        self.se = SqueezeExcite(planes, se_reduction) if use_se else nn.Identity()
        self.swish = nn.SiLU(inplace=True)
        self.conv3 = _conv_bn(planes, out_channels)
        self.downsample: nn.Module | None = None
        if spatial_stride != 1 or in_channels != out_channels:
            self.downsample = _conv_bn(in_channels, out_channels, stride=(1, spatial_stride, spatial_stride))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        # the shift feeds the residual branch only; the identity path sees unshifted frames
        out = self.conv1(self.shift(x))
        out = self.swish(self.se(self.conv2(out)))
        out = self.conv3(out)
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class XShiftNet(nn.Module):
    """X-ShiftNet encoder: (N, in_chans, T, H, W) -> (N, out_dim, T, H / S, W / S).

    ``S = stem_stride * prod(spatial_strides)`` (32 for the RGB stream, 8 for the pose
    stream); the time axis is never strided.

    Args:
        in_chans: input channels (3 for RGB, 17 for COCO-17 heatmaps).
        widths: output channels of each stage (X3D: ``base * 2**i``).
        stage_blocks: blocks per stage.
        bottleneck_ratio: P = int(width * ratio) (X3D ``gamma_b``); also the conv5 expansion.
        spatial_strides: stride of the first block of each stage.
        stem_stride: spatial stride of the 1x3x3 stem convolution.
        fold_div: temporal shift fraction (RGB 8, pose 4: "double shifted channels").
        se_style: ``"half"`` (SE in even-indexed blocks of each stage), ``"all"`` or ``"none"``.
        se_reduction: SE bottleneck ratio.
        zero_init_residual: zero the last BN gamma of each block (the block starts as identity).
    """

    def __init__(self, in_chans: int = 3, widths: Sequence[int] = (24, 48, 96, 192),
                 stage_blocks: Sequence[int] = (3, 5, 11, 7), bottleneck_ratio: float = 2.25,
                 spatial_strides: Sequence[int] | None = None, stem_stride: int = 2, fold_div: int = 8,
                 se_style: str = "half", se_reduction: float = 1 / 16, zero_init_residual: bool = True) -> None:
        super().__init__()
        widths, stage_blocks = tuple(widths), tuple(stage_blocks)
        spatial_strides = tuple(spatial_strides) if spatial_strides is not None else (2,) * len(widths)
        if not (len(widths) == len(stage_blocks) == len(spatial_strides)) or not widths:
            raise ConfigError(f"XShiftNet: widths {widths}, stage_blocks {stage_blocks} and spatial_strides "
                              f"{spatial_strides} must be non-empty and of equal length")
        if se_style not in ("half", "all", "none"):
            raise ConfigError(f"XShiftNet: se_style must be 'half', 'all' or 'none', got {se_style!r}")
        if min(stage_blocks) < 1 or min(widths) < 1:
            raise ConfigError(f"XShiftNet: every stage needs >= 1 block and >= 1 channel, got {stage_blocks}, {widths}")
        self.in_chans = in_chans
        self.widths = widths
        self.stage_blocks = stage_blocks
        self.fold_div = fold_div
        self.stride = stem_stride
        for s in spatial_strides:
            self.stride *= s

        self.stem = _conv_bn(in_chans, widths[0], (1, 3, 3), (1, stem_stride, stem_stride), relu=True)
        stages: list[nn.Module] = []
        cin = widths[0]
        for width, n, s in zip(widths, stage_blocks, spatial_strides):
            planes = int(width * bottleneck_ratio)
            blocks = []
            for i in range(n):
                use_se = se_style == "all" or (se_style == "half" and i % 2 == 0)
                blocks.append(XShiftBlock(cin, planes, width, s if i == 0 else 1, use_se, se_reduction, fold_div))
                cin = width
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.out_dim = int(widths[-1] * bottleneck_ratio)
        self.conv5 = _conv_bn(widths[-1], self.out_dim, relu=True)
        self.reset_parameters(zero_init_residual)

    def reset_parameters(self, zero_init_residual: bool = True) -> None:
        """Kaiming-normal (fan_out, ReLU) convolutions, unit BN, zero biases (mmcv/X3D recipe)."""
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, XShiftBlock):
                    nn.init.zeros_(m.conv3[1].weight)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 5 or x.shape[1] != self.in_chans:
            raise ConfigError(f"XShiftNet expects (N, {self.in_chans}, T, H, W), got shape {tuple(x.shape)}")
        return self.conv5(self.stages(self.stem(x)))


class ClipHead(nn.Module):
    """I3D-style head: (N, C, T, H, W) -> (N, num_classes) via global average pool, dropout, linear.

    The linear layer starts from N(0, init_std) weights and zero bias (mmaction I3DHead);
    ``num_classes=0`` makes it ``Identity`` (the head returns the pooled (N, C) features).
    """

    def __init__(self, in_dim: int, num_classes: int, dropout: float = 0.5, init_std: float = 0.01) -> None:
        super().__init__()
        if num_classes < 0:
            raise ConfigError(f"ClipHead: num_classes must be >= 0 (0: pooled features), got {num_classes}")
        self.in_dim, self.init_std = in_dim, init_std
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = self._new_fc(num_classes)

    def _new_fc(self, num_classes: int) -> nn.Module:
        if num_classes == 0:
            return nn.Identity()
        fc = nn.Linear(self.in_dim, num_classes)
        nn.init.normal_(fc.weight, std=self.init_std)
        nn.init.zeros_(fc.bias)
        return fc

    def reset(self, num_classes: int) -> None:
        """A fresh final layer with ``num_classes`` outputs (0: Identity), on the old layer's device."""
        device = self.fc.weight.device if isinstance(self.fc, nn.Linear) else None
        self.fc = self._new_fc(num_classes).to(device) if device is not None else self._new_fc(num_classes)

    @staticmethod
    def pool(x: Tensor) -> Tensor:
        # mean over (T, H, W) == AdaptiveAvgPool3d(1), and exports to ONNX as a plain ReduceMean
        return x.mean(dim=(2, 3, 4)) if x.ndim == 5 else x

    def forward(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """(N, C, T, H, W) or pooled (N, C) -> logits (N, K) (``pre_logits``: the pooled (N, C))."""
        x = self.pool(x)
        return x if pre_logits else self.fc(self.dropout(x))


class XShiftNetClassifier(nn.Module):
    """Single-stream X-ShiftNet action model (unimodal pre-training of an EPAM-Net stream).

    ``forward(batch)`` reads ``batch[modality]`` (N, C, T, H, W) and returns
    ``{"logits": (N, num_classes), "features": (N, out_dim)}``; a bare Tensor input returns the
    logits tensor. ``num_classes=0``: the head is Identity and ``"logits"`` holds the pooled
    (N, out_dim) features. ``forward_features(x)``: the unpooled conv5 maps
    (N, out_dim, T, H/stride, W/stride); ``forward_head(maps, pre_logits=False)``.
    """

    def __init__(self, backbone: XShiftNet, num_classes: int, modality: str, dropout: float = 0.5) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = ClipHead(backbone.out_dim, num_classes, dropout)
        self.modality = modality
        self.num_classes = num_classes
        self.out_dim = self.num_features = backbone.out_dim

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh final layer with ``num_classes`` outputs (0: Identity)."""
        if num_classes < 0:
            raise ConfigError(f"reset_classifier: num_classes must be >= 0, got {num_classes}")
        self.head.reset(num_classes)
        self.num_classes = num_classes

    def forward_features(self, batch: dict[str, Tensor] | Tensor) -> Tensor:
        """Unpooled conv5 maps (N, out_dim, T, H/stride, W/stride)."""
        if isinstance(batch, Tensor):
            return self.backbone(batch)
        if self.modality not in batch:
            raise MissingModalityError(self.modality, f"{type(self).__name__} reads batch[{self.modality!r}]")
        return self.backbone(batch[self.modality])

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Maps (or pooled (N, out_dim)) -> logits (N, K); ``pre_logits``: the pooled features."""
        return self.head(x, pre_logits=pre_logits)

    def forward(self, batch: dict[str, Tensor] | Tensor) -> dict[str, Tensor] | Tensor:
        pooled = ClipHead.pool(self.forward_features(batch))
        logits = self.head(pooled)
        if isinstance(batch, Tensor):
            return logits
        return {"logits": logits, "features": pooled}


# ---------------------------------------------------------------------------------------------
# registered configurations

RGB_CFG: dict[str, Any] = dict(in_chans=3, widths=(24, 48, 96, 192), stage_blocks=(3, 5, 11, 7),
                               spatial_strides=(2, 2, 2, 2), stem_stride=2, fold_div=8)
POSE_CFG: dict[str, Any] = dict(in_chans=17, widths=(24, 48, 96), stage_blocks=(5, 11, 7),
                                spatial_strides=(2, 2, 2), stem_stride=1, fold_div=4)
#: CPU-sized variants, same strides as the full ones (RGB /32, pose /8)
RGB_TINY_CFG: dict[str, Any] = dict(RGB_CFG, widths=(8, 16, 24, 32), stage_blocks=(1, 2, 2, 1))
POSE_TINY_CFG: dict[str, Any] = dict(POSE_CFG, widths=(8, 16, 24), stage_blocks=(1, 2, 1))

_RGB_IN = {"rgb": frames_input("rgb", 16, 224)}
_POSE_IN = {"heatmap": InputSpec((17, 48, 56, 56), "C T H W", values="unit")}
_RGB_TINY_IN = {"rgb": frames_input("rgb", 8, 64)}
_POSE_TINY_IN = {"heatmap": InputSpec((17, 24, 16, 16), "C T H W", values="unit")}
_SRC = "EPAM-Net paper Table 3 / official code (X3D-M widths, TSM instead of temporal kernels)"


def _build(cfg: dict[str, Any], modality: str, num_classes: int = 0, dropout: float = 0.5,
           **kwargs: Any) -> XShiftNetClassifier:
    return XShiftNetClassifier(XShiftNet(**{**cfg, **kwargs}), num_classes, modality, dropout)


@register_model(tags=("model", "rgb"), cfg=ModelCfg(
    inputs=_RGB_IN, num_classes=0, clip_len=16, paper_params=1.98e6, paper_macs=4.26e9, source=_SRC + "; backbone only",
    output='"logits" (N, K) or pooled (N, 432) for K = 0, "features" (N, 432)'))
def xshiftnet_rgb(num_classes: int = 0, **kwargs: Any) -> XShiftNetClassifier:
    """RGB X-ShiftNet (X3D-M sizing) on ``batch["rgb"]`` (N, 3, T, H, W): maps (N, 432, T, H/32, W/32)
    -> mean -> [dropout 0.5 -> Linear(K)]. The default ``num_classes=0`` is the bare backbone (pooled)."""
    return _build(RGB_CFG, "rgb", num_classes, **kwargs)


@register_model(tags=("model", "pose"), cfg=ModelCfg(
    inputs=_POSE_IN, num_classes=0, clip_len=48, paper_params=0.52e6, paper_macs=3.36e9,
    source=_SRC + "; pose stream on PoseC3D-style 17-joint heatmaps; backbone only",
    output='"logits" (N, K) or pooled (N, 216) for K = 0, "features" (N, 216)'))
def xshiftnet_pose(num_classes: int = 0, **kwargs: Any) -> XShiftNetClassifier:
    """Pose-heatmap X-ShiftNet on ``batch["heatmap"]`` (N, 17, T, H, W): maps (N, 216, T, H/8, W/8) -> mean -> head."""
    return _build(POSE_CFG, "heatmap", num_classes, **kwargs)


@register_model(tags=("model", "rgb", "test"), cfg=ModelCfg(
    inputs=_RGB_TINY_IN, num_classes=0, clip_len=8, source="ours: CPU-sized widths, same strides",
    output='"logits" (N, K) or pooled (N, 72), "features" (N, 72)'))
def xshiftnet_rgb_tiny(num_classes: int = 0, **kwargs: Any) -> XShiftNetClassifier:
    """CPU-sized RGB X-ShiftNet: maps (N, 72, T, H/32, W/32)."""
    return _build(RGB_TINY_CFG, "rgb", num_classes, **kwargs)


@register_model(tags=("model", "pose", "test"), cfg=ModelCfg(
    inputs=_POSE_TINY_IN, num_classes=0, clip_len=24, source="ours: CPU-sized widths, same strides",
    output='"logits" (N, K) or pooled (N, 54), "features" (N, 54)'))
def xshiftnet_pose_tiny(num_classes: int = 0, **kwargs: Any) -> XShiftNetClassifier:
    """CPU-sized pose X-ShiftNet: maps (N, 54, T, H/8, W/8)."""
    return _build(POSE_TINY_CFG, "heatmap", num_classes, **kwargs)
