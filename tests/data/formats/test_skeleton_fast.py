"""The compiled ``.skeleton`` parser (mmfusion.data.formats.skeleton_fast) reads exactly what the numpy parser reads.

The kernel is plain Python over numpy arrays, so it is checked uncompiled (``parse_python``)
everywhere; where numba is installed the compiled ``parse`` is checked against it as well.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from mmfusion.data.formats import skeleton_fast
from mmfusion.data.formats.skeleton import (
    SkeletonSequence,
    _parse_bytes_numpy,
    format_skeleton,
    read_skeleton,
)
from mmfusion.errors import DataFormatError

HAS_NUMBA = importlib.util.find_spec("numba") is not None


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(np.uint8)


def _assert_same(fast: tuple | None, ref: SkeletonSequence) -> None:
    assert fast is not None
    num_frames, frame_index, body_id, body_int, lean, joints = fast
    assert num_frames == ref.num_frames
    for got, want in ((frame_index, ref.frame_index), (body_id, ref.body_id), (body_int, ref.body_int),
                      (lean, ref.lean), (joints, ref.joints)):
        assert got.dtype == want.dtype and got.shape == want.shape
        assert np.array_equal(_bits(got), _bits(want))          # bit for bit: -0.0 and 0.0 differ


def _fixture_sequence(rng: np.random.Generator, t: int = 6, m: int = 2) -> SkeletonSequence:
    xyz = np.round(rng.normal([0, 0, 3.0], 0.6, (m, t, 25, 3)), 7)
    present = rng.random((m, t)) > 0.3
    present[0, 0] = True
    return SkeletonSequence.from_arrays(xyz, depth_xy=np.round(rng.uniform(0, 512, (m, t, 25, 2)), 4),
                                        color_xy=np.round(rng.uniform(0, 1920, (m, t, 25, 2)), 3),
                                        tracking=rng.integers(0, 3, (m, t, 25)), present=present,
                                        orientation=np.round(rng.uniform(-1, 1, (m, t, 25, 4)), 7),
                                        lean=np.round(rng.uniform(-1, 1, (m, t, 2)), 6))


def test_real_files_bit_exact(real_samples: Path) -> None:
    for path in sorted((real_samples / "ntu" / "nturgbd_skeletons").glob("*.skeleton")):
        data = path.read_bytes()
        _assert_same(skeleton_fast.parse_python(data, 25), _parse_bytes_numpy(data, path, 25))


def test_written_files_take_the_fast_path_and_match() -> None:
    rng = np.random.default_rng(0)
    for seed in range(4):
        seq = _fixture_sequence(np.random.default_rng(seed))
        data = format_skeleton(seq).encode("ascii")
        _assert_same(skeleton_fast.parse_python(data, 25), _parse_bytes_numpy(data, None, 25))
    # LF line ends, extra blanks between tokens, trailing blank lines: still the fast path
    data = format_skeleton(_fixture_sequence(rng)).replace("\r\n", "\n").replace(" ", " \t ").encode() + b"\n \n"
    _assert_same(skeleton_fast.parse_python(data, 25), _parse_bytes_numpy(data, None, 25))
    # no bodies at all, and a file without a final line end
    for text in ("3\r\n0\r\n0\r\n0\r\n", "0", "1\r\n0"):
        _assert_same(skeleton_fast.parse_python(text.encode(), 25), _parse_bytes_numpy(text.encode(), None, 25))


def _one_joint_file(fields: list[str], nj: int = 1) -> bytes:
    body = "72057594037931101 0 1 1 1 1 0 -0.5 0.25 2"
    lines = ["1", "1", body, str(nj)] + [" ".join(fields)] * nj
    return ("\r\n".join(lines) + "\r\n").encode()


def _random_decimal(rng: np.random.Generator) -> str:
    kind = rng.integers(0, 6)
    digits = "".join(rng.choice(list("0123456789"), size=int(rng.integers(1, 18))))
    sign = "-" if rng.random() < 0.4 else ""
    if kind == 0:                                   # integer form
        return sign + digits
    cut = int(rng.integers(0, len(digits) + 1))
    tok = sign + digits[:cut] + "." + digits[cut:]
    if kind == 1:                                   # exponent, as .NET G7 writes small values
        return f"{tok}E{rng.choice(['-', '+', ''])}{int(rng.integers(0, 30)):02d}"
    if kind == 2:
        return sign + f"{rng.normal() * 10.0 ** rng.integers(-8, 8):.7G}".lstrip("-")
    return tok


def test_every_accepted_token_equals_python_float() -> None:
    rng = np.random.default_rng(1)
    taken = 0
    for i in range(400):
        fields = ["0.5"] * 11 + ["2"]
        fields[i % 11] = _random_decimal(rng)
        data = _one_joint_file(fields)
        fast = skeleton_fast.parse_python(data, 1)
        if fast is None:                            # declined: the numpy parser reads it (or reports it)
            continue
        taken += 1
        want = np.array([float(f) for f in fields])
        assert np.array_equal(_bits(fast[5][0, 0]), _bits(want)), fields
        _assert_same(fast, _parse_bytes_numpy(data, None, 1))
    assert taken > 250                              # most tokens are convertible exactly on the fast path


@pytest.mark.parametrize("token", ["1.2.3", ".", "-", "1e", "1E+1234", "+1.5", "1_0", "0x10", "nan", "inf",
                                   "12345678901234567890", "1.5/", "1./5", "--1", "1-2", "\u00e9"])
def test_odd_tokens_are_declined_or_exact(token: str) -> None:
    fields = ["0.5"] * 11 + ["2"]
    fields[3] = token
    data = _one_joint_file(fields)
    fast = skeleton_fast.parse_python(data, 1)
    try:
        want = float(token)
    except ValueError:
        want = None
    if fast is not None:                            # accepted only what float() reads, and read it exactly
        assert want is not None and np.isfinite(want)
        assert fast[5][0, 0, 3] == want
    elif want is not None and np.isfinite(want) and token.isascii() and "_" not in token:
        seq = _parse_bytes_numpy(data, None, 1)     # the numpy parser still reads what was declined
        assert seq.joints[0, 0, 3] == want


@pytest.mark.parametrize("text", [
    "",                                             # empty
    "2\r\n0\r\n",                                   # frame missing
    "1\r\n1\r\n",                                   # body missing
    "1\r\n0\r\n0\r\n",                              # extra line
    "1\r\n0 0\r\n",                                 # two tokens on a count line
    "-1\r\n",                                       # negative count
    "1\r\n\r\n0\r\n",                               # blank line inside
    "1\x0b\r\n0\r\n",                               # control character
])
def test_malformed_files_are_declined(text: str) -> None:
    assert skeleton_fast.parse_python(text.encode("latin-1"), 25) is None


def test_wrong_field_counts_and_integer_fields_are_declined() -> None:
    good = _one_joint_file(["0.5"] * 11 + ["2"])
    assert skeleton_fast.parse_python(good, 1) is not None
    assert skeleton_fast.parse_python(_one_joint_file(["0.5"] * 10 + ["2"]), 1) is None      # 11 fields
    assert skeleton_fast.parse_python(_one_joint_file(["0.5"] * 12 + ["2"]), 1) is None      # 13 fields
    assert skeleton_fast.parse_python(_one_joint_file(["0.5"] * 12), 1) is None              # trackingState 0.5
    assert skeleton_fast.parse_python(good.replace(b"\r\n1\r\n0.5", b"\r\n2\r\n0.5"), 1) is None   # joint count
    two_lines = good.replace(b"0.5 0.5 0.5 0.5 0.5 0.5", b"0.5 0.5 0.5\r\n0.5 0.5 0.5", 1)
    assert skeleton_fast.parse_python(two_lines, 1) is None                                  # a line split in two
    # the public reader still reports them precisely (through the numpy parser)
    with pytest.raises(DataFormatError, match="fields"):
        from mmfusion.data.formats.skeleton import parse_skeleton_text
        parse_skeleton_text(_one_joint_file(["0.5"] * 10 + ["2"]).decode(), num_joints=1)


def test_backend_switch_gives_identical_sequences(tmp_path: Path) -> None:
    seq = _fixture_sequence(np.random.default_rng(3), t=5)
    path = tmp_path / "S001C001P001R001A001.skeleton"
    path.write_text(format_skeleton(seq), newline="")
    auto, numpy_only = read_skeleton(path), read_skeleton(path, backend="numpy")
    assert auto == numpy_only and auto.path == numpy_only.path == str(path)
    assert skeleton_fast.backend() in ("numpy",) or skeleton_fast.backend().startswith("numba")
    with pytest.raises(ValueError, match="backend"):
        read_skeleton(path, backend="fast")


@pytest.mark.skipif(not HAS_NUMBA, reason="numba is not installed")
def test_compiled_parser_equals_the_python_kernel(real_samples: Path) -> None:
    assert skeleton_fast.backend().startswith("numba")
    rng = np.random.default_rng(5)
    cases = [(format_skeleton(_fixture_sequence(rng)).encode(), 25) for _ in range(3)]
    cases += [(_one_joint_file([_random_decimal(rng) for _ in range(11)] + ["1"]), 1) for _ in range(100)]
    cases += [(p.read_bytes(), 25) for p in sorted((real_samples / "ntu" / "nturgbd_skeletons").glob("*.skeleton"))]
    for data, nj in cases:
        fast, slow = skeleton_fast.parse(data, nj), skeleton_fast.parse_python(data, nj)
        assert (fast is None) == (slow is None)
        if fast is not None:
            assert fast[0] == slow[0]
            for a, b in zip(fast[1:], slow[1:]):
                assert np.array_equal(_bits(a), _bits(b))
