"""Packed NTU store: one pass over a raw tree into memory-mappable shards, O(1) random access.

Training from the raw tree parses a text skeleton, lists a depth folder and decodes videos
for every clip; the packed store does all of that once (``data_tools/prepare_ntu.py`` or
``mmfusion prepare``) and afterwards reads only the frames a clip needs, through ``np.memmap``
(no full load, no text parsing, no video decoding).

Layout of a store folder::

    store.json                  settings + the sample plan (checked when resuming)
    shards/00000.json           per-shard index, written last (its presence = shard complete)
    shards/00000.<array>.bin    raw little-endian arrays, 64-byte aligned, one file per array kind
    index.json                  all samples: name, label, num_frames, arrays (file, offset, shape,
                                dtype), native sizes, split membership, missing modalities + why
    skipped.json                summary of skipped samples / modalities with reasons

Arrays per sample (``T`` = the file's own frame count):

=================== ========================== =============================================
array               shape, dtype               content
=================== ========================== =============================================
``skeleton``        (M, T, V, 3) float32/16    denoised (CTR-GCN) joints, original frame indices
``skeleton_color``  (M, T, V, 2) float32       RGB pixel coordinates of the joints
``depth``           (T, h, w) uint16           masked depth, mm, short side = ``size`` (nearest)
``rgb``             (T, h, w, 3) uint8         RGB, short side = ``size`` (antialiased bilinear)
``ir``              (T, h, w) uint8            IR, short side = ``size``
``points``          (T, N, 3) float32/16       N points per frame from full-resolution depth
=================== ========================== =============================================

With ``frame_codec="png"`` (lossless) or ``"jpeg"`` (RGB/IR only, lossy) the depth/RGB/IR
frames are compressed one by one, with a (T + 1,) int64 table of byte offsets in front of
them: a clip still reads only its own frames.

Packing is resumable: samples are planned into fixed shards (sorted names, ``shard_size``
each); a shard's arrays go to temporary files renamed with ``os.replace`` when complete, then
its JSON; re-running skips complete shards. A sample whose file is missing or broken is kept
with that modality marked missing (reason recorded); a sample with no readable modality is
skipped (recorded). :class:`PackedStore` exposes the same reading interface as the raw source
of :class:`~mmfusion.data.dataset.NTUDataset`, so ``NTUDataset(store=...)`` returns the same
tensors as ``NTUDataset(root, decode_size=size)``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DataFormatError, MissingModalityError, MMFusionError
from .dataset import BASE_POINTS, SOURCES, RawSource, SkeletonData, base_points, meta_sizes
from .ntu import PROTOCOLS
from .store_index import load_index, shard_checksums, validate_index, verify_store  # [hardening] issue 12

STORE_VERSION = 1
PACKABLE = ("skeleton", "depth", "rgb", "ir", "points")
ALIGN = 64


# ---------------------------------------------------------------------------------------------
# writing


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class _ShardWriter:
    """Appends arrays to one temporary .bin file per array kind; ``commit`` renames them."""

    def __init__(self, folder: Path, shard: int) -> None:
        self.folder, self.shard = folder, shard
        self.files: dict[str, Any] = {}
        self.sizes: dict[str, int] = {}

    def fname(self, key: str) -> str:
        return f"{self.shard:05d}.{key}.bin"

    def add(self, key: str, arr: np.ndarray) -> dict[str, Any]:
        if key not in self.files:
            self.files[key] = open(self.folder / (self.fname(key) + ".tmp"), "wb")  # noqa: SIM115
            self.sizes[key] = 0
        f = self.files[key]
        pad = (-self.sizes[key]) % ALIGN
        if pad:
            f.write(b"\0" * pad)
            self.sizes[key] += pad
        arr = np.ascontiguousarray(arr)
        dtype = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
        data = arr.astype(dtype, copy=False).tobytes()
        offset = self.sizes[key]
        f.write(data)
        self.sizes[key] += len(data)
        return {"file": self.fname(key), "offset": offset, "shape": list(arr.shape), "dtype": np.dtype(dtype).str}

    def add_frames(self, key: str, frames: np.ndarray, codec: str) -> dict[str, Any]:
        """Append frames compressed one by one (``codec`` "png" or "jpeg") plus a (T + 1,) int64
        table of their byte offsets, so any frame is found in O(1)."""
        blobs = [encode_frame(f, codec) for f in frames]
        table = np.zeros(len(blobs) + 1, dtype="<i8")
        table[1:] = np.cumsum([len(b) for b in blobs])
        spec = self.add(key, table)
        f = self.files[key]
        start = self.sizes[key]
        for b in blobs:
            f.write(b)
        self.sizes[key] += int(table[-1])
        return {"file": spec["file"], "table": spec["offset"], "data": start, "codec": codec,
                "shape": list(frames.shape), "dtype": np.dtype(frames.dtype).str}

    def commit(self) -> None:
        for key, f in self.files.items():
            f.flush()
            os.fsync(f.fileno())
            f.close()
            os.replace(self.folder / (self.fname(key) + ".tmp"), self.folder / self.fname(key))
        self.files.clear()

    def abort(self) -> None:
        for f in self.files.values():
            f.close()


def encode_frame(frame: np.ndarray, codec: str) -> bytes:
    """One frame to PNG (lossless; uint8 grey/RGB or uint16 depth) or JPEG (uint8, quality 90) bytes."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    img = Image.fromarray(np.ascontiguousarray(frame))
    if codec == "png":
        img.save(buf, format="PNG", compress_level=1)
    elif codec == "jpeg":
        img.save(buf, format="JPEG", quality=90)
    else:
        raise ConfigError(f"unknown frame codec {codec!r}")
    return buf.getvalue()


