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


# -- run folders, configs, registration, exports ----------------------------------------------------

def test_run_folder_round_trip(tmp_path: Path) -> None:
    import mmfusion
    from mmfusion.runs import read_run_config, save_run

    torch.manual_seed(0)
    model = mmfusion.create_model("stgcn_tiny", num_classes=4)
    run = save_run(tmp_path / "run", model, "stgcn_tiny", {"num_classes": 4}, classes=[0, 1, 2, 3],
                   modalities=["skeleton"], extra={"clip_len": 32, "layout": "ntu25"})
    cfg = read_run_config(run)
    assert cfg["model_name"] == "stgcn_tiny" and cfg["model_kwargs"] == {"num_classes": 4}
    assert cfg["clip_len"] == 32 and cfg["weights"] == "model.safetensors"
    again = mmfusion.create_model("stgcn_tiny", checkpoint=run)  # num_classes from config.json
    assert again.num_classes == 4
    assert all(torch.equal(again.state_dict()[k], v) for k, v in model.state_dict().items())
    with pytest.raises(CheckpointError, match="for model 'stgcn_tiny', not 'hypergcn_tiny'"):
        mmfusion.create_model("hypergcn_tiny", checkpoint=run)


def test_broken_run_folders_are_named(tmp_path: Path) -> None:
    import mmfusion
    from mmfusion.runs import read_run_config

    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"config\.json: not valid JSON"):
        read_run_config(tmp_path)
    with pytest.raises(CheckpointError, match="not found"):
        mmfusion.create_model("stgcn_tiny", checkpoint=tmp_path / "missing")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        mmfusion.create_model("stgcn_tiny", checkpoint=bad)


def test_registration_is_explicit_and_conflicts_fail() -> None:
    import importlib

    import mmfusion
    from mmfusion.errors import ConfigError
    from mmfusion.registry import MODEL_MODULES, register_model

    for module in MODEL_MODULES:
        importlib.import_module(module)  # every listed module imports (no silent skip)
    registered = {mmfusion.registry._model_to_module[n] for n in mmfusion.list_models()}
    assert registered <= set(MODEL_MODULES)

    def stgcn_tiny() -> nn.Module:  # same name, another module
        return nn.Identity()

    stgcn_tiny.__module__ = "somewhere.else"
    with pytest.raises(ConfigError, match="registered by both"):
        register_model(stgcn_tiny)


def test_public_exports() -> None:
    import mmfusion.encoders as enc
    from mmfusion.encoders import STGCN, FrameEncoder2D, HyperGCN, SkeletonTransformer, XShiftNet  # noqa: F401
    from mmfusion.fusion import (  # noqa: F401
        CFEM,
        MCU,
        DeformableAttention3D,
        JointStrideAttention,
        PoseGuidedAttention,
        TemporalStrideAttention,
    )

    assert "STGCN" in dir(enc) and "XShiftNet" in enc.__all__
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        enc.Nope  # noqa: B018


def test_import_mmfusion_stays_light() -> None:
    import subprocess
    import sys

    code = ("import sys, mmfusion; heavy = [m for m in ('timm', 'open3d', 'accelerate', 'torchvision', "
            "'mmfusion.models', 'mmfusion.encoders.frame2d') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
