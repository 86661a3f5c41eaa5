"""Compiled parser for NTU ``.skeleton`` bytes (numba), used by :func:`read_skeleton` when numba is installed.

Size: one compiled kernel and the helpers numba inlines into it; split across modules, numba would
compile them separately and the parser loses its speed.

Two passes, no Python per token:

1. **Structural index**, 64 bytes at a time: byte classes from SWAR arithmetic on eight
   ``uint64`` words, gathered into 64-bit masks (one bit per byte) of token starts, token ends
   and line feeds, whose positions are extracted by counting trailing zeros.
2. **Walk and convert**: the grammar (frame count, body counts, 10-field body lines, 12-field
   joint lines) is checked against the token and line-feed positions, and every token is
   converted where it lies, straight into the arrays of
   :class:`~mmfusion.data.formats.skeleton.SkeletonSequence`. A token is read right-aligned from
   two 8-byte loads; its digits are classified and packed eight at a time with three multiplies
   (SWAR); the decimal point is taken out exactly in float64 (every integer involved < 2**53, one
   final correctly rounded division). Tokens with an exponent take a scalar path.

It accepts only the common form of the grammar and gives up (returns ``None``) on anything else
-- a malformed file, a '+' sign, a token it cannot convert exactly, non-ASCII bytes -- so that
the numpy parser of :mod:`mmfusion.data.formats.skeleton` handles the case and raises its precise
:class:`~mmfusion.errors.DataFormatError`. Whatever this parser accepts, it reads exactly as the
numpy parser does: every value equals Python's ``float(token)`` bit for bit (a decimal mantissa
``N < 2**53`` and a power of ten ``10**k``, ``k <= 22``, are exact doubles, so one IEEE division
or multiplication rounds correctly -- Clinger's fast path; NTU files write at most 7 significant
digits), body IDs are exact unsigned integers (up to 19 digits).

numba is optional: without it (or with ``MMFUSION_NO_NUMBA=1``, or on a big-endian machine)
:func:`parse` returns ``None`` and the numpy parser runs. The kernel is plain Python over numpy
arrays, so the tests run it uncompiled (:func:`parse_python`) where numba is missing.
Compilation is cached on disk (numba ``cache=True``); the first call in a fresh environment
compiles for a few seconds.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["backend", "parse", "parse_python"]

_FRONT = 16                        # spaces before the data: a right-aligned 16-byte window stays inside
_BACK = 80                         # spaces after it: whole 64-byte blocks and 16-byte loads stay inside

#: 10**k as exact doubles, k = 0..22 (the largest power of ten a double holds exactly)
_P10 = np.array([float(10**k) for k in range(23)], dtype=np.float64)
#: 10**k as integers, k = 0..8
_I10 = np.array([10**k for k in range(9)], dtype=np.int64)
_TWO53 = 1 << 53
_F32_MAX = float(np.finfo(np.float32).max)   # values beyond it become inf in float32: give up (numpy reports)

# uint64 constants: numba types a uint64 mixed with a plain int as float64, so every operand is uint64
_U = np.uint64
_H80, _M7F, _ONES = _U(0x8080808080808080), _U(0x7F7F7F7F7F7F7F7F), _U(0x0101010101010101)
_A50, _A46 = _U(0x5050505050505050), _U(0x4646464646464646)   # + these: bit 7 iff byte >= '0' / > '9'
_A5F, _A60 = _U(0x5F5F5F5F5F5F5F5F), _U(0x6060606060606060)   # + these: bit 7 iff byte > ' ' / >= ' '
_ZEROS, _DOT30 = _U(0x3030303030303030), _U(0x1E1E1E1E1E1E1E1E)     # '0' and '.' ^ '0' in every byte
_A76 = _U(0x7676767676767676)                                          # + this: bit 7 iff byte >= 10
_TAB, _LF, _CR = _U(0x0909090909090909), _U(0x0A0A0A0A0A0A0A0A), _U(0x0D0D0D0D0D0D0D0D)
_GATHER = _U(0x0102040810204080)       # bit 7 of byte k -> bit k of the top byte
_BYTE_INDEX = _U(0x0001020304050607)   # (0x80 << 8k) >> 7 * this >> 56 == k
_DEBRUIJN = _U(0x03F79D71B4CB0A89)
_M0F, _M2, _M3 = _U(0x0F0F0F0F0F0F0F0F), _U(0x00FF00FF00FF00FF), _U(0x0000FFFF0000FFFF)
_K1, _K2, _K3 = _U(10 * 256 + 1), _U(100 * 65536 + 1), _U(10000 * (1 << 32) + 1)
_S1, _S7, _S8, _S16, _S32, _S56, _S58, _S63 = (_U(k) for k in (1, 7, 8, 16, 32, 56, 58, 63))
_U0, _U1, _UFF, _TOP = _U(0), _U(1), _U(0xFF), _U(1 << 63)


def _tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Masks keeping the last L bytes of a 16-byte window (two words), L = 0..16; De Bruijn table."""
    keep0, keep1 = np.zeros(17, np.uint64), np.zeros(17, np.uint64)
    for n in range(17):
        m = bytes(0xFF if j >= 16 - n else 0 for j in range(16))
        keep0[n], keep1[n] = int.from_bytes(m[:8], "little"), int.from_bytes(m[8:], "little")
    debruijn = np.zeros(64, np.int64)
    for k in range(64):
        debruijn[((int(_DEBRUIJN) << k) & ((1 << 64) - 1)) >> 58] = k
    return keep0, keep1, debruijn


