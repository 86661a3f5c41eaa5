"""Unimodal baselines: frame_gru(_tiny) against a hand-built reference, ModalityClassifier pooling and errors."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

import mmfusion
from mmfusion.errors import ConfigError, MissingModalityError
from mmfusion.models.heads import ModalityClassifier
from mmfusion.models.unimodal import FrameGRU


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("modality,c", [("rgb", 3), ("depth", 1), ("ir", 1)])
def test_frame_gru_tiny_matches_its_parts(modality: str, c: int) -> None:
    model = mmfusion.create_model("frame_gru_tiny", modality=modality, num_classes=7).eval()
    assert isinstance(model, FrameGRU) and model.encoder.in_chans == c
    x = torch.randn(2, c, 4, 32, 32)
    with torch.no_grad():
        out = model({modality: x, "label": torch.zeros(2)})
        feats = model.proj(model.encoder(x))
        h = torch.zeros(2, 64)
        cell = nn.GRUCell(64, 64)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(model.gru, f"{name}_l0"))
        for t in range(4):
            h = cell(feats[:, t], h)
        ref = model.head(h)
    assert set(out) == {"logits", "features"} and out["logits"].shape == (2, 7)
    assert torch.allclose(out["logits"], ref, atol=1e-5)


def test_frame_gru_backward_sizes_and_errors() -> None:
    model = mmfusion.create_model("frame_gru_tiny", modality="depth")
    out = model({"depth": torch.randn(2, 1, 4, 32, 32)})
    nn.functional.cross_entropy(out["logits"], torch.tensor([1, 2])).backward()
    assert all(p.grad is not None for p in model.parameters())
    with pytest.raises(MissingModalityError, match="'depth'"):
        model({"rgb": torch.randn(2, 3, 4, 32, 32)})
    with pytest.raises(ConfigError):
        mmfusion.create_model("frame_gru_tiny", modality="points")
    with torch.device("meta"):
        full = mmfusion.create_model("frame_gru", modality="rgb", num_classes=60)
        tiny_mixer = mmfusion.create_model("mmixer_tiny", modalities=("rgb", "depth"))
        tiny_gru = mmfusion.create_model("frame_gru_tiny", modality="rgb")
    # ResNet-18 + Linear(512, 512) + GRU(512, 512) + Linear(512, 60)
    assert n_params(full) == 11_176_512 + 262_656 + 1_575_936 + 30_780
    # the baseline uses exactly one mmixer_tiny stream's encoder and projection
    assert n_params(tiny_gru.encoder) == n_params(tiny_mixer.encoders["rgb"])
    assert n_params(tiny_gru.proj) == n_params(tiny_mixer.proj["rgb"])


class _SeqEncoder(nn.Module):
    out_dim = 5

    def forward(self, x: Tensor) -> Tensor:  # (N, T, 5) -> itself
        return x


class _TupleEncoder(nn.Module):
    out_dim = 5

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return x.mean(dim=1), x


def test_modality_classifier_pools_time_and_reads_its_key() -> None:
    clf = ModalityClassifier(_SeqEncoder(), "skeleton", num_classes=3)
    x = torch.randn(2, 6, 5)
    out = clf({"skeleton": x, "rgb": torch.zeros(1)})
    assert torch.allclose(out["logits"], clf.head(x.mean(dim=1)), atol=1e-6)
    tup = ModalityClassifier(_TupleEncoder(), "points", num_classes=3)
    tup.head.load_state_dict(clf.head.state_dict())
    assert torch.allclose(tup({"points": x})["logits"], out["logits"], atol=1e-6)
    with pytest.raises(MissingModalityError, match="'skeleton'"):
        clf({"rgb": x})
    with pytest.raises(ConfigError, match=r"\(N, D\) or \(N, T, D\)"):
        clf({"skeleton": torch.randn(2, 5, 3, 4)})
    with pytest.raises(ConfigError, match="feature_dim"):
        ModalityClassifier(nn.Identity(), "rgb", 3)
    assert ModalityClassifier(nn.Identity(), "rgb", 3, feature_dim=5)({"rgb": x})["logits"].shape == (2, 3)


def test_registered_modality_classifier() -> None:
    model = mmfusion.create_model("modality_classifier", encoder="frame_tiny", key="ir", num_classes=4,
                                  encoder_kwargs={"modality": "ir"})
    out = model({"ir": torch.randn(2, 1, 3, 32, 32)})
    assert out["logits"].shape == (2, 4)
    assert "modality_classifier" in mmfusion.list_models(tag="model")


def test_modality_classifier_tensor_input_features_and_aux_loss() -> None:
    class _AuxEncoder(nn.Module):
        out_dim, has_aux = 5, True

        def forward(self, x: Tensor, return_aux: bool = False) -> tuple[Tensor, dict[str, Tensor]]:
            return x.mean(dim=1), {"loss_extra": torch.tensor(0.25)}

    clf = ModalityClassifier(_AuxEncoder(), "skeleton", num_classes=3, norm=True, label_smoothing=0.1)
    x = torch.randn(2, 6, 5)
    out = clf({"skeleton": x})
    assert torch.allclose(out["features"], x.mean(dim=1))
    assert torch.equal(clf(x), out["logits"])                      # a bare tensor gives the logits
    target = torch.tensor([0, 2])
    ce = torch.nn.functional.cross_entropy(out["logits"], target, label_smoothing=0.1)
    assert torch.allclose(clf.loss(out, target), ce + 0.25)
