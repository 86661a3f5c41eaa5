"""PYSKL pickles (restricted unpickling) and CTR-GCN npz files, fixtures written here."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from mmfusion.data.formats.ctrgcn_npz import read_ctrgcn_npz, write_ctrgcn_npz
from mmfusion.data.formats.pyskl import read_pyskl, safe_load_pickle
from mmfusion.errors import DataFormatError


def _pyskl_obj(two_d: bool = False) -> dict:
    rng = np.random.default_rng(0)
    anns = []
    for i, (name, m, t) in enumerate([("S001C001P001R001A001", 1, 5), ("S001C002P002R001A002", 2, 7),
                                      ("S002C001P003R002A050", 2, 4)]):
        ann = {"frame_dir": name, "label": i, "img_shape": (1080, 1920), "original_shape": (1080, 1920),
               "total_frames": t}
        if two_d:
            ann["keypoint"] = rng.normal(size=(m, t, 17, 2)).astype(np.float32)
            ann["keypoint_score"] = rng.uniform(size=(m, t, 17)).astype(np.float16)
        else:
            ann["keypoint"] = rng.normal(size=(m, t, 25, 3)).astype(np.float16)
        anns.append(ann)
    return {"split": {"xsub_train": [anns[0]["frame_dir"], anns[2]["frame_dir"]],
                      "xsub_val": [anns[1]["frame_dir"]]}, "annotations": anns}


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_pyskl_3d_round_trip(tmp_path: Path, protocol: int) -> None:
    obj = _pyskl_obj()
    p = tmp_path / "ntu60_3danno.pkl"
    p.write_bytes(pickle.dumps(obj, protocol=protocol))
    ann = read_pyskl(p)
    assert ann.names == [a["frame_dir"] for a in obj["annotations"]]
    assert ann.labels.tolist() == [0, 1, 2] and ann.total_frames.tolist() == [5, 7, 4]
    x = ann.to_arrays()
    assert x.shape == (3, 3, 7, 25, 2) and x.dtype == np.float32
    kp = obj["annotations"][1]["keypoint"].astype(np.float32)
    assert np.array_equal(x[1], kp.transpose(3, 1, 2, 0))
    assert np.all(x[0, :, :, :, 1] == 0) and np.all(x[0, :, 5:] == 0)  # padded person and frames
    train = read_pyskl(p, split="xsub_train")
    assert train.names == ["S001C001P001R001A001", "S002C001P003R002A050"]  # annotation order
    assert train.to_arrays(num_frames=3, num_person=1).shape == (2, 3, 3, 25, 1)
    with pytest.raises(DataFormatError, match="no split"):
        read_pyskl(p, split="xset_train")


def test_pyskl_2d_adds_score_channel(tmp_path: Path) -> None:
    obj = _pyskl_obj(two_d=True)
    p = tmp_path / "ntu60_2d.pkl"
    p.write_bytes(pickle.dumps(obj, protocol=2))
    x = read_pyskl(p).to_arrays()
    assert x.shape == (3, 3, 7, 17, 2)
    assert np.allclose(x[0, 2, :5, :, 0], obj["annotations"][0]["keypoint_score"][0].astype(np.float32))


class _Evil:
    def __reduce__(self):  # would run a shell command on a plain pickle.load
        return (os.system, ("echo should-never-run",))


def test_code_running_pickle_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "evil.pkl"
    obj = _pyskl_obj()
    obj["annotations"][0]["label"] = _Evil()
    p.write_bytes(pickle.dumps(obj, protocol=2))
    with pytest.raises(DataFormatError, match="refused to unpickle.*system") as err:
        read_pyskl(p)
    assert str(p) in str(err.value)
    q = tmp_path / "eval.pkl"
    q.write_bytes(b"cbuiltins\neval\n(S'1+1'\ntR.")
    with pytest.raises(DataFormatError, match="builtins.eval"):
        safe_load_pickle(q)


def test_pyskl_bad_structure(tmp_path: Path) -> None:
    p = tmp_path / "bad.pkl"
    p.write_bytes(pickle.dumps({"annotations": [{"frame_dir": "x", "label": 0, "keypoint": np.zeros((5, 25))}]}))
    with pytest.raises(DataFormatError, match="keypoint must be"):
        read_pyskl(p)
    p.write_bytes(b"not a pickle")
    with pytest.raises(DataFormatError, match=str(p.name)):
        read_pyskl(p)


def _npz_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    x_train = rng.normal(size=(4, 300, 150)).astype(np.float32)
    x_train[0, :, 75:] = 0  # single actor
    x_test = rng.normal(size=(2, 300, 150)).astype(np.float32)
    y_train = np.eye(60)[[0, 5, 59, 5]]
    y_test = np.eye(60)[[1, 2]]
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def test_ctrgcn_npz(tmp_path: Path) -> None:
    arr = _npz_arrays()
    p = tmp_path / "NTU60_CS.npz"
    np.savez(p, **arr)
    data, labels, names = read_ctrgcn_npz(p, "train")
    assert data.shape == (4, 3, 300, 25, 2) and data.dtype == np.float32
    assert labels.tolist() == [0, 5, 59, 5] and names[3] == "train_000003"
    # joint v of person m at frame t: x[n, t, m*75 + v*3 + c]
    assert data[1, 2, 10, 7, 1] == arr["x_train"][1, 10, 75 + 7 * 3 + 2]
    assert np.all(data[0, :, :, :, 1] == 0)
    td, tl, _ = read_ctrgcn_npz(p, "test")
    assert td.shape == (2, 3, 300, 25, 2) and tl.tolist() == [1, 2]
    q = write_ctrgcn_npz(tmp_path / "again.npz", (data, labels), (td, tl), 60)
    with np.load(q) as f:
        assert np.array_equal(f["x_train"], arr["x_train"]) and np.array_equal(f["y_test"], arr["y_test"])


def test_ctrgcn_npz_errors(tmp_path: Path) -> None:
    arr = _npz_arrays()
    p = tmp_path / "bad.npz"
    np.savez(p, x_train=arr["x_train"])
    with pytest.raises(DataFormatError, match="missing key"):
        read_ctrgcn_npz(p)
    y = arr["y_train"].copy()
    y[2, 3] = 1
    np.savez(p, x_train=arr["x_train"], y_train=y)
    with pytest.raises(DataFormatError, match="row 2 is not one-hot"):
        read_ctrgcn_npz(p)
    np.savez(p, x_train=np.array([None, 1], dtype=object), y_train=y)
    with pytest.raises(DataFormatError, match=p.name):
        read_ctrgcn_npz(p)
