"""mmixer / mmixer_tiny: outputs, loss, both content variants, modality subsets, errors, sizes, weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

import mmfusion
from mmfusion.errors import ConfigError, MissingModalityError
from mmfusion.models.mmixer import MMixer

CH = {"rgb": 3, "depth": 1, "ir": 1}


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def batch(mods: tuple[str, ...] = ("rgb", "depth", "ir"), n: int = 2, t: int = 4, s: int = 32) -> dict:
    out: dict = {m: torch.randn(n, CH[m], t, s, s) for m in mods}
    out["label"] = torch.arange(n) % 10
    out["name"] = "S001C001P001R001A001"  # extra keys are ignored
    return out


@pytest.mark.parametrize("content", ["cfem", "mean"])
def test_tiny_forward_backward(content: str) -> None:
    model = mmfusion.create_model("mmixer_tiny", content=content, num_classes=10, aux_weight=0.5)
    b = batch()
    out = model(b)
    assert set(out) == {"logits", "features", "logits_rgb", "logits_depth", "logits_ir"}
    assert all(v.shape == (2, 10) and torch.isfinite(v).all() for k, v in out.items() if k.startswith("logits"))
    assert out["features"].shape == (2, 3 * 64) and torch.isfinite(out["features"]).all()
    loss = model.loss(out, b["label"])
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
    for m in ("rgb", "depth", "ir"):
        assert model.encoders[m].backbone.conv1[0].weight.grad.abs().sum() > 0
        assert model.mcu[m].cell.mix.weight.grad.abs().sum() > 0
    if content == "cfem":
        assert all(model.cfem.queries[m].grad.abs().sum() > 0 for m in ("rgb", "depth", "ir"))


def test_loss_is_plain_ce_by_default_and_aux_weighted_otherwise() -> None:
    b = batch()
    target = torch.tensor([3, 7])
    plain = mmfusion.create_model("mmixer_tiny").eval()
    out = plain(b)
    assert torch.allclose(plain.loss(out, target), F.cross_entropy(out["logits"], target))
    aux = mmfusion.create_model("mmixer_tiny", aux_weight=0.3).eval()
    out = aux(b)
    mean_aux = sum(F.cross_entropy(out[f"logits_{m}"], target) for m in ("rgb", "depth", "ir")) / 3
    assert torch.allclose(aux.loss(out, target), F.cross_entropy(out["logits"], target) + 0.3 * mean_aux)
    soft = torch.softmax(torch.randn(2, 10), dim=-1)
    assert torch.isfinite(aux.loss(out, soft))


def test_mean_content_is_projected_mean_of_the_others() -> None:
    model = mmfusion.create_model("mmixer_tiny", content="mean").eval()
    feats = {m: torch.randn(2, 4, 64) for m in ("rgb", "depth", "ir")}
    g = model.contents(feats)
    ref = model.content_proj["depth"](torch.cat([feats["rgb"].mean(1), feats["ir"].mean(1)], dim=-1))
    assert torch.allclose(g["depth"], ref, atol=1e-6)
    assert model.cfem is None and set(g) == {"rgb", "depth", "ir"}


@pytest.mark.parametrize("content", ["cfem", "mean"])
def test_stream_content_comes_from_the_other_modalities(content: str) -> None:
    model = mmfusion.create_model("mmixer_tiny", content=content).eval()
    b = batch()
    with torch.no_grad():
        f = {m: model.proj[m](model.encoders[m](b[m])) for m in model.modalities}
        g = model.contents(f)
        f2 = dict(f, rgb=f["rgb"] + torch.randn_like(f["rgb"]))  # not a constant: LN would remove it
        g2 = model.contents(f2)
    assert torch.allclose(g["rgb"], g2["rgb"], atol=1e-6)
    assert (g["depth"] - g2["depth"]).abs().max() > 1e-4
    # changing one sample never changes another's logits
    b2 = {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in b.items()}
    b2["ir"][1] += 1.0
    with torch.no_grad():
        assert torch.allclose(model(b)["logits"][0], model(b2)["logits"][0], atol=1e-6)
        assert (model(b)["logits"][1] - model(b2)["logits"][1]).abs().max() > 1e-6


@pytest.mark.parametrize("mods", [("rgb", "depth"), ("depth", "ir"), ("ir", "rgb")])
def test_two_modality_subsets(mods: tuple[str, ...]) -> None:
    for content in ("cfem", "mean"):
        model = mmfusion.create_model("mmixer_tiny", modalities=mods, content=content, num_classes=5)
        out = model(batch(mods, s=32))
        assert set(out) == {"logits", "features"}  # per-stream heads only with aux_weight > 0
        out = mmfusion.create_model("mmixer_tiny", modalities=mods, content=content, num_classes=5,
                                    aux_weight=0.5)(batch(mods, s=32))
        assert set(out) == {"logits", "features", *(f"logits_{m}" for m in mods)}
        assert out["logits"].shape == (2, 5)


def test_modalities_may_differ_in_length_and_size() -> None:
    model = mmfusion.create_model("mmixer_tiny").eval()
    b = {"rgb": torch.randn(2, 3, 4, 32, 32), "depth": torch.randn(2, 1, 6, 48, 40), "ir": torch.randn(2, 1, 3, 32, 32)}
    assert model(b)["logits"].shape == (2, 10)


def test_config_and_batch_errors() -> None:
    with pytest.raises(ConfigError, match="two or more"):
        mmfusion.create_model("mmixer_tiny", modalities=("rgb",))
    with pytest.raises(ConfigError, match="two or more"):
        mmfusion.create_model("mmixer_tiny", modalities="rgb")
    with pytest.raises(ConfigError, match="two or more"):
        mmfusion.create_model("mmixer_tiny", modalities=("rgb", "rgb"))
    with pytest.raises(ConfigError, match="skeleton"):
        mmfusion.create_model("mmixer_tiny", modalities=("rgb", "skeleton"))
    with pytest.raises(ConfigError, match="content"):
        mmfusion.create_model("mmixer_tiny", content="attention")
    with pytest.raises(ConfigError, match="not in use"):
        mmfusion.create_model("mmixer_tiny", modalities=("rgb", "depth"), pretrained_paths={"ir": "x.safetensors"})
    model = mmfusion.create_model("mmixer_tiny")
    b = batch(("rgb", "depth"))
    with pytest.raises(MissingModalityError, match="'ir'") as err:
        model(b)
    assert err.value.modality == "ir"
    b = batch()
    b["depth"] = torch.randn(3, 1, 4, 32, 32)
    with pytest.raises(ConfigError, match="batch sizes"):
        model(b)
    b = batch()
    b["ir"] = torch.randn(2, 3, 4, 32, 32)
    with pytest.raises(ConfigError, match=r"\(N, 1, T, H, W\)"):
        model(b)
    b["ir"] = torch.randn(2, 4, 32, 32)
    with pytest.raises(ConfigError, match="ir"):
        model(b)


def test_bf16_autocast_close_to_fp32() -> None:
    model = mmfusion.create_model("mmixer_tiny").eval()
    b = batch()
    with torch.no_grad():
        ref = model(b)["logits"]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(b)["logits"]
    assert torch.isfinite(low).all()
    assert (low.float() - ref).abs().max() < 0.05 * ref.abs().max() + 0.02


def test_sizes() -> None:
    with torch.device("meta"):
        full = mmfusion.create_model("mmixer", num_classes=60)
        wacv = mmfusion.create_model("mmixer", num_classes=60, content="mean")
        tiny = mmfusion.create_model("mmixer_tiny", num_classes=10)
    assert n_params(full) == 44_649_468
    assert n_params(wacv) == 43_061_756
    assert n_params(tiny) == 1_300_986
    with torch.device("meta"):  # aux_weight > 0 adds a Linear(d, K) head per stream
        aux = mmfusion.create_model("mmixer", num_classes=60, aux_weight=0.5)
    assert n_params(aux) == 44_649_468 + 3 * (512 * 60 + 60)
    assert n_params(full.encoders) == 11_176_512 + 2 * (11_176_512 - 2 * 64 * 49)
    # per stream: mix Linear(1024, 512) + content Linear(512, 512) + a GRU cell 512 -> 512
    assert n_params(full.mcu) == 3 * ((1024 * 512 + 512) + (512 * 512 + 512) + 2 * 3 * (512 * 512 + 512))
    assert full.dim == 512 and tiny.dim == 64


def test_pretrained_paths_and_checkpoint_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(2)
    ref = timm.create_model("test_resnet", pretrained=False, num_classes=3)
    ckpt = tmp_path / "test_resnet_in.safetensors"
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(ckpt))
    model = mmfusion.create_model("mmixer_tiny", modalities=("rgb", "depth"), pretrained_paths={"rgb": str(ckpt)})
    assert torch.equal(model.encoders["rgb"].backbone.layer4[0].conv2.weight, ref.layer4[0].conv2.weight)
    assert not torch.equal(model.encoders["depth"].backbone.layer4[0].conv2.weight, ref.layer4[0].conv2.weight)
    # a whole-model safetensors file loads strictly through the registry
    model.eval()
    saved = tmp_path / "mmixer.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(saved))
    again = mmfusion.create_model("mmixer_tiny", modalities=("rgb", "depth"), checkpoint=saved).eval()
    b = batch(("rgb", "depth"))
    with torch.no_grad():
        assert torch.equal(again(b)["logits"], model(b)["logits"])


def test_direct_class_with_per_modality_backbones() -> None:
    model = MMixer(("rgb", "ir"), num_classes=4, backbone={"rgb": "test_resnet", "ir": "resnet10t"}, dim=32,
                   cfem_heads=4)
    assert model.encoders["ir"].backbone_name == "resnet10t"
    assert model(batch(("rgb", "ir"), s=32))["logits"].shape == (2, 4)
    with pytest.raises(ConfigError, match="no backbone"):
        MMixer(("rgb", "ir"), backbone={"rgb": "test_resnet"})


@pytest.mark.real
def test_real_ntu_depth_and_rgb(real_samples: Path) -> None:
    import numpy as np

    from mmfusion.data.formats.depth import read_depth_folder
    from mmfusion.data.formats.video import read_video

    ntu = real_samples / "ntu"
    depth = read_depth_folder(ntu / "nturgb+d_depth_masked" / "S001C001P001R001A058", indices=[0, 10, 20, 30])
    rgb = read_video(ntu / "nturgb+d_rgb" / "S001C001P001R001A001_rgb.avi", indices=[0, 10, 20, 30])
    d = torch.from_numpy(depth.astype(np.float32) / 1000.0)[None, None]  # (1, 1, T, H, W) metres
    r = torch.from_numpy(rgb).float().div(255).permute(3, 0, 1, 2)[None]  # (1, 3, T, H, W)
    d = F.interpolate(d, size=(4, 64, 64), mode="trilinear")
    r = F.interpolate(r, size=(4, 64, 64), mode="trilinear")
    model = mmfusion.create_model("mmixer_tiny", modalities=("rgb", "depth"), num_classes=60).eval()
    with torch.no_grad():
        out = model({"rgb": r, "depth": d})
    assert out["logits"].shape == (1, 60) and torch.isfinite(out["logits"]).all()
