"""Official checkpoints -> mmfusion: every converter against the official key table of its source.

Each fixture (``fixtures/official_keys/<name>.json``) lists the official state dict's names and
shapes in the official order; the ``official_keys`` fixture (conftest) builds a fake official file
from it (seeded random tensors in the official nesting), which is converted, loaded strictly and run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch

import mmfusion
from mmfusion.errors import CheckpointError, ConfigError
from mmfusion.models.converters import get_converter, list_sources
from mmfusion.models.pretrained import convert_checkpoint, load_official

TABLES = sorted(p.stem for p in (Path(__file__).parent / "fixtures" / "official_keys").glob("*.json"))


def test_every_source_has_an_official_key_table(official_keys: Any) -> None:
    covered = {official_keys.table(n)["source"] for n in TABLES}
    assert covered == {get_converter(s).source for s in list_sources()}


@pytest.mark.parametrize("name", TABLES)
def test_official_checkpoint_converts_and_loads_strictly(name: str, tmp_path: Path, official_keys: Any) -> None:
    table = official_keys.table(name)
    official = official_keys.fake(table)
    src = official_keys.save(table, official, tmp_path / "official.pth")
    out = convert_checkpoint(src, tmp_path / "run", table["source"])
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model_name"] == table["model"] and cfg["converted_from"]["source"] == table["source"]
    model = mmfusion.create_model(table["model"], checkpoint=out).eval()  # strict load
    state = model.state_dict()
    conv = get_converter(table["source"])
    # every official tensor lands, unchanged up to a reshape, under the name the converter gives it
    for key, value in official.items():
        ours = conv.rename(key)
        if ours in state and not key.endswith("num_batches_tracked") and value.dim() == state[ours].dim():
            assert torch.equal(state[ours], value), key
    batch = mmfusion.dummy_inputs(table["model"], batch_size=1, clip_len=16)
    with torch.no_grad():
        logits = model(batch)["logits"]
    assert logits.shape == (1, cfg["model_kwargs"]["num_classes"]) and torch.isfinite(logits).all()


def test_classifier_stored_as_1x1_conv_fills_the_linear_head(tmp_path: Path, official_keys: Any) -> None:
    table = official_keys.table("stgcn")
    official = official_keys.fake(table)
    assert official["fcn.weight"].shape == (60, 256, 1, 1)
    model, conv = load_official(official_keys.save(table, official, tmp_path / "st_gcn.pth"), "stgcn")
    assert conv.model_kwargs["num_classes"] == 60
    assert torch.equal(model.head.weight, official["fcn.weight"].flatten(1))


def test_module_prefix_and_missing_counters_are_tolerated(tmp_path: Path, official_keys: Any) -> None:
    table = official_keys.table("ctrgcn")
    official = {f"module.{k}": v for k, v in official_keys.fake(table).items() if not k.endswith("num_batches_tracked")}
    model, _ = load_official(official_keys.save(table, official, tmp_path / "dp.pth"), "ctrgcn")
    assert torch.equal(model.head.weight, official["module.fc.weight"])


@pytest.mark.parametrize("change", ["missing", "extra"])
def test_incomplete_or_foreign_checkpoint_is_refused_with_the_key_names(change: str, tmp_path: Path,
                                                                        official_keys: Any) -> None:
    table = official_keys.table("ctrgcn")
    official = official_keys.fake(table)
    if change == "missing":
        del official["l3.gcn1.convs.1.conv2.weight"]
        expect = [r"1 missing", r"encoder\.layers\.2\.gcn1\.convs\.1\.conv2\.weight", r"\(8, 64, 1, 1\)"]
    else:
        official["l3.gcn1.extra_gate"] = torch.zeros(4, 2)
        expect = [r"1 unexpected", r"l3\.gcn1\.extra_gate|layers\.2\.gcn1\.extra_gate", r"\(4, 2\)"]
    src = official_keys.save(table, official, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError) as err:
        convert_checkpoint(src, tmp_path / "run", "ctrgcn")
    for pattern in expect:
        assert re.search(pattern, str(err.value)), str(err.value)
    assert str(src) in str(err.value)
    assert not (tmp_path / "run").exists()


def test_a_different_frozen_graph_is_refused(tmp_path: Path, official_keys: Any) -> None:
    table = official_keys.table("stgcn")
    official = official_keys.fake(table)
    official["A"] = official["A"].flip(-1)
    with pytest.raises(CheckpointError, match="frozen graph"):
        load_official(official_keys.save(table, official, tmp_path / "other_graph.pth"), "stgcn")


def test_wrong_shapes_are_refused_with_both_shapes(tmp_path: Path, official_keys: Any) -> None:
    table = official_keys.table("aimclr")
    official = official_keys.fake(table)
    official["encoder_q.st_gcn_networks.1.gcn.conv.weight"] = torch.zeros(48, 8, 1, 1)
    with pytest.raises(CheckpointError, match=r"\(48, 8, 1, 1\).*\(48, 16, 1, 1\)"):
        load_official(official_keys.save(table, official, tmp_path / "w.pth"), "aimclr")


def test_pretraining_state_is_dropped_and_reported(tmp_path: Path, official_keys: Any) -> None:
    table = official_keys.table("aimclr")
    official = {k: v for k, v in official_keys.fake(table).items() if not k.startswith("encoder_q.fc.")}
    official.update({"encoder_q.fc.0.weight": torch.zeros(256, 256), "encoder_q.fc.2.weight": torch.zeros(128, 256),
                     "encoder_k.data_bn.weight": torch.zeros(75), "queue": torch.zeros(128, 32),
                     "queue_ptr": torch.zeros(1)})
    src = official_keys.save(table, official, tmp_path / "pretrain.pth")
    model, conv = load_official(src, "aimclr")
    assert conv.backbone_only and conv.fresh == ["head.weight", "head.bias"]
    assert {"queue", "queue_ptr", "encoder_k.data_bn.weight", "encoder_q.fc.0.weight"} <= set(conv.dropped)
    assert torch.equal(model.encoder.blocks[3].gcn.conv.weight, official["encoder_q.st_gcn_networks.3.gcn.conv.weight"])
    bare, _ = load_official(src, "aimclr", num_classes=0)
    assert not any(k.startswith("head.") for k in bare.state_dict())


def test_mamp_pretraining_file_fills_the_encoder_and_refuses_a_missing_block(tmp_path: Path,
                                                                             official_keys: Any) -> None:
    table = official_keys.table("mamp")
    official = {k: v for k, v in official_keys.fake(table).items() if not k.startswith("head.")}
    official.update({"mask_token": torch.zeros(1, 1, 256), "decoder_embed.weight": torch.zeros(256, 256),
                     "decoder_blocks.0.norm1.weight": torch.zeros(256)})
    src = official_keys.save(table, official, tmp_path / "mamp_pretrain.pth")
    model, conv = load_official(src, "mamp")
    assert conv.backbone_only and "head.weight" in conv.fresh and "mask_token" in conv.dropped
    assert torch.equal(model.encoder.pos_embed, official["pos_embed"])
    del official["blocks.7.mlp.fc2.bias"]
    with pytest.raises(CheckpointError, match=r"backbone.*blocks\.7\.mlp\.3\.bias"):
        load_official(official_keys.save(table, official, tmp_path / "broken.pth"), "mamp")


def test_psumnet_stream_is_read_from_the_shapes(tmp_path: Path, official_keys: Any) -> None:
    table = official_keys.table("psumnet_hand")
    _, conv = load_official(official_keys.save(table, official_keys.fake(table), tmp_path / "hand.pth"), "psumnet")
    assert conv.model_name == "psumnet_hand"
    with pytest.raises(ConfigError, match="psumnet_body"):
        get_converter("psumnet").convert(official_keys.fake(table), "stgcn")


def test_pickled_objects_are_not_loaded(tmp_path: Path) -> None:
    import pickle

    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"state_dict": {"w": Path("x")}}))
    with pytest.raises(CheckpointError, match="weights_only"):
        load_official(path, "ctrgcn")


def test_unknown_source_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="ctrgcn"):
        get_converter("nope")


def test_cli_convert_writes_a_loadable_run(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           official_keys: Any) -> None:
    from mmfusion.cli import main

    table = official_keys.table("stgcn")
    src = official_keys.save(table, official_keys.fake(table), tmp_path / "st_gcn.ntu-xsub.pt")
    assert main(["convert", str(src), str(tmp_path / "out"), "--from", "stgcn"]) == 0
    assert "stgcn" in capsys.readouterr().out
    mmfusion.create_model("stgcn", checkpoint=tmp_path / "out")


def test_hiclr_dstanet_layout_and_moco_prefix_convert_like_the_original(tmp_path: Path, official_keys: Any) -> None:
    table = official_keys.table("dstanet")
    original = official_keys.fake(table)
    hiclr: dict[str, torch.Tensor] = {}
    for key, value in original.items():  # HiCLR's net/dsta.py: proj = the input conv, input_map.0 = its BN
        key = key.replace("input_map.0.", "proj.").replace("input_map.1.", "input_map.0.")
        hiclr[f"encoder_q.{key}"] = value
    hiclr["queue"] = torch.zeros(128, 16)
    a, _ = load_official(official_keys.save(table, original, tmp_path / "dsta.pth"), "dstanet")
    b, conv = load_official(official_keys.save(table, hiclr, tmp_path / "hiclr.pth"), "dstanet")
    assert conv.dropped == ["queue"]
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb), ka


def test_a_non_zero_constant_buffer_is_refused(tmp_path: Path, official_keys: Any) -> None:
    table = official_keys.table("dstanet")
    official = official_keys.fake(table)
    official["graph_layers.2.atts"] = torch.ones_like(official["graph_layers.2.atts"])
    with pytest.raises(CheckpointError, match="graph_layers.2.atts"):
        load_official(official_keys.save(table, official, tmp_path / "x.pth"), "dstanet")


def test_pyskl_hrnet_checkpoint_gets_the_coco_layout(tmp_path: Path, official_keys: Any) -> None:
    table = official_keys.table("pyskl_stgcnpp")
    official = official_keys.fake(table)
    for key, value in list(official.items()):  # an HRNet config: 17 joints, (x, y, score)
        if key.startswith("backbone.data_bn.") and value.dim() == 1:
            official[key] = value[:51].clone()
        elif key.endswith("gcn.A"):
            official[key] = torch.rand(value.shape[0], 17, 17)
    official["cls_head.fc_cls.weight"] = official["cls_head.fc_cls.weight"][:10].clone()
    official["cls_head.fc_cls.bias"] = official["cls_head.fc_cls.bias"][:10].clone()
    model, conv = load_official(official_keys.save(table, official, tmp_path / "j.pth"), "pyskl")
    assert conv.model_kwargs == {"num_classes": 10, "layout": "coco17"}
    assert model.encoder.data_bn.bn.weight.shape == (51,)


def test_pyskl_ctrgcn_is_refused_with_the_reason() -> None:
    state = {"backbone.data_bn.weight": torch.ones(150), "backbone.net.0.gcn1.A": torch.ones(3, 25, 25),
             "cls_head.fc_cls.weight": torch.zeros(60, 256)}
    with pytest.raises(CheckpointError, match="PYSKL's CTR-GCN"):
        get_converter("pyskl").convert(state)


def test_a_file_without_tensors_names_its_top_level_keys(tmp_path: Path) -> None:
    path = tmp_path / "optimizer_only.pth"
    torch.save({"optimizer": {"lr": 0.1}, "epoch": 3}, path)
    with pytest.raises(CheckpointError, match=r"no tensors found.*'epoch', 'optimizer'"):
        load_official(path, "stgcn")
