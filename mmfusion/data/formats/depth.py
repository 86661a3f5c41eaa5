"""NTU masked depth frames: folders of 16-bit PNGs, millimetres, 0 = invalid.

Layout: ``nturgb+d_depth_masked/<name>/MDepth-00000001.png ...`` (1-based, 8 digits; full
depth uses ``Depth-%08d.png``). Each PNG is 16-bit greyscale, 512 wide x 424 high for NTU.

Pitfalls this module guards against: ``matplotlib.image.imread`` divides 16-bit PNGs by
65535, and ``Image.convert('RGB')`` / casting to uint8 destroys the depth; we read through
Pillow as mode ``I;16`` and refuse 8-bit or colour PNGs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ...errors import DataFormatError

NTU_DEPTH_SIZE = (424, 512)  # (H, W)
_FRAME_RE = re.compile(r"^(M?Depth)-(\d{8})\.png$")


def read_depth_png(path: str | os.PathLike[str], expected_size: tuple[int, int] | None = None) -> np.ndarray:
    """Read one 16-bit depth PNG as ``uint16 (H, W)`` millimetres.

    Raises:
        DataFormatError: unreadable file, not 16-bit greyscale, or not ``expected_size`` (H, W).
    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            mode = im.mode
            if mode not in ("I;16", "I;16B", "I;16L", "I"):
                raise DataFormatError(path, f"depth PNG must be 16-bit greyscale, got mode {mode!r}")
            arr = np.array(im)
    except DataFormatError:
        raise
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataFormatError(path, f"cannot decode depth PNG ({exc})") from exc
    # some encoders store 16-bit data as 32-bit ints
    if mode == "I" and (arr.min(initial=0) < 0 or arr.max(initial=0) > 65535):
        raise DataFormatError(path, "depth PNG values outside the 16-bit range")
    arr = arr.astype(np.uint16, copy=False)
    if expected_size is not None and tuple(arr.shape) != tuple(expected_size):
        raise DataFormatError(path, f"depth frame is {arr.shape[0]}x{arr.shape[1]} (HxW), "
                                    f"expected {expected_size[0]}x{expected_size[1]}")
    return arr


def write_depth_png(path: str | os.PathLike[str], depth: np.ndarray) -> Path:
    """Write ``uint16 (H, W)`` millimetres as a 16-bit greyscale PNG (atomic rename)."""
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise ValueError(f"depth must be (H, W), got {depth.shape}")
    if depth.dtype != np.uint16:
        if depth.min(initial=0) < 0 or depth.max(initial=0) > 65535:
            raise ValueError("depth values must fit in uint16 millimetres")
        depth = depth.astype(np.uint16)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.png")
    Image.fromarray(depth).save(tmp, format="PNG")
    os.replace(tmp, path)
    return path


def depth_frame_name(index: int, masked: bool = True) -> str:
    """File name of 0-based frame ``index`` (``MDepth-00000001.png`` for index 0)."""
    return f"{'MDepth' if masked else 'Depth'}-{index + 1:08d}.png"


def depth_frame_paths(folder: str | os.PathLike[str]) -> list[Path]:
    """Sorted frame files of a depth folder; gaps in the numbering are an error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataFormatError(folder, "depth folder not found")
    found: dict[int, Path] = {}
    for p in folder.iterdir():
        m = _FRAME_RE.match(p.name)
        if m:
            found[int(m.group(2))] = p
    if not found:
        raise DataFormatError(folder, "no MDepth-%08d.png / Depth-%08d.png frames in folder")
    numbers = sorted(found)
    if numbers != list(range(1, len(numbers) + 1)):
        missing = sorted(set(range(1, numbers[-1] + 1)) - set(numbers))
        raise DataFormatError(folder, f"depth frames are not numbered 1..{numbers[-1]} without gaps "
                                      f"(missing {missing[:5]}{'...' if len(missing) > 5 else ''})")
    return [found[n] for n in numbers]


def read_depth_folder(folder: str | os.PathLike[str], indices: Sequence[int] | None = None,
                      expected_size: tuple[int, int] | None = None) -> np.ndarray:
    """Read frames (0-based ``indices``, default all) of a depth folder as ``uint16 (T, H, W)``."""
    paths = depth_frame_paths(folder)
    if indices is None:
        indices = range(len(paths))
    frames = []
    for i in indices:
        if not 0 <= int(i) < len(paths):
            raise DataFormatError(folder, f"frame index {i} out of range (folder has {len(paths)} frames)")
        frames.append(read_depth_png(paths[int(i)], expected_size))
    if not frames:
        return np.zeros((0, *(expected_size or NTU_DEPTH_SIZE)), dtype=np.uint16)
    if len({f.shape for f in frames}) > 1:
        raise DataFormatError(folder, f"depth frames have different sizes: {sorted({f.shape for f in frames})}")
    return np.stack(frames)
