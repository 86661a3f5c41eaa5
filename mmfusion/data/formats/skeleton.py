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

Speed: with numba installed, a compiled two-pass parser (:mod:`.skeleton_fast`: SWAR structural
index, then the grammar walk converting every token in place) reads real files over 10x faster
than a plain line-by-line Python parser. Without numba -- and for any file the compiled parser
declines, e.g. a malformed one, so errors are always reported here -- the bytes are tokenised
and converted to float64 with vectorised numpy (a SWAR decimal parser); Python walks only the
frame and body counts. Both are exact: values equal Python's ``float`` bit for bit.
``benchmarks/bench_skeleton_parser.py`` compares them with plain line-by-line parsers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import DataFormatError
from . import skeleton_fast
from .skeleton_swar import PAD, WORKSPACE, parse_tokens

#: names of the 12 per-joint fields, in file order
JOINT_FIELDS: tuple[str, ...] = ("x", "y", "z", "depthX", "depthY", "colorX", "colorY", "orientationW",
                                 "orientationX", "orientationY", "orientationZ", "trackingState")
#: names of the integer body fields kept in ``SkeletonSequence.body_int`` (file order minus the ID and leans)
BODY_INT_FIELDS: tuple[str, ...] = ("clipedEdges", "handLeftConfidence", "handLeftState", "handRightConfidence",
                                    "handRightState", "isResticted", "trackingState")
_FIELD_SLICES: dict[str, slice] = {"xyz": slice(0, 3), "depth": slice(3, 5), "color": slice(5, 7),
                                   "orientation": slice(7, 11), "tracking": slice(11, 12), "all": slice(0, 12)}
