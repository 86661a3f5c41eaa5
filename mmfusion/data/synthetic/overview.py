"""A PNG overview of one sample (skeleton, depth, IR, RGB at a few frames), for docs and checks."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..formats.depth import read_depth_folder
from ..formats.skeleton import read_skeleton
from ..formats.video import read_video
from ..layouts import NTU25
from ..ntu import NTUTree


def render_overview(out_png: str | os.PathLike[str], root: str | os.PathLike[str], name: str,
                    frames: int = 4) -> Path:
    """Grid of ``frames`` frames x (skeleton in depth pixels, depth, IR, RGB) read back from the files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tree = NTUTree(root)
    seq = read_skeleton(tree.skeleton(name))
    depth = read_depth_folder(tree.depth_dir(name))
    ir = read_video(tree.ir(name), gray=True)
    rgb = read_video(tree.rgb(name))
    dxy = seq.to_array(1, "depth")[0]
    idx = np.linspace(0, len(depth) - 1, frames).round().astype(int)
    sy = sx = 1.0  # skeleton depth pixels refer to the depth frames on disk
    fig, axes = plt.subplots(frames, 3, figsize=(9, 2.4 * frames))
    for row, t in zip(axes, idx):
        row[0].imshow(np.where(depth[t] > 0, depth[t], np.nan), cmap="viridis")
        for c, p in NTU25.bones:
            row[0].plot([dxy[t, c, 0] * sx, dxy[t, p, 0] * sx], [dxy[t, c, 1] * sy, dxy[t, p, 1] * sy], "r-", lw=1)
        row[1].imshow(ir[t], cmap="gray", vmin=0, vmax=255)
        row[2].imshow(rgb[t])
        row[0].set_ylabel(f"frame {t}")
        for a in row:
            a.set_xticks([])
            a.set_yticks([])
    for a, title in zip(axes[0], ("depth + skeleton", "IR", "RGB")):
        a.set_title(title)
    fig.suptitle(name)
    fig.tight_layout()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
