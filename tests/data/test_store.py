"""Packed store: equality with raw reading, resuming, skipped samples, memmap access, CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mmfusion.data.dataset import NTUDataset
from mmfusion.data.store import PackedStore, check_counts, main, pack_ntu, split_counts
from mmfusion.errors import ConfigError, MissingModalityError

SIZE = 20


@pytest.fixture(scope="module")
def store(tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ntu_store") / "store"
    pack_ntu(tree, out, modalities=("skeleton", "depth", "rgb", "ir", "points"), size=SIZE, num_points=48,
             shard_size=3, progress=False)
    return out


@pytest.mark.parametrize("train", [False, True])
def test_store_equals_raw(ntu: SimpleNamespace, tree: Path, store: Path, train: bool) -> None:
    kw = dict(modalities=ntu.ALL, split="all", clip_len=6, image_size=16, num_points=24, heatmap_size=8, train=train)
    raw = NTUDataset(tree, decode_size=SIZE, base_points=48, **kw)
    packed = NTUDataset(store=store, **kw)
    assert raw.names == packed.names and raw.labels == packed.labels and raw.classes == packed.classes
    for i in range(len(raw)):
        torch.manual_seed(i)
        a = raw[i]
        torch.manual_seed(i)
        b = packed[i]
        assert a.keys() == b.keys()
        for k in a:
            if isinstance(a[k], torch.Tensor):
                assert torch.equal(a[k], b[k]), (a["name"], k)
            else:
                assert a[k] == b[k]


@pytest.mark.parametrize("codec", ["png", "jpeg"])
def test_compressed_frames(ntu: SimpleNamespace, tree: Path, store: Path, tmp_path: Path, codec: str) -> None:
    out = pack_ntu(tree, tmp_path / codec, modalities=("depth", "rgb", "ir"), size=SIZE, frame_codec=codec,
                   progress=False)
    plain, comp = PackedStore(store), PackedStore(out)
    for key in ("depth", "rgb", "ir"):
        a = plain.load_frames(ntu.NAMES[1], key, [5, 0, 5, 13])
        b = comp.load_frames(ntu.NAMES[1], key, [5, 0, 5, 13])
        assert a.dtype == b.dtype and a.shape == b.shape
        if codec == "png" or key == "depth":
            np.testing.assert_array_equal(a, b)
        else:
            assert np.abs(a.astype(int) - b.astype(int)).mean() < 3
    if codec == "png":
        kw = dict(modalities=("rgb", "depth", "ir"), split="all", clip_len=5, image_size=16, train=False)
        x, y = NTUDataset(store=store, **kw)[2], NTUDataset(store=out, **kw)[2]
        assert all(torch.equal(x[k], y[k]) for k in ("rgb", "depth", "ir"))


def test_store_index_and_memmap(ntu: SimpleNamespace, store: Path) -> None:
    st = PackedStore(store)
    assert len(st) == len(ntu.NAMES) and sorted(st.names()) == sorted(ntu.NAMES)
    e = st.entry(ntu.TRAIN[0])
    assert e["label"] == 0 and e["num_frames"] == {"skeleton": 14, "depth": 14, "rgb": 14, "ir": 14}
    assert e["splits"]["xsub"] == "train" and e["splits"]["xview"] == "test"  # camera 1: xview test
    view = st.array(ntu.TRAIN[0], "rgb")
    assert isinstance(view.base, np.memmap) and not view.flags.writeable
    assert view.shape == (14, SIZE, 36, 3)  # 64x36 frames, short side 36 -> 20
    depth = st.array(ntu.TRAIN[0], "depth")
    assert depth.shape == (14, SIZE, 24) and depth.dtype == np.uint16
    assert st.array(ntu.TRAIN[0], "skeleton").shape == (2, 14, 25, 3)
    frames = st.load_frames(ntu.TRAIN[0], "depth", [3, 3, 7])
    assert frames.shape == (3, SIZE, 24) and frames[0].max() == 1300 and frames[2].max() == 1700
    # depth-only store view from skeleton-less dataset: points present, shards are small files
    assert all(f.stat().st_size < 1_000_000 for f in (store / "shards").iterdir())


def test_resume_skips_complete_shards(ntu: SimpleNamespace, tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "s"
    pack_ntu(tree, out, modalities=("skeleton", "depth"), size=SIZE, shard_size=2, progress=False)
    shard0 = out / "shards" / "00000.depth.bin"
    before = shard0.stat().st_mtime_ns
    # simulate an interruption in shard 1: its JSON never got written
    (out / "shards" / "00001.json").unlink()
    (out / "shards" / "00001.depth.bin").unlink()
    pack_ntu(tree, out, modalities=("skeleton", "depth"), size=SIZE, shard_size=2, progress=False)
    assert shard0.stat().st_mtime_ns == before  # not rewritten
    assert (out / "shards" / "00001.depth.bin").is_file()
    assert len(PackedStore(out)) == len(ntu.NAMES)
    assert not list((out / "shards").glob("*.tmp"))
    with pytest.raises(ConfigError, match="other settings"):
        pack_ntu(tree, out, modalities=("skeleton",), size=SIZE, shard_size=2, progress=False)
    pack_ntu(tree, out, modalities=("skeleton",), size=SIZE, shard_size=2, progress=False, overwrite=True)
    assert PackedStore(out).settings["modalities"] == ["skeleton"]
    assert not (out / "shards" / "00000.depth.bin").exists()


def test_bad_and_missing_files_are_recorded(ntu: SimpleNamespace, tree: Path, tmp_path: Path) -> None:
    import shutil

    raw = tmp_path / "raw"
    shutil.copytree(tree, raw)
    (raw / "nturgb+d_skeletons" / f"{ntu.NAMES[0]}.skeleton").write_bytes(b"3\r\n1\r\ngarbage\r\n")
    (raw / "nturgb+d_ir" / f"{ntu.NAMES[1]}_ir.avi").unlink()
    out = pack_ntu(raw, tmp_path / "st", modalities=("skeleton", "ir"), size=SIZE, progress=False)
    summary = json.loads((out / "skipped.json").read_text())
    missing = {(n, m): why for n, m, why in summary["missing_modalities"]}
    why = missing[(ntu.NAMES[0], "skeleton")]
    assert "DataFormatError" in why and ntu.NAMES[0] in why
    assert "does not exist" in missing[(ntu.NAMES[1], "ir")]
    with pytest.raises(MissingModalityError, match="DataFormatError"):
        NTUDataset(store=out, modalities=("skeleton",), split="all")
    ds = NTUDataset(store=out, modalities=("skeleton", "ir"), split="all", skip_bad=True)
    assert sorted(ds.names) == sorted(ntu.NAMES[2:])
    assert {n for n, _ in ds.skipped} == {ntu.NAMES[0], ntu.NAMES[1]}
    # a modality the store lacks
    with pytest.raises(MissingModalityError, match="not packed"):
        NTUDataset(store=out, modalities=("depth",), split="all")


def test_cli(ntu: SimpleNamespace, tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    rc = main([str(tree), str(out), "--modalities", "skeleton", "depth", "--size", str(SIZE), "--check",
               "--no-progress"])
    assert rc == 0
    text = capsys.readouterr().out
    assert f"packed {len(ntu.NAMES)} of {len(ntu.NAMES)}" in text and "no reference counts" in text
    ok, report = check_counts(PackedStore(out))
    assert ok and "xsub" in report
    assert main([str(tmp_path / "nope"), str(tmp_path / "o2"), "--no-progress"]) == 2
    assert os.path.isfile(out / "index.json")


def test_synthetic_world_store_equals_raw(ntu: SimpleNamespace, tmp_path: Path) -> None:
    from mmfusion.data.synthetic import SynthConfig, generate

    raw = generate(tmp_path / "synth", SynthConfig.tiny())
    meta = json.loads((raw / "mmfusion_synth.json").read_text())
    out = pack_ntu(raw, tmp_path / "st", modalities=("skeleton", "depth", "rgb", "ir", "points"), size=SIZE,
                   num_points=32, progress=False)
    kw = dict(modalities=ntu.ALL, split="test", clip_len=4, image_size=16, num_points=16, heatmap_size=8, train=False,
              crop="person")
    a_ds = NTUDataset(raw, decode_size=SIZE, base_points=32, **kw)
    b_ds = NTUDataset(store=out, **kw)
    assert a_ds.classes == [c["id"] for c in meta["classes"]] == b_ds.classes
    assert len(a_ds) == meta["split_counts"]["xsub"]["test"] == len(b_ds)
    for i in range(len(a_ds)):
        a, b = a_ds[i], b_ds[i]
        for k in a:
            assert torch.equal(a[k], b[k]) if isinstance(a[k], torch.Tensor) else a[k] == b[k], k
    counts = split_counts(PackedStore(out))
    assert counts["xsub"] == meta["split_counts"]["xsub"]


def test_dataloader_workers(store: Path) -> None:
    from torch.utils.data import DataLoader

    from mmfusion.data.dataset import collate

    ds = NTUDataset(store=store, modalities=("rgb", "skeleton"), split="all", clip_len=4, image_size=16, train=False)
    batches = list(DataLoader(ds, batch_size=2, num_workers=2, collate_fn=collate))
    assert [b["rgb"].shape for b in batches] == [(2, 3, 4, 16, 16)] * 2
    assert sum((b["name"] for b in batches), []) == ds.names