def decode_frame(data: bytes, dtype: np.dtype, path: Path | str) -> np.ndarray:
    """Inverse of :func:`encode_frame`."""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            arr = np.array(im)
    except (OSError, ValueError) as exc:
        raise DataFormatError(path, f"corrupt frame in store ({exc})") from exc
    return arr.astype(dtype, copy=False)


def _splits(name: str) -> dict[str, str]:
    """Split membership of ``name`` under every protocol it belongs to."""
    from .ntu import NTUSampleName, split_of

    parsed = NTUSampleName.parse(name)
    return {p: s for p in PROTOCOLS if (s := split_of(parsed, p)) is not None}


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def pack_sample(src: RawSource, name: str, writer: _ShardWriter, settings: dict[str, Any],
                listed_missing: set[str]) -> dict[str, Any] | None:
    """Decode one sample and append its arrays; returns its index entry (None: nothing readable)."""
    from .formats.depth import read_depth_folder
    from .formats.video import read_video
    from .ntu import NTUSampleName
    from .transforms import resize_short_side

    mods = settings["modalities"]
    size = settings["size"]
    entry: dict[str, Any] = {"name": name, "label": NTUSampleName.parse(name).action - 1, "num_frames": {},
                             "arrays": {}, "native": {}, "missing": {}, "splits": _splits(name)}
    staged: dict[str, np.ndarray] = {}
    for source in [s for s in SOURCES if s in mods or (s == "depth" and "points" in mods)]:
        if source == "skeleton" and name in listed_missing:
            entry["missing"]["skeleton"] = "listed in the official missing-skeleton list"
            continue
        why = src.missing(name, source)
        if why is not None:
            entry["missing"][source] = why
            continue
        try:
            if source == "skeleton":
                sk: SkeletonData = src.load_skeleton(name)
                staged["skeleton"] = sk.joints.astype(settings["skeleton_dtype"])
                staged["skeleton_color"] = sk.colors.astype(np.float32)
                entry["num_frames"]["skeleton"] = int(sk.joints.shape[1])
                continue
            if source == "depth":
                full = read_depth_folder(src.path(name, "depth"), expected_size=src._expected("depth"))
                if "depth" in mods:
                    staged["depth"] = resize_short_side(full, size, nearest=True)
                if "points" in mods:
                    pts = base_points(full, name, range(len(full)), src.intrinsics, settings["num_points"],
                                      settings["point_method"])
                    staged["points"] = pts.astype(settings["points_dtype"])
            else:
                full = read_video(src.path(name, source), gray=source == "ir")
                staged[source] = resize_short_side(full, size)
            entry["native"][source] = [int(full.shape[1]), int(full.shape[2])]
            entry["num_frames"][source] = int(full.shape[0])
        except (MMFusionError, OSError) as exc:
            entry["missing"][source] = _why(exc)
            for k in ("depth", "points") if source == "depth" else (source,):
                staged.pop(k, None)
    if "points" in mods and "depth" in entry["missing"]:
        entry["missing"]["points"] = entry["missing"]["depth"]
    if not staged:
        return None
    codec = settings.get("frame_codec", "raw")
    for key, arr in staged.items():
        if codec != "raw" and key in ("depth", "rgb", "ir"):
            # JPEG is lossy and cannot hold uint16: depth stays PNG
            entry["arrays"][key] = writer.add_frames(key, arr, "png" if key == "depth" else codec)
        else:
            entry["arrays"][key] = writer.add(key, arr)
    return entry


