"""The vectorised numpy tokeniser and exact SWAR decimal parser behind :func:`~.skeleton.read_skeleton`.

Used when numba is absent and for every file the compiled parser (:mod:`.skeleton_fast`)
declines; :mod:`.skeleton` walks the grammar on the tokens this module converts. Input: the
file's bytes in an 8-byte aligned ``uint64`` buffer; output: token start/end offsets and their
float64 values (Python ``float(token)`` bit for bit).
"""

from __future__ import annotations

import threading

import numpy as np

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

PAD = 16                        # spaces before the data, so every right-aligned 16-byte window is inside
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


WORKSPACE = _Workspace()


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


def parse_tokens(words: np.ndarray, buf: np.ndarray, starts: np.ndarray,
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
    (w0, w1, g0, g1, d0, d1, tmp), (ln, q), (fl,), (c0, c1, c2), (ok, neg) = WORKSPACE.token_buffers(n)
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
