"""NTU RGB+D 60/120 sample names, official evaluation protocols and the file tree.

A sample name ``SsssCcccPpppRrrrAaaa`` encodes setup, camera, performer (subject),
replication and action. NTU-60 = setups 1-17 (actions 1-60); NTU-120 adds setups 18-32
(actions 61-120). Protocols:

=========  ==========  ==============================================================
protocol   benchmark   train set (the rest is test)
=========  ==========  ==============================================================
xsub       NTU-60      the 20 training performers of the paper
xview      NTU-60      cameras 2 and 3 (test: camera 1)
xsub120    NTU-120     the 53 training performers (the 20 above + 33)
xset       NTU-120     even setup IDs (test: odd)
=========  ==========  ==============================================================

Sizes after removing the official missing-skeleton lists (checked in the tests on the full
NTU-120 name list): xsub 40,091/16,487; xview 37,646/18,932; xsub120 63,026/50,919;
xset 54,468/59,477.

Also here: :data:`NTU_ACTIONS` (the 120 official action names), :func:`load_missing_skeletons`,
:func:`read_sample_list` (``name frames`` lists) and :class:`NTUTree` (paths in a download).
"""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import ConfigError, DataFormatError

Protocol = Literal["xsub", "xview", "xsub120", "xset"]
PROTOCOLS: tuple[str, ...] = ("xsub", "xview", "xsub120", "xset")

NTU60_TRAIN_SUBJECTS: frozenset[int] = frozenset(
    {1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38})
NTU120_TRAIN_SUBJECTS: frozenset[int] = NTU60_TRAIN_SUBJECTS | frozenset(
    {45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86, 89, 91, 92,
     93, 94, 95, 97, 98, 100, 103})
NTU60_TRAIN_CAMERAS: frozenset[int] = frozenset({2, 3})

#: official NTU RGB+D 120 action names (README of the data set; A1-A60 are NTU-60), index = action - 1.
#: Spelling as published (e.g. 'hush (quite)'), apostrophes normalised to ASCII.
NTU_ACTIONS: tuple[str, ...] = (
    'drink water', 'eat meal/snack', 'brushing teeth', 'brushing hair', 'drop', 'pickup', 'throw', 'sitting down',
    'standing up (from sitting position)', 'clapping', 'reading', 'writing', 'tear up paper', 'wear jacket',
    'take off jacket', 'wear a shoe', 'take off a shoe', 'wear on glasses', 'take off glasses', 'put on a hat/cap',
    'take off a hat/cap', 'cheer up', 'hand waving', 'kicking something', 'reach into pocket',
    'hopping (one foot jumping)', 'jump up', 'make a phone call/answer phone', 'playing with phone/tablet',
    'typing on a keyboard', 'pointing to something with finger', 'taking a selfie', 'check time (from watch)',
    'rub two hands together', 'nod head/bow', 'shake head', 'wipe face', 'salute', 'put the palms together',
    'cross hands in front (say stop)', 'sneeze/cough', 'staggering', 'falling', 'touch head (headache)',
    'touch chest (stomachache/heart pain)', 'touch back (backache)', 'touch neck (neckache)',
    'nausea or vomiting condition', 'use a fan (with hand or paper)/feeling warm', 'punching/slapping other person',
    'kicking other person', 'pushing other person', 'pat on back of other person',
    'point finger at the other person', 'hugging other person', 'giving something to other person',
    "touch other person's pocket", 'handshaking', 'walking towards each other', 'walking apart from each other',
    'put on headphone', 'take off headphone', 'shoot at the basket', 'bounce ball', 'tennis bat swing',
    'juggling table tennis balls', 'hush (quite)', 'flick hair', 'thumb up', 'thumb down', 'make ok sign',
    'make victory sign', 'staple book', 'counting money', 'cutting nails', 'cutting paper (using scissors)',
    'snapping fingers', 'open bottle', 'sniff (smell)', 'squat down', 'toss a coin', 'fold paper', 'ball up paper',
    'play magic cube', 'apply cream on face', 'apply cream on hand back', 'put on bag', 'take off bag',
    'put something into a bag', 'take something out of a bag', 'open a box', 'move heavy objects', 'shake fist',
    'throw up cap/hat', 'hands up (both hands)', 'cross arms', 'arm circles', 'arm swings', 'running on the spot',
    'butt kicks (kick backward)', 'cross toe touch', 'side kick', 'yawn', 'stretch oneself', 'blow nose',
    'hit other person with something', 'wield knife towards other person', 'knock over other person (hit with body)',
    "grab other person's stuff", 'shoot at other person with a gun', 'step on foot', 'high-five', 'cheers and drink',
    'carry something with other person', 'take a photo of other person', 'follow other person',
    "whisper in other person's ear", 'exchange things with other person', 'support somebody with hand',
    'finger-guessing game (playing rock-paper-scissors)',
)
NTU60_NUM_CLASSES, NTU120_NUM_CLASSES = 60, 120

