"""Skeleton preprocessing: denoising, centring, crop-resize, PreNormalize3D, bone/motion streams.

Hand-made arrays where the right answer is known.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmfusion.data.layouts import NTU25
from mmfusion.data.preprocess import (
    BodyTrack,
    center_origin,
    center_skeleton,
    crop_resize_positions,
    denoise_bodies,
    denoise_tracks,
    interpolate_frames,
    noisy_frame_mask,
    pack_actors,
    prenormalize_3d,
    random_rotation,
    subtract_origin,
    to_ctvm,
    to_mtvc,
    tracks_from_arrays,
    tracks_from_sequence,
    valid_crop_resize,
)
from mmfusion.data.skeleton.streams import bone, motion
from mmfusion.errors import DataFormatError

V = 25


def upright(t: int, x0: float = 0.0, wiggle: float = 0.0, seed: int = 0) -> np.ndarray:
    """(t, 25, 3) tall thin body: y-spread 1.6 m, x-spread 0.4 m (a valid, non-noisy body)."""
    rng = np.random.default_rng(seed)
    base = np.zeros((V, 3), np.float32)
    base[:, 1] = np.linspace(-0.8, 0.8, V)
    base[:, 0] = np.linspace(-0.2, 0.2, V)[::-1] * np.cos(np.arange(V))
    base[:, 2] = 3.0
    j = np.repeat(base[None], t, 0)
    j[..., 0] += x0
    j += wiggle * rng.standard_normal(j.shape).astype(np.float32)
    return j


def wide(t: int) -> np.ndarray:
    """(t, 25, 3) body lying sideways: x-spread 1.6 > 0.8 * y-spread 0.4 (noisy in every frame)."""
    j = upright(t)
    return j[..., [1, 0, 2]].copy()


def track(bid: int, start: int, joints: np.ndarray) -> BodyTrack:
    return BodyTrack(bid, np.arange(start, start + len(joints)), joints.astype(np.float32),
                     np.full((len(joints), V, 2), float(bid), np.float32))


def test_noisy_frame_mask_threshold() -> None:
    assert not noisy_frame_mask(upright(3)).any()
    assert noisy_frame_mask(wide(3)).all()
    j = upright(1)
    # x-spread exactly 0.8 * y-spread is still valid (CTR-GCN uses <=)
    j[0, :, 0] = np.linspace(0, 0.8 * 1.6, V)
    assert not noisy_frame_mask(j)[0]


def test_short_body_is_dropped() -> None:
    main = track(1, 0, upright(40, wiggle=0.01))
    short = track(2, 5, upright(10, x0=1.0, wiggle=0.5))  # more motion, but only 10 frames
    kept, dropped = denoise_tracks([main, short])
    assert [t.body_id for t in kept] == [1]
    assert dropped[0][0] == 2 and "length 10" in dropped[0][1]
    # 12 frames survive the length filter (threshold is <= 11)
    kept, _ = denoise_tracks([main, track(3, 5, upright(12, x0=1.0))])
    assert {t.body_id for t in kept} == {1, 3}


def test_wide_body_is_dropped_and_last_body_never() -> None:
    main = track(1, 0, upright(30, wiggle=0.01))
    kept, dropped = denoise_tracks([track(7, 0, wide(30)), main])
    assert [t.body_id for t in kept] == [1]
    assert dropped[0][0] == 7 and "spread" in dropped[0][1]
    # two wide bodies: the spread filter stops at one survivor
    kept, dropped = denoise_tracks([track(7, 0, wide(30)), track(8, 0, wide(30))])
    assert [t.body_id for t in kept] == [8] and [d[0] for d in dropped] == [7]


def test_noise_ratio_threshold() -> None:
    # 20 frames of 30 wide = 0.667 < 0.69754 -> kept; 21 of 30 = 0.7 -> dropped
    for n_wide, expect_kept in ((20, True), (21, False)):
        j = upright(30)
        j[:n_wide] = wide(n_wide)
        kept, _ = denoise_tracks([track(1, 0, upright(30, wiggle=0.01)), track(2, 0, j)])
        assert (2 in [t.body_id for t in kept]) == expect_kept


def test_single_body_file_is_never_denoised() -> None:
    kept, dropped = denoise_tracks([track(5, 0, wide(5))])
    assert [t.body_id for t in kept] == [5] and dropped == []


def test_sort_by_motion() -> None:
    calm = track(1, 0, upright(30, wiggle=0.001))
    busy = track(2, 0, upright(30, wiggle=0.2, seed=1))
    kept, _ = denoise_tracks([calm, busy])
    assert [t.body_id for t in kept] == [2, 1]


def test_pack_non_overlapping_bodies_into_one_slot() -> None:
    a = track(1, 0, upright(20))
    b = track(2, 25, upright(15, x0=2.0))   # after a: joins slot 0
    c = track(3, 5, upright(30, x0=-2.0))   # overlaps slot 0 -> slot 1
    d = track(4, 10, upright(12))           # overlaps both -> dropped
    joints, colors, slots, dropped = pack_actors([a, b, c, d], num_frames=45)
    assert slots == [[1, 2], [3]]
    assert [x[0] for x in dropped] == [4]
    np.testing.assert_array_equal(joints[0, :20], a.joints)
    np.testing.assert_array_equal(joints[0, 25:40], b.joints)
    assert not joints[0, 20:25].any()  # gap between a and b stays empty
    np.testing.assert_array_equal(joints[1, 5:35], c.joints)
    assert colors[0, 30, 0, 0] == 2.0 and colors[1, 30, 0, 0] == 3.0


def test_intervals_sharing_one_frame_do_not_overlap() -> None:
    a = track(1, 0, upright(20))       # frames 0..19
    b = track(2, 19, upright(15))      # starts at 19: shares frame 19 only
    for quirks in (False, True):
        joints, _, slots, _ = pack_actors([a, b], 40, ctrgcn_quirks=quirks)
        assert slots == [[1, 2], []]
        # the shared frame: the first-packed track keeps it; CTR-GCN lets the later one overwrite it
        np.testing.assert_array_equal(joints[0, 19], b.joints[0] if quirks else a.joints[19])
        np.testing.assert_array_equal(joints[0, 20:34], b.joints[1:])
    c = track(3, 18, upright(15))      # shares frames 18 and 19: overlaps in both modes
    for quirks in (False, True):
        _, _, slots, _ = pack_actors([a, c], 40, ctrgcn_quirks=quirks)
        assert slots == [[1], [3]]


def test_ctrgcn_quirks_renumber_a_body_with_a_gap() -> None:
    """CTR-GCN (get_raw_skes_data.py) numbers a body's frames consecutively from its first one."""
    t = 42
    xyz = np.zeros((2, t, V, 3), np.float32)
    present = np.zeros((2, t), bool)
    a_frames = [*range(0, 10), *range(15, 20), *range(21, 40)]   # gap 10..14 (B is there), frame 20 empty
    b_frames = [*range(0, 20), *range(21, 40)]
    present[0, a_frames] = present[1, b_frames] = True
    xyz[0] = upright(t, wiggle=0.3, seed=1)   # A moves more: actor 1
    xyz[1] = upright(t, x0=1.5, wiggle=0.05, seed=2)
    xyz *= present[..., None, None]
    tracks = tracks_from_arrays(xyz, present, body_ids=[11, 22])
    out = denoise_bodies(tracks, num_frames=t, ctrgcn_quirks=True, keep_frame_index=False)

    # the official algorithm step by step:
    # 1. frames without bodies (20, 40, 41) are dropped: 39 valid frames, numbered 0..38
    # 2. each body's records are stacked and its interval is [first, first + 1, ...]:
    #    A: 34 records -> [0, 33]; B: 39 records -> [0, 38]
    # 3. A has the larger motion: actor 1 = A; B overlaps it -> actor 2 (virtual interval [0, 0])
    # 4. joints[start:end + 1] = records; all-zero rows removed (none here: B is everywhere)
    expected = np.zeros((2, 39, V, 3), np.float32)
    expected[0, :34] = xyz[0, a_frames]
    expected[1, :39] = xyz[1, b_frames]
    assert out.body_ids == [[11], [22]]
    np.testing.assert_array_equal(out.joints, expected)
    np.testing.assert_array_equal(out.frame_index, [f for f in range(40) if f != 20])
    # kept at CTR-GCN's file frames
    full = denoise_bodies(tracks, num_frames=t, ctrgcn_quirks=True)
    np.testing.assert_array_equal(full.joints[:, out.frame_index], expected)
    assert not full.joints[:, [20, 40, 41]].any()
    # the default keeps every record at its own frame (A absent during its gap)
    own = denoise_bodies(tracks, num_frames=t)
    np.testing.assert_array_equal(own.joints, xyz)
    assert np.abs(own.joints[0, 15:20] - full.joints[0, 15:20]).max() > 0.1


