"""Presets and data of the SSL recipes: stage plans, CTR-GCN centring of the world's clips, the
multi-convention splits of MS-CLR."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mmfusion.data.layouts import convert, get_layout
from mmfusion.data.preprocess import crop_resize_positions
from mmfusion.data.synthetic.skeleton_world import SkeletonWorldConfig, generate_skeleton_world
from mmfusion.errors import ConfigError
from mmfusion.ssl.presets import (
    CenteredSkeletons,
    build_stages,
    data_layouts,
    method_preset,
    parse_overrides,
    world_splits,
)


def test_centred_clips_start_at_the_spine_origin() -> None:
    x = torch.zeros(3, 4, 25, 2)
    x[:, :, :, 0] = torch.tensor([1.0, 2.0, 3.0]).view(3, 1, 1) + 0.1 * torch.arange(4.0).view(1, 4, 1)
    x[:, 2:, :, 1] = 5.0  # second actor from frame 2
    out = CenteredSkeletons([{"skeleton": x, "label": 0}])[0]["skeleton"]
    assert torch.allclose(out[:, 0, 1, 0], torch.zeros(3))  # SpineMid (joint 1) of the first frame
    assert torch.allclose(out[:, 3, 1, 0], torch.full((3,), 0.3))  # motion kept
    assert (out[:, :2, :, 1] == 0).all()  # absent frames stay zero
    assert torch.allclose(out[:, 2, 0, 1], torch.tensor([4.0, 3.0, 2.0]))


def test_build_stages_presets() -> None:
    stages, clip = build_stages("mamp", "paper_ntu60")
    assert clip == 120 and len(stages) == 1
    tc = stages[0].train
    assert (tc.epochs, tc.global_batch_size, tc.lr, tc.min_lr, tc.betas) == (400, 128, 1e-3, 5e-4, (0.9, 0.95))
    assert stages[0].objective_kwargs["decoder_depth"] == 3 and stages[0].objective_kwargs["tau"] == 0.8
    cf, clip = build_stages("cascadeformer", "cpu", {"epochs": 1}, {"seed": 3})
    assert [s.objective for s in cf] == ["cascadeformer", "cascadeformer_finetune"]
    assert all(s.train.epochs == 1 for s in cf) and cf[0].objective_kwargs["seed"] == 3
    with pytest.raises(ConfigError, match="preset"):
        build_stages("mamp", "nope")


def _profile(x: torch.Tensor) -> torch.Tensor:
    """Joint 0's x over the frames of a (C, T, V, M) clip, mapped affinely onto 0 .. 1."""
    p = x[0, :, 0, 0]
    return (p - p[0]) / (p[-1] - p[0])


def test_multi_layout_splits_serve_aligned_clips(multi_layout_world: Path) -> None:
    layouts = ("smpl24", "ntu25", "coco17")
    train, plain, test = world_splits(multi_layout_world, clip_len=8, layouts=layouts, channels=2, seed=3)
    with np.load(multi_layout_world / "packed" / "index.npz") as f:
        labels, names = f["labels"], [str(n) for n in f["names"]]
    assert {names[j][8:12] for j in train.index} == {"P001"} and {names[j][8:12] for j in test.index} == {"P003"}
    u = np.linspace(0, 1, 78)
    for ds in (train, plain, test):
        assert len(ds) == 6
        for i in range(len(ds)):
            s = ds[i]
            assert s["label"] == labels[s["index"]] and torch.equal(s["skeleton"], s["skeleton_smpl24"])
            assert s["skeleton_ntu25"].shape == (2, 8, 25, 2) and s["skeleton_coco17"].shape == (2, 8, 17, 2)
            ref = _profile(s["skeleton"])
            for name in layouts[1:]:  # the same frames of the same clip in every convention
                torch.testing.assert_close(_profile(s[f"skeleton_{name}"]), ref, atol=1e-4, rtol=0)
            if ds is not train:  # the deterministic 0.95 crop of *this* row's clip
                pos = crop_resize_positions(2, 80, (0.95,), 8) - 2
                q = np.interp(pos, np.arange(78), u ** (0.5 + 0.25 * s["index"]))
                torch.testing.assert_close(ref, torch.as_tensor((q - q[0]) / (q[-1] - q[0]), dtype=torch.float32),
                                           atol=1e-4, rtol=0)
    before = _profile(train[0]["skeleton"])
    train.set_epoch(1)  # another random crop, still one crop for all conventions
    s = train[0]
    assert not torch.allclose(_profile(s["skeleton"]), before, atol=1e-3)
    torch.testing.assert_close(_profile(s["skeleton_coco17"]), _profile(s["skeleton"]), atol=1e-4, rtol=0)


