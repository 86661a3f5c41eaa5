"""Out-of-range values and absurd counts in data files: named DataFormatError, before any allocation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mmfusion.data.formats import read_pku_labels, read_pku_skeleton, read_skeleton, read_ucla
from mmfusion.data.formats.skeleton import SkeletonSequence, format_skeleton, parse_skeleton_text
from mmfusion.data.formats.skeleton_fast import parse_python
from mmfusion.data.formats.synth_meta import read_synth_meta_file, validate_synth_meta
from mmfusion.data.ntu import load_missing_skeletons
from mmfusion.errors import DataFormatError


def _skeleton_text(frames: int = 3) -> str:
    xyz = np.full((1, frames, 25, 3), 0.5, np.float32)
    return format_skeleton(SkeletonSequence.from_arrays(xyz))


def _replace_first_joint_value(text: str, token: str) -> str:
    lines = text.split("\r\n")
    fields = lines[4].split(" ")          # line 5: the first joint of the first body
    fields[0] = token
    lines[4] = " ".join(fields)
    return "\r\n".join(lines)


@pytest.mark.parametrize("token", ["1E+39", "-3.5E+38", "1e39", "99999999999999999999999999999999999999999"])
@pytest.mark.parametrize("backend", ["auto", "numpy"])
def test_skeleton_value_beyond_float32(tmp_path: Path, token: str, backend: str) -> None:
    text = _replace_first_joint_value(_skeleton_text(), token)
    p = tmp_path / "S001C001P001R001A001.skeleton"
    p.write_bytes(text.encode())
    with pytest.raises(DataFormatError, match="float32 range") as info:
        read_skeleton(p, backend=backend)
    assert info.value.path == str(p) and info.value.line == 5
    assert parse_python(text.encode(), 25) is None   # the compiled kernel declines such files


def test_skeleton_largest_float32_value_is_accepted() -> None:
    text = _replace_first_joint_value(_skeleton_text(), "3.4E+38")
    seq = parse_skeleton_text(text, backend="numpy")
    assert np.isfinite(seq.to_array().astype(np.float32)).all()


@pytest.mark.parametrize("header", ["1\r\n999999999999\r\n", "1\r\n99999999\r\n", "2\r\n0\r\n999999999999\r\n",
                                    "99999999\r\n1\r\n"])
@pytest.mark.parametrize("backend", ["auto", "numpy"])
def test_absurd_counts_are_errors_not_memory_errors(header: str, backend: str) -> None:
    with pytest.raises(DataFormatError, match="end of file") as info:
        parse_skeleton_text(header, path="x.skeleton", backend=backend)
    assert info.value.line is not None
    assert parse_python(header.encode(), 25) is None


def test_header_claiming_many_bodies_after_real_ones() -> None:
    text = _skeleton_text(2)
    lines = text.split("\r\n")
    lines[29] = "999999999999"            # the last frame claims far more bodies than the file holds
    with pytest.raises(DataFormatError, match="999999999999 bodies"):
        parse_skeleton_text("\r\n".join(lines), backend="numpy")
    lines[29], lines[1] = "1", "999999999999"  # an earlier frame: the misaligned walk is named instead
    with pytest.raises(DataFormatError, match="expected 25 joints"):
        parse_skeleton_text("\r\n".join(lines), backend="numpy")


@pytest.mark.parametrize("label", [1.5, 3.0, "3", True, 0, 11, -1, None])
def test_ucla_label_must_be_an_integer_in_range(tmp_path: Path, label: object) -> None:
    p = tmp_path / "a01_s01_e00_v01.json"
    p.write_text(json.dumps({"file_name": "a01_s01_e00_v01", "skeletons": [[[0.0, 0.0, 1.0]] * 20],
                             "label": label}))
    with pytest.raises(DataFormatError, match="label must be an integer in 1..10"):
        read_ucla(p)


def test_ucla_value_beyond_float32(tmp_path: Path) -> None:
    p = tmp_path / "a01_s01_e00_v01.json"
    p.write_text(json.dumps({"file_name": "a01_s01_e00_v01", "skeletons": [[[1e39, 0.0, 1.0]] * 20], "label": 1}))
    with pytest.raises(DataFormatError, match="float32"):
        read_ucla(p)


@pytest.mark.parametrize(("line", "needle"), [
    ("3,inf,120,1", "finite integers"), ("3,10,nan,1", "finite integers"), ("3,10.5,20,1", "finite integers"),
    ("3,10,1e400,1", "finite integers"), ("0,10,20,1", "action id"), ("3,-4,20,1", "start frame"),
])
def test_pku_label_values(tmp_path: Path, line: str, needle: str) -> None:
    p = tmp_path / "0002-L.txt"
    p.write_text("1,1,50,1\n\n" + line + "\n")
    with pytest.raises(DataFormatError, match=needle) as info:
        read_pku_labels(p)
    assert info.value.line == 3           # the blank line counts


def test_pku_skeleton_line_numbers_count_blank_lines(tmp_path: Path) -> None:
    good = " ".join(["0.5"] * 150)
    p = tmp_path / "0002-L.txt"
    p.write_text(f"{good}\n\n\n {good}\n {' '.join(['0.5'] * 149)}\n")
    with pytest.raises(DataFormatError, match="149 values") as info:
        read_pku_skeleton(p)
    assert info.value.line == 5
    p.write_text(f"{good}\n\n {' '.join(['0.5'] * 149 + ['1e39'])}\n")
    with pytest.raises(DataFormatError, match="float32") as info:
        read_pku_skeleton(p)
    assert info.value.line == 3


def test_binary_missing_skeleton_list(tmp_path: Path) -> None:
    p = tmp_path / "missing.txt"
    p.write_bytes(b"S001C002P005R002A008\n\x1f\x8b\x08\x00\x00binary")
    with pytest.raises(DataFormatError, match="binary file") as info:
        load_missing_skeletons(p)
    assert info.value.line == 2
    p.write_bytes(b"S001C002P005R002A008\n\xff\xfe latin")
    with pytest.raises(DataFormatError, match="UTF-8"):
        load_missing_skeletons(p)


@pytest.mark.parametrize(("meta", "needle"), [
    ({"sizes": {"rgb": "big"}}, "sizes.rgb"),
    ({"sizes": {"rgb": [1080, None]}}, "sizes.rgb"),
    ({"sizes": {"depth": {"height": 424.5, "width": 512}}}, "sizes.depth"),
    ({"sizes": [1, 2]}, "sizes"),
    ({"intrinsics": {"depth": {"fx": "366", "fy": 366, "cx": 256, "cy": 208}}}, "intrinsics.depth.fx"),
    ({"intrinsics": {"depth": {"fx": 0, "fy": 366, "cx": 256, "cy": 208}}}, "focal length"),
    ({"intrinsics": {"fx": float("nan"), "fy": 1, "cx": 1, "cy": 1}}, "intrinsics.fx"),
    ({"intrinsics": {"depth": 5}}, "intrinsics.depth"),
    ({"classes": 5}, "classes"),
    ({"classes": [{"action": "1", "name": "x"}]}, r"classes\[0\]"),
    ({"classes": [{"action": 1, "name": 3}]}, r"classes\[0\]"),
    ({"classes": ["B01"]}, r"classes\[0\]"),
    ({"classes": [0, 1.5]}, r"classes\[1\]"),
    ({"fps": -30}, "fps"),
    ([1, 2], "JSON object"),
])
def test_synth_meta_wrong_types(tmp_path: Path, meta: object, needle: str) -> None:
    p = tmp_path / "mmfusion_synth.json"
    p.write_text(json.dumps(meta))
    with pytest.raises(DataFormatError, match=needle) as info:
        read_synth_meta_file(p)
    assert info.value.path == str(p)


def test_synth_meta_valid_and_garbled(tmp_path: Path) -> None:
    from mmfusion.data.synthetic import SynthConfig
    from mmfusion.data.synthetic.generate import synth_meta

    meta = json.loads(json.dumps(synth_meta(SynthConfig(), [])))   # what the generator writes
    assert validate_synth_meta(meta, "m.json") == meta
    p = tmp_path / "mmfusion_synth.json"
    p.write_text('{"sizes": {\n "rgb": [1, 2],\n}')
    with pytest.raises(DataFormatError, match="not valid JSON") as info:
        read_synth_meta_file(p)
    assert info.value.line == 3
