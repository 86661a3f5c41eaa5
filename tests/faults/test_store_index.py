"""Crafted store indexes and damaged shards: named DataFormatError before any byte is mapped, disk untouched."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mmfusion.data.store import PackedStore, main
from mmfusion.data.store_index import load_index, shard_checksums, validate_index, verify_store
from mmfusion.errors import ConfigError, DataFormatError


def _edit(store: Path, change: Callable[[dict[str, Any]], None]) -> None:
    index = json.loads((store / "index.json").read_text())
    change(index)
    (store / "index.json").write_text(json.dumps(index))


def _first(index: dict[str, Any], key: str = "skeleton") -> dict[str, Any]:
    return index["samples"][0]["arrays"][key]


def test_valid_store_passes(store: Path) -> None:
    index = load_index(store)
    assert validate_index(index, store) == index
    assert verify_store(store) == []
    assert set(index["checksums"]) == {p.name for p in (store / "shards").glob("*.bin")}
    st = PackedStore(store)
    assert st.array(st.names()[0], "skeleton").shape == (2, 14, 25, 3)  # max_bodies slots


@pytest.mark.parametrize(("change", "needle"), [
    (lambda ix: _first(ix).update(dtype="|O"), "not allowed"),        # numpy would read bytes as pointers
    (lambda ix: _first(ix).update(dtype="O"), "not allowed"),
    (lambda ix: _first(ix).update(dtype="<U4"), "not allowed"),
    (lambda ix: _first(ix).update(dtype="V8"), "not allowed"),
    (lambda ix: _first(ix).update(dtype=">f4"), "not allowed"),
    (lambda ix: _first(ix).update(dtype="[('a', '<f4')]"), "dtype"),
    (lambda ix: _first(ix).update(dtype=7), "not a numpy dtype"),
    (lambda ix: _first(ix).update(file="../../../../etc/passwd"), "not a shard file name"),
    (lambda ix: _first(ix).update(file="/etc/passwd"), "not a shard file name"),
    (lambda ix: _first(ix).update(file="..bin"), "not a shard file name"),
    (lambda ix: _first(ix).update(offset=10**9), "beyond the end"),
    (lambda ix: _first(ix).update(offset=-64), "non-negative"),
    (lambda ix: _first(ix).update(offset=2), "aligned"),
    (lambda ix: _first(ix).update(shape=[1, 14, 25, 3000]), "beyond the end"),
    (lambda ix: _first(ix).update(shape=[1, -14, 25, 3]), "shape"),
    (lambda ix: _first(ix).update(shape="big"), "shape"),
    (lambda ix: _first(ix, "depth").update(table=10**9), "frame table ends"),
    (lambda ix: _first(ix, "depth").update(table=3), "offsets"),
    (lambda ix: _first(ix, "depth").update(codec="gif"), "codec"),
    (lambda ix: _first(ix, "depth").update(shape=[10**6, 12, 16]), "beyond the end"),
    (lambda ix: ix["samples"][0].update(label=1.5), "label"),
    (lambda ix: ix["samples"][0].update(name="../x"), "sample name"),
    (lambda ix: ix["samples"][0]["num_frames"].update(skeleton=15), "num_frames"),
    (lambda ix: ix["samples"].append(ix["samples"][0]), "listed twice"),
    (lambda ix: ix.update(samples={}), "samples"),
    (lambda ix: ix["settings"].update(size="big"), "settings.size"),
    (lambda ix: ix.update(meta={"sizes": {"rgb": "big"}}), "sizes.rgb"),
    (lambda ix: ix.update(meta={"intrinsics": {"depth": {"fx": None}}}), "fx"),
    (lambda ix: ix.update(skipped=[[1, 2]]), "skipped"),
    (lambda ix: ix["checksums"].popitem(), "checksum"),
])
def test_crafted_index_is_a_named_error(store: Path, snapshot: Callable, change: Callable, needle: str) -> None:
    _edit(store, change)
    check = snapshot(store)
    with pytest.raises(DataFormatError, match=needle) as info:
        PackedStore(store)
    assert info.value.path == str(store / "index.json") or "shards" in str(info.value.path)
    assert verify_store(store)
    check()


def test_symlink_out_of_the_store_is_refused(store: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"\0" * 4096)
    (store / "shards" / "evil.bin").symlink_to(secret)
    _edit(store, lambda ix: _first(ix).update(file="evil.bin"))
    with pytest.raises(DataFormatError, match="resolves outside"):
        PackedStore(store)


@pytest.mark.parametrize("text", ["", "{", '{"version": 1, "samples": [', "[1, 2]", "\x00\x01binary"])
def test_garbled_json(store: Path, snapshot: Callable, text: str) -> None:
    (store / "index.json").write_text(text)
    check = snapshot(store)
    with pytest.raises(DataFormatError, match="index.json"):
        PackedStore(store)
    check()


def test_truncated_shard_fails_on_open(store: Path, snapshot: Callable) -> None:
    shard = sorted((store / "shards").glob("*.skeleton.bin"))[0]
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 3])
    check = snapshot(store)
    with pytest.raises(DataFormatError, match="truncated") as info:
        PackedStore(store)
    assert info.value.path == str(shard)
    check()


def test_truncated_shard_without_checksums_still_caught_by_offsets(store: Path) -> None:
    _edit(store, lambda ix: ix.pop("checksums"))
    shard = sorted((store / "shards").glob("*.skeleton.bin"))[0]
    shard.write_bytes(shard.read_bytes()[:100])
    with pytest.raises(DataFormatError, match="beyond the end"):
        PackedStore(store)


def test_flipped_byte_found_by_verify_store(store: Path, capsys: pytest.CaptureFixture) -> None:
    shard = sorted((store / "shards").glob("*.depth.bin"))[0]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    PackedStore(store)  # same size: the cheap check on open passes
    problems = verify_store(store)
    assert len(problems) == 1 and shard.name in problems[0] and "sha256" in problems[0]


def test_corrupt_frame_table_found_by_verify_store(store: Path) -> None:
    index = load_index(store)
    spec = _first(index, "depth")
    path = store / "shards" / spec["file"]
    table = np.memmap(path, dtype="<i8", mode="r+", offset=spec["table"], shape=(spec["shape"][0] + 1,))
    table[3] = 10**12
    table.flush()
    del table
    index["checksums"] = shard_checksums(store)  # as if the index had been rewritten to match
    (store / "index.json").write_text(json.dumps(index))
    problems = verify_store(store)
    assert any("frame table" in p for p in problems)


def test_prepare_check_reports_corruption(store: Path, capsys: pytest.CaptureFixture) -> None:
    shard = sorted((store / "shards").glob("*.skeleton.bin"))[0]
    data = bytearray(shard.read_bytes())
    data[200] ^= 1
    shard.write_bytes(bytes(data))
    stored = json.loads((store / "store.json").read_text())
    # re-running prepare on the complete store re-assembles index.json: the checksums recorded when
    # each shard was packed must survive that (hashing again would bless the damage)
    rc = main([stored["raw_root"], str(store), "--modalities", "skeleton", "depth", "--size", "0",
               "--frame-codec", "png", "--shard-size", "2", "--check", "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 1 and "integrity: 1 problem" in out and shard.name in out


def test_prepare_on_a_folder_without_samples(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="no NTU samples"):
        from mmfusion.data.store import pack_ntu

        pack_ntu(empty, tmp_path / "out", modalities=("skeleton",), progress=False)
    assert main([str(empty), str(tmp_path / "out2"), "--no-progress"]) == 2
    assert not os.path.exists(tmp_path / "out2" / "index.json")
