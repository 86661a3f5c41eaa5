"""What the skeleton recipes share: data options, sources, the test protocol and paper presets.

A skeleton run is a registered skeleton classifier (``batch["skeleton"]`` (N, C, T, V, M) ->
``{"logits": (N, K)}``) trained on a :class:`~mmfusion.data.skeleton.datasets.SkeletonDataset`
(sample ``{"skeleton": (C, T, V, M) or (K_clips, C, T, V, M), "label", "name"}``).

Sources (``data_root``):

* None: the skeleton world (labelled synthetic; generated once into ``<cache_dir>/skeleton_world``
  with ``world_sequences`` sequences and ``world_classes`` classes, packed arrays only);
* a skeleton world folder (``skeleton_world.json`` / ``packed/ntu25.npy``), e.g. ``/work/cache/skel60``;
* a CTR-GCN ``.npz`` (``x_train`` / ``x_test``, split by the file);
* a PYSKL ``.pkl`` (restricted unpickler; split by the file's ``<protocol>_train`` / ``<protocol>_val``);
* a raw NTU tree (``.skeleton`` files): parsed, denoised (CTR-GCN rules,
  :func:`~mmfusion.data.preprocess.denoise_bodies`) and packed once into
  ``<cache_dir>/ntu_packed/<hash>/`` as ``(N, 3, 300, 25, 2)``.

The test protocol is declared per family (:func:`clip_testing`): PYSKL tests ``clips`` uniform
clips (10 in its configs) and averages the softmax probabilities (``average_clips='prob'``,
its ``RecognizerGCN`` default); CTR-GCN tests one centre crop (ratio 0.95) and keeps the logits.

Every field of :class:`SkeletonData` is saved in the run's ``train_config.json``, so that
``mmfusion test RUN_DIR`` rebuilds the test set exactly (:func:`data_from_run`).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..data.skeleton.datasets import SkeletonDataset
from ..engine import TrainConfig
from ..engine.evaluation import ClipTesting
from ..errors import ConfigError, DataFormatError

Family = Literal["ctrgcn", "pyskl", "frame50", "none"]
#: the input streams a run can be trained on; ``psumnet`` = PSUMNet's part streams, whose models
#: build their 12-channel input from the joints (the samples are ``j``)
STREAM_CHOICES: tuple[str, ...] = ("j", "b", "k", "jm", "bm", "km", "ja", "psumnet")
#: frames per packed sample of a raw NTU tree (the longest NTU-120 sequence is 300 frames)
RAW_FRAMES = 300


@dataclass
class SkeletonData:
    """Data options of a skeleton run (all stored in ``train_config.json``).

    Attributes:
        data_root: None (the skeleton world), a world folder, a CTR-GCN ``.npz``, a PYSKL
            ``.pkl`` or a raw NTU tree (see the module docstring).
        dataset: ntu60 / ntu120 / ucla / pku1 / pku2 (protocol rules of SkeletonDataset).
        protocol: xsub / xview (ntu60, pku), xsub / xset (ntu120), xview (ucla).
        family: preprocessing family: ctrgcn, pyskl, frame50 or none.
        stream: input stream of the samples (j, b, k, jm, bm, km, ja; psumnet: the joints, for
            the PSUMNet part models that build their 12 channels themselves).
        window: frames per clip.
        clips: test clips per sample (PYSKL: 10; CTR-GCN family: always 1).
        clip_average: "prob" (PYSKL) or "score" (mean logits); None: the family's
            (prob for pyskl, score otherwise).
        layout: joint layout (None: ntu25, ucla20 for ucla).
        cache_dir: where the generated world and packed raw trees are kept.
        world_sequences: sequences of the generated skeleton world (data_root None).
        world_classes: classes of the generated skeleton world, 60 or 120 (data_root None).
        subset_classes: keep only the first K classes (0: all); for small CPU experiments.
        max_train_per_class: keep at most this many training samples per class (0: all), the
            first ones in file order.
        max_test_per_class: the same for the test samples.
    """

    data_root: str | None = None
    dataset: Literal["ntu60", "ntu120", "ucla", "pku1", "pku2"] = "ntu60"
    protocol: Literal["xsub", "xview", "xset"] = "xsub"
    family: Family = "ctrgcn"
    stream: str = "j"
    window: int = 64
    clips: int = 1
    clip_average: Literal["prob", "score"] | None = None
    layout: str | None = None
    cache_dir: str = ".cache/mmfusion"
    world_sequences: int = 10_000
    world_classes: int = 60
    subset_classes: int = 0
    max_train_per_class: int = 0
    max_test_per_class: int = 0

    def __post_init__(self) -> None:
        if self.stream not in STREAM_CHOICES:
            raise ConfigError(f"stream must be one of {STREAM_CHOICES}, got {self.stream!r}")
        if self.window < 1 or self.clips < 1:
            raise ConfigError(f"window and clips must be >= 1, got {self.window}, {self.clips}")
        if self.clips > 1 and self.family != "pyskl":
            raise ConfigError(f"multi-clip testing (clips={self.clips}) is PYSKL's protocol: use family='pyskl'")


def data_fields(obj: Any) -> dict[str, Any]:
    """The :class:`SkeletonData` fields of ``obj`` (a recipe config or a mapping)."""
    names = [f.name for f in dataclasses.fields(SkeletonData)]
    src = obj if isinstance(obj, Mapping) else {n: getattr(obj, n) for n in names if hasattr(obj, n)}
    return {n: src[n] for n in names if n in src}


def clip_testing(data: SkeletonData) -> ClipTesting:
    """The declared test protocol of ``data``'s family (the clip count lives in the dataset)."""
    average = data.clip_average or ("prob" if data.family == "pyskl" else "score")
    return ClipTesting(keys=("skeleton",), sample_ndim=4, average=average)


