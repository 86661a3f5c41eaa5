"""DeformableAttention3D, JointStrideAttention and TemporalStrideAttention against plain attention."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmfusion.errors import ConfigError
from mmfusion.fusion.deformable3d import DeformableAttention3D, reference_grid_3d
from mmfusion.fusion.stride_attention import GroupAttention, JointStrideAttention, TemporalStrideAttention

C, HEADS = 16, 4


def _mha_from_deform(m: DeformableAttention3D) -> nn.MultiheadAttention:
    mha = nn.MultiheadAttention(m.dim, m.heads, batch_first=True)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([m.q_proj.weight, m.k_proj.weight, m.v_proj.weight]))
        mha.in_proj_bias.copy_(torch.cat([m.q_proj.bias, m.k_proj.bias, m.v_proj.bias]))
        mha.out_proj.weight.copy_(m.out_proj.weight)
        mha.out_proj.bias.copy_(m.out_proj.bias)
    return mha.eval()


def _mha_from_group(a: GroupAttention) -> nn.MultiheadAttention:
    mha = nn.MultiheadAttention(a.dim, a.heads, batch_first=True)
    with torch.no_grad():
        mha.in_proj_weight.copy_(a.qkv.weight)
        mha.in_proj_bias.copy_(a.qkv.bias)
        mha.out_proj.weight.copy_(a.proj.weight)
        mha.out_proj.bias.copy_(a.proj.bias)
    return mha.eval()


def _tokens(z: Tensor) -> Tensor:
    return z.flatten(2).transpose(1, 2)


def _randomise(m: nn.Module) -> None:
    # non-trivial biases too, so that a swapped q/k/v or missing bias would show
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 0.3)


# ---------------------------------------------------------------------------------------------
# DeformableAttention3D
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("with_tokens", [True, False])
def test_zero_offsets_full_grid_equals_mha(groups: int, with_tokens: bool) -> None:
    m = DeformableAttention3D(C, HEADS, offset_groups=groups, sample_size=None).eval()
    _randomise(m.q_proj), _randomise(m.k_proj), _randomise(m.v_proj), _randomise(m.out_proj)
    # zero_init_offsets leaves the last token-search conv at 0 -> offsets exactly 0
    assert torch.count_nonzero(m.token_search.proj.weight) == 0
    z = torch.randn(2, C, 3, 4, 5)
    tok = torch.randn(2, 2, C) if with_tokens else None
    out_z, out_t, extras = m(z, tok, return_offsets=True)
    assert torch.count_nonzero(extras["offsets"]) == 0
    seq = _tokens(z) if tok is None else torch.cat([_tokens(z), tok], 1)
    ref, _ = _mha_from_deform(m)(seq, seq, seq, need_weights=False)
    assert out_z.shape == z.shape
    torch.testing.assert_close(_tokens(out_z), ref[:, :60], atol=1e-5, rtol=0)
    if with_tokens:
        assert out_t.shape == (2, 2, C)
        torch.testing.assert_close(out_t, ref[:, 60:], atol=1e-5, rtol=0)
    else:
        assert out_t is None


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_constant_offset_shifts_keys_along_the_right_axis(axis: int) -> None:
    """An offset of +1 voxel along t / y / x must read the neighbour along that axis (grid order x, y, t)."""
    m = DeformableAttention3D(C, HEADS, offset_range=(1.0, 1.0, 1.0), sample_size=None).eval()
    _randomise(m.q_proj), _randomise(m.k_proj), _randomise(m.v_proj)
    shift = torch.zeros(3)
    shift[axis] = 1.0
    m.token_search.forward = lambda q: shift.expand(q.shape[0], *q.shape[2:], 3)  # type: ignore[method-assign]
    z = torch.randn(1, C, 3, 4, 5)
    tok = torch.randn(1, 2, C)
    out_z, out_t, _ = m(z, tok)
    shifted = torch.zeros_like(z)  # zeros padding past the border
    sl_dst = [slice(None)] * 5
    sl_src = [slice(None)] * 5
    sl_dst[2 + axis], sl_src[2 + axis] = slice(0, -1), slice(1, None)
    shifted[tuple(sl_dst)] = z[tuple(sl_src)]
    q = torch.cat([_tokens(z), tok], 1)
    kv = torch.cat([_tokens(shifted), tok], 1)
    ref, _ = _mha_from_deform(m)(q, kv, kv, need_weights=False)
    torch.testing.assert_close(torch.cat([_tokens(out_z), out_t], 1), ref, atol=1e-5, rtol=0)


def test_downsampled_grid_reads_block_centres() -> None:
    """sample_size halving every axis with zero offsets samples block centres = 2x2x2 average pooling."""
    m = DeformableAttention3D(C, HEADS, offset_groups=2, sample_size=(2, 2, 3)).eval()
    z = torch.randn(2, C, 4, 4, 6)
    tok = torch.randn(2, 2, C)
    out_z, out_t, extras = m(z, tok, return_offsets=True)
    assert extras["offsets"].shape == (2, 2, 2, 2, 3, 3)
    q = torch.cat([_tokens(z), tok], 1)
    kv = torch.cat([_tokens(F.avg_pool3d(z, 2)), tok], 1)
    ref, _ = _mha_from_deform(m)(q, kv, kv, need_weights=False)
    torch.testing.assert_close(torch.cat([_tokens(out_z), out_t], 1), ref, atol=1e-5, rtol=0)


def test_reference_grid_full_grid_hits_voxels() -> None:
    g = reference_grid_3d((3, 4, 1), (3, 4, 1))
    assert g.shape == (3, 4, 1, 3)
    vox = (g[..., :2] + 1) / 2 * torch.tensor([2.0, 3.0])
    torch.testing.assert_close(vox[:, :, 0, 0], torch.arange(3.0)[:, None].expand(3, 4))
    torch.testing.assert_close(vox[:, :, 0, 1], torch.arange(4.0)[None].expand(3, 4))
    assert torch.all(g[..., 2] == 0)  # a one-voxel axis maps to its only voxel


def test_offsets_are_bounded() -> None:
    rng = (0.5, 1.5, 3.0)
    m = DeformableAttention3D(C, HEADS, offset_groups=2, offset_range=rng, sample_size=(2, 2, 2),
                              zero_init_offsets=False)
    with torch.no_grad():
        for p in m.token_search.parameters():
            p.mul_(50.0)  # saturate tanh
    z = torch.randn(3, C, 4, 6, 6) * 10
    _, _, extras = m(z, torch.randn(3, 2, C), return_offsets=True)
    off = extras["offsets"]
    assert off.shape == (3, 2, 2, 2, 2, 3)
    bound = torch.tensor(rng)
    assert torch.all(off.abs() <= bound + 1e-6)
    assert torch.all(off.abs().amax(dim=(0, 1, 2, 3, 4)) > 0.9 * bound)  # saturation actually reached the bound


def test_one_frame_axis_has_zero_time_offsets() -> None:
    m = DeformableAttention3D(C, HEADS, sample_size=(1, 2, 2), zero_init_offsets=False)
    _, _, extras = m(torch.randn(1, C, 1, 4, 4), torch.randn(1, 2, C), return_offsets=True)
    off = extras["offsets"]
    assert torch.all(off[..., 0] == 0) and torch.count_nonzero(off[..., 1:]) > 0


def test_gradients_reach_the_offset_net() -> None:
    m = DeformableAttention3D(C, HEADS, offset_groups=2, sample_size=(2, 2, 2), zero_init_offsets=False)
    z = torch.randn(2, C, 4, 4, 4, requires_grad=True)
    tok = torch.randn(2, 2, C, requires_grad=True)
    out_z, out_t, _ = m(z, tok)
    (out_z.square().sum() + out_t.square().sum()).backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"no gradient reached {name}"
    assert z.grad.abs().sum() > 0 and tok.grad.abs().sum() > 0


def test_return_attention_matches_sdpa_path() -> None:
    m = DeformableAttention3D(C, HEADS, sample_size=(1, 2, 2), zero_init_offsets=False).eval()
    z, tok = torch.randn(2, C, 2, 4, 4), torch.randn(2, 2, C)
    a_z, a_t, _ = m(z, tok)
    b_z, b_t, extras = m(z, tok, return_attention=True)
    attn = extras["attention"]
    assert attn.shape == (2, HEADS, 32 + 2, 4 + 2)
    torch.testing.assert_close(attn.sum(-1), torch.ones(2, HEADS, 34))
    torch.testing.assert_close(a_z, b_z, atol=1e-5, rtol=0)
    torch.testing.assert_close(a_t, b_t, atol=1e-5, rtol=0)


def test_bad_sample_size_and_shapes_raise() -> None:
    m = DeformableAttention3D(C, HEADS, sample_size=(2, 3, 3))
    with pytest.raises(ConfigError, match="must divide"):
        m(torch.randn(1, C, 4, 4, 4), None)
    with pytest.raises(ConfigError, match=r"\(N, 16, T, H, W\)"):
        m(torch.randn(1, 8, 4, 6, 6), None)
    with pytest.raises(ConfigError):
        DeformableAttention3D(C, 3)
    with pytest.raises(ConfigError):
        DeformableAttention3D(C, HEADS, offset_kernel=2)


def test_bf16_autocast_cpu() -> None:
    m = DeformableAttention3D(C, HEADS, sample_size=(2, 2, 2), zero_init_offsets=False).eval()
    z, tok = torch.randn(1, C, 4, 4, 4), torch.randn(1, 2, C)
    ref_z, ref_t, _ = m(z, tok)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out_z, out_t, _ = m(z, tok)
    assert out_z.dtype == torch.bfloat16
    assert torch.isfinite(out_z.float()).all() and torch.isfinite(out_t.float()).all()
    torch.testing.assert_close(out_z.float(), ref_z, atol=0.1, rtol=0.05)


# ---------------------------------------------------------------------------------------------
# stride attention
# ---------------------------------------------------------------------------------------------
def _per_group_reference(attn: GroupAttention, x: Tensor, tok: Tensor, groups: list[list[int]], axis: str,
                         ) -> tuple[Tensor, Tensor]:
    """Loop reference: MHA on [x[group] ; tok] for each group (and frame for joints)."""
    mha = _mha_from_group(attn)
    n, t, s, c = x.shape
    out = torch.zeros_like(x)
    tok_outs = []
    for idx in groups:
        if axis == "joint":
            for f in range(t):
                seq = torch.cat([x[:, f, idx], tok], 1)
                y, _ = mha(seq, seq, seq, need_weights=False)
                out[:, f, idx] = y[:, :len(idx)]
                tok_outs.append(y[:, len(idx):])
        else:
            seq = torch.cat([x[:, idx].reshape(n, len(idx) * s, c), tok], 1)
            y, _ = mha(seq, seq, seq, need_weights=False)
            out[:, idx] = y[:, :len(idx) * s].reshape(n, len(idx), s, c)
            tok_outs.append(y[:, len(idx) * s:])
    return out, torch.stack(tok_outs).mean(0)


@pytest.mark.parametrize("stride,grouping", [(25, "local"), (100, "local"), (1, "dilated")])
def test_joint_stride_covering_all_joints_is_full_attention(stride: int, grouping: str) -> None:
    m = JointStrideAttention(C, HEADS, stride, grouping).eval()
    _randomise(m)
    x, tok = torch.randn(2, 3, 25, C), torch.randn(2, 2, C)
    out, tok_out = m(x, tok)
    ref, ref_tok = _per_group_reference(m.attn, x, tok, [list(range(25))], "joint")
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(tok_out, ref_tok, atol=1e-5, rtol=0)


@pytest.mark.parametrize("stride,grouping,expected", [
    (3, "local", [[0, 1, 2], [3, 4, 5], [6]]),
    (3, "dilated", [[0, 3, 6], [1, 4], [2, 5]]),
    (2, "local", [[0, 1], [2, 3], [4, 5], [6]]),
])
def test_joint_groups_with_padding_match_loop_reference(stride: int, grouping: str, expected: list) -> None:
    m = JointStrideAttention(C, HEADS, stride, grouping).eval()
    _randomise(m)
    assert m.group_index(7) == expected
    x, tok = torch.randn(2, 2, 7, C), torch.randn(2, 2, C)
    out, tok_out = m(x, tok)
    ref, ref_tok = _per_group_reference(m.attn, x, tok, expected, "joint")
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(tok_out, ref_tok, atol=1e-5, rtol=0)


def test_temporal_stride_one_is_full_attention() -> None:
    m = TemporalStrideAttention(C, HEADS, 1).eval()
    _randomise(m)
    x, tok = torch.randn(2, 4, 5, C), torch.randn(2, 2, C)
    out, tok_out = m(x, tok)
    mha = _mha_from_group(m.attn)
    seq = torch.cat([x.reshape(2, 20, C), tok], 1)
    ref, _ = mha(seq, seq, seq, need_weights=False)
    torch.testing.assert_close(out.reshape(2, 20, C), ref[:, :20], atol=1e-5, rtol=0)
    torch.testing.assert_close(tok_out, ref[:, 20:], atol=1e-5, rtol=0)


@pytest.mark.parametrize("t,stride", [(6, 2), (7, 3), (5, 8)])
def test_temporal_groups_match_loop_reference(t: int, stride: int) -> None:
    m = TemporalStrideAttention(C, HEADS, stride).eval()
    _randomise(m)
    x, tok = torch.randn(2, t, 3, C), torch.randn(2, 2, C)
    out, tok_out = m(x, tok)
    s = min(stride, t)
    groups = [list(range(j, t, s)) for j in range(s)]
    ref, ref_tok = _per_group_reference(m.attn, x, tok, groups, "time")
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(tok_out, ref_tok, atol=1e-5, rtol=0)


def test_permutation_equivariance_within_a_group() -> None:
    jm = JointStrideAttention(C, HEADS, 5, "local").eval()
    x, tok = torch.randn(1, 2, 25, C), torch.randn(1, 2, C)
    perm = torch.arange(25)
    perm[5:10] = torch.tensor([8, 5, 9, 7, 6])  # shuffle inside group 1 only
    a, ta = jm(x, tok)
    b, tb = jm(x[:, :, perm], tok)
    torch.testing.assert_close(b, a[:, :, perm], atol=1e-5, rtol=0)
    torch.testing.assert_close(tb, ta, atol=1e-5, rtol=0)
    # across groups the layer is NOT equivariant (the groups change)
    swap = torch.arange(25)
    swap[[0, 24]] = swap[[24, 0]]
    c, _ = jm(x[:, :, swap], tok)
    assert not torch.allclose(c, a[:, :, swap], atol=1e-4)

    tm = TemporalStrideAttention(C, HEADS, 2).eval()
    x, tok = torch.randn(1, 6, 4, C), torch.randn(1, 2, C)
    tperm = torch.tensor([4, 1, 0, 3, 2, 5])  # frames 0, 2, 4 form group 0
    a, ta = tm(x, tok)
    b, tb = tm(x[:, tperm], tok)
    torch.testing.assert_close(b, a[:, tperm], atol=1e-5, rtol=0)
    torch.testing.assert_close(tb, ta, atol=1e-5, rtol=0)


def test_stride_attention_shapes_gradients_and_errors() -> None:
    jm, tm = JointStrideAttention(C, HEADS, 4), TemporalStrideAttention(C, HEADS, 3)
    x = torch.randn(2, 5, 25, C, requires_grad=True)
    tok = torch.randn(2, 2, C, requires_grad=True)
    y, t1 = jm(x, tok)
    y, t2 = tm(y, t1)
    assert y.shape == (2, 5, 25, C) and t2.shape == (2, 2, C)
    (y.sum() + t2.sum()).backward()
    assert x.grad.abs().sum() > 0 and tok.grad.abs().sum() > 0
    y0, none = jm(x.detach(), None)
    assert y0.shape == x.shape and none is None
    with pytest.raises(ConfigError):
        jm(torch.randn(2, 25, C), tok)
    with pytest.raises(ConfigError):
        JointStrideAttention(C, HEADS, 4, "parts")
    with pytest.raises(ConfigError):
        TemporalStrideAttention(C, HEADS, 0)
