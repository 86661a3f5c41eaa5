"""NTU RGB+D ``.skeleton`` files: a fast reader and a byte-exact writer.

Grammar (CRLF line ends, single spaces, last line CRLF-terminated)::

    file  := num_frames EOL frame*
    frame := num_bodies EOL body*            # num_bodies may be 0: the frame is one "0" line
    body  := bodyID clipedEdges handLeftConfidence handLeftState handRightConfidence
             handRightState isResticted leanX leanY trackingState EOL   # 10 tokens
             num_joints(=25) EOL joint*
    joint := x y z depthX depthY colorX colorY orientationW orientationX orientationY
             orientationZ trackingState EOL                             # 12 tokens

Floats are written like .NET ``G7``, which Python's ``format(v, '.7G')`` reproduces token for
token, so ``format_skeleton(read_skeleton(p)) == p.read_bytes()`` for real files.

The in-memory form, :class:`SkeletonSequence`, is a struct of arrays over *body records*
(one record = one body in one frame), keeping all 10 body fields and all 12 joint fields,
every body, and the index of frames without bodies. :meth:`SkeletonSequence.to_array`
turns it into the dense ``(M, T, V, C)`` layout models use.

Speed: the text is split into lines once; Python walks only the frame/body counts and all
joint lines are converted to floats by one numpy call, which makes parsing ~10-20x faster
than a line-by-line Python parser (``benchmarks/bench_skeleton_parser.py``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import DataFormatError

#: names of the 12 per-joint fields, in file order
JOINT_FIELDS: tuple[str, ...] = ("x", "y", "z", "depthX", "depthY", "colorX", "colorY", "orientationW",
                                 "orientationX", "orientationY", "orientationZ", "trackingState")
#: names of the integer body fields kept in ``SkeletonSequence.body_int`` (file order minus the ID and leans)
BODY_INT_FIELDS: tuple[str, ...] = ("clipedEdges", "handLeftConfidence", "handLeftState", "handRightConfidence",
                                    "handRightState", "isResticted", "trackingState")
_FIELD_SLICES: dict[str, slice] = {"xyz": slice(0, 3), "depth": slice(3, 5), "color": slice(5, 7),
                                   "orientation": slice(7, 11), "tracking": slice(11, 12), "all": slice(0, 12)}
NUM_JOINTS = 25


@dataclass
class SkeletonSequence:
    """All body records of one ``.skeleton`` file.

    Attributes:
        num_frames: frames in the file, including frames without bodies.
        frame_index: (B,) int64, frame of each body record (0-based), non-decreasing.
        body_id: (B,) uint64 Kinect tracking IDs (exact; too large for float64).
        body_int: (B, 7) int64 integer body fields, see :data:`BODY_INT_FIELDS`.
        lean: (B, 2) float64 ``leanX, leanY``.
        joints: (B, V, 12) float64 joint fields, see :data:`JOINT_FIELDS`.
        path: the file it came from, for error messages.
    """

    num_frames: int
    frame_index: np.ndarray
    body_id: np.ndarray
    body_int: np.ndarray
    lean: np.ndarray
    joints: np.ndarray
    path: str | None = field(default=None, compare=False)

    @property
    def num_records(self) -> int:
        return int(self.frame_index.shape[0])

    @property
    def num_joints(self) -> int:
        return int(self.joints.shape[1]) if self.joints.ndim == 3 else NUM_JOINTS

    @property
    def bodies_per_frame(self) -> np.ndarray:
        """(T,) number of bodies in each frame."""
        return np.bincount(self.frame_index, minlength=self.num_frames).astype(np.int64)

    @property
    def track_ids(self) -> list[int]:
        """Distinct body IDs in order of first appearance."""
        _, first = np.unique(self.body_id, return_index=True)
        return [int(self.body_id[i]) for i in sorted(first)]

    @property
    def tracking_state(self) -> np.ndarray:
        """(B, V) int joint tracking states (0 not tracked, 1 inferred, 2 tracked)."""
        return self.joints[..., 11].astype(np.int64)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SkeletonSequence):
            return NotImplemented
        return (self.num_frames == other.num_frames
                and all(np.array_equal(getattr(self, k), getattr(other, k))
                        for k in ("frame_index", "body_id", "body_int", "lean", "joints")))

    def to_array(self, max_bodies: int = 2, fields: str = "xyz", select: str = "first",
                 dtype: np.dtype | type = np.float32) -> np.ndarray:
        """Dense ``(M, T, V, C)`` array, one slot per body track, 0 where a body is absent.

        Args:
            max_bodies: M, the number of slots.
            fields: "xyz" (C=3), "depth" (depthX, depthY), "color" (colorX, colorY),
                "orientation" (C=4), "tracking" (C=1) or "all" (C=12).
            select: which tracks fill the slots when there are more than ``max_bodies``:
                "first" (order of first appearance) or "energy" (largest summed xyz standard
                deviation over the frames a track is present, as mmaction2's NTU converter).
                Slots stay in order of first appearance either way.
        """
        if fields not in _FIELD_SLICES:
            raise ValueError(f"fields must be one of {sorted(_FIELD_SLICES)}, got {fields!r}")
        sl = _FIELD_SLICES[fields]
        c = sl.stop - sl.start
        out = np.zeros((max_bodies, self.num_frames, self.num_joints, c), dtype=dtype)
        if self.num_records == 0:
            return out
        ids, first, track = np.unique(self.body_id, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")          # tracks in first-seen order
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        slot_of_track = rank                               # track -> position in first-seen order
        if len(ids) > max_bodies and select == "energy":
            xyz = self.joints[..., :3]
            energy = np.array([xyz[track == k].std(axis=0).sum() if (track == k).sum() > 1 else 0.0
                               for k in range(len(ids))])
            keep = np.sort(np.argsort(-energy, kind="stable")[:max_bodies])
            keep = keep[np.argsort(first[keep], kind="stable")]
            slot_of_track = np.full(len(ids), -1)
            slot_of_track[keep] = np.arange(len(keep))
        elif select not in ("first", "energy"):
            raise ValueError(f"select must be 'first' or 'energy', got {select!r}")
        slot = slot_of_track[track]
        ok = (slot >= 0) & (slot < max_bodies)
        out[slot[ok], self.frame_index[ok]] = self.joints[ok][..., sl]
        return out

    def present(self, max_bodies: int = 2) -> np.ndarray:
        """(M, T) bool: slot m holds a body in frame t (same slot rule as ``to_array(select='first')``)."""
        out = np.zeros((max_bodies, self.num_frames), dtype=bool)
        if self.num_records == 0:
            return out
        _, first, track = np.unique(self.body_id, return_index=True, return_inverse=True)
        rank = np.empty(len(first), dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(len(first))
        slot = rank[track]
        ok = slot < max_bodies
        out[slot[ok], self.frame_index[ok]] = True
        return out

    @classmethod
    def from_arrays(cls, xyz: np.ndarray, depth_xy: np.ndarray | None = None, color_xy: np.ndarray | None = None,
                    body_ids: Sequence[int] | None = None, tracking: np.ndarray | None = None,
                    present: np.ndarray | None = None, orientation: np.ndarray | None = None,
                    lean: np.ndarray | None = None) -> SkeletonSequence:
        """Build a sequence from dense per-slot arrays (the inverse of :meth:`to_array`).

        Args:
            xyz: (M, T, V, 3) camera-space metres.
            depth_xy, color_xy: (M, T, V, 2) pixel coordinates (zeros if omitted).
            body_ids: M tracking IDs (default: Kinect-like 72057594037931101 + m).
            tracking: (M, T, V) joint tracking states (default 2 = tracked).
            present: (M, T) bool, which slots hold a body in each frame
                (default: slots whose joints are not all zero).
            orientation: (M, T, V, 4) joint quaternions (default zeros).
            lean: (M, T, 2) body lean (default zeros).
        """
        xyz = np.asarray(xyz, dtype=np.float64)
        if xyz.ndim != 4 or xyz.shape[-1] != 3:
            raise ValueError(f"xyz must be (M, T, V, 3), got {xyz.shape}")
        m, t, v, _ = xyz.shape
        if present is None:
            present = np.abs(xyz).sum(axis=(2, 3)) > 0
        present = np.asarray(present, dtype=bool)
        if body_ids is None:
            body_ids = [72057594037931101 + k for k in range(m)]
        joints = np.zeros((m, t, v, 12), dtype=np.float64)
        joints[..., 0:3] = xyz
        if depth_xy is not None:
            joints[..., 3:5] = depth_xy
        if color_xy is not None:
            joints[..., 5:7] = color_xy
        if orientation is not None:
            joints[..., 7:11] = orientation
        joints[..., 11] = 2 if tracking is None else tracking
        # body records in file order: by frame, then by slot
        tt, mm = np.nonzero(present.T)
        b = len(tt)
        body_int = np.zeros((b, 7), dtype=np.int64)
        body_int[:, 6] = 2
        lean_arr = np.zeros((b, 2)) if lean is None else np.asarray(lean, dtype=np.float64)[mm, tt]
        return cls(num_frames=t, frame_index=tt.astype(np.int64),
                   body_id=np.asarray(body_ids, dtype=np.uint64)[mm], body_int=body_int,
                   lean=lean_arr, joints=joints[mm, tt])


# ----------------------------------------------------------------------------- reading


def read_skeleton(path: str | os.PathLike[str], num_joints: int = NUM_JOINTS) -> SkeletonSequence:
    """Parse a ``.skeleton`` file; any deviation from the grammar is a :class:`DataFormatError`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataFormatError(path, f"cannot read skeleton file ({exc.strerror or exc})") from exc
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise DataFormatError(path, f"not an ASCII text file (byte {exc.start})") from None
    return parse_skeleton_text(text, path=path, num_joints=num_joints)


def _int(tok: str, path: str | os.PathLike[str] | None, line: int, what: str) -> int:
    try:
        return int(tok)
    except ValueError:
        raise DataFormatError(path, f"expected an integer {what}, got {tok!r}", line=line) from None


def parse_skeleton_text(text: str, path: str | os.PathLike[str] | None = None,
                        num_joints: int = NUM_JOINTS) -> SkeletonSequence:
    """Parse the text of a ``.skeleton`` file (see module docstring for the grammar)."""
    lines = text.split("\n")
    if lines and lines[-1].strip() == "":
        lines.pop()                       # the final EOL leaves one empty piece
    n_lines = len(lines)
    if n_lines == 0:
        raise DataFormatError(path, "empty skeleton file", line=1)
    num_frames = _int(lines[0].strip(), path, 1, "frame count")
    if num_frames < 0:
        raise DataFormatError(path, f"negative frame count {num_frames}", line=1)

    frame_index: list[int] = []
    info_lines: list[int] = []            # 0-based line index of each body-info line
    i = 1
    for f in range(num_frames):
        if i >= n_lines:
            raise DataFormatError(path, f"unexpected end of file in frame {f + 1} of {num_frames}", line=i + 1)
        nb = _int(lines[i].strip(), path, i + 1, "body count")
        if nb < 0:
            raise DataFormatError(path, f"negative body count {nb}", line=i + 1)
        i += 1
        for _ in range(nb):
            if i + 1 >= n_lines:
                raise DataFormatError(path, f"unexpected end of file in a body of frame {f + 1}", line=i + 1)
            nj = _int(lines[i + 1].strip(), path, i + 2, "joint count")
            if nj != num_joints:
                raise DataFormatError(path, f"expected {num_joints} joints, got {nj}", line=i + 2)
            if i + 2 + nj > n_lines:
                raise DataFormatError(path, f"unexpected end of file in the joints of frame {f + 1}",
                                      line=n_lines + 1)
            frame_index.append(f)
            info_lines.append(i)
            i += 2 + nj
    if i != n_lines:
        raise DataFormatError(path, f"{n_lines - i} unexpected line(s) after the last frame", line=i + 1)

    b = len(info_lines)
    info_tok = [lines[k].split() for k in info_lines]
    for tok, k in zip(info_tok, info_lines):
        if len(tok) != 10:
            raise DataFormatError(path, f"body line has {len(tok)} fields, expected 10", line=k + 1)
    try:
        body_id = np.array([int(t[0]) for t in info_tok], dtype=np.uint64)
        body_int = np.array([[int(t[j]) for j in (1, 2, 3, 4, 5, 6, 9)] for t in info_tok],
                            dtype=np.int64).reshape(b, 7)
        lean = np.array([[float(t[7]), float(t[8])] for t in info_tok], dtype=np.float64).reshape(b, 2)
    except (ValueError, OverflowError):
        for tok, k in zip(info_tok, info_lines):
            try:
                int(tok[0]), [int(tok[j]) for j in (1, 2, 3, 4, 5, 6, 9)], float(tok[7]), float(tok[8])
            except (ValueError, OverflowError):
                raise DataFormatError(path, f"non-numeric or out-of-range body field in {lines[k]!r}",
                                      line=k + 1) from None
        raise
    if not np.isfinite(lean).all():
        k = info_lines[int(np.argwhere(~np.isfinite(lean))[0, 0])]
        raise DataFormatError(path, "NaN or infinite lean value", line=k + 1)

    joints = _parse_joint_blocks(lines, info_lines, num_joints, path)
    return SkeletonSequence(num_frames=num_frames, frame_index=np.asarray(frame_index, dtype=np.int64),
                            body_id=body_id, body_int=body_int, lean=lean, joints=joints,
                            path=None if path is None else str(path))


def _parse_joint_blocks(lines: list[str], info_lines: list[int], nj: int,
                        path: str | os.PathLike[str] | None) -> np.ndarray:
    b = len(info_lines)
    if b == 0:
        return np.zeros((0, nj, 12), dtype=np.float64)
    blocks = [" ".join(lines[k + 2:k + 2 + nj]) for k in info_lines]
    flat = " ".join(blocks)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # older numpy warns and stops on junk; we check the count
            values = np.fromstring(flat, dtype=np.float64, sep=" ")
    except ValueError:                        # numpy >= 2.3 raises on junk instead
        values = np.zeros(0)
    if values.size != b * nj * 12:
        _locate_bad_joint_line(lines, info_lines, nj, path)
        raise DataFormatError(path, "malformed joint data")   # pragma: no cover - located above
    joints = values.reshape(b, nj, 12)
    if not np.isfinite(joints).all():
        rec, jnt = np.argwhere(~np.isfinite(joints).all(axis=2))[0]
        raise DataFormatError(path, "NaN or infinite joint value", line=info_lines[rec] + 3 + int(jnt))
    return joints


def _locate_bad_joint_line(lines: list[str], info_lines: list[int], nj: int,
                           path: str | os.PathLike[str] | None) -> None:
    """Slow path, only on error: find the first joint line that is not 12 numbers."""
    for k in info_lines:
        for ln in range(k + 2, k + 2 + nj):
            tok = lines[ln].split()
            if len(tok) != 12:
                raise DataFormatError(path, f"joint line has {len(tok)} fields, expected 12", line=ln + 1)
            for t in tok:
                try:
                    float(t)
                except ValueError:
                    raise DataFormatError(path, f"non-numeric joint field {t!r}", line=ln + 1) from None


# ----------------------------------------------------------------------------- writing


def _g7(v: float) -> str:
    return format(v, ".7G")


def format_skeleton(seq: SkeletonSequence) -> str:
    """The exact file text (CRLF line ends) of ``seq``."""
    out: list[str] = [str(seq.num_frames)]
    counts = seq.bodies_per_frame
    rec = 0
    nj = seq.num_joints
    for f in range(seq.num_frames):
        out.append(str(int(counts[f])))
        for _ in range(int(counts[f])):
            bi = seq.body_int[rec]
            out.append(" ".join((str(int(seq.body_id[rec])), str(bi[0]), str(bi[1]), str(bi[2]), str(bi[3]),
                                 str(bi[4]), str(bi[5]), _g7(seq.lean[rec, 0]), _g7(seq.lean[rec, 1]),
                                 str(bi[6]))))
            out.append(str(nj))
            jr = seq.joints[rec].tolist()
            out.extend(" ".join([*map(_g7, row[:11]), str(int(row[11]))]) for row in jr)
            rec += 1
    return "\r\n".join(out) + "\r\n"


def write_skeleton(path: str | os.PathLike[str], seq: SkeletonSequence) -> Path:
    """Write ``seq`` in the NTU format (atomically: temp file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(format_skeleton(seq).encode("ascii"))
    os.replace(tmp, path)
    return path