def test_msclr_data_follows_its_preset(multi_layout_world: Path) -> None:
    kwargs, _ = method_preset("msclr", "cpu")
    four = ("ntu25", "smpl24", "h36m17", "coco17")  # metric 3-D in every convention, as MS-CLR's MeTRAbs data
    assert data_layouts(kwargs) == (four, 3)
    assert data_layouts(kwargs["encoder_kwargs"]) == (four, 3)  # an encoder card
    assert data_layouts(method_preset("mamp", "cpu")[0]) == (None, 3)
    with pytest.raises(ConfigError, match="smplx42"):
        world_splits(multi_layout_world, layouts=("smpl24", "smplx42"))


def test_a_generated_world_serves_other_conventions_in_3d_when_asked(tmp_path: Path) -> None:
    """channels 3 on a generated world: smpl24 re-expressed from the world's (noisy) ntu25 clips
    under derived_3d, once; channels 2: the world's own 2-D pixels."""
    root = generate_skeleton_world(tmp_path / "w", SkeletonWorldConfig(num_sequences=40, workers=1,
                                                                       conventions=("ntu25", "smpl24")),
                                   write_files=False)
    train, plain, _ = world_splits(root, clip_len=8, layouts=("ntu25", "smpl24"), channels=3)
    derived = root / "derived_3d" / "packed" / "smpl24.npy"
    assert derived.is_file() and np.load(derived, mmap_mode="r").shape[1] == 3
    s = plain[0]
    ntu, smpl = s["skeleton_ntu25"].numpy(), s["skeleton_smpl24"].numpy()  # (3, 8, V, M), each centred
    assert smpl.shape == (3, 8, 24, 2) and np.abs(smpl[2]).max() > 0  # a real depth channel
    # equal up to the translation each convention's own centring removes (both are linear in the joints)
    want = convert(ntu, "ntu25", "smpl24", joint_axis=2)
    c = get_layout("smpl24").center
    np.testing.assert_allclose((smpl - smpl[:, :, c:c + 1])[..., 0], (want - want[:, :, c:c + 1])[..., 0], atol=1e-5)
    stamp = derived.stat().st_mtime_ns
    world_splits(root, clip_len=8, layouts=("ntu25", "smpl24"), channels=3)
    assert derived.stat().st_mtime_ns == stamp  # derived once
    two_d = world_splits(root, clip_len=8, layouts=("smpl24",), channels=2)[1][0]["skeleton_smpl24"]
    assert two_d.shape == (2, 8, 24, 2) and not np.allclose(two_d.numpy(), smpl[:2])


def test_objective_overrides_are_parsed_and_checked() -> None:
    got = parse_overrides("skeletonmae", "cpu", ["target=motion", "norm_target=true", "mask_ratio=0.5"])
    assert got == {"target": "motion", "norm_target": True, "mask_ratio": 0.5}
    stages, _ = build_stages("skeletonmae", "cpu", {}, got)
    assert stages[0].objective_kwargs["target"] == "motion" and stages[0].objective_kwargs["mask_ratio"] == 0.5
    # a staged method accepts the keys of any of its stages (CascadeFormer's fine-tune has no mask_ratio)
    assert parse_overrides("cascadeformer", "cpu", ["mask_ratio=0.4"]) == {"mask_ratio": 0.4}
    # builders with **kwargs: the keywords of the objective class they return (HaLP -> MoCo)
    assert parse_overrides("halp", "cpu", ["mu=0", "temperature=0.1"]) == {"mu": 0, "temperature": 0.1}
    with pytest.raises(ConfigError, match="'feature_dim'"):
        parse_overrides("halp", "cpu", ["feature_dim=3"])
    with pytest.raises(ConfigError, match="'bogus'.*takes"):
        parse_overrides("mamp", "cpu", ["bogus=1"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_overrides("mamp", "cpu", ["mask_ratio"])
