"""SkeletonDataset: protocols, families, streams on the small skeleton world and hand-made arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mmfusion.data.ntu import split_of
from mmfusion.data.skeleton.datasets import SkeletonDataset, read_pku_split, split_for
from mmfusion.data.synthetic.skeleton_world import load_packed
from mmfusion.errors import ConfigError, DataFormatError


def test_ntu_protocols_on_the_world(small_world: Path) -> None:
    data, labels, names, _ = load_packed(small_world)
    for proto in ("xsub", "xview"):
        tr = SkeletonDataset(data, labels, names, "ntu60", proto, "train")
        te = SkeletonDataset(data, labels, names, "ntu60", proto, "test")
        assert len(tr) == sum(split_of(n, proto) == "train" for n in names)
        assert len(tr) + len(te) == len(names)
    s = SkeletonDataset(small_world / "packed" / "ntu25.npy", labels, names, "ntu60", "xview", "test")
    item = s[0]
    assert item["skeleton"].shape == (3, 64, 25, 2) and item["skeleton"].dtype == torch.float32
    assert item["name"][4:8] == "C001" and item["label"] == int(item["name"][-3:]) - 1


@pytest.mark.parametrize(("family", "stream", "shape"), [
    ("ctrgcn", "b", (3, 64, 25, 2)), ("pyskl", "k", (3, 64, 25, 2)), ("frame50", "jm", (3, 50, 25, 2)),
    ("none", "psumnet", (12, 64, 25, 2)), ("ctrgcn", "ja", (3, 64, 25, 2))])
def test_families_and_streams(small_world: Path, family: str, stream: str, shape: tuple[int, ...]) -> None:
    data, labels, names, _ = load_packed(small_world)
    ds = SkeletonDataset(data, labels, names, "ntu60", "xsub", "train", family=family, stream_name=stream)
    x = ds[1]["skeleton"]
    assert tuple(x.shape) == shape and torch.isfinite(x).all() and x.abs().sum() > 0
    assert torch.equal(ds[1]["skeleton"], x)  # same seed, epoch, index -> same crop
    if family == "pyskl":  # random frame choice: new per epoch
        short = SkeletonDataset(data, labels, names, "ntu60", "xsub", "train", family=family, window=16)
        first = short[1]["skeleton"]
        short.set_epoch(1)
        assert not torch.equal(short[1]["skeleton"], first)


def test_ctrgcn_random_crop_varies_with_epoch() -> None:
    x = np.random.default_rng(0).normal(size=(1, 3, 200, 25, 2)).astype(np.float32)  # valid 200 > min crop 64
    ds = SkeletonDataset(x, [0], ["S001C001P001R001A001"], family="ctrgcn", window=64)
    first = ds[0]["skeleton"]
    ds.set_epoch(3)
    assert not torch.equal(ds[0]["skeleton"], first)
    test = SkeletonDataset(x, [0], ["S001C001P003R001A001"], split="test", family="ctrgcn", window=64)
    assert torch.equal(test[0]["skeleton"], test[0]["skeleton"])


def test_pyskl_test_clips(small_world: Path) -> None:
    data, labels, names, _ = load_packed(small_world)
    ds = SkeletonDataset(data, labels, names, "ntu60", "xsub", "test", family="pyskl", window=16, num_clips=10)
    assert tuple(ds[0]["skeleton"].shape) == (10, 3, 16, 25, 2)


def test_ucla_and_pku_protocols(tmp_path: Path) -> None:
    names = ["a01_s01_e00_v01", "a02_s03_e01_v02", "a12_s10_e04_v03"]
    data = np.random.default_rng(0).normal(size=(3, 3, 10, 20, 1)).astype(np.float32)
    tr = SkeletonDataset(data, [0, 1, 9], names, "ucla", "xview", "train", family="none", window=8)
    te = SkeletonDataset(data, [0, 1, 9], names, "ucla", "xview", "test", family="none", window=8)
    assert len(tr) == 2 and len(te) == 1 and te[0]["name"].endswith("v03")
    assert tuple(te[0]["skeleton"].shape) == (3, 8, 20, 1)
    p = tmp_path / "cross_view.txt"
    p.write_text("Training videos: \n0002-M, 0002-R, 0003-M\nValidataion videos: \n0002-L, 0003-L\n")
    lists = read_pku_split(p)
    assert lists == (["0002-M", "0002-R", "0003-M"], ["0002-L", "0003-L"])
    assert split_for("0002-R_005", "pku1", "xview", lists) == "train"
    assert split_for("0003-L", "pku1", "xview", lists) == "test"
    assert split_for("0009-L", "pku1", "xview", lists) is None
    with pytest.raises(ConfigError, match="official split lists"):
        split_for("0002-L", "pku2", "xsub")
    p.write_text("just one line")
    with pytest.raises(DataFormatError, match="4 non-empty lines"):
        read_pku_split(p)


def test_bad_options() -> None:
    data = np.zeros((1, 3, 10, 25, 2), np.float32)
    with pytest.raises(ConfigError, match="unknown dataset"):
        SkeletonDataset(data, [0], ["S001C001P001R001A001"], "ntu60", "xset")
    with pytest.raises(ConfigError, match="family"):
        SkeletonDataset(data, [0], ["S001C001P001R001A001"], family="sgn")
    ds = SkeletonDataset(data, [0], ["S001C001P003R001A001"], split="test")
    with pytest.raises(DataFormatError, match="no skeleton"):
        ds[0]