_KEEP0, _KEEP1, _DEBRUIJN_TZ = _tables()

# return codes of the kernel; anything but _OK sends the file to the numpy parser
_OK, _GIVE_UP = 0, 1


def _zero_bytes(x: np.uint64) -> np.uint64:
    """0x80 in every byte of ``x`` that is 0 (exact, no false positives)."""
    return ~(((x & _M7F) + _M7F) | x | _M7F)


def _gather(m: np.uint64) -> np.uint64:
    """Bit 7 of each byte of ``m`` -> bits 0..7 of the result (byte k -> bit k)."""
    return ((m >> _S7) * _GATHER) >> _S56


def _tz(x: np.uint64) -> int:
    """Trailing zeros of a non-zero uint64 (De Bruijn multiply)."""
    return _DEBRUIJN_TZ[((x & (~x + _U1)) * _DEBRUIJN) >> _S58]


def _popcount(x: np.uint64) -> int:
    """Set bits of a uint64 (SWAR)."""
    x = x - ((x >> _S1) & _U(0x5555555555555555))
    x = (x & _U(0x3333333333333333)) + ((x >> _U(2)) & _U(0x3333333333333333))
    x = (x + (x >> _U(4))) & _M0F
    return np.int64((x * _ONES) >> _S56)


def _pack8(t: np.uint64) -> np.uint64:
    """Eight digit values (0..9, first digit in the low byte) -> their integer."""
    t = ((t & _M0F) * _K1) >> _S8
    t = ((t & _M2) * _K2) >> _S16
    return ((t & _M3) * _K3) >> _S32


def _check_bytes(aligned: np.ndarray, nwords: int) -> bool:
    """All bytes ASCII, and no control characters but tab, CR and LF (the numpy parser reports them)."""
    bad = _U0
    for q in range(nwords):
        w = aligned[q]
        control = ~(w + _A60) & _H80
        allowed = _zero_bytes(w ^ _LF) | _zero_bytes(w ^ _TAB) | _zero_bytes(w ^ _CR)
        bad |= (w & _H80) | (control & ~allowed)
    return bad == _U0


def _index(aligned: np.ndarray, nwords: int, starts: np.ndarray, ends: np.ndarray,
           newlines: np.ndarray) -> tuple[int, int]:
    """Token starts, token ends (first blank after a token) and line feeds, 64 bytes at a time.

    Positions are written eight at a time without looking (writes past the count are
    overwritten later), so the only loop exits the CPU must guess are one per 8 tokens.
    Returns (tokens, line feeds); starts and ends are equally many by construction.
    """
    nt, ne, nn = 0, 0, 0
    carry = _U0                       # "not blank" flag of the previous block's last byte
    for q0 in range(0, nwords, 8):
        notblank, lf = _U0, _U0
        for r in range(8):
            w = aligned[_U(q0 + r)]
            sh = _U(8 * r)
            notblank |= _gather((w + _A5F) & _H80) << sh
            # bytes < 0x20 are only tab, LF and CR here (_check_bytes); of these LF alone has bit 0 clear
            lf |= _gather(~(w + _A60) & ~(w << _S7) & _H80) << sh
        before = (notblank << _S1) | carry
        carry = notblank >> _S63
        first = notblank & ~before
        last = ~notblank & before
        base = 8 * q0
        cs, ce = _popcount(first), _popcount(last)
        r = 0
        while r < cs:                 # one round for up to 8 tokens in the block
            for _ in range(8):
                starts[_U(nt + r)] = base + _tz(first | _TOP)   # an emptied mask gives a dummy 63
                first &= first - _U1
                r += 1
        r = 0
        while r < ce:
            for _ in range(8):
                ends[_U(ne + r)] = base + _tz(last | _TOP)
                last &= last - _U1
                r += 1
        nt += cs
        ne += ce
        while lf != _U0:
            newlines[_U(nn)] = base + _tz(lf)
            nn += 1
            lf &= lf - _U1
    return nt, nn


