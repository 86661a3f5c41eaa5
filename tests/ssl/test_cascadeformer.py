"""CascadeFormer pre-training: the masked-slot loss by hand, the mask, and the two-stage cascade."""

from __future__ import annotations

import torch
from safetensors.torch import load_file

from mmfusion.engine import TrainConfig
from mmfusion.ssl import create_objective
from mmfusion.ssl.augment import feeder_random_rot
from mmfusion.ssl.objectives.cascadeformer import masked_slot_loss
from mmfusion.ssl.pretrain import PretrainConfig, StageConfig, pretrain

TINY = {"d_model": 16, "nhead": 2, "num_layers": 1, "ffn": 32}


def test_masked_slot_loss_by_hand() -> None:
    target = torch.zeros(1, 2, 2, 3)
    pred = torch.zeros(1, 2, 2, 3)
    pred[0, 0, 0] = torch.tensor([1.0, 2.0, 2.0])  # masked slot: squared error 1 + 4 + 4 = 9 over 3 values
    pred[0, 1, 1] = 10.0  # unmasked slot: ignored
    mask = torch.tensor([[[True, False], [False, False]]])
    assert float(masked_slot_loss(pred, target, mask)) == 3.0


def test_mask_counts_and_zeroes_slots() -> None:
    obj = create_objective("cascadeformer", encoder_kwargs=TINY)
    frames = torch.randn(3, 10, 25, 3) + 5
    masked, mask = obj.mask(frames, torch.tensor([0, 1, 2]))
    assert mask.sum(dim=(1, 2)).tolist() == [75, 75, 75]  # int(0.3 * 10 * 25)
    assert (masked[mask] == 0).all() and torch.equal(masked[~mask], frames[~mask])
    again, _ = obj.mask(frames, torch.tensor([0, 1, 2]))
    assert torch.equal(again, masked)
    batch = {"skeleton": torch.randn(2, 3, 8, 25, 2), "index": torch.tensor([0, 1])}
    out = obj(batch)
    out["loss"].backward()
    trainable = {n for n, p in obj.named_parameters() if p.requires_grad}
    assert all(p.grad is not None for n, p in obj.named_parameters() if n in trainable)
    assert any("reconstruction_head" in n for n in trainable)


def test_training_clips_get_the_feeders_random_rotation() -> None:
    # the official feeder rotates training clips (random_rot=True) in both stages; features never
    x = torch.randn(2, 3, 8, 25, 2)
    batch = {"skeleton": x, "index": torch.tensor([3, 4]), "label": torch.tensor([0, 1])}
    torch.manual_seed(0)
    plain = create_objective("cascadeformer", encoder_kwargs=TINY, rotate=0.0).eval()
    torch.manual_seed(0)
    rot = create_objective("cascadeformer", encoder_kwargs=TINY).eval()
    assert rot.rotate == 0.3
    assert not torch.allclose(rot(batch)["loss"], plain(batch)["loss"])
    torch.testing.assert_close(rot.features(x), plain.features(x))
    rotated = {**batch, "skeleton": feeder_random_rot(x, 0.3, 0, 0, batch["index"])}
    torch.testing.assert_close(rot(batch)["loss"], plain(rotated)["loss"])
    torch.manual_seed(0)
    ft = create_objective("cascadeformer_finetune", encoder_kwargs=TINY, num_classes=2).eval()
    assert (ft.rotate, ft.label_smoothing) == (0.3, 0.05)
    logits = ft.encoder({"skeleton": rotated["skeleton"]})["logits"]
    want = torch.nn.functional.cross_entropy(logits, batch["label"], label_smoothing=0.05)
    torch.testing.assert_close(ft(batch)["loss"], want)


def test_two_stage_cascade_carries_t1(tmp_path, tiny_skeletons) -> None:
    data = tiny_skeletons(n=8)
    tcfg = TrainConfig(epochs=1, batch_size=4, optimizer="adamw", lr=1e-3, cpu=True, threads=1, keep_last=1)
    stages = (StageConfig("masked_joints", "cascadeformer", {"encoder_kwargs": TINY}, tcfg),
              StageConfig("cascade_finetune", "cascadeformer_finetune",
                          {"encoder": "cascadeformer", "encoder_kwargs": TINY, "num_classes": 2}, tcfg))
    res = pretrain(PretrainConfig(output_dir=str(tmp_path / "cf"), stages=stages), None, data)
    s1, s2 = (load_file(str(s.encoder)) for s in res.stages)
    key = "encoder.t1.joint_embedding.weight"
    assert key in s1 and key in s2 and "encoder.t2.layers.0.linear1.weight" in s2
    assert not torch.equal(s1[key], s2[key])  # stage 2 fine-tuned T1 ...
    fresh = create_objective("cascadeformer_finetune", encoder_kwargs=TINY, num_classes=2)
    # ... starting from stage 1's T1: closer to it than to a fresh initialisation
    d_s1 = (s2[key] - s1[key]).norm()
    d_fresh = (s2[key] - fresh.encoder.state_dict()["encoder.t1.joint_embedding.weight"]).norm()
    assert d_s1 < d_fresh
