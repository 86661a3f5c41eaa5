"""``mmfusion synth OUT``: write the synthetic NTU world."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from .config import SynthConfig
from .generate import generate


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = SynthConfig()
    p.add_argument("out", help="output folder (an NTU tree is written into it)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--actions", type=int, nargs="+", default=list(d.actions), help="NTU action ids")
    p.add_argument("--performers", type=int, nargs="+", default=list(d.performers))
    p.add_argument("--cameras", type=int, nargs="+", default=list(d.cameras))
    p.add_argument("--replications", type=int, nargs="+", default=list(d.replications))
    p.add_argument("--frames", type=int, nargs=2, default=list(d.frames), metavar=("MIN", "MAX"))
    p.add_argument("--depth-size", type=int, nargs=2, default=list(d.depth_size), metavar=("H", "W"))
    p.add_argument("--rgb-size", type=int, nargs=2, default=list(d.rgb_size), metavar=("H", "W"))
    p.add_argument("--full-size", action="store_true", help="NTU sizes: depth/IR 424x512, RGB 1080x1920")
    p.add_argument("--workers", type=int, default=d.num_workers)


def config_from_args(args: argparse.Namespace) -> SynthConfig:
    return SynthConfig(actions=tuple(args.actions), performers=tuple(args.performers), cameras=tuple(args.cameras),
                       replications=tuple(args.replications), frames=tuple(args.frames),
                       depth_size=(424, 512) if args.full_size else tuple(args.depth_size),
                       rgb_size=(1080, 1920) if args.full_size else tuple(args.rgb_size),
                       seed=args.seed, num_workers=args.workers)


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    t0 = time.perf_counter()
    root = generate(args.out, cfg)
    n = len(cfg.actions) * len(cfg.performers) * len(cfg.cameras) * len(cfg.replications)
    print(f"wrote {n} samples ({len(cfg.actions)} classes) to {root} in {time.perf_counter() - t0:.1f} s")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mmfusion synth", description=__doc__)
    add_arguments(p)
    return run(p.parse_args(argv))
