"""The model contract: every registered entry has a config whose dummy batch runs it; every classifier
follows timm's ``num_classes=0`` / ``forward_features`` / ``forward_head`` / ``reset_classifier`` contract."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import mmfusion
from mmfusion.model_cfg import call_model
from mmfusion.registry import model_tags

ALL = mmfusion.list_models()
SMALL = [n for n in ALL if "test" in model_tags(n)]
CLASSIFIERS_SMALL = [n for n in SMALL if mmfusion.get_model_cfg(n).kind == "classifier"]
# full-size forwards cost about a second each at batch 1 on one CPU thread; the point-sequence
# encoder runs PointNet++ on 24 x 2048 points (6 s), so its clip is shortened (still from its config)
OVERRIDES: dict[str, dict[str, int]] = {"point_sequence_encoder": {"clip_len": 4}}


def _tensors(obj: object) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, dict):
        return [t for v in obj.values() for t in _tensors(v)]
    if isinstance(obj, (list, tuple)):
        return [t for v in obj for t in _tensors(v)]
    return []


def test_every_entry_has_a_config() -> None:
    for name in ALL:
        cfg = mmfusion.get_model_cfg(name)
        assert cfg.inputs and cfg.source, name
        assert cfg.kind in ("classifier", "encoder", "fusion", "pose"), name
        for key, spec in cfg.inputs.items():
            assert len(spec.layout.split()) == len(spec.shape), (name, key)
        if cfg.clip_len is not None:
            assert any("T" in s.layout.split() and s.axis("T") == cfg.clip_len for s in cfg.inputs.values()), name


@pytest.mark.parametrize("name", ALL)
def test_dummy_inputs_from_the_config_alone_run_the_model(name: str) -> None:
    cfg = mmfusion.get_model_cfg(name)
    n = 2 if name in SMALL else 1
    batch = mmfusion.dummy_inputs(name, batch_size=n, **OVERRIDES.get(name, {}))
    for key, spec in cfg.inputs.items():
        assert batch[key].dtype == getattr(torch, spec.dtype)
        if name not in OVERRIDES:
            assert batch[key].shape == (n, *spec.shape)
    torch.manual_seed(0)
    model = mmfusion.create_model(name).eval()
    with torch.no_grad():
        out = call_model(model, cfg, batch)
    tensors = _tensors(out)
    assert tensors and all(torch.isfinite(t.float()).all() for t in tensors if t.is_floating_point()), name
    if cfg.kind == "classifier":
        assert out["logits"].shape == (n, cfg.num_classes or model.num_features)


@pytest.mark.parametrize("name", CLASSIFIERS_SMALL)
def test_num_classes_zero_gives_pooled_features_and_reset_classifier_works(name: str) -> None:
    cfg = mmfusion.get_model_cfg(name)
    batch = mmfusion.dummy_inputs(name, batch_size=2)
    torch.manual_seed(0)
    model = mmfusion.create_model(name, num_classes=0).eval()
    d = model.num_features
    assert isinstance(d, int) and d > 0
    assert not any(isinstance(m, nn.Linear) and m.out_features == 0 for m in model.modules())
    with torch.no_grad():
        feats = call_model(model, cfg, batch)["logits"]
        assert feats.shape == (2, d)
        # timm's split: forward_head(forward_features(x)) is forward(x); pre_logits are the features
        unpooled = model.forward_features(batch)
        torch.testing.assert_close(model.forward_head(unpooled), feats)
        torch.testing.assert_close(model.forward_head(unpooled, pre_logits=True), feats)
    n0 = sum(p.numel() for p in model.parameters())
    model.reset_classifier(7)
    assert model.num_classes == 7
    assert sum(p.numel() for p in model.parameters()) >= n0 + 7 * d
    with torch.no_grad():
        logits = call_model(model, cfg, batch)["logits"]
        torch.testing.assert_close(model.forward_head(model.forward_features(batch)), logits)
        torch.testing.assert_close(model.forward_head(model.forward_features(batch), pre_logits=True), feats)
    assert logits.shape == (2, 7)
    model.reset_classifier(0)
    with torch.no_grad():
        torch.testing.assert_close(call_model(model, cfg, batch)["logits"], feats)


@pytest.mark.parametrize("name", CLASSIFIERS_SMALL)
def test_one_entry_returns_one_class(name: str) -> None:
    k = mmfusion.get_model_cfg(name).num_classes or 5
    assert type(mmfusion.create_model(name, num_classes=0)) is type(mmfusion.create_model(name, num_classes=k))


def test_dummy_inputs_overrides_and_errors() -> None:
    b = mmfusion.dummy_inputs("stgcn_tiny", batch_size=3, clip_len=12, labels=True, seed=4)
    assert b["skeleton"].shape == (3, 3, 12, 25, 2) and b["label"].shape == (3,)
    assert int(b["label"].max()) < 60
    torch.testing.assert_close(b["skeleton"], mmfusion.dummy_inputs("stgcn_tiny", 3, clip_len=12, seed=4)["skeleton"])
    assert float(b["skeleton"][:, 2].mean()) == pytest.approx(3.0, abs=0.2)  # z about 3 m in front of the camera
    pts = mmfusion.dummy_inputs("point_sequence_encoder_tiny", 1, shapes={"points": (2, 64, 3)})["points"]
    assert pts.shape == (1, 2, 64, 3)
    heat = mmfusion.dummy_inputs("epam_net_tiny", 1)["heatmap"]
    assert float(heat.min()) >= 0.0 and float(heat.max()) <= 1.0
    with pytest.raises(mmfusion.ConfigError, match="no input"):
        mmfusion.dummy_inputs("stgcn_tiny", shapes={"rgb": (3, 8, 32, 32)})
    with pytest.raises(mmfusion.ConfigError, match="unknown model"):
        mmfusion.get_model_cfg("no_such_model")


def test_published_figures_sit_beside_the_entries() -> None:
    cfg = mmfusion.get_model_cfg("stgcn")
    n = sum(p.numel() for p in mmfusion.create_model("stgcn").parameters())
    assert cfg.paper_params == n == 3_098_832
    mamp = mmfusion.get_model_cfg("mamp_transformer")
    n = sum(p.numel() for p in mmfusion.create_model("mamp_transformer").parameters())
    assert mamp.paper_params is not None and math.isclose(n, mamp.paper_params, rel_tol=1e-3)


def test_rgb_normalisation_matches_the_data_pipeline() -> None:
    from mmfusion.data.transforms import IMAGENET_MEAN, IMAGENET_STD

    spec = mmfusion.get_model_cfg("epam_net").inputs["rgb"]
    assert spec.mean == IMAGENET_MEAN and spec.std == IMAGENET_STD and spec.layout == "C T H W"
