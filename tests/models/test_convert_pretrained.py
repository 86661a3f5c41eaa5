"""``create_model(name, pretrained=...)``, ``save_pretrained`` / ``from_pretrained`` (Hub layout, offline)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

import mmfusion
from mmfusion.errors import CheckpointError, ConfigError
from mmfusion.models.pretrained import from_pretrained, save_pretrained


def _logits(model: torch.nn.Module, name: str) -> torch.Tensor:
    batch = mmfusion.dummy_inputs(name, batch_size=2, clip_len=16, seed=3)
    with torch.no_grad():
        return model.eval()(batch)["logits"]


def test_official_file_round_trips_bitwise_through_save_and_from_pretrained(tmp_path: Path,
                                                                             official_keys: Any) -> None:
    table = official_keys.table("aimclr")
    src = official_keys.save(table, official_keys.fake(table), tmp_path / "aimclr_linear.pt")
    model = mmfusion.create_model("aimclr_stgcn", pretrained=src)  # converted in memory
    folder = save_pretrained(model, tmp_path / "hub")
    assert {p.name for p in folder.iterdir()} == {"config.json", "model.safetensors"}
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["model_name"] == "aimclr_stgcn" and cfg["model_kwargs"]["num_classes"] == 60
    again = from_pretrained(folder)
    assert type(again) is type(model)
    assert torch.equal(_logits(model, "aimclr_stgcn"), _logits(again, "aimclr_stgcn"))
    via_registry = mmfusion.create_model("aimclr_stgcn", pretrained=folder)
    assert torch.equal(_logits(model, "aimclr_stgcn"), _logits(via_registry, "aimclr_stgcn"))


def test_pretrained_safetensors_file_and_kwarg_override(tmp_path: Path) -> None:
    model = mmfusion.create_model("stgcn_tiny", num_classes=5)
    folder = save_pretrained(model, tmp_path / "m")
    loaded = mmfusion.create_model("stgcn_tiny", pretrained=folder / "model.safetensors", num_classes=5)
    assert torch.equal(_logits(model, "stgcn_tiny"), _logits(loaded, "stgcn_tiny"))
    with pytest.raises(CheckpointError, match="head"):  # a different head does not fit the saved weights
        from_pretrained(folder, num_classes=7)


def test_hub_id_without_network_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("huggingface_hub")
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.chdir(tmp_path)  # "someone/model" must not exist as a local folder
    with pytest.raises(CheckpointError, match="someone/stgcn-ntu60.*Hugging Face Hub"):
        from_pretrained("someone/stgcn-ntu60")
    with pytest.raises(CheckpointError, match="someone/stgcn-ntu60"):
        mmfusion.create_model("stgcn", pretrained="someone/stgcn-ntu60")


def test_missing_path_and_ambiguous_arguments(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        mmfusion.create_model("stgcn_tiny", pretrained=tmp_path / "nothing" / "here.pth")
    with pytest.raises(ConfigError, match="not both"):
        mmfusion.create_model("stgcn_tiny", checkpoint=tmp_path, pretrained=tmp_path)


def test_save_pretrained_needs_the_model_name_when_not_built_by_create_model(tmp_path: Path) -> None:
    bare = torch.nn.Linear(2, 2)
    with pytest.raises(ConfigError, match="model_name"):
        save_pretrained(bare, tmp_path / "x")
    model = mmfusion.create_model("stgcn_tiny")
    plain = type(model).__new__(type(model))
    plain.__dict__.update({k: v for k, v in model.__dict__.items() if k != "mmfusion_cfg"})
    folder = save_pretrained(plain, tmp_path / "y", model_name="stgcn_tiny", model_kwargs={})
    assert torch.equal(_logits(model, "stgcn_tiny"), _logits(from_pretrained(folder), "stgcn_tiny"))
