"""Packed NTU store: one pass over a raw tree into memory-mappable shards, O(1) random access.

This module writes stores (:func:`pack_ntu`) and holds the ``prepare`` command line; reading
is :class:`~mmfusion.data.packed.PackedStore` (re-exported here).

Training from the raw tree parses a text skeleton, lists a depth folder and decodes videos
for every clip; the packed store does all of that once (``data_tools/prepare_ntu.py`` or
``mmfusion prepare``) and afterwards reads only the frames a clip needs, through ``np.memmap``
(no full load, no text parsing, no video decoding).

Layout of a store folder::

    store.json                  settings + the sample plan (checked when resuming)
    shards/00000.json           per-shard index, written last (its presence = shard complete)
    shards/00000.<array>.bin    raw little-endian arrays, 64-byte aligned, one file per array kind
    index.json                  all samples: name, label, num_frames, arrays (file, offset, shape,
                                dtype), native sizes, split membership, missing modalities + why,
                                depth intrinsics of real NTU samples (fitted on the sample's
                                .skeleton file, or "default" + why; :mod:`.calibration`)
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
skipped (recorded). :class:`PackedStore` is a :class:`~mmfusion.data.reader.SampleReader` like
the raw tree's :class:`~mmfusion.data.reader.NTUTreeReader`, so ``NTUDataset.from_store(...)``
returns the same tensors as ``NTUDataset.from_root(root, settings)`` with ``decode_size = size``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..cli_errors import run_command
from ..errors import ConfigError, MMFusionError
from ..locks import FolderLock
from .formats.depth import read_depth_folder
from .formats.video import read_video
from .modalities import KINDS
from .ntu import PROTOCOLS, NTUSampleName, split_of
from .packed import STORE_VERSION, PackedStore, decode_frame
from .reader import NTUTreeReader, SkeletonData, base_points, load_name_list
from .settings import BASE_POINTS
from .store_index import shard_checksums, verify_store
from .transforms import resize_short_side

__all__ = ["pack_ntu", "finalize", "PackedStore", "STORE_VERSION", "PACKABLE", "encode_frame", "decode_frame",
           "split_counts", "check_counts", "add_arguments", "run", "main"]

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
    buf = io.BytesIO()
    img = Image.fromarray(np.ascontiguousarray(frame))
    if codec == "png":
        img.save(buf, format="PNG", compress_level=1)
    elif codec == "jpeg":
        img.save(buf, format="JPEG", quality=90)
    else:
        raise ConfigError(f"unknown frame codec {codec!r}")
    return buf.getvalue()


def _splits(name: str) -> dict[str, str]:
    """Split membership of ``name`` under every protocol it belongs to."""
    parsed = NTUSampleName.parse(name)
    return {p: s for p in PROTOCOLS if (s := split_of(parsed, p)) is not None}


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def pack_sample(src: NTUTreeReader, name: str, writer: _ShardWriter, settings: dict[str, Any],
                listed_missing: set[str]) -> dict[str, Any] | None:
    """Decode one sample and append its arrays; returns its index entry (None: nothing readable)."""
    mods = settings["modalities"]
    size = settings["size"]
    entry: dict[str, Any] = {"name": name, "label": NTUSampleName.parse(name).action - 1, "num_frames": {},
                             "arrays": {}, "native": {}, "missing": {}, "splits": _splits(name)}
    staged: dict[str, np.ndarray] = {}
    if {"skeleton", "depth", "points"} & set(mods):
        # real NTU: the depth camera fitted on the sample's own skeleton file (back-projects the points
        # below; PackedStore.intrinsics returns it); a synthetic world's exact cameras stay in the meta
        fit = src.depth_intrinsics(name)
        if fit.source != "meta":
            entry["intrinsics"] = fit.to_dict()
    for kind in [s for s in KINDS if s in mods or (s == "depth" and "points" in mods)]:
        if kind == "skeleton" and name in listed_missing:
            entry["missing"]["skeleton"] = "listed in the official missing-skeleton list"
            continue
        why = src.missing(name, kind)
        if why is not None:
            entry["missing"][kind] = why
            continue
        try:
            if kind == "skeleton":
                sk: SkeletonData = src.load_skeleton(name)
                staged["skeleton"] = sk.joints.astype(settings["skeleton_dtype"])
                staged["skeleton_color"] = sk.colors.astype(np.float32)
                entry["num_frames"]["skeleton"] = int(sk.joints.shape[1])
                continue
            if kind == "depth":
                full = read_depth_folder(src.path(name, "depth"), expected_size=src.expected_size("depth"))
                if "depth" in mods:
                    staged["depth"] = resize_short_side(full, size, nearest=True)
                if "points" in mods:
                    pts = base_points(full, name, range(len(full)), src.intrinsics(name), settings["num_points"],
                                      settings["point_method"])
                    staged["points"] = pts.astype(settings["points_dtype"])
            else:
                full = read_video(src.path(name, kind), gray=kind == "ir")
                staged[kind] = resize_short_side(full, size)
            entry["native"][kind] = [int(full.shape[1]), int(full.shape[2])]
            entry["num_frames"][kind] = int(full.shape[0])
        except (MMFusionError, OSError) as exc:
            entry["missing"][kind] = _why(exc)
            for k in ("depth", "points") if kind == "depth" else (kind,):
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
    src = NTUTreeReader(raw_root, decode_size=settings["size"], max_bodies=settings["max_bodies"],
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
                                   "checksums": shard_checksums(out, shard)}))
    return len(names)


def _entry_missing(src: NTUTreeReader, name: str, settings: dict[str, Any], listed: set[str]) -> dict[str, str]:
    """Reasons for a sample with nothing readable (re-derived cheaply for the summary)."""
    out = {}
    for s in KINDS:
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

    bad = [m for m in modalities if m not in PACKABLE]
    if bad or not modalities:
        raise ConfigError(f"cannot pack modalities {bad}; choose from {PACKABLE}")
    if frame_codec not in ("raw", "png", "jpeg"):
        raise ConfigError(f"frame_codec must be 'raw', 'png' or 'jpeg', got {frame_codec!r}")
    if skeleton_dtype not in ("float32", "float16") or points_dtype not in ("float32", "float16"):
        raise ConfigError("skeleton_dtype / points_dtype must be 'float32' or 'float16'")
    out = Path(out)
    src = NTUTreeReader(raw_root, decode_size=size, max_bodies=max_bodies)
    plan = src.names()
    if names is not None:
        wanted = set(names)
        plan = [n for n in plan if n in wanted]
    if not plan:  # an empty store is a mistake (wrong folder), not a success
        raise ConfigError(f"{raw_root}: no NTU samples found to pack (expected nturgb+d_skeletons/, "
                          f"nturgb+d_depth_masked/, nturgb+d_rgb/ or nturgb+d_ir/ folders)")
    settings = {"version": STORE_VERSION, "modalities": sorted(set(modalities), key=PACKABLE.index),
                "size": size, "skeleton_dtype": skeleton_dtype, "max_bodies": max_bodies,
                "num_points": num_points, "points_dtype": points_dtype, "point_method": point_method,
                "shard_size": shard_size, "frame_codec": frame_codec}
    # one packer per store folder: a second one fails at once and names the holder
    with FolderLock(out, "packing a store"):
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
        listed = sorted(load_name_list(missing_skeletons))
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
    checksums: dict[str, Any] = {}  # recorded when each shard completed
    for k in range(n_shards):
        p = out / "shards" / f"{k:05d}.json"
        if not p.is_file():
            raise ConfigError(f"{out}: shard {k} is not packed yet; re-run prepare_ntu to resume")
        shard = json.loads(p.read_text())
        for e in shard["samples"]:
            e["shard"] = k
        samples.extend(shard["samples"])
        skipped.extend(shard["skipped"])
        checksums.update(shard.get("checksums") or shard_checksums(out, k))  # older shards: hash now
    missing = [[e["name"], m, why] for e in samples for m, why in e["missing"].items()]
    meta = dict(meta or {})
    index = {"version": STORE_VERSION, "settings": settings, "meta": meta, "samples": samples, "skipped": skipped,
             "checksums": checksums}  # verified by verify_store / sizes on open
    _atomic_write_text(out / "index.json", json.dumps(index))
    summary = {"samples": len(plan), "packed": len(samples), "skipped_samples": skipped,
               "missing_modalities": missing,
               "missing_counts": dict(Counter(m for _, m, _ in missing)),
               "intrinsics": dict(Counter(e.get("intrinsics", {}).get("source", "meta") for e in samples))}
    _atomic_write_text(out / "skipped.json", json.dumps(summary, indent=1))
    return summary


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
        names = NTUTreeReader(args.raw_root).names()[: args.limit]
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
    sources = summary.get("intrinsics") or {}
    if sources.get("fit") or sources.get("default"):
        print(f"depth intrinsics: {sources.get('fit', 0)} fitted on their skeleton files, {sources.get('default', 0)} "
              f"Kinect v2 defaults (no skeleton file or fit rejected; index.json 'intrinsics' says why)")
    if summary["missing_counts"]:
        print("missing modalities: " + ", ".join(f"{m}: {n}" for m, n in summary["missing_counts"].items()))
    if args.check:
        ok, report = check_counts(PackedStore(out))
        print(report)
        problems = verify_store(out)  # checksums + frame tables
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
    return run_command(lambda: run(args), "prepare_ntu")


if __name__ == "__main__":
    sys.exit(main())
