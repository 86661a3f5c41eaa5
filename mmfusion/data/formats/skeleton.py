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
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import DataFormatError
from . import skeleton_fast

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
# How the numpy parser is fast (used without numba; see benchmarks/bench_skeleton_parser.py for numbers):
#  1. the file's bytes go into an 8-byte aligned uint64 buffer; token boundaries and line ends
#     come from two numpy passes over the bytes (no Python ``split``);
#  2. every token is converted to float64 by a SIMD-within-a-register (SWAR) decimal parser run
#     on uint64 words with numpy: each token is gathered right-aligned into 16 bytes (two words),
#     digits are recognised and packed 8 at a time with three multiplies, and the decimal point is
#     removed exactly in float64 (all intermediate integers < 2**53, one final correctly rounded
#     division), so the values equal Python's ``float(token)`` bit for bit;
#  3. Python walks only the frame and body counts (a few hundred steps), and everything else
#     (field counts per line, integer fields, finiteness) is checked vectorised;
#  4. tokens the fast path does not cover (exponent notation such as ``-7.257856E-05``, the
#     17-digit body IDs, anything longer than 16 characters) fall back to Python ``float``/``int``;
#     real files have a handful of them.
# Temporary arrays live in a per-thread workspace: allocating fresh 200 KB arrays for every step
# made page faults cost as much as the arithmetic.

_PAD = 16                        # spaces before the data, so every right-aligned 16-byte window is inside
_U = np.uint64
_ONES = _U(0x0101010101010101)
_HIGH = _U(0x8080808080808080)
_ADD30 = _U(0x5050505050505050)  # byte + 0x50 has bit 7 set iff byte >= '0' (bytes < 0x80)
_ADD3A = _U(0x4646464646464646)  # byte + 0x46 has bit 7 set iff byte > '9'
_DOTS = _U(0x2E2E2E2E2E2E2E2E)
_NIBBLE = _U(0x0F)
_M2, _M3 = _U(0x00FF00FF00FF00FF), _U(0x0000FFFF0000FFFF)
_K1, _K2, _K3 = _U(10 * 256 + 1), _U(100 * 65536 + 1), _U(10000 * (1 << 32) + 1)
_SH7, _SH8, _SH16, _SH32, _SH64, _ONE = _U(7), _U(8), _U(16), _U(32), _U(64), _U(1)
_E8 = _U(100_000_000)
_MINUS = 45


def _swar_tables() -> tuple[np.ndarray, ...]:
    """Lookup tables indexed by token length (0..16) and by the decimal-point code."""
    keep0, keep1 = np.zeros(17, np.uint64), np.zeros(17, np.uint64)
    for n in range(17):      # keep the last n bytes of the 16-byte window
        m = bytes(0xFF if j >= 16 - n else 0 for j in range(16))
        keep0[n], keep1[n] = int.from_bytes(m[:8], "little"), int.from_bytes(m[8:], "little")
    # code = popcount(dot1 - 1) + 2 * popcount(dot0 - 1) where dotK marks the '.' byte in word K
    # (popcount(0 - 1) = 64 when a word has no dot); the two families of codes never collide.
    p10, nine, den = np.full(256, np.inf), np.zeros(256), np.ones(256)
    for k in range(8):
        for code, frac in ((8 * k + 7 + 128, 7 - k), (64 + 2 * (8 * k + 7), 15 - k)):
            p10[code], nine[code], den[code] = 10.0 ** (frac + 1), 9 * 10.0 ** frac, 10.0 ** frac
    return keep0, keep1, keep0 & _HIGH, keep1 & _HIGH, p10, nine, den


_KEEP0, _KEEP1, _KEEPH0, _KEEPH1, _P10, _NINE, _DEN = _swar_tables()