# -- sources --------------------------------------------------------------------------------------


@dataclass
class Source:
    """Packed samples: ``data`` (N, C, T, V, M), ``labels`` (N,), ``names``; ``presplit`` maps
    "train"/"test" to sample indices when the file fixes the split (else the protocol rules)."""

    data: np.ndarray
    labels: np.ndarray
    names: list[str]
    presplit: dict[str, np.ndarray] | None = None
    description: str = ""


def _world(cfg: SkeletonData) -> Source:
    from ..data.synthetic.skeleton_world import SkeletonWorldConfig, generate_skeleton_world, load_packed

    if cfg.data_root is None:
        root = generate_skeleton_world(Path(cfg.cache_dir) / "skeleton_world",
                                       SkeletonWorldConfig(num_sequences=cfg.world_sequences,
                                                           classes=cfg.world_classes), write_files=False)
    else:
        root = Path(cfg.data_root)
    data, labels, names, _ = load_packed(root)
    return Source(data, np.asarray(labels, np.int64), names, None, f"skeleton world {root} (SYNTHETIC)")


def _npz(path: Path) -> Source:
    from ..data.formats.ctrgcn_npz import read_ctrgcn_npz

    parts = [read_ctrgcn_npz(path, p) for p in ("train", "test")]
    n_train = len(parts[0][1])
    data = np.concatenate([parts[0][0], parts[1][0]])
    split = {"train": np.arange(n_train), "test": np.arange(n_train, len(data))}
    return Source(data, np.concatenate([parts[0][1], parts[1][1]]), parts[0][2] + parts[1][2], split,
                  f"CTR-GCN npz {path}")


def _pkl(path: Path, protocol: str) -> Source:
    from ..data.formats.pyskl import read_pyskl

    ann = read_pyskl(path)
    index = {n: i for i, n in enumerate(ann.names)}
    split: dict[str, np.ndarray] = {}
    for part, keys in (("train", (f"{protocol}_train",)), ("test", (f"{protocol}_val", f"{protocol}_test"))):
        key = next((k for k in keys if k in ann.split), None)
        if key is None:
            raise DataFormatError(path, f"no split {' or '.join(keys)} in the file (has {sorted(ann.split)})")
        split[part] = np.array([index[n] for n in ann.split[key] if n in index], dtype=np.int64)
    return Source(ann.to_arrays(), ann.labels, list(ann.names), split, f"PYSKL pkl {path}")


