"""Depth PNGs, videos, NW-UCLA and PKU-MMD: real samples, round trips, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmfusion.data.formats import (
    format_pku_skeleton,
    format_ucla,
    read_depth_folder,
    read_depth_png,
    read_pku_labels,
    read_pku_skeleton,
    read_ucla,
    read_video,
    video_num_frames,
    write_depth_png,
    write_video,
)
from mmfusion.data.formats.depth import depth_frame_name
from mmfusion.errors import DataFormatError


@pytest.mark.real
def test_real_depth_folder(real_samples: Path) -> None:
    folder = real_samples / "ntu" / "nturgb+d_depth_masked" / "S001C001P001R001A058"
    d = read_depth_folder(folder, indices=[0, 35, 70], expected_size=(424, 512))
    assert d.shape == (3, 424, 512) and d.dtype == np.uint16
    person = d[0][d[0] > 0]
    assert person.min() >= 3300 and person.max() <= 4200      # millimetres, two people at ~3.3-4.2 m
    with pytest.raises(DataFormatError, match="out of range"):
        read_depth_folder(folder, indices=[71])


def test_depth_png_round_trip_and_checks(tmp_path: Path) -> None:
    d = np.random.default_rng(0).integers(0, 8000, (53, 64)).astype(np.uint16)
    p = write_depth_png(tmp_path / "f" / depth_frame_name(0), d)
    assert p.name == "MDepth-00000001.png"
    assert np.array_equal(read_depth_png(p), d)
    with pytest.raises(DataFormatError, match="expected 424x512"):
        read_depth_png(p, expected_size=(424, 512))
    eight = tmp_path / "eight.png"
    Image.fromarray((d // 40).astype(np.uint8)).save(eight)
    with pytest.raises(DataFormatError, match="16-bit"):
        read_depth_png(eight)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not a png")
    with pytest.raises(DataFormatError, match="junk.png"):
        read_depth_png(junk)


def test_depth_folder_gap_is_an_error(tmp_path: Path) -> None:
    d = np.ones((4, 4), np.uint16)
    for i in (0, 1, 3):
        write_depth_png(tmp_path / depth_frame_name(i), d)
    with pytest.raises(DataFormatError, match="missing \\[3\\]"):
        read_depth_folder(tmp_path)


def test_video_round_trip_is_lossless(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (6, 36, 64, 3), dtype=np.uint8)
    p = write_video(tmp_path / "x_rgb.avi", rgb)
    assert video_num_frames(p) == 6
    assert np.array_equal(read_video(p), rgb)
    assert np.array_equal(read_video(p, [5, 0, 0]), rgb[[5, 0, 0]])
    ir = rng.integers(0, 256, (4, 53, 64), dtype=np.uint8)
    assert np.array_equal(read_video(write_video(tmp_path / "x_ir.avi", ir), gray=True), ir)
    with pytest.raises(DataFormatError, match="out of range"):
        read_video(p, [6])


def test_bad_videos(tmp_path: Path) -> None:
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    with pytest.raises(DataFormatError, match="empty"):
        read_video(empty)
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"RIFF" + bytes(100))
    with pytest.raises(DataFormatError, match="junk.avi"):
        read_video(junk)
    with pytest.raises(DataFormatError, match="not found"):
        read_video(tmp_path / "nope.avi")


def _cut(path: Path, fraction: float, out: Path) -> Path:
    data = path.read_bytes()
    out.write_bytes(data[: int(len(data) * fraction)])
    return out


@pytest.mark.parametrize("codec", ["h264", "mpeg4"])
def test_truncated_video_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, codec: str) -> None:
    """A cut h264/mpeg4 AVI decodes its first frames without any decoder error: the count is checked."""
    from mmfusion.data.formats import video

    # noise: the frame data, not the AVI header, makes up the file, so a cut lands inside the frames
    frames = np.random.default_rng(0).integers(0, 256, (103, 72, 128, 3), dtype=np.uint8)
    full = write_video(tmp_path / "full_rgb.avi", frames, codec=codec)
    assert video.container_frame_count(full) == 103 and video_num_frames(full) == 103
    cut = _cut(full, 0.3, tmp_path / "cut_rgb.avi")
    assert video.container_frame_count(cut) == 103        # the header still declares every frame
    for read in (video_num_frames, read_video, lambda p: read_video(p, [0])):
        with pytest.raises(DataFormatError, match="of the 103 frames the container declares") as info:
            read(cut)
        assert info.value.path == str(cut)
    monkeypatch.setattr(video, "_decord", None)             # the PyAV fallback (may also hit the cut packet)
    with pytest.raises(DataFormatError, match="of the 103 frames|cannot decode"):
        read_video(cut)
    assert read_video(cut, [0, 3]).shape == (2, 72, 128, 3)  # frames before the cut, decoded lazily
    with pytest.raises(DataFormatError, match="of the 103 frames|cannot decode"):
        read_video(cut, [90])
    assert len(read_video(full)) == 103


def test_frame_count_tolerance(tmp_path: Path) -> None:
    from mmfusion.data.formats.video import FRAME_COUNT_TOLERANCE, check_frame_count

    check_frame_count("v.avi", 101, 103)                   # an encoder dropping a trailing frame or two
    check_frame_count("v.avi", 15, None)                   # no declared count: nothing to compare
    with pytest.raises(DataFormatError, match="only 100 of the 103"):
        check_frame_count("v.avi", 103 - FRAME_COUNT_TOLERANCE - 1, 103)


@pytest.mark.real
def test_real_truncated_rgb_clip(real_samples: Path, tmp_path: Path) -> None:
    p = real_samples / "ntu" / "nturgb+d_rgb" / "S001C001P001R001A001_rgb.avi"
    cut = _cut(p, 0.3, tmp_path / "S001C001P001R001A001_rgb.avi")
    with pytest.raises(DataFormatError, match="of the 103 frames"):
        video_num_frames(cut)


@pytest.mark.real
def test_real_rgb_clip(real_samples: Path) -> None:
    p = real_samples / "ntu" / "nturgb+d_rgb" / "S001C001P001R001A001_rgb.avi"
    assert video_num_frames(p) == 103
    frames = read_video(p, [0, 102])
    assert frames.shape == (2, 1080, 1920, 3) and frames.dtype == np.uint8 and frames.std() > 10


@pytest.mark.real
def test_real_ucla_files_round_trip(real_samples: Path) -> None:
    files = sorted((real_samples / "nw_ucla").glob("*.json"))
    assert len(files) == 3
    for f in files:
        s = read_ucla(f)
        obj = json.loads(f.read_text())
        assert s.skeletons.shape[1:] == (20, 3)
        assert format_ucla(obj["file_name"], obj["skeletons"], obj["label"]) == f.read_text()
        assert s.split == ("test" if f.stem.endswith("v03") else "train")
    assert read_ucla(real_samples / "nw_ucla" / "a12_s10_e01_v03.json").label == 10


def test_ucla_bad_file(tmp_path: Path) -> None:
    p = tmp_path / "a01_s01_e00_v01.json"
    p.write_text(json.dumps({"file_name": "a01_s01_e00_v01", "skeletons": [[[0, 0, 0]] * 19], "label": 1}))
    with pytest.raises(DataFormatError, match="20, 3"):
        read_ucla(p)


@pytest.mark.real
def test_real_pku_file_round_trip(real_samples: Path) -> None:
    p = real_samples / "pku_mmd" / "A10N08-L.txt"
    arr = read_pku_skeleton(p)
    assert arr.shape == (2, 1040, 25, 3)
    assert format_pku_skeleton(np.loadtxt(p)) == p.read_text()


def test_pku_bad_rows_and_labels(tmp_path: Path) -> None:
    p = tmp_path / "0002-L.txt"
    p.write_text(format_pku_skeleton(np.zeros((3, 150))).replace("0.000000", "x", 1))
    with pytest.raises(DataFormatError, match="line 1|:1:"):
        read_pku_skeleton(p)
    lab = tmp_path / "0002-L_label.txt"
    lab.write_text("3,10,50,1\n7,60,90,2\n")
    assert [a.action for a in read_pku_labels(lab)] == [3, 7]
    lab.write_text("3,10,50\n")
    with pytest.raises(DataFormatError, match="0002-L_label.txt:1"):
        read_pku_labels(lab)


@pytest.mark.real
def test_real_depth_folder_layout(real_samples: Path) -> None:
    from mmfusion.data.formats import depth_frame_paths

    folder = real_samples / "ntu" / "nturgb+d_depth_masked" / "S001C001P001R001A058"
    paths = depth_frame_paths(folder)
    assert len(paths) == 71 and paths[0].name == "MDepth-00000001.png" and paths[-1].name == "MDepth-00000071.png"
    with Image.open(paths[0]) as im:
        assert im.mode == "I;16" and im.size == (512, 424)
    frame = read_depth_png(paths[0], expected_size=(424, 512))
    assert frame.dtype == np.uint16 and int((frame > 0).sum()) == 10_234
    assert frame[frame > 0].min() >= 3300 and frame.max() <= 4200


def test_depth_png_full_16_bit_range_and_mode(tmp_path: Path) -> None:
    d = np.array([[0, 1, 255, 256], [32767, 32768, 65534, 65535]], dtype=np.uint16)
    p = write_depth_png(tmp_path / "d.png", d)
    with Image.open(p) as im:
        assert im.mode == "I;16"
    assert p.read_bytes()[24] == 16                       # PNG IHDR bit depth
    assert np.array_equal(read_depth_png(p), d)
    with pytest.raises(ValueError):
        write_depth_png(tmp_path / "neg.png", np.array([[-1, 0]]))
    rgb = tmp_path / "rgb.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(rgb)
    with pytest.raises(DataFormatError, match="rgb.png"):
        read_depth_png(rgb)


def test_depth_folder_errors_name_the_folder(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="not found"):
        read_depth_folder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFormatError, match="empty: no MDepth"):
        read_depth_folder(tmp_path / "empty")
    mixed = tmp_path / "mixed"
    write_depth_png(mixed / depth_frame_name(0), np.ones((4, 4), np.uint16))
    write_depth_png(mixed / depth_frame_name(1), np.ones((4, 5), np.uint16))
    with pytest.raises(DataFormatError, match="expected 4x4"):
        read_depth_folder(mixed, expected_size=(4, 4))


def test_pyav_fallback_reads_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mmfusion.data.formats import video

    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (5, 24, 32, 3), dtype=np.uint8)
    p = write_video(tmp_path / "a_rgb.avi", rgb)
    via_decord = read_video(p, [4, 1])
    monkeypatch.setattr(video, "_decord", None)
    assert video_num_frames(p) == 5
    assert np.array_equal(read_video(p, [4, 1]), via_decord) and np.array_equal(via_decord, rgb[[4, 1]])
    assert np.array_equal(read_video(p), rgb)
    ir = rng.integers(0, 256, (3, 24, 32), dtype=np.uint8)
    assert np.array_equal(read_video(write_video(tmp_path / "a_ir.avi", ir), gray=True), ir)
    with pytest.raises(DataFormatError, match="out of range"):
        read_video(p, [5])
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"RIFF" + bytes(64))
    with pytest.raises(DataFormatError, match="junk.avi"):
        read_video(junk)


def test_ucla_labels_and_writer(tmp_path: Path) -> None:
    from mmfusion.data.formats.ucla import ucla_label, write_ucla

    assert [ucla_label(a) for a in (1, 6, 8, 9, 11, 12)] == [1, 6, 7, 8, 9, 10]
    for missing in (7, 10):
        with pytest.raises(ValueError):
            ucla_label(missing)
    sk = [[[0.1, -0.2, 3.0]] * 20] * 2
    p = write_ucla(tmp_path / "a08_s02_e01_v03.json", "a08_s02_e01_v03", sk, 7)
    assert p.read_text() == json.dumps({"file_name": "a08_s02_e01_v03", "skeletons": sk, "label": 7})
    s = read_ucla(p)
    assert s.skeletons.shape == (2, 20, 3) and s.label == 7 and s.action == 8 and s.view == 3 and s.split == "test"


def test_pku_round_trip_synthetic(tmp_path: Path) -> None:
    from mmfusion.data.formats.pku import write_pku_skeleton

    arr = np.round(np.random.default_rng(2).normal(size=(2, 7, 25, 3)), 6).astype(np.float32)
    arr[1, 3:] = 0                                         # second person leaves
    p = write_pku_skeleton(tmp_path / "0002-L.txt", arr)
    text = p.read_text()
    assert text.endswith("\n") and "\n " in text and len(text.splitlines()) == 7
    back = read_pku_skeleton(p)
    assert back.shape == (2, 7, 25, 3) and np.allclose(back, arr, atol=1e-6)
    assert format_pku_skeleton(np.loadtxt(p)) == text
