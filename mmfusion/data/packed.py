"""Reading a packed NTU store: :class:`PackedStore`, memory-mapped, O(1) random access.

The store is written by :func:`mmfusion.data.store.pack_ntu` (``data_tools/prepare_ntu.py`` or
``mmfusion prepare``; the folder layout and array table are in :mod:`mmfusion.data.store`).
:class:`PackedStore` is a :class:`~mmfusion.data.reader.SampleReader`: it reads only the frames a
clip asks for, through ``np.memmap`` (no full load, no text parsing, no video decoding), and
compressed frames (PNG / JPEG) one by one.

Memory: the index is held compactly (:class:`CompactEntries`: one string of the per-sample
JSON records, decoded on access) instead of the Python objects ``json.load`` makes (measured
in the "Scale" section of docs/performance.md), and mostly in objects that DataLoader workers
forked from the process share instead of copying (one string and a numpy array are not
touched page by page by reference counting).
"""

from __future__ import annotations

import io
import json
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..errors import ConfigError, DataFormatError, MissingModalityError
from .calibration import DepthIntrinsics
from .camera import KINECT_V2_DEPTH, CameraIntrinsics
from .reader import SkeletonData, meta_intrinsics, meta_sizes
from .store_index import load_index, validate_index

__all__ = ["STORE_VERSION", "PackedStore", "CompactEntries", "decode_frame"]

STORE_VERSION = 1