def _pack_shard(raw_root: str, out: str, shard: int, names: Sequence[str], settings: dict[str, Any],
                listed_missing: Sequence[str]) -> int:
    """Pack one shard completely (worker entry point); returns the number of samples handled."""
    folder = Path(out) / "shards"
    src = RawSource(raw_root, decode_size=settings["size"], max_bodies=settings["max_bodies"],
                    base_points=settings["num_points"], point_method=settings["point_method"])
    writer = _ShardWriter(folder, shard)
    listed = set(listed_missing)
    samples, skipped = [], []
    try:
        for name in names:
            entry = pack_sample(src, name, writer, settings, listed)
            if entry is None:
                reasons = "; ".join(f"{k}: {v}" for k, v in _entry_missing(src, name, settings, listed).items())
                skipped.append([name, f"no readable modality ({reasons})"])
            else:
                samples.append(entry)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    _atomic_write_text(folder / f"{shard:05d}.json",
                       json.dumps({"shard": shard, "samples": samples, "skipped": skipped,
                                   "checksums": shard_checksums(out, shard)}))  # [hardening] issue 12
    return len(names)


def _entry_missing(src: RawSource, name: str, settings: dict[str, Any], listed: set[str]) -> dict[str, str]:
    """Reasons for a sample with nothing readable (re-derived cheaply for the summary)."""
    out = {}
    for s in SOURCES:
        if s in settings["modalities"] or (s == "depth" and "points" in settings["modalities"]):
            if s == "skeleton" and name in listed:
                out[s] = "listed in the official missing-skeleton list"
            else:
                out[s] = src.missing(name, s) or "unreadable (see DataFormatError when reading it)"
    return out


def pack_ntu(raw_root: str | Path, out: str | Path, modalities: Sequence[str] = ("skeleton", "depth", "rgb", "ir"),
             size: int | None = 112, skeleton_dtype: str = "float32", max_bodies: int = 2,
             num_points: int = BASE_POINTS, points_dtype: str = "float32", point_method: str = "random",
             shard_size: int = 64, workers: int = 1, frame_codec: str = "raw", names: Iterable[str] | None = None,
             missing_skeletons: str | Path | Iterable[str] | None = None, progress: bool = True,
             overwrite: bool = False) -> Path:
    """Pack a raw NTU tree into a store at ``out`` (resumable; see the module docstring).

    Args:
        raw_root: NTU tree (skeletons, masked depth, rgb, ir folders; synthetic meta if any).
        out: store folder (created).
        modalities: any of skeleton, depth, rgb, ir, points.
        size: short side of stored frames (None: native resolution).
        skeleton_dtype: "float32" (exact) or "float16" (half the space).
        num_points, points_dtype, point_method: points per frame kept for "points".
        shard_size: samples per shard (the unit of atomic writes and of resuming).
        frame_codec: "raw" (plain arrays, memory-mapped), "png" (lossless per-frame PNG, about
            3-10x smaller, still O(1) per frame; reading equals "raw") or "jpeg" (RGB/IR as JPEG
            quality 90, depth PNG; smallest, lossy).
        workers: processes packing shards in parallel.
        names: restrict to these samples (default: every sample of the tree).
        missing_skeletons: official list (path or names): their skeletons are not read.
        progress: show a tqdm bar.
        overwrite: when ``out`` holds a store with other settings or samples, delete its files
            (``store.json``, ``index.json``, ``skipped.json``, ``shards/``) and repack instead of
            raising :class:`ConfigError`.

    Returns:
        ``out`` as a Path.
    """
    from tqdm.auto import tqdm

    from .dataset import _load_missing

    bad = [m for m in modalities if m not in PACKABLE]
    if bad or not modalities:
        raise ConfigError(f"cannot pack modalities {bad}; choose from {PACKABLE}")
    if frame_codec not in ("raw", "png", "jpeg"):
        raise ConfigError(f"frame_codec must be 'raw', 'png' or 'jpeg', got {frame_codec!r}")
    if skeleton_dtype not in ("float32", "float16") or points_dtype not in ("float32", "float16"):
        raise ConfigError("skeleton_dtype / points_dtype must be 'float32' or 'float16'")
    out = Path(out)
    src = RawSource(raw_root, decode_size=size, max_bodies=max_bodies)
    plan = src.names()
    if names is not None:
        wanted = set(names)
        plan = [n for n in plan if n in wanted]
    if not plan:  # [hardening] issue 12: an empty store is a mistake (wrong folder), not a success
        raise ConfigError(f"{raw_root}: no NTU samples found to pack (expected nturgb+d_skeletons/, "
                          f"nturgb+d_depth_masked/, nturgb+d_rgb/ or nturgb+d_ir/ folders)")
    settings = {"version": STORE_VERSION, "modalities": sorted(set(modalities), key=PACKABLE.index),
                "size": size, "skeleton_dtype": skeleton_dtype, "max_bodies": max_bodies,
                "num_points": num_points, "points_dtype": points_dtype, "point_method": point_method,
                "shard_size": shard_size, "frame_codec": frame_codec}
    (out / "shards").mkdir(parents=True, exist_ok=True)
    settings_path = out / "store.json"
    if settings_path.is_file():
        old = json.loads(settings_path.read_text())
        if (old.get("settings") != settings or old.get("names") != plan) and overwrite:
            _remove_store(out)
        elif old.get("settings") != settings or old.get("names") != plan:
            raise ConfigError(f"{out} holds a store packed with other settings or samples; "
                              "use another output folder, delete it, or pass overwrite=True to repack")
    if not settings_path.is_file():
        _atomic_write_text(settings_path, json.dumps({"settings": settings, "raw_root": str(raw_root),
                                                      "names": plan}))
    listed = sorted(_load_missing(missing_skeletons))
    shards = [(k, plan[i:i + shard_size]) for k, i in enumerate(range(0, len(plan), shard_size))]
    todo = [(k, ns) for k, ns in shards if not (out / "shards" / f"{k:05d}.json").is_file()]
    done = len(plan) - sum(len(ns) for _, ns in todo)
    bar = tqdm(total=len(plan), initial=done, unit="sample", desc="packing NTU", disable=not progress)
    if workers <= 1:
        for k, ns in todo:
            _pack_shard(str(raw_root), str(out), k, ns, settings, listed)
            bar.update(len(ns))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_pack_shard, str(raw_root), str(out), k, ns, settings, listed) for k, ns in todo]
            for fut in as_completed(futures):
                bar.update(fut.result())
    bar.close()
    finalize(out, src.meta)
    return out


