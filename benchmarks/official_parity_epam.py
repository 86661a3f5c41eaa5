"""EPAM-Net: converted weights vs the official model code (max |logits difference| per stream).

    python benchmarks/official_parity_epam.py --official-root /path/to/checkouts

``--official-root`` holds ``ahmed-nady+Multimodal-Action-Recognition`` (or
``Multimodal-Action-Recognition``). Their backbones import mmcv 1.x, which is not installed here:
this script registers a minimal stand-in (``ConvModule`` = conv + ``bn`` + activation, ``Swish``,
the init helpers, a pass-through registry) in ``sys.modules`` before importing their
``X3DTemporalShift`` / ``X3DTemporalShiftPose`` / ``CBAMSpatialEfficientTemporalAttention``, and
assembles them with the attribute names of ``RGBPoseAttentionActionRecognizer`` (I3D heads:
mean over (T, H, W) then ``fc_cls``). Nothing of theirs is copied into this repository.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import randomise_weights  # noqa: E402

from mmfusion.models.pretrained import load_official


class ConvModule(nn.Module):
    """mmcv's ConvModule as far as EPAM-Net uses it: conv (bias only without norm) -> ``bn`` -> activation."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, groups: int = 1, bias: Any = "auto", conv_cfg: dict | None = None,
                 norm_cfg: dict | None = None, act_cfg: dict | None = None, **_: Any) -> None:
        super().__init__()
        conv = nn.Conv3d if (conv_cfg or {}).get("type") == "Conv3d" else nn.Conv2d
        self.with_norm = norm_cfg is not None
        self.conv = conv(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         bias=(not self.with_norm) if bias == "auto" else bias)
        if self.with_norm:
            norm = {"BN3d": nn.BatchNorm3d, "BN": nn.BatchNorm2d, "BN2d": nn.BatchNorm2d}[norm_cfg["type"]]
            self.bn = norm(out_channels)
        self.activate = _activation(act_cfg) if act_cfg is not None else None

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        x = self.bn(x) if self.with_norm else x
        return self.activate(x) if self.activate is not None else x


