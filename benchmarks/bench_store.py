"""Packed store vs raw NTU tree: random-access samples/s of ``NTUDataset`` (one process).

    python benchmarks/bench_store.py [--raw ROOT] [--samples 40] [--reads 30]

Without ``--raw`` a small synthetic NTU world is generated in a temporary folder (the synthetic
generator's default frame sizes). The raw tree is then packed once (timed) and random
``dataset[i]`` reads are timed for several modality sets, from the raw tree (text skeleton
parsing, PNG/AVI decoding) and from the store (memory-mapped arrays). Prints a table and writes
``benchmarks/results/store.json``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import print_table, write_results

CODECS = ("raw", "png", "jpeg")
MODALITY_SETS: dict[str, tuple[str, ...]] = {
    "skeleton": ("skeleton",),
    "depth": ("depth",),
    "rgb": ("rgb",),
    "rgb+depth+ir+skeleton": ("rgb", "depth", "ir", "skeleton"),
    "all (+points,heatmap)": ("rgb", "depth", "ir", "skeleton", "points", "heatmap"),
}


def _rate(ds: Any, reads: int, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    order = rng.integers(0, len(ds), reads)
    ds[int(order[0])]  # warm-up (imports, first memmap)
    t0 = time.perf_counter()
    for i in order:
        ds[int(i)]
    return reads / (time.perf_counter() - t0)


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from mmfusion.data.dataset import NTUDataset
    from mmfusion.data.store import pack_ntu

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw", help="raw NTU tree (default: generate a synthetic one)")
    ap.add_argument("--samples", type=int, default=40, help="synthetic samples to generate")
    ap.add_argument("--reads", type=int, default=30, help="random reads per measurement")
    ap.add_argument("--size", type=int, default=112, help="store frame short side")
    ap.add_argument("--full-size", action="store_true", help="synthetic frames at NTU sizes (1080x1920 RGB)")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(args.raw) if args.raw else _synthetic(Path(tmp) / "raw", args.samples, args.full_size)
        stores: dict[str, Path] = {}
        packing: dict[str, dict[str, float]] = {}
        for codec in CODECS:
            stores[codec] = Path(tmp) / f"store_{codec}"
            t0 = time.perf_counter()
            pack_ntu(raw, stores[codec], modalities=("skeleton", "depth", "rgb", "ir", "points"), size=args.size,
                     num_points=1024, frame_codec=codec, progress=False)
            packing[codec] = {"seconds": time.perf_counter() - t0, "bytes": _du(stores[codec])}
        common = dict(split="all", protocol="xsub", clip_len=8, image_size=112, num_points=512, train=False,
                      skip_bad=True, verbose=False)
        rows = []
        for label, mods in MODALITY_SETS.items():
            raw_ds = NTUDataset(raw, modalities=mods, decode_size=args.size, base_points=1024, **common)
            row: dict[str, Any] = {"modalities": label, "raw tree": _rate(raw_ds, args.reads)}
            for codec in CODECS:
                row[f"store {codec}"] = _rate(NTUDataset(store=stores[codec], modalities=mods, **common), args.reads)
            row["speed-up (raw store)"] = row["store raw"] / row["raw tree"]
            rows.append(row)
        n = len(NTUDataset(store=stores["raw"], modalities=("skeleton",), **common))
        print_table(rows, f"NTUDataset random access, samples/s, {n} samples, clip_len 8, 112 px, 1 process "
                          f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})")
        raw_bytes = _du(raw)
        size_rows = [{"what": "raw tree", "MB": raw_bytes / 1e6, "pack s": None, "pack samples/s": None}]
        size_rows += [{"what": f"store {c} (incl. points)", "MB": v["bytes"] / 1e6, "pack s": v["seconds"],
                       "pack samples/s": n / v["seconds"]} for c, v in packing.items()]
        print_table(size_rows, "Disk space and packing time")
        meta = NTUDataset(store=stores["raw"], modalities=("skeleton",), **common).meta
        frame_sizes = meta.get("sizes", "NTU native")
        print(f"frame sizes of the raw tree: {frame_sizes}; store short side {args.size}; "
              f"points: 1024 float32 per frame")
        payload = {"rows": rows, "sizes": size_rows, "samples": n, "reads": args.reads, "store_size": args.size,
                   "raw_frame_sizes": frame_sizes, "source": str(args.raw) if args.raw else "synthetic"}
        real = _real_tree(Path(tmp) / "real")
        if real is not None:
            payload["real_ntu_files"] = _bench_real(real, Path(tmp) / "real_store", args.size, args.reads, common)
        write_results("store", payload)
        return payload


def _real_tree(out: Path) -> Path | None:
    """A one-sample tree of real NTU files (1080p H.264 RGB, 512x424 depth PNGs, real skeleton).

    The three files come from different real samples (only these are public), linked under one
    name: fine for timing file access, meaningless for labels.
    """
    default = Path(__file__).resolve().parents[2] / "shared" / "real_samples"
    real = Path(os.environ.get("MMFUSION_REAL_SAMPLES", default))
    ntu = real / "ntu"
    rgb = ntu / "nturgb+d_rgb" / "S001C001P001R001A001_rgb.avi"
    depth = ntu / "nturgb+d_depth_masked" / "S001C001P001R001A058"
    skel = ntu / "nturgbd_skeletons" / "S001C001P001R001A011.skeleton"
    if not (rgb.is_file() and depth.is_dir() and skel.is_file()):
        return None
    name = "S001C001P001R001A001"
    for sub in ("nturgb+d_rgb", "nturgb+d_depth_masked", "nturgb+d_skeletons"):
        (out / sub).mkdir(parents=True)
    (out / "nturgb+d_rgb" / f"{name}_rgb.avi").symlink_to(rgb)
    (out / "nturgb+d_depth_masked" / name).symlink_to(depth, target_is_directory=True)
    (out / "nturgb+d_skeletons" / f"{name}.skeleton").symlink_to(skel)
    return out


def _bench_real(raw: Path, store: Path, size: int, reads: int, common: dict[str, Any]) -> list[dict[str, Any]]:
    from mmfusion.data.dataset import NTUDataset
    from mmfusion.data.store import pack_ntu

    t0 = time.perf_counter()
    pack_ntu(raw, store, modalities=("skeleton", "depth", "rgb"), size=size, progress=False)
    pack_s = time.perf_counter() - t0
    rows = []
    for label, mods in (("skeleton", ("skeleton",)), ("depth", ("depth",)), ("rgb", ("rgb",)),
                        ("rgb+depth+skeleton", ("rgb", "depth", "skeleton"))):
        r_raw = _rate(NTUDataset(raw, modalities=mods, decode_size=size, **common), max(3, reads // 5))
        r_st = _rate(NTUDataset(store=store, modalities=mods, **common), reads)
        rows.append({"modalities": label, "raw tree": r_raw, "store raw": r_st, "speed-up": r_st / r_raw})
    print_table(rows, f"Real NTU files (1080p H.264 RGB, 512x424 PNG depth), samples/s; packing took {pack_s:.1f} s")
    return rows


def _synthetic(out: Path, samples: int, full_size: bool) -> Path:
    from mmfusion.data.synthetic import SynthConfig, generate

    sizes = {"depth_size": (424, 512), "rgb_size": (1080, 1920)} if full_size else {}
    return Path(generate(out, SynthConfig(num_samples=samples, num_workers=1, progress=False, **sizes)))


if __name__ == "__main__":
    main()
