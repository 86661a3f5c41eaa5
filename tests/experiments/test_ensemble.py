"""Score fusion: hand-computed cases, alignment by name, mismatches named, fitted weights, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmfusion.cli import main as cli_main
from mmfusion.errors import ConfigError, DataFormatError
from mmfusion.experiments.ensemble import fit_weights, fuse, preset_weights
from mmfusion.experiments.scores import load_scores, save_scores


def _file(tmp: Path, name: str, scores: list[list[float]], labels: list[int], names: list[str],
          kind: str = "logit") -> Path:
    return save_scores(tmp / name, np.array(scores, np.float32), labels, names, kind)


@pytest.fixture
def two_streams(tmp_path: Path) -> tuple[Path, Path]:
    # stream a is right on s1, s2; stream b on s2, s3 (given in another order); 3 classes
    a = _file(tmp_path, "a.npz", [[2, 1, 0], [0, 3, 1], [1, 0, 2.5]], [0, 1, 0], ["s1", "s2", "s3"])
    b = _file(tmp_path, "b.npz", [[3, 0, 0], [0, 1, 2], [1, 2, 0]], [0, 0, 1], ["s3", "s1", "s2"])
    return a, b


def test_fuse_hand_case(two_streams: tuple[Path, Path]) -> None:
    a, b = (load_scores(p) for p in two_streams)
    assert fuse([a]).top1 == pytest.approx(2 / 3)
    # aligned by name: s1 = [2,1,0] + [0,1,2] = [2,2,2] -> class 0 (first max); s2 = [0,3,1] + [1,2,0]
    # -> 1; s3 = [1,0,2.5] + [3,0,0] = [4,0,2.5] -> 0
    res = fuse([a, b])
    np.testing.assert_allclose(res.scores, [[2, 2, 2], [1, 5, 1], [4, 0, 2.5]])
    assert res.names == ["s1", "s2", "s3"] and res.top1 == 1.0
    weighted = fuse([a, b], [1.0, 0.5])  # s1 = [2, 1.5, 1] -> 0
    np.testing.assert_allclose(weighted.scores[0], [2, 1.5, 1])


def test_name_mismatch_names_the_file(tmp_path: Path, two_streams: tuple[Path, Path]) -> None:
    other = _file(tmp_path, "other.npz", [[1, 0, 0]] * 3, [0, 1, 0], ["s1", "s2", "s4"])
    with pytest.raises(DataFormatError, match=r"other\.npz.*other samples.*s4"):
        fuse([load_scores(two_streams[0]), load_scores(other)])


def test_label_mismatch_names_the_file(tmp_path: Path, two_streams: tuple[Path, Path]) -> None:
    relabelled = _file(tmp_path, "relabelled.npz", [[1, 0, 0]] * 3, [0, 2, 0], ["s1", "s2", "s3"])
    with pytest.raises(DataFormatError, match=r"relabelled\.npz.*s2 has label 2"):
        fuse([load_scores(two_streams[0]), load_scores(relabelled)])


def test_kinds_are_not_mixed(tmp_path: Path, two_streams: tuple[Path, Path]) -> None:
    probs = _file(tmp_path, "probs.npz", [[1, 0, 0]] * 3, [0, 1, 0], ["s1", "s2", "s3"], kind="prob")
    with pytest.raises(DataFormatError, match="probs.npz"):
        fuse([load_scores(two_streams[0]), load_scores(probs)])


def test_fit_weights_finds_the_informative_stream(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 200)
    good = np.eye(4)[labels] * 2 + rng.normal(0, 1, (200, 4))
    noise = rng.normal(0, 3, (200, 4))
    names = [f"v{i}" for i in range(200)]
    files = [load_scores(save_scores(tmp_path / f"{k}.npz", s, labels, names, "logit"))
             for k, s in (("good", good), ("noise", noise))]
    w = fit_weights(files)
    assert w[0] > w[1]
    assert fuse(files, w).top1 >= max(fuse(files).top1, fuse(files[:1]).top1)


def test_presets() -> None:
    assert preset_weights("4s", 4) == (2.0, 2.0, 1.0, 1.0)
    assert preset_weights("ctrgcn4s", 4) == (0.6, 0.6, 0.4, 0.4)
    with pytest.raises(ConfigError, match="6s fuses 6 streams"):
        preset_weights("6s", 4)


def test_cli(two_streams: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["ensemble", str(two_streams[0]), str(two_streams[1]), "--weights", "1", "1"]) == 0
    assert "fused (2 files, weights 1, 1; 3 samples): top-1 100.00" in capsys.readouterr().out
    assert cli_main(["ensemble", str(two_streams[0]), str(two_streams[1]), "--preset", "4s"]) == 2
