"""NTU .skeleton reader/writer: real files byte for byte, synthetic round trips, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmfusion.data.formats.skeleton import (
    SkeletonSequence,
    format_skeleton,
    parse_skeleton_text,
    read_skeleton,
    write_skeleton,
)
from mmfusion.errors import DataFormatError

REAL = {"S001C001P001R001A011": (82, 1), "S001C003P008R002A058": (70, 2), "S002C001P003R001A003": (100, 1),
        "S003C001P015R001A034": (71, 1), "S004C002P003R001A017": (124, 1)}


@pytest.mark.real
@pytest.mark.parametrize("name", sorted(REAL))
def test_real_files_parse_and_rewrite_byte_exact(real_samples: Path, name: str, tmp_path: Path) -> None:
    path = real_samples / "ntu" / "nturgbd_skeletons" / f"{name}.skeleton"
    seq = read_skeleton(path)
    frames, bodies = REAL[name]
    assert seq.num_frames == frames
    assert len(seq.track_ids) == bodies
    assert seq.joints.shape == (seq.num_records, 25, 12)
    assert format_skeleton(seq).encode() == path.read_bytes()
    out = write_skeleton(tmp_path / f"{name}.skeleton", seq)
    assert out.read_bytes() == path.read_bytes()


@pytest.mark.real
def test_real_two_body_file_to_array(real_samples: Path) -> None:
    seq = read_skeleton(real_samples / "ntu" / "nturgbd_skeletons" / "S001C003P008R002A058.skeleton")
    arr = seq.to_array(max_bodies=2)
    assert arr.shape == (2, 70, 25, 3) and arr.dtype == np.float32
    assert seq.track_ids[0] == 72057594037944738            # uint64 kept exactly
    assert np.allclose(arr[0, 0, 0], [0.7201789, 0.1647426, 3.561895])
    assert (np.abs(arr).sum(axis=(2, 3)) > 0).all()        # both people in every frame
    assert (seq.tracking_state >= 1).all()


def _random_sequence(rng: np.random.Generator, m: int = 2, t: int = 6) -> SkeletonSequence:
    xyz = np.round(rng.normal(size=(m, t, 25, 3)), 5)
    present = np.ones((m, t), dtype=bool)
    present[1, 2:4] = False
    present[:, 5] = False                                   # a frame without bodies
    return SkeletonSequence.from_arrays(xyz, depth_xy=np.round(rng.uniform(0, 512, (m, t, 25, 2)), 3),
                                        color_xy=np.round(rng.uniform(0, 1920, (m, t, 25, 2)), 3),
                                        tracking=rng.integers(0, 3, (m, t, 25)), present=present)


def test_synthetic_round_trip(tmp_path: Path) -> None:
    seq = _random_sequence(np.random.default_rng(0))
    path = write_skeleton(tmp_path / "S001C001P001R001A001.skeleton", seq)
    back = read_skeleton(path)
    assert back == seq
    assert back.bodies_per_frame.tolist() == [2, 2, 1, 1, 2, 0]
    assert format_skeleton(back) == path.read_bytes().decode()
    arr = back.to_array(2, "xyz")
    assert np.all(arr[1, 2:4] == 0) and np.all(arr[:, 5] == 0)


def test_empty_frames_keep_their_index() -> None:
    text = "3\r\n0\r\n" + "1\r\n" + "1 0 0 0 0 0 0 0 0 2\r\n25\r\n" + "1 2 3 0 0 0 0 0 0 0 0 2\r\n" * 25 + "0\r\n"
    seq = parse_skeleton_text(text)
    assert seq.num_frames == 3 and seq.frame_index.tolist() == [1]
    assert seq.to_array(1)[0, 1, 0].tolist() == [1, 2, 3]
    assert format_skeleton(seq) == text


def test_energy_selection_keeps_most_active_tracks() -> None:
    rng = np.random.default_rng(1)
    xyz = np.zeros((3, 5, 25, 3))
    xyz[0] = 1.0                                   # static body
    xyz[1] = rng.normal(size=(5, 25, 3))           # moving
    xyz[2] = rng.normal(size=(5, 25, 3)) * 2       # moving more
    seq = SkeletonSequence.from_arrays(xyz, present=np.ones((3, 5), bool))
    assert np.allclose(seq.to_array(2, select="first")[0], 1.0)
    picked = seq.to_array(2, select="energy")
    # the two most active bodies, highest energy first (mmaction2 orders the slots by energy)
    assert np.allclose(picked[0], xyz[2]) and np.allclose(picked[1], xyz[1])


def _mmaction2_energy(slot: np.ndarray) -> float:
    """gen_ntu_rgbd_raw.get_nonzero_std, written out: std per axis over the non-zero frames' joints."""
    s = slot[slot.sum(-1).sum(-1) != 0]
    return float(s[:, :, 0].std() + s[:, :, 1].std() + s[:, :, 2].std()) if len(s) else 0.0


