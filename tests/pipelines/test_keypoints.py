"""``mmfusion keypoints`` (pipelines/keypoints.py): the pose-extraction tool and its file format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mmfusion.data.formats.video import read_video, write_video
from mmfusion.data.layouts import COCO17, NTU25
from mmfusion.errors import ConfigError
from mmfusion.pipelines.detectors import GivenKeypoints, MediaPipeDetector
from mmfusion.pipelines.keypoints import extract, load, main, save
from mmfusion.pipelines.mediapipe_pose import MP33_JOINTS, mediapipe_available, mp33_to_ntu25

needs_mediapipe = pytest.mark.skipif(not mediapipe_available(), reason="mediapipe==0.10.14 not installed")


@pytest.fixture(scope="module")
def short_clip(real_samples: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 12 frames of the real NTU clip at 960 x 540 (lossless ffv1)."""
    frames = read_video(real_samples / "ntu" / "nturgb+d_rgb" / "S001C001P001R001A001_rgb.avi", list(range(12)))
    return write_video(tmp_path_factory.mktemp("clip") / "clip.avi", np.ascontiguousarray(frames[:, ::2, ::2]))


@pytest.fixture()
def blank_clip(tmp_path: Path) -> Path:
    return write_video(tmp_path / "blank.avi", np.full((5, 64, 96, 3), 90, np.uint8))


@pytest.mark.real
@needs_mediapipe
def test_npz_output_is_the_detector_output(short_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "kp.npz"
    assert main([str(short_clip), "--out", str(out), "--detector", "mediapipe", "--layout", "ntu25",
                 "--mirrored", "--chunk", "5", "--max-persons", "2"]) == 0
    with np.load(out, allow_pickle=False) as z:   # no pickle anywhere
        assert set(z.files) == {"keypoints", "scores", "img_shape", "total_frames", "layout", "joints", "labels",
                                "detector", "video"}
    d = load(out)
    assert d["keypoints"].shape == (2, 12, 25, 2) and d["scores"].shape == (2, 12, 25)
    assert d["img_shape"].tolist() == [540, 960] and d["total_frames"] == 12
    assert d["layout"] == "ntu25" and d["labels"] == "anatomical" and list(d["joints"]) == list(NTU25.joints)
    assert (d["scores"][0] > 0).all() and not d["scores"][1].any()
    # decoding in chunks of 5 gives what one run over all frames gives, mirrored to anatomical sides
    frames = read_video(short_clip)
    k33, v33 = MediaPipeDetector().landmarks(frames, np.arange(12))
    k25, s25 = mp33_to_ntu25(k33, v33)
    np.testing.assert_allclose(d["keypoints"][0], k25[:, list(NTU25.flip)], atol=1e-3)
    np.testing.assert_allclose(d["scores"][0], s25[:, list(NTU25.flip)], atol=1e-6)


@pytest.mark.real
@needs_mediapipe
def test_coco17_file_feeds_the_pipeline(short_clip: Path, tmp_path: Path) -> None:
    res = extract(short_clip, "mediapipe", "coco17", max_persons=1)
    path = save(res, tmp_path / "kp.npz")
    given = GivenKeypoints.from_npz(path)
    assert given.labels == "appearance" and given.keypoints.shape == (1, 12, 17, 2)
    det = given.detect(np.zeros((3, 540, 960, 3), np.uint8), np.array([0, 5, 11]))
    np.testing.assert_array_equal(det.keypoints[0], res["keypoints"][0, [0, 5, 11]])
    # JSON holds the same
    js = save(res, tmp_path / "kp.json")
    back = load(js)
    np.testing.assert_allclose(back["keypoints"], res["keypoints"])
    assert json.loads(js.read_text())["joints"] == list(COCO17.joints)


@needs_mediapipe
def test_mediapipe33_layout_and_empty_video(blank_clip: Path) -> None:
    res = extract(blank_clip, "mediapipe", "mediapipe33", mirrored=True, max_persons=1)
    assert res["keypoints"].shape == (1, 5, 33, 2) and not res["scores"].any()
    assert res["joints"] == list(MP33_JOINTS)


def test_bad_options(blank_clip: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="COCO-17"):
        extract(blank_clip, "keypointrcnn", "ntu25")
    with pytest.raises(ConfigError, match="layout"):
        extract(blank_clip, "mediapipe", "smpl24")
    with pytest.raises(ConfigError, match=".npz or .json"):
        save({"keypoints": np.zeros((1, 1, 17, 2))}, tmp_path / "kp.pkl")
    # a clear error, and exit status 2, when the Keypoint R-CNN weights are absent
    assert main([str(blank_clip), "--out", str(tmp_path / "k.npz"), "--detector", "keypointrcnn",
                 "--detector-weights", str(tmp_path / "absent.pth")]) == 2
    assert not (tmp_path / "k.npz").exists()


def test_ntu_npz_layout_is_refused_by_the_pipeline(tmp_path: Path) -> None:
    from mmfusion.errors import DataFormatError

    p = tmp_path / "kp.npz"
    np.savez(p, keypoints=np.zeros((1, 4, 25, 2), np.float32), layout=np.asarray("ntu25"))
    with pytest.raises(DataFormatError, match="coco17"):
        GivenKeypoints.from_npz(p)