def test_denoise_keeps_frame_index_and_drops_noise() -> None:
    t = 30
    xyz = np.zeros((3, t, V, 3), np.float32)
    xyz[0, 2:28] = upright(26, wiggle=0.02)          # actor, with empty frames 0, 1, 28, 29
    xyz[1, 4:14] = upright(10, x0=1.0, wiggle=0.3)    # 10 frames: noise
    xyz[2, 2:28] = wide(26)                           # wide: noise
    tracks = tracks_from_arrays(xyz, body_ids=[11, 22, 33])
    out = denoise_bodies(tracks, num_frames=t)
    assert out.joints.shape == (2, t, V, 3) and out.colors.shape == (2, t, V, 2)
    np.testing.assert_array_equal(out.frame_index, np.arange(t))
    np.testing.assert_array_equal(out.joints[0], xyz[0])
    assert not out.joints[1].any()
    assert {d[0] for d in out.dropped} == {22, 33}
    assert out.present[0].tolist() == [False, False] + [True] * 26 + [False, False]
    # CTR-GCN mode: empty frames removed, original indices reported
    out2 = denoise_bodies(tracks, num_frames=t, keep_frame_index=False)
    assert out2.joints.shape[1] == 26
    np.testing.assert_array_equal(out2.frame_index, np.arange(2, 28))
    np.testing.assert_array_equal(out2.joints[0], xyz[0, 2:28])


