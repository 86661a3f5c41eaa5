"""Validation of a packed store's ``index.json`` (the store is untrusted input) and shard checksums.

A store folder may come from elsewhere (copied, downloaded, hand-edited, half-synced), and its
``index.json`` drives raw memory access: each array entry names a shard file, a byte offset, a
shape and a numpy dtype that :class:`~mmfusion.data.store.PackedStore` maps with ``np.memmap``.
Unchecked, an ``object`` dtype makes numpy read file bytes as ``PyObject`` pointers (a segfault,
also through ``recipes/*.py --data-root``), ``"file": "../../etc/passwd"`` reads any file, and
an offset beyond the shard raises deep in numpy. This module checks everything before the store
maps a byte:

* :func:`load_index` -- malformed JSON is a :class:`DataFormatError` naming ``index.json`` and the line;
* :func:`validate_index` (on every open, cheap: one ``stat`` per shard file) -- numeric dtypes only,
  shard files inside ``<store>/shards`` (no separators, no ``..``, no symlink out), every array's
  ``offset + nbytes`` within its file, shapes and counts of the right types, frame counts matching
  shapes, the synthetic meta's fields (:mod:`.formats.synth_meta`), and, when the index records
  checksums, each shard file's size equal to the recorded one (a truncated copy fails at once);
* :func:`shard_checksums` -- ``{file: {"size", "sha256"}}`` of every shard file, recorded in
  ``index.json["checksums"]`` when packing finishes;
* :func:`verify_store` -- the full check behind ``mmfusion prepare --check``: re-hashes every shard,
  and checks the frame-offset tables of compressed arrays.

Layout checked (see :mod:`mmfusion.data.store`)::

    index.json = {"version": int, "settings": {...}, "meta": {...}, "samples": [entry, ...],
                  "skipped": [[name, why], ...], "checksums": {file: {"size": int, "sha256": str}}}
    entry      = {"name": "SsssCcccPpppRrrrAaaa", "label": int, "num_frames": {source: int},
                  "arrays": {key: array}, "native": {source: [h, w]}, "missing": {source: str},
                  "splits": {protocol: str}, "shard": int, "intrinsics": intrinsics (optional)}
    intrinsics = {"source": "fit", "fx": float, "fy": float, "cx": float, "cy": float, "rms_px": float,
                  "max_px": float, "points": int} | {"source": "default", "why": str}
    array      = {"file": str, "offset": int, "shape": [int], "dtype": str}                 # raw
               | {"file": str, "table": int, "data": int, "codec": "png" | "jpeg",
                  "shape": [int], "dtype": str}                                              # compressed
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataFormatError
from .formats.jsonfile import read_json
from .formats.synth_meta import validate_synth_meta

INDEX = "index.json"
SHARDS = "shards"
#: dtype kinds a store may hold: signed / unsigned integers and floats (no object, void, strings)
NUMERIC_KINDS = frozenset("iuf")
_MAX_NDIM = 6
_NAME_RE = re.compile(r"^S\d{3}C\d{3}P\d{3}R\d{3}A\d{3}$")
_FILE_RE = re.compile(r"^[A-Za-z0-9_.-]+\.bin$")
_CODECS = ("png", "jpeg")
#: array key -> the axis holding the frames, checked against ``num_frames[source]``
_FRAME_AXIS = {"skeleton": ("skeleton", 1), "skeleton_color": ("skeleton", 1), "depth": ("depth", 0),
               "rgb": ("rgb", 0), "ir": ("ir", 0), "points": ("depth", 0)}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_INT, _STR = frozenset({int}), frozenset({str})
_SPLITS = frozenset({"train", "test"})


def _ints(values: Any, low: int, high: int) -> bool:
    """All ints (not bools) in [low, high): type sets and min/max run in C, which matters at 114k entries."""
    values = list(values)
    return not values or (set(map(type, values)) <= _INT and min(values) >= low and max(values) < high)


#: per-entry mappings: key, rule for all values at once, the rule in words
_ENTRY_MAPS: tuple[tuple[str, Any, str], ...] = (
    ("num_frames", lambda vs: _ints(vs, 0, 2**31), "non-negative integers"),
    ("missing", lambda vs: set(map(type, vs)) <= _STR, "strings"),
    ("splits", lambda vs: set(vs) <= _SPLITS, "'train' / 'test'"),
    ("native", lambda vs: all(type(v) is list and len(v) == 2 and _ints(v, 1, 2**31) for v in vs),
     "[h, w] positive integers"),
    ("arrays", lambda vs: True, "array specs"),
)


def load_index(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``<folder>/index.json`` (not yet validated: call :func:`validate_index`).

    Raises:
        DataFormatError: unreadable, not JSON (with the line), or not a JSON object.
    """
    path = Path(folder) / INDEX
    index = read_json(path, "store index")
    if not isinstance(index, dict):
        raise DataFormatError(path, f"store index must be a JSON object, got {type(index).__name__}")
    return index


