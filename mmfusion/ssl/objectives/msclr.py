"""MS-CLR (Multi-Skeleton Contrastive Learning for Human Action Recognition, arXiv 2508.14889):
AimCLR whose query and key views come from **different joint conventions of the same clip**, on a
layout-agnostic ST-GCN (:class:`~mmfusion.encoders.flex_stgcn.FlexSTGCN`).

After ``3Dwe-ai/ms-clr`` ``net/aimclr.py`` and ``feeder/ntu_feeder.py`` (``Feeder_mixed_triple``;
re-implemented; the release lacks the encoder, see :mod:`mmfusion.encoders.flex_stgcn`):

* per batch a (query, key) pair of conventions is drawn (``full_random_skeleton``: each uniformly
  from ``layouts``, independently); the batch carries every convention of each clip as
  ``"skeleton_<layout>"`` (``"skeleton"`` is the first layout's);
* AimCLR on that pair: ``q`` = basic view (temporal crop 6 + shear 0.5) of the query convention,
  ``q_e`` = its extreme view (+ flip with that layout's map, rotate, noise, blur, axis mask, time
  flip), ``k`` = the momentum encoder's basic view of the key convention; ``L = InfoNCE(q, k) +
  1/2 [CE(p(q_e), sg p(q)) + CE(p(q_ed), sg p(q))]``; from ``mining_step`` on, the InfoNCE term
  takes the top-1 queue neighbours of the three queries as extra positives (AimCLR's NNM);
* queue 32,768, m 0.999, tau 0.07, 128-d MoCo v2 head (:class:`~mmfusion.ssl.objectives.moco.MoCo`).

Evaluation: MS-CLR's linear number (``linear_eval_multi_aimclr_xsub_joint.yaml``) is a head on the
Kinect ``ntu25`` convention alone (``Feeder_single``; the other conventions' graph and data BN are
dropped); its ``_ensemble`` configs fuse one head per convention. The recipes report both
(``top1_<first layout>`` and the fused ``top1``).

Presets: ``cpu`` pairs the four 3-D conventions ``ntu25`` / ``smpl24`` / ``h36m17`` / ``coco17``
(the world's other conventions re-expressed from its ``ntu25``, as MS-CLR's MeTRAbs skeletons are
metric 3-D) for 4 x 10 epochs (the official feeder multiplies the data set's length by the number
of conventions; the paper runs 300), mining from half the run (as the paper); ``paper_ntu60`` the
paper's four.

Differences (ours): AimCLR's ``q_ed`` comes from its energy-based attention-guided drop inside the
ST-GCN; here it is the extreme view's pooled feature with dropout (``drop`` 0.1) before the
projector. The per-layout linear heads fused at evaluation are
:class:`~mmfusion.encoders.flex_stgcn.MultiLayoutHead` (``features_by_layout`` gives their inputs).
:class:`MultiLayoutSkeletons` serves the skeleton world's packed conventions in one batch; image
coordinates (C = 2) are centred on the layout's centre joint (person 0, first frame) and divided by
the clip's person-0 extent (ours: MS-CLR's MeTRAbs skeletons are metric 3-D, scaled by 0.001).

Shapes: batch ``{"skeleton": (N, C, T, V0, M), "skeleton_<layout>": (N, C, T, V, M), "index": (N,)}``;
``forward`` -> ``{"loss", "loss_nce", "loss_ddm_e", "loss_ddm_ed", "acc"}``; ``features`` (N, C, T, V0,
M) -> (N, D) on the first layout.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from ...data.layouts import get_layout
from ...data.preprocess import center_origin, crop_resize_positions, interpolate_frames, subtract_origin
from ...errors import ConfigError, DataFormatError
from ..augment import preset
from ..objective import register_objective
from .hiclr import consistency_loss, mining_loss
from .moco import TRAIN_PRESETS as MOCO_TRAIN
from .moco import MoCo, build_backbone

__all__ = ["PRESETS", "TRAIN_PRESETS", "MSCLR", "MultiLayoutSkeletons", "normalize_image_coords"]

#: the ``cpu`` preset's conventions: MS-CLR's setting of metric 3-D skeletons in every convention
#: (on the skeleton world: ``ntu25`` plus three re-expressed from it, :func:`~mmfusion.ssl.presets.world_splits`)
_CPU_LAYOUTS = ("ntu25", "smpl24", "h36m17", "coco17")

PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {"encoder": "msclr_stgcn_tiny", "encoder_kwargs": {"layouts": _CPU_LAYOUTS, "in_channels": 3},
            "layouts": _CPU_LAYOUTS, "queue_size": 512, "momentum": 0.99, "proj_dim": 64, "temperature": 0.2,
            # nearest-neighbour mining from half the run, as the paper (epoch 150 of 300): 40 x 79 / 2
            "mining_step": 1580},
    "paper_ntu60": {"encoder": "msclr_stgcn", "layouts": ("ntu25", "smpl24", "smplx42", "mhad43"),
                    "encoder_kwargs": {"layouts": ("ntu25", "smpl24", "smplx42", "mhad43")},
                    "queue_size": 32768, "momentum": 0.999, "temperature": 0.07, "proj_dim": 128,
                    "mining_step": 150 * 314, "topk": 1},
}

#: MoCo's engine settings; the ``cpu`` preset runs 10 passes per convention (the official feeder
#: multiplies the data set's length by the number of conventions): 4 x 10 = 40 epochs, 3,160 steps,
#: what fits 15 minutes of the 2 cores (12-14 min measured); 4 x 5 gained +3.2 on ``ntu25``, 4 x 10 +13.7
TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    **MOCO_TRAIN, "cpu": {**MOCO_TRAIN["cpu"], "epochs": 10 * len(_CPU_LAYOUTS)}}


def normalize_image_coords(x: np.ndarray, layout: str) -> np.ndarray:
    """(C, T, V, M) image coordinates -> centred on the layout's centre joint (person 0, first
    non-zero frame) and divided by person 0's largest extent over the clip (zeros stay zero)."""
    lay = get_layout(layout)
    p0 = x[..., 0]  # (C, T, V)
    valid = np.abs(p0).sum(axis=(0, 2)) > 0
    if not valid.any():
        return x.astype(np.float32)
    first = int(np.argmax(valid))
    centre = p0[:, first, lay.center][:, None, None, None]
    pts = p0[:, valid]  # (C, T', V)
    extent = float((pts.max(axis=(1, 2)) - pts.min(axis=(1, 2))).max()) or 1.0
    present = (np.abs(x).sum(axis=0, keepdims=True) > 0)
    return np.where(present, (x - centre) / extent, 0.0).astype(np.float32)


