"""X-ShiftNet: sizes against the official configuration, shapes, block semantics, registry."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import mmfusion
from mmfusion.encoders.temporal_shift import temporal_shift
from mmfusion.encoders.xshiftnet import SqueezeExcite, XShiftBlock, XShiftNet, XShiftNetClassifier, round_width
from mmfusion.errors import ConfigError, MissingModalityError

# official EPAM-Net configuration: RGB 1.980 M / 4.26 GMACs (16x224^2), pose 0.520 M / 3.36 GMACs (48x56^2)
RGB_PARAMS, POSE_PARAMS = 1_980_030, 519_580
RGB_MACS, POSE_MACS = 4_261_644_288, 3_356_269_344


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def analytic_macs(model: nn.Module, x: torch.Tensor) -> int:
    """Conv/Linear multiply-accumulates counted by forward hooks (BN, activations, TSM excluded)."""
    total = 0

    def hook(mod: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(mod, nn.Conv3d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * mod.kernel_size[2]
            total += out.numel() * (mod.in_channels // mod.groups) * k
        elif isinstance(mod, nn.Linear):
            total += out.numel() * mod.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv3d, nn.Linear))]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return total


def meta_model(name: str, **kw: object) -> nn.Module:
    # full-size shapes and counts without allocating or computing anything; the registered entry
    # is the classifier (num_classes=0 by default), its backbone the bare X-ShiftNet
    with torch.device("meta"):
        model = mmfusion.create_model(name, **kw)
    return model if kw.get("num_classes") else model.backbone


def backbone(name: str, **kw: object) -> nn.Module:
    """The bare X-ShiftNet of a registered entry: (N, C, T, H, W) -> conv5 maps."""
    return mmfusion.create_model(name, **kw).backbone


def test_param_counts_match_official() -> None:
    # the default build (num_classes=0) is the backbone with an Identity head: the official figures
    rgb = mmfusion.create_model("xshiftnet_rgb")
    pose = mmfusion.create_model("xshiftnet_pose")
    assert n_params(rgb) == RGB_PARAMS, f"RGB X-ShiftNet has {n_params(rgb)} params"
    assert n_params(pose) == POSE_PARAMS, f"pose X-ShiftNet has {n_params(pose)} params"
    assert abs(n_params(rgb) / 1.980e6 - 1) < 0.01 and abs(n_params(pose) / 0.520e6 - 1) < 0.01
    assert rgb.out_dim == 432 and pose.out_dim == 216


@pytest.mark.parametrize(("name", "shape", "out_shape", "macs", "target"), [
    ("xshiftnet_rgb", (1, 3, 16, 224, 224), (1, 432, 16, 7, 7), RGB_MACS, 4.26e9),
    ("xshiftnet_pose", (1, 17, 48, 56, 56), (1, 216, 48, 7, 7), POSE_MACS, 3.36e9),
])
def test_full_size_shapes_and_macs(name: str, shape: tuple[int, ...], out_shape: tuple[int, ...], macs: int,
                                   target: float) -> None:
    model = meta_model(name)
    x = torch.empty(shape, device="meta")
    counter = FlopCounterMode(display=False)
    with counter:
        y = model(x)
    assert tuple(y.shape) == out_shape
    flop_macs = counter.get_total_flops() // 2
    hook_macs = analytic_macs(model, x)
    assert flop_macs == hook_macs == macs, f"{name}: flop_counter {flop_macs}, hooks {hook_macs} MACs"
    assert abs(macs / target - 1) < 0.03


@pytest.mark.slow
def test_fvcore_agrees_on_convolutions() -> None:
    fvcore = pytest.importorskip("fvcore.nn")
    model = backbone("xshiftnet_pose").eval()
    fa = fvcore.FlopCountAnalysis(model, torch.randn(1, 17, 48, 56, 56))
    fa.unsupported_ops_warnings(False)
    fa.uncalled_modules_warnings(False)
    ops = fa.by_operator()
    assert ops["conv"] == POSE_MACS  # fvcore counts one MAC as one "flop"; BN is listed apart
    assert ops["batch_norm"] > 0


def test_structure_of_official_config() -> None:
    rgb = meta_model("xshiftnet_rgb")
    assert [len(s) for s in rgb.stages] == [3, 5, 11, 7]
    first = [s[0] for s in rgb.stages]
    assert [b.conv1[0].out_channels for b in first] == [54, 108, 216, 432]
    assert all(b.downsample is not None for b in first)
    assert all(s[1].downsample is None for s in rgb.stages)
    # SE on even-indexed blocks only, widths 8/8/16/32 (X3D rounding)
    assert [isinstance(b.se, SqueezeExcite) for b in rgb.stages[1]] == [True, False, True, False, True]
    assert [s[0].se.bottleneck for s in rgb.stages] == [8, 8, 16, 32]
    assert rgb.stem[0].kernel_size == (1, 3, 3) and rgb.stem[0].stride == (1, 2, 2)
    # no temporal kernel anywhere: time is only mixed by the shift
    assert all(m.kernel_size[0] == 1 for m in rgb.modules() if isinstance(m, nn.Conv3d))
    assert all(b.shift.fold_div == 8 for s in rgb.stages for b in s)
    pose = meta_model("xshiftnet_pose")
    assert [len(s) for s in pose.stages] == [5, 11, 7]
    assert pose.stem[0].stride == (1, 1, 1) and pose.stride == 8 and rgb.stride == 32
    assert all(b.shift.fold_div == 4 for s in pose.stages for b in s)


def test_round_width() -> None:
    assert [round_width(c, 1 / 16) for c in (54, 108, 216, 432)] == [8, 8, 16, 32]
    assert round_width(24, 1.0) == 24


def test_block_semantics_shift_only_on_residual_branch() -> None:
    torch.manual_seed(0)
    net = XShiftNet(in_chans=3, widths=(16,), stage_blocks=(1,), spatial_strides=(1,), fold_div=8)
    block = net.stages[0][0].eval()
    assert block.downsample is None and isinstance(block.se, SqueezeExcite)
    x = torch.randn(2, 16, 4, 5, 5)
    # zero-init residual: at start the block is relu(identity), the unshifted input
    torch.testing.assert_close(block(x), torch.relu(x))
    nn.init.normal_(block.conv3[1].weight)
    with torch.no_grad():
        ref = block.conv1(temporal_shift(x, 8))
        ref = block.conv3(nn.functional.silu(block.se(block.conv2(ref))))
        torch.testing.assert_close(block(x), torch.relu(ref + x))
    # time mixing (no SE, whose clip-wide gate reaches every frame): changing frame 2 changes
    # output frames 1..3 only
    plain = XShiftBlock(16, 36, 16, use_se=False, fold_div=8).eval()
    nn.init.normal_(plain.conv3[1].weight)
    x2 = x.clone()
    x2[:, :, 2] += 1.0
    with torch.no_grad():
        diff = (plain(x2) - plain(x)).abs().flatten(3).amax((1, 3))[0]
    assert diff[0] == 0 and diff[1] > 0 and diff[2] > 0 and diff[3] > 0
    down = XShiftBlock(8, 18, 16, spatial_stride=2)
    assert down(torch.randn(1, 8, 3, 9, 9)).shape == (1, 16, 3, 5, 5)


def test_tiny_forward_backward() -> None:
    model = backbone("xshiftnet_rgb_tiny")
    x = torch.randn(2, 3, 4, 64, 64)
    y = model(x)
    assert y.shape == (2, model.out_dim, 4, 2, 2)
    assert torch.isfinite(y).all()
    y.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    pose = backbone("xshiftnet_pose_tiny")
    assert pose(torch.rand(1, 17, 6, 16, 16)).shape == (1, pose.out_dim, 6, 2, 2)


def test_init_recipe() -> None:
    model = backbone("xshiftnet_rgb_tiny")
    blocks = [m for m in model.modules() if isinstance(m, XShiftBlock)]
    assert all(torch.all(b.conv3[1].weight == 0) for b in blocks)
    assert torch.all(model.stem[1].weight == 1)
    conv = model.stages[2][0].conv1[0]
    fan_out = conv.out_channels
    assert abs(conv.weight.std().item() / (2 / fan_out) ** 0.5 - 1) < 0.25
    clf = mmfusion.create_model("xshiftnet_rgb_tiny", num_classes=5)
    assert abs(clf.head.fc.weight.std().item() - 0.01) < 0.003 and torch.all(clf.head.fc.bias == 0)


def test_classifier_wrapper_and_registry() -> None:
    names = mmfusion.list_models("xshiftnet*")
    assert {"xshiftnet_rgb", "xshiftnet_pose", "xshiftnet_rgb_tiny", "xshiftnet_pose_tiny"} <= set(names)
    clf = mmfusion.create_model("xshiftnet_pose_tiny", num_classes=7)
    assert isinstance(clf, XShiftNetClassifier) and clf.modality == "heatmap"
    out = clf({"heatmap": torch.rand(2, 17, 4, 16, 16), "rgb": torch.zeros(1)})
    assert out["logits"].shape == (2, 7) and out["features"].shape == (2, clf.out_dim)
    assert clf(torch.rand(1, 17, 4, 16, 16)).shape == (1, 7)  # a bare tensor gives the logits tensor
    with pytest.raises(MissingModalityError, match="heatmap"):
        clf({"rgb": torch.rand(1, 3, 4, 64, 64)})
    full = meta_model("xshiftnet_rgb", num_classes=60)
    assert n_params(full) == RGB_PARAMS + 432 * 60 + 60
    custom = backbone("xshiftnet_pose", widths=(8, 16), stage_blocks=(1, 1), spatial_strides=(2, 2),
                                   in_chans=5, fold_div=2)
    assert custom(torch.rand(1, 5, 4, 8, 8)).shape == (1, 36, 4, 2, 2)


def test_config_errors() -> None:
    with pytest.raises(ConfigError):
        XShiftNet(widths=(8, 16), stage_blocks=(1,))
    with pytest.raises(ConfigError):
        XShiftNet(se_style="some")
    model = mmfusion.create_model("xshiftnet_rgb_tiny")  # the classifier validates through its backbone
    with pytest.raises(ConfigError, match="expects"):
        model(torch.randn(1, 17, 4, 64, 64))


def test_bf16_autocast() -> None:
    model = backbone("xshiftnet_rgb_tiny").eval()
    x = torch.randn(1, 3, 4, 64, 64)
    with torch.no_grad():
        ref = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = model(x)
    assert y.dtype == torch.bfloat16
    assert torch.isfinite(y.float()).all()
    torch.testing.assert_close(y.float(), ref, atol=0.1, rtol=0.05)
