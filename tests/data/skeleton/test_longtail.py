"""The long-tail protocol: BRL's class quotas, its split lists, seeded generation and the subset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from mmfusion.data.skeleton.datasets import SkeletonDataset
from mmfusion.data.skeleton.longtail import (
    PROFILES,
    LongTailProfile,
    get_profile,
    longtail_indices,
    longtail_subset,
    profile_counts,
    read_split_list,
    scaled_thresholds,
    write_split_list,
)
from mmfusion.engine.metrics import shot_groups
from mmfusion.errors import ConfigError, DataFormatError


def test_ntu60_profile_counts_and_total_equal_the_formula() -> None:
    counts = PROFILES["ntu60_xsub"].counts(60)
    assert counts == [int(600 * 0.01 ** (c / 59)) for c in range(60)]
    assert counts[:3] == [600, 554, 513] and counts[-3:] == [7, 6, 6]
    # totals of the official lists data/NTU60_LT/*_exp_100.txt and NTU120_LT/*_exp_100.txt
    assert sum(counts) == 7892 == sum(PROFILES["ntu60_xview"].counts(60))
    assert sum(PROFILES["ntu120_xsub"].counts(120)) == 15600
    assert sum(PROFILES["ntu120_xset"].counts(120)) == 10378
    assert sum(profile_counts(60, 600, 0.1)) == 14142  # NTU60_xsub_exp_10.txt
    ucla = PROFILES["ucla"].counts(10)
    assert ucla[0] == 100 and ucla[-1] == 10 and ucla == [int(100 * 0.1 ** (c / 9)) for c in range(10)]


def test_min_count_and_bad_profiles() -> None:
    assert profile_counts(60, 60, 0.01)[-1] == 0  # the official floor empties tail classes of a small set
    assert min(LongTailProfile(60, 0.01, min_count=1).counts(60)) == 1
    for bad in ((0, 0.01), (600, 0.0), (600, 1.5)):
        with pytest.raises(ConfigError):
            LongTailProfile(*bad)
    with pytest.raises(ConfigError, match="unknown long-tail profile"):
        get_profile("ntu61")


def test_shot_groups_on_ntu60_profile_and_scaled() -> None:
    groups = shot_groups(PROFILES["ntu60_xsub"].counts(60))
    sizes = {g: len(v) for g, v in groups.items()}
    assert sizes == {"many": 23, "medium": 21, "few": 16}
    assert groups["many"] == list(range(23)) and groups["few"] == list(range(44, 60))
    many, few = scaled_thresholds(60)
    assert (many, few) == (10.0, 2.0)
    small = shot_groups(LongTailProfile(60, 0.01, min_count=1).counts(60), many, few)
    # at a tenth of the scale the floors move one class (22: int(10.8) = 10) from many to medium
    assert {g: len(v) for g, v in small.items()} == {"many": 22, "medium": 22, "few": 16}
    assert small["few"] == groups["few"]


def test_indices_follow_quotas_and_seed() -> None:
    labels = np.repeat(np.arange(4), 10)
    np.random.default_rng(0).shuffle(labels)
    counts = [10, 5, 2, 1]
    idx = longtail_indices(labels, counts, seed=0)
    assert np.bincount(labels[idx], minlength=4).tolist() == counts
    assert len(set(idx.tolist())) == len(idx)
    assert labels[idx].tolist() == sorted(labels[idx].tolist())  # class by class, like the official lists
    assert np.array_equal(idx, longtail_indices(labels, counts, seed=0))
    assert not np.array_equal(idx, longtail_indices(labels, counts, seed=1))
    # a class with fewer samples than its quota keeps them all
    assert np.bincount(labels[longtail_indices(labels, [20, 0, 0, 0])], minlength=4).tolist() == [10, 0, 0, 0]


def test_split_list_round_trip_and_errors(tmp_path: Path) -> None:
    names = ["S005C002P016R002A001", "S003C003P017R001A001", "S001C001P001R001A002"]
    path = write_split_list(tmp_path / "NTU60_xsub_exp_100.txt", names)
    assert not path.read_text().endswith("\n")  # the official files have no trailing newline
    assert read_split_list(path) == names
    (tmp_path / "suffix.txt").write_text("S001C001P001R001A001.skeleton\n\nS001C001P001R001A002\n")
    assert read_split_list(tmp_path / "suffix.txt") == ["S001C001P001R001A001", "S001C001P001R001A002"]
    (tmp_path / "bad.txt").write_text("S001C001P001R001A001\nS001 C001\n")
    with pytest.raises(DataFormatError, match="bad.txt:2"):
        read_split_list(tmp_path / "bad.txt")
    (tmp_path / "dup.txt").write_text("S001C001P001R001A001\nS001C001P001R001A001")
    with pytest.raises(DataFormatError, match="twice"):
        read_split_list(tmp_path / "dup.txt")
    with pytest.raises(DataFormatError, match="cannot read"):
        read_split_list(tmp_path / "missing.txt")


def _skeleton_set(n_per_class: int = 12, classes: int = 6) -> SkeletonDataset:
    names, labels = [], []
    for a in range(classes):
        for i in range(n_per_class):
            subject = 1 if i % 2 == 0 else 3  # 1: xsub train, 3: test
            names.append(f"S{i // 4 + 1:03d}C001P{subject:03d}R{(i // 2) % 2 + 1:03d}A{a + 1:03d}")
            labels.append(a)
    data = np.ones((len(names), 3, 4, 25, 2), dtype=np.float32)
    return SkeletonDataset(data, labels, names, split="train", family="none", window=4)


def test_subset_of_a_skeleton_dataset_generated_and_from_a_list(tmp_path: Path) -> None:
    train = _skeleton_set()
    profile = LongTailProfile(6, 0.2)
    sub = longtail_subset(train, profile, num_classes=6, seed=0)
    assert sub.class_counts == profile.counts(6) == [6, 4, 3, 2, 1, 1]
    assert len(sub) == sum(sub.class_counts)
    assert sub.shot_thresholds == scaled_thresholds(6)
    assert [sub[i]["label"] for i in range(len(sub))] == sub.labels.tolist()
    # written, read back: the same samples in the same order
    path = write_split_list(tmp_path / "lt.txt", sub.sample_names())
    again = longtail_subset(train, split_list=path, num_classes=6)
    assert again.sample_names() == sub.sample_names() and again.class_counts == sub.class_counts
    (tmp_path / "other.txt").write_text("S001C001P003R001A001")  # a test-split sample
    with pytest.raises(DataFormatError, match="not in the training split"):
        longtail_subset(train, split_list=tmp_path / "other.txt", num_classes=6)


class _Plain(Dataset):
    def __len__(self) -> int:
        return 3

    def __getitem__(self, i: int) -> dict:
        return {"skeleton": torch.zeros(1), "label": i}


def test_subset_needs_names_and_labels_of_a_plain_set() -> None:
    with pytest.raises(ConfigError, match="no names"):
        longtail_subset(_Plain(), LongTailProfile(1, 1.0))
    sub = longtail_subset(_Plain(), LongTailProfile(1, 1.0), names=["a", "b", "c"], labels=[0, 1, 2])
    assert sub.class_counts == [1, 1, 1] and len(sub) == 3