def test_denoise_without_bodies_raises() -> None:
    with pytest.raises(DataFormatError, match="no body"):
        denoise_bodies([], num_frames=5, path="x.skeleton")


def test_center_on_spine_mid_of_first_valid_frame() -> None:
    x = np.zeros((2, 5, V, 3), np.float32)
    x[0, 1:] = upright(4) + np.array([1.0, 2.0, 3.0], np.float32)
    x[1, 3:] = upright(2, x0=0.5)
    origin = x[0, 1, NTU25.center].copy()
    y = center_skeleton(x)
    np.testing.assert_allclose(y[0, 1, NTU25.center], 0.0, atol=1e-6)
    np.testing.assert_allclose(y[1, 3:], x[1, 3:] - origin, atol=1e-6)
    assert not y[0, 0].any() and not y[1, :3].any()  # absent frames stay zero


def test_centring_only_the_frames_a_resize_reads_is_exact(tmp_path) -> None:
    # a second actor who leaves mid-clip: interpolating between its last frame and a zero frame is
    # where centring after the resize would differ; centring the read frames must not
    x = np.zeros((2, 40, V, 3), np.float32)
    x[0, 2:] = upright(38) + np.array([0.3, -0.2, 2.8], np.float32)
    x[1, 5:21] = upright(16, x0=0.7)
    x[0, 2:] += np.random.default_rng(0).normal(0, 0.05, (38, V, 3)).astype(np.float32)
    origin = center_origin(x)
    np.testing.assert_array_equal(origin, x[0, 2, NTU25.center])
    ctvm = np.ascontiguousarray(x.transpose(3, 1, 2, 0))
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float32, shape=ctvm.shape)
    mm[:] = ctvm
    mm.flush()

    def centre(f: np.ndarray) -> np.ndarray:
        return subtract_origin(f.transpose(3, 1, 2, 0), origin).transpose(3, 1, 2, 0)

    for seed in range(5):
        pos = crop_resize_positions(2, 40, (0.5, 1.0), 16, np.random.default_rng(seed), min_crop=4)
        whole = interpolate_frames(center_skeleton(x).transpose(3, 1, 2, 0), pos, time_axis=1)
        for src in (ctvm, np.load(tmp_path / "x.npy", mmap_mode="r")):
            np.testing.assert_array_equal(interpolate_frames(src, pos, time_axis=1, per_frame=centre), whole)
    assert center_origin(np.zeros((2, 4, V, 3), np.float32)) is None
    only_second = np.zeros((2, 4, V, 3), np.float32)
    only_second[1, 1:] = upright(3)
    np.testing.assert_array_equal(center_origin(only_second), only_second[1, 1, NTU25.center])