class Swish(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(x)


def _activation(cfg: dict) -> nn.Module:
    return nn.ReLU(inplace=cfg.get("inplace", True)) if cfg["type"] == "ReLU" else Swish()


class _Registry:
    def register_module(self, *args: Any, **_: Any) -> Any:
        return args[0] if args and isinstance(args[0], type) else (lambda cls: cls)


def _install_stubs(repo: Path) -> None:
    def module(name: str, path: Path | None = None, **attrs: Any) -> None:
        m = types.ModuleType(name)
        m.__dict__.update(attrs)
        if path is not None:
            m.__path__ = [str(path)]
        sys.modules[name] = m

    def kaiming_init(m: nn.Module, *_: Any, **__: Any) -> None:
        nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if getattr(m, "bias", None) is not None:
            nn.init.zeros_(m.bias)

    def constant_init(m: nn.Module, val: float, bias: float = 0) -> None:
        nn.init.constant_(m.weight, val)
        if getattr(m, "bias", None) is not None:
            nn.init.constant_(m.bias, bias)

    def normal_init(m: nn.Module, mean: float = 0, std: float = 1, bias: float = 0) -> None:
        nn.init.normal_(m.weight, mean, std)
        if getattr(m, "bias", None) is not None:
            nn.init.constant_(m.bias, bias)

    module("mmcv")
    module("mmcv.cnn", ConvModule=ConvModule, Swish=Swish, build_activation_layer=_activation,
           constant_init=constant_init, kaiming_init=kaiming_init, normal_init=normal_init)
    module("mmcv.runner", load_checkpoint=lambda *a, **k: None)
    module("mmcv.utils", _BatchNorm=_BatchNorm)
    module("mmaction", repo / "mmaction")
    module("mmaction.utils", get_root_logger=lambda *a, **k: None)
    module("mmaction.models", repo / "mmaction" / "models")
    module("mmaction.models.builder", BACKBONES=_Registry(), HEADS=_Registry())
    module("mmaction.models.backbones", repo / "mmaction" / "models" / "backbones")
    module("actionModels", repo / "actionModels")


class _I3DHead(nn.Module):
    def __init__(self, num_classes: int, in_channels: int) -> None:
        super().__init__()
        self.fc_cls = nn.Linear(in_channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc_cls(x.mean((2, 3, 4)))


def official_parts(repo: Path, num_classes: int = 60) -> dict[str, nn.Module]:
    """Their modules at the official configurations, keyed by ``RGBPoseAttentionActionRecognizer``'s
    attribute names (``rgb_backbone``, ``rgb_cls_head``, ``pose_backbone``, ``pose_cls_head``,
    ``attention_module``)."""
    _install_stubs(repo)
    rgb = importlib.import_module("mmaction.models.backbones.x3dTemporalshift")
    pose = importlib.import_module("mmaction.models.backbones.x3dTShiftPose")
    att = importlib.import_module("actionModels.attention_module")
    return {
        "rgb_backbone": rgb.X3DTemporalShift(gamma_w=1, gamma_b=2.25, gamma_d=2.2, use_sta=False, se_style="half"),
        "rgb_cls_head": _I3DHead(num_classes, 432),
        "pose_backbone": pose.X3DTemporalShiftPose(gamma_d=1, in_channels=17, base_channels=24, num_stages=3,
                                                   stage_blocks=(5, 11, 7), spatial_strides=(2, 2, 2),
                                                   conv1_stride=1),
        "pose_cls_head": _I3DHead(num_classes, 216),
        "attention_module": att.CBAMSpatialEfficientTemporalAttention(attention_type="nested"),
    }


class OfficialEPAM(nn.Module):
    """Their modules under the official attribute names; forward as theirs: rgb (N, 3, 16, 224, 224) +
    heatmaps (N, 17, 48, 56, 56) -> (rgb logits (N, K), pose logits (N, K)), pose maps strided 48 -> 16."""

    def __init__(self, parts: dict[str, nn.Module]) -> None:
        super().__init__()
        for name, module in parts.items():
            self.add_module(name, module)

    def forward(self, imgs: Tensor, heatmaps: Tensor) -> tuple[Tensor, Tensor]:
        r, p = self.rgb_backbone(imgs), self.pose_backbone(heatmaps)
        strided = p[:, :, ::p.shape[2] // r.shape[2]]
        attended = r * self.attention_module(strided)
        return self.rgb_cls_head(r + attended), self.pose_cls_head(p)


class OfficialStream(nn.Module):
    """One official stream alone: ``<stream>_backbone`` + ``<stream>_cls_head`` (the two-stream checkpoint's
    key names), (N, C, T, H, W) -> logits (N, K)."""

    def __init__(self, parts: dict[str, nn.Module], stream: str) -> None:
        super().__init__()
        self.stream = stream
        self.add_module(f"{stream}_backbone", parts[f"{stream}_backbone"])
        self.add_module(f"{stream}_cls_head", parts[f"{stream}_cls_head"])

    def forward(self, x: Tensor) -> Tensor:
        head = getattr(self, f"{self.stream}_cls_head")
        return head(getattr(self, f"{self.stream}_backbone")(x))


def official_epam(repo: Path, num_classes: int = 60) -> nn.Module:
    """The official two-stream model (see :class:`OfficialEPAM`)."""
    return OfficialEPAM(official_parts(repo, num_classes))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--official-root", type=Path, required=True)
    args = p.parse_args(argv)
    repo = next((args.official_root / n for n in ("ahmed-nady+Multimodal-Action-Recognition",
                                                  "Multimodal-Action-Recognition")
                 if (args.official_root / n).is_dir()), None)
    if repo is None:
        raise SystemExit(f"no EPAM-Net checkout under {args.official_root}")
    gen = torch.Generator().manual_seed(0)
    ref = official_epam(repo)
    randomise_weights(ref, gen)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "epam.pth"
        torch.save({"state_dict": ref.state_dict()}, path)
        ours, _ = load_official(path, "epam")
    ref.eval()
    ours.eval()
    rgb = torch.randn(1, 3, 16, 224, 224, generator=gen)
    heat = torch.rand(1, 17, 48, 56, 56, generator=gen)
    with torch.no_grad():
        a_rgb, a_pose = ref(rgb, heat)
        out = ours({"rgb": rgb, "heatmap": heat})
    print("| stream | max abs diff of logits | max abs logit |\n| --- | --- | --- |")
    for name, a, b in (("rgb (guided)", a_rgb, out["logits_rgb"]), ("pose", a_pose, out["logits_pose"]),
                       ("sum", a_rgb + a_pose, out["logits"])):
        print(f"| {name} | {float((a - b).abs().max()):.1e} | {float(a.abs().max()):.3g} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
