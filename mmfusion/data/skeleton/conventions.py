"""Other joint conventions of a packed skeleton folder, re-expressed from its ``ntu25`` arrays.

MS-CLR pairs views of one clip in several joint conventions (``packed/<layout>.npy``). Where only
the Kinect ``ntu25`` joints exist (real NTU packed by ``mmfusion.data.formats.ctrgcn_npz``, or the
skeleton world, whose own ``smpl24`` / ``h36m17`` / ``coco17`` arrays are 2-D image projections),
:func:`derive_conventions` writes 3-D arrays of the other conventions by
:func:`mmfusion.data.layouts.convert` (each target joint a fixed weighted mean of ``ntu25`` joints),
in chunks through a memory map, and links the source arrays and ``index.npz`` beside them. The
result is a folder that ``recipes/pretrain_skeleton.py --cache-dir`` reads as real packed data.

What it is not: MS-CLR's conventions come from a second estimator (MeTRAbs on the RGB video), with
their own errors; re-expressed conventions are exact functions of the Kinect joints (docs/ssl.md,
the MS-CLR diagnostics).

Shapes: ``packed/ntu25.npy`` (N, C, T, 25, M) -> ``packed/<layout>.npy`` (N, C, T, V_layout, M), float32.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ...errors import ConfigError, DataFormatError
from ..layouts import convert, get_layout

__all__ = ["derive_conventions"]

PACKED = "packed"


def derive_conventions(root: str | os.PathLike[str], out: str | os.PathLike[str], layouts: Sequence[str],
                       source: str = "ntu25", chunk: int = 500) -> dict[str, Path]:
    """Write ``out/packed/<layout>.npy`` for each of ``layouts`` from ``root/packed/<source>.npy``.

    ``out/packed/<source>.npy`` and ``out/packed/index.npz`` become symbolic links to ``root``'s.
    Returns layout -> written path. Raises :class:`~mmfusion.errors.ConfigError` when ``out`` is
    ``root`` (the derived 3-D arrays would replace the originals) and
    :class:`~mmfusion.errors.DataFormatError` when the source array is not (N, C, T, V, M).
    """
    src_dir, dst_dir = Path(root) / PACKED, Path(out) / PACKED
    if src_dir.resolve() == dst_dir.resolve():
        raise ConfigError(f"derive_conventions: write into another folder than {root}")
    src_path = src_dir / f"{get_layout(source).name}.npy"
    if not src_path.is_file() or not (src_dir / "index.npz").is_file():
        raise ConfigError(f"derive_conventions: {src_dir} needs {src_path.name} and index.npz")
    x = np.load(src_path, mmap_mode="r")
    v = get_layout(source).num_joints
    if x.ndim != 5 or x.shape[3] != v:
        raise DataFormatError(str(src_path), f"expected (N, C, T, {v}, M), got {tuple(x.shape)}")
    dst_dir.mkdir(parents=True, exist_ok=True)
    for name in (src_path.name, "index.npz"):
        link = dst_dir / name
        if link.exists() and not link.is_symlink():  # a real array there is somebody's data: keep it
            raise ConfigError(f"derive_conventions: {link} exists and is not a link; choose an empty folder")
        tmp_link = link.with_name(f".{name}.{os.getpid()}.link")  # replaced atomically: safe beside a second writer
        tmp_link.unlink(missing_ok=True)
        tmp_link.symlink_to((src_dir / name).resolve())
        os.replace(tmp_link, link)
    written = {}
    for layout in layouts:
        name = get_layout(layout).name
        if name == get_layout(source).name:
            continue
        path = dst_dir / f"{name}.npy"
        tmp = path.with_name(f"{path.name}.{os.getpid()}.part")  # per process: two writers never share one
        shape = (x.shape[0], x.shape[1], x.shape[2], get_layout(name).num_joints, x.shape[4])
        y = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
        for i in range(0, x.shape[0], chunk):
            y[i:i + chunk] = convert(np.asarray(x[i:i + chunk], dtype=np.float32), source, name, joint_axis=3)
        y.flush()
        del y
        os.replace(tmp, path)  # a reader never sees a half-written array
        written[name] = path
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """``python data_tools/derive_conventions.py ROOT OUT --layouts smpl24 h36m17 coco17``."""
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root", help="folder with packed/ntu25.npy and packed/index.npz")
    ap.add_argument("out", help="new folder (its packed/ gets the derived arrays and links to the sources)")
    ap.add_argument("--layouts", nargs="+", default=["smpl24", "h36m17", "coco17"])
    ap.add_argument("--source", default="ntu25")
    a = ap.parse_args(argv)
    for name, path in derive_conventions(a.root, a.out, a.layouts, a.source).items():
        print(f"{name}: {path} {np.load(path, mmap_mode='r').shape}")
    return 0