def shard_path(folder: str | os.PathLike[str], fname: Any, where: str = "") -> Path:
    """``<folder>/shards/<fname>`` after checking that ``fname`` is a plain shard file name inside it.

    Raises:
        DataFormatError: separators, ``..``, absolute paths, other suffixes, or a symlink out.
    """
    folder = Path(folder)
    index_path = folder / INDEX
    if not isinstance(fname, str) or not _FILE_RE.match(fname) or fname.startswith("."):
        raise DataFormatError(index_path, f"{where}file {fname!r:.80} is not a shard file name "
                                          f"(plain '<name>.bin' inside {SHARDS}/)")
    root = (folder / SHARDS).resolve()
    path = (root / fname).resolve()
    if path.parent != root:
        raise DataFormatError(index_path, f"{where}file {fname!r} resolves outside {root} (to {path})")
    return folder / SHARDS / fname


_DTYPES: dict[str, np.dtype] = {}  # dtype strings already accepted (parsing one costs microseconds)


def _dtype(spec: Any, index_path: Path, where: str) -> np.dtype:
    if isinstance(spec, str) and spec in _DTYPES:
        return _DTYPES[spec]
    if not isinstance(spec, str) or len(spec) > 8:
        raise DataFormatError(index_path, f"{where}dtype {spec!r:.40} is not a numpy dtype string")
    try:
        dt = np.dtype(spec)
    except (TypeError, ValueError) as exc:
        raise DataFormatError(index_path, f"{where}dtype {spec!r} is not a numpy dtype ({exc})") from None
    if dt.kind not in NUMERIC_KINDS or dt.fields is not None or dt.subdtype is not None \
            or dt.byteorder not in ("<", "|", "=") or dt.itemsize > 8:
        raise DataFormatError(index_path, f"{where}dtype {spec!r} is not allowed (only little-endian integer "
                                          f"and float dtypes; an object dtype would read file bytes as pointers)")
    _DTYPES[spec] = dt
    return dt


def _shape(spec: Any, index_path: Path, where: str) -> tuple[int, ...]:
    if type(spec) is not list or not 1 <= len(spec) <= _MAX_NDIM or not _ints(spec, 0, 2**40):
        raise DataFormatError(index_path, f"{where}shape {spec!r:.60} is not a list of 1..{_MAX_NDIM} "
                                          f"non-negative integers")
    return tuple(spec)


def _validate_array(folder: Path, index_path: Path, spec: Any, where: str, sizes: dict[str, int]) -> None:
    if not isinstance(spec, dict):
        raise DataFormatError(index_path, f"{where}array spec must be an object, got {spec!r:.60}")
    fname = spec.get("file")
    if not isinstance(fname, str) or fname not in sizes:  # each distinct file is checked (and stat-ed) once
        path = shard_path(folder, fname, where)
        try:
            sizes[fname] = path.stat().st_size
        except OSError as exc:
            raise DataFormatError(path, f"shard file named by {index_path} ({where.rstrip(': ')}) cannot be "
                                        f"read ({exc.strerror or exc})") from None
    size = sizes[fname]
    dt = _dtype(spec.get("dtype"), index_path, where)
    shape = _shape(spec.get("shape"), index_path, where)
    if "codec" in spec:
        if spec["codec"] not in _CODECS:
            raise DataFormatError(index_path, f"{where}codec {spec['codec']!r:.40} is not one of {_CODECS}")
        table, data = spec.get("table"), spec.get("data")
        if not (_is_int(table) and _is_int(data) and table >= 0 and table % 8 == 0 and 0 <= data <= size):
            raise DataFormatError(index_path, f"{where}table / data offsets {table!r:.20} / {data!r:.20} are not "
                                              f"8-aligned non-negative integers within {fname} ({size} bytes)")
        end = table + (shape[0] + 1) * 8
        what = "frame table"
    else:
        offset = spec.get("offset")
        if not (_is_int(offset) and offset >= 0):
            raise DataFormatError(index_path, f"{where}offset {offset!r:.20} is not a non-negative integer")
        if offset % dt.alignment:
            raise DataFormatError(index_path, f"{where}offset {offset} is not aligned to {dt} ({dt.alignment})")
        end = offset + math.prod(shape) * dt.itemsize
        what = "array"
    if end > size:
        raise DataFormatError(index_path, f"{where}{what} ends at byte {end}, beyond the end of {fname} "
                                          f"({size} bytes; truncated shard or corrupt index)")


