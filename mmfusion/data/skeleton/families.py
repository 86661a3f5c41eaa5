"""Published skeleton preprocessing families beside CTR-GCN's (:mod:`mmfusion.data.preprocess`).

Each function follows the official code step by step, with its constants; the numbers of
papers in different families are not comparable (docs/skeleton.md). Layouts: one sample
``(C, T, V, M)`` (ST-GCN / AimCLR / 2s-AGCN) or ``(M, T, V, C)`` (PYSKL), as in the code
they mirror; the results are ``float32`` unless stated.

**AimCLR "frame50"** (``feeder/NTUDatasets.py`` ``NTUMotionProcessor`` with the arguments of
``feeder/preprocess_ntu.py``: ``data_type='relative'``, ``t_length=50``, ``y_rotation=True``,
``sampling='resize'``, ``displacement=1``) -- :func:`aimclr_frame50`:

1. motion = ``x[t + 1] - x[t]`` of the raw input (last frame 0), computed *before* step 2;
2. "relative": subtract joint 21 (SpineShoulder, index 20) of every frame, per person;
3. the valid length is the number of frames where person 0's joint 0 is non-zero; the first
   ``length`` frames of both position and motion are resized to 50 frames with
   ``cv2.resize(..., INTER_LINEAR)`` (half-pixel centres, edge clamp; :func:`linear_resize`);
4. ``parallel_skeleton`` per person: every frame is rotated about y so that its right-to-left
   shoulder vector (joints 9 - 5, y zeroed) lies on x; the sign of all angles is chosen once
   per sequence from the summed z of those vectors. The motion is not rotated.

**2s-AGCN pre_normalization** (``data_gen/preprocess.py``, used by HaLP, CMD,
Skeleton-Contrast, MS-G3D) -- :func:`select_bodies_by_energy` (``ntu_gendata.read_xyz``: up to 4
Kinect bodies, keep the 2 with the largest ``std`` over non-zero frames) and
:func:`agcn_pre_normalization`:

1. a person whose first frame is empty has its non-empty frames moved to the front; trailing
   empty frames are filled by repeating the valid prefix;
2. subtract joint 1 (SpineMid) of person 0 *per frame*, only where a joint is non-zero;
3. rotate so that person 0's frame-0 hip -> spine bone (joints 0 -> 1) is parallel to z,
4. then so that its right -> left shoulder vector (joints 8 -> 4) is parallel to x
   (Euler-Rodrigues ``rotation_matrix``; empty frames stay zero).

**PYSKL** (``pyskl/datasets/pipelines/pose_related.py``, ``sampling.py``, ``formatting.py``):

* :func:`pyskl_prenormalize3d` = ``PreNormalize3D(zaxis=[0, 1], xaxis=[8, 4], align_spine=True,
  align_center=True)``: keep the frames where the main person is non-zero (the person with more
  such frames becomes person 0); centre on joint 1 of frame 0 (the last joint when V != 25),
  masked; optional spine / shoulder alignment as in 2s-AGCN but with frame 0 only;
* :func:`pyskl_uniform_sample` = ``UniformSampleFrames(clip_len, num_clips, test_mode,
  p_interval, seed=255)``: frame indices, ``num_clips * clip_len`` of them (train: random
  per segment; test: the official draws from ``np.random.seed(255)``); indices wrap modulo
  the length;
* :func:`pyskl_format_gcn_input` = ``FormatGCNInput(num_person=2)``: pad / cut persons to M and
  reshape to ``(num_clips, M, T, V, C)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ...errors import DataFormatError

FRAME50_LENGTH = 50  # AimCLR preprocess_ntu.py max_frame
FRAME50_CENTER = 20  # SpineShoulder (joint 21, 1-based)
FRAME50_SHOULDERS = (8, 4)  # right, left (parallel_skeleton)
AGCN_ZAXIS = (0, 1)
AGCN_XAXIS = (8, 4)
PYSKL_TEST_SEED = 255


# ----------------------------------------------------------------------------- AimCLR frame50


def linear_resize(x: np.ndarray, length: int, size: int, time_axis: int = 1) -> np.ndarray:
    """The first ``length`` frames resized to ``size`` frames like ``cv2.resize(INTER_LINEAR)``
    on the time axis: source position ``(i + 0.5) * length / size - 0.5``, clamped to the ends."""
    if length < 1:
        raise DataFormatError(None, "cannot resize a sequence with no valid frame")
    x = np.take(np.asarray(x, dtype=np.float64), np.arange(length), axis=time_axis)
    pos = np.clip((np.arange(size) + 0.5) * (length / size) - 0.5, 0.0, length - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, length - 1)
    w = pos - lo
    shape = [1] * x.ndim
    shape[time_axis] = size
    w = w.reshape(shape)
    return np.take(x, lo, axis=time_axis) * (1 - w) + np.take(x, hi, axis=time_axis) * w


def _y_rotations(degrees: np.ndarray) -> np.ndarray:
    th = np.deg2rad(degrees)
    c, s = np.cos(th), np.sin(th)
    r = np.zeros((len(th), 3, 3))
    r[:, 0, 0], r[:, 0, 2], r[:, 1, 1], r[:, 2, 0], r[:, 2, 2] = c, -s, 1.0, s, c
    return r


def parallel_skeleton(person: np.ndarray, shoulders: tuple[int, int] = FRAME50_SHOULDERS) -> np.ndarray:
    """AimCLR ``parallel_skeleton``: (C=3, T, V) one person -> the same, each frame rotated about y."""
    vec = person[:, :, shoulders[0]] - person[:, :, shoulders[1]]
    vec = vec.copy()
    vec[1] = 0
    norm = np.sqrt((vec ** 2).sum(0))
    thetas = np.degrees(np.arccos(vec[0] / (norm + 0.0001)))
    if vec[2].sum() >= 0:
        thetas = -thetas
    r = _y_rotations(thetas)  # (T, 3, 3)
    return np.einsum("tij,jtv->itv", r, person)


def valid_length_frame50(x: np.ndarray) -> int:
    """AimCLR ``get_length``: frames where person 0's joint 0 is non-zero, (C, T, V, M) input."""
    return int((np.abs(x[:, :, 0, 0]).sum(axis=0) != 0).sum())


