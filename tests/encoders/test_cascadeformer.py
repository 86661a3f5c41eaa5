"""CascadeFormer: T1 / full parameter counts, person selection, masking, fusion shapes."""

from __future__ import annotations

import pytest
import torch

from mmfusion.encoders.cascadeformer import (
    CascadeFormer,
    mask_random_joints,
    select_most_active_person,
)
from mmfusion.errors import ConfigError


def test_parameter_counts(count_params) -> None:
    with torch.device("meta"):  # 180 M parameters: count without allocating
        cs = CascadeFormer()
        cv = CascadeFormer(d_model=512, nhead=8, num_layers=12)
    # T1 with its reconstruction head: 88.4 M (cross-subject) / 37.9 M (cross-view), as measured
    assert count_params(cs.t1) == 88_388_939
    assert count_params(cv.t1) == 37_938_763
    assert count_params(cs) == 180_159_307
    assert cs.out_dim == 768 and cv.out_dim == 512


def test_most_active_person_is_kept() -> None:
    x = torch.zeros(2, 3, 4, 25, 2)
    x[0, ..., 1] = 1.0
    x[1, ..., 0] = 2.0
    x[1, ..., 1] = -1.0
    sel = select_most_active_person(x)
    assert sel.shape == (2, 4, 25, 3)
    assert (sel[0] == 1.0).all() and (sel[1] == 2.0).all()


def test_random_joint_mask_hides_whole_joints() -> None:
    x = torch.randn(3, 10, 25, 3)
    masked, mask = mask_random_joints(x, ratio=0.3, generator=torch.Generator().manual_seed(0))
    assert mask.shape == (3, 10, 25) and (mask.sum(dim=(1, 2)) == 75).all()
    assert (masked[mask] == 0).all() and torch.equal(masked[~mask], x[~mask])


def test_t1_reconstructs_and_limits_frames(skeleton) -> None:
    model = CascadeFormer(d_model=16, nhead=2, num_layers=1, ffn=32, cascade=False)
    frames = select_most_active_person(skeleton(t=8))
    assert model.t1(frames).shape == frames.shape
    assert model(skeleton(t=8)).shape == (2, 16)
    with pytest.raises(ConfigError, match="64-frame"):
        model(skeleton(t=65))