def _digits8(words: np.ndarray, i: int) -> tuple[int, int]:
    """The run of decimal digits starting at byte ``i``, looking at 8 bytes: (value, count 0..8)."""
    w = words[i]
    nondigit = ~((w + _A50) & ~(w + _A46)) & _H80
    if nondigit == _U0:
        k = _U(8)
    else:
        k = (((nondigit & (~nondigit + _U1)) >> _S7) * _BYTE_INDEX) >> _S56
    # the k digits moved to the top bytes, zeros (leading zeros) below; k == 0 gives 0
    t = _pack8((w ^ _ZEROS) << ((_U(8) - k) * _U(8) & _S63))
    kk = np.int64(k)
    return (np.int64(t) if kk > 0 else np.int64(0)), kk


def _count_at(words: np.ndarray, s: int, e: int) -> int:
    """Token ``[s, e)`` as a plain non-negative integer of at most 8 digits, else -1."""
    v, k = _digits8(words, s)
    return v if k == e - s and k > 0 else -1


def _uint_at(buf: np.ndarray, s: int, e: int) -> tuple[np.uint64, bool]:
    """Token ``[s, e)`` as an unsigned integer of at most 19 digits (exact in uint64)."""
    if e - s > 19:
        return _U0, False
    v = _U0
    for i in range(s, e):
        d = np.int64(buf[i]) - 48
        if d < 0 or d > 9:
            return _U0, False
        v = v * _U(10) + _U(d)
    return v, True


def _scalar_float(buf: np.ndarray, s: int, e: int, p10: np.ndarray) -> tuple[float, int]:
    """Token ``[s, e)`` read byte by byte (tokens with an exponent, long tokens): (value, kind).

    kind: 0 = give up (not a plain decimal, or not exactly convertible here), 1 = integer form
    (no '.' and no exponent), 2 = any other decimal.
    """
    i = s
    neg = buf[i] == 45
    if neg:
        i += 1
    mant, ndig, frac, dot = 0, 0, 0, False
    while i < e:
        c = np.int64(buf[i])
        if 48 <= c <= 57:
            if ndig >= 18:            # would not be exact (and could overflow)
                return 0.0, 0
            mant = mant * 10 + (c - 48)
            ndig += 1
            frac += 1 if dot else 0
        elif c == 46 and not dot:
            dot = True
        else:
            break
        i += 1
    if ndig == 0 or mant >= _TWO53:
        return 0.0, 0
    kind = 2 if dot else 1
    e10 = -frac
    if i < e:                         # exponent: E / e, optional sign, 1 to 3 digits
        c = buf[i]
        if c != 69 and c != 101:
            return 0.0, 0
        kind = 2
        i += 1
        eneg = False
        if i < e and (buf[i] == 45 or buf[i] == 43):
            eneg = buf[i] == 45
            i += 1
        if e - i < 1 or e - i > 3:
            return 0.0, 0
        ev = 0
        for j in range(i, e):
            d = np.int64(buf[j]) - 48
            if d < 0 or d > 9:
                return 0.0, 0
            ev = ev * 10 + d
        e10 += -ev if eneg else ev
    if mant == 0:
        v = 0.0
    elif -22 <= e10 <= 0:
        v = mant / p10[-e10]          # both exact: one correctly rounded division
    elif 0 < e10 <= 22:
        v = mant * p10[e10]
    else:
        return 0.0, 0
    if v > _F32_MAX:                  # cannot happen today (< 2**53 * 1e22 ~ 9e37); kept so a wider
        return 0.0, 0                 # exponent range never lets a float32 inf through
    return (-v if neg else v), kind