def _raw_tree(root: Path, cache_dir: str) -> Source:
    """Parse, denoise and pack a raw NTU tree once; later calls reuse the packed arrays."""
    from ..data.formats.skeleton import read_skeleton
    from ..data.ntu import NTUSampleName
    from ..data.preprocess import denoise_bodies

    files = sorted(root.rglob("*.skeleton"))
    if not files:
        raise DataFormatError(root, "no .skeleton files (expected a world folder, .npz, .pkl or a raw NTU tree)")
    key = hashlib.sha1("\n".join(f"{f.relative_to(root)}:{f.stat().st_size}" for f in files).encode()).hexdigest()
    out = Path(cache_dir) / "ntu_packed" / key[:16]
    if not (out / "index.npz").is_file():
        out.mkdir(parents=True, exist_ok=True)
        arr = np.lib.format.open_memmap(out / "ntu25.npy.tmp", mode="w+", dtype=np.float32,
                                        shape=(len(files), 3, RAW_FRAMES, 25, 2))
        names, labels = [], []
        for i, f in enumerate(files):
            den = denoise_bodies(read_skeleton(f), max_bodies=2, keep_frame_index=False, path=str(f))
            j = den.joints[:, :RAW_FRAMES]  # (M, T, V, 3)
            arr[i, :, : j.shape[1]] = j.transpose(3, 1, 2, 0)
            names.append(f.stem)
            labels.append(NTUSampleName.parse(f.stem).action - 1)
        arr.flush()
        del arr
        (out / "ntu25.npy.tmp").replace(out / "ntu25.npy")
        np.savez(out / "index.npz", labels=np.array(labels, np.int64), names=np.array(names))
    with np.load(out / "index.npz", allow_pickle=False) as f:
        labels, names = f["labels"], [str(s) for s in f["names"]]
    return Source(np.load(out / "ntu25.npy", mmap_mode="r"), labels, names, None, f"raw NTU tree {root} ({out})")


def load_source(cfg: SkeletonData) -> Source:
    """The packed samples of ``cfg.data_root`` (see the module docstring)."""
    if cfg.data_root is None:
        return _world(cfg)
    path = Path(cfg.data_root)
    if not path.exists():
        raise DataFormatError(path, "data root does not exist")
    if path.is_file():
        if path.suffix == ".npz":
            return _npz(path)
        if path.suffix == ".pkl":
            return _pkl(path, cfg.protocol)
        raise DataFormatError(path, "expected a CTR-GCN .npz, a PYSKL .pkl, a skeleton world folder or a raw NTU tree")
    if (path / "skeleton_world.json").is_file() or (path / "packed" / "ntu25.npy").is_file():
        return _world(cfg)
    return _raw_tree(path, cfg.cache_dir)


# -- datasets -------------------------------------------------------------------------------------


def _cap(idx: np.ndarray, labels: np.ndarray, per_class: int) -> np.ndarray:
    if per_class <= 0:
        return idx
    keep, seen = [], {}
    for i in idx:
        c = int(labels[i])
        if seen.get(c, 0) < per_class:
            keep.append(i)
            seen[c] = seen.get(c, 0) + 1
    return np.asarray(keep, dtype=np.int64)


# placeholder NTU names that SkeletonDataset's xsub rule puts in each split (performer 1 trains,
# performer 3 tests): a file that fixes its own split gets them for the selection, then its names back
_SPLIT_NAME = {"train": "S001C001P001R001A001", "test": "S001C001P003R001A001"}


def make_dataset(cfg: SkeletonData, src: Source, split: str, seed: int = 0) -> SkeletonDataset:
    """The ``split`` ("train" / "test") :class:`SkeletonDataset` of ``cfg`` over ``src``."""
    from ..data.skeleton.datasets import split_for

    labels = np.asarray(src.labels, np.int64)
    if src.presplit is not None:
        idx = np.asarray(src.presplit[split], np.int64)
    else:
        idx = np.array([i for i, n in enumerate(src.names) if split_for(n, cfg.dataset, cfg.protocol) == split],
                       dtype=np.int64)
    if cfg.subset_classes:
        idx = idx[labels[idx] < cfg.subset_classes]
    idx = _cap(idx, labels, cfg.max_train_per_class if split == "train" else cfg.max_test_per_class)
    if len(idx) == 0:
        raise ConfigError(f"no {split} samples for {cfg.dataset}/{cfg.protocol} in {src.description}")
    # a subset is copied (it is small); the whole set stays a memory map
    data = src.data[idx] if len(idx) < len(src.data) else src.data
    names = [src.names[i] for i in idx]
    kw: dict[str, Any] = dict(dataset=cfg.dataset, protocol=cfg.protocol, split=split, family=cfg.family,
                              stream_name="j" if cfg.stream == "psumnet" else cfg.stream, window=cfg.window,
                              num_clips=cfg.clips, layout=cfg.layout, seed=seed)
    if src.presplit is not None:
        kw.update(dataset="ntu60", protocol="xsub")
        ds = SkeletonDataset(data, labels[idx], [_SPLIT_NAME[split]] * len(idx), **kw)
        ds.names = names
    else:
        ds = SkeletonDataset(data, labels[idx], names, **kw)
    ds.num_classes = int(cfg.subset_classes or max(int(labels.max()) + 1, 1))  # type: ignore[attr-defined]
    return ds


