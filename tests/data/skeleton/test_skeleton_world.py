"""The skeleton world: determinism, protocols, files, noise, cache, CLI (small sizes only)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from mmfusion.data.formats.skeleton import format_skeleton, read_skeleton
from mmfusion.data.ntu import NTU60_TRAIN_SUBJECTS, NTUSampleName, split_of
from mmfusion.data.synthetic.skeleton_world import (
    META_FILE,
    NOISE_FLAGS,
    SkeletonWorldConfig,
    class_counts,
    generate_skeleton_world,
    load_packed,
    main,
    world_names,
)
from mmfusion.data.synthetic.skeleton_world_io import format_skeleton_fast
from mmfusion.data.synthetic.skeleton_world_motion import CLASSES, TWO_PERSON
from mmfusion.errors import ConfigError

SK = "nturgb+d_skeletons"


def test_class_table() -> None:
    assert sorted(CLASSES) == list(range(1, 121))
    assert set(range(50, 61)) <= TWO_PERSON and not TWO_PERSON & set(range(1, 50))


def test_same_seed_same_bytes_any_worker_count(tmp_path: Path) -> None:
    cfg = SkeletonWorldConfig(num_sequences=24, seed=5, workers=1)
    a = generate_skeleton_world(tmp_path / "a", cfg)
    b = generate_skeleton_world(tmp_path / "b", SkeletonWorldConfig(num_sequences=24, seed=5, workers=2))
    files = sorted(p.name for p in (a / SK).iterdir())
    assert len(files) == 24 and files == sorted(p.name for p in (b / SK).iterdir())
    assert all((a / SK / f).read_bytes() == (b / SK / f).read_bytes() for f in files)
    assert (a / "packed" / "ntu25.npy").read_bytes() == (b / "packed" / "ntu25.npy").read_bytes()
    packed_only = generate_skeleton_world(tmp_path / "p", cfg, write_files=False)
    assert (a / "packed" / "ntu25.npy").read_bytes() == (packed_only / "packed" / "ntu25.npy").read_bytes()
    c = generate_skeleton_world(tmp_path / "c", SkeletonWorldConfig(num_sequences=24, seed=6, workers=1))
    assert (a / "packed" / "ntu25.npy").read_bytes() != (c / "packed" / "ntu25.npy").read_bytes()


def test_protocols_apply_unchanged(tmp_path: Path) -> None:
    cfg = SkeletonWorldConfig(num_sequences=180, classes=120, seed=1, workers=1)
    root = generate_skeleton_world(tmp_path, cfg, write_files=False)
    meta = json.loads((root / META_FILE).read_text())
    _, labels, names, _ = load_packed(root)
    assert names == world_names(cfg) and len(set(names)) == len(names) == 180
    parsed = [NTUSampleName.parse(n) for n in names]
    assert all(p.performer <= 106 and p.camera in (1, 2, 3) for p in parsed)
    assert all(p.setup >= 18 and p.performer > 40 for p in parsed if p.action > 60)
    assert (labels == np.array([p.action - 1 for p in parsed])).all()
    for proto in ("xsub", "xview", "xsub120", "xset"):
        s = Counter(split_of(n, proto) for n in names)
        assert meta["splits"][proto] == {"train": s["train"], "test": s["test"]}
        assert s["train"] > 0 and s["test"] > 0
    # every performance is seen by the three cameras: xview holds out exactly a third of NTU-60 samples
    ntu60 = [p for p in parsed if p.in_ntu60]
    assert meta["splits"]["xview"]["test"] * 3 == len(ntu60)
    assert not (root / SK).exists()


def test_sixty_class_world_ranges(small_world: Path) -> None:
    _, labels, names, lengths = load_packed(small_world)
    parsed = [NTUSampleName.parse(n) for n in names]
    assert all(p.setup <= 17 and p.performer <= 40 and p.action <= 60 for p in parsed)
    assert {p.performer in NTU60_TRAIN_SUBJECTS for p in parsed} == {True, False}
    assert lengths.min() >= 32 and lengths.max() <= 100


def test_files_read_back_and_match_packed(small_world: Path) -> None:
    data, _, names, lengths = load_packed(small_world)
    with np.load(small_world / "packed" / "index.npz") as f:
        noise = f["noise"]
    clean = [i for i in range(len(names)) if not noise[i, NOISE_FLAGS.index("ghost")]
             and not noise[i, NOISE_FLAGS.index("handover")]]
    assert clean
    for i in clean[:10]:
        p = small_world / SK / f"{names[i]}.skeleton"
        seq = read_skeleton(p)
        assert seq.num_frames == lengths[i]
        arr = seq.to_array(max_bodies=2)  # (M, T, V, 3)
        want = data[i, :, : lengths[i]].transpose(3, 1, 2, 0)
        assert np.allclose(arr, want, rtol=1e-6, atol=1e-6)
        assert format_skeleton(seq).encode() == p.read_bytes()  # byte-exact NTU format


def test_fast_formatter_equals_package_writer(small_world: Path) -> None:
    for p in sorted((small_world / SK).iterdir())[:12]:
        seq = read_skeleton(p)
        assert format_skeleton_fast(seq) == format_skeleton(seq)


def test_noise_is_present(small_world: Path) -> None:
    data, _, names, lengths = load_packed(small_world)
    with np.load(small_world / "packed" / "index.npz") as f:
        noise = f["noise"]
    assert noise.any(0).all()  # every kind of noise occurs
    ghost = int(np.flatnonzero(noise[:, NOISE_FLAGS.index("ghost")])[0])
    seq = read_skeleton(small_world / SK / f"{names[ghost]}.skeleton")
    persons = 2 if NTUSampleName.parse(names[ghost]).action >= 50 else 1
    assert len(seq.track_ids) > persons  # an extra, short-lived body
    hand = int(np.flatnonzero(noise[:, NOISE_FLAGS.index("handover")])[0])
    seq = read_skeleton(small_world / SK / f"{names[hand]}.skeleton")
    assert len(seq.track_ids) >= 2
    drop = int(np.flatnonzero(noise[:, NOISE_FLAGS.index("drop")])[0])
    seq = read_skeleton(small_world / SK / f"{names[drop]}.skeleton")
    assert (seq.bodies_per_frame == 0).any()
    states = np.concatenate([read_skeleton(small_world / SK / f"{n}.skeleton").tracking_state.ravel()
                             for n in names[:6]])
    assert set(np.unique(states)) == {1, 2}  # inferred joints as Kinect reports them
    # jitter: the bones of a performer are not rigid
    x = data[0, :, : lengths[0], :, 0]
    arm = np.linalg.norm(x[:, :, 5] - x[:, :, 4], axis=0)
    assert arm.std() > 1e-3


def test_other_conventions(small_world: Path) -> None:
    coco, *_ = load_packed(small_world, "coco17")
    assert coco.shape[1:] == (2, 100, 17, 2)
    assert 0 < np.abs(coco).max() < 4000  # colour-camera pixels
    with pytest.raises(ConfigError, match="no packed"):
        load_packed(small_world, "smpl24")


def test_cache_reused_and_regenerated(tmp_path: Path) -> None:
    cfg = SkeletonWorldConfig(num_sequences=6, workers=1)
    root = generate_skeleton_world(tmp_path, cfg, write_files=False)
    stamp = (root / "packed" / "ntu25.npy").stat().st_mtime_ns
    generate_skeleton_world(tmp_path, SkeletonWorldConfig(num_sequences=6, workers=2), write_files=False)
    assert (root / "packed" / "ntu25.npy").stat().st_mtime_ns == stamp  # workers are not part of the config
    generate_skeleton_world(tmp_path, SkeletonWorldConfig(num_sequences=9, workers=1), write_files=False)
    assert load_packed(root)[0].shape[0] == 9


def test_long_tail_profile_and_config_errors() -> None:
    counts = class_counts(SkeletonWorldConfig(num_sequences=30000, imbalance=0.01))
    assert sum(counts.values()) == 10000
    assert counts[1] > counts[30] > counts[60] and 80 < counts[1] / counts[60] < 125
    with pytest.raises(ConfigError):
        SkeletonWorldConfig(classes=90)
    with pytest.raises(ConfigError):
        SkeletonWorldConfig(conventions=("coco17",))


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "w"), "--num", "6", "--workers", "1", "--packed-only"]) == 0
    assert "6 sequences" in capsys.readouterr().out