def _parse_run(buf: np.ndarray, words: np.ndarray, starts: np.ndarray, ends: np.ndarray, t0: int, m: int,
               out: np.ndarray, o: int, need_int: np.ndarray, p10: np.ndarray) -> bool:
    """Tokens ``t0 .. t0 + m - 1`` -> ``out[o : o + m]``; False = give up.

    ``need_int[_U(r)]``: token r must be in integer form (no '.', no exponent).
    """
    for r in range(m):
        s, e = starts[_U(t0 + r)], ends[_U(t0 + r)]
        neg = buf[_U(s)] == 45
        length = e - s - (1 if neg else 0)
        li = length if length < 16 else 16
        # the token right-aligned in two words as digit values (byte ^ '0'), the bytes before it cleared
        x0 = (words[_U(e - 16)] ^ _ZEROS) & _KEEP0[_U(li)]
        x1 = (words[_U(e - 8)] ^ _ZEROS) & _KEEP1[_U(li)]
        nd0 = ((x0 + _A76) | x0) & _H80                   # not a digit (value >= 10; ASCII)
        nd1 = ((x1 + _A76) | x1) & _H80
        y0, y1 = x0 ^ _DOT30, x1 ^ _DOT30                  # '.' -> 0; a '/' right after '.' also shows
        dt0 = (y0 - _ONES) & ~y0 & _H80                    # as a '.', which then makes two and gives up
        dt1 = (y1 - _ONES) & ~y1 & _H80
        dots = dt0 | (dt1 >> _S1)
        if 1 <= length <= 16 and nd0 == dt0 and nd1 == dt1 and (dots & (dots - _U1)) == _U0 \
                and length > (0 if dots == _U0 else 1):
            t0w = x0 & ~((nd0 >> _S7) * _UFF)
            t1w = x1 & ~((nd1 >> _S7) * _UFF)
            # take the '.' out: the digits before it move up one byte
            kind, f = 1, 0
            if dt1 != _U0:
                low = (dt1 >> _S7) - _U1
                t1w = (t1w & ~low) | ((t1w & low) << _S8) | (t0w >> _S56)
                t0w = t0w << _S8
                kind, f = 2, 7 - np.int64(((dt1 >> _S7) * _BYTE_INDEX) >> _S56)
            elif dt0 != _U0:
                low = (dt0 >> _S7) - _U1
                t0w = (t0w & ~low) | ((t0w & low) << _S8)
                kind, f = 2, 15 - np.int64(((dt0 >> _S7) * _BYTE_INDEX) >> _S56)
            mant = np.int64(_pack8(t0w)) * 100_000_000 + np.int64(_pack8(t1w))
            if mant < _TWO53:
                # both exact: one correctly rounded division; the sign without a branch (signs are random)
                v = (mant / p10[_U(f)]) * (1.0 - 2.0 * neg)
            else:
                v, kind = _scalar_float(buf, s, e, p10)
        else:                         # exponent, long or odd tokens
            v, kind = _scalar_float(buf, s, e, p10)
        if kind == 0:
            return False
        if need_int[_U(r)] and kind != 1:
            return False
        out[_U(o + r)] = v
    return True


def _lines_ok(starts: np.ndarray, nt: int, newlines: np.ndarray, nn: int, line: int, t: int, per_line: int,
              count: int) -> bool:
    """Lines ``line .. line + count - 1`` hold exactly ``per_line`` tokens each, from token ``t`` on."""
    for r in range(count):
        ln, t0 = line + r, t + r * per_line
        t1 = t0 + per_line
        if t1 > nt:
            return False
        if ln > 0 and (ln > nn or starts[t0] < newlines[ln - 1]):
            return False
        if ln < nn and (starts[t1 - 1] > newlines[ln] or (t1 < nt and starts[t1] < newlines[ln])):
            return False
    return True


