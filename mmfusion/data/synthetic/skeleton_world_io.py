"""Writing the skeleton world's camera views as NTU ``.skeleton`` files.

:func:`write_view` assembles one file's body slots (the actors, plus an extra short-lived body
and an ID hand-over where drawn), builds a :class:`~mmfusion.data.formats.skeleton.SkeletonSequence`
with ``SkeletonSequence.from_arrays`` and writes it. :func:`format_skeleton_fast` produces
exactly the bytes of :func:`mmfusion.data.formats.skeleton.format_skeleton` (tested on every
kind of file the world writes) about twice as fast: each body's 25 joint lines are formatted by
one ``%``-operation with ``%.7G`` fields, the same C routine (``PyOS_double_to_string``, 'G',
precision 7) that ``format(v, ".7G")`` calls, instead of 275 ``format`` calls; the world writes
10,000 files and this is its bottleneck.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..formats.skeleton import SkeletonSequence
from .body import LEAF_JOINTS, J, matrix_to_quaternion

SKELETON_DIR = "nturgb+d_skeletons"
KINECT_BODY_ID = 72057594037927936  # 2**56: real Kinect v2 tracking IDs start here
_ROW = "%.7G " * 11 + "%d"


def format_skeleton_fast(seq: SkeletonSequence) -> str:
    """The exact file text of ``seq`` (CRLF line ends), equal to ``format_skeleton(seq)``."""
    out: list[str] = [str(seq.num_frames)]
    counts = seq.bodies_per_frame.tolist()
    nj = seq.num_joints
    block = "\r\n".join([_ROW] * nj)
    joints = seq.joints.reshape(seq.num_records, -1).tolist()
    body_int = seq.body_int.tolist()
    lean = seq.lean.tolist()
    ids = seq.body_id.tolist()
    rec = 0
    for f in range(seq.num_frames):
        out.append(str(counts[f]))
        for _ in range(counts[f]):
            bi = body_int[rec]
            out.append(" ".join((str(int(ids[rec])), str(bi[0]), str(bi[1]), str(bi[2]), str(bi[3]), str(bi[4]),
                                 str(bi[5]), format(lean[rec][0], ".7G"), format(lean[rec][1], ".7G"), str(bi[6]))))
            out.append(str(nj))
            out.append(block % tuple(joints[rec]))
            rec += 1
    return "\r\n".join(out) + "\r\n"


def write_view(root: Path, name: str, xyz: np.ndarray, track: np.ndarray, present: np.ndarray, glob: np.ndarray,
                rcam: np.ndarray, dcam: Any, ccam: Any, rng: np.random.Generator, cfg: Any,
                stats: dict[str, int]) -> SkeletonSequence:
    """One ``.skeleton`` file: actor slots plus an extra body / an ID hand-over where drawn."""
    persons, n, v, _ = xyz.shape
    quat = matrix_to_quaternion(rcam @ glob)  # (P, n, V, 4)
    quat[:, :, [J[j] for j in LEAF_JOINTS]] = 0.0
    slots_xyz, slots_track, slots_present, slots_quat = list(xyz), list(track), list(present), list(quat)
    if rng.random() < cfg.handover and n > 10:  # the performer's track continues under a new ID
        cut = int(rng.integers(5, n - 5))
        second = present[0].copy()
        second[:cut] = False
        slots_present[0] = present[0] & (np.arange(n) < cut)
        slots_xyz.append(xyz[0])
        slots_track.append(track[0])
        slots_present.append(second)
        slots_quat.append(quat[0])
        stats["handover"] += 1
    if rng.random() < cfg.ghost:
        m = int(rng.integers(3, min(10, n) + 1))
        start = int(rng.integers(0, n - m + 1))
        centre = xyz[0, start, J["SpineMid"]] + np.array([rng.choice([-1, 1]) * rng.uniform(0.6, 1.2), -0.5,
                                                          rng.uniform(0.2, 0.8)])
        ghost = np.zeros((n, v, 3))
        ghost[start:start + m] = centre + rng.normal(0, 1, (v, 3)) * np.array([0.35, 0.05, 0.1]) \
            + rng.normal(0, 0.01, (m, v, 3))
        gp = np.zeros(n, bool)
        gp[start:start + m] = True
        slots_xyz.append(ghost)
        slots_track.append(np.ones((n, v), np.int64))
        slots_present.append(gp)
        slots_quat.append(np.zeros((n, v, 4)))
        stats["ghost"] += 1
    sx = np.stack(slots_xyz)
    z = np.maximum(sx[..., 2], 1e-6)
    depth_xy = np.stack([dcam.cx + dcam.fx * sx[..., 0] / z, dcam.cy - dcam.fy * sx[..., 1] / z], -1)
    color_xy = np.stack([ccam.cx + ccam.fx * (sx[..., 0] + ccam.baseline) / z, ccam.cy - ccam.fy * sx[..., 1] / z], -1)
    ids = [KINECT_BODY_ID + int(rng.integers(1000, 60000)) * 8 + s for s in range(len(slots_xyz))]
    seq = SkeletonSequence.from_arrays(sx, depth_xy=depth_xy, color_xy=color_xy, body_ids=ids,
                                       tracking=np.stack(slots_track), present=np.stack(slots_present),
                                       orientation=np.stack(slots_quat))
    path = root / SKELETON_DIR / f"{name}.skeleton"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(format_skeleton_fast(seq).encode("ascii"))
    os.replace(tmp, path)
    return seq