def aimclr_frame50(x: np.ndarray, t_length: int = FRAME50_LENGTH, y_rotation: bool = True,
                   displacement: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(C=3, T, V=25, M) raw ST-GCN sample -> ``(position, motion)``, each (3, 50, 25, M) float32."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 4 or x.shape[0] != 3:
        raise DataFormatError(None, f"frame50 expects a (3, T, V, M) sample, got {x.shape}")
    motion = np.zeros_like(x)
    if displacement > 0:
        motion[:, :-displacement] = x[:, displacement:] - x[:, :-displacement]
    length = valid_length_frame50(x)
    pos = x - x[:, :, FRAME50_CENTER:FRAME50_CENTER + 1, :]
    pos = linear_resize(pos, length, t_length)
    motion = linear_resize(motion, length, t_length)
    if y_rotation:
        for n in range(min(2, pos.shape[-1])):
            pos[..., n] = parallel_skeleton(pos[..., n])
    return pos.astype(np.float32), motion.astype(np.float32)


# ----------------------------------------------------------------------------- 2s-AGCN


def select_bodies_by_energy(x: np.ndarray, keep: int = 2) -> np.ndarray:
    """(M, T, V, C) up to 4 Kinect bodies -> the ``keep`` with the largest energy (sum over x, y, z
    of the std over the body's non-zero frames), in decreasing energy, as 2s-AGCN ``read_xyz``."""
    x = np.asarray(x)
    energy = []
    for body in x:
        s = body[body.sum(-1).sum(-1) != 0]
        energy.append(sum(float(s[:, :, c].std()) for c in range(3)) if len(s) else 0.0)
    order = np.argsort(energy)[::-1][:keep]
    out = np.zeros((keep, *x.shape[1:]), dtype=x.dtype)
    out[:len(order)] = x[order]
    return out


def rotation_matrix(axis: np.ndarray, theta: float) -> np.ndarray:
    """2s-AGCN / PYSKL ``rotation_matrix`` (Euler-Rodrigues): the rotation by ``theta`` about ``axis``
    that turns the first argument of :func:`angle_between` towards the second."""
    axis = np.asarray(axis, dtype=np.float64)
    if np.abs(axis).sum() < 1e-6 or abs(theta) < 1e-6:
        return np.eye(3)
    axis = axis / math.sqrt(float(np.dot(axis, axis)))
    a = math.cos(theta / 2.0)
    b, c, d = -axis * math.sin(theta / 2.0)
    aa, bb, cc, dd = a * a, b * b, c * c, d * d
    bc, ad, ac, ab, bd, cd = b * c, a * d, a * c, a * b, b * d, c * d
    return np.array([[aa + bb - cc - dd, 2 * (bc + ad), 2 * (bd - ac)],
                     [2 * (bc - ad), aa + cc - bb - dd, 2 * (cd + ab)],
                     [2 * (bd + ac), 2 * (cd - ab), aa + dd - bb - cc]])


def angle_between(v1: np.ndarray, v2: Sequence[float]) -> float:
    u1 = np.asarray(v1, dtype=np.float64)
    u2 = np.asarray(v2, dtype=np.float64)
    n1, n2 = np.linalg.norm(u1), np.linalg.norm(u2)
    if n1 == 0 or n2 == 0:
        return 0.0
    return float(np.arccos(np.clip(np.dot(u1 / n1, u2 / n2), -1.0, 1.0)))


def _align(s: np.ndarray, vec: np.ndarray, target: Sequence[float], keep: np.ndarray) -> np.ndarray:
    r = rotation_matrix(np.cross(vec, target), angle_between(vec, target))
    return np.where(keep, s @ r.T, s)


def agcn_pre_normalization(x: np.ndarray, zaxis: tuple[int, int] = AGCN_ZAXIS,
                           xaxis: tuple[int, int] = AGCN_XAXIS) -> np.ndarray:
    """2s-AGCN ``pre_normalization`` of one sample: (C=3, T, V, M) -> (3, T, V, M) float32."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 4 or x.shape[0] != 3:
        raise DataFormatError(None, f"pre_normalization expects a (3, T, V, M) sample, got {x.shape}")
    s = np.ascontiguousarray(x.transpose(3, 1, 2, 0))  # (M, T, V, C)
    if s.sum() == 0:
        return x.astype(np.float32)
    for p in range(len(s)):  # pad null frames with the previous frames
        person = s[p]
        if person.sum() == 0:
            continue
        if person[0].sum() == 0:
            valid = person.sum(-1).sum(-1) != 0
            tmp = person[valid].copy()
            person[:] = 0
            person[:len(tmp)] = tmp
        for f in range(len(person)):
            if person[f].sum() == 0 and person[f:].sum() == 0:
                rest = len(person) - f
                num = int(np.ceil(rest / f))
                person[f:] = np.concatenate([person[:f]] * num, 0)[:rest]
                break
    center = s[0][:, 1:2, :].copy()  # (T, 1, C): joint 1 of person 0, per frame
    for p in range(len(s)):
        if s[p].sum() == 0:
            continue
        mask = (s[p].sum(-1) != 0)[..., None]
        s[p] = (s[p] - center) * mask
    nonzero_frame = (s.sum(-1).sum(-1) != 0)[..., None, None]  # (M, T, 1, 1): frames the loops visit
    nonzero_person = (s.reshape(len(s), -1).sum(-1) != 0)[:, None, None, None]
    keep = nonzero_frame & nonzero_person
    s = _align(s, s[0, 0, zaxis[1]] - s[0, 0, zaxis[0]], [0, 0, 1], keep)
    s = _align(s, s[0, 0, xaxis[0]] - s[0, 0, xaxis[1]], [1, 0, 0], keep)
    return s.transpose(3, 1, 2, 0).astype(np.float32)


# ----------------------------------------------------------------------------- PYSKL


def pyskl_prenormalize3d(keypoint: np.ndarray, zaxis: tuple[int, int] = AGCN_ZAXIS,
                         xaxis: tuple[int, int] = AGCN_XAXIS, align_spine: bool = True,
                         align_center: bool = True) -> np.ndarray:
    """PYSKL ``PreNormalize3D``: (M in {1, 2}, T, V, C=3) -> (M, T', V, 3), T' = the main
    person's non-zero frames."""
    sk = np.asarray(keypoint, dtype=np.float64)
    if sk.ndim != 4 or sk.shape[0] not in (1, 2) or sk.shape[-1] != 3:
        raise DataFormatError(None, f"PreNormalize3D expects (M in 1..2, T, V, 3), got {sk.shape}")
    if sk.sum() == 0:
        return sk.astype(np.float32)
    valid0 = ~np.all(np.isclose(sk[0], 0), axis=(1, 2))
    if sk.shape[0] == 2:
        valid1 = ~np.all(np.isclose(sk[1], 0), axis=(1, 2))
        if valid0.sum() < valid1.sum():
            sk = sk[:, valid1][[1, 0]]
        else:
            sk = sk[:, valid0]
    else:
        sk = sk[:, valid0]
    if align_center:
        center = sk[0, 0, 1].copy() if sk.shape[2] == 25 else sk[0, 0, -1].copy()
        mask = ((sk != 0).sum(-1) > 0)[..., None]
        sk = (sk - center) * mask
    if align_spine:
        vec = sk[0, 0, zaxis[1]] - sk[0, 0, zaxis[0]]
        sk = sk @ rotation_matrix(np.cross(vec, [0, 0, 1]), angle_between(vec, [0, 0, 1])).T
        vec = sk[0, 0, xaxis[0]] - sk[0, 0, xaxis[1]]
        sk = sk @ rotation_matrix(np.cross(vec, [1, 0, 0]), angle_between(vec, [1, 0, 0])).T
    return sk.astype(np.float32)


def _uniform_clip(num_frames: int, clip_len: int, rng: np.random.RandomState) -> np.ndarray:
    if clip_len <= num_frames < 2 * clip_len:
        basic = np.arange(clip_len)
        picked = rng.choice(clip_len + 1, num_frames - clip_len, replace=False)
        offset = np.zeros(clip_len + 1, dtype=np.int64)
        offset[picked] = 1
        return basic + np.cumsum(offset)[:-1]
    bids = np.array([i * num_frames // clip_len for i in range(clip_len + 1)])
    return bids[:clip_len] + rng.randint(np.diff(bids))


def pyskl_uniform_sample(num_frames: int, clip_len: int, num_clips: int = 1, test_mode: bool = False,
                         p_interval: float | tuple[float, float] = 1.0,
                         rng: np.random.RandomState | None = None, seed: int = PYSKL_TEST_SEED) -> np.ndarray:
    """PYSKL ``UniformSampleFrames``: (num_clips * clip_len,) frame indices into ``num_frames``.

    Train mode draws from ``rng`` (a legacy ``RandomState``, as PYSKL uses the global numpy
    generator); test mode reseeds with ``seed`` (255) like the official code, so its clips are
    the same on every call.
    """
    if num_frames < 1 or clip_len < 1 or num_clips < 1:
        raise DataFormatError(None, f"cannot sample {num_clips}x{clip_len} frames from {num_frames}")
    pi = p_interval if isinstance(p_interval, tuple) else (float(p_interval), float(p_interval))
    out = []
    if test_mode:
        r = np.random.RandomState(seed)
        for i in range(num_clips):
            if num_frames < clip_len:
                start = i if num_frames < num_clips else i * num_frames // num_clips
                out.append(np.arange(start, start + clip_len))
            else:
                out.append(_uniform_clip(num_frames, clip_len, r))
    else:
        r = rng if rng is not None else np.random.RandomState()
        for _ in range(num_clips):
            ratio = r.rand() * (pi[1] - pi[0]) + pi[0]
            n = int(ratio * num_frames)
            off = r.randint(num_frames - n + 1)
            if n < clip_len:
                start = r.randint(0, n)
                inds = np.arange(start, start + clip_len)
            else:
                inds = _uniform_clip(n, clip_len, r)
            out.append(inds + off)
    return np.mod(np.concatenate(out), num_frames)


def pyskl_format_gcn_input(keypoint: np.ndarray, num_clips: int = 1, num_person: int = 2) -> np.ndarray:
    """PYSKL ``FormatGCNInput``: (M, num_clips * T, V, C) -> (num_clips, num_person, T, V, C)."""
    kp = np.asarray(keypoint)
    m, t, v, c = kp.shape
    if m < num_person:
        kp = np.concatenate([kp, np.zeros((num_person - m, t, v, c), dtype=kp.dtype)], 0)
    kp = kp[:num_person]
    if t % num_clips:
        raise DataFormatError(None, f"{t} frames do not split into {num_clips} clips")
    return np.ascontiguousarray(kp.reshape(num_person, num_clips, t // num_clips, v, c).transpose(1, 0, 2, 3, 4))


def pyskl_pipeline(keypoint: np.ndarray, clip_len: int = 100, num_clips: int = 1, test_mode: bool = False,
                   align_spine: bool = True, rng: np.random.RandomState | None = None) -> np.ndarray:
    """``PreNormalize3D -> UniformSampleFrames -> PoseDecode -> FormatGCNInput`` on one
    (M, T, V, 3) sample: returns (num_clips, 3, clip_len, V, 2) float32 in mmfusion's
    (C, T, V, M) order per clip."""
    sk = pyskl_prenormalize3d(keypoint, align_spine=align_spine)
    inds = pyskl_uniform_sample(sk.shape[1], clip_len, num_clips, test_mode, rng=rng)
    clips = pyskl_format_gcn_input(sk[:, inds], num_clips)
    return np.ascontiguousarray(clips.transpose(0, 4, 2, 3, 1)).astype(np.float32)