class MultiLayoutSkeletons(Dataset):
    """Every joint convention of each clip in one sample (the skeleton world's ``packed/<layout>.npy``).

    Args:
        arrays: layout -> (N, C, T, V, M) array (memory-mapped is fine); the first is ``"skeleton"``.
        labels: (N,) class ids.
        indices: which rows to serve (default: all).
        channels: C of every output (2-D arrays are zero-padded to 3, 3-D arrays keep x, y for 2).
        image_layouts: layouts whose values are image coordinates (normalised by
            :func:`normalize_image_coords`); default: every 2-channel array.
        window: frames per output clip: the CTR-GCN valid crop (train U[0.5, 1], else 0.95,
            :func:`~mmfusion.data.preprocess.crop_resize_positions`) resized to ``window``, **one
            crop per clip** (from the first layout's valid frames) applied to every convention, so
            the conventions of a sample stay the same frames; ``None``: the full arrays.
        train: random crops (seeded by ``seed``, the epoch of :meth:`set_epoch` and the row) or the
            deterministic 0.95 centre crop.
        center: the 3-D (non-image) conventions minus the centre joint of person 0's first frame
            (:func:`~mmfusion.data.preprocess.center_skeleton`, CTR-GCN ``seq_translation``, as
            :class:`~mmfusion.ssl.presets.CenteredSkeletons` for ``ntu25`` clips).

    Sample: ``{"skeleton", "skeleton_<layout>" (C, T', V, M) float32, "label", "index"}``; ``index``
    (the served rows, like :class:`~mmfusion.data.skeleton.SkeletonDataset`'s) and ``labels`` (all rows).
    """

    def __init__(self, arrays: Mapping[str, np.ndarray], labels: Sequence[int] | np.ndarray,
                 indices: Sequence[int] | np.ndarray | None = None, channels: int = 2,
                 image_layouts: Sequence[str] | None = None, window: int | None = None, train: bool = False,
                 center: bool = False, seed: int = 0) -> None:
        if not arrays:
            raise ConfigError("MultiLayoutSkeletons: needs at least one layout")
        n = len(labels)
        for name, a in arrays.items():
            if a.ndim != 5 or a.shape[0] != n or a.shape[3] != get_layout(name).num_joints:
                raise DataFormatError(f"<{name} array>", f"expected ({n}, C, T, {get_layout(name).num_joints}, M), "
                                                         f"got {tuple(a.shape)}")
        self.arrays, self.labels, self.channels = dict(arrays), np.asarray(labels), channels
        self.layouts = tuple(self.arrays)
        self.indices = np.arange(n) if indices is None else np.asarray(indices)
        self.image_layouts = set(image_layouts if image_layouts is not None
                                 else [k for k, a in self.arrays.items() if a.shape[1] == 2])
        self.window, self.train, self.center, self.seed, self.epoch = window, train, center, seed, 0
        # per-row facts that do not change with the epoch (each scans the whole clip): the valid
        # span of the first layout and each centred layout's origin, found once
        self._spans: dict[int, tuple[int, int]] = {}
        self._origins: dict[tuple[str, int], np.ndarray | None] = {}

    @property
    def index(self) -> np.ndarray:
        """The served rows (the name :class:`~mmfusion.data.skeleton.SkeletonDataset` uses)."""
        return self.indices

    def __len__(self) -> int:
        return len(self.indices)

    def set_epoch(self, epoch: int) -> None:
        """Vary the random crops per epoch (they depend on seed, epoch and row only)."""
        self.epoch = int(epoch)

    def _positions(self, row: int) -> np.ndarray | None:
        if self.window is None:
            return None
        if row not in self._spans:
            x = np.asarray(self.arrays[self.layouts[0]][row])
            nz = np.flatnonzero(np.any(x != 0, axis=(0, 2, 3)))
            self._spans[row] = (int(nz[0]), int(nz[-1]) + 1) if nz.size else (0, x.shape[1])
        begin, end = self._spans[row]
        rng = np.random.default_rng([self.seed, self.epoch, row])
        return crop_resize_positions(begin, end, (0.5, 1.0) if self.train else (0.95,), self.window, rng)

    def _get(self, name: str, row: int, positions: np.ndarray | None = None) -> torch.Tensor:
        x = self.arrays[name][row]  # a memory map's row stays on disk until read
        centre: Callable[[np.ndarray], np.ndarray] | None = None
        if name in self.image_layouts:
            x = normalize_image_coords(np.asarray(x, dtype=np.float32), name)
        elif self.center:
            if (name, row) not in self._origins:
                full = np.asarray(x, dtype=np.float32)
                self._origins[name, row] = center_origin(full.transpose(3, 1, 2, 0), name)
            origin = self._origins[name, row]
            if origin is not None:
                # frame-wise, so only the frames the resize reads are centred (the same numbers as
                # centring the whole clip first; 59 -> 26 ms of data per 64-clip step on the cpu preset)
                def centre(f: np.ndarray) -> np.ndarray:
                    return subtract_origin(f.transpose(3, 1, 2, 0), origin).transpose(3, 1, 2, 0)
        if positions is not None:
            x = interpolate_frames(x, positions, time_axis=1, per_frame=centre)
        elif centre is not None:
            x = centre(x)
        c = x.shape[0]
        if c < self.channels:
            x = np.concatenate([x, np.zeros((self.channels - c, *x.shape[1:]), np.float32)])
        return torch.from_numpy(np.ascontiguousarray(x[: self.channels], dtype=np.float32))

    def __getitem__(self, i: int) -> dict[str, Any]:
        row = int(self.indices[i])
        pos = self._positions(row)
        out: dict[str, Any] = {f"skeleton_{n}": self._get(n, row, pos) for n in self.layouts}
        out["skeleton"] = out[f"skeleton_{self.layouts[0]}"]
        out["label"], out["index"] = int(self.labels[row]), row
        return out


