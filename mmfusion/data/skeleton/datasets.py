"""``SkeletonDataset``: packed skeleton arrays with the official protocols, a preprocessing
family and an input stream.

Input: ``data`` ``(N, C, T, V, M)`` (a numpy array, a memory map or an ``.npy`` path; e.g. the
skeleton world's ``packed/ntu25.npy``, :meth:`~mmfusion.data.formats.pyskl.PysklAnnotations.to_arrays`
or :func:`~mmfusion.data.formats.ctrgcn_npz.read_ctrgcn_npz`), ``labels`` ``(N,)`` 0-based and
sample ``names``. Output of ``ds[i]``: ``{"skeleton": (C', T', V, M) float32 tensor, "label":
int, "name": str}`` like :class:`~mmfusion.data.dataset.NTUDataset`'s skeleton key (C' = 3,
or 12 for ``stream="psumnet"``; with the PYSKL family and ``num_clips > 1`` at test time the
tensor is ``(num_clips, C', T', V, M)``).

Protocols (``dataset`` / ``protocol`` -> training samples; the rest is test):

==========  ===========  ====================================================================
dataset     protocol     rule
==========  ===========  ====================================================================
ntu60       xsub, xview  :func:`mmfusion.data.ntu.split_of` (20 subjects / cameras 2, 3)
ntu120      xsub, xset   ``split_of`` ``xsub120`` (53 subjects) / ``xset`` (even setups)
ucla        xview        NW-UCLA ``aAA_sSS_eEE_vVV``: views 1, 2 train, view 3 test
pku1, pku2  xsub, xview  the official lists (``cross_subject.txt`` / ``cross_view.txt``, and
                         ``_v2`` for phase II; :func:`read_pku_split`) -- PKU-MMD names are
                         the sequence names (``0002-L``) or cut intervals starting with them
==========  ===========  ====================================================================

Families (online, per sample): ``"ctrgcn"`` (:func:`mmfusion.data.preprocess.valid_crop_resize`:
train crop ratio U[0.5, 1], test 0.95, resized to ``window``), ``"pyskl"`` (``PreNormalize3D``
then ``UniformSampleFrames(window, num_clips)``), ``"frame50"`` (AimCLR, 50 frames),
``"none"`` (cut / zero-pad to ``window``). Streams: :mod:`.streams` names or ``"psumnet"``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ...errors import ConfigError, DataFormatError
from ..formats.ucla import UCLA_TRAIN_VIEWS
from ..layouts import SkeletonLayout, get_layout
from ..ntu import split_of
from ..preprocess import valid_crop_resize
from .families import aimclr_frame50, pyskl_format_gcn_input, pyskl_prenormalize3d, pyskl_uniform_sample
from .streams import STREAMS, psumnet_streams, stream

DATASETS: dict[str, tuple[str, ...]] = {"ntu60": ("xsub", "xview"), "ntu120": ("xsub", "xset"), "ucla": ("xview",),
                                        "pku1": ("xsub", "xview"), "pku2": ("xsub", "xview")}
FAMILIES: tuple[str, ...] = ("ctrgcn", "pyskl", "frame50", "none")
_UCLA_RE = re.compile(r"a(\d{2})_s(\d{2})_e(\d{2})_v(\d{2})")


def read_pku_split(path: str | os.PathLike[str]) -> tuple[list[str], list[str]]:
    """(train, test) sequence names of an official PKU-MMD split file (4 lines: header,
    comma-separated training names, header, test names)."""
    path = Path(path)
    try:
        lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(path, f"cannot read PKU-MMD split file ({exc})") from exc
    if len(lines) != 4:
        raise DataFormatError(path, f"expected 4 non-empty lines (header, train, header, test), got {len(lines)}")
    train = [n.strip() for n in lines[1].split(",") if n.strip()]
    test = [n.strip() for n in lines[3].split(",") if n.strip()]
    return train, test


def split_for(name: str, dataset: str, protocol: str, pku_lists: tuple[Sequence[str], Sequence[str]] | None = None,
              ) -> str | None:
    """"train", "test" or ``None`` (not in the benchmark) for one sample name."""
    if dataset not in DATASETS or protocol not in DATASETS[dataset]:
        raise ConfigError(f"unknown dataset/protocol {dataset}/{protocol}; choose from {DATASETS}")
    if dataset == "ntu60":
        return split_of(name, protocol)
    if dataset == "ntu120":
        return split_of(name, "xsub120" if protocol == "xsub" else "xset")
    if dataset == "ucla":
        m = _UCLA_RE.search(name)
        if m is None:
            raise ConfigError(f"not an NW-UCLA name: {name!r} (expected aAA_sSS_eEE_vVV)")
        return "train" if int(m.group(4)) in UCLA_TRAIN_VIEWS else "test"
    if pku_lists is None:
        raise ConfigError(f"{dataset} needs the official split lists (read_pku_split of cross_subject.txt / "
                          "cross_view.txt)")
    seq = re.split(r"[_.]", Path(name).name)[0]
    if seq in set(pku_lists[0]):
        return "train"
    if seq in set(pku_lists[1]):
        return "test"
    return None


class SkeletonDataset(Dataset):
    """Skeleton samples of one split; see the module docstring for the options."""

    def __init__(self, data: np.ndarray | str | os.PathLike[str], labels: Sequence[int] | np.ndarray,
                 names: Sequence[str], dataset: str = "ntu60", protocol: str = "xsub", split: str = "train",
                 family: str = "ctrgcn", stream_name: str = "j", window: int = 64, num_clips: int = 1,
                 layout: str | SkeletonLayout | None = None,
                 pku_lists: tuple[Sequence[str], Sequence[str]] | None = None, seed: int = 0) -> None:
        if isinstance(data, (str, os.PathLike)):
            data = np.load(data, mmap_mode="r")
        if data.ndim != 5:
            raise ConfigError(f"data must be (N, C, T, V, M), got shape {data.shape}")
        if not len(data) == len(labels) == len(names):
            raise ConfigError(f"data/labels/names lengths differ: {len(data)}, {len(labels)}, {len(names)}")
        if split not in ("train", "test"):
            raise ConfigError(f"split must be 'train' or 'test', got {split!r}")
        if family not in FAMILIES:
            raise ConfigError(f"unknown preprocessing family {family!r}; choose from {FAMILIES}")
        if stream_name not in (*STREAMS, "psumnet"):
            raise ConfigError(f"unknown stream {stream_name!r}; choose from {(*STREAMS, 'psumnet')}")
        self.layout = get_layout(layout or ("ucla20" if dataset == "ucla" else "ntu25"))
        if data.shape[3] != self.layout.num_joints:
            raise ConfigError(f"data has {data.shape[3]} joints, layout {self.layout.name} {self.layout.num_joints}")
        keep = [i for i, n in enumerate(names) if split_for(str(n), dataset, protocol, pku_lists) == split]
        self.data, self.index = data, np.asarray(keep, dtype=np.int64)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.names = [str(n) for n in names]
        self.train = split == "train"
        self.family, self.stream_name, self.window, self.num_clips = family, stream_name, window, num_clips
        self.seed, self.epoch = seed, 0

    def __len__(self) -> int:
        return len(self.index)

    def set_epoch(self, epoch: int) -> None:
        """Vary the random crops per epoch (they depend on seed, epoch and index only)."""
        self.epoch = int(epoch)

    def _prepare(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.family == "ctrgcn":
            return valid_crop_resize(x, (0.5, 1.0) if self.train else (0.95,), self.window, rng)
        if self.family == "frame50":
            return aimclr_frame50(x)[0]
        if self.family == "none":
            out = np.zeros((*x.shape[:1], self.window, *x.shape[2:]), dtype=np.float32)
            out[:, : min(self.window, x.shape[1])] = x[:, : self.window]
            return out
        # pyskl: its layout is (M, T, V, C) and it drops the main person's empty frames itself
        kp = pyskl_prenormalize3d(x.transpose(3, 1, 2, 0)[:2])
        clips = 1 if self.train else self.num_clips
        inds = pyskl_uniform_sample(kp.shape[1], self.window, clips, test_mode=not self.train,
                                    rng=np.random.RandomState(int(rng.integers(2 ** 31))))
        out = pyskl_format_gcn_input(kp[:, inds], clips).transpose(0, 4, 2, 3, 1)  # (K, C, T, V, M)
        return out[0] if clips == 1 else out

    def __getitem__(self, i: int) -> dict[str, object]:
        j = int(self.index[i])
        rng = np.random.default_rng([self.seed, self.epoch, j])
        x = np.asarray(self.data[j], dtype=np.float32)
        if not np.any(x):
            raise DataFormatError(None, f"sample {self.names[j]} has no skeleton (all zero)")
        x = self._prepare(x, rng)
        x = psumnet_streams(x, self.layout) if self.stream_name == "psumnet" else stream(x, self.stream_name,
                                                                                         self.layout)
        return {"skeleton": torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
                "label": int(self.labels[j]), "name": self.names[j]}
