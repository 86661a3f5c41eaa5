"""Overview figure of one written sample: skeleton, masked depth, IR and RGB frames side by side.

Everything is read back through the official readers (``read_skeleton``, ``read_depth_folder``,
``read_video``), so the figure also shows that the files parse and that the skeleton's
depthX/depthY and colorX/colorY land on the person in the depth and RGB frames.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from mmfusion.data.formats.depth import read_depth_folder
from mmfusion.data.formats.skeleton import read_skeleton
from mmfusion.data.formats.video import read_video
from mmfusion.data.layouts import NTU25


def _box(uv: np.ndarray, size: tuple[int, int], pad: float = 0.35) -> tuple[float, float, float, float]:
    """(x0, x1, y1, y0) axis limits around pixel points ``uv`` (N, 2), padded, inside the image."""
    h, w = size
    lo, hi = uv.min(0), uv.max(0)
    c, half = (lo + hi) / 2, np.maximum((hi - lo) / 2 * (1 + pad), 8)
    half = np.maximum(half, half[::-1] * np.array([0.75, 0.75]))  # not too thin
    x0, x1 = max(c[0] - half[0], -0.5), min(c[0] + half[0], w - 0.5)
    y0, y1 = max(c[1] - half[1], -0.5), min(c[1] + half[1], h - 0.5)
    return x0, x1, y1, y0


def render_overview(out_png: str | os.PathLike[str], root: str | os.PathLike[str], name: str,
                    frames: int = 4, dpi: int = 110, crop: bool = True) -> Path:
    """Write a PNG with ``frames`` rows (evenly spaced frames) and 4 columns (skeleton, depth, IR, RGB).

    Args:
        out_png: output file.
        root: an NTU tree (synthetic or real).
        name: sample name, e.g. ``S001C001P001R001A001``.
        crop: zoom the image panels on the person (box from the skeleton's pixel coordinates).
    """
    import matplotlib  # deferred: heavy, and only the overview needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    root = Path(root)
    seq = read_skeleton(root / "nturgb+d_skeletons" / f"{name}.skeleton")
    depth = read_depth_folder(root / "nturgb+d_depth_masked" / name)
    ir = read_video(root / "nturgb+d_ir" / f"{name}_ir.avi", gray=True)
    rgb = read_video(root / "nturgb+d_rgb" / f"{name}_rgb.avi")
    xyz = seq.to_array(2, "xyz")
    dxy = seq.to_array(2, "depth")
    cxy = seq.to_array(2, "color")
    track = seq.to_array(2, "tracking")[..., 0]
    present = seq.present(2)
    title = name
    meta = root / "mmfusion_synth.json"
    if meta.is_file():
        classes = {c["action"]: c["name"] for c in json.loads(meta.read_text()).get("classes", [])}
        title = f"{name}: {classes.get(int(name[17:20]), '')}"
    idx = np.linspace(0, min(len(depth), len(rgb), len(ir), seq.num_frames) - 1, frames).round().astype(int)
    fig, axes = plt.subplots(frames, 4, figsize=(12, 2.5 * frames), squeeze=False)
    valid = xyz[present] if present.any() else xyz.reshape(-1, 25, 3)
    lo, hi = valid.reshape(-1, 3).min(0), valid.reshape(-1, 3).max(0)
    for row, t in zip(axes, idx):
        for m in range(xyz.shape[0]):
            if not present[m, t]:
                continue
            p = xyz[m, t]
            for c, par in NTU25.bones:
                row[0].plot([p[c, 0], p[par, 0]], [p[c, 1], p[par, 1]], color="C0" if m == 0 else "C3", lw=1.5)
            inf = track[m, t] == 1
            row[0].plot(p[inf, 0], p[inf, 1], "x", color="orange", ms=4)
        row[0].set_xlim(lo[0] - 0.3, hi[0] + 0.3)
        row[0].set_ylim(lo[1] - 0.1, hi[1] + 0.1)
        row[0].set_aspect("equal")
        row[0].set_title(f"skeleton x-y (m), frame {t + 1}", fontsize=8)
        d = depth[t].astype(np.float32)
        row[1].imshow(np.where(d > 0, d, np.nan), cmap="viridis")
        row[1].set_title("masked depth (mm) + depthX/Y", fontsize=8)
        row[2].imshow(ir[t], cmap="gray", vmin=0, vmax=255)
        row[2].set_title("IR", fontsize=8)
        row[3].imshow(rgb[t])
        row[3].set_title("RGB + colorX/Y", fontsize=8)
        for m in range(xyz.shape[0]):
            if present[m, t]:
                for ax, uv in ((row[1], dxy[m, t]), (row[3], cxy[m, t])):
                    for c, par in NTU25.bones:
                        ax.plot([uv[c, 0], uv[par, 0]], [uv[c, 1], uv[par, 1]], color="w", lw=0.6)
        for ax in row[1:]:
            ax.set_xticks([])
            ax.set_yticks([])
        if crop and present[0].any():
            for ax, uv, img in ((row[1], dxy, depth), (row[2], dxy, ir), (row[3], cxy, rgb)):
                x0, x1, y1, y0 = _box(uv[0][present[0]].reshape(-1, 2), img.shape[1:3])
                ax.set_xlim(x0, x1)
                ax.set_ylim(y1, y0)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out


__all__ = ["render_overview"]
