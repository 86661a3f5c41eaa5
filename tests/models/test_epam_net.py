"""EPAM-Net model: sizes, outputs, loss, errors, autocast, ONNX export, compile."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import mmfusion
from mmfusion.errors import CheckpointError, ConfigError, MissingModalityError
from mmfusion.models.epam_net import EPAMNet


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def tiny_batch(n: int = 2) -> dict[str, torch.Tensor]:
    return {"rgb": torch.randn(n, 3, 8, 64, 64), "heatmap": torch.rand(n, 17, 24, 16, 16),
            "label": torch.zeros(n, dtype=torch.long)}


def randomise_stats(model: nn.Module) -> None:
    """Non-trivial BN statistics and head weights so that outputs are O(1) in eval mode."""
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm3d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            elif isinstance(m, nn.Linear):
                m.weight.normal_(0, 0.5, generator=g)


def test_full_size_params_shapes_and_macs() -> None:
    with torch.device("meta"):
        model = mmfusion.create_model("epam_net", num_classes=60)
        model120 = mmfusion.create_model("epam_net", num_classes=120)
    total = n_params(model)
    assert total == 2_538_717, f"EPAM-Net (60 classes) has {total} params"
    assert n_params(model120) == 2_577_717
    assert n_params(model.attention) == 107
    batch = {"rgb": torch.empty(1, 3, 16, 224, 224, device="meta"),
             "heatmap": torch.empty(1, 17, 48, 56, 56, device="meta")}
    counter = FlopCounterMode(display=False)
    with counter:
        out = model(batch)
    assert out["logits"].shape == (1, 60) and out["attention"].shape == (1, 1, 16, 7, 7)
    macs = counter.get_total_flops() / 2
    assert abs(macs / 7.62e9 - 1) < 0.01, f"EPAM-Net: {macs / 1e9:.3f} GMACs"


def test_tiny_forward_outputs_and_loss() -> None:
    model = mmfusion.create_model("epam_net_tiny", num_classes=5)
    batch = tiny_batch()
    out = model(batch)
    assert set(out) == {"logits", "logits_rgb", "logits_pose", "features", "attention"}
    assert out["logits"].shape == (2, 5) and out["attention"].shape == (2, 1, 8, 2, 2)
    torch.testing.assert_close(out["logits"], out["logits_rgb"] + out["logits_pose"])
    target = torch.tensor([1, 4])
    loss = model.loss(out, target)
    ref = F.cross_entropy(out["logits_rgb"], target) + F.cross_entropy(out["logits_pose"], target)
    torch.testing.assert_close(loss, ref)
    soft = F.one_hot(target, 5).float()
    torch.testing.assert_close(model.loss(out, soft), ref)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    # attention gets a learning signal through the RGB head
    assert model.attention.spatial_conv.weight.grad.abs().sum() > 0


def test_streams_are_wired_correctly() -> None:
    model = mmfusion.create_model("epam_net_tiny", num_classes=3)
    randomise_stats(model)
    model.eval()
    batch = tiny_batch(1)
    with torch.no_grad():
        out = model(batch)
        pose_feats = model.pose_backbone(batch["heatmap"])
        rgb_feats = model.rgb_backbone(batch["rgb"])
        torch.testing.assert_close(out["logits_pose"], model.pose_head(pose_feats))
        guided = rgb_feats * (1 + out["attention"])
        torch.testing.assert_close(out["logits_rgb"], model.rgb_head(guided))
        # changing only the heatmap changes the RGB logits too (through the attention)
        other = dict(batch, heatmap=torch.rand_like(batch["heatmap"]))
        out2 = model(other)
    assert not torch.allclose(out2["logits_rgb"], out["logits_rgb"])


def test_missing_modality_and_shape_errors() -> None:
    model = mmfusion.create_model("epam_net_tiny")
    batch = tiny_batch(1)
    for key in ("rgb", "heatmap"):
        with pytest.raises(MissingModalityError, match=key):
            model({k: v for k, v in batch.items() if k != key})
    with pytest.raises(ConfigError, match="spatial"):
        model(dict(batch, heatmap=torch.rand(1, 17, 24, 32, 32)))
    with pytest.raises(ConfigError, match="multiple"):
        model(dict(batch, heatmap=torch.rand(1, 17, 20, 16, 16)))
    with pytest.raises(ConfigError):
        EPAMNet(num_classes=-1)  # 0 is allowed: pooled features


def test_bf16_autocast_training_step() -> None:
    model = mmfusion.create_model("epam_net_tiny", num_classes=4)
    batch = tiny_batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(batch)
        loss = model.loss(out, torch.tensor([0, 3]))
    assert out["logits"].dtype == torch.bfloat16 and loss.dtype == torch.float32
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


class _Exportable(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, rgb: torch.Tensor, heatmap: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model({"rgb": rgb, "heatmap": heatmap})
        return out["logits"], out["attention"]


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")  # legacy exporter chatter
@pytest.mark.parametrize("dynamo", [False, True])
def test_onnx_export_matches(dynamo: bool, tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    model = mmfusion.create_model("epam_net_tiny", num_classes=6)
    randomise_stats(model)
    wrapper = _Exportable(model).eval()  # export restores the wrapper's mode: it must be eval itself
    b = tiny_batch(2)
    args = (b["rgb"], b["heatmap"])
    names = {"input_names": ["rgb", "heatmap"], "output_names": ["logits", "attention"]}
    if dynamo:
        pytest.importorskip("onnxscript")
        path = tmp_path / "epam_tiny.onnx"
        torch.onnx.export(wrapper, args, str(path), dynamo=True, **names)
        sess = ort.InferenceSession(str(path))
        feed = b
    else:
        buf = io.BytesIO()
        torch.onnx.export(wrapper, args, buf, dynamo=False, opset_version=17,
                          dynamic_axes={"rgb": {0: "n"}, "heatmap": {0: "n"}}, **names)
        sess = ort.InferenceSession(buf.getvalue())
        feed = tiny_batch(3)  # dynamic batch axis
    got = sess.run(None, {"rgb": feed["rgb"].numpy(), "heatmap": feed["heatmap"].numpy()})
    with torch.no_grad():
        ref = wrapper(feed["rgb"], feed["heatmap"])
    assert float(ref[0].abs().max()) > 0.05  # outputs are not trivially tiny
    for g, r in zip(got, ref):
        assert g.shape == tuple(r.shape)
        assert np.abs(g - r.numpy()).max() < 1e-4


@pytest.mark.slow
def test_torch_compile_tiny() -> None:
    model = mmfusion.create_model("epam_net_tiny", num_classes=3).eval()
    batch = tiny_batch(1)
    compiled = torch.compile(model)
    with torch.no_grad():
        ref = model(batch)
        out = compiled(batch)
    torch.testing.assert_close(out["logits"], ref["logits"], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out["attention"], ref["attention"], atol=1e-5, rtol=1e-4)


def test_load_stream_from_unimodal_checkpoint(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    uni = mmfusion.create_model("xshiftnet_pose_tiny", num_classes=4)
    for p in uni.parameters():
        nn.init.normal_(p)
    path = tmp_path / "pose.safetensors"
    save_file({k: v.contiguous() for k, v in uni.state_dict().items()}, str(path))
    model = mmfusion.create_model("epam_net_tiny", num_classes=4)
    model.load_stream("pose", path)
    torch.testing.assert_close(model.pose_head.fc.weight, uni.head.fc.weight)
    torch.testing.assert_close(model.pose_backbone.stem[0].weight, uni.backbone.stem[0].weight)
    with pytest.raises(CheckpointError, match="rgb"):
        model.load_stream("rgb", path)
    with pytest.raises(CheckpointError):
        model.load_stream("pose", tmp_path / "missing.safetensors")
    with pytest.raises(ConfigError):
        model.load_stream("depth", path)
