"""Frame-wise 2-D encoders: shapes, per-frame independence, temporal-shift reach, local weights, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file
from torch import nn

import mmfusion
from mmfusion.encoders.frame2d import FrameEncoder2D
from mmfusion.errors import CheckpointError, ConfigError


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def randomise_bn(model: nn.Module) -> None:
    """timm zero-inits the last BN of each residual branch; make every branch contribute."""
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)


def test_registered_names_and_shapes() -> None:
    names = mmfusion.list_models("frame_*", tag="encoder")
    assert {"frame_resnet18", "frame_resnet34", "frame_tiny"} <= set(names)
    for modality, c in (("rgb", 3), ("depth", 1), ("ir", 1)):
        enc = mmfusion.create_model("frame_tiny", modality=modality)
        assert enc.in_chans == c and enc.out_dim == 96
        y = enc(torch.randn(2, c, 4, 32, 32))
        assert y.shape == (2, 4, 96)
    proj = mmfusion.create_model("frame_tiny", modality="ir", out_dim=24)
    assert proj.out_dim == 24 and proj(torch.randn(2, 1, 3, 32, 32)).shape == (2, 3, 24)


def test_full_size_param_counts() -> None:
    with torch.device("meta"):
        r18 = mmfusion.create_model("frame_resnet18", modality="rgb")
        r18_d = mmfusion.create_model("frame_resnet18", modality="depth")
        r34 = mmfusion.create_model("frame_resnet34", modality="rgb")
        r18_tsm = mmfusion.create_model("frame_resnet18", modality="rgb", temporal_shift=True)
    # timm resnet18 / resnet34 without the 1000-way fc (11,689,512 - 513,000; 21,797,672 - 513,000)
    assert n_params(r18) == 11_176_512
    assert n_params(r34) == 21_284_672
    assert n_params(r18) - n_params(r18_d) == 2 * 64 * 7 * 7  # 1-channel stem
    assert n_params(r18_tsm) == n_params(r18) and r18_tsm.num_shifts == 8  # 2+2+2+2 basic blocks
    assert r18.out_dim == r34.out_dim == 512


def test_frames_are_independent_without_shift() -> None:
    enc = FrameEncoder2D("test_resnet", in_chans=1).eval()
    randomise_bn(enc)
    x = torch.randn(2, 1, 6, 32, 32)
    x2 = x.clone()
    x2[:, :, 2] += 1.0
    with torch.no_grad():
        diff = (enc(x2) - enc(x)).abs().amax(dim=(0, 2))
    assert diff[2] > 1e-3
    assert torch.equal(diff[[0, 1, 3, 4, 5]], torch.zeros(5))
    # the fold of T into the batch is undone in the right order: per-frame call gives the same
    with torch.no_grad():
        single = enc(x[:, :, 4:5])
        assert torch.allclose(enc(x)[:, 4:5], single, atol=1e-5)


def test_temporal_shift_reach_is_one_frame_per_block() -> None:
    enc = FrameEncoder2D("test_resnet", in_chans=3, temporal_shift=True).eval()
    assert enc.num_shifts == 4  # one per residual block of test_resnet
    randomise_bn(enc)
    x = torch.randn(2, 3, 12, 32, 32)
    x2 = x.clone()
    x2[:, :, 0] += 1.0
    with torch.no_grad():
        diff = (enc(x2) - enc(x)).abs().amax(dim=(0, 2))
    assert (diff[:5] > 0).all(), diff  # four shifted blocks carry frame 0 up to frame 4
    assert torch.equal(diff[5:], torch.zeros(7)), diff
    # the shift sits on the residual branch: the identity path still carries frame t alone, and
    # a shift of zero channels (fold_div > C) reduces to the frame-wise encoder
    plain = FrameEncoder2D("test_resnet", in_chans=3, temporal_shift=True, fold_div=10_000).eval()
    ref = FrameEncoder2D("test_resnet", in_chans=3).eval()
    ref.load_state_dict({k.replace(".conv1.conv.", ".conv1."): v for k, v in plain.state_dict().items()})
    with torch.no_grad():
        assert torch.allclose(plain(x), ref(x), atol=1e-6)


def _timm_checkpoint(path: Path, name: str = "test_resnet") -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    ref = timm.create_model(name, pretrained=False, num_classes=7)
    state = {k: v.contiguous() for k, v in ref.state_dict().items()}
    save_file(state, str(path))
    return state


def test_local_checkpoint_loading_and_stem_adaptation(tmp_path: Path) -> None:
    ckpt = tmp_path / "test_resnet.safetensors"
    state = _timm_checkpoint(ckpt)
    rgb = FrameEncoder2D("test_resnet", in_chans=3, pretrained=True, checkpoint_path=ckpt)
    own = rgb.backbone.state_dict()
    assert all(torch.equal(own[k], state[k]) for k in own)
    assert not any(k.startswith("fc.") for k in own)  # classifier dropped
    depth = FrameEncoder2D("test_resnet", in_chans=1, temporal_shift=True, checkpoint_path=ckpt)
    d_state = depth.backbone.state_dict()
    # timm's rule for a 1-channel stem: sum the RGB filters
    assert torch.allclose(d_state["conv1.0.weight"], state["conv1.0.weight"].sum(dim=1, keepdim=True))
    assert torch.equal(d_state["layer1.0.conv1.conv.weight"], state["layer1.0.conv1.weight"])
    # a saved encoder (keys "backbone.*", maybe with a projection) loads into a plain one
    saved = tmp_path / "enc.safetensors"
    save_file({k: v.contiguous() for k, v in depth.state_dict().items()}, str(saved))
    again = FrameEncoder2D("test_resnet", in_chans=1, checkpoint_path=saved).eval()
    x = torch.randn(1, 1, 2, 32, 32)
    depth.eval()
    with torch.no_grad():
        # the shifted encoder differs, but with T = 1 there is nothing to shift in
        assert torch.allclose(again(x[:, :, :1]), depth(x[:, :, :1]), atol=1e-6)


def test_bad_checkpoints_and_configs(tmp_path: Path) -> None:
    wrong_arch = tmp_path / "r18.safetensors"
    _timm_checkpoint(wrong_arch, "resnet10t")
    with pytest.raises(CheckpointError, match="do not fit"):
        FrameEncoder2D("test_resnet", in_chans=3, checkpoint_path=wrong_arch)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="junk.safetensors"):
        FrameEncoder2D("test_resnet", checkpoint_path=junk)
    with pytest.raises(ConfigError, match="checkpoint_path"):
        FrameEncoder2D("test_resnet", pretrained=True)
    with pytest.raises(ConfigError, match="not a timm model"):
        FrameEncoder2D("no_such_net")
    with pytest.raises(ConfigError, match="in_chans"):
        mmfusion.create_model("frame_tiny", modality="depth", in_chans=3)
    with pytest.raises(ConfigError, match="unknown frame modality"):
        mmfusion.create_model("frame_tiny", modality="skeleton")
    enc = mmfusion.create_model("frame_tiny", modality="depth")
    with pytest.raises(ConfigError, match=r"\(N, 1, T, H, W\)"):
        enc(torch.randn(2, 3, 4, 32, 32))
    with pytest.raises(ConfigError):
        enc(torch.randn(2, 1, 32, 32))
    with pytest.raises(ConfigError, match="ResNet-style"):
        FrameEncoder2D("test_vit", temporal_shift=True)


def test_backward_and_bf16_autocast() -> None:
    enc = mmfusion.create_model("frame_tiny", modality="rgb", temporal_shift=True)
    x = torch.randn(2, 3, 4, 32, 32)
    enc(x).square().mean().backward()
    assert enc.backbone.conv1[0].weight.grad is not None
    assert enc.backbone.conv1[0].weight.grad.abs().sum() > 0
    enc.eval()
    with torch.no_grad():
        ref = enc(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = enc(x)
    assert low.dtype == torch.bfloat16 or low.dtype == torch.float32
    assert torch.isfinite(low).all()
    rel = (low.float() - ref).norm() / ref.norm()
    assert rel < 0.05, rel
