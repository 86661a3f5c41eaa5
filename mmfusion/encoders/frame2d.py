"""Frame-wise 2-D CNN encoder for video-like modalities (RGB, depth, IR).

A timm image backbone is applied to every frame independently by folding time into the
batch axis, then globally pooled, giving one feature vector per frame::

    (N, C, T, H, W) -> (N*T, C, H, W) -> backbone -> (N*T, D) -> (N, T, D)

This is the feature extractor of M-Mixer (ImageNet ResNet family, one per modality). An
optional temporal shift (TSM) on the residual branch of every residual block lets frames
exchange information at zero extra parameters; with it off, frame ``t``'s feature depends
on frame ``t`` only.

Weights are never downloaded: pass ``checkpoint_path`` to a local ``.safetensors`` file of
the timm model (an ImageNet checkpoint with its classifier, or one saved from this encoder).
A 3-channel stem is adapted to ``in_chans`` (1 for depth / IR) the way timm does it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import Tensor, nn

from ..errors import ConfigError
from ..model_cfg import ModelCfg, frames_input
from ..registry import check_state_fits, read_safetensors, register_model
from .temporal_shift import temporal_shift

__all__ = ["FrameEncoder2D", "MODALITY_CHANNELS", "channels_of"]

#: Channels of the video-like modalities in the batch contract.
MODALITY_CHANNELS: dict[str, int] = {"rgb": 3, "depth": 1, "ir": 1}


def channels_of(modality: str) -> int:
    """Input channels of a video-like modality key (``"rgb"`` 3, ``"depth"`` / ``"ir"`` 1)."""
    try:
        return MODALITY_CHANNELS[modality]
    except KeyError:
        raise ConfigError(f"unknown frame modality {modality!r}; expected one of {sorted(MODALITY_CHANNELS)}") \
            from None


class _ShiftedConv(nn.Module):
    """Runs ``conv`` on a temporally shifted copy of its (N*T, C, H, W) input.

    Placed on the first conv of a residual block, so the shift lives on the residual branch
    and the identity path keeps each frame's own features (TSM's "residual shift").
    ``n_frames`` is set by the owning encoder before every forward, because the folded
    batch axis alone does not tell N from T.
    """

    def __init__(self, conv: nn.Module, fold_div: int) -> None:
        super().__init__()
        self.conv = conv
        self.fold_div = fold_div
        self.n_frames = 1

    def forward(self, x: Tensor) -> Tensor:
        t = self.n_frames
        nt, c, h, w = x.shape
        # (N*T, C, H, W) -> (N, C, T, H, W) for the shared 5-D shift, then back
        x5 = x.reshape(nt // t, t, c, h, w).transpose(1, 2)
        x = temporal_shift(x5, self.fold_div).transpose(1, 2).reshape(nt, c, h, w)
        return self.conv(x)

    def extra_repr(self) -> str:
        return f"fold_div={self.fold_div}"


class FrameEncoder2D(nn.Module):
    """Apply a timm 2-D backbone to each frame of a clip.

    Input ``(N, C, T, H, W)``, output ``(N, T, D)`` with ``D = out_dim``.

    Args:
        backbone: timm model name (``"resnet18"``, ``"resnet34"``, ``"test_resnet"`` ...).
        in_chans: input channels (3 RGB, 1 depth / IR); timm builds the stem for it.
        pretrained: load ``checkpoint_path``; ``True`` without a path is a :class:`ConfigError`
            (the package never downloads weights).
        temporal_shift: insert a temporal shift on the residual branch of every residual
            block (the modules of timm ResNet stages ``layer1..layer4`` that own a ``conv1``).
        fold_div: 1/fold_div of the channels shift each way.
        out_dim: if given, a ``Linear(backbone features, out_dim)`` after pooling.
        checkpoint_path: local safetensors file with backbone weights.
        drop_path_rate: stochastic depth of the timm backbone.
    """

    def __init__(self, backbone: str = "resnet18", in_chans: int = 3, pretrained: bool = False,
                 temporal_shift: bool = False, fold_div: int = 8, out_dim: int | None = None,
                 checkpoint_path: str | Path | None = None, drop_path_rate: float = 0.0) -> None:
        super().__init__()
        import timm  # heavy import kept out of module import time

        if in_chans < 1:
            raise ConfigError(f"FrameEncoder2D: in_chans must be >= 1, got {in_chans}")
        if fold_div < 1:
            raise ConfigError(f"FrameEncoder2D: fold_div must be >= 1, got {fold_div}")
        if pretrained and checkpoint_path is None:
            raise ConfigError("FrameEncoder2D: pretrained=True needs checkpoint_path (a local .safetensors file); "
                              "mmfusion never downloads weights")
        if not timm.is_model(backbone):
            raise ConfigError(f"FrameEncoder2D: {backbone!r} is not a timm model")
        self.backbone_name = backbone
        self.in_chans = in_chans
        self.backbone = timm.create_model(backbone, pretrained=False, num_classes=0, in_chans=in_chans,
                                          drop_path_rate=drop_path_rate)
        self.feature_dim = int(self.backbone.num_features)
        if temporal_shift:
            self._insert_shifts(fold_div)
        self.temporal_shift = temporal_shift
        self.proj: nn.Module = nn.Identity() if out_dim is None else nn.Linear(self.feature_dim, out_dim)
        self.out_dim = self.feature_dim if out_dim is None else out_dim
        if checkpoint_path is not None:
            self.load_backbone(checkpoint_path)

    def _insert_shifts(self, fold_div: int) -> None:
        found: list[_ShiftedConv] = []
        for stage_name in ("layer1", "layer2", "layer3", "layer4"):
            stage = getattr(self.backbone, stage_name, None)
            if stage is None:
                continue
            for block in list(stage.modules()):
                conv = getattr(block, "conv1", None)
                if block is stage or not isinstance(conv, nn.Conv2d):
                    continue
                wrapped = _ShiftedConv(conv, fold_div)
                block.conv1 = wrapped
                found.append(wrapped)
        if not found:
            raise ConfigError(f"FrameEncoder2D: temporal_shift needs a ResNet-style backbone (blocks with conv1), "
                              f"{self.backbone_name!r} has none")

    def _shift_modules(self) -> list[_ShiftedConv]:
        # looked up each time rather than cached, so replicas (nn.DataParallel) set their own
        return [m for m in self.backbone.modules() if isinstance(m, _ShiftedConv)]

    @property
    def num_shifts(self) -> int:
        """Number of residual blocks that carry a temporal shift (0 without ``temporal_shift``)."""
        return len(self._shift_modules())

    def load_backbone(self, path: str | Path) -> None:
        """Load backbone weights from a local safetensors file.

        Accepts a timm checkpoint (classifier keys such as ``fc.*`` are dropped) or keys
        prefixed ``backbone.`` (a saved :class:`FrameEncoder2D`). A 3-channel first conv is
        adapted to ``in_chans`` with timm's rule (sum for 1 channel). Anything else that does
        not fit exactly is a :class:`CheckpointError`.
        """
        from timm.models import adapt_input_conv

        state = read_safetensors(path)
        if any(k.startswith("backbone.") for k in state):
            state = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
        # shift wrappers move conv1 weights to conv1.conv.*; map plain timm names onto them
        own = self.backbone.state_dict()
        renamed: dict[str, Tensor] = {}
        for k, v in state.items():
            if k not in own and k.replace(".conv1.", ".conv1.conv.") in own:
                k = k.replace(".conv1.", ".conv1.conv.")
            elif k not in own and k.replace(".conv1.conv.", ".conv1.") in own:
                k = k.replace(".conv1.conv.", ".conv1.")
            renamed[k] = v
        first_conv = (self.backbone.pretrained_cfg or {}).get("first_conv")
        if isinstance(first_conv, str):
            key = f"{first_conv}.weight"
            if key in renamed and key in own and renamed[key].shape[1] != own[key].shape[1]:
                renamed[key] = adapt_input_conv(self.in_chans, renamed[key])
        classifier = (self.backbone.pretrained_cfg or {}).get("classifier", "fc")
        renamed = {k: v for k, v in renamed.items() if k in own or not k.startswith(f"{classifier}.")}
        check_state_fits(self.backbone, renamed, path, f"timm {self.backbone_name!r} (in_chans={self.in_chans})")
        self.backbone.load_state_dict(renamed)

    def forward(self, x: Tensor) -> Tensor:
        """(N, C, T, H, W) -> (N, T, D)."""
        if x.ndim != 5 or x.shape[1] != self.in_chans:
            raise ConfigError(f"FrameEncoder2D({self.backbone_name}) expects (N, {self.in_chans}, T, H, W), "
                              f"got shape {tuple(x.shape)}")
        n, c, t, h, w = x.shape
        if self.temporal_shift:
            for s in self._shift_modules():
                s.n_frames = t
        frames = x.transpose(1, 2).reshape(n * t, c, h, w)
        feats = self.backbone(frames)  # (N*T, D) after timm's global pooling
        return self.proj(feats.reshape(n, t, -1))

    def extra_repr(self) -> str:
        return f"backbone={self.backbone_name!r}, in_chans={self.in_chans}, temporal_shift={self.temporal_shift}"


def _build(backbone: str, modality: str | None, in_chans: int | None, **kwargs: Any) -> FrameEncoder2D:
    if in_chans is None:
        in_chans = channels_of(modality) if modality is not None else 3
    elif modality is not None and channels_of(modality) != in_chans:
        raise ConfigError(f"modality {modality!r} has {channels_of(modality)} channels, not in_chans={in_chans}")
    return FrameEncoder2D(backbone=backbone, in_chans=in_chans, **kwargs)


def _cfg(frames: int, size: int, dim: int, paper: float | None = None, source: str = "") -> ModelCfg:
    return ModelCfg(inputs={"rgb": frames_input("rgb", frames, size)}, kind="encoder", clip_len=frames,
                    call="positional", paper_params=paper, source=source,
                    output=f"(N, T, {dim}) per-frame features (tensor in, tensor out; modality='depth'/'ir': C = 1)")


@register_model(tags=("encoder", "rgb", "depth", "ir"), cfg=_cfg(
    16, 112, 512, 11.69e6, "torchvision / timm ResNet-18: 11.69 M with its 1000-class fc (513,000)"))
def frame_resnet18(modality: str | None = None, in_chans: int | None = None, **kwargs: Any) -> nn.Module:
    """Frame-wise ResNet-18: (N, C, T, H, W) -> (N, T, 512); ``modality`` "rgb" (3 ch) / "depth" / "ir" (1 ch)."""
    return _build("resnet18", modality, in_chans, **kwargs)


@register_model(tags=("encoder", "rgb", "depth", "ir"), cfg=_cfg(
    16, 112, 512, 21.80e6, "torchvision / timm ResNet-34: 21.80 M with its 1000-class fc"))
def frame_resnet34(modality: str | None = None, in_chans: int | None = None, **kwargs: Any) -> nn.Module:
    """Frame-wise ResNet-34: (N, C, T, H, W) -> (N, T, 512)."""
    return _build("resnet34", modality, in_chans, **kwargs)


@register_model(tags=("encoder", "rgb", "depth", "ir", "test"), cfg=_cfg(8, 48, 96, source="timm test_resnet"))
def frame_tiny(modality: str | None = None, in_chans: int | None = None, **kwargs: Any) -> nn.Module:
    """CPU-sized frame encoder (timm ``test_resnet``, 0.37 M params): (N, C, T, H, W) -> (N, T, 96)."""
    return _build("test_resnet", modality, in_chans, **kwargs)
