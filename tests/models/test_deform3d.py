"""The registered deform3d models: shapes, gradients, inputs, errors, AMP."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import mmfusion
from mmfusion.errors import DataFormatError, MissingModalityError
from mmfusion.models.deform3d import Deform3DNet


def _batch(n: int = 2, t_pose: int = 8, m: int = 2) -> dict[str, torch.Tensor]:
    return {"rgb": torch.randn(n, 3, 8, 32, 32), "skeleton": torch.randn(n, 3, t_pose, 25, m),
            "label": torch.zeros(n, dtype=torch.long)}


def test_registered_and_tiny_forward_backward() -> None:
    assert {"deform3d", "deform3d_tiny"} <= set(mmfusion.list_models("deform3d*"))
    model = mmfusion.create_model("deform3d_tiny", num_classes=7)
    out = model(_batch(), return_offsets=True)
    assert out["logits"].shape == (2, 7) and out["features"].shape == (2, 64)
    # 2 blocks, 2 offset groups, sample grid (2, 2, 2), (t, y, x)
    assert out["offsets"].shape == (2, 2, 2, 2, 2, 2, 3)
    assert "offsets" not in model(_batch())
    F.cross_entropy(out["logits"], torch.tensor([1, 3])).backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not no_grad
    # the zero-initialised last token-search conv learns (the offsets leave 0 after one step)
    for blk in model.blocks:
        assert blk.deform.token_search.proj.weight.grad.abs().sum() > 0
    for key in ("backbone.layers.0.weight", "cross_tokens", "joint_embed", "head.weight",
                "blocks.0.joint.attn.qkv.weight", "blocks.1.temporal.attn.qkv.weight", "blocks.0.deform.k_proj.weight"):
        assert dict(model.named_parameters())[key].grad.abs().sum() > 0, key


def test_samples_do_not_leak_across_the_batch() -> None:
    model = mmfusion.create_model("deform3d_tiny", num_classes=5).eval()
    b = _batch(3)
    full = model(b)["logits"]
    one = model({k: v[1:2] for k, v in b.items()})["logits"]
    torch.testing.assert_close(full[1:2], one, atol=1e-5, rtol=0)


def test_missing_modalities_are_named() -> None:
    model = mmfusion.create_model("deform3d_tiny")
    b = _batch()
    with pytest.raises(MissingModalityError, match="'rgb'"):
        model({"skeleton": b["skeleton"]})
    with pytest.raises(MissingModalityError, match="'skeleton'") as info:
        model({"rgb": b["rgb"], "keypoints2d": torch.rand(2, 2, 8, 25, 2)})
    assert info.value.modality == "skeleton" and "pose_key='keypoints2d'" in str(info.value)


def test_bad_shapes_raise_before_torch() -> None:
    model = mmfusion.create_model("deform3d_tiny")
    with pytest.raises(DataFormatError, match="V=25"):
        model({"rgb": torch.randn(1, 3, 8, 32, 32), "skeleton": torch.randn(1, 3, 8, 17, 2)})
    with pytest.raises(DataFormatError, match=r"\(N, 3, T, H, W\)"):
        model({"rgb": torch.randn(1, 8, 32, 32), "skeleton": torch.randn(1, 3, 8, 25, 2)})


def test_person_selection() -> None:
    b = _batch(1)
    first = mmfusion.create_model("deform3d_tiny", person="first").eval()
    out = first(b)["logits"]
    b2 = dict(b, skeleton=b["skeleton"].clone())
    b2["skeleton"][..., 1] = 5.0  # the second person is ignored
    torch.testing.assert_close(first(b2)["logits"], out)
    mean = mmfusion.create_model("deform3d_tiny", person="mean").eval()
    mean.load_state_dict(first.state_dict())
    absent = dict(b, skeleton=b["skeleton"].clone())
    absent["skeleton"][..., 1] = 0.0  # an all-zero (absent) second person does not dilute the first
    torch.testing.assert_close(mean(absent)["logits"], out, atol=1e-6, rtol=0)
    two = dict(b, skeleton=b["skeleton"].clone())
    two["skeleton"][..., 1] = two["skeleton"][..., 0]  # two identical persons average to the same one
    torch.testing.assert_close(mean(two)["logits"], out, atol=1e-5, rtol=0)


def test_pose_frames_are_resampled_uniformly() -> None:
    model = mmfusion.create_model("deform3d_tiny").eval()  # pose_frames = 8
    b = _batch(1, t_pose=15)
    picked = dict(b, skeleton=b["skeleton"][:, :, ::2])  # linspace(0, 14, 8) = 0, 2, ..., 14
    torch.testing.assert_close(model(b)["logits"], model(picked)["logits"])


def test_keypoints2d_input_is_scale_and_shift_invariant() -> None:
    model = mmfusion.create_model("deform3d_tiny", pose_key="keypoints2d", layout="coco17").eval()
    kp = torch.rand(2, 2, 8, 17, 2) * 400 + 100
    kp[:, 1] = 0.0  # no second person
    b = {"rgb": torch.randn(2, 3, 8, 32, 32), "keypoints2d": kp}
    out = model(b)["logits"]
    moved = dict(b, keypoints2d=torch.where(kp != 0, kp * 2.5 + 30.0, kp))
    torch.testing.assert_close(model(moved)["logits"], out, atol=1e-4, rtol=0)
    with pytest.raises(MissingModalityError, match="'keypoints2d'"):
        model({"rgb": b["rgb"]})


def test_bf16_autocast_cpu() -> None:
    model = mmfusion.create_model("deform3d_tiny").eval()
    b = _batch()
    ref = model(b)["logits"]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(b)["logits"]
    assert torch.isfinite(out.float()).all()
    torch.testing.assert_close(out.float(), ref, atol=0.15, rtol=0.1)


def test_tiny_model_learns_a_fixed_batch() -> None:
    model = mmfusion.create_model("deform3d_tiny", num_classes=4, offset_range=(1.0, 1.0, 1.0))
    b = _batch(4)
    y = torch.tensor([0, 1, 2, 3])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        loss = F.cross_entropy(model(b)["logits"], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    off = model(b, return_offsets=True)["offsets"]
    assert off.abs().amax() > 0 and off.abs().amax() <= 1.0 + 1e-6  # offsets learned, still bounded


def test_paper_like_variant() -> None:
    if not mmfusion.is_model("xshiftnet_rgb"):
        pytest.skip("xshiftnet_rgb encoder not available")
    model = mmfusion.create_model("deform3d", num_classes=60).eval()
    n_params = sum(p.numel() for p in model.parameters())
    assert 5e6 < n_params < 20e6
    with torch.no_grad():
        out = model({"rgb": torch.randn(1, 3, 16, 224, 224), "skeleton": torch.randn(1, 3, 40, 25, 2)},
                    return_offsets=True)
    assert out["logits"].shape == (1, 60)
    assert out["offsets"].shape == (1, 4, 4, 4, 7, 7, 3)  # L=4, G=4, sample grid (4, 7, 7)


def test_custom_config_with_full_sample_grid() -> None:
    model = Deform3DNet(num_classes=3, dim=16, depth=1, heads=2, stem_widths=(8, 16),
                        stem_strides=((1, 2, 2), (2, 2, 2)), pose_frames=4, offset_groups=1, sample_size=None,
                        joint_stride=25, temporal_stride=1)
    out = model({"rgb": torch.randn(1, 3, 4, 16, 16), "skeleton": torch.randn(1, 3, 4, 25, 1)}, return_offsets=True)
    assert out["offsets"].shape == (1, 1, 1, 2, 4, 4, 3)  # full grid of a (2, 4, 4) token volume
