"""derive_conventions: other joint conventions re-expressed from packed ntu25 arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmfusion.data.layouts import correspondence
from mmfusion.data.skeleton.conventions import derive_conventions, main
from mmfusion.errors import ConfigError, DataFormatError
from mmfusion.ssl.objectives.msclr import MultiLayoutSkeletons
from mmfusion.ssl.presets import world_splits


def test_derived_arrays_are_the_weighted_joint_means_chunk_by_chunk(multi_layout_world: Path, tmp_path: Path) -> None:
    out = tmp_path / "derived"
    written = derive_conventions(multi_layout_world, out, ["smpl24", "coco17", "ntu25"], chunk=5)  # 12 clips: 3 chunks
    assert set(written) == {"smpl24", "coco17"}  # the source itself is linked, not rewritten
    src = np.load(multi_layout_world / "packed" / "ntu25.npy")
    w = correspondence("ntu25", "coco17")  # (17, 25), rows sum to 1
    got = np.load(written["coco17"])
    assert got.shape == (12, 3, 80, 17, 2) and got.dtype == np.float32
    # by hand for clip 7, frame 40, person 0: target joint i = sum_j w[i, j] * source joint j
    np.testing.assert_allclose(got[7, :, 40, :, 0], src[7, :, 40, :, 0] @ w.T, rtol=1e-6, atol=1e-6)
    assert not got[:, :, :2].any() and not got[..., 1].any()  # empty frames and the absent person stay zero
    for name in ("ntu25.npy", "index.npz"):
        assert (out / "packed" / name).is_symlink()
    assert not list((out / "packed").glob("*.part"))


def test_the_derived_folder_serves_msclr_in_3d(multi_layout_world: Path, tmp_path: Path) -> None:
    out = tmp_path / "derived"
    main([str(multi_layout_world), str(out), "--layouts", "smpl24", "h36m17"])
    train, _, test = world_splits(out, clip_len=8, layouts=("ntu25", "smpl24", "h36m17"), channels=3)
    assert isinstance(train, MultiLayoutSkeletons) and len(train) + len(test) == 12
    sample = test[0]
    assert sample["skeleton_smpl24"].shape == (3, 8, 24, 2) and sample["skeleton_h36m17"].shape == (3, 8, 17, 2)
    assert sample["skeleton_smpl24"][2].abs().sum() > 0  # a real z channel, not the zero padding of 2-D arrays


def test_refuses_to_overwrite_its_source_and_bad_arrays(multi_layout_world: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="another folder"):
        derive_conventions(multi_layout_world, multi_layout_world, ["smpl24"])
    bad = tmp_path / "bad"
    (bad / "packed").mkdir(parents=True)
    np.save(bad / "packed" / "ntu25.npy", np.zeros((2, 3, 4, 24, 2), np.float32))
    np.savez(bad / "packed" / "index.npz", labels=np.zeros(2))
    with pytest.raises(DataFormatError, match="ntu25.npy"):
        derive_conventions(bad, tmp_path / "o", ["smpl24"])
    with pytest.raises(ConfigError, match="needs"):
        derive_conventions(tmp_path / "nowhere", tmp_path / "o2", ["smpl24"])
    keep = tmp_path / "keep" / "packed"
    keep.mkdir(parents=True)
    np.save(keep / "ntu25.npy", np.ones(3, np.float32))
    with pytest.raises(ConfigError, match="not a link"):
        derive_conventions(multi_layout_world, keep.parent, ["smpl24"])
    assert np.load(keep / "ntu25.npy").sum() == 3  # untouched


def test_rerun_replaces_its_own_links_and_arrays(multi_layout_world: Path, tmp_path: Path) -> None:
    out = tmp_path / "derived"
    first = np.load(derive_conventions(multi_layout_world, out, ["h36m17"])["h36m17"])
    again = np.load(derive_conventions(multi_layout_world, out, ["h36m17"])["h36m17"])
    np.testing.assert_array_equal(first, again)
