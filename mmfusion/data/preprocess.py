"""Standard NTU skeleton preprocessing (CTR-GCN / SGN family, plus PYSKL's PreNormalize3D).

Size: the CTR-GCN pipeline in its official order (body tracks, denoising, packing, centring,
crop-resize); the other families live in :mod:`mmfusion.data.skeleton.families`.

Pure functions on arrays, usable offline (``data_tools/prepare_ntu.py``) or online (the
:class:`~mmfusion.data.dataset.NTUDataset`). Array layouts:

* body tracks: one :class:`BodyTrack` per Kinect body ID, ``joints`` (T_b, V, 3) metres,
  ``colors`` (T_b, V, 2) RGB pixels, ``frames`` (T_b,) original frame indices;
* denoised skeletons: ``(M, T, V, C)`` (PYSKL layout, M = actor slot), an all-zero
  ``(m, t)`` slice means "actor m absent at frame t";
* model input: ``(C, T, V, M)`` (CTR-GCN layout); batched ``(N, C, T, V, M)``.

:func:`bone_stream` / :func:`motion_stream` only touch the joint axis (-2) and the time axis
(-3), which sit at the same place in ``(M, T, V, C)``, ``(C, T, V, M)`` and ``(N, C, T, V, M)``.

The recipe (``get_raw_denoised_data.py`` + ``seq_transformation.py`` + ``feeder_ntu.py`` of
CTR-GCN, which copies Microsoft SGN) as implemented by :func:`denoise_bodies`:

1. a file with a single body ID is taken as is (never denoised);
2. length filter: drop body IDs seen in <= 11 frames;
3. spread filter: a frame is noisy when its x-spread > 0.8 * y-spread; drop a body with
   noisy-frame ratio >= 0.69754 (never the last one left), else its motion becomes
   ``min(motion, motion over its valid frames)``;
4. sort by motion (sum over x, y, z of the variance over all frames and joints), largest first;
5. pack into 2 actor slots: actor 1 is the largest-motion body; each next body joins actor 1
   when its frame interval does not overlap actor 1's, else actor 2 when it does not overlap
   actor 2's, else it is discarded. Two intervals that share only one boundary frame do not
   overlap (as in CTR-GCN): Kinect often hands a person's track to a new body ID with one
   frame in common, and both halves then join the same actor.

Deviations from CTR-GCN, all on purpose (``ctrgcn_quirks=True`` restores the original):

* frame indices: ``get_raw_skes_data.py`` drops frames without bodies and numbers a body's
  frames *consecutively* from its first one (``interval.append(previous + 1)``), so a body ID
  with a gap (absent in frames where another body is present) is shifted left by the gap after
  it. :func:`denoise_bodies` keeps every record at its own frame; ``keep_frame_index=True``
  (default) keeps the file's frame indices (empty frames stay as zeros at their index), which
  is what multimodal alignment with RGB/depth/IR needs;
* in a frame shared by two bodies of one actor, the body packed first (larger motion) is kept;
  CTR-GCN writes the later one over it;
* CTR-GCN's actor-2 interval always starts at frame 0 (a "virtual" initial interval [0, 0]).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch

from ..errors import DataFormatError
from .layouts import SkeletonLayout, get_layout

#: CTR-GCN thresholds (get_raw_denoised_data.py)
NOISE_LEN_THRES = 11
NOISE_SPR_THRES1 = 0.8
NOISE_SPR_THRES2 = 0.69754

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


@dataclass
class BodyTrack:
    """All frames of one Kinect body ID.

    Attributes:
        body_id: Kinect tracking ID.
        frames: (T_b,) int64, original (0-based) frame indices, increasing.
        joints: (T_b, V, 3) float32, camera-space metres.
        colors: (T_b, V, 2) float32 RGB pixel coordinates, or None.
    """

    body_id: int
    frames: np.ndarray
    joints: np.ndarray
    colors: np.ndarray | None = None

    @property
    def interval(self) -> tuple[int, int]:
        """First and last frame index (inclusive)."""
        return int(self.frames[0]), int(self.frames[-1])

    @property
    def motion(self) -> float:
        """CTR-GCN "motion": sum over xyz of the variance over all frames and joints."""
        return float(np.var(self.joints.reshape(-1, 3).astype(np.float64), axis=0).sum())


@dataclass
class DenoisedSkeleton:
    """Result of :func:`denoise_bodies`.

    Attributes:
        joints: (M, T, V, 3) float32 metres; zeros where an actor is absent.
        colors: (M, T, V, 2) float32 RGB pixels; zeros where absent.
        frame_index: (T,) int64 original frame index of each output frame.
        body_ids: per slot, the body IDs packed into it (in packing order).
        dropped: (body_id, reason) for every body that was not kept.
    """

    joints: np.ndarray
    colors: np.ndarray
    frame_index: np.ndarray
    body_ids: list[list[int]] = field(default_factory=list)
    dropped: list[tuple[int, str]] = field(default_factory=list)

    @property
    def present(self) -> np.ndarray:
        """(M, T) bool: actor m has a non-zero skeleton at frame t."""
        return np.any(self.joints != 0, axis=(2, 3))


# ---------------------------------------------------------------------------------------------
# body tracks


def tracks_from_arrays(xyz: np.ndarray, present: np.ndarray | None = None, colors: np.ndarray | None = None,
                       body_ids: Sequence[int] | None = None) -> list[BodyTrack]:
    """Body tracks from dense arrays (one track per row).

    Args:
        xyz: (B, T, V, 3) joints of B body tracks over T frames.
        present: (B, T) bool; default: frames where the body is not all zero.
        colors: (B, T, V, 2) or None.
        body_ids: B IDs; default 0..B-1.
    """
    xyz = np.asarray(xyz, dtype=np.float32)
    if xyz.ndim != 4 or xyz.shape[-1] != 3:
        raise ValueError(f"xyz must be (B, T, V, 3), got {xyz.shape}")
    if present is None:
        present = np.any(xyz != 0, axis=(2, 3))
    ids = list(range(xyz.shape[0])) if body_ids is None else [int(b) for b in body_ids]
    tracks = []
    for b in range(xyz.shape[0]):
        fr = np.flatnonzero(present[b]).astype(np.int64)
        if fr.size == 0:
            continue
        col = None if colors is None else np.asarray(colors[b, fr], dtype=np.float32)
        tracks.append(BodyTrack(ids[b], fr, xyz[b, fr], col))
    return tracks


def tracks_from_sequence(seq: Any) -> list[BodyTrack]:
    """Group the body records of a :class:`~mmfusion.data.formats.skeleton.SkeletonSequence` by body ID.

    Frame indices are the file's own (0-based, empty frames counted); tracks come in order of
    first appearance. When the same ID appears twice in one frame (never seen in NTU) the first
    record wins.
    """
    for attr in ("frame_index", "body_id", "joints"):
        if not hasattr(seq, attr):
            raise TypeError(f"expected a SkeletonSequence, got {type(seq).__name__}")
    if seq.num_records == 0:
        return []
    ids, first, track = np.unique(seq.body_id, return_index=True, return_inverse=True)
    tracks = []
    for k in np.argsort(first, kind="stable"):
        rec = np.flatnonzero(track == k)
        frames = seq.frame_index[rec].astype(np.int64)
        _, uniq = np.unique(frames, return_index=True)  # first record per frame
        rec, frames = rec[uniq], frames[uniq]
        j = seq.joints[rec]
        tracks.append(BodyTrack(int(ids[k]), frames, j[..., 0:3].astype(np.float32), j[..., 5:7].astype(np.float32)))
    return tracks


# ---------------------------------------------------------------------------------------------
# denoising


def noisy_frame_mask(joints: np.ndarray, spread_ratio: float = NOISE_SPR_THRES1) -> np.ndarray:
    """(T,) bool: frames whose x-spread exceeds ``spread_ratio`` times the y-spread.

    Args:
        joints: (T, V, 3).
    """
    x, y = joints[..., 0], joints[..., 1]
    return (x.max(-1) - x.min(-1)) > spread_ratio * (y.max(-1) - y.min(-1))


def denoise_tracks(tracks: Sequence[BodyTrack], length_thres: int = NOISE_LEN_THRES,
                   spread_ratio: float = NOISE_SPR_THRES1, noise_ratio: float = NOISE_SPR_THRES2
                   ) -> tuple[list[BodyTrack], list[tuple[int, str]]]:
    """CTR-GCN body filtering: length then spread filter, sorted by motion (largest first).

    Returns:
        (kept tracks sorted by motion, [(body_id, reason) for dropped tracks]).
    """
    tracks = list(tracks)
    dropped: list[tuple[int, str]] = []
    if len(tracks) <= 1:
        return tracks, dropped
    kept = []
    for tr in tracks:
        if len(tr.frames) <= length_thres:
            dropped.append((tr.body_id, f"length {len(tr.frames)} <= {length_thres} frames"))
        else:
            kept.append(tr)
    if not kept:
        # CTR-GCN crashes here; keeping the longest track is the least surprising outcome
        longest = max(tracks, key=lambda tr: len(tr.frames))
        dropped = [d for d in dropped if d[0] != longest.body_id]
        kept = [longest]
    motions = {id(tr): tr.motion for tr in kept}
    if len(kept) > 1:
        survivors = list(kept)
        for tr in kept:
            if len(survivors) == 1:
                break
            noisy = noisy_frame_mask(tr.joints, spread_ratio)
            n_noise = int(noisy.sum())
            if n_noise == 0:
                continue
            ratio = n_noise / len(tr.frames)
            if ratio >= noise_ratio:
                survivors.remove(tr)
                dropped.append((tr.body_id, f"spread: {ratio:.3f} of frames have x-spread > "
                                            f"{spread_ratio} * y-spread (>= {noise_ratio})"))
            else:
                valid = tr.joints[~noisy].reshape(-1, 3).astype(np.float64)
                motions[id(tr)] = min(motions[id(tr)], float(np.var(valid, axis=0).sum()))
        kept = survivors
    # stable sort, as Python's sorted in CTR-GCN
    kept.sort(key=lambda tr: motions[id(tr)], reverse=True)
    return kept, dropped


def ctrgcn_renumber(tracks: Sequence[BodyTrack]) -> tuple[list[BodyTrack], np.ndarray]:
    """Frame numbering of CTR-GCN's ``get_raw_skes_data.py``.

    Frames where no track is present are dropped, and each track's frames are renumbered
    consecutively from its first remaining frame (CTR-GCN appends ``previous + 1`` for every
    record of a body ID), so a track with a gap is shifted left after the gap.

    Returns:
        (renumbered tracks (``frames`` index the kept frames), kept frames (T',) int64: the
        original index of each kept frame).
    """
    tracks = list(tracks)
    if not tracks:
        return [], np.zeros(0, dtype=np.int64)
    valid = np.unique(np.concatenate([tr.frames for tr in tracks])).astype(np.int64)
    out = []
    for tr in tracks:
        first = int(np.searchsorted(valid, tr.frames[0]))
        out.append(BodyTrack(tr.body_id, first + np.arange(len(tr.frames), dtype=np.int64), tr.joints, tr.colors))
    return out, valid


def pack_actors(tracks: Sequence[BodyTrack], num_frames: int, max_bodies: int = 2,
                ctrgcn_quirks: bool = False) -> tuple[np.ndarray, np.ndarray, list[list[int]], list[tuple[int, str]]]:
    """Place motion-sorted tracks into ``max_bodies`` slots without temporal overlap.

    The first track opens slot 0; each later track goes to the first slot whose occupied
    interval [first, last] it overlaps in at most one boundary frame (CTR-GCN's rule
    ``min(end1, end) - max(start1, start) <= 0``); a track that fits nowhere is dropped. In a
    shared frame the track packed first is kept.

    Args:
        tracks: tracks sorted by priority (largest motion first); ``frames`` < ``num_frames``.
        num_frames: T of the output.
        max_bodies: M, number of actor slots.
        ctrgcn_quirks: reproduce CTR-GCN's packing exactly (slot 2's interval starts at frame
            0; in a shared frame the later track overwrites; only 2 slots). CTR-GCN's frame
            numbering is :func:`ctrgcn_renumber` (applied by :func:`denoise_bodies`).

    Returns:
        joints (M, T, V, 3), colors (M, T, V, 2), body IDs per slot, dropped (id, reason).
    """
    if not tracks:
        raise ValueError("no body tracks to pack")
    v = tracks[0].joints.shape[1]
    joints = np.zeros((max_bodies, num_frames, v, 3), dtype=np.float32)
    colors = np.zeros((max_bodies, num_frames, v, 2), dtype=np.float32)
    filled = np.zeros((max_bodies, num_frames), dtype=bool)
    slots: list[list[int]] = [[] for _ in range(max_bodies)]
    spans: list[tuple[int, int] | None] = [None] * max_bodies
    if ctrgcn_quirks and max_bodies >= 2:
        spans[1] = (0, 0)  # CTR-GCN's "virtual" initial interval of actor 2
    dropped: list[tuple[int, str]] = []
    for tr in tracks:
        start, end = tr.interval
        if end >= num_frames:
            raise ValueError(f"body {tr.body_id} has frame {end} >= num_frames {num_frames}")
        target = None
        for m in range(max_bodies):
            span = spans[m]
            if span is None:
                if m == 0 or not ctrgcn_quirks:
                    target = m
                    break
                continue
            if min(span[1], end) - max(span[0], start) <= 0:
                target = m
                break
        if target is None:
            dropped.append((tr.body_id, "overlaps both actor slots in time"))
            continue
        # CTR-GCN overwrites a shared frame; by default the earlier (larger-motion) track keeps it
        write = np.ones(len(tr.frames), dtype=bool) if ctrgcn_quirks else ~filled[target, tr.frames]
        fr = tr.frames[write]
        joints[target, fr] = tr.joints[write]
        if tr.colors is not None:
            colors[target, fr] = tr.colors[write]
        filled[target, fr] = True
        slots[target].append(tr.body_id)
        span = spans[target]
        spans[target] = (start, end) if span is None else (min(start, span[0]), max(end, span[1]))
    return joints, colors, slots, dropped


def denoise_bodies(seq_or_tracks: Any, num_frames: int | None = None, max_bodies: int = 2,
                   keep_frame_index: bool = True, length_thres: int = NOISE_LEN_THRES,
                   spread_ratio: float = NOISE_SPR_THRES1, noise_ratio: float = NOISE_SPR_THRES2,
                   ctrgcn_quirks: bool = False, path: str | None = None) -> DenoisedSkeleton:
    """Denoise the bodies of one NTU sample and pack them into ``max_bodies`` actor slots.

    Args:
        seq_or_tracks: a ``SkeletonSequence`` or a list of :class:`BodyTrack`.
        num_frames: T of the sample (default: ``seq.num_frames``, or last track frame + 1).
        max_bodies: M.
        keep_frame_index: True: output frame t is file frame t (empty frames stay zero);
            False: frames where no slot has a body are removed (CTR-GCN), see ``frame_index``.
        ctrgcn_quirks: reproduce CTR-GCN: its frame numbering (:func:`ctrgcn_renumber`) and
            packing (:func:`pack_actors`). With ``keep_frame_index=False`` the joints equal
            CTR-GCN's ``raw_denoised_joints``; with True they are put back at the file frame
            CTR-GCN assigns them (which, for a body with a gap, is not the frame they came from).
        path: file name for error messages.

    Returns:
        :class:`DenoisedSkeleton` with joints (M, T', V, 3) and colors (M, T', V, 2).

    Raises:
        DataFormatError: the sample has no body in any frame.
    """
    if isinstance(seq_or_tracks, (list, tuple)):
        tracks = list(seq_or_tracks)
        if num_frames is None:
            num_frames = max((tr.interval[1] + 1 for tr in tracks), default=0)
    else:
        tracks = tracks_from_sequence(seq_or_tracks)
        if num_frames is None:
            num_frames = int(seq_or_tracks.num_frames)
        if path is None:
            path = getattr(seq_or_tracks, "path", None)
    if not tracks:
        raise DataFormatError(path, "no body in any frame (missing skeleton)")
    if ctrgcn_quirks:
        # CTR-GCN numbers the frames with every body of the file, noise included
        tracks, file_frames = ctrgcn_renumber(tracks)
        if file_frames[-1] >= num_frames:
            raise ValueError(f"a body has frame {int(file_frames[-1])} >= num_frames {num_frames}")
    kept, dropped = denoise_tracks(tracks, length_thres, spread_ratio, noise_ratio)
    if ctrgcn_quirks:
        packed_j, packed_c, slots, dropped_pack = pack_actors(kept, len(file_frames), max_bodies, ctrgcn_quirks)
        joints = np.zeros((max_bodies, num_frames, *packed_j.shape[2:]), dtype=np.float32)
        colors = np.zeros((max_bodies, num_frames, *packed_c.shape[2:]), dtype=np.float32)
        joints[:, file_frames], colors[:, file_frames] = packed_j, packed_c
    else:
        joints, colors, slots, dropped_pack = pack_actors(kept, num_frames, max_bodies, ctrgcn_quirks)
    frame_index = np.arange(num_frames, dtype=np.int64)
    if not keep_frame_index:
        rows = np.any(joints != 0, axis=(0, 2, 3))
        frame_index = frame_index[rows]
        joints, colors = joints[:, rows], colors[:, rows]
    return DenoisedSkeleton(joints, colors, frame_index, slots, dropped + dropped_pack)


# ---------------------------------------------------------------------------------------------
# normalisation


def first_valid_frame(x: np.ndarray, actor: int = 0) -> int | None:
    """Index of the first frame where ``actor`` is not all zero; x is (M, T, V, C)."""
    nz = np.flatnonzero(np.any(x[actor] != 0, axis=(1, 2)))
    return int(nz[0]) if nz.size else None


def center_skeleton(x: np.ndarray, layout: str | SkeletonLayout = "ntu25", actor: int = 0) -> np.ndarray:
    """CTR-GCN ``seq_translation``: subtract ``layout.center`` of ``actor``'s first non-zero frame.

    Frames where an actor is absent (all zeros) stay all zeros.

    Args:
        x: (M, T, V, C).

    Returns:
        (M, T, V, C) float32 copy.
    """
    x = np.asarray(x, dtype=np.float32)
    origin = center_origin(x, layout, actor)
    if origin is None:
        return x.copy()
    return subtract_origin(x, origin)


def center_origin(x: np.ndarray, layout: str | SkeletonLayout = "ntu25", actor: int = 0) -> np.ndarray | None:
    """The (C,) point :func:`center_skeleton` subtracts (``layout.center`` of ``actor``'s first
    non-zero frame, else of the first present actor's); ``None`` for an all-zero x (M, T, V, C)."""
    lay = get_layout(layout)
    t0 = first_valid_frame(x, actor)
    if t0 is None:
        # actor 1 empty (possible for a packed store with only actor 2): fall back to any actor
        present = np.flatnonzero(np.any(x != 0, axis=(1, 2, 3)))
        if present.size == 0:
            return None
        actor = int(present[0])
        t0 = first_valid_frame(x, actor)
    return np.array(x[actor, t0, lay.center], dtype=np.float32)


def subtract_origin(x: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """(M, T, V, C) minus a (C,) origin, frames where an actor is absent (all zeros) kept at zero.
    Frame-wise, so it may run on any subset of frames (e.g. the ones a resize reads)."""
    mask = np.any(x != 0, axis=(2, 3), keepdims=True)
    return ((x - origin) * mask).astype(np.float32)


def _rotation_matrix(axis: np.ndarray, theta: float) -> np.ndarray:
    """Counter-clockwise rotation by ``theta`` about ``axis`` (Rodrigues)."""
    n = float(np.linalg.norm(axis))
    if n < 1e-6 or abs(theta) < 1e-6:
        return np.eye(3)
    k = np.asarray(axis, dtype=np.float64) / n
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(theta) * kx + (1 - math.cos(theta)) * kx @ kx


def _align_to(x: np.ndarray, vec: np.ndarray, target: Sequence[float]) -> np.ndarray:
    """Rotate points (..., 3) so that ``vec`` points along ``target``."""
    tgt = np.asarray(target, dtype=np.float64)
    if np.abs(vec).sum() < 1e-6:
        return x
    cos = float(np.clip(np.dot(vec / np.linalg.norm(vec), tgt), -1.0, 1.0))
    axis = np.cross(vec, tgt)
    if np.linalg.norm(axis) < 1e-9 and cos < 0:
        # anti-parallel: any perpendicular axis gives the half turn
        axis = np.cross(tgt, [0.0, 1.0, 0.0] if abs(tgt[1]) < 0.9 else [1.0, 0.0, 0.0])
    r = _rotation_matrix(axis, math.acos(cos))
    return (x @ r.T).astype(np.float32)


def _joint(lay: SkeletonLayout, *names: str) -> int:
    for n in names:
        if n in lay.joints:
            return lay.joints.index(n)
    raise ValueError(f"layout {lay.name} has none of the joints {names}")


def prenormalize_3d(x: np.ndarray, layout: str | SkeletonLayout = "ntu25", align_center: bool = True,
                    align_spine: bool = True, drop_empty: bool = False,
                    zaxis: tuple[int, int] | None = None, xaxis: tuple[int, int] | None = None) -> np.ndarray:
    """PYSKL ``PreNormalize3D`` (from 2s-AGCN ``pre_normalization``).

    Body 1 is made the one with more valid frames (slots swapped if needed); the sequence is
    centred on ``layout.center`` of body 1's first valid frame; then rotated so that the
    spine vector ``zaxis`` (bottom -> top, default SpineBase -> SpineMid) of that frame lies
    along +Z, then so that the shoulder vector ``xaxis`` (default right -> left shoulder
    joint order of PYSKL, ShoulderRight - ShoulderLeft) lies along +X. Zero joints stay zero.

    Args:
        x: (M, T, V, 3).
        drop_empty: remove frames where body 1 is empty (PYSKL does; breaks frame alignment
            with other modalities, hence off by default).

    Returns:
        (M, T', V, 3) float32.
    """
    lay = get_layout(layout)
    x = np.asarray(x, dtype=np.float32).copy()
    if not np.any(x):
        return x
    if x.shape[0] >= 2:
        n0 = int(np.any(x[0] != 0, axis=(1, 2)).sum())
        n1 = int(np.any(x[1] != 0, axis=(1, 2)).sum())
        if n0 < n1:
            x[[0, 1]] = x[[1, 0]]
    if drop_empty:
        x = x[:, np.any(x[0] != 0, axis=(1, 2))]
    t0 = first_valid_frame(x, 0)
    if t0 is None:
        return x
    mask = np.any(x != 0, axis=-1, keepdims=True)
    if align_center:
        x = (x - x[0, t0, lay.center]) * mask
    if align_spine:
        zb, zt = zaxis if zaxis is not None else (_joint(lay, "SpineBase", "HipCenter"), lay.center)
        xr, xl = xaxis if xaxis is not None else (_joint(lay, "ShoulderRight", "right_shoulder"),
                                                  _joint(lay, "ShoulderLeft", "left_shoulder"))
        x = _align_to(x, (x[0, t0, zt] - x[0, t0, zb]).astype(np.float64), (0.0, 0.0, 1.0)) * mask
        x = _align_to(x, (x[0, t0, xr] - x[0, t0, xl]).astype(np.float64), (1.0, 0.0, 0.0)) * mask
    return x.astype(np.float32)


def random_rotation(x: np.ndarray, theta: float = 0.3, rng: np.random.Generator | None = None) -> np.ndarray:
    """CTR-GCN ``random_rot``: one rotation, angles ~ U[-theta, theta] about x, y, z, for all frames.

    Args:
        x: (M, T, V, 3) (or any (..., 3)).
    """
    rng = np.random.default_rng() if rng is None else rng
    ax, ay, az = rng.uniform(-theta, theta, size=3)
    rx = _rotation_matrix(np.array([1.0, 0, 0]), ax)
    ry = _rotation_matrix(np.array([0, 1.0, 0]), ay)
    rz = _rotation_matrix(np.array([0, 0, 1.0]), az)
    r = rz @ ry @ rx
    mask = np.any(x != 0, axis=-1, keepdims=True)
    return ((np.asarray(x, dtype=np.float32) @ r.T.astype(np.float32)) * mask).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# temporal crop / resize


def crop_resize_positions(begin: int, end: int, p_interval: Sequence[float], window: int,
                          rng: np.random.Generator | None = None, min_crop: int = 64) -> np.ndarray:
    """Fractional source frame positions of CTR-GCN ``valid_crop_resize``.

    One ratio in ``p_interval``: centre crop of ``p * valid`` frames (test, p = 0.95).
    Two values: p ~ U[p0, p1], crop length ``clip(floor(valid * p), min_crop, valid)`` at a random
    offset (train). The crop is then linearly resized to ``window`` frames exactly as
    ``F.interpolate(mode="bilinear", align_corners=False)`` does.

    Returns:
        (window,) float64 positions in [begin, end - 1]; round them to align other modalities.
    """
    valid = end - begin
    if valid <= 0:
        return np.zeros(window)
    if len(p_interval) == 1:
        bias = int((1 - p_interval[0]) * valid / 2)
        start, length = begin + bias, valid - 2 * bias
    else:
        rng = np.random.default_rng() if rng is None else rng
        p = rng.random() * (p_interval[1] - p_interval[0]) + p_interval[0]
        length = int(min(max(int(np.floor(valid * p)), min_crop), valid))
        start = begin + int(rng.integers(0, valid - length + 1))
    length = max(length, 1)
    scale = length / window
    src = np.maximum((np.arange(window) + 0.5) * scale - 0.5, 0.0)
    return start + np.minimum(src, length - 1)


def interpolate_frames(x: np.ndarray, positions: np.ndarray, time_axis: int = 1,
                       per_frame: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """Linear interpolation of ``x`` along ``time_axis`` at fractional ``positions``.

    ``per_frame``: a frame-wise map applied to the frames read before they are mixed; the result
    equals interpolating ``per_frame(x)`` bit for bit, at the cost of 2 x len(positions) frames
    instead of all of them (centring a 300-frame clip that is resized to 16 frames). ``x`` may be
    a memory map: only the frames read are loaded."""
    x = np.asanyarray(x)
    t = x.shape[time_axis]
    lo = np.clip(np.floor(positions).astype(np.int64), 0, t - 1)
    hi = np.minimum(lo + 1, t - 1)
    w = (positions - lo).astype(np.float32)
    shape = [1] * x.ndim
    shape[time_axis] = -1
    w = w.reshape(shape)
    a = np.asarray(np.take(x, lo, axis=time_axis), dtype=np.float32)
    b = np.asarray(np.take(x, hi, axis=time_axis), dtype=np.float32)
    if per_frame is not None:
        a, b = per_frame(a), per_frame(b)
    return a * (1 - w) + b * w


def valid_crop_resize(x: np.ndarray, p_interval: Sequence[float], window: int,
                      rng: np.random.Generator | None = None, min_crop: int = 64) -> np.ndarray:
    """CTR-GCN feeder crop + resize to a fixed number of frames.

    The valid range runs from the first to the last non-zero frame (so zeros kept for
    alignment inside the sequence are kept, leading/trailing empty frames are cut).

    Args:
        x: (C, T, V, M) (or (M, T, V, C): time is axis 1 in both).
        p_interval: (p,) test centre crop or (p_lo, p_hi) train random crop.
        window: output T.

    Returns:
        (C, window, V, M) float32.
    """
    x = np.asarray(x, dtype=np.float32)
    nz = np.flatnonzero(np.any(x != 0, axis=(0, 2, 3)))
    begin, end = (int(nz[0]), int(nz[-1]) + 1) if nz.size else (0, x.shape[1])
    pos = crop_resize_positions(begin, end, p_interval, window, rng, min_crop)
    return interpolate_frames(x, pos, time_axis=1)


def pad_or_crop(x: np.ndarray, length: int, time_axis: int = 1) -> np.ndarray:
    """Zero-pad (at the end) or truncate ``x`` to ``length`` frames (CTR-GCN pads to 300)."""
    t = x.shape[time_axis]
    if t >= length:
        return np.take(x, np.arange(length), axis=time_axis)
    pad = [(0, 0)] * x.ndim
    pad[time_axis] = (0, length - t)
    return np.pad(x, pad)


# ---------------------------------------------------------------------------------------------
# streams


def to_ctvm(x: ArrayT) -> ArrayT:
    """(M, T, V, C) -> (C, T, V, M) (and batched (N, M, T, V, C) -> (N, C, T, V, M))."""
    if isinstance(x, torch.Tensor):
        return x.transpose(-1, -4).contiguous()
    return np.ascontiguousarray(np.swapaxes(x, -1, -4))


def to_mtvc(x: ArrayT) -> ArrayT:
    """(C, T, V, M) -> (M, T, V, C); the inverse of :func:`to_ctvm` (same swap)."""
    return to_ctvm(x)