def test_energy_selection_is_mmaction2_rule() -> None:
    t, v = 4, 25
    p = np.zeros((t, v, 3))
    p[..., 0] = np.linspace(-1, 1, v)              # static, joints spread along x: per-axis std 0.59
    p[..., 2] = 3.0
    q = np.zeros((t, v, 3))
    q[..., 1] = np.array([0.0, 0.1, 0.0, 0.1])[:, None]   # all joints at one point, moving 0.1 m in y
    q[..., 2] = 2.0
    s = np.full((t, v, 3), 0.5)                     # static point: energy 0
    # every frame holds the records Q, P, S (in that order)
    seq = SkeletonSequence.from_arrays(np.stack([q, p, s]), body_ids=[8, 7, 9], present=np.ones((3, t), bool))
    picked = seq.to_array(2, select="energy")
    # per-axis std: P (0.59) > Q (0.05); summed per-joint std would rank Q (25 * 0.05) above P (0)
    assert _mmaction2_energy(p) > _mmaction2_energy(q) > 0 == _mmaction2_energy(s)
    np.testing.assert_allclose(picked, np.stack([p, q]))

    # slots are the k-th record of each frame, not body IDs: frame 3 lists Q before P
    text = format_skeleton(SkeletonSequence.from_arrays(np.stack([p, q]), body_ids=[7, 8],
                                                        present=np.ones((2, t), bool)))
    seq2 = parse_skeleton_text(text)
    order = np.array([0, 1, 2, 3, 4, 5, 7, 6])     # records: (P, Q), (P, Q), (P, Q), (Q, P)
    seq2 = SkeletonSequence(t, seq2.frame_index, seq2.body_id[order], seq2.body_int, seq2.lean, seq2.joints[order])
    slot0 = np.concatenate([p[:3], q[3:]])
    slot1 = np.concatenate([q[:3], p[3:]])
    assert _mmaction2_energy(slot0) > _mmaction2_energy(slot1)
    np.testing.assert_allclose(seq2.to_array(2, select="energy"), np.stack([slot0, slot1]), atol=1e-6)
    np.testing.assert_allclose(seq2.to_array(1, select="energy")[0], slot0, atol=1e-6)
    np.testing.assert_allclose(seq2.to_array(1, "color", select="energy")[0], 0.0)   # fields follow the slots
    assert seq2.to_array(2, select="first")[0, 3, 0, 2] == 3.0   # "first": body ID 7 (P) stays in slot 0


GOOD_BODY = "72057594037931101 0 1 1 1 1 0 0.02764709 0.05745083 2"
GOOD_JOINT = ("0.2181153 0.1725972 3.785547 277.419 191.8218 1036.233 519.1677 "
              "-0.2059419 0.05349901 0.9692109 -0.1239193 2")


def _file(body: str = GOOD_BODY, joints: list[str] | None = None, nj: str = "25") -> str:
    joints = joints if joints is not None else [GOOD_JOINT] * 25
    return "\r\n".join(["1", "1", body, nj, *joints]) + "\r\n"


@pytest.mark.parametrize(("text", "line", "needle"), [
    ("", 1, "empty"),
    (_file().replace("\r\n", "\n", 3)[:200], None, "end of file"),
    (_file(nj="24", joints=[GOOD_JOINT] * 24), 4, "expected 25 joints"),
    (_file(body=GOOD_BODY + " 7"), 3, "10"),
    (_file(joints=[GOOD_JOINT] * 10 + [GOOD_JOINT + " 1"] + [GOOD_JOINT] * 14), 15, "12"),
    (_file(joints=[GOOD_JOINT] * 3 + [GOOD_JOINT.replace("3.785547", "abc")] + [GOOD_JOINT] * 21), 8, "non-numeric"),
    (_file(joints=[GOOD_JOINT] * 5 + [GOOD_JOINT.replace("3.785547", "nan")] + [GOOD_JOINT] * 19), 10, "NaN"),
    ("x\r\n", 1, "integer"),
    (_file() + "0\r\n", 30, "unexpected line"),
])
def test_bad_files_name_file_and_line(tmp_path: Path, text: str, line: int | None, needle: str) -> None:
    path = tmp_path / "S001C001P001R001A001.skeleton"
    path.write_bytes(text.encode())
    with pytest.raises(DataFormatError) as info:
        read_skeleton(path)
    msg = str(info.value)
    assert str(path) in msg and needle.lower() in msg.lower()
    if line is not None:
        assert info.value.line == line, msg


def test_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "t.skeleton"
    path.write_bytes(_file().encode()[:-200])
    with pytest.raises(DataFormatError, match="t.skeleton"):
        read_skeleton(path)