def decode_frame(data: bytes, dtype: np.dtype, path: Path | str) -> np.ndarray:
    """Inverse of :func:`encode_frame`."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            arr = np.array(im)
    except (OSError, ValueError) as exc:
        raise DataFormatError(path, f"corrupt frame in store ({exc})") from exc
    return arr.astype(dtype, copy=False)


class CompactEntries(Mapping[str, dict[str, Any]]):
    """Sample name -> index entry (a read-only mapping), held as one blob of compact JSON records.

    ``json.load`` turns a 114k-sample index into ~300 MB of dicts, lists and strings, per process,
    and DataLoader workers end up copying them (reference counting writes to every object's page).
    Here the records live in one ASCII ``str`` (1 byte per character) with a (N + 1,) int64 offset
    table and a name -> position dict; a record is decoded when asked for, and the last few decoded
    ones are kept (a sample's reads ask for its entry several times in a row); treat the returned
    dicts as read-only, as the store's entries always were.
    """

    _encode = json.JSONEncoder(separators=(",", ":")).encode  # one encoder: json.dumps(...) builds one per call
    _decode = json.JSONDecoder().decode

    def __init__(self, samples: Sequence[Mapping[str, Any]], cache: int = 16) -> None:
        parts = [self._encode(e) for e in samples]
        # names as one array now, the lookup dict on first use: its keys must not be the parsed
        # JSON's own strings, which would pin the freed dicts' memory pages in the process
        self._names = np.array([e["name"] for e in samples], dtype="S20")
        self._lookup: dict[str, int] | None = None
        self._offsets = np.zeros(len(parts) + 1, dtype=np.int64)
        self._offsets[1:] = np.cumsum([len(p) for p in parts])
        self._blob = "".join(parts)
        self._cache: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._cache_size = cache

    def __getitem__(self, name: str) -> dict[str, Any]:
        hit = self._cache.get(name)
        if hit is not None:
            return hit
        i = self._pos()[name]  # KeyError for an unknown name, as a dict
        entry = self._decode(self._blob[self._offsets[i]:self._offsets[i + 1]])
        self._cache[name] = entry
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return entry

    def _pos(self) -> dict[str, int]:
        if self._lookup is None:
            self._lookup = {n.decode(): i for i, n in enumerate(self._names.tolist())}
        return self._lookup

    def __contains__(self, name: object) -> bool:
        return name in self._pos()

    def __iter__(self) -> Iterator[str]:
        return iter(self._pos())

    def __len__(self) -> int:
        return len(self._names)

    def nbytes(self) -> int:
        """Bytes of the record blob, the offset table and the names (the lookup dict comes on top)."""
        return len(self._blob) + self._offsets.nbytes + self._names.nbytes


class PackedStore:
    """Random access to a packed store (memory-mapped; a :class:`~mmfusion.data.reader.SampleReader`).

    Args:
        path: store folder (with ``index.json``).
        max_open: shard files kept mapped at once (least recently used are closed).

    Reading methods return copies of just the requested frames:
    ``load_frames(name, "rgb", idx)`` -> uint8 (T, h, w, 3); ``"depth"`` -> uint16 (T, h, w);
    ``"ir"`` -> uint8 (T, h, w); ``load_skeleton(name)`` -> joints (M, T, V, 3) + colors;
    ``load_points(name, idx)`` -> float32 (T, N, 3).
    """

    def __init__(self, path: str | Path, max_open: int = 64) -> None:
        self.path = Path(path)
        index_path = self.path / "index.json"
        if not index_path.is_file():
            raise MissingModalityError("store", f"{index_path} not found; run data_tools/prepare_ntu.py "
                                                f"(to completion) to build the store")
        index = load_index(self.path)  # malformed JSON -> DataFormatError naming the line
        if index.get("version") != STORE_VERSION:
            raise ConfigError(f"{index_path}: store version {index.get('version')} != {STORE_VERSION}; repack")
        validate_index(index, self.path)  # an index is untrusted: dtypes, paths, offsets, shard sizes
        self.settings: dict[str, Any] = index["settings"]
        self.meta: dict[str, Any] = index.get("meta", {})
        self.sizes = meta_sizes(self.meta)
        self.entries: CompactEntries = CompactEntries(index["samples"])
        self.skipped: dict[str, str] = {n: why for n, why in index.get("skipped", [])}
        self.decode_size: int | None = self.settings["size"]
        self.base_points: int = self.settings["num_points"] if "points" in self.settings["modalities"] else 0
        self.max_open = max_open
        self._maps: OrderedDict[str, np.memmap] = OrderedDict()

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def names(self) -> list[str]:
        """Every sample planned at packing time (skipped ones too: :meth:`missing` says why)."""
        return sorted([*self.entries, *self.skipped])

    def entry(self, name: str) -> dict[str, Any]:
        try:
            return self.entries[name]
        except KeyError:
            raise MissingModalityError("store", f"sample {name} is not in {self.path}"
                                                f"{': ' + self.skipped[name] if name in self.skipped else ''}"
                                       ) from None

    def missing(self, name: str, kind: str) -> str | None:
        """Why ``kind`` is unavailable for ``name`` (not packed / missing / broken), or None."""
        if name in self.skipped:
            return f"skipped when packing: {self.skipped[name]}"
        e = self.entry(name)
        if kind in e["missing"]:
            return e["missing"][kind]
        if kind not in e["arrays"]:
            return f"{kind} was not packed into {self.path} (modalities: {self.settings['modalities']})"
        return None

    def array(self, name: str, key: str) -> np.ndarray:
        """Read-only memory-mapped view of one stored array (no copy); compressed frames are decoded."""
        e = self.entry(name)
        try:
            spec = e["arrays"][key]
        except KeyError:
            raise MissingModalityError(key, f"{name} has no {key!r} array in {self.path}") from None
        if "codec" in spec:
            return self.load_frames(name, key)
        mm = self._map(spec["file"])
        return np.ndarray(tuple(spec["shape"]), dtype=np.dtype(spec["dtype"]), buffer=mm, offset=spec["offset"])

    def _map(self, fname: str) -> np.memmap:
        mm = self._maps.get(fname)
        if mm is None:
            mm = np.memmap(self.path / "shards" / fname, dtype=np.uint8, mode="r")
            self._maps[fname] = mm
            if len(self._maps) > self.max_open:
                self._maps.popitem(last=False)
        else:
            self._maps.move_to_end(fname)
        return mm

    def num_frames(self, name: str, kind: str) -> int:
        e = self.entry(name)
        if kind not in e["num_frames"]:
            raise MissingModalityError(kind, f"{name}: {self.missing(name, kind)}")
        return int(e["num_frames"][kind])

    def load_skeleton(self, name: str) -> SkeletonData:
        return SkeletonData(np.asarray(self.array(name, "skeleton"), dtype=np.float32),
                            np.asarray(self.array(name, "skeleton_color"), dtype=np.float32))

    def load_frames(self, name: str, kind: str, indices: Sequence[int] | None = None) -> np.ndarray:
        spec = self.entry(name)["arrays"].get(kind)
        if spec is None or "codec" not in spec:
            arr = self.array(name, kind)
            return np.array(arr if indices is None else arr[np.asarray(indices, dtype=np.int64)])
        # compressed frames: decode only the requested ones (each once)
        mm = self._map(spec["file"])
        t = spec["shape"][0]
        table = np.ndarray((t + 1,), dtype="<i8", buffer=mm, offset=spec["table"])
        idx = np.arange(t) if indices is None else np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= t):
            raise DataFormatError(self.path, f"{name}/{kind}: frame index out of range (T = {t})")
        out = np.empty((len(idx), *spec["shape"][1:]), dtype=np.dtype(spec["dtype"]))
        done: dict[int, int] = {}
        for k, i in enumerate(idx.tolist()):
            if i in done:
                out[k] = out[done[i]]
                continue
            a, b = spec["data"] + int(table[i]), spec["data"] + int(table[i + 1])
            out[k] = decode_frame(mm[a:b].tobytes(), out.dtype, self.path / "shards" / spec["file"])
            done[i] = k
        return out

    def load_points(self, name: str, indices: Sequence[int]) -> np.ndarray:
        if "points" not in self.entry(name)["arrays"]:
            raise MissingModalityError("points", f"{self.path} was packed without points; "
                                                 "repack with --modalities ... points")
        return np.asarray(self.array(name, "points")[np.asarray(indices, dtype=np.int64)], dtype=np.float32)

    def native_size(self, name: str, kind: str) -> tuple[int, int]:
        nat = self.entries.get(name, {}).get("native", {}).get(kind)
        if "sizes" in self.meta or nat is None:
            return self.sizes[kind]
        return int(nat[0]), int(nat[1])

    def intrinsics(self, name: str) -> CameraIntrinsics:
        """Depth intrinsics: fitted on the sample's skeleton file when packed (real NTU), else the packed
        world's (synthetic meta), else Kinect v2's."""
        return self.depth_intrinsics(name).intrinsics

    def depth_intrinsics(self, name: str) -> DepthIntrinsics:
        """:meth:`intrinsics` with where they came from ("fit", "default" + why, or "meta"); stores
        packed before per-sample fits hold none and give the meta / Kinect v2 values."""
        base = meta_intrinsics(self.meta)
        rec = self.entries.get(name, {}).get("intrinsics")
        if rec is not None:
            return DepthIntrinsics.from_dict(rec, base)
        return DepthIntrinsics(base, "default" if base is KINECT_V2_DEPTH else "meta",
                               reason="not recorded in the store" if base is KINECT_V2_DEPTH else "")

    def label(self, name: str) -> int:
        return int(self.entry(name)["label"])

    def __getstate__(self) -> dict[str, Any]:
        # memmaps are re-opened lazily in DataLoader workers
        state = self.__dict__.copy()
        state["_maps"] = OrderedDict()
        return state
