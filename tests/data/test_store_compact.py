"""PackedStore's compact index (CompactEntries): the same entries as index.json, a fraction of the memory."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from mmfusion.data.packed import CompactEntries, PackedStore
from mmfusion.data.store import pack_ntu


def _entries(n: int) -> list[dict]:
    """Index entries shaped like a packed skeleton store's (two arrays, splits, a fitted camera)."""
    out = []
    for i in range(n):
        arr = {"file": f"{i // 64:05d}.skeleton.bin", "offset": 64 * i, "shape": [2, 40 + i % 50, 25, 3],
               "dtype": "<f4"}
        name = f"S{i // 1000 + 1:03d}C001P{i % 1000 // 100 + 1:03d}R{i % 100 + 1:03d}A{i % 60 + 1:03d}"
        out.append({"name": name, "label": i % 60,
                    "num_frames": {"skeleton": 40 + i % 50}, "arrays": {"skeleton": arr, "skeleton_color": dict(arr)},
                    "native": {}, "missing": {}, "splits": {"xsub": "train", "xview": "test"}, "shard": i // 64,
                    "intrinsics": {"source": "fit", "fx": 366.3 + i * 1e-6, "fy": 366.31, "cx": 256.4, "cy": 208.5,
                                   "rms_px": 0.1, "max_px": 0.3, "points": 1600}})
    return out


def _heap(build) -> tuple[object, int]:
    tracemalloc.start()
    obj = build()
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return obj, size


def test_compact_entries_equal_the_index_in_a_fraction_of_the_memory() -> None:
    text = json.dumps(_entries(3000))
    plain, plain_bytes = _heap(lambda: {e["name"]: e for e in json.loads(text)})
    samples = json.loads(text)
    compact, compact_bytes = _heap(lambda: CompactEntries(samples))
    assert len(compact) == len(plain) and list(compact) == list(plain)
    for name in list(plain)[::97]:
        assert name in compact and compact[name] == plain[name] and compact.get(name) == plain[name]
    assert "S999C001P001R001A001" not in compact and compact.get("S999C001P001R001A001") is None
    with pytest.raises(KeyError):
        compact["S999C001P001R001A001"]
    assert compact_bytes < plain_bytes / 2.5, (compact_bytes, plain_bytes)   # measured ~1/4


def test_store_entries_are_the_packed_ones(tree: Path, tmp_path: Path) -> None:
    out = pack_ntu(tree, tmp_path / "store", modalities=("skeleton", "depth"), size=20, shard_size=3, progress=False)
    index = json.loads((out / "index.json").read_text())
    store = PackedStore(out)
    assert isinstance(store.entries, CompactEntries)
    assert {e["name"]: e for e in index["samples"]} == dict(store.entries.items())