def _remove_store(out: Path) -> None:
    """Delete the files of a store (only the names a store consists of, nothing else in ``out``)."""
    import shutil

    for name in ("index.json", "skipped.json", "store.json"):
        (out / name).unlink(missing_ok=True)
    shutil.rmtree(out / "shards", ignore_errors=True)
    (out / "shards").mkdir(parents=True, exist_ok=True)


def finalize(out: str | Path, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Assemble ``index.json`` and ``skipped.json`` from the complete shard files."""
    out = Path(out)
    stored = json.loads((out / "store.json").read_text())
    settings, plan = stored["settings"], stored["names"]
    n_shards = (len(plan) + settings["shard_size"] - 1) // settings["shard_size"]
    samples: list[dict[str, Any]] = []
    skipped: list[list[str]] = []
    checksums: dict[str, Any] = {}  # [hardening] issue 12: recorded when each shard completed
    for k in range(n_shards):
        p = out / "shards" / f"{k:05d}.json"
        if not p.is_file():
            raise ConfigError(f"{out}: shard {k} is not packed yet; re-run prepare_ntu to resume")
        shard = json.loads(p.read_text())
        for e in shard["samples"]:
            e["shard"] = k
        samples.extend(shard["samples"])
        skipped.extend(shard["skipped"])
        checksums.update(shard.get("checksums") or shard_checksums(out, k))  # [hardening] older shards: hash now
    missing = [[e["name"], m, why] for e in samples for m, why in e["missing"].items()]
    meta = dict(meta or {})
    index = {"version": STORE_VERSION, "settings": settings, "meta": meta, "samples": samples, "skipped": skipped,
             "checksums": checksums}  # [hardening] issue 12: verified by verify_store / sizes on open
    _atomic_write_text(out / "index.json", json.dumps(index))
    summary = {"samples": len(plan), "packed": len(samples), "skipped_samples": skipped,
               "missing_modalities": missing,
               "missing_counts": dict(Counter(m for _, m, _ in missing))}
    _atomic_write_text(out / "skipped.json", json.dumps(summary, indent=1))
    return summary


# ---------------------------------------------------------------------------------------------
# reading


class PackedStore:
    """Random access to a packed store (memory-mapped; the same interface as the raw source).

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
        index = load_index(self.path)  # [hardening] issue 12: malformed JSON -> DataFormatError naming the line
        if index.get("version") != STORE_VERSION:
            raise ConfigError(f"{index_path}: store version {index.get('version')} != {STORE_VERSION}; repack")
        validate_index(index, self.path)  # [hardening] issue 12: dtypes, paths, offsets, shard sizes
        self.settings: dict[str, Any] = index["settings"]
        self.meta: dict[str, Any] = index.get("meta", {})
        self.sizes = meta_sizes(self.meta)
        self.entries: dict[str, dict[str, Any]] = {e["name"]: e for e in index["samples"]}
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

    def missing(self, name: str, source: str) -> str | None:
        """Why ``source`` is unavailable for ``name`` (not packed / missing / broken), or None."""
        if name in self.skipped:
            return f"skipped when packing: {self.skipped[name]}"
        e = self.entry(name)
        if source in e["missing"]:
            return e["missing"][source]
        if source not in e["arrays"]:
            return f"{source} was not packed into {self.path} (modalities: {self.settings['modalities']})"
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

    def num_frames(self, name: str, source: str) -> int:
        e = self.entry(name)
        if source not in e["num_frames"]:
            raise MissingModalityError(source, f"{name}: {self.missing(name, source)}")
        return int(e["num_frames"][source])

    def load_skeleton(self, name: str) -> SkeletonData:
        return SkeletonData(np.asarray(self.array(name, "skeleton"), dtype=np.float32),
                            np.asarray(self.array(name, "skeleton_color"), dtype=np.float32))

    def load_frames(self, name: str, source: str, indices: Sequence[int] | None = None) -> np.ndarray:
        spec = self.entry(name)["arrays"].get(source)
        if spec is None or "codec" not in spec:
            arr = self.array(name, source)
            return np.array(arr if indices is None else arr[np.asarray(indices, dtype=np.int64)])
        # compressed frames: decode only the requested ones (each once)
        mm = self._map(spec["file"])
        t = spec["shape"][0]
        table = np.ndarray((t + 1,), dtype="<i8", buffer=mm, offset=spec["table"])
        idx = np.arange(t) if indices is None else np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= t):
            raise DataFormatError(self.path, f"{name}/{source}: frame index out of range (T = {t})")
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

    def native_size(self, name: str, source: str) -> tuple[int, int]:
        nat = self.entries.get(name, {}).get("native", {}).get(source)
        if "sizes" in self.meta or nat is None:
            return self.sizes[source]
        return int(nat[0]), int(nat[1])

    def label(self, name: str) -> int:
        return int(self.entry(name)["label"])

    def __getstate__(self) -> dict[str, Any]:
        # memmaps are re-opened lazily in DataLoader workers
        state = self.__dict__.copy()
        state["_maps"] = OrderedDict()
        return state