def skeleton_datasets(cfg: SkeletonData, seed: int = 0, src: Source | None = None
                      ) -> tuple[SkeletonDataset, SkeletonDataset]:
    """(train, test) datasets of ``cfg`` (``src``: already loaded samples, to share them)."""
    src = src or load_source(cfg)
    return make_dataset(cfg, src, "train", seed), make_dataset(cfg, src, "test", seed)


def data_from_run(run_dir: str | Path) -> SkeletonData:
    """The :class:`SkeletonData` a run was trained with (from its ``train_config.json``)."""
    from ..data.formats.jsonfile import read_json

    path = Path(run_dir) / "train_config.json"
    saved = read_json(path, "run config")
    fields = data_fields(saved)
    if "family" not in fields or "stream" not in fields:
        raise ConfigError(f"{path} is not a skeleton run's config (no family / stream); train it with "
                          f"recipes/skeleton_ntu.py")
    return SkeletonData(**fields)


# -- paper presets --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preset:
    """A paper's training recipe: model, data options and engine settings, with its source."""

    model: str
    data: Mapping[str, Any]
    train: Mapping[str, Any]
    source: str
    note: str = ""


_LONG = {"save_every": 5, "keep_last": 2, "eval_every": 1, "best_metric": "top1"}  # a crash loses <= 5 epochs
_CTRGCN_TRAIN = {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 4e-4,
                 "epochs": 65, "warmup_epochs": 5, "scheduler": "step", "milestones": (35, 55), "gamma": 0.1,
                 "global_batch_size": 64, **_LONG}
_PYSKL_TRAIN = {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4,
                "epochs": 80, "scheduler": "cosine", "min_lr": 0.0, "global_batch_size": 128, **_LONG}

PRESETS: dict[str, Preset] = {
    "ctrgcn_ntu60": Preset("ctrgcn", {"dataset": "ntu60", "family": "ctrgcn", "window": 64, "clips": 1},
                           _CTRGCN_TRAIN, "Uason-Chen/CTR-GCN config/nturgbd-cross-subject/default.yaml"),
    "ctrgcn_ntu120": Preset("ctrgcn", {"dataset": "ntu120", "family": "ctrgcn", "window": 64, "clips": 1},
                            _CTRGCN_TRAIN, "Uason-Chen/CTR-GCN config/nturgbd120-cross-subject/default.yaml"),
    "stgcnpp_ntu60": Preset("stgcnpp", {"dataset": "ntu60", "family": "pyskl", "window": 100, "clips": 10},
                            _PYSKL_TRAIN, "kennymckormick/pyskl configs/stgcn++/stgcn++_ntu60_xsub_3dkp/j.py",
                            "16 epochs x RepeatDataset(5) = 80 passes; 8 GPUs x 16 = batch 128; cosine per step"),
    "stgcnpp_ntu120": Preset("stgcnpp", {"dataset": "ntu120", "family": "pyskl", "window": 100, "clips": 10},
                             _PYSKL_TRAIN, "kennymckormick/pyskl configs/stgcn++/stgcn++_ntu120_xsub_3dkp/j.py",
                             "as stgcnpp_ntu60"),
    "brl_ntu60": Preset("stgcnpp", {"dataset": "ntu60", "family": "pyskl", "window": 64, "clips": 10},
                        {**_PYSKL_TRAIN, "lr": 0.0125, "epochs": 120, "global_batch_size": 16},
                        "firework8/BRL configs (1 GPU, batch 16, 24 epochs x RepeatDataset(5))",
                        "without BRL's mixup / re-weighting losses: the plain ST-GCN++ baseline of its table"),
    "psumnet_ntu60": Preset("psumnet", {"dataset": "ntu60", "family": "ctrgcn", "window": 64, "clips": 1,
                                        "stream": "psumnet"},
                            {**_CTRGCN_TRAIN, "weight_decay": 5e-4, "global_batch_size": 200},
                            "skelemoa/psumnet config/ntu_configs/{body,hand,leg}.yaml",
                            "num_epoch 200 in the config, but steps [35, 55] imply 65 (specs section 12)"),
}


def apply_preset(name: str, data: Mapping[str, Any], train: TrainConfig) -> tuple[str, dict[str, Any], TrainConfig]:
    """(model, data fields, train config) of preset ``name`` applied over ``data`` / ``train``."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
    p = PRESETS[name]
    return p.model, {**dict(data), **dict(p.data)}, dataclasses.replace(train, **dict(p.train))


__all__ = ["PRESETS", "STREAM_CHOICES", "Preset", "SkeletonData", "Source", "apply_preset", "clip_testing",
           "data_fields", "data_from_run", "load_source", "make_dataset", "skeleton_datasets"]
