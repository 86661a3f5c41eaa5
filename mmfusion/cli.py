"""The ``mmfusion`` command line.

Subcommands are thin: each lives next to the code it drives and exposes
``add_arguments(parser)`` and ``run(args) -> int``; this file only dispatches, importing a
subcommand's module when it is used so that ``mmfusion --help`` stays fast.

    mmfusion synth OUT            write the synthetic NTU world
    mmfusion prepare RAW OUT      pack a raw NTU tree into a memory-mappable store
    mmfusion predict --rgb V --depth D --checkpoint C    RGB-D video in, action out
    mmfusion keypoints VIDEO --out FILE    2-D keypoints of every frame (pose extraction)
    mmfusion synth-skeleton OUT   write the skeleton-only synthetic NTU world
    mmfusion test RUN_DIR         evaluate a skeleton run (multi-clip, per-class, scores file)
    mmfusion ensemble SCORES...   fuse saved test scores of several streams
    mmfusion convert SRC OUT --from SOURCE   official checkpoint -> safetensors run folder
    mmfusion models [PATTERN]     list registered models

A user error (bad input file, unusable output path, invalid option value) ends with one line
``mmfusion: error: ...`` and exit code 2 (:mod:`mmfusion.cli_errors`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .cli_errors import run_command
from .registry import list_models

#: subcommand -> (module, help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("mmfusion.data.synthetic.cli", "write the synthetic NTU-format world"),
    "prepare": ("mmfusion.data.store", "pack a raw NTU tree into a memory-mappable store"),
    "predict": ("mmfusion.pipelines.cli", "RGB-D video in, action out"),
    "keypoints": ("mmfusion.pipelines.keypoints", "2-D keypoints of every video frame (pose extraction)"),
    "synth-skeleton": ("mmfusion.data.synthetic.skeleton_world", "write the skeleton-only synthetic NTU world"),
    "convert": ("mmfusion.models.pretrained", "official checkpoint -> safetensors run folder"),
    "test": ("mmfusion.experiments.evaluate_run", "evaluate a skeleton run on its test set (field protocol)"),
    "ensemble": ("mmfusion.experiments.ensemble", "fuse saved test scores of several streams"),
}


def _models_cmd(args: argparse.Namespace) -> int:
    for name in list_models(args.pattern or "", tag=args.tag):
        print(name)
    return 0


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mmfusion", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("models", help="list registered models")
    p.add_argument("pattern", nargs="?", help="shell pattern, e.g. '*gcn*'")
    p.add_argument("--tag", help="only models with this tag (encoder, fusion, skeleton ...)")
    p.set_defaults(func=_models_cmd)
    wanted = argv[0] if argv else None
    for name, (module, help_) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_)
        # import only the chosen subcommand's module (others may pull heavy deps)
        if name == wanted:
            mod = importlib.import_module(module)
            mod.add_arguments(p)
            p.set_defaults(func=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    return run_command(lambda: args.func(args), "mmfusion")


if __name__ == "__main__":
    sys.exit(main())