@pytest.mark.parametrize(("text", "line", "needle"), [
    (_file(joints=[GOOD_JOINT] * 7 + [GOOD_JOINT.replace("277.419", "-inf")] + [GOOD_JOINT] * 17), 12, "infinite"),
    (_file(joints=[GOOD_JOINT] * 7 + [GOOD_JOINT.replace("277.419", "1e999")] + [GOOD_JOINT] * 17), 12, "infinite"),
    (_file(body=GOOD_BODY.replace("0.02764709", "x0.1")), 3, "non-numeric"),
    (_file(body=GOOD_BODY.replace("72057594037931101", "-5")), 3, "body ID"),
    (_file(body=GOOD_BODY.replace(" 0 1 1 ", " 0.5 1 1 ")), 3, "integer"),
    (_file(joints=[GOOD_JOINT] * 24 + [GOOD_JOINT[:-1] + "1.5"]), 29, "integer"),
    ("1\r\n-1\r\n", 2, "body count"),
    ("2\r\n0\r\n", 3, "end of file"),
    (_file().replace("\r\n", "\r\n\x00", 1), 2, "control character"),
])
def test_more_bad_files(tmp_path: Path, text: str, line: int, needle: str) -> None:
    path = tmp_path / "bad.skeleton"
    path.write_bytes(text.encode())
    with pytest.raises(DataFormatError) as info:
        read_skeleton(path)
    assert str(path) in str(info.value) and needle.lower() in str(info.value).lower(), str(info.value)
    assert info.value.line == line, str(info.value)


def test_vectorised_numbers_equal_python_float() -> None:
    """The SWAR number parser must give float(token) bit for bit, or leave the token to Python."""
    from mmfusion.data.formats.skeleton import _Tokens
    from mmfusion.data.formats.skeleton_swar import parse_tokens as _parse_tokens

    rng = np.random.default_rng(0)
    toks = [format(v, f) for v, f in zip(rng.normal(size=6000) * 10.0 ** rng.integers(-9, 9, 6000),
                                         rng.choice([".7G", ".3f", ".10f", ".15G", "g", ".0f"], 6000))]
    toks += ["0", "-0", "2", "-.5", "5.", ".", "-", "1.2.3", "1-2", "--1", "1e5", "abc", "nan", "+5", "/5",
             "5./", "00012.500", "9007199254740993", "1234567890123456", "12345678901234567"]
    tk = _Tokens((" ".join(toks) + "\r\n").encode(), None)
    vals, ok, is_int = _parse_tokens(tk.words, tk.buf, tk.starts, tk.ends)
    assert len(vals) == len(toks) and ok.mean() > 0.6
    for tok, v, good, integer in zip(toks, vals.tolist(), ok.tolist(), is_int.tolist()):
        if good:
            assert v == float(tok) and np.signbit(v) == np.signbit(float(tok)), tok
            assert integer == ("." not in tok), tok
    rejected = {t for t, g in zip(toks, ok.tolist()) if not g}
    assert {".", "-", "1.2.3", "1-2", "--1", "1e5", "abc", "nan", "+5", "/5", "5./", "9007199254740993"} <= rejected


def test_lf_line_ends_and_large_file_chunks(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    seq = SkeletonSequence.from_arrays(np.round(rng.normal(size=(2, 200, 25, 3)), 6), present=np.ones((2, 200), bool))
    text = format_skeleton(seq)
    back = parse_skeleton_text(text.replace("\r\n", "\n"))      # > 1 chunk of tokens, LF only
    assert back == seq and format_skeleton(back) == text


@pytest.mark.real
def test_real_file_fields_ids_and_tracking(real_samples: Path) -> None:
    seq = read_skeleton(real_samples / "ntu" / "nturgbd_skeletons" / "S001C003P008R002A058.skeleton")
    assert seq.body_ids == seq.track_ids and len(seq.body_ids) == 2
    assert all(isinstance(i, int) and i > 2**56 for i in seq.body_ids)
    for fields, c in (("xyz", 3), ("depth", 2), ("color", 2), ("all", 12)):
        arr = seq.to_array(2, fields)
        assert arr.shape == (2, 70, 25, c) and arr.dtype == np.float32
    allf = seq.to_array(2, "all")
    assert np.array_equal(allf[..., 3:5], seq.to_array(2, "depth")) and np.array_equal(allf[..., 5:7],
                                                                                        seq.to_array(2, "color"))
    depth = seq.to_array(2, "depth")
    assert (depth[..., 0] > 0).all() and (depth[..., 0] < 512).all() and (depth[..., 1] < 424).all()
    tr = seq.tracking_array(2)
    assert tr.shape == (2, 70, 25) and set(np.unique(tr).tolist()) <= {1, 2}
    assert np.array_equal(tr[0, 0], seq.tracking_state[0])
    assert seq.body_int.shape == (seq.num_records, 7) and seq.lean.shape == (seq.num_records, 2)


def test_to_array_slots_follow_body_id_tracks() -> None:
    xyz = np.zeros((3, 4, 25, 3))
    xyz[..., 0] = np.arange(1, 4)[:, None, None]
    present = np.array([[1, 1, 0, 0], [0, 1, 1, 1], [0, 0, 0, 1]], bool)
    seq = SkeletonSequence.from_arrays(xyz, body_ids=[7, 2**64 - 1, 5], present=present)
    arr = seq.to_array(2)
    assert seq.body_ids == [7, 2**64 - 1, 5]
    assert arr[0, :, 0, 0].tolist() == [1, 1, 0, 0] and arr[1, :, 0, 0].tolist() == [0, 2, 2, 2]
    assert seq.present(2).tolist() == [[True, True, False, False], [False, True, True, True]]
    back = parse_skeleton_text(format_skeleton(seq))
    assert back.body_ids == [7, 2**64 - 1, 5]
