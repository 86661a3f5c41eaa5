"""Temporal corruption: the exact frame masks of the five patterns, seeding, the dataset wrapper
and the level x pattern table."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmfusion.data.skeleton.corruption import (
    LEVELS,
    PATTERNS,
    CorruptedSkeletons,
    corrupt,
    corruption_table,
    format_corruption_table,
    missing_frames,
)
from mmfusion.errors import ConfigError


def _lost(mask: np.ndarray) -> list[int]:
    return np.flatnonzero(mask).tolist()


def test_block_patterns_exact_on_ten_frames() -> None:
    assert _lost(missing_frames(10, "prefix", "severe")) == [0, 1, 2, 3, 4, 5, 6]
    assert _lost(missing_frames(10, "suffix", "severe")) == [3, 4, 5, 6, 7, 8, 9]
    assert _lost(missing_frames(10, "middle", "severe")) == [1, 2, 3, 4, 5, 6, 7]
    assert _lost(missing_frames(10, "middle", "minor")) == [3, 4, 5]
    assert _lost(missing_frames(12, "middle", "moderate")) == [3, 4, 5, 6, 7, 8]


def test_patterned_is_periodic_with_a_seeded_phase() -> None:
    rng = np.random.default_rng(7)
    phase = int(np.random.default_rng(7).integers(10))
    lost = missing_frames(20, "patterned", "severe", rng)
    expected = [t for t in range(20) if (t + phase) % 10 < 7]
    assert _lost(lost) == expected and lost.sum() == 14
    # minor: 3 of every 10 frames; phase 0 when the generator says so
    phase0 = next(s for s in range(100) if int(np.random.default_rng(s).integers(10)) == 0)
    assert _lost(missing_frames(20, "patterned", "minor", np.random.default_rng(phase0))) == [0, 1, 2, 10, 11, 12]


def test_random_counts_and_seeding() -> None:
    for level, r in LEVELS.items():
        assert missing_frames(50, "random", level, np.random.default_rng(1)).sum() == round(r * 50)
    a = missing_frames(50, "random", "severe", np.random.default_rng([3, 5]))
    b = missing_frames(50, "random", "severe", np.random.default_rng([3, 5]))
    c = missing_frames(50, "random", "severe", np.random.default_rng([3, 6]))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_severe_reaches_seventy_percent_for_every_pattern() -> None:
    for p in PATTERNS:
        assert missing_frames(100, p, "severe", np.random.default_rng(0)).mean() == pytest.approx(0.7)


def test_corrupt_zeroes_frames_of_every_joint_and_person_within_the_valid_length() -> None:
    x = np.ones((3, 14, 4, 2), dtype=np.float32)
    x[:, 10:] = 0  # 10 valid frames, 4 padded
    out = corrupt(x, "prefix", "severe")
    assert not out[:, :7].any() and (out[:, 7:10] == 1).all() and not out[:, 10:].any()
    assert (x[:, :10] == 1).all()  # the input is not modified
    xt = torch.ones(2, 3, 10, 4, 2)  # (K, C, T, V, M): the same mask for every clip
    outt = corrupt(xt, "suffix", "minor")
    assert isinstance(outt, torch.Tensor)
    assert outt[:, :, :7].eq(1).all() and not outt[:, :, 7:].any()


def test_bad_arguments_raise_config_errors() -> None:
    with pytest.raises(ConfigError, match="pattern"):
        missing_frames(10, "blink", "severe")
    with pytest.raises(ConfigError, match="level"):
        missing_frames(10, "random", "extreme")
    with pytest.raises(ConfigError, match="shape"):
        corrupt(np.zeros((3, 10)), "random", "minor")


class _Toy(torch.utils.data.Dataset):
    classes = ("a", "b")

    def __len__(self) -> int:
        return 6

    def __getitem__(self, i: int) -> dict[str, object]:
        return {"skeleton": torch.full((3, 20, 5, 2), float(i + 1)), "label": i % 2, "name": f"s{i}"}


def test_wrapper_is_identical_on_every_read_and_keeps_other_keys() -> None:
    ds = CorruptedSkeletons(_Toy(), "random", "moderate", seed=4)
    first = [ds[i]["skeleton"] for i in range(len(ds))]
    again = [ds[i]["skeleton"] for i in reversed(range(len(ds)))][::-1]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    lost = [(s[0, :, 0, 0] == 0).nonzero().flatten().tolist() for s in first]
    assert all(len(lo) == 10 for lo in lost) and len({tuple(lo) for lo in lost}) > 1  # per-sample masks
    assert lost[2] == _lost(missing_frames(20, "random", "moderate", np.random.default_rng([4, 2])))
    assert ds[3]["label"] == 1 and ds[3]["name"] == "s3" and ds.classes == ("a", "b")


def test_corruption_table_runs_every_cell() -> None:
    def lost_fraction(ds: torch.utils.data.Dataset) -> dict[str, float]:
        return {"top1": float(np.mean([(ds[i]["skeleton"] == 0).float().mean() for i in range(len(ds))]))}

    table = corruption_table(lost_fraction, _Toy(), levels=("minor", "severe"))
    assert list(table) == ["clean", "minor", "severe"]
    assert table["clean"]["none"] == 0.0
    assert list(table["severe"]) == [*PATTERNS, "mean"]
    assert table["severe"]["prefix"] == pytest.approx(0.7) and table["minor"]["mean"] == pytest.approx(0.3)
    text = format_corruption_table(table)
    assert "| severe |" in text and "70.0" in text


def test_wrapper_survives_pickling_for_dataloader_workers() -> None:
    import pickle

    ds = CorruptedSkeletons(_Toy(), "middle", "severe", seed=1)
    again = pickle.loads(pickle.dumps(ds))
    assert torch.equal(again[2]["skeleton"], ds[2]["skeleton"]) and again.classes == ("a", "b")
