"""Pictures of the pipeline's 3-D skeletons: the lifted joints projected onto a depth frame (matplotlib, Agg).

:func:`render_skeleton` draws one depth frame (H, W) (metres, colour-mapped; no reading = black),
every person's joints (M, V, 3) projected with the depth intrinsics and joined along the
layout's bones, and optionally the 2-D detections mapped into the depth image (white crosses),
which shows how well the keypoints, the registration and the lifting agree.
:func:`render_prediction` does it for a :class:`~mmfusion.pipelines.rgb_action.Prediction`,
titled with the top classes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..data.camera import CameraIntrinsics, project
from ..data.layouts import SkeletonLayout, get_layout
from ..errors import ConfigError

__all__ = ["render_skeleton", "render_prediction"]

_COLORS = ("#ff3b30", "#34c759", "#0a84ff", "#ffcc00")


def render_skeleton(out: str | os.PathLike[str], depth: np.ndarray, joints: np.ndarray, intrinsics: CameraIntrinsics,
                    layout: str | SkeletonLayout = "coco17", keypoints: np.ndarray | None = None,
                    title: str | None = None, region: tuple[float, float, float, float] | None = None,
                    dpi: int = 100) -> Path:
    """Save a PNG of 3-D skeletons over a depth frame.

    Args:
        out: PNG path (folders are created).
        depth: (H, W) depth, uint16 millimetres or float metres; 0 = no reading.
        joints: (M, V, 3) camera metres in ``layout``; an all-zero person is not drawn.
        intrinsics: depth camera intrinsics (projection).
        keypoints: optional (M, 17|V, 2) 2-D detections in depth pixels (all-zero rows skipped).
        title: figure title.
        region: ``(x0, y0, x1, y1)`` pixels to show (default the whole frame).

    Returns:
        ``out`` as a Path.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    lay = get_layout(layout)
    depth = np.asarray(depth)
    joints = np.asarray(joints, dtype=np.float32)
    if depth.ndim != 2:
        raise ConfigError(f"render_skeleton: depth must be (H, W), got {depth.shape}")
    if joints.ndim != 3 or joints.shape[1:] != (lay.num_joints, 3):
        raise ConfigError(f"render_skeleton: joints must be (M, {lay.num_joints}, 3) for {lay.name}, "
                          f"got {joints.shape}")
    metres = depth.astype(np.float32) / (1000.0 if depth.dtype.kind in "ui" else 1.0)
    h, w = metres.shape
    shown = np.ma.masked_where(metres <= 0, metres)
    fig = Figure(figsize=(max(4.0, 6.0 * w / max(h, w)), max(3.5, 6.0 * h / max(h, w)) + 0.5), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    valid = metres[metres > 0]
    lo, hi = (np.percentile(valid, [2, 98]) if valid.size else (0.0, 1.0))
    cmap = _cmap()
    im = ax.imshow(shown, cmap=cmap, vmin=lo, vmax=max(hi, lo + 1e-3), interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02, label="depth (m)")
    for m, person in enumerate(joints):
        present = np.abs(person).sum(-1) > 0
        if not present.any():
            continue
        uv = project(np.where(present[:, None], person, [0.0, 0.0, 1.0]), intrinsics)
        color = _COLORS[m % len(_COLORS)]
        for c, p in lay.bones:
            if present[c] and present[p]:
                ax.plot(uv[[c, p], 0], uv[[c, p], 1], "-", color=color, lw=2)
        ax.plot(uv[present, 0], uv[present, 1], "o", color=color, ms=3.5, mec="black", mew=0.5,
                label=f"person {m} (3-D)")
    if keypoints is not None:
        kps = np.asarray(keypoints, dtype=np.float32).reshape(-1, 2)
        kps = kps[np.abs(kps).sum(-1) > 0]
        if len(kps):
            ax.plot(kps[:, 0], kps[:, 1], "x", color="white", ms=4, mew=1.0, label="2-D keypoints")
    x0, y0, x1, y1 = region if region is not None else (-0.5, -0.5, w - 0.5, h - 0.5)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y1, y0)
    ax.set_xticks([])
    ax.set_yticks([])
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize=7, framealpha=0.6)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def _cmap() -> Any:
    import matplotlib

    cmap = matplotlib.colormaps["viridis"].copy()
    cmap.set_bad("black")
    return cmap


def render_prediction(prediction: Any, out: str | os.PathLike[str], frame: int | None = None) -> Path:
    """Render a :class:`~mmfusion.pipelines.rgb_action.Prediction`: frame ``frame`` of the sampled
    clip (default the middle one with most persons lifted), the depth as read, zoomed on the persons."""
    cap = prediction.capture
    t = cap.depth.shape[0]
    if frame is None:
        counts = cap.present.sum(axis=0)
        best = np.flatnonzero(counts == counts.max())
        frame = int(best[np.argmin(np.abs(best - (t - 1) / 2))])
    if not 0 <= frame < t:
        raise ConfigError(f"render_prediction: frame {frame} outside the {t} sampled frames")
    region = None
    mask = cap.persons.mask[:, frame].any(axis=0)
    if mask.any():
        # zoom on the persons (NTU persons fill a small part of the frame)
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        pad = max(16.0, 0.25 * max(rows[-1] - rows[0], cols[-1] - cols[0]))
        h, w = mask.shape
        region = (max(-0.5, cols[0] - pad), max(-0.5, rows[0] - pad), min(w - 0.5, cols[-1] + pad),
                  min(h - 0.5, rows[-1] + pad))
    top = ", ".join(f"{s.code} {s.name} {100 * s.probability:.0f}%" for s in prediction.topk[:2])
    title = f"{top}\nvideo frame {int(cap.frame_index[frame])}, 3-D: {cap.lifting}, model {prediction.model_name}"
    return render_skeleton(out, cap.depth[frame], cap.joints3d[:, frame], cap.calibration.depth, "coco17",
                           keypoints=cap.keypoints_depth[:, frame], title=title, region=region)
