"""NTU ``.skeleton`` reader speed: :func:`mmfusion.data.formats.skeleton.read_skeleton` against
plain line-by-line Python parsers that produce the same data.

Baselines (both written here, both return every field, both checked against our reader):

- ``plain``: reads the file line by line, ``split()`` + ``float()``/``int()`` per token in list
  comprehensions, then builds the same numpy arrays as ``SkeletonSequence``. This is about as
  fast as a line-by-line Python parser gets.
- ``reference``: the reader most NTU code bases copy (the NTU/ST-GCN ``read_skeleton`` pattern):
  a dict per body and per joint keyed by field name, then a per-joint loop that fills a dense
  ``(M, T, V, 12)`` array (like ST-GCN's ``read_xyz``, for all 12 fields).

``ours`` is ``read_skeleton`` as shipped: the compiled parser of
``mmfusion.data.formats.skeleton_fast`` when numba is installed (the JSON's ``backend``), and
``ours_numpy`` the numpy parser it falls back to (``read_skeleton(path, backend="numpy")``).

Run: ``python benchmarks/bench_skeleton_parser.py [--min-time 0.3]``. Prints a table and writes
``benchmarks/results/skeleton_parser.json``. Real files are read from ``../shared/real_samples``
(or ``$MMFUSION_REAL_SAMPLES``) and skipped when absent; a synthetic 2-body, 300-frame file
(NTU's longest samples) is always measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mmfusion.data.formats import skeleton_fast  # noqa: E402
from mmfusion.data.formats.skeleton import SkeletonSequence, read_skeleton, write_skeleton  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
REAL = Path(os.environ.get("MMFUSION_REAL_SAMPLES", REPO.parent / "shared" / "real_samples"))

BODY_KEYS = ("bodyID", "clipedEdges", "handLeftConfidence", "handLeftState", "handRightConfidence",
             "handRightState", "isResticted", "leanX", "leanY", "trackingState")
JOINT_KEYS = ("x", "y", "z", "depthX", "depthY", "colorX", "colorY", "orientationW", "orientationX",
              "orientationY", "orientationZ", "trackingState")


def plain_parser(path: Path) -> tuple[np.ndarray, ...]:
    """Line-by-line baseline: (frame_index, body_id, body_int, lean, joints) like SkeletonSequence."""
    frame_index: list[int] = []
    ids: list[int] = []
    ints: list[list[int]] = []
    leans: list[list[float]] = []
    joints: list[list[list[float]]] = []
    with open(path) as f:
        num_frames = int(f.readline())
        for t in range(num_frames):
            for _ in range(int(f.readline())):
                tok = f.readline().split()
                ids.append(int(tok[0]))
                ints.append([int(tok[1]), int(tok[2]), int(tok[3]), int(tok[4]), int(tok[5]), int(tok[6]),
                             int(tok[9])])
                leans.append([float(tok[7]), float(tok[8])])
                nj = int(f.readline())
                joints.append([[float(v) for v in f.readline().split()] for _ in range(nj)])
                frame_index.append(t)
    return (np.array(frame_index, dtype=np.int64), np.array(ids, dtype=np.uint64), np.array(ints, dtype=np.int64),
            np.array(leans, dtype=np.float64), np.array(joints, dtype=np.float64))


def reference_parser(path: Path, max_bodies: int = 4) -> tuple[dict[str, Any], np.ndarray]:
    """The common NTU reader pattern: dicts per body/joint, then a per-joint loop to a dense array."""
    with open(path) as f:
        seq: dict[str, Any] = {"numFrame": int(f.readline()), "frameInfo": []}
        for _ in range(seq["numFrame"]):
            frame: dict[str, Any] = {"numBody": int(f.readline()), "bodyInfo": []}
            for _ in range(frame["numBody"]):
                tok = f.readline().split()
                body: dict[str, Any] = {"bodyID": int(tok[0])}
                body.update({k: float(v) for k, v in zip(BODY_KEYS[1:], tok[1:])})
                body["numJoint"] = int(f.readline())
                body["jointInfo"] = [{k: float(v) for k, v in zip(JOINT_KEYS, f.readline().split())}
                                     for _ in range(body["numJoint"])]
                frame["bodyInfo"].append(body)
            seq["frameInfo"].append(frame)
    data = np.zeros((max_bodies, seq["numFrame"], 25, 12))
    for t, frame in enumerate(seq["frameInfo"]):
        for m, body in enumerate(frame["bodyInfo"]):
            for j, joint in enumerate(body["jointInfo"]):
                if m < max_bodies and j < 25:
                    data[m, t, j] = [joint[k] for k in JOINT_KEYS]
    return seq, data


def time_seconds(fn: Callable[[], Any], min_time: float) -> tuple[float, float]:
    """(best, median) seconds per call. The table uses the best: on a shared machine the median
    mostly measures other jobs."""
    fn()                                        # warm-up (file cache, workspace buffers)
    times: list[float] = []
    start = time.perf_counter()
    while time.perf_counter() - start < min_time or len(times) < 5:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def check_same(path: Path) -> None:
    """Both baselines and the numpy backend must read exactly what our reader reads."""
    ours = read_skeleton(path)
    slow = read_skeleton(path, backend="numpy")
    assert ours == slow and np.array_equal(ours.joints.view(np.int64), slow.joints.view(np.int64))
    fi, ids, ints, lean, joints = plain_parser(path)
    assert np.array_equal(fi, ours.frame_index) and np.array_equal(ids, ours.body_id)
    assert np.array_equal(ints, ours.body_int.reshape(ints.shape))
    assert np.array_equal(lean, ours.lean.reshape(lean.shape))
    assert np.array_equal(joints, ours.joints.reshape(joints.shape))
    _, dense = reference_parser(path)
    # the reference fills slot m with the m-th body listed in a frame
    first_of_frame = np.searchsorted(ours.frame_index, ours.frame_index)
    slot = np.arange(ours.num_records) - first_of_frame
    expect = np.zeros_like(dense)
    keep = slot < dense.shape[0]
    expect[slot[keep], ours.frame_index[keep]] = ours.joints[keep]
    assert np.array_equal(dense, expect)


def synthetic_file(folder: Path) -> Path:
    """A 2-body, 300-frame file with Kinect-like value ranges (written by our writer)."""
    rng = np.random.default_rng(0)
    m, t = 2, 300
    xyz = np.round(rng.normal([0, 0, 3.5], [0.5, 0.5, 0.3], (m, t, 25, 3)), 6)
    seq = SkeletonSequence.from_arrays(xyz, depth_xy=np.round(rng.uniform(0, 512, (m, t, 25, 2)), 4),
                                       color_xy=np.round(rng.uniform(0, 1920, (m, t, 25, 2)), 3),
                                       tracking=rng.integers(1, 3, (m, t, 25)),
                                       orientation=np.round(rng.uniform(-1, 1, (m, t, 25, 4)), 7),
                                       present=np.ones((m, t), dtype=bool))
    return write_skeleton(folder / "S001C001P001R001A050.skeleton", seq)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--min-time", type=float, default=0.3, help="seconds of timing per file and parser")
    args = ap.parse_args()
    files: list[tuple[str, Path]] = []
    real_dir = REAL / "ntu" / "nturgbd_skeletons"
    if real_dir.is_dir():
        files += [("real", p) for p in sorted(real_dir.glob("*.skeleton"))]
    else:
        print(f"real samples not found at {real_dir}: measuring the synthetic file only")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        files.append(("synthetic", synthetic_file(Path(tmp))))
        for kind, path in files:
            check_same(path)
            seq = read_skeleton(path)
            plain, plain_med = time_seconds(lambda p=path: plain_parser(p), args.min_time)
            ref, ref_med = time_seconds(lambda p=path: reference_parser(p), args.min_time)
            ours, ours_med = time_seconds(lambda p=path: read_skeleton(p), args.min_time)
            onp, onp_med = time_seconds(lambda p=path: read_skeleton(p, backend="numpy"), args.min_time)
            rows.append({"file": path.name, "kind": kind, "bytes": path.stat().st_size, "frames": seq.num_frames,
                         "body_records": seq.num_records, "plain_ms": plain * 1e3, "reference_ms": ref * 1e3,
                         "ours_ms": ours * 1e3, "ours_numpy_ms": onp * 1e3, "speedup_plain": plain / ours,
                         "speedup_reference": ref / ours, "speedup_plain_numpy": plain / onp,
                         "median_ms": {"plain": plain_med * 1e3, "reference": ref_med * 1e3, "ours": ours_med * 1e3,
                                       "ours_numpy": onp_med * 1e3}})
    backend = skeleton_fast.backend()
    head = (f"{'file':32s} {'frames':>6s} {'plain ms':>9s} {'ref ms':>8s} {'ours ms':>8s} {'numpy ms':>9s} "
            f"{'x plain':>8s} {'x ref':>7s} {'numpy x plain':>14s}")
    print(f"best of repeated runs (ms); speed-up = baseline / ours; ours = {backend}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['file']:32s} {r['frames']:6d} {r['plain_ms']:9.2f} {r['reference_ms']:8.2f} {r['ours_ms']:8.2f} "
              f"{r['ours_numpy_ms']:9.2f} {r['speedup_plain']:8.1f} {r['speedup_reference']:7.1f} "
              f"{r['speedup_plain_numpy']:14.1f}")
    gm = {k: float(np.exp(np.mean(np.log([r[k] for r in rows]))))
          for k in ("speedup_plain", "speedup_reference", "speedup_plain_numpy")}
    print(f"geometric mean speed-up: {gm['speedup_plain']:.1f}x vs plain, {gm['speedup_reference']:.1f}x vs reference "
          f"({backend}); numpy backend {gm['speedup_plain_numpy']:.1f}x vs plain")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "skeleton_parser.json"
    out.write_text(json.dumps({
        "benchmark": "skeleton_parser", "backend": backend, "python": platform.python_version(),
        "numpy": np.__version__, "machine": platform.machine(), "cpu_count": os.cpu_count(),
        "min_time_s": args.min_time,
        "geomean_speedup": gm, "rows": rows}, indent=2) + "\n")
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
