"""Scores files: written and read back without pickle, malformed files named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmfusion.errors import DataFormatError
from mmfusion.experiments.scores import load_scores, save_scores


def test_round_trip_without_pickle(tmp_path: Path) -> None:
    scores = np.array([[0.1, 0.9], [0.7, 0.3], [0.5, 0.5]], np.float32)
    path = save_scores(tmp_path / "s.npz", scores, [1, 0, 1], ["a", "bé", "c"], "prob", ["clap", "wave"],
                       meta={"stream": "j", "clips": 10})
    with np.load(path, allow_pickle=False) as f:  # plain arrays only: no object arrays anywhere
        assert f["names"].dtype.kind == "U" and f["kind"].dtype.kind == "U"
    back = load_scores(path)
    np.testing.assert_array_equal(back.scores, scores)
    assert back.labels.tolist() == [1, 0, 1] and back.names == ["a", "bé", "c"]
    assert back.kind == "prob" and back.classes == ["clap", "wave"] and back.meta == {"clips": 10, "stream": "j"}


def test_object_array_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pickled.npz"
    np.savez(path, scores=np.zeros((1, 2), np.float32), labels=np.zeros(1, np.int64),
             names=np.array(["a"], dtype=object), kind=np.array("prob"))
    with pytest.raises(DataFormatError, match="pickled.npz"):
        load_scores(path)


def test_missing_keys_named(tmp_path: Path) -> None:
    path = tmp_path / "other.npz"
    np.savez(path, x=np.zeros(3))
    with pytest.raises(DataFormatError, match=r"other.npz.*missing"):
        load_scores(path)
