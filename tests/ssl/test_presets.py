"""Presets and data of the SSL recipes: stage plans, CTR-GCN centring of the world's clips."""

from __future__ import annotations

import pytest
import torch

from mmfusion.errors import ConfigError
from mmfusion.ssl.presets import CenteredSkeletons, build_stages


def test_centred_clips_start_at_the_spine_origin() -> None:
    x = torch.zeros(3, 4, 25, 2)
    x[:, :, :, 0] = torch.tensor([1.0, 2.0, 3.0]).view(3, 1, 1) + 0.1 * torch.arange(4.0).view(1, 4, 1)
    x[:, 2:, :, 1] = 5.0  # second actor from frame 2
    out = CenteredSkeletons([{"skeleton": x, "label": 0}])[0]["skeleton"]
    assert torch.allclose(out[:, 0, 1, 0], torch.zeros(3))  # SpineMid (joint 1) of the first frame
    assert torch.allclose(out[:, 3, 1, 0], torch.full((3,), 0.3))  # motion kept
    assert (out[:, :2, :, 1] == 0).all()  # absent frames stay zero
    assert torch.allclose(out[:, 2, 0, 1], torch.tensor([4.0, 3.0, 2.0]))


def test_build_stages_presets() -> None:
    stages, clip = build_stages("mamp", "paper_ntu60")
    assert clip == 120 and len(stages) == 1
    tc = stages[0].train
    assert (tc.epochs, tc.global_batch_size, tc.lr, tc.min_lr, tc.betas) == (400, 128, 1e-3, 5e-4, (0.9, 0.95))
    assert stages[0].objective_kwargs["decoder_depth"] == 3 and stages[0].objective_kwargs["tau"] == 0.8
    cf, clip = build_stages("cascadeformer", "cpu", {"epochs": 1}, {"seed": 3})
    assert [s.objective for s in cf] == ["cascadeformer", "cascadeformer_finetune"]
    assert all(s.train.epochs == 1 for s in cf) and cf[0].objective_kwargs["seed"] == 3
    with pytest.raises(ConfigError, match="preset"):
        build_stages("mamp", "nope")
