"""EPAM-Net pose-guided spatial-temporal attention."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import mmfusion
from mmfusion.errors import ConfigError
from mmfusion.fusion.pose_guided_attention import PoseGuidedAttention


def _reference(att: PoseGuidedAttention, rgb: torch.Tensor, pose: torch.Tensor, idx: list[int]) -> torch.Tensor:
    """Spelled-out computation with explicit frame indices (the official 0, 3, ..., 45 selection)."""
    p = pose.index_select(2, torch.tensor(idx))
    pooled = torch.cat((p.max(dim=1, keepdim=True).values, p.mean(dim=1, keepdim=True)), dim=1)
    a_s = torch.sigmoid(att.spatial_bn(att.spatial_conv(pooled)))
    n, _, t = a_s.shape[:3]
    a_t = torch.sigmoid(att.temporal_conv(a_s.mean(dim=(3, 4)).view(n, 1, t))).view(n, 1, t, 1, 1)
    return rgb + rgb * (a_s * a_t)


def test_parameter_count_and_layers() -> None:
    att = PoseGuidedAttention()
    assert sum(p.numel() for p in att.parameters()) == 107
    assert att.spatial_conv.kernel_size == (1, 7, 7) and att.spatial_conv.padding == (0, 3, 3)
    assert att.spatial_conv.bias is None and att.temporal_conv.bias is None
    assert att.spatial_bn.momentum == 0.01 and att.spatial_bn.eps == 1e-5
    assert mmfusion.list_models("pose_guided_attention") == ["pose_guided_attention"]


@pytest.mark.parametrize(("t_rgb", "t_pose"), [(16, 48), (4, 8), (5, 5)])
def test_matches_reference(t_rgb: int, t_pose: int) -> None:
    torch.manual_seed(1)
    att = PoseGuidedAttention()
    with torch.no_grad():  # non-trivial BN statistics so eval mode is really exercised
        att.spatial_bn.running_mean.fill_(0.3)
        att.spatial_bn.running_var.fill_(2.0)
        att.spatial_bn.weight.fill_(1.5)
    att.eval()
    rgb = torch.randn(2, 12, t_rgb, 7, 7)
    pose = torch.randn(2, 9, t_pose, 7, 7)
    s = t_pose // t_rgb
    with torch.no_grad():
        out, a = att(rgb, pose, return_attention=True)
    assert out.shape == rgb.shape and a.shape == (2, 1, t_rgb, 7, 7)
    assert float(a.min()) > 0 and float(a.max()) < 1
    torch.testing.assert_close(out, _reference(att, rgb, pose, list(range(0, t_pose, s))))
    torch.testing.assert_close(out, rgb * (1 + a))
    torch.testing.assert_close(att(rgb, pose), out)


def test_only_selected_pose_frames_matter() -> None:
    att = PoseGuidedAttention().eval()
    rgb, pose = torch.randn(1, 4, 4, 5, 5), torch.randn(1, 6, 12, 5, 5)
    base = att(rgb, pose)
    other = pose.clone()
    other[:, :, 1::3] += 5.0  # frames between the RGB sampling points
    torch.testing.assert_close(att(rgb, other), base)
    other[:, :, 3] += 5.0  # a sampled frame (the 2nd RGB frame's)
    assert not torch.allclose(att(rgb, other), base)


def test_shape_errors() -> None:
    att = PoseGuidedAttention()
    with pytest.raises(ConfigError, match="multiple"):
        att(torch.randn(1, 4, 16, 7, 7), torch.randn(1, 6, 40, 7, 7))
    with pytest.raises(ConfigError, match=r"\(1, 6, 48, 14, 14\)"):
        att(torch.randn(1, 4, 16, 7, 7), torch.randn(1, 6, 48, 14, 14))
    with pytest.raises(ConfigError):
        att(torch.randn(1, 4, 16, 7), torch.randn(1, 6, 48, 7, 7))
    with pytest.raises(ConfigError):
        PoseGuidedAttention(kernel_size=6)


def test_gradients_and_bf16() -> None:
    att = PoseGuidedAttention()
    rgb = torch.randn(2, 4, 4, 5, 5, requires_grad=True)
    pose = torch.randn(2, 6, 8, 5, 5, requires_grad=True)
    att(rgb, pose).square().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in att.parameters())
    assert pose.grad is not None and pose.grad[:, :, 1::2].abs().sum() == 0  # unsampled frames get none
    att.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = att(rgb.detach(), pose.detach())
    assert out.dtype in (torch.bfloat16, torch.float32) and torch.isfinite(out.float()).all()
    torch.testing.assert_close(out.float(), att(rgb.detach(), pose.detach()).detach(), atol=0.05, rtol=0.05)


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")  # legacy exporter chatter
def test_onnx_matches_torch() -> None:
    ort = pytest.importorskip("onnxruntime")
    import io

    att = PoseGuidedAttention().eval()
    nn.init.normal_(att.temporal_conv.weight)
    rgb, pose = torch.randn(1, 8, 4, 7, 7), torch.randn(1, 6, 12, 7, 7)
    buf = io.BytesIO()
    torch.onnx.export(att, (rgb, pose), buf, input_names=["rgb", "pose"], dynamo=False)
    out = ort.InferenceSession(buf.getvalue()).run(None, {"rgb": rgb.numpy(), "pose": pose.numpy()})[0]
    with torch.no_grad():
        ref = att(rgb, pose).numpy()
    assert abs(out - ref).max() < 1e-5
