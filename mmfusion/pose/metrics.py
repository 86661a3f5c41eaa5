"""3-D pose metrics: MPJPE (millimetres) and AP@threshold (fraction of joints within 10 cm).

Inputs are camera- or world-frame metres, shape (..., J, 3); an optional (..., J) boolean
``valid`` mask drops joints without ground truth (ITOP ``visible_joints`` / Panoptic c <= 0.1).
Both functions accept numpy arrays or tensors and return Python floats. ITOP's "mAP@10cm"
is the mean over joints of the per-joint AP; :func:`per_joint_ap` gives that vector.
:func:`root_align` moves predictions so that their root (e.g. the mid-hip) matches the
ground truth's: root-relative MPJPE (Human3.6M protocol 1), the fair measure for monocular
RGB, whose absolute distance is ambiguous (unknown body size).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import ConfigError

__all__ = ["joint_errors", "mpjpe_mm", "ap_at", "per_joint_ap", "root_align"]


def _t(x: Any) -> Tensor:
    return x.detach().double().cpu() if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x, dtype=np.float64))


def joint_errors(pred: Any, gt: Any) -> Tensor:
    """(..., J, 3) x2 -> (..., J) Euclidean errors in metres (float64)."""
    p, g = _t(pred), _t(gt)
    if p.shape != g.shape or p.shape[-1] != 3:
        raise ConfigError(f"pose metrics: prediction {tuple(p.shape)} and ground truth {tuple(g.shape)} "
                          f"must both be (..., J, 3)")
    return (p - g).norm(dim=-1)


def _mask(err: Tensor, valid: Any | None) -> Tensor:
    if valid is None:
        return torch.ones_like(err, dtype=torch.bool)
    m = _t(valid).bool() if not isinstance(valid, Tensor) else valid.detach().cpu().bool()
    if m.shape != err.shape:
        raise ConfigError(f"pose metrics: valid mask {tuple(m.shape)} does not match joints {tuple(err.shape)}")
    return m


def mpjpe_mm(pred: Any, gt: Any, valid: Any | None = None) -> float:
    """Mean per-joint position error in millimetres over all (valid) joints."""
    err = joint_errors(pred, gt)
    m = _mask(err, valid)
    if not bool(m.any()):
        raise ConfigError("mpjpe_mm: no valid joint")
    return float(err[m].mean() * 1000.0)


def ap_at(pred: Any, gt: Any, threshold: float = 0.10, valid: Any | None = None) -> float:
    """Fraction of (valid) joints whose error is below ``threshold`` metres (AP@10cm by default)."""
    err = joint_errors(pred, gt)
    m = _mask(err, valid)
    if not bool(m.any()):
        raise ConfigError("ap_at: no valid joint")
    return float((err[m] < threshold).double().mean())


def per_joint_ap(pred: Any, gt: Any, threshold: float = 0.10, valid: Any | None = None) -> Tensor:
    """(J,) per-joint AP (NaN where a joint never has ground truth); ITOP mAP = nanmean of it."""
    err = joint_errors(pred, gt)
    m = _mask(err, valid)
    j = err.shape[-1]
    e, mm = err.reshape(-1, j), m.reshape(-1, j).double()
    hits = ((e < threshold).double() * mm).sum(0)
    n = mm.sum(0)
    return torch.where(n > 0, hits / n.clamp_min(1), torch.full_like(n, float("nan")))


def root_align(pred: Any, gt: Any, root: tuple[int, ...] | list[int]) -> Tensor:
    """Shift (..., J, 3) predictions so that the mean of their ``root`` joints equals the ground
    truth's; returns float64 predictions (compare with :func:`mpjpe_mm`)."""
    p, g = _t(pred), _t(gt)
    if p.shape != g.shape:
        raise ConfigError(f"root_align: shapes {tuple(p.shape)} and {tuple(g.shape)} differ")
    if not root or max(root) >= p.shape[-2]:
        raise ConfigError(f"root_align: bad root joints {root} for {p.shape[-2]} joints")
    idx = list(root)
    return p - p[..., idx, :].mean(-2, keepdim=True) + g[..., idx, :].mean(-2, keepdim=True)
