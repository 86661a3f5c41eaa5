"""NTUDataset on tiny NTU trees written with the format writers, and the packed store.

Every frame t of a sample encodes t in every modality (depth value, RGB/IR grey level,
skeleton height), so the tests can check that all modalities return the same frames.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mmfusion.data.dataset import NTUDataset, collate
from mmfusion.data.settings import ClipSettings
from mmfusion.errors import ConfigError, DataFormatError, MissingModalityError


def frame_of_depth(depth: torch.Tensor) -> np.ndarray:
    """(1, T, H, W) metres -> per-frame index decoded from the person patch."""
    d = depth[0].flatten(1)
    return np.rint((d.max(1).values.numpy() - 1.0) / 0.1).astype(int)


def test_shapes_and_labels(ntu: SimpleNamespace, tree: Path) -> None:
    ds = NTUDataset(tree, modalities=ntu.ALL, split="train", protocol="xsub", clip_len=4, image_size=16,
                    num_points=32, base_points=64, heatmap_size=8, train=False)
    assert ds.names == sorted(ntu.TRAIN) and ds.classes == [0, 1] and ds.labels == [0, 1]
    s = ds[1]
    assert s["rgb"].shape == (3, 4, 16, 16) and s["rgb"].dtype == torch.float32
    assert s["depth"].shape == (1, 4, 16, 16)
    assert s["ir"].shape == (1, 4, 16, 16)
    assert s["points"].shape == (4, 32, 3)
    assert s["skeleton"].shape == (3, 4, 25, 2)
    assert s["heatmap"].shape == (17, 4, 8, 8)
    assert s["keypoints2d"].shape == (2, 4, 17, 2)
    assert s["label"].dtype == torch.int64 and int(s["label"]) == 1
    assert s["name"] == "S001C002P001R001A002"
    for v in s.values():
        if isinstance(v, torch.Tensor) and v.is_floating_point():
            assert torch.isfinite(v).all()
    # second body present in the 2-body sample, absent in the 1-body one
    assert s["skeleton"][..., 1].abs().sum() > 0
    assert ds[0]["skeleton"][..., 1].abs().sum() == 0
    b = collate([ds[0], ds[1]])
    assert b["rgb"].shape == (2, 3, 4, 16, 16) and b["label"].tolist() == [0, 1]
    assert b["name"] == sorted(ntu.TRAIN)


def test_modalities_are_aligned(tree: Path) -> None:
    ds = NTUDataset(tree, modalities=("rgb", "depth", "ir", "skeleton", "points"), split="test", clip_len=5,
                    image_size=16, num_points=16, base_points=32, train=True, flip=False)
    for _ in range(3):
        s = ds[0]
        idx = s["frame_index"].numpy()
        np.testing.assert_array_equal(frame_of_depth(s["depth"]), idx)
        ir = s["ir"][0].mean((1, 2)).numpy() * 255
        np.testing.assert_allclose(ir, 15 * idx + 10, atol=4)
        rgb = (s["rgb"] * torch.tensor([0.229, 0.224, 0.225])[:, None, None, None]
               + torch.tensor([0.485, 0.456, 0.406])[:, None, None, None]).mean((0, 2, 3)).numpy() * 255
        np.testing.assert_allclose(rgb, 15 * idx + 10, atol=4)
        # points: z of the patch = depth of frame t
        z = s["points"][..., 2].max(1).values.numpy()
        np.testing.assert_allclose(z, 1.0 + 0.1 * idx, atol=1e-3)
        # skeleton: frame 0 has no body (kept at index 0), others are centred on frame 1
        sk = s["skeleton"][:, :, :, 0]
        for k, t in enumerate(idx):
            if t == 0:
                assert sk[:, k].abs().sum() == 0
            else:
                spine = sk[1, k, 1].item()  # y of SpineMid, centred on frame 1
                assert spine == pytest.approx(0.05 * (t - 1), abs=1e-5)


def test_per_modality_clip_len(tree: Path) -> None:
    ds = NTUDataset(tree, modalities=("skeleton", "depth"), split="test", clip_len={"skeleton": 8, "depth": 4},
                    image_size=16, train=True)
    s = ds[1]
    assert s["skeleton"].shape[1] == 8 and s["depth"].shape[1] == 4
    np.testing.assert_array_equal(frame_of_depth(s["depth"]), s["frame_index"].numpy()[0::2])


def test_test_mode_is_deterministic_train_mode_seeded(tree: Path) -> None:
    kw = dict(modalities=("depth", "points"), split="test", clip_len=4, image_size=16, num_points=16, base_points=32)
    a = NTUDataset(tree, train=False, **kw)
    assert torch.equal(a[0]["points"], a[0]["points"]) and torch.equal(a[0]["depth"], a[0]["depth"])
    b = NTUDataset(tree, train=True, **kw)
    torch.manual_seed(5)
    x = b[0]
    torch.manual_seed(5)
    y = b[0]
    assert torch.equal(x["depth"], y["depth"]) and torch.equal(x["points"], y["points"])


def test_missing_file_raises_or_is_skipped(ntu: SimpleNamespace, tmp_path: Path) -> None:
    for n in ntu.TRAIN:
        ntu.write_sample(tmp_path, n)
    ntu.write_meta(tmp_path)
    gone = tmp_path / "nturgb+d_rgb" / f"{ntu.TRAIN[0]}_rgb.avi"
    gone.unlink()
    with pytest.raises(MissingModalityError, match=gone.name):
        NTUDataset(tmp_path, modalities=("rgb", "skeleton"), split="train")
    ds = NTUDataset(tmp_path, modalities=("rgb", "skeleton"), split="train", skip_bad=True)
    assert ds.names == [ntu.TRAIN[1]]
    assert len(ds.skipped) == 1 and ds.skipped[0][0] == ntu.TRAIN[0] and gone.name in ds.skipped[0][1]
    # a modality that does not need the missing file still has both samples
    assert len(NTUDataset(tmp_path, modalities=("depth",), split="train")) == 2
    # official missing-skeleton list
    ds = NTUDataset(tmp_path, modalities=("skeleton",), split="train", missing_skeletons=[ntu.TRAIN[1]])
    assert ds.names == [ntu.TRAIN[0]] and ds.skipped[0][0] == ntu.TRAIN[1]


def test_bad_file_names_the_file(ntu: SimpleNamespace, tmp_path: Path) -> None:
    for n in ntu.TRAIN:
        ntu.write_sample(tmp_path, n)
    ntu.write_meta(tmp_path)
    bad = tmp_path / "nturgb+d_skeletons" / f"{ntu.TRAIN[0]}.skeleton"
    bad.write_bytes(b"10\r\n1\r\nnot a body line\r\n")
    ds = NTUDataset(tmp_path, modalities=("skeleton",), split="train")
    with pytest.raises(DataFormatError, match=bad.name):
        ds[0]


@pytest.mark.parametrize("crop,train", [("full", False), ("person", False), ("person", True)])
def test_keypoints_follow_the_rgb_crop(ntu: SimpleNamespace, tmp_path: Path, crop: str, train: bool) -> None:
    """A white block drawn at the head's colour coordinate must end up under keypoint 'nose'."""
    from mmfusion.data.formats.video import write_video

    name = ntu.TRAIN[0]
    ntu.write_sample(tmp_path, name)
    ntu.write_meta(tmp_path)
    rgb = np.zeros((ntu.T, *ntu.RGB_HW, 3), np.uint8)
    for t in range(1, ntu.T):
        u = 32 + 40 * ntu.body(t)[3, 0]
        v = 18 - 10 * ntu.body(t)[3, 1]
        rgb[t, int(round(v)) - 1:int(round(v)) + 2, int(round(u)) - 1:int(round(u)) + 2] = 255
    write_video(tmp_path / "nturgb+d_rgb" / f"{name}_rgb.avi", rgb)
    ds = NTUDataset(tmp_path, modalities=("rgb", "keypoints2d", "heatmap"), split="train", clip_len=4, image_size=32,
                    heatmap_size=32, crop=crop, train=train, crop_scale=(0.8, 1.0))
    for seed in range(3):
        torch.manual_seed(seed)
        s = ds[0]
        img = s["rgb"][0]  # (T, S, S), red channel
        for k, t in enumerate(s["frame_index"].tolist()):
            if t == 0:
                assert s["keypoints2d"][0, k].abs().sum() == 0 and s["heatmap"][:, k].sum() == 0
                continue
            ys, xs = torch.nonzero(img[k] > img[k].min() + 1.0, as_tuple=True)
            u, v = s["keypoints2d"][0, k, 0].tolist()
            assert abs(xs.float().mean().item() - u) < 1.5 and abs(ys.float().mean().item() - v) < 1.5
            peak = s["heatmap"][0, k]
            py, px = divmod(int(peak.argmax()), peak.shape[1])
            assert abs(px - u) <= 1 and abs(py - v) <= 1