# ---------------------------------------------------------------------------------------------
# checks + command line


def split_counts(store: PackedStore, require: str | None = None) -> dict[str, dict[str, int]]:
    """protocol -> {"train": n, "test": n} over every planned sample (skipped ones too), or only
    over those where ``require`` (e.g. "skeleton") is available."""
    counts: dict[str, Counter[str]] = {p: Counter() for p in PROTOCOLS}
    for name in store.names():
        if require is not None and store.missing(name, require) is not None:
            continue
        e = store.entries.get(name)
        for p, s in (e["splits"] if e is not None else _splits(name)).items():
            counts[p][s] += 1
    return {p: dict(c) for p, c in counts.items() if c}


def check_counts(store: PackedStore) -> tuple[bool, str]:
    """Compare split sizes with the official NTU numbers (full NTU-60 / NTU-120 trees only).

    Compares all planned samples with the "all samples" sizes and, when skeletons were packed,
    the samples with a readable skeleton with the "after removing missing skeletons" sizes.
    """
    total = len(store.names())
    full = {56880: ("xsub", "xview"), 114480: ("xsub", "xview", "xsub120", "xset")}
    lines = [f"{total} samples planned, {len(store)} packed"]
    counts = split_counts(store)
    for p, c in counts.items():
        lines.append(f"  {p:8s} train {c.get('train', 0):6d}  test {c.get('test', 0):6d}")
    if total not in full:
        lines.append("not the full NTU-60 (56,880) / NTU-120 (114,480) list: no reference counts to compare")
        return True, "\n".join(lines)
    checks = [("all samples", counts, _REFERENCE_ALL)]
    if "skeleton" in store.settings["modalities"]:
        checks.append(("with skeleton", split_counts(store, require="skeleton"), _REFERENCE_SKELETON))
    ok = True
    for p in full[total]:
        for what, got, ref in checks:
            have = (got.get(p, {}).get("train", 0), got.get(p, {}).get("test", 0))
            want = tuple(ref[p])
            ok &= have == want
            lines.append(f"  {p}: {what} {have} expected {want} {'ok' if have == want else 'MISMATCH'}")
    return ok, "\n".join(lines)