NUM_JOINTS = 25
#: largest magnitude a value may have: every reader's output goes to float32 models
_F32_MAX = float(np.finfo(np.float32).max)


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
    def body_ids(self) -> list[int]:
        """Body IDs of the slots of :meth:`to_array` (first-seen order), as exact Python ints."""
        return self.track_ids

    @property
    def tracking_state(self) -> np.ndarray:
        """(B, V) int joint tracking states per body record (0 not tracked, 1 inferred, 2 tracked)."""
        return self.joints[..., 11].astype(np.int64)

    def tracking_array(self, max_bodies: int = 2) -> np.ndarray:
        """(M, T, V) int8 joint tracking states per slot (same slots as :meth:`to_array`); -1 where absent."""
        out = self.to_array(max_bodies, "tracking", dtype=np.int8)[..., 0]
        out[~self.present(max_bodies)] = -1
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SkeletonSequence):
            return NotImplemented
        return (self.num_frames == other.num_frames
                and all(np.array_equal(getattr(self, k), getattr(other, k))
                        for k in ("frame_index", "body_id", "body_int", "lean", "joints")))

    def to_array(self, max_bodies: int = 2, fields: str = "xyz", select: str = "first",
                 dtype: np.dtype | type = np.float32) -> np.ndarray:
        """Dense ``(M, T, V, C)`` array, 0 where a slot is empty.

        Args:
            max_bodies: M, the number of slots.
            fields: "xyz" (C=3), "depth" (depthX, depthY), "color" (colorX, colorY),
                "orientation" (C=4), "tracking" (C=1) or "all" (C=12).
            select: how records fill the slots.
                "first": one slot per body ID (track), in order of first appearance; tracks
                beyond ``max_bodies`` are left out.
                "energy": mmaction2's NTU converter (``gen_ntu_rgbd_raw.py``, from ST-GCN's
                ``ntu_gendata``): the k-th body record of each frame goes to Kinect slot k
                (up to ``max(4, max_bodies)`` slots, whatever its ID), each slot's energy is
                ``std(x) + std(y) + std(z)`` over all joints of the frames where its xyz sum is
                non-zero, and the ``max_bodies`` slots of highest energy are returned, highest
                first (ties: later slot first, as ``argsort()[::-1]``).
        """
        if fields not in _FIELD_SLICES:
            raise ValueError(f"fields must be one of {sorted(_FIELD_SLICES)}, got {fields!r}")
        if select not in ("first", "energy"):
            raise ValueError(f"select must be 'first' or 'energy', got {select!r}")
        sl = _FIELD_SLICES[fields]
        c = sl.stop - sl.start
        out = np.zeros((max_bodies, self.num_frames, self.num_joints, c), dtype=dtype)
        if self.num_records == 0:
            return out
        if select == "energy":
            return self._energy_slots(out, sl)
        ids, first, track = np.unique(self.body_id, return_index=True, return_inverse=True)
        rank = np.empty(len(ids), dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(len(ids))   # track -> first-seen position
        slot = rank[track]
        ok = slot < max_bodies
        out[slot[ok], self.frame_index[ok]] = self.joints[ok][..., sl]
        return out

    def _energy_slots(self, out: np.ndarray, sl: slice) -> np.ndarray:
        """mmaction2's per-frame slots and energy selection (see :meth:`to_array`)."""
        max_bodies = out.shape[0]
        kinect = max(4, max_bodies)       # mmaction2 reads max_body_kinect = 4 bodies per frame
        fi = self.frame_index
        pos = np.arange(self.num_records) - np.searchsorted(fi, fi, side="left")   # k-th record of its frame
        ok = pos < kinect
        xyz = np.zeros((kinect, self.num_frames, self.num_joints, 3))
        xyz[pos[ok], fi[ok]] = self.joints[ok][..., :3]
        energy = np.zeros(kinect)
        for k in range(kinect):
            frames = xyz[k][xyz[k].sum(axis=(1, 2)) != 0]          # (T_k, V, 3)
            if len(frames):
                energy[k] = sum(frames[..., a].std() for a in range(3))
        order = np.argsort(energy, kind="stable")[::-1][:max_bodies]
        dest = np.full(kinect, -1)
        dest[order] = np.arange(len(order))
        slot = np.where(ok, dest[np.minimum(pos, kinect - 1)], -1)
        keep = slot >= 0
        out[slot[keep], fi[keep]] = self.joints[keep][..., sl]
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
#
def read_skeleton(path: str | os.PathLike[str], num_joints: int = NUM_JOINTS,
                  backend: str = "auto") -> SkeletonSequence:
    """Parse a ``.skeleton`` file; any deviation from the grammar is a :class:`DataFormatError`.

    ``backend``: ``"auto"`` uses the compiled parser of :mod:`.skeleton_fast` when numba is
    installed and the numpy parser otherwise (and for every file the compiled one declines);
    ``"numpy"`` forces the numpy parser. Both give identical results.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataFormatError(path, f"cannot read skeleton file ({exc.strerror or exc})") from exc
    return _parse_bytes(data, path, num_joints, backend)


def parse_skeleton_text(text: str, path: str | os.PathLike[str] | None = None,
                        num_joints: int = NUM_JOINTS, backend: str = "auto") -> SkeletonSequence:
    """Parse the text of a ``.skeleton`` file (see the module docstring for the grammar and ``backend``)."""
    try:
        data = text.encode("ascii")
    except UnicodeEncodeError as exc:
        line = text.count("\n", 0, exc.start) + 1
        raise DataFormatError(path, f"non-ASCII character {text[exc.start]!r}", line=line) from None
    return _parse_bytes(data, path, num_joints, backend)


class _Tokens:
    """Token and line tables of one file (positions are in the padded buffer)."""

    def __init__(self, data: bytes, path: str | os.PathLike[str] | None) -> None:
        self.data, self.path = data, path
        n = len(data)
        words, is_ws, edge = WORKSPACE.byte_buffers((n + PAD + 24) // 8 + 1)
        buf = words.view(np.uint8)
        buf[:PAD] = 32
        buf[PAD:PAD + n] = np.frombuffer(data, np.uint8)
        buf[PAD + n:] = 32
        self.words, self.buf = words, buf
        np.equal(buf, 10, out=is_ws)
        self.newlines = nl = np.flatnonzero(is_ws)
        # control characters other than tab/CR/LF would silently act as separators
        np.less(buf, 32, out=is_ws)
        n_ctrl = np.count_nonzero(is_ws)
        if n_ctrl != len(nl) and n_ctrl != len(nl) + np.count_nonzero(np.equal(buf, 13, out=is_ws)) \
                + np.count_nonzero(np.equal(buf, 9, out=is_ws)):
            bad = next(i for i, c in enumerate(data) if c < 32 and c not in (9, 10, 13))
            raise DataFormatError(path, f"control character {data[bad:bad + 1]!r} in text",
                                  line=data.count(b"\n", 0, bad) + 1)
        np.less_equal(buf, 32, out=is_ws)
        np.not_equal(is_ws[:-1], is_ws[1:], out=edge)
        bounds = np.flatnonzero(edge)
        bounds += 1
        self.starts, self.ends = bounds[0::2], bounds[1::2]
        ntok = len(self.starts)
        # lines: one per '\n', plus a last unterminated line if it holds tokens
        cum = np.searchsorted(self.starts, nl)
        if ntok and (len(nl) == 0 or self.starts[-1] > nl[-1]):
            cum = np.append(cum, ntok)
        self.line_end_tok = cum
        self.line_first = np.concatenate(([0], cum[:-1])) if len(cum) else cum
        self.line_ntok = np.diff(cum, prepend=0)

    @property
    def num_lines(self) -> int:
        return len(self.line_end_tok)

    def text(self, tok: int) -> str:
        return self.data[self.starts[tok] - PAD:self.ends[tok] - PAD].decode("ascii", "replace")

    def line_of(self, tok: int) -> int:
        """1-based line of token ``tok``."""
        return int(np.searchsorted(self.newlines, self.starts[tok])) + 1

    def line_text(self, line0: int) -> str:
        a = 0 if line0 == 0 else int(self.newlines[line0 - 1]) + 1 - PAD
        b = int(self.newlines[line0]) - PAD if line0 < len(self.newlines) else len(self.data)
        return self.data[a:b].decode("ascii", "replace").strip()


def _parse_bytes(data: bytes, path: str | os.PathLike[str] | None, nj: int, backend: str = "auto") -> SkeletonSequence:
    if backend not in ("auto", "numpy"):
        raise ValueError(f"backend must be 'auto' or 'numpy', got {backend!r}")
    fast = skeleton_fast.parse(data, nj) if backend == "auto" else None
    if fast is not None:
        num_frames, frame_index, body_id, body_int, lean, joints = fast
        return SkeletonSequence(num_frames=num_frames, frame_index=frame_index, body_id=body_id, body_int=body_int,
                                lean=lean, joints=joints, path=None if path is None else str(path))
    return _parse_bytes_numpy(data, path, nj)


def _parse_bytes_numpy(data: bytes, path: str | os.PathLike[str] | None, nj: int) -> SkeletonSequence:
    tk = _Tokens(data, path)
    if len(tk.starts) == 0:
        raise DataFormatError(path, "empty skeleton file", line=1)
    vals, ok, is_int = parse_tokens(tk.words, tk.buf, tk.starts, tk.ends)
    nlines = tk.num_lines

    # integer value of every line that holds exactly one plain integer token, else -1
    first = np.minimum(tk.line_first, len(vals) - 1)
    single = (tk.line_ntok == 1) & ok[first] & is_int[first] & (vals[first] >= 0)
    count = np.where(single, vals[first], -1.0).astype(np.int64).tolist()

    def bad_count(line0: int, what: str) -> DataFormatError:
        got = tk.line_text(line0) if line0 < nlines else "end of file"
        return DataFormatError(path, f"expected {what} (one non-negative integer), got {got!r}", line=line0 + 1)

    num_frames = count[0]
    if num_frames < 0:
        raise bad_count(0, "the frame count")
    stride = 2 + nj
    frames: list[int] = []          # frames that have bodies, their first body line and body count
    first_line: list[int] = []
    nbodies: list[int] = []
    i = 1
    walk_error: DataFormatError | None = None
    for f in range(num_frames):
        if i >= nlines:
            walk_error = DataFormatError(path, f"unexpected end of file: frame {f + 1} of {num_frames} "
                                               "is missing", line=i + 1)
            break
        nb = count[i]
        if nb < 0:
            walk_error = bad_count(i, f"the body count of frame {f + 1}")
            break
        claimed = None
        if nb * stride > nlines - i - 1:
            # more bodies than lines left: keep only those that start inside the file, so a header
            # claiming 999999999999 bodies is an error, not a MemoryError in the arrays below
            claimed, nb = nb, -(-(nlines - i - 1) // stride)
        if nb:
            frames.append(f)
            first_line.append(i + 1)
            nbodies.append(nb)
        i += 1 + nb * stride
        if claimed is not None:
            i = nlines + 1
            break
    if walk_error is None and i > nlines:
        walk_error = DataFormatError(path, f"unexpected end of file in the last bodies of frame {f + 1}"
                                           + (f" (it claims {claimed} bodies)" if claimed is not None else ""),
                                     line=nlines + 1)
    if walk_error is None and i < nlines and tk.line_ntok[i:].any():
        walk_error = DataFormatError(path, f"{nlines - i} unexpected line(s) after the last frame", line=i + 1)

    nb_arr = np.asarray(nbodies, dtype=np.int64)
    b = int(nb_arr.sum())
    body_start = np.repeat(np.cumsum(nb_arr) - nb_arr, nb_arr)
    info = np.repeat(np.asarray(first_line, dtype=np.int64), nb_arr) + (np.arange(b) - body_start) * stride
    frame_index = np.repeat(np.asarray(frames, dtype=np.int64), nb_arr)

    # structure of the bodies walked; a wrong joint count explains a later walk error, so it wins
    errors: list[tuple[int, str]] = []
    if walk_error is not None:
        inside = info + 1 < nlines
        info, frame_index = info[inside], frame_index[inside]
    counts = np.asarray(count, dtype=np.int64)
    njl = info + 1
    bad = np.flatnonzero(counts[njl] != nj)
    if len(bad):
        k = int(njl[bad[0]])
        got = tk.line_text(k)
        errors.append((k + 1, f"expected {nj} joints, got {got!r}"))
        info, frame_index = info[:bad[0]], frame_index[:bad[0]]
    if walk_error is not None:
        if errors and errors[0][0] < (walk_error.line or 0):
            raise DataFormatError(path, errors[0][1], line=errors[0][0])
        raise walk_error
    if errors:
        raise DataFormatError(path, errors[0][1], line=errors[0][0])

    b = len(info)
    jl = (info[:, None] + 2 + np.arange(nj)).reshape(-1)
    for lines, want, what in ((info, 10, "body"), (jl, 12, "joint")):
        wrong = np.flatnonzero(tk.line_ntok[lines] != want)
        if len(wrong):
            k = int(lines[wrong[0]])
            errors.append((k + 1, f"{what} line has {int(tk.line_ntok[k])} fields, expected {want}"))
    if errors:
        line, msg = min(errors)
        raise DataFormatError(path, msg, line=line)

    body_tok = tk.line_first[info][:, None] + np.arange(10)           # (B, 10)
    joint_tok = (tk.line_first[jl][:, None] + np.arange(12)).reshape(b, nj, 12)
    # body IDs: up to 20 digits, exact as Python ints
    id_tok = body_tok[:, 0].tolist()
    ids: list[int] = []
    for t in id_tok:
        s = tk.text(t)
        if not s.isdigit() or int(s) >= 1 << 64:
            errors.append((tk.line_of(t), f"body ID {s!r} is not an unsigned 64-bit integer"))
            break
        ids.append(int(s))
    # slow path for the few tokens the vectorised parser leaves (exponents, long tokens, junk);
    # only these can be non-finite, since the fast path reads plain decimals
    id_set = set(id_tok)
    for t in np.flatnonzero(~ok).tolist():
        if t in id_set:
            continue
        s = tk.text(t)
        try:
            if "_" in s:
                raise ValueError(s)
            vals[t] = v = float(s)
        except ValueError:
            errors.append((tk.line_of(t), f"non-numeric field {s!r}"))
            break
        if not np.isfinite(v):
            errors.append((tk.line_of(t), f"NaN or infinite value {s!r}"))
            break
        if abs(v) > _F32_MAX:  # finite in float64 but inf once the joints become float32
            errors.append((tk.line_of(t), f"value {s!r} is beyond the float32 range"))
            break
        is_int[t] = s.lstrip("+-").isdigit()
    int_tok = np.concatenate([body_tok[:, [1, 2, 3, 4, 5, 6, 9]].reshape(-1), joint_tok[..., 11].reshape(-1)])
    wrong = np.flatnonzero(~is_int[int_tok])
    if len(wrong):
        t = int(int_tok[wrong[0]])
        errors.append((tk.line_of(t), f"expected an integer field, got {tk.text(t)!r}"))
    if errors:
        line, msg = min(errors)
        raise DataFormatError(path, msg, line=line)

    body_vals = vals[body_tok]
    return SkeletonSequence(num_frames=num_frames, frame_index=frame_index,
                            body_id=np.array(ids, dtype=np.uint64).reshape(b),
                            body_int=body_vals[:, [1, 2, 3, 4, 5, 6, 9]].astype(np.int64),
                            lean=body_vals[:, 7:9].copy(), joints=vals[joint_tok],
                            path=None if path is None else str(path))


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