class MSCLR(MoCo):
    """AimCLR across joint conventions on a :class:`~mmfusion.encoders.flex_stgcn.FlexSTGCN`.

    Args (beyond :class:`MoCo`): layouts (conventions to pair; the first is the evaluation one),
    mining_step (``None``: never), topk (1), drop (feature dropout of the ``q_ed`` branch).
    """

    def __init__(self, encoder: nn.Module, feature_dim: int, layouts: Sequence[str] = ("ntu25", "smpl24"),
                 mining_step: int | None = None, topk: int = 1, drop: float = 0.1, **kwargs: Any) -> None:
        self.layouts = tuple(get_layout(n).name for n in layouts)
        super().__init__(encoder, feature_dim, layout=self.layouts[0], **kwargs)
        flex = getattr(self.encoder, "encoder", self.encoder)
        missing = [n for n in self.layouts if n not in getattr(flex, "layouts", ())]
        if missing:
            raise ConfigError(f"MS-CLR: the encoder does not know layouts {missing} (needs a FlexSTGCN with them)")
        self.basic = nn.ModuleDict({n: preset("basic", n) for n in self.layouts})
        self.strong = nn.ModuleDict({n: preset("strong", n) for n in self.layouts})
        self.mining_step, self.topk, self.drop = mining_step, topk, drop

    def _flex(self, key: bool) -> nn.Module:
        enc = self.encoder_k if key else self.encoder
        return getattr(enc, "encoder", enc)

    def pooled(self, x: Tensor, layout: str, key: bool = False) -> Tensor:
        return self._flex(key)(x, layout)

    def _view(self, batch: Mapping[str, Tensor], layout: str) -> Tensor:
        name = f"skeleton_{layout}"
        if name in batch:
            return batch[name]
        if layout == self.layouts[0] and "skeleton" in batch:
            return batch["skeleton"]
        raise ConfigError(f"MS-CLR: the batch has no {name!r} (keys: {sorted(batch)})")

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        g = self.generator()
        pick = torch.randint(len(self.layouts), (2,), generator=g).tolist()
        lq, lk = self.layouts[pick[0]], self.layouts[pick[1]]
        xq, xk = self._view(batch, lq), self._view(batch, lk)
        q = F.normalize(self.projector(self.pooled(self.basic[lq](xq, g), lq)), dim=1)
        f_e = self.pooled(self.strong[lq](xq, g), lq)
        q_e = F.normalize(self.projector(f_e), dim=1)
        q_ed = F.normalize(self.projector(F.dropout(f_e, self.drop, self.training)), dim=1)
        with torch.no_grad():
            k = F.normalize(self.projector_k(self.pooled(self.basic[lk](xk, g), lk, key=True)), dim=1)
        logits, l_neg = self.logits(q, k)
        logits_e, l_neg_e = self.logits(q_e, k)
        logits_ed, l_neg_ed = self.logits(q_ed, k)
        if self.mining_step is not None and int(self.steps) >= self.mining_step:
            nce = mining_loss(logits, [l_neg, l_neg_e, l_neg_ed], self.topk)
        else:
            nce = F.cross_entropy(logits, torch.zeros(q.shape[0], dtype=torch.long, device=q.device))
        ddm_e, ddm_ed = consistency_loss(logits_e, logits), consistency_loss(logits_ed, logits)
        self.enqueue(k)
        return {"loss": nce + (ddm_e + ddm_ed) / 2, "loss_nce": nce.detach(), "loss_ddm_e": ddm_e.detach(),
                "loss_ddm_ed": ddm_ed.detach(), "acc": (logits.argmax(dim=1) == 0).float().mean().detach()}

    @torch.no_grad()
    def features(self, skeleton: Tensor) -> Tensor:
        """(N, C, T, V0, M) of the first layout -> (N, D)."""
        return self.pooled(skeleton, self.layouts[0])

    @torch.no_grad()
    def features_by_layout(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Every layout's (N, D) features of a multi-convention batch (inputs of the per-layout heads)."""
        return {n: self.pooled(self._view(batch, n), n) for n in self.layouts}


@register_objective("msclr")
def msclr(encoder: str | nn.Module = "msclr_stgcn", encoder_kwargs: Mapping[str, Any] | None = None,
          layouts: Sequence[str] = ("ntu25", "smpl24"), **kwargs: Any) -> MSCLR:
    """MS-CLR (AimCLR across conventions) on the layout-agnostic ST-GCN; ``layouts`` are paired."""
    kw = dict(encoder_kwargs or {})
    if isinstance(encoder, str):
        kw.setdefault("layouts", tuple(layouts))
    backbone, width = build_backbone(encoder, kw)
    return MSCLR(backbone, width, layouts=layouts, **kwargs)