#: official split sizes (train, test), ecosystem notes B1.5
_REFERENCE_ALL = {"xsub": (40320, 16560), "xview": (37920, 18960), "xsub120": (63360, 51120),
                  "xset": (54720, 59760)}
_REFERENCE_SKELETON = {"xsub": (40091, 16487), "xview": (37646, 18932), "xsub120": (63026, 50919),
                       "xset": (54468, 59477)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mmfusion prepare`` / ``data_tools/prepare_ntu.py``."""
    parser.add_argument("raw_root", help="raw NTU tree (nturgb+d_skeletons/, nturgb+d_depth_masked/, ...)")
    parser.add_argument("out", help="store folder to write (re-run to resume)")
    parser.add_argument("--modalities", nargs="+", default=["skeleton", "depth", "rgb", "ir"], choices=PACKABLE)
    parser.add_argument("--size", type=int, default=112, help="short side of stored frames (0: native)")
    parser.add_argument("--skeleton-dtype", default="float32", choices=("float32", "float16"))
    parser.add_argument("--max-bodies", type=int, default=2)
    parser.add_argument("--num-points", type=int, default=BASE_POINTS, help="points per frame for 'points'")
    parser.add_argument("--points-dtype", default="float32", choices=("float32", "float16"))
    parser.add_argument("--point-method", default="random", choices=("random", "fps"))
    parser.add_argument("--shard-size", type=int, default=64, help="samples per shard (unit of resuming)")
    parser.add_argument("--workers", type=int, default=1, help="processes packing shards in parallel")
    parser.add_argument("--frame-codec", default="raw", choices=("raw", "png", "jpeg"),
                        help="raw arrays (fastest), per-frame PNG (lossless, smaller) or JPEG for RGB/IR")
    parser.add_argument("--missing-skeletons", help="official list of samples with missing skeletons")
    parser.add_argument("--limit", type=int, help="pack only the first N samples (a quick trial)")
    parser.add_argument("--check", action="store_true", help="compare split sizes with the official counts")
    parser.add_argument("--overwrite", action="store_true", help="repack OUT if it holds a store with other settings")
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    """Pack (or resume), print the summary, optionally check split counts; 0 on success."""
    names = None
    if args.limit:
        names = RawSource(args.raw_root).names()[: args.limit]
    out = pack_ntu(args.raw_root, args.out, modalities=args.modalities, size=args.size or None,
                   skeleton_dtype=args.skeleton_dtype, max_bodies=args.max_bodies, num_points=args.num_points,
                   points_dtype=args.points_dtype, point_method=args.point_method, shard_size=args.shard_size,
                   workers=args.workers, frame_codec=args.frame_codec, names=names,
                   missing_skeletons=args.missing_skeletons, progress=not args.no_progress,
                   overwrite=args.overwrite)
    summary = json.loads((out / "skipped.json").read_text())
    print(f"packed {summary['packed']} of {summary['samples']} samples into {out}")
    if summary["skipped_samples"]:
        print(f"skipped {len(summary['skipped_samples'])} samples (see {out / 'skipped.json'}):")
        for name, why in summary["skipped_samples"][:10]:
            print(f"  {name}: {why}")
    if summary["missing_counts"]:
        print("missing modalities: " + ", ".join(f"{m}: {n}" for m, n in summary["missing_counts"].items()))
    if args.check:
        ok, report = check_counts(PackedStore(out))
        print(report)
        problems = verify_store(out)  # [hardening] issue 12: checksums + frame tables
        for p in problems:
            print(f"integrity: {p}")
        print("integrity: all shard checksums and frame tables verified" if not problems else
              f"integrity: {len(problems)} problem(s)")
        return 0 if ok and not problems else 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m mmfusion.data.store RAW OUT ...`` (same as ``mmfusion prepare``)."""
    parser = argparse.ArgumentParser(prog="prepare_ntu", description="pack a raw NTU tree into a store")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except MMFusionError as exc:
        print(f"prepare_ntu: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
