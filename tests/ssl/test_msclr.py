"""MS-CLR: the multi-convention dataset, cross-convention views, per-layout features and learning on a
fixed batch (the encoder: tests/encoders/test_flex_stgcn.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmfusion import create_model
from mmfusion.data.preprocess import center_skeleton, interpolate_frames
from mmfusion.errors import ConfigError
from mmfusion.ssl import create_objective
from mmfusion.ssl.objectives.msclr import PRESETS, MultiLayoutSkeletons, normalize_image_coords


def test_image_coordinates_are_centred_and_scaled() -> None:
    x = np.zeros((2, 3, 17, 2), np.float32)
    x[:, 1:, :, 0] = np.arange(17, dtype=np.float32)[None, None] * 10 + 500  # frame 0 empty
    y = normalize_image_coords(x, "coco17")  # coco17 centre: joint 0 (value 500)
    assert np.all(y[:, 0] == 0) and np.all(y[..., 1] == 0)
    np.testing.assert_allclose(y[0, 1, :, 0], np.arange(17) / 16)


def test_dataset_serves_every_convention() -> None:
    n = 4
    arrays = {"smpl24": np.random.rand(n, 2, 6, 24, 2).astype(np.float32) * 100,
              "coco17": np.random.rand(n, 2, 6, 17, 2).astype(np.float32) * 100}
    ds = MultiLayoutSkeletons(arrays, labels=[0, 1, 2, 3], indices=[2, 3], channels=3)
    s = ds[1]
    assert s["index"] == 3 and s["label"] == 3
    assert s["skeleton_smpl24"].shape == (3, 6, 24, 2) and torch.equal(s["skeleton"], s["skeleton_smpl24"])
    assert torch.all(s["skeleton_coco17"][2] == 0)  # 2-D padded to 3 channels


def test_centred_crops_equal_centring_the_whole_clip_first() -> None:
    # the data set centres only the frames its resize reads (and keeps each row's origin and span);
    # the clips must be the CTR-GCN ones: centre the whole clip, then crop and resize
    rng = np.random.default_rng(0)
    n, t = 5, 60
    arrays = {"ntu25": rng.normal(0, 0.3, (n, 3, t, 25, 2)).astype(np.float32) + 2.0,
              "h36m17": rng.normal(0, 0.3, (n, 3, t, 17, 2)).astype(np.float32) + 2.0}
    for a in arrays.values():
        a[:, :, :4] = 0        # leading empty frames
        a[:, :, 50:] = 0       # trailing
        a[1, :, 20:, :, 1] = 0  # the second actor leaves clip 1 mid-way
        a[2, ..., 1] = 0        # clip 2 has one actor
    arrays["h36m17"][3, ..., 0] = 0  # actor 1 absent in one convention: centred on actor 2
    ds = MultiLayoutSkeletons(arrays, labels=list(range(n)), channels=3, window=16, train=True, center=True, seed=3)
    for epoch in (0, 1):
        ds.set_epoch(epoch)
        for i in range(n):
            s = ds[i]
            pos = ds._positions(i)
            for name, a in arrays.items():
                whole = center_skeleton(a[i].transpose(3, 1, 2, 0), name).transpose(3, 1, 2, 0)
                want = interpolate_frames(whole, pos, time_axis=1)
                np.testing.assert_array_equal(s[f"skeleton_{name}"].numpy(), want)


def _batch() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    base = torch.randn(8, 2, 1, 24, 1, generator=g) + torch.randn(8, 2, 16, 1, 1, generator=g).cumsum(2) * 0.1
    smpl = torch.cat([base, torch.zeros(8, 2, 16, 24, 1)], dim=-1)
    coco = smpl[:, :, :, :17] * 0.9
    return {"skeleton": smpl, "skeleton_smpl24": smpl, "skeleton_coco17": coco, "index": torch.arange(8)}


def _msclr(**kw):
    cfg = {"encoder": "msclr_stgcn_tiny", "encoder_kwargs": {"in_channels": 2}, "layouts": ("smpl24", "coco17"),
           "queue_size": 32, "proj_dim": 16, "momentum": 0.9, **kw}
    return create_objective("msclr", **cfg)


def test_forward_pairs_conventions_and_features() -> None:
    obj = _msclr()
    assert PRESETS["paper_ntu60"]["queue_size"] == 32768
    b = _batch()
    out = obj(b)
    assert {"loss", "loss_nce", "loss_ddm_e", "loss_ddm_ed", "acc"} <= set(out)
    feats = obj.features_by_layout(b)
    assert feats["smpl24"].shape == (8, 32) and feats["coco17"].shape == (8, 32)
    torch.testing.assert_close(obj.features(b["skeleton"]), feats["smpl24"])
    with pytest.raises(ConfigError, match="skeleton_h36m17"):
        obj._view(b, "h36m17")
    with pytest.raises(ConfigError, match="does not know"):
        create_objective("msclr", encoder=create_model("msclr_stgcn_tiny", num_classes=0), layouts=("h36m17",))


def test_loss_goes_down_on_a_fixed_batch(train_steps) -> None:
    torch.manual_seed(0)
    obj = _msclr()
    b = _batch()
    other = torch.randn_like(b["skeleton"]).cumsum(dim=2) * 0.1
    with torch.no_grad():
        keys = torch.nn.functional.normalize(obj.projector_k(obj.pooled(other, "smpl24", key=True)), dim=1)
        obj.queue.keys.copy_(torch.cat([keys] * 4))
    obj.enqueue = lambda k: None  # fixed negatives (see tests/ssl/test_moco.py)
    losses = train_steps(obj, b, steps=10, lr=3e-3)
    assert sum(losses[-3:]) / 3 < 0.7 * sum(losses[:3]) / 3, losses
