"""Point-cloud sequence encoder (PointNet++ per frame + temporal transformer)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import mmfusion
from mmfusion.encoders.point_sequence import PointSequenceEncoder, normalize_clip
from mmfusion.errors import ConfigError, MissingModalityError
from mmfusion.models.heads import ModalityClassifier


def clip(n: int = 2, t: int = 3, p: int = 96) -> torch.Tensor:
    # a person-sized blob 3 m in front of the camera (metres, camera frame)
    return torch.randn(n, t, p, 3) * torch.tensor([0.25, 0.6, 0.15]) + torch.tensor([0.1, -0.2, 3.0])


def tiny_encoder() -> torch.nn.Module:
    """The bare encoder of the registered ``point_sequence_encoder_tiny`` classifier."""
    return mmfusion.create_model("point_sequence_encoder_tiny", num_classes=0).encoder


def test_parameter_count_of_the_default_config() -> None:
    enc = PointSequenceEncoder()
    # SA 3->64->64->128 / 131->128->128->256, global 259->256->512->1024, 1024->256, 2 blocks 256-d
    assert sum(p.numel() for p in enc.parameters()) == 2_664_000
    assert enc.out_dim == 256 and enc.frame_dim == 1024


def test_tiny_forward_backward_and_batch_contract() -> None:
    model = mmfusion.create_model("point_sequence_encoder_tiny", num_classes=5)
    assert isinstance(model, ModalityClassifier)
    x = clip()
    out = model({"points": x, "skeleton": torch.zeros(1)})
    assert out["logits"].shape == (2, 5) and out["features"].shape == (2, 64)
    model.loss(out, torch.tensor([0, 4])).backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0
    with pytest.raises(MissingModalityError, match="points"):
        model({"skeleton": torch.zeros(1)})


def test_frame_features_and_pooling() -> None:
    enc = tiny_encoder().eval()
    x = clip(2, 4)
    with torch.no_grad():
        frames = enc.forward_frames(x)
        spatial = enc.forward_spatial(x)
        pooled = enc(x)
    assert frames.shape == (2, 4, 64) and spatial.shape == (2, 4, 128)
    torch.testing.assert_close(pooled, frames.mean(dim=1))
    torch.testing.assert_close(enc.forward_features(x), frames)
    # samples of a batch do not leak into each other
    with torch.no_grad():
        torch.testing.assert_close(enc(x[1:]), pooled[1:], rtol=1e-4, atol=1e-5)


def test_clip_normalisation_makes_the_encoder_position_and_scale_invariant() -> None:
    x = clip(1, 3)
    nx = normalize_clip(x)
    assert nx.mean(dim=(1, 2)).abs().max() < 1e-5
    assert nx.norm(dim=-1).amax() == pytest.approx(1.0, abs=1e-5)
    enc = tiny_encoder().eval()
    with torch.no_grad():
        a = enc(x)
        b = enc(x * 2.5 + torch.tensor([1.0, 0.5, -2.0]))
    torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)
    # a degenerate clip (all points identical) stays finite
    assert torch.isfinite(normalize_clip(torch.ones(1, 2, 8, 3))).all()


def test_bf16_autocast_on_cpu() -> None:
    enc = tiny_encoder().eval()
    x = clip(1, 2)
    with torch.no_grad():
        ref = enc(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = enc(x)
    assert torch.isfinite(y.float()).all()
    assert F.cosine_similarity(ref.flatten(), y.float().flatten(), dim=0) > 0.98


def test_input_validation() -> None:
    enc = PointSequenceEncoder(sa=((16, 0.3, 8, (8,)),), global_mlp=(16,), dim=16, depth=1, num_heads=2, max_frames=4)
    assert enc(clip(1, 2, 32)).shape == (1, 16)
    with pytest.raises(ConfigError, match="points per frame"):
        enc(clip(1, 2, 8))
    with pytest.raises(ConfigError, match="max_frames"):
        enc(clip(1, 5, 32))
    with pytest.raises(ConfigError, match=r"\(N, T, P, 3\)"):
        enc(torch.randn(2, 32, 3))
    with pytest.raises(ConfigError, match="grow"):
        PointSequenceEncoder(sa=((16, 0.3, 8, (8,)), (32, 0.5, 8, (8,))))
