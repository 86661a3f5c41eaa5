"""The pre-training engine: stages on the training engine, resume per stage, encoder export."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from mmfusion.engine import StepInfo, TrainConfig
from mmfusion.errors import CheckpointError
from mmfusion.registry import create_model
from mmfusion.ssl.pretrain import PretrainConfig, StageConfig, encoder_from_run, load_pretrained_encoder, pretrain


def _train(**kw) -> TrainConfig:
    base = dict(epochs=2, batch_size=4, optimizer="adamw", lr=1e-3, cpu=True, threads=1, log_every=1, keep_last=2,
                save_every_steps=1)
    return TrainConfig(**{**base, **kw})


def _cfg(out, kwargs, resume=None) -> PretrainConfig:
    return PretrainConfig(output_dir=str(out), stages=(StageConfig("mamp", "mamp", kwargs, _train()),), resume=resume)


class _Interrupt(RuntimeError):
    pass


def _stop_at(step: int):
    def cb(info: StepInfo) -> None:
        if info.event == "step" and info.global_step == step:
            raise _Interrupt(f"killed at step {step}")
    return cb


def test_resume_after_interrupted_stage_matches_uninterrupted(tmp_path, tiny_skeletons, tiny_mamp_kwargs) -> None:
    data = tiny_skeletons()
    full = pretrain(_cfg(tmp_path / "a", tiny_mamp_kwargs), None, data)
    with pytest.raises(_Interrupt):
        pretrain(_cfg(tmp_path / "b", tiny_mamp_kwargs), None, data, callbacks=(_stop_at(5),))
    assert not (tmp_path / "b" / "encoder.safetensors").exists()
    resumed = pretrain(_cfg(tmp_path / "b", tiny_mamp_kwargs, resume="auto"), None, data)
    assert full.stages[0].global_step == resumed.stages[0].global_step == 8
    a, b = load_file(str(full.encoder)), load_file(str(resumed.encoder))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    losses = [h["loss"] for h in full.stages[0].history["train"]]
    assert losses == [h["loss"] for h in resumed.stages[0].history["train"]]
    # and the weights moved: pre-training did something
    fresh = create_model("mamp_transformer_tiny", num_classes=0, head="linprobe", **tiny_mamp_kwargs["encoder_kwargs"])
    assert any(not torch.equal(v, a[k]) for k, v in fresh.state_dict().items() if k in a and v.is_floating_point())


def test_stages_chain_skip_when_complete_and_export_loads(tmp_path, tiny_skeletons, tiny_mamp_kwargs) -> None:
    data = tiny_skeletons()
    stages = (StageConfig("first", "mamp", tiny_mamp_kwargs, _train(epochs=1, save_every_steps=0)),
              StageConfig("second", "mamp", {**tiny_mamp_kwargs, "tau": 0.0}, _train(epochs=1, save_every_steps=0),
                          freeze=("encoder.encoder.blocks.0.",)))
    cfg = PretrainConfig(output_dir=str(tmp_path / "run"), stages=stages)
    res = pretrain(cfg, None, data)
    first, second = (load_file(str(s.encoder)) for s in res.stages)
    frozen = "encoder.blocks.0.attn.qkv.weight"
    assert torch.equal(first[frozen], second[frozen])  # stage 2 started from stage 1 and kept the block frozen
    assert not torch.equal(first["encoder.patch_embed.weight"], second["encoder.patch_embed.weight"])
    again = pretrain(PretrainConfig(output_dir=str(tmp_path / "run"), stages=stages, resume="auto"), None, data)
    assert [s.skipped for s in again.stages] == [True, True]
    # the exported encoder loads into the registered classifier with any head (strict on the encoder)
    model = encoder_from_run(res.run_dir, num_classes=2).eval()
    assert model({"skeleton": data[0]["skeleton"][None]})["logits"].shape == (1, 2)
    torch.testing.assert_close(model.state_dict()["encoder.patch_embed.weight"], second["encoder.patch_embed.weight"])
    wrong = create_model("mamp_transformer_tiny", num_classes=2, num_frames=8, dim=32, depth=1, num_heads=2)
    with pytest.raises(CheckpointError, match="shape"):
        load_pretrained_encoder(wrong, res.encoder)