def test_settings_rebuild_the_same_inputs(tree: Path) -> None:
    """settings is a frozen ClipSettings, JSON-ready through to_dict / from_dict, and, fed back to
    NTUDataset, prepares the very same test inputs."""
    ds = NTUDataset(tree, modalities=("depth", "skeleton"), split="test", clip_len={"depth": 4, "skeleton": 6},
                    image_size=24, heatmap_size=20, depth_max=5.0, verbose=False)
    d = json.loads(json.dumps(ds.settings.to_dict()))
    assert d["clip_len"] == {"depth": 4, "skeleton": 6} and d["image_size"] == 24 and d["depth_max"] == 5.0
    s = ClipSettings.from_dict(d)
    assert s == ds.settings and dataclasses.asdict(s) == dataclasses.asdict(ds.settings)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.image_size = 8  # type: ignore[misc]
    with pytest.raises(ConfigError, match="bogus"):
        ClipSettings.from_dict({**d, "bogus": 1})
    again = NTUDataset.from_root(tree, s, split="test", verbose=False)
    a, b = ds[0], again[0]
    for key in ("depth", "skeleton"):
        assert torch.equal(a[key], b[key])


def test_test_mode_points_cover_the_body(tree: Path) -> None:
    """Test-mode points are a (fixed) random subset of each frame's cloud, not a prefix of it:
    small clouds are repeated in raster order, so a prefix would be the top rows only."""
    few = NTUDataset(tree, modalities=("points",), split="test", num_points=16, verbose=False)
    full = NTUDataset(tree, modalities=("points",), split="test", num_points=2048, verbose=False)
    a, b = few[0]["points"], full[0]["points"]
    assert torch.equal(a, few[0]["points"])  # deterministic
    span = lambda x: (x[..., 1].amax(dim=1) - x[..., 1].amin(dim=1)).mean()  # noqa: E731 (vertical extent)
    assert span(a) > 0.5 * span(b)


