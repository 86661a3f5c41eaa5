"""Layout registry: trees, flip maps, part groups, correspondences."""

from __future__ import annotations

import numpy as np
import pytest

from mmfusion.data.layouts import (
    COCO17,
    LAYOUTS,
    NTU25,
    NTU25_TO_COCO17,
    SkeletonLayout,
    convert,
    correspondence,
    get_layout,
)
from mmfusion.errors import ConfigError

ALL = ["ntu25", "ucla20", "coco17", "openpose18", "h36m17", "smpl24", "smplx42", "mhad43", "mediapipe33"]
NAMED_TREES = ["ntu25", "ucla20", "coco17", "openpose18", "h36m17", "smpl24", "mediapipe33"]


def test_registry_has_the_layout_zoo() -> None:
    assert set(ALL) <= set(LAYOUTS)
    sizes = {n: get_layout(n).num_joints for n in ALL}
    assert sizes == {"ntu25": 25, "ucla20": 20, "coco17": 17, "openpose18": 18, "h36m17": 17, "smpl24": 24,
                     "smplx42": 42, "mhad43": 43, "mediapipe33": 33}
    with pytest.raises(ConfigError, match="unknown skeleton layout"):
        get_layout("kinect99")


@pytest.mark.parametrize("name", NAMED_TREES)
def test_bones_form_one_tree(name: str) -> None:
    lay = get_layout(name)
    assert len(lay.roots) == 1
    assert len(lay.bones) == lay.num_joints - 1
    assert np.isfinite(lay.hop_distance()).all()  # connected


@pytest.mark.parametrize("name", ALL)
def test_flip_is_an_involution_and_mirrors_bones(name: str) -> None:
    lay = get_layout(name)
    f = np.array(lay.flip)
    assert (f[f] == np.arange(lay.num_joints)).all()
    bones = set(lay.bones)
    assert {(lay.flip[c], lay.flip[p]) for c, p in bones} == bones


@pytest.mark.parametrize("name", NAMED_TREES)
def test_flip_pairs_left_with_right_names(name: str) -> None:
    lay = get_layout(name)
    for j, k in enumerate(lay.flip):
        a, b = lay.joints[j].lower(), lay.joints[k].lower()
        if "left" in a:
            assert b == a.replace("left", "right")
        elif "right" not in a:
            assert j == k


def test_grandparents_and_skip_bones() -> None:
    lay = NTU25
    assert lay.grandparents[6] == 4  # WristLeft -> ElbowLeft -> ShoulderLeft
    assert lay.grandparents[20] == 20  # root
    assert lay.grandparents[1] == 1 and lay.grandparents[0] == 20  # BRL JointToKB pairs (1, 1), (0, 20)
    assert (6, 4) in lay.skip_bones
    assert all(lay.parents[lay.parents[c]] == g for c, g in lay.skip_bones)


def test_ctrgcn_tree_and_legacy_objects_unchanged() -> None:
    one_based = [(1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9), (11, 10),
                 (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18), (20, 19), (22, 23),
                 (23, 8), (24, 25), (25, 12)]
    assert sorted(NTU25.bones) == sorted((a - 1, b - 1) for a, b in one_based)
    assert NTU25.center == 1 and NTU25_TO_COCO17[5] == 4 and COCO17.flip[1] == 2


def test_psumnet_parts() -> None:
    body, hand, leg = (NTU25.part("psumnet", p) for p in ("body", "hand", "leg"))
    assert body == tuple(range(25))
    assert hand == (20, 4, 5, 6, 7, 21, 22, 8, 9, 10, 11, 23, 24)  # feeder_ntu.py order, 13 joints
    assert leg == (0, 12, 13, 14, 15, 16, 17, 18, 19)  # 9 joints
    # the two sub-streams together miss exactly SpineMid, Neck and Head
    assert set(range(25)) - set(hand) - set(leg) == {1, 2, 3}
    sub = NTU25.sub_layout(leg)
    assert sub.num_joints == 9 and sub.roots == (0,)
    assert sub.joints[sub.parents[5]] == "SpineBase"  # HipRight hangs from the pelvis
    hand_l = NTU25.sub_layout(hand)
    assert hand_l.joints[hand_l.parents[1]] == "SpineShoulder"
    with pytest.raises(ConfigError, match="no part"):
        NTU25.part("psumnet", "tail")


def test_brl_and_finetec_parts_partition_the_joints() -> None:
    up, low = NTU25.part("brl", "upper"), NTU25.part("brl", "lower")
    assert set(up) == set(range(1, 12)) | set(range(20, 25)) and set(low) == {0, *range(12, 20)}
    assert not set(up) & set(low) and len(up) + len(low) == 25
    regions = COCO17.part_groups["finetec"]
    assert list(regions) == ["head", "left_arm", "right_arm", "left_leg", "right_leg"]
    joints = [j for r in regions.values() for j in r]
    assert sorted(joints) == list(range(17))


def test_invalid_layouts_are_refused() -> None:
    with pytest.raises(ConfigError, match="involution"):
        SkeletonLayout("bad", ("a", "b", "c"), (0, 0, 0), (1, 2, 0))
    with pytest.raises(ConfigError, match="cycle"):
        SkeletonLayout("bad", ("a", "b", "c"), (0, 2, 1), (0, 1, 2))


def test_correspondences() -> None:
    w = correspondence("ntu25", "coco17")
    assert w.shape == (17, 25) and np.allclose(w.sum(1), 1)
    assert (w.argmax(1) == np.array(NTU25_TO_COCO17)).all()
    # chained: ntu25 -> coco17 -> openpose18; the neck is the shoulders' mean
    x = np.random.default_rng(0).normal(size=(3, 5, 25, 2))
    op = convert(x, "ntu25", "openpose18")
    assert op.shape == (3, 5, 18, 2)
    assert np.allclose(op[:, :, 1], (x[:, :, 4] + x[:, :, 8]) / 2)
    sm = convert(x, "ntu25", "smpl24")
    assert np.allclose(sm[:, :, 16], x[:, :, 4])  # left shoulder
    back = convert(sm, "smpl24", "ntu25")
    assert np.allclose(back[:, :, 4], x[:, :, 4])
    assert np.allclose(convert(x, "ntu25", "ntu25"), x)
    coco = convert(x, "ntu25", "coco17")
    ntu = convert(coco, "coco17", "ntu25")  # a 2-D detector's joints back on the Kinect tree
    assert np.allclose(ntu[:, :, 8], x[:, :, 8]) and np.allclose(ntu[:, :, 0], (x[:, :, 12] + x[:, :, 16]) / 2)
    with pytest.raises(ConfigError, match="no joint correspondence"):
        correspondence("mhad43", "ntu25")
