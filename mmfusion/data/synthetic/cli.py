"""``mmfusion synth OUT``: write the synthetic NTU world (also ``python -m mmfusion.data.synthetic.cli``)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ...cli_errors import run_command
from .config import NATIVE_DEPTH_SIZE, NATIVE_RGB_SIZE, SynthConfig, parse_int_list
from .generate import META_FILE, generate, is_complete, sample_specs


def _ints(values: Sequence[str] | None) -> tuple[int, ...] | None:
    return None if values is None else parse_int_list(",".join(values))


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = SynthConfig(progress=False)
    p.add_argument("out", help="output folder; an NTU tree (nturgb+d_skeletons/, ...) is written into it")
    p.add_argument("--seed", type=int, default=d.seed, help="master seed (same seed: byte-identical files)")
    p.add_argument("--actions", nargs="+", metavar="A", help="NTU action IDs, e.g. 1 2 10 34 or 1,2,8-12 "
                   f"(default {','.join(map(str, d.actions))})")
    p.add_argument("--num-classes", type=int, help="keep only the first N actions")
    p.add_argument("--num-samples", type=int, help="keep an even spread of N samples")
    p.add_argument("--setups", nargs="+", metavar="S", help="NTU setup IDs (default 1)")
    p.add_argument("--performers", nargs="+", metavar="P", help="performer IDs (default 1-8: xsub train "
                   "1,2,4,5,8 / test 3,6,7)")
    p.add_argument("--cameras", nargs="+", metavar="C", help="camera IDs 1-3 (default all)")
    p.add_argument("--replications", nargs="+", metavar="R", help="replication IDs 1-2 (default both)")
    p.add_argument("--frames", type=int, nargs=2, metavar=("MIN", "MAX"), help=f"frames per sample {d.frames}")
    p.add_argument("--depth-size", type=int, nargs=2, metavar=("H", "W"), help=f"depth/IR size {d.depth_size}")
    p.add_argument("--rgb-size", type=int, nargs=2, metavar=("H", "W"), help=f"RGB size {d.rgb_size}")
    p.add_argument("--full-size", action="store_true", help="NTU sizes: depth/IR 424x512, RGB 1080x1920")
    p.add_argument("--write", nargs="+", choices=SynthConfig.WRITABLE, help="modalities to write "
                   "(default skeleton depth rgb ir; depth_full adds unmasked depth)")
    p.add_argument("--workers", type=int, default=2, help="processes (default 2; 0 = in-process)")
    p.add_argument("--overwrite", action="store_true", help="regenerate even if OUT holds this exact world")
    p.add_argument("--overview", metavar="NAME", nargs="?", const="", help="also write overview.png of one "
                   "sample (default: the first)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def config_from_args(args: argparse.Namespace) -> SynthConfig:
    kw: dict = {"seed": args.seed, "num_workers": args.workers, "progress": not args.no_progress}
    for name in ("actions", "setups", "performers", "cameras", "replications"):
        val = _ints(getattr(args, name))
        if val is not None:
            kw[name] = val
    for name in ("num_classes", "num_samples", "write"):
        if getattr(args, name) is not None:
            kw[name] = tuple(args.write) if name == "write" else getattr(args, name)
    if args.frames:
        kw["frames"] = tuple(args.frames)
    if args.full_size:
        kw["depth_size"], kw["rgb_size"] = NATIVE_DEPTH_SIZE, NATIVE_RGB_SIZE
    if args.depth_size:
        kw["depth_size"] = tuple(args.depth_size)
    if args.rgb_size:
        kw["rgb_size"] = tuple(args.rgb_size)
    return SynthConfig(**kw)


def _du(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    root = Path(args.out)
    cached = not args.overwrite and is_complete(root, cfg)
    t0 = time.perf_counter()
    generate(root, cfg, overwrite=args.overwrite)
    dt = time.perf_counter() - t0
    n_files, n_bytes = _du(root)
    n = len(sample_specs(cfg))
    what = "already complete:" if cached else f"wrote in {dt:.1f} s:"
    print(f"{what} {n} samples, {len(cfg.class_actions)} classes, {n_files} files, {n_bytes / 1e6:.1f} MB "
          f"in {root} (classes, sizes and intrinsics in {root / META_FILE})")
    if args.overview is not None:
        from .overview import render_overview

        name = args.overview or sample_specs(cfg)[0].name
        png = render_overview(root / "overview.png", root, name)
        print(f"overview of {name}: {png}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mmfusion synth", description="Write the synthetic NTU RGB+D world.")
    add_arguments(p)
    args = p.parse_args(argv)
    return run_command(lambda: run(args), "mmfusion synth")


if __name__ == "__main__":
    sys.exit(main())
