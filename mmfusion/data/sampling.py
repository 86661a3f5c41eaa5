"""Temporal sampling shared by all modalities of a sample.

All modalities of an NTU sample are recorded at the same 30 fps, frame t of the skeleton
file is frame t of the depth folder and of the RGB/IR videos (the readers keep empty skeleton
frames at their index). So one set of frame indices is drawn per sample and used by every
modality: the multimodal models see the same instants.

* :func:`uniform_indices` -- TSN / PYSKL ``UniformSampleFrames``: split the video into
  ``clip_len`` equal segments, one frame per segment (train: random offset in the segment;
  test: segment centre). Videos shorter than ``clip_len`` repeat frames (in order).
* :func:`aligned_indices` -- per-modality clip lengths (``MMUniformSampleFrames``): the
  densest modality is sampled first; a sparser one takes an evenly strided subset of those
  indices. When its clip_len divides the dense one this is exactly ``dense[0::stride]``
  (EPAM-Net: RGB = pose[0::3]), so every RGB frame is also a pose frame.

All randomness comes from the ``rng`` argument (a ``numpy.random.Generator``), so a seeded
generator gives the same clip on every run.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def uniform_indices(num_frames: int, clip_len: int, train: bool, rng: np.random.Generator | None = None,
                    num_clips: int = 1) -> np.ndarray:
    """Frame indices of ``num_clips`` clips of ``clip_len`` frames, uniform segments.

    Args:
        num_frames: frames in the video (>= 1).
        clip_len: frames per clip.
        train: random offset inside each segment; else the segment centre (test clip k of
            ``num_clips`` takes offset (k + 0.5) / num_clips of each segment).
        rng: source of randomness (train only); default a fresh unseeded generator.
        num_clips: clips drawn (concatenated).

    Returns:
        (num_clips * clip_len,) int64, non-decreasing within each clip, in [0, num_frames).
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if clip_len < 1:
        raise ValueError(f"clip_len must be >= 1, got {clip_len}")
    if train and rng is None:
        rng = np.random.default_rng()
    clips = []
    for k in range(num_clips):
        if num_frames >= clip_len:
            # integer segment bounds (PYSKL): segment i = [bids[i], bids[i+1]), each >= 1 frame
            bids = (np.arange(clip_len + 1) * num_frames) // clip_len
            size = np.diff(bids)
            if train:
                off = np.floor(rng.random(clip_len) * size).astype(np.int64)
            else:
                off = np.floor(size * (k + 0.5) / num_clips).astype(np.int64)
            idx = bids[:-1] + np.minimum(off, size - 1)
        else:
            # short video: fractional segments, each frame repeated ~clip_len/num_frames times
            u = rng.random(clip_len) if train else np.full(clip_len, (k + 0.5) / num_clips)
            idx = np.floor((np.arange(clip_len) + u) * num_frames / clip_len).astype(np.int64)
            if train:
                idx = np.sort(idx)
        clips.append(np.clip(idx, 0, num_frames - 1))
    return np.concatenate(clips).astype(np.int64)


def subset_indices(dense: np.ndarray, clip_len: int) -> np.ndarray:
    """``clip_len`` evenly strided entries of ``dense`` (``dense[0::stride]`` when it divides)."""
    d = len(dense)
    if clip_len > d:
        raise ValueError(f"clip_len {clip_len} exceeds the dense clip length {d}")
    return dense[(np.arange(clip_len) * d) // clip_len]


def aligned_indices(num_frames: int, clip_lens: Mapping[str, int], train: bool,
                    rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
    """Frame indices per modality, aligned: sparser modalities use a subset of the dense ones.

    Args:
        num_frames: frames of the sample (the minimum over its modalities).
        clip_lens: modality -> clip length, e.g. ``{"skeleton": 48, "rgb": 16}``.
        train: random offsets (train) or segment centres (test).
        rng: seeded generator for reproducible clips.

    Returns:
        modality -> (clip_len,) int64 indices. Equal clip lengths give identical arrays; a
        clip length that divides the largest one gives ``dense[0::stride]``.
    """
    if not clip_lens:
        return {}
    dense_len = max(clip_lens.values())
    dense = uniform_indices(num_frames, dense_len, train, rng)
    return {m: dense.copy() if c == dense_len else subset_indices(dense, c) for m, c in clip_lens.items()}
