"""Pre-training on two CPU processes (gloo, accelerate's debug_launcher) equals one process fed
the same global batch: MAMP's masks and rotations are drawn per sample, not per process."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch.utils.data import Dataset

from mmfusion.engine import TrainConfig
from mmfusion.ssl.pretrain import PretrainConfig, StageConfig, pretrain

KWARGS = {"encoder": "mamp_transformer_tiny",
          "encoder_kwargs": {"num_frames": 8, "dim": 16, "depth": 1, "num_heads": 2},
          "decoder_dim": 16, "decoder_depth": 1}


class _Clips(Dataset):
    def __init__(self, n: int = 16) -> None:
        self.x = torch.randn(n, 3, 8, 25, 1, generator=torch.Generator().manual_seed(0))

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict:
        return {"skeleton": self.x[i], "label": 0}


def _cfg(out: str) -> PretrainConfig:
    tcfg = TrainConfig(epochs=1, global_batch_size=8, optimizer="adamw", lr=1e-3, cpu=True, log_every=1, keep_last=0)
    return PretrainConfig(output_dir=out, stages=(StageConfig("mamp", "mamp", KWARGS, tcfg),))


def _worker(out: str) -> None:
    from accelerate.state import PartialState

    PartialState._reset_state()  # forked from pytest: drop the parent's single-process state
    torch.set_num_threads(1)
    pretrain(_cfg(out), None, _Clips())


@pytest.mark.slow
def test_two_processes_pretrain_like_one(tmp_path, monkeypatch) -> None:
    from accelerate import debug_launcher

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    pretrain(_cfg(one), None, _Clips())
    debug_launcher(_worker, args=(two,), num_processes=2)
    w1, w2 = load_file(Path(one, "encoder.safetensors")), load_file(Path(two, "encoder.safetensors"))
    assert w1.keys() == w2.keys()
    assert any(k.startswith("decoder_") for k in load_file(Path(two, "stage_1_mamp", "objective.safetensors")))
    for k in w1:
        torch.testing.assert_close(w1[k], w2[k], rtol=1e-4, atol=1e-5, msg=k)
