"""``load_weights`` / ``create_model(checkpoint=...)``: misfitting weights raise CheckpointError (file + key)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from mmfusion.errors import CheckpointError
from mmfusion.registry import load_weights


def _net(width: int = 4) -> nn.Module:
    return nn.Sequential(nn.Linear(3, width), nn.ReLU(), nn.Linear(width, 2))


def test_matching_weights_load_exactly(tmp_path: Path) -> None:
    src, dst = _net(), _net()
    path = tmp_path / "ok.safetensors"
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, str(path))
    load_weights(dst, path)
    for key, value in src.state_dict().items():
        assert torch.equal(dst.state_dict()[key], value)


def test_shape_mismatch_names_file_and_first_key(tmp_path: Path) -> None:
    path = tmp_path / "wider.safetensors"
    save_file({k: v.contiguous() for k, v in _net(width=5).state_dict().items()}, str(path))
    dst = _net(width=4)
    before = {k: v.clone() for k, v in dst.state_dict().items()}
    with pytest.raises(CheckpointError) as info:
        load_weights(dst, path)
    msg = str(info.value)
    assert str(path) in msg
    assert "'0.weight'" in msg and "(5, 3)" in msg and "(4, 3)" in msg   # first in model order, both shapes
    assert "2.weight" not in msg
    # nothing was half-loaded
    for key, value in dst.state_dict().items():
        assert torch.equal(value, before[key])


def test_shape_mismatch_is_an_error_even_when_not_strict(tmp_path: Path) -> None:
    state = {k: v.contiguous() for k, v in _net().state_dict().items()}
    state["2.bias"] = torch.zeros(7)
    del state["0.bias"]
    path = tmp_path / "partial.safetensors"
    save_file(state, str(path))
    with pytest.raises(CheckpointError, match=r"'2\.bias'.*\(7,\)"):
        load_weights(_net(), path, strict=False)


def test_create_model_checkpoint_of_another_size(tmp_path: Path) -> None:
    import mmfusion

    small = mmfusion.create_model("frame_gru_tiny", num_classes=3)
    path = tmp_path / "three_classes.safetensors"
    save_file({k: v.contiguous() for k, v in small.state_dict().items()}, str(path))
    with pytest.raises(CheckpointError, match=r"three_classes\.safetensors.*head"):
        mmfusion.create_model("frame_gru_tiny", num_classes=5, checkpoint=path)
    again = mmfusion.create_model("frame_gru_tiny", num_classes=3, checkpoint=path)
    assert all(torch.equal(again.state_dict()[k], v) for k, v in small.state_dict().items())