class _Workspace(threading.local):
    """Reusable buffers (one set per thread), grown geometrically."""

    def __init__(self) -> None:
        self.nbytes = 0
        self.ntok = 0

    def byte_buffers(self, nwords: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if nwords > self.nbytes:
            self.nbytes = max(nwords, 2 * self.nbytes)
            self.words = np.empty(self.nbytes, np.uint64)
            self.mask_a = np.empty(self.nbytes * 8, bool)
            self.mask_b = np.empty(self.nbytes * 8, bool)
        n = nwords * 8
        return self.words[:nwords], self.mask_a[:n], self.mask_b[:n - 1]

    def token_buffers(self, n: int) -> tuple[list[np.ndarray], ...]:
        if n > self.ntok:
            c = self.ntok = max(n, 2 * self.ntok)
            self.u = [np.empty(c, np.uint64) for _ in range(7)]
            self.i = [np.empty(c, np.int64) for _ in range(2)]
            self.f = [np.empty(c, np.float64) for _ in range(1)]
            self.c = [np.empty(c, np.uint8) for _ in range(3)]
            self.b = [np.empty(c, bool) for _ in range(2)]
        return tuple([a[:n] for a in group] for group in (self.u, self.i, self.f, self.c, self.b))


_WS = _Workspace()


def _classify(w: np.ndarray, digit: np.ndarray, dot: np.ndarray, tmp: np.ndarray) -> None:
    """Bit 7 of each byte of ``digit`` / ``dot``: that byte of ``w`` is '0'-'9' / '.'."""
    np.add(w, _ADD3A, out=tmp)
    np.invert(tmp, out=tmp)
    np.add(w, _ADD30, out=digit)
    np.bitwise_and(digit, tmp, out=digit)
    np.bitwise_and(digit, _HIGH, out=digit)
    # zero-byte test of w ^ '.'; its only false positive is a '/' right after a '.', which then
    # counts as a second dot and sends the token to the checked slow path
    np.bitwise_xor(w, _DOTS, out=tmp)
    np.subtract(tmp, _ONES, out=dot)
    np.invert(tmp, out=tmp)
    np.bitwise_and(dot, tmp, out=dot)
    np.bitwise_and(dot, _HIGH, out=dot)


def _pack8(x: np.ndarray) -> None:
    """In place: 8 digit nibbles per word (first character in the low byte) -> their integer."""
    np.multiply(x, _K1, out=x)
    np.right_shift(x, _SH8, out=x)
    np.bitwise_and(x, _M2, out=x)
    np.multiply(x, _K2, out=x)
    np.right_shift(x, _SH16, out=x)
    np.bitwise_and(x, _M3, out=x)
    np.multiply(x, _K3, out=x)
    np.right_shift(x, _SH32, out=x)


_CHUNK = 8192  # tokens per pass: keeps the ~15 work arrays in the CPU cache


def _parse_tokens(words: np.ndarray, buf: np.ndarray, starts: np.ndarray,
                  ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised ``float()`` of all tokens, in cache-sized chunks (see :func:`_parse_chunk`)."""
    n = len(ends)
    if n <= _CHUNK:
        return _parse_chunk(words, buf, starts, ends)
    vals, ok, is_int = np.empty(n), np.empty(n, bool), np.empty(n, bool)
    for a in range(0, n, _CHUNK):
        b = min(a + _CHUNK, n)
        vals[a:b], ok[a:b], is_int[a:b] = _parse_chunk(words, buf, starts[a:b], ends[a:b])
    return vals, ok, is_int


def _parse_chunk(words: np.ndarray, buf: np.ndarray, starts: np.ndarray,
                 ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised ``float()`` of tokens ``buf[starts:ends]`` of the form ``-?\\d*\\.?\\d*`` (<= 16 chars).

    Returns (values float64, ok bool: the fast path applied, is_int bool: no decimal point).
    Values where ``ok`` is False are meaningless.
    """
    n = len(ends)
    (w0, w1, g0, g1, d0, d1, tmp), (ln, q), (fl,), (c0, c1, c2), (ok, neg) = _WS.token_buffers(n)
    np.subtract(ends, starts, out=ln)
    np.less_equal(ln, 16, out=ok)
    np.minimum(ln, 16, out=ln)
    # right-aligned 16-byte window [end - 16, end) from three aligned words and two shifts
    np.subtract(ends, 16, out=q)
    sh = tmp.view(np.int64)
    np.bitwise_and(q, 7, out=sh)
    np.left_shift(sh, 3, out=sh)
    shu = tmp
    np.right_shift(q, 3, out=q)
    np.subtract(_SH64, shu, out=d0)                       # complementary shift (64 gives 0)
    np.take(words, q, out=w0, mode="clip")
    q += 1
    np.take(words, q, out=g0, mode="clip")
    np.right_shift(w0, shu, out=w0)
    np.left_shift(g0, d0, out=g1)
    np.bitwise_or(w0, g1, out=w0)
    q += 1
    np.take(words, q, out=w1, mode="clip")
    np.left_shift(w1, d0, out=w1)
    np.right_shift(g0, shu, out=g0)
    np.bitwise_or(w1, g0, out=w1)
    np.take(_KEEP0, ln, out=g0, mode="clip")               # zero the bytes before the token
    np.bitwise_and(w0, g0, out=w0)
    np.take(_KEEP1, ln, out=g0, mode="clip")
    np.bitwise_and(w1, g0, out=w1)
    _classify(w0, g0, d0, tmp)
    _classify(w1, g1, d1, tmp)
    # the token is valid iff its non-digit bytes are exactly: at most one '.', and a leading '-'
    np.take(_KEEPH0, ln, out=tmp, mode="clip")
    np.bitwise_and(tmp, np.invert(g0, out=q.view(np.uint64)), out=tmp)
    np.bitwise_count(tmp, out=c0)
    np.take(_KEEPH1, ln, out=tmp, mode="clip")
    np.bitwise_and(tmp, np.invert(g1, out=q.view(np.uint64)), out=tmp)
    np.bitwise_count(tmp, out=c1)
    np.add(c0, c1, out=c0)                                # non-digit bytes
    np.bitwise_count(d0, out=c1)
    np.bitwise_count(d1, out=c2)
    np.add(c1, c2, out=c1)                                # decimal points
    is_int = c1 == 0
    np.take(buf, starts, out=c2, mode="clip")
    np.equal(c2, _MINUS, out=neg)
    np.add(c1, neg, out=c2)
    ok &= c0 == c2
    ok &= c1 <= 1
    ok &= ln > c0                                         # at least one digit
    # digits -> integer: '.' and '-' count as 0, so the mantissa is read as if '.' were a digit
    np.right_shift(g0, _SH7, out=g0)
    np.multiply(g0, _NIBBLE, out=g0)
    np.bitwise_and(w0, g0, out=w0)
    np.right_shift(g1, _SH7, out=g1)
    np.multiply(g1, _NIBBLE, out=g1)
    np.bitwise_and(w1, g1, out=w1)
    _pack8(w0)
    _pack8(w1)
    np.multiply(w0, _E8, out=w0)
    np.add(w0, w1, out=w0)                                # N = I * 10**(f+1) + F, F < 10**f
    np.subtract(d1, _ONE, out=d1)
    np.bitwise_count(d1, out=c1)
    np.subtract(d0, _ONE, out=d0)
    np.bitwise_count(d0, out=c2)
    np.left_shift(c2, 1, out=c2)
    np.add(c1, c2, out=c1)                                # decimal-point code, see _swar_tables
    out = w0.astype(np.float64)                           # exact: N < 10**16 and (checked) < 2**53 below
    ok &= w0 < _U(1 << 53)
    np.take(_P10, c1, out=fl, mode="clip")
    np.divide(out, fl, out=fl)
    np.floor(fl, out=fl)                                  # I, exact (the quotient is I + F/10**(f+1))
    np.multiply(fl, np.take(_NINE, c1), out=fl)
    np.subtract(out, fl, out=out)                         # I * 10**f + F, exact
    np.divide(out, np.take(_DEN, c1), out=out)            # one correctly rounded division
    np.negative(out, out=out, where=neg)
    return out, ok.copy(), is_int


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
        words, is_ws, edge = _WS.byte_buffers((n + _PAD + 24) // 8 + 1)
        buf = words.view(np.uint8)
        buf[:_PAD] = 32
        buf[_PAD:_PAD + n] = np.frombuffer(data, np.uint8)
        buf[_PAD + n:] = 32
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
        return self.data[self.starts[tok] - _PAD:self.ends[tok] - _PAD].decode("ascii", "replace")

    def line_of(self, tok: int) -> int:
        """1-based line of token ``tok``."""
        return int(np.searchsorted(self.newlines, self.starts[tok])) + 1

    def line_text(self, line0: int) -> str:
        a = 0 if line0 == 0 else int(self.newlines[line0 - 1]) + 1 - _PAD
        b = int(self.newlines[line0]) - _PAD if line0 < len(self.newlines) else len(self.data)
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
    vals, ok, is_int = _parse_tokens(tk.words, tk.buf, tk.starts, tk.ends)
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