def test_samples_follow_the_modality_table(ntu: SimpleNamespace, tree: Path) -> None:
    """Every emitted key is in the table, with its channel count on the layout's C axis and its dtype."""
    from mmfusion.data.modalities import MODALITIES, kinds_for

    ds = NTUDataset(tree, modalities=ntu.ALL, split="train", clip_len=4, image_size=16, num_points=32,
                    base_points=64, heatmap_size=8, train=False)
    s = ds[0]
    for key in ntu.ALL:
        m = MODALITIES[key]
        axes = m.axes
        assert s[key].ndim == len(axes) and s[key].shape[axes.index("C")] == m.channels, key
        assert s[key].shape[axes.index("T")] == 4 and str(s[key].dtype) == f"torch.{m.dtype}", key
    assert kinds_for(("points", "heatmap")) == ["skeleton", "depth"]
    assert kinds_for(("rgb",), person_crop=True) == ["skeleton", "rgb"]
    with pytest.raises(ConfigError, match="unknown modality"):
        kinds_for(("thermal",))


def test_readers_share_one_protocol_and_one_sample_function(ntu: SimpleNamespace, tree: Path,
                                                             tmp_path: Path) -> None:
    """The raw tree and the store are SampleReaders; make_sample on either gives the data set's item."""
    from mmfusion.data.reader import NTUTreeReader, SampleReader
    from mmfusion.data.sample import make_sample
    from mmfusion.data.store import PackedStore, pack_ntu

    settings = ClipSettings(modalities=("depth", "points", "skeleton"), clip_len=4, image_size=16, num_points=16,
                            base_points=32, decode_size=20)
    raw = NTUTreeReader(tree, decode_size=20, base_points=32)
    store = PackedStore(pack_ntu(tree, tmp_path / "st", modalities=("skeleton", "depth", "points"), size=20,
                                 num_points=32, progress=False))
    assert isinstance(raw, SampleReader) and isinstance(store, SampleReader)
    ds = NTUDataset.from_store(store, settings, split="test")
    assert ds.settings == settings  # the store's size and points match the requested ones
    item = ds[1]
    for reader in (raw, store):
        s = make_sample(reader, ds.names[1], settings, np.random.default_rng([0, 1]), train=False)
        assert all(torch.equal(s[k], item[k]) for k in ("depth", "points", "skeleton", "frame_index"))
    with pytest.raises(ConfigError, match="unknown options"):
        NTUDataset(tree, split="test", clip_length=4)


def test_video_that_decodes_short_is_an_error_or_a_counted_skip(ntu: SimpleNamespace, tmp_path: Path) -> None:
    """A video cut short (found only when it is read) names the file; with skip_bad it is skipped once,
    recorded in ``skipped``, and the next readable sample is served in its place."""
    for n in ntu.TRAIN:
        ntu.write_sample(tmp_path, n)
    ntu.write_meta(tmp_path)
    avi = tmp_path / "nturgb+d_rgb" / f"{ntu.TRAIN[0]}_rgb.avi"
    data = avi.read_bytes()
    avi.write_bytes(data[: int(len(data) * 0.3)])
    kw = dict(modalities=("rgb",), split="train", clip_len=4, image_size=16, crop="full")
    strict = NTUDataset(tmp_path, **kw)
    assert strict.names[0] == ntu.TRAIN[0]
    with pytest.raises(DataFormatError, match=avi.name):
        strict[0]
    lenient = NTUDataset(tmp_path, skip_bad=True, **kw)
    s0, s1 = lenient[0], lenient[1]
    assert s0["name"] == s1["name"] == ntu.TRAIN[1]
    assert [n for n, _ in lenient.skipped] == [ntu.TRAIN[0]]  # recorded once, not per read
    assert avi.name in lenient.skipped[0][1]