def test_prenormalize_aligns_spine_and_shoulders() -> None:
    rng = np.random.default_rng(0)
    body = np.zeros((V, 3), np.float32)
    body[0] = [0.0, 0.0, 0.0]      # SpineBase
    body[1] = [0.0, 0.3, 0.0]      # SpineMid (spine along +y)
    body[4] = [-0.2, 0.5, 0.0]     # ShoulderLeft
    body[8] = [0.2, 0.5, 0.0]      # ShoulderRight
    others = [i for i in range(V) if i not in (0, 1, 4, 8)]
    body[others] = rng.uniform(-0.5, 0.5, (len(others), 3))
    # random rigid motion of the whole body
    q = np.linalg.qr(rng.standard_normal((3, 3)))[0]
    q *= np.sign(np.linalg.det(q))
    moved = body @ q.T + np.array([0.3, -0.1, 3.2])
    x = np.zeros((2, 3, V, 3), np.float32)
    x[0] = moved
    y = prenormalize_3d(x)
    spine = y[0, 0, 1] - y[0, 0, 0]
    shoulders = y[0, 0, 8] - y[0, 0, 4]
    np.testing.assert_allclose(y[0, 0, 1], 0, atol=1e-5)
    np.testing.assert_allclose(spine / np.linalg.norm(spine), [0, 0, 1], atol=1e-5)
    np.testing.assert_allclose(shoulders / np.linalg.norm(shoulders), [1, 0, 0], atol=1e-5)
    # rigid: pairwise distances unchanged, empty body stays empty
    np.testing.assert_allclose(np.linalg.norm(y[0, 1, 3] - y[0, 1, 7]), np.linalg.norm(body[3] - body[7]), atol=1e-5)
    assert not y[1].any()


def test_prenormalize_swaps_bodies_with_more_frames() -> None:
    x = np.zeros((2, 4, V, 3), np.float32)
    x[0, 0] = upright(1)[0]
    x[1] = upright(4, x0=1.0)
    y = prenormalize_3d(x, align_spine=False)
    assert np.any(y[0], axis=(1, 2)).all() and np.any(y[1], axis=(1, 2)).sum() == 1