_NAME_RE = re.compile(r"^S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})$")


@dataclass(frozen=True, order=True)
class NTUSampleName:
    """A parsed ``SsssCcccPpppRrrrAaaa`` name (all fields 1-based as in the data set)."""

    setup: int
    camera: int
    performer: int
    replication: int
    action: int

    @classmethod
    def parse(cls, name: str) -> NTUSampleName:
        """Parse a bare name or a file name such as ``S001C002P003R002A013.skeleton``/``..._rgb.avi``."""
        base = Path(str(name)).name
        m = _NAME_RE.match(base[:20])
        if m is None or base[20:21] not in ("", ".", "_"):   # a file suffix may follow, nothing else
            raise ConfigError(f"not an NTU sample name: {name!r} (expected SsssCcccPpppRrrrAaaa)")
        s, c, p, r, a = (int(g) for g in m.groups())
        if not (1 <= c <= 3 and 1 <= r <= 2 and 1 <= a <= 120 and s >= 1 and p >= 1):
            raise ConfigError(f"NTU sample name {name!r} has a field out of range "
                              f"(camera 1-3, replication 1-2, action 1-120)")
        return cls(s, c, p, r, a)

    def __str__(self) -> str:
        return (f"S{self.setup:03d}C{self.camera:03d}P{self.performer:03d}"
                f"R{self.replication:03d}A{self.action:03d}")

    @property
    def in_ntu60(self) -> bool:
        return self.setup <= 17 and self.action <= 60


def action_name(action: int) -> str:
    """Official name of NTU action ``action`` (1-based, 1..120)."""
    if not 1 <= int(action) <= 120:
        raise ConfigError(f"NTU actions are 1..120, got {action}")
    return NTU_ACTIONS[int(action) - 1]


def split_of(name: str | NTUSampleName, protocol: str) -> Literal["train", "test"] | None:
    """"train" or "test" under ``protocol``; ``None`` if the sample is not part of the
    protocol's benchmark (an NTU-120-only sample under an NTU-60 protocol)."""
    n = name if isinstance(name, NTUSampleName) else NTUSampleName.parse(name)
    if protocol == "xsub":
        if not n.in_ntu60:
            return None
        return "train" if n.performer in NTU60_TRAIN_SUBJECTS else "test"
    if protocol == "xview":
        if not n.in_ntu60:
            return None
        return "train" if n.camera in NTU60_TRAIN_CAMERAS else "test"
    if protocol == "xsub120":
        return "train" if n.performer in NTU120_TRAIN_SUBJECTS else "test"
    if protocol == "xset":
        return "train" if n.setup % 2 == 0 else "test"
    raise ConfigError(f"unknown NTU protocol {protocol!r}; choose from {PROTOCOLS}")


def split_names(names: Iterable[str], protocol: str,
                missing: Iterable[str] | None = None) -> tuple[list[str], list[str]]:
    """(train, test) names under ``protocol``, without the ``missing`` ones (e.g. the
    official missing-skeleton list for skeleton work)."""
    skip = set(missing or ())
    train: list[str] = []
    test: list[str] = []
    for name in names:
        if name in skip:
            continue
        s = split_of(name, protocol)
        if s == "train":
            train.append(name)
        elif s == "test":
            test.append(name)
    return train, test


