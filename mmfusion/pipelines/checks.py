"""Do the RGB, depth and skeleton inputs of one prediction come from the same recording?

``mmfusion predict`` takes its streams as separate paths, so nothing stops an RGB video of one
sample from being paired with the depth of another: the pipeline then runs, lifts the wrong
pixels and classifies nonsense. :func:`input_mismatches` lists the signs of such a pairing:

* NTU sample names (``SsssCcccPpppRrrrAaaa``, read from the file or folder names) that differ
  between the inputs that carry one;
* frame counts that differ by more than ``max(min_frames, tolerance * the larger count)``
  (NTU's own RGB and depth streams of one sample agree to a frame or two).

The pipeline logs each as a warning and keeps them in ``Capture.warnings`` (and the JSON output).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ..data.ntu import NTUSampleName
from ..errors import ConfigError, DataFormatError

__all__ = ["ntu_name", "input_mismatches"]


def ntu_name(path: str | os.PathLike[str] | None) -> str | None:
    """The NTU sample name a file or folder name starts with (``S001C001P001R001A001_rgb.avi``,
    ``.../S001C001P001R001A001`` or ``....skeleton``), else None."""
    if path is None:
        return None
    stem = Path(path).name[:20]
    try:
        NTUSampleName.parse(stem)
    except (ConfigError, DataFormatError, ValueError):
        return None
    return stem


def input_mismatches(paths: Mapping[str, str | os.PathLike[str] | None], frames: Mapping[str, int],
                     tolerance: float = 0.05, min_frames: int = 2) -> list[str]:
    """Human-readable reasons to believe the inputs come from different samples ([] when none).

    Args:
        paths: input kind ("rgb", "depth", "skeleton") -> path (None: not used).
        frames: input kind -> frame count.
        tolerance, min_frames: frame counts may differ by ``max(min_frames, tolerance * max count)``.
    """
    out: list[str] = []
    names = {k: n for k, p in paths.items() if (n := ntu_name(p)) is not None}
    if len(set(names.values())) > 1:
        listed = ", ".join(f"{k} {n}" for k, n in names.items())
        out.append(f"inputs come from different NTU samples ({listed})")
    counts = {k: int(v) for k, v in frames.items()}
    if len(counts) > 1:
        lo, hi = min(counts.values()), max(counts.values())
        if hi - lo > max(min_frames, tolerance * hi):
            listed = ", ".join(f"{k} {v}" for k, v in counts.items())
            out.append(f"frame counts differ beyond {max(min_frames, tolerance * hi):.0f} frames ({listed}): the "
                       f"streams may not be the same recording")
    return out