def test_random_rotation_is_rigid_and_seeded() -> None:
    x = upright(4)[None]
    a = random_rotation(x, rng=np.random.default_rng(3))
    b = random_rotation(x, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, x)
    np.testing.assert_allclose(np.linalg.norm(a, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-5)


@pytest.mark.parametrize("length,window", [(40, 16), (10, 24), (64, 64)])
def test_crop_resize_matches_torch_bilinear(length: int, window: int) -> None:
    rng = np.random.default_rng(0)
    data = rng.standard_normal((3, length, V, 2)).astype(np.float32) + 5.0
    out = valid_crop_resize(data, [1.0], window)
    c, t, v, m = data.shape
    ref = torch.tensor(data).permute(0, 2, 3, 1).reshape(c * v * m, t)[None, None]
    ref = F.interpolate(ref, size=(c * v * m, window), mode="bilinear", align_corners=False)
    ref = ref[0, 0].reshape(c, v, m, window).permute(0, 3, 1, 2).numpy()
    assert out.shape == (3, window, V, 2)
    np.testing.assert_allclose(out, ref, atol=1e-5)


def test_crop_resize_train_and_test_ranges() -> None:
    pos = crop_resize_positions(10, 110, [0.95], 64)
    assert pos.min() >= 12 and pos.max() <= 107  # bias int(0.05 * 100 / 2) = 2 each side
    rng = np.random.default_rng(0)
    for _ in range(20):
        p = crop_resize_positions(0, 200, [0.5, 1.0], 32, rng, min_crop=64)
        span = p.max() - p.min()
        assert p.min() >= 0 and p.max() <= 199 and span >= 64 * (31 / 32) - 2
    # zeros kept inside (alignment) are part of the valid range, leading zeros are cut
    x = np.zeros((3, 20, V, 1), np.float32)
    x[:, 5:15] = 1.0
    x[:, 9] = 0.0
    out = valid_crop_resize(x, [1.0], 10)
    assert out[:, 4].sum() == 0 and out[:, 0].all()


def test_bone_stream() -> None:
    x = np.random.default_rng(0).standard_normal((3, 4, V, 2)).astype(np.float32)
    b = bone(x)
    for child, parent in NTU25.bones:
        np.testing.assert_allclose(b[:, :, child], x[:, :, child] - x[:, :, parent])
    root = [c for c, p in enumerate(NTU25.parents) if c == p][0]
    assert not b[:, :, root].any()
    bt = bone(torch.tensor(x)[None])  # batched tensor (N, C, T, V, M)
    np.testing.assert_allclose(bt[0].numpy(), b, atol=1e-6)


def test_motion_stream() -> None:
    x = np.zeros((1, 4, V, 3), np.float32)  # (M, T, V, C)
    x[0, :, 0, 0] = [1.0, 3.0, 6.0, 10.0]
    c = to_ctvm(x)  # (C, T, V, M)
    m = to_mtvc(motion(c))
    assert m[0, :, 0, 0].tolist() == [2.0, 3.0, 4.0, 0.0]
    # actor appears at frame 2: jump from zero is masked with mask_missing
    y = np.zeros((3, 4, V, 1), np.float32)
    y[:, 2:] = 1.0
    y[0, 3] = 2.0
    assert motion(y)[0, 1, 0, 0] == 1.0
    mm = motion(y, mask_missing=True)
    assert mm[0, 1, 0, 0] == 0.0 and mm[0, 2, 0, 0] == 1.0
    mt = motion(torch.tensor(y)[None], mask_missing=True)
    np.testing.assert_array_equal(mt[0].numpy(), mm)


@pytest.mark.real
def test_denoise_real_ntu_files(real_samples) -> None:
    from mmfusion.data.formats.skeleton import read_skeleton
    from mmfusion.data.preprocess import tracks_from_sequence

    folder = real_samples / "ntu" / "nturgbd_skeletons"
    seq = read_skeleton(folder / "S001C003P008R002A058.skeleton")  # handshake: 2 bodies, 70 frames
    tracks = tracks_from_sequence(seq)
    assert len(tracks) == 2 and all(len(t.frames) == 70 for t in tracks)
    out = denoise_bodies(seq)
    assert out.joints.shape == (2, 70, 25, 3) and out.present.all() and out.dropped == []
    # slot 0 holds the body with the larger motion
    assert tracks[[t.body_id for t in tracks].index(out.body_ids[0][0])].motion >= \
        tracks[[t.body_id for t in tracks].index(out.body_ids[1][0])].motion
    np.testing.assert_allclose(out.joints, seq.to_array(2)[[0, 1] if out.body_ids[0][0] == tracks[0].body_id
                                                           else [1, 0]], atol=1e-6)
    one = denoise_bodies(read_skeleton(folder / "S001C001P001R001A011.skeleton"))
    assert one.present[0].all() and not one.present[1].any()
    # colour coordinates lie in the 1920x1080 frame
    c = one.colors[0]
    assert c[..., 0].min() > 0 and c[..., 0].max() < 1920 and c[..., 1].min() > 0 and c[..., 1].max() < 1080


@pytest.mark.real
def test_track_handed_to_a_new_id_keeps_both_people(real_samples, tmp_path) -> None:
    """Real bodies (handshake, 2 people in all 70 frames); person A's track is handed to a new
    body ID at frame 35, the two IDs sharing that frame (as Kinect does)."""
    from mmfusion.data.formats.skeleton import SkeletonSequence, read_skeleton, write_skeleton

    seq = read_skeleton(real_samples / "ntu" / "nturgbd_skeletons" / "S001C003P008R002A058.skeleton")
    a_id, b_id = 72057594037944734, 72057594037944738   # A: the larger motion
    new_id, k = 72057594037944999, 35
    ids = seq.body_id.astype(object)
    a_rec = np.flatnonzero(ids == a_id)
    dup = a_rec[seq.frame_index[a_rec] == k][0]
    late = a_rec[seq.frame_index[a_rec] > k]
    order = np.insert(np.arange(seq.num_records), dup + 1, dup)   # the shared frame's record, twice
    body_id = seq.body_id.copy()
    body_id[late] = new_id
    body_id = np.insert(body_id, dup + 1, np.uint64(new_id))
    handed = SkeletonSequence(seq.num_frames, seq.frame_index[order], body_id, seq.body_int[order],
                              seq.lean[order], seq.joints[order])
    handed = read_skeleton(write_skeleton(tmp_path / "S001C003P008R002A058.skeleton", handed))
    tracks = {t.body_id: t for t in tracks_from_sequence(handed)}
    assert sorted(tracks) == sorted([a_id, b_id, new_id])
    # both halves of A move more than B: they are packed first
    assert min(tracks[a_id].motion, tracks[new_id].motion) > tracks[b_id].motion

    out = denoise_bodies(handed)
    assert out.dropped == []
    assert sorted(out.body_ids[0]) == sorted([a_id, new_id]) and out.body_ids[1] == [b_id]
    assert out.present.all()
    ref = seq.to_array(2)[[1, 0] if seq.track_ids[0] == b_id else [0, 1]]
    np.testing.assert_allclose(out.joints, ref, atol=1e-6)   # both people, every frame, as in the file
    ctr = denoise_bodies(handed, ctrgcn_quirks=True, keep_frame_index=False)
    assert ctr.body_ids == out.body_ids
    np.testing.assert_allclose(ctr.joints, ref, atol=1e-6)


def test_pad_or_crop() -> None:
    from mmfusion.data.preprocess import pad_or_crop

    x = np.ones((3, 5, V, 2), np.float32)
    p = pad_or_crop(x, 8)
    assert p.shape == (3, 8, V, 2) and p[:, :5].all() and not p[:, 5:].any()
    assert pad_or_crop(x, 3).shape == (3, 3, V, 2)