def load_missing_skeletons(path: str | os.PathLike[str]) -> set[str]:
    """Names in an official ``NTU_RGBD*_samples_with_missing_skeletons.txt`` (header lines skipped)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataFormatError(path, f"cannot read missing-skeleton list ({exc.strerror or exc})") from exc
    # a binary file (a .skeleton.gz or an archive passed by mistake) would otherwise fail deep in decoding
    if b"\0" in data:
        raise DataFormatError(path, "binary file, expected a text list of NTU sample names",
                              line=data.count(b"\n", 0, data.index(b"\0")) + 1)
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DataFormatError(path, f"not a UTF-8 text file (byte {exc.start})",
                              line=data.count(b"\n", 0, exc.start) + 1) from None
    names = {ln.strip() for ln in lines if _NAME_RE.match(ln.strip())}
    if not names:
        raise DataFormatError(path, "no NTU sample names found in missing-skeleton list")
    return names


def read_sample_list(path: str | os.PathLike[str]) -> list[tuple[str, int]]:
    """``(name, num_frames)`` pairs of a ``name frames`` list (one sample per line; ``.gz`` allowed),
    such as PSTNet's ``ntu120.list``."""
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt") as f:
                lines = f.read().splitlines()
        else:
            lines = path.read_text().splitlines()
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataFormatError(path, f"cannot read sample list ({exc})") from exc
    out: list[tuple[str, int]] = []
    for i, ln in enumerate(lines):
        if not ln.strip():
            continue
        parts = ln.split()
        if len(parts) != 2 or not _NAME_RE.match(parts[0]) or not parts[1].isdigit():
            raise DataFormatError(path, f"expected 'SsssCcccPpppRrrrAaaa frames', got {ln!r}", line=i + 1)
        out.append((parts[0], int(parts[1])))
    return out


class NTUTree:
    """Paths of one NTU download (or a synthetic world) laid out as published.

    ``root/nturgb+d_skeletons/<n>.skeleton``, ``root/nturgb+d_depth_masked/<n>/MDepth-*.png``,
    ``root/nturgb+d_rgb/<n>_rgb.avi``, ``root/nturgb+d_ir/<n>_ir.avi``.
    """

    DIRS = {"skeleton": "nturgb+d_skeletons", "depth": "nturgb+d_depth_masked",
            "rgb": "nturgb+d_rgb", "ir": "nturgb+d_ir"}

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def skeleton(self, name: str) -> Path:
        return self.root / self.DIRS["skeleton"] / f"{name}.skeleton"

    def depth_dir(self, name: str) -> Path:
        return self.root / self.DIRS["depth"] / name

    def rgb(self, name: str) -> Path:
        return self.root / self.DIRS["rgb"] / f"{name}_rgb.avi"

    def ir(self, name: str) -> Path:
        return self.root / self.DIRS["ir"] / f"{name}_ir.avi"

    def path(self, name: str, modality: str) -> Path:
        getters = {"skeleton": self.skeleton, "depth": self.depth_dir, "rgb": self.rgb, "ir": self.ir}
        if modality not in getters:
            raise ConfigError(f"unknown NTU modality {modality!r}; choose from {sorted(getters)}")
        return getters[modality](name)

    def names(self, modality: str | None = None) -> list[str]:
        """Sorted sample names present for ``modality`` (default: in any modality folder)."""
        mods = [modality] if modality else list(self.DIRS)
        found: set[str] = set()
        for mod in mods:
            if mod not in self.DIRS:
                raise ConfigError(f"unknown NTU modality {mod!r}; choose from {sorted(self.DIRS)}")
            folder = self.root / self.DIRS[mod]
            if folder.is_dir():
                found.update(e.name[:20] for e in os.scandir(folder)
                             if _NAME_RE.match(e.name[:20]) and e.name[20:21] in ("", ".", "_"))
        return sorted(found)
