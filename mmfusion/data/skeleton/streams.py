"""Skeleton input streams ("modalities"): joint, bone, skip bone, motions, acceleration.

Every function takes a numpy array or a torch tensor of layout ``(C, T, V, M)`` or
``(N, C, T, V, M)`` (channels at -4, time at -3, joints at -2) and returns the same type and
shape (:func:`psumnet_streams` concatenates four streams on the channel axis, ``C -> 4C``).

=========  =====================================================================  =====================
name       definition                                                             used by
=========  =====================================================================  =====================
``j``      the joints                                                             all
``b``      joint minus its parent (``layout.parents``; roots give 0)               CTR-GCN, PYSKL, BRL
``k``      joint minus its grandparent (``layout.grandparents``)                  BRL ``JointToKB``
``jm``     ``x[t + s] - x[t]``, the last ``s`` frames 0 (``s`` = stride, def. 1)  CTR-GCN ``vel``, PYSKL
``bm``     motion of ``b``                                                        CTR-GCN, PYSKL
``km``     motion of ``k``                                                        BRL
``ja``     ``x[t + 1] - 2 x[t] + x[t - 1]``, first and last frame 0               FineTec (finite diff.)
=========  =====================================================================  =====================

PSUMNet (``feeders/feeder_ntu.py``) concatenates ``[j, b, jm, bm]`` in that order, C = 12. Its
committed leg-stream bone pairs are off by one for the right leg (``(5, 1), (6, 5)``, 1-based,
in ``bone_pairs.py``); :func:`psumnet_streams` on ``layout.sub_layout(leg)`` uses the
intended tree (right hip -> pelvis) instead.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

from ...errors import ConfigError
from ..layouts import SkeletonLayout, get_layout

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)

STREAMS: tuple[str, ...] = ("j", "b", "k", "jm", "bm", "km", "ja")
_C, _T, _V = -4, -3, -2


def _check(x: ArrayT, lay: SkeletonLayout) -> None:
    if x.ndim not in (4, 5):
        raise ConfigError(f"skeleton streams take (C, T, V, M) or (N, C, T, V, M), got shape {tuple(x.shape)}")
    if x.shape[_V] != lay.num_joints:
        raise ConfigError(f"joint axis has {x.shape[_V]} joints, layout {lay.name} has {lay.num_joints}")


def _take_joints(x: ArrayT, index: tuple[int, ...] | list[int]) -> ArrayT:
    if isinstance(x, torch.Tensor):
        return x.index_select(x.ndim + _V, torch.as_tensor(list(index), device=x.device))
    return np.take(x, list(index), axis=_V)


def bone(x: ArrayT, layout: str | SkeletonLayout = "ntu25") -> ArrayT:
    """Joint minus parent; zero at the roots."""
    lay = get_layout(layout)
    _check(x, lay)
    return x - _take_joints(x, lay.parents)


def skip_bone(x: ArrayT, layout: str | SkeletonLayout = "ntu25") -> ArrayT:
    """Joint minus grandparent (two-hop bone); zero at the roots."""
    lay = get_layout(layout)
    _check(x, lay)
    return x - _take_joints(x, lay.grandparents)


def motion(x: ArrayT, stride: int = 1, mask_missing: bool = False) -> ArrayT:
    """``x[t + stride] - x[t]`` along time; the last ``stride`` frames are 0.

    ``mask_missing``: zero the motion where the actor is absent (all-zero joints) in either frame,
    instead of the jump to / from the origin that CTR-GCN's ``vel`` keeps.
    """
    if stride < 1:
        raise ConfigError(f"motion stride must be >= 1, got {stride}")
    t = x.shape[_T]
    out = torch.zeros_like(x) if isinstance(x, torch.Tensor) else np.zeros_like(x)
    if stride < t:
        out[..., : t - stride, :, :] = x[..., stride:, :, :] - x[..., : t - stride, :, :]
        if mask_missing:
            nz = x != 0  # present: any coordinate of any joint of that actor in that frame
            if isinstance(x, torch.Tensor):
                pres = nz.any(dim=x.ndim + _V, keepdim=True).any(dim=x.ndim + _C, keepdim=True)
            else:
                pres = nz.any(axis=(x.ndim + _C, x.ndim + _V), keepdims=True)
            keep = pres[..., stride:, :, :] & pres[..., : t - stride, :, :]
            out[..., : t - stride, :, :] = out[..., : t - stride, :, :] * keep
    return out


def acceleration(x: ArrayT) -> ArrayT:
    """Central second difference ``x[t + 1] - 2 x[t] + x[t - 1]``; first and last frames 0."""
    t = x.shape[_T]
    out = torch.zeros_like(x) if isinstance(x, torch.Tensor) else np.zeros_like(x)
    if t >= 3:
        out[..., 1:-1, :, :] = x[..., 2:, :, :] - 2 * x[..., 1:-1, :, :] + x[..., :-2, :, :]
    return out


def stream(x: ArrayT, name: str, layout: str | SkeletonLayout = "ntu25", stride: int = 1) -> ArrayT:
    """One stream by name (see the module table)."""
    if name == "j":
        return x
    if name == "b":
        return bone(x, layout)
    if name == "k":
        return skip_bone(x, layout)
    if name == "jm":
        return motion(x, stride)
    if name == "bm":
        return motion(bone(x, layout), stride)
    if name == "km":
        return motion(skip_bone(x, layout), stride)
    if name == "ja":
        return acceleration(x)
    raise ConfigError(f"unknown skeleton stream {name!r}; choose from {STREAMS}")


def concat_streams(x: ArrayT, names: tuple[str, ...] | list[str], layout: str | SkeletonLayout = "ntu25") -> ArrayT:
    """Streams ``names`` concatenated on the channel axis: (C, T, V, M) -> (len(names) * C, T, V, M)."""
    parts = [stream(x, n, layout) for n in names]
    if isinstance(x, torch.Tensor):
        return torch.cat(parts, dim=x.ndim + _C)
    return np.concatenate(parts, axis=_C)


def psumnet_streams(x: ArrayT, layout: str | SkeletonLayout = "ntu25") -> ArrayT:
    """PSUMNet's "unified modality": ``[j, b, jm, bm]`` on channels, C = 3 -> 12."""
    return concat_streams(x, ("j", "b", "jm", "bm"), layout)


def part_stream(x: ArrayT, layout: str | SkeletonLayout, group: str, part: str) -> tuple[ArrayT, SkeletonLayout]:
    """The joints of one part (e.g. PSUMNet ``hand``), in the paper's order, and its sub-layout."""
    lay = get_layout(layout)
    _check(x, lay)
    joints = lay.part(group, part)
    return _take_joints(x, joints), lay.sub_layout(joints, f"{lay.name}_{group}_{part}")
