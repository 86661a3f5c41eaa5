"""``prepare_ntu --check``: split sizes on the real full NTU-120 name list (official numbers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmfusion.data.store import PackedStore, check_counts


@pytest.mark.real
def test_check_counts_on_the_full_ntu120_list(real_samples: Path, tmp_path: Path) -> None:
    """--check logic on the real 114,480-name list with the official missing-skeleton list."""
    import gzip

    from mmfusion.data.ntu import load_missing_skeletons
    from mmfusion.data.store import STORE_VERSION, _splits

    with gzip.open(real_samples / "ntu" / "ntu120_samples_and_frames.txt.gz", "rt") as f:
        names = [ln.split()[0] for ln in f if ln.strip()]
    missing = load_missing_skeletons(real_samples / "ntu" / "NTU_RGBD120_samples_with_missing_skeletons.txt")
    # an empty skeleton array in a real (empty) shard file: the index is validated when the store opens
    (tmp_path / "shards").mkdir()
    (tmp_path / "shards" / "00000.skeleton.bin").write_bytes(b"")
    empty = {"file": "00000.skeleton.bin", "offset": 0, "shape": [2, 0, 25, 3], "dtype": "<f4"}
    samples = [{"name": n, "label": 0, "num_frames": {}, "native": {}, "splits": _splits(n),
                "arrays": {} if n in missing else {"skeleton": empty},
                "missing": {"skeleton": "listed"} if n in missing else {}} for n in names]
    index = {"version": STORE_VERSION, "settings": {"modalities": ["skeleton"], "size": None, "num_points": 0},
             "meta": {}, "samples": samples, "skipped": []}
    (tmp_path / "index.json").write_text(json.dumps(index))
    st = PackedStore(tmp_path)
    ok, report = check_counts(st)
    assert ok, report
    assert "xsub120: with skeleton (63026, 50919) expected (63026, 50919) ok" in report
    assert "xsub: all samples (40320, 16560) expected (40320, 16560) ok" in report
    # one more skeleton broken -> mismatch is reported (the store's entries are read-only: edit the index)
    samples[0]["missing"], samples[0]["arrays"] = {"skeleton": "broken"}, {}
    (tmp_path / "index.json").write_text(json.dumps(index))
    ok, report = check_counts(PackedStore(tmp_path))
    assert not ok and "MISMATCH" in report