def _validate_intrinsics(rec: Any, index_path: Path, where: str) -> None:
    """A sample's depth intrinsics record (see the layout above): a fit's values are finite, focal lengths > 0."""
    if not isinstance(rec, Mapping) or rec.get("source") not in ("fit", "default"):
        raise DataFormatError(index_path, f"{where}intrinsics must be an object with source 'fit' or 'default', "
                                          f"got {rec!r:.80}")
    if rec["source"] == "default":
        if not isinstance(rec.get("why", ""), str):
            raise DataFormatError(index_path, f"{where}intrinsics.why must be a string")
        return
    vals = [rec.get(k) for k in ("fx", "fy", "cx", "cy")]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in vals) \
            or vals[0] <= 0 or vals[1] <= 0:
        raise DataFormatError(index_path, f"{where}intrinsics fx, fy, cx, cy must be finite numbers with fx, fy > 0, "
                                          f"got {vals!r:.80}")


def validate_index(index: Any, folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Check a store index before any of its arrays is mapped; returns ``index`` unchanged.

    Cheap: one ``stat`` per distinct shard file and pure-Python checks per entry (no data read).

    Raises:
        DataFormatError: naming ``<folder>/index.json`` and the entry (sample number and name,
            array key) with the problem.
    """
    folder = Path(folder)
    index_path = folder / INDEX
    if not isinstance(index, Mapping):
        raise DataFormatError(index_path, f"store index must be a JSON object, got {type(index).__name__}")
    for key, kind in (("settings", Mapping), ("samples", list)):
        if not isinstance(index.get(key), kind):
            what = "object" if kind is Mapping else "list"
            raise DataFormatError(index_path, f"{key!r} missing or not a JSON {what}")
    settings = index["settings"]
    mods = settings.get("modalities")
    if not isinstance(mods, list) or not all(isinstance(m, str) for m in mods):
        raise DataFormatError(index_path, f"settings.modalities {mods!r:.60} is not a list of names")
    for key, low in (("size", 1), ("num_points", 0)):
        v = settings.get(key)
        if v is not None and not (_is_int(v) and low <= v < 2**20):
            raise DataFormatError(index_path, f"settings.{key} {v!r:.30} is not an integer >= {low}")
    validate_synth_meta(index.get("meta") or {}, index_path)
    skipped = index.get("skipped", [])
    if not isinstance(skipped, list) or not all(
            isinstance(s, list) and len(s) == 2 and all(isinstance(x, str) for x in s) for s in skipped):
        raise DataFormatError(index_path, "'skipped' must be a list of [name, reason] string pairs")

    checksums = index.get("checksums")
    sizes: dict[str, int] = {}
    if checksums is not None:
        if not isinstance(checksums, Mapping):
            raise DataFormatError(index_path, "'checksums' must be an object file -> {size, sha256}")
        for fname, rec in checksums.items():
            where = f"checksums[{fname!r}]: "
            if not (isinstance(rec, Mapping) and _is_int(rec.get("size")) and isinstance(rec.get("sha256"), str)):
                raise DataFormatError(index_path, f"{where}expected {{size: int, sha256: str}}, got {rec!r:.60}")
            path = shard_path(folder, fname, where)
            try:
                sizes[fname] = path.stat().st_size
            except OSError as exc:
                raise DataFormatError(path, f"shard file listed in {index_path} cannot be read "
                                            f"({exc.strerror or exc})") from None
            if sizes[fname] != rec["size"]:
                raise DataFormatError(path, f"shard file has {sizes[fname]} bytes, {index_path} records "
                                            f"{rec['size']} (truncated or replaced; repack or re-copy the store)")

    names: set[str] = set()
    for i, e in enumerate(index["samples"]):
        name = e.get("name") if isinstance(e, dict) else None
        where = f"samples[{i}] ({name!r:.30}): "
        if not isinstance(e, dict) or not isinstance(name, str) or not _NAME_RE.match(name):
            raise DataFormatError(index_path, f"{where}entry needs an NTU sample name 'SsssCcccPpppRrrrAaaa'")
        if name in names:
            raise DataFormatError(index_path, f"{where}sample listed twice")
        names.add(name)
        if not (_is_int(e.get("label")) and 0 <= e["label"] < 1000):
            raise DataFormatError(index_path, f"{where}label {e.get('label')!r:.20} is not an integer in 0..999")
        for key, value_ok, what in _ENTRY_MAPS:
            d = e.get(key, {})
            if not isinstance(d, dict) or not (set(map(type, d)) <= _STR and value_ok(d.values())):
                raise DataFormatError(index_path, f"{where}{key} must map names to {what}, got {d!r:.80}")
        if "intrinsics" in e:
            _validate_intrinsics(e["intrinsics"], index_path, where)
        if checksums is not None and not _is_int(e.get("shard")):
            raise DataFormatError(index_path, f"{where}shard {e.get('shard')!r:.20} is not an integer")
        for key, spec in e.get("arrays", {}).items():
            at = f"{where}arrays.{key}: "
            _validate_array(folder, index_path, spec, at, sizes)
            if checksums is not None and spec["file"] not in checksums:
                raise DataFormatError(index_path, f"{at}file {spec['file']!r} has no recorded checksum")
            src, axis = _FRAME_AXIS.get(key, (None, 0))
            n = e.get("num_frames", {}).get(src)
            if n is not None and len(spec["shape"]) > axis and spec["shape"][axis] != n:
                raise DataFormatError(index_path, f"{at}shape {spec['shape']} does not hold num_frames.{src} = {n} "
                                                  f"frames")
    return dict(index)


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def shard_checksums(folder: str | os.PathLike[str], shard: int | None = None) -> dict[str, dict[str, Any]]:
    """``{file: {"size": bytes, "sha256": hex}}`` of the ``<folder>/shards/*.bin`` files (of one ``shard``
    when given). Record them when a shard is complete: hashes taken later would bless later damage."""
    root = Path(folder) / SHARDS
    pattern = "*.bin" if shard is None else f"{shard:05d}.*.bin"
    return {p.name: {"size": p.stat().st_size, "sha256": _sha256(p)} for p in sorted(root.glob(pattern))}


def verify_store(folder: str | os.PathLike[str]) -> list[str]:
    """Full integrity check of a packed store (``mmfusion prepare --check``): the problems found, [] if none.

    Validates the index (:func:`validate_index`), re-hashes every shard file against the recorded
    checksums, and checks that the frame-offset table of every compressed array is non-decreasing
    and stays inside its file. A store packed before checksums were recorded is reported as
    unverifiable (one problem) after the other checks.
    """
    folder = Path(folder)
    try:
        index = validate_index(load_index(folder), folder)
    except DataFormatError as exc:
        return [str(exc)]
    problems: list[str] = []
    checksums = index.get("checksums")
    if checksums is None:
        problems.append(f"{folder / INDEX}: no shard checksums recorded (packed by an older version): "
                        f"contents cannot be verified; repack to record them")
    else:
        for fname, rec in sorted(checksums.items()):
            path = folder / SHARDS / fname
            if _sha256(path) != rec["sha256"]:
                problems.append(f"{path}: sha256 differs from the one recorded at packing (corrupt shard)")
        extra = sorted({p.name for p in (folder / SHARDS).glob("*.bin")} - set(checksums))
        problems += [f"{folder / SHARDS / f}: shard file not recorded in {INDEX}" for f in extra]
    for e in index["samples"]:
        for key, spec in e["arrays"].items():
            if "codec" not in spec:
                continue
            path = folder / SHARDS / spec["file"]
            size = path.stat().st_size
            t = spec["shape"][0]
            table = np.fromfile(path, dtype="<i8", count=t + 1, offset=spec["table"])
            if len(table) != t + 1 or table[0] != 0 or (np.diff(table) < 0).any() \
                    or spec["data"] + int(table[-1]) > size:
                problems.append(f"{path}: frame table of {e['name']}/{key} is corrupt or points past the file")
    return problems