def _kernel(buf: np.ndarray, words: np.ndarray, aligned: np.ndarray, n: int, starts: np.ndarray, ends: np.ndarray,
            newlines: np.ndarray, nj: int,
            p10: np.ndarray) -> tuple[int, int, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Parse the whole file: (code, num_frames, frame_index, body_id, body_int, lean, joints).

    ``buf`` holds ``_FRONT`` spaces, the ``n`` bytes of the file and at least ``_BACK`` spaces;
    ``words[i]`` is the little-endian uint64 at byte ``i`` of ``buf``, ``aligned`` the words at
    multiples of 8. ``starts``, ``ends`` (``n // 2 + 72`` each) and ``newlines`` (``n + 8``) are
    work arrays.
    """
    fail = (_GIVE_UP, 0, np.empty(0, np.int64), np.empty(0, np.uint64), np.empty((0, 7), np.int64),
            np.empty((0, 2), np.float64), np.empty((0, nj, 12), np.float64))
    nwords = (_FRONT + n + 1 + 63) // 64 * 8        # whole blocks, up to and past the first byte after the data
    if not _check_bytes(aligned, nwords):
        return fail
    nt, nn = _index(aligned, nwords, starts, ends, newlines)
    if nt == 0 or not _lines_ok(starts, nt, newlines, nn, 0, 0, 1, 1):
        return fail
    num_frames = _count_at(words, starts[0], ends[0])
    # every frame takes at least one line: a larger count is a malformed header, left to the numpy
    # parser for its error, and must not size the arrays below (99999999 frames = 240 GB)
    if num_frames < 0 or num_frames > nn + 1:
        return fail
    cap = max(min(num_frames, (nn + 1) // (2 + nj)), 1)   # bodies the file's lines can hold, at most
    frame_index = np.empty(cap, np.int64)
    body_id = np.empty(cap, np.uint64)
    body_int = np.empty((cap, 7), np.int64)
    lean = np.empty((cap, 2), np.float64)
    joints = np.empty((cap, nj, 12), np.float64)
    flat = joints.reshape(-1)
    body = np.empty(9, np.float64)
    body_ints = np.array([True, True, True, True, True, True, False, False, True])
    joint_ints = np.zeros(12 * nj, np.bool_)
    joint_ints[11::12] = True
    t, line, b = 1, 1, 0
    for f in range(num_frames):
        if not _lines_ok(starts, nt, newlines, nn, line, t, 1, 1):
            return fail
        nb = _count_at(words, starts[t], ends[t])
        if nb < 0 or nb * (2 + nj) > nn + 1 - line:   # more bodies than lines left: no allocation
            return fail
        t += 1
        line += 1
        if b + nb > cap:              # more than one body per frame on average: grow
            cap = max(cap * 2, b + nb)
            frame_index2 = np.empty(cap, np.int64)
            body_id2 = np.empty(cap, np.uint64)
            body_int2 = np.empty((cap, 7), np.int64)
            lean2 = np.empty((cap, 2), np.float64)
            joints2 = np.empty((cap, nj, 12), np.float64)
            frame_index2[:b] = frame_index[:b]
            body_id2[:b] = body_id[:b]
            body_int2[:b] = body_int[:b]
            lean2[:b] = lean[:b]
            joints2[:b] = joints[:b]
            frame_index, body_id, body_int, lean, joints = frame_index2, body_id2, body_int2, lean2, joints2
            flat = joints.reshape(-1)
        for _ in range(nb):
            # body line: ID, 6 integers, leanX, leanY, trackingState; then the joint count and nj joint lines
            if not _lines_ok(starts, nt, newlines, nn, line, t, 10, 1) \
                    or not _lines_ok(starts, nt, newlines, nn, line + 1, t + 10, 1, 1) \
                    or not _lines_ok(starts, nt, newlines, nn, line + 2, t + 11, 12, nj):
                return fail
            bid, ok = _uint_at(buf, starts[t], ends[t])
            if not ok or not _parse_run(buf, words, starts, ends, t + 1, 9, body, 0, body_ints, p10) \
                    or _count_at(words, starts[t + 10], ends[t + 10]) != nj \
                    or not _parse_run(buf, words, starts, ends, t + 11, 12 * nj, flat, b * nj * 12, joint_ints, p10):
                return fail
            body_id[b] = bid
            for k in range(6):
                body_int[b, k] = np.int64(body[k])
            body_int[b, 6] = np.int64(body[8])
            lean[b, 0] = body[6]
            lean[b, 1] = body[7]
            frame_index[b] = f
            t += 11 + 12 * nj
            line += 2 + nj
            b += 1
    if t != nt:                       # only blank space may follow the last frame
        return fail
    if b < cap:
        return (_OK, num_frames, frame_index[:b].copy(), body_id[:b].copy(), body_int[:b].copy(), lean[:b].copy(),
                joints[:b].copy())
    return _OK, num_frames, frame_index, body_id, body_int, lean, joints


_HELPERS = ("_zero_bytes", "_gather", "_tz", "_popcount", "_pack8", "_check_bytes", "_index", "_digits8",
            "_count_at", "_uint_at", "_scalar_float", "_parse_run", "_lines_ok")
_lock = threading.Lock()
_compiled: Callable[..., Any] | None = None
_backend: str | None = None


def _compile() -> str:
    """Compile the kernel with numba once per process; the name of the backend in use."""
    global _compiled, _backend
    with _lock:
        if _backend is not None:
            return _backend
        if os.environ.get("MMFUSION_NO_NUMBA", "") not in ("", "0") or sys.byteorder != "little":
            _backend = "numpy"
            return _backend
        try:
            import numba
        except ImportError:
            _backend = "numpy"
            return _backend
        g = _kernel.__globals__
        # the kernel calls its helpers by global name: compile them and rebind the names while
        # the kernel compiles (numba resolves them then), so one source serves numba and Python
        saved = {name: g[name] for name in _HELPERS}
        try:
            for name, fn in saved.items():
                g[name] = numba.njit(cache=True, nogil=True, error_model="numpy")(fn)
            g["_tz"] = _hardware_tz(numba) or g["_tz"]
            kernel = numba.njit(cache=True, nogil=True, error_model="numpy")(_kernel)
            kernel(*_WS.inputs(b"0\r\n"), 25, _P10)   # compile (or load the cache) now
        finally:
            g.update(saved)
        _compiled = kernel
        _backend = f"numba {numba.__version__}"
        return _backend


def _hardware_tz(numba: Any) -> Callable[..., Any] | None:
    """``_tz`` as one count-trailing-zeros instruction (numba's LLVM intrinsic), or None if unavailable."""
    try:
        from numba.cpython.unsafe.numbers import trailing_zeros
    except ImportError:               # an internal numba module: keep the portable De Bruijn version
        return None

    def tz(x: np.uint64) -> int:
        return np.int64(trailing_zeros(x))

    return numba.njit(cache=True, nogil=True, error_model="numpy")(tz)


def backend() -> str:
    """``"numba <version>"`` when the compiled parser is used, else ``"numpy"``."""
    return _backend if _backend is not None else _compile()


class _Workspace(threading.local):
    """Work arrays reused between calls (one set per thread): fresh large arrays cost a page
    fault per 4 KB on first touch, as much as the parsing itself."""

    def __init__(self) -> None:
        self.size = 0

    def inputs(self, data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, np.ndarray, np.ndarray,
                                           np.ndarray]:
        """(padded bytes, uint64 at every byte offset, uint64 at multiples of 8, data length, starts, ends,
        newlines) for the kernel."""
        n = len(data)
        size = (_FRONT + n + _BACK + 63) // 64 * 64
        if size > self.size:
            self.size = max(size, 2 * self.size)
            self.buf = np.empty(self.size, np.uint8)
            self.starts = np.empty(self.size // 2 + 72, np.int64)   # a token and its blank take >= 2 bytes
            self.ends = np.empty(self.size // 2 + 72, np.int64)
            self.newlines = np.empty(self.size + 8, np.int64)
        buf = self.buf[:size]
        buf[:_FRONT] = 32
        buf[_FRONT:_FRONT + n] = np.frombuffer(data, np.uint8)
        buf[_FRONT + n:] = 32
        words = np.ndarray((size - 7,), dtype=np.uint64, buffer=buf, strides=(1,))
        return buf, words, buf.view(np.uint64), n, self.starts, self.ends, self.newlines


_WS = _Workspace()


def _result(out: tuple[Any, ...]) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    code, num_frames, frame_index, body_id, body_int, lean, joints = out
    if code != _OK:
        return None
    return int(num_frames), frame_index, body_id, body_int, lean, joints


def parse(data: bytes, nj: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """(num_frames, frame_index, body_id, body_int, lean, joints) of a plain well-formed file, else None.

    None also when numba is not available; the caller then uses the numpy parser.
    """
    if _backend is None:
        _compile()
    if _compiled is None:
        return None
    return _result(_compiled(*_WS.inputs(data), nj, _P10))


def parse_python(data: bytes, nj: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                np.ndarray] | None:
    """The same kernel run as plain Python (slow; for tests on small inputs without numba)."""
    with np.errstate(over="ignore"):          # the SWAR multiplies wrap on purpose
        return _result(_kernel(*_WS.inputs(data), nj, _P10))
