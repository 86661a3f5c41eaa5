"""Joint-stride and temporal-stride attention with cross-modal tokens (Kim et al., ICCV 2023).

Both split a token grid into groups, run multi-head self-attention inside every group over
``[group tokens ; cross-modal tokens]`` (all groups in one batched call: the groups become batch
entries by reshape, never a Python loop) and return the updated grid plus the cross-modal
tokens averaged over the groups that updated them.

* :class:`JointStrideAttention` works per frame on pose tokens (N, T, V, C). ``grouping="local"``
  (default): windows of ``stride`` consecutive joints {0..s-1}, {s..2s-1}, ... (ceil(V/s)
  groups); ``grouping="dilated"``: joint ``j`` goes to group ``j % stride`` (s groups of
  ceil(V/s) joints). A stride >= V (local) or 1 (dilated) is full attention over all joints.
* :class:`TemporalStrideAttention` works on (N, T, S, C) tokens: frame ``t`` goes to group
  ``t % stride``, i.e. groups {t, t+s, t+2s, ...}; a group attends over all S tokens of its
  frames. ``stride=1`` is full spatio-temporal attention.

A grid that does not split evenly is zero-padded and the padded keys are masked out.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError

__all__ = ["GroupAttention", "JointStrideAttention", "TemporalStrideAttention"]


class GroupAttention(nn.Module):
    """Multi-head self-attention on (B, L, C) with an optional key mask (B, L) (True = keep).

    Weights laid out like :class:`torch.nn.MultiheadAttention` (``qkv`` = ``in_proj``,
    ``proj`` = ``out_proj``), so its weights can be copied one to one.
    """

    def __init__(self, dim: int, heads: int, qkv_bias: bool = True, attn_drop: float = 0.0,
                 proj_drop: float = 0.0) -> None:
        super().__init__()
        if dim % heads:
            raise ConfigError(f"dim {dim} is not divisible by heads {heads}")
        self.dim, self.heads, self.head_dim = dim, heads, dim // heads
        self.attn_drop = attn_drop
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: Tensor, key_mask: Tensor | None = None) -> Tensor:
        b, length, c = x.shape
        q, k, v = self.qkv(x).reshape(b, length, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        mask = None if key_mask is None else key_mask[:, None, None, :]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                             dropout_p=self.attn_drop if self.training else 0.0)
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(b, length, c)))


def _check(x: Tensor, tokens: Tensor | None, dim: int, name: str) -> None:
    if x.dim() != 4 or x.shape[-1] != dim:
        raise ConfigError(f"{name} expects tokens of shape (N, T, S, {dim}), got {tuple(x.shape)}")
    if tokens is not None and (tokens.dim() != 3 or tokens.shape[0] != x.shape[0] or tokens.shape[2] != dim):
        raise ConfigError(f"{name}: cross-modal tokens must be (N={x.shape[0]}, K, {dim}), got {tuple(tokens.shape)}")


def _grouped_attention(attn: GroupAttention, groups: Tensor, tokens: Tensor | None, valid: Tensor | None,
                       ) -> tuple[Tensor, Tensor | None]:
    """Attention inside each group.

    groups: (N, R, G, g, C) -- R repeats that share the cross-modal tokens (frames), G groups of g
    tokens; valid: (G, g) bool or None. Returns the group outputs (N, R, G, g, C) and the
    cross-modal tokens (N, K, C) averaged over the R*G attention calls.
    """
    n, r, ng, g, c = groups.shape
    seq = groups.reshape(n * r * ng, g, c)
    k = 0
    if tokens is not None:
        k = tokens.shape[1]
        tok = tokens.to(seq.dtype)[:, None].expand(n, r * ng, k, c).reshape(n * r * ng, k, c)
        seq = torch.cat([seq, tok], dim=1)
    mask = None
    if valid is not None:
        if k:
            valid = torch.cat([valid, valid.new_ones(ng, k)], dim=1)
        mask = valid[None].expand(n * r, ng, g + k).reshape(n * r * ng, g + k)
    out = attn(seq, mask)
    grid = out[:, :g].reshape(n, r, ng, g, c)
    tok_out = out[:, g:].reshape(n, r * ng, k, c).mean(dim=1) if tokens is not None else None
    return grid, tok_out


class JointStrideAttention(nn.Module):
    """Per-frame attention inside strided joint groups, with cross-modal tokens.

    Args:
        dim: channels C. heads: attention heads.
        stride: window size (``grouping="local"``) or number of interleaved groups (``"dilated"``).
        grouping: ``"local"`` (consecutive joints) or ``"dilated"`` (joint j -> group j % stride).

    Shapes:
        x: (N, T, V, C) pose tokens; tokens: (N, K, C) cross-modal tokens or None.
        Returns (x_out (N, T, V, C), tokens_out (N, K, C) = mean over frames and groups, or None).
    """

    def __init__(self, dim: int, heads: int = 8, stride: int = 4, grouping: str = "local", qkv_bias: bool = True,
                 attn_drop: float = 0.0, proj_drop: float = 0.0) -> None:
        super().__init__()
        if stride < 1:
            raise ConfigError(f"joint stride must be >= 1, got {stride}")
        if grouping not in ("local", "dilated"):
            raise ConfigError(f"grouping must be 'local' or 'dilated', got {grouping!r}")
        self.dim, self.stride, self.grouping = dim, stride, grouping
        self.attn = GroupAttention(dim, heads, qkv_bias, attn_drop, proj_drop)

    def group_index(self, num_joints: int) -> list[list[int]]:
        """The joints of each group, for documentation and tests."""
        v = num_joints
        if self.grouping == "local":
            return [list(range(s, min(s + self.stride, v))) for s in range(0, v, self.stride)]
        return [list(range(s, v, self.stride)) for s in range(min(self.stride, v))]

    def forward(self, x: Tensor, tokens: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        _check(x, tokens, self.dim, "JointStrideAttention")
        n, t, v, c = x.shape
        s = min(self.stride, v)
        per = -(-v // s)  # ceil
        padded = per * s
        if padded != v:
            x = F.pad(x, (0, 0, 0, padded - v))
        valid = None
        if padded != v:
            valid = torch.arange(padded, device=x.device) < v
        if self.grouping == "local":
            groups = x.reshape(n, t, per, s, c)  # `per` windows of s joints
            valid = None if valid is None else valid.reshape(per, s)
        else:
            groups = x.reshape(n, t, per, s, c).transpose(2, 3)  # s groups of `per` joints
            valid = None if valid is None else valid.reshape(per, s).t()
        out, tok = _grouped_attention(self.attn, groups, tokens, valid)
        if self.grouping == "dilated":
            out = out.transpose(2, 3)
        return out.reshape(n, t, padded, c)[:, :, :v], tok


class TemporalStrideAttention(nn.Module):
    """Attention inside temporally strided groups {t, t+s, t+2s, ...}, with cross-modal tokens.

    Args:
        dim: channels C. heads: attention heads. stride: s (number of groups; 1 = full attention).

    Shapes:
        x: (N, T, S, C) (S tokens per frame, e.g. S = V joints); tokens: (N, K, C) or None.
        Returns (x_out (N, T, S, C), tokens_out (N, K, C) = mean over the s groups, or None).
    """

    def __init__(self, dim: int, heads: int = 8, stride: int = 2, qkv_bias: bool = True, attn_drop: float = 0.0,
                 proj_drop: float = 0.0) -> None:
        super().__init__()
        if stride < 1:
            raise ConfigError(f"temporal stride must be >= 1, got {stride}")
        self.dim, self.stride = dim, stride
        self.attn = GroupAttention(dim, heads, qkv_bias, attn_drop, proj_drop)

    def forward(self, x: Tensor, tokens: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        _check(x, tokens, self.dim, "TemporalStrideAttention")
        n, t, sp, c = x.shape
        s = min(self.stride, t)
        per = -(-t // s)
        padded = per * s
        valid = None
        if padded != t:
            x = F.pad(x, (0, 0, 0, 0, 0, padded - t))
            # frame f = i*s + j sits at (position i, group j); group j is a column of this table
            valid = (torch.arange(padded, device=x.device) < t).reshape(per, s).t()  # (s, per)
            valid = valid[:, :, None].expand(s, per, sp).reshape(s, per * sp)
        groups = x.reshape(n, per, s, sp, c).transpose(1, 2).reshape(n, 1, s, per * sp, c)
        out, tok = _grouped_attention(self.attn, groups, tokens, valid)
        out = out.reshape(n, s, per, sp, c).transpose(1, 2).reshape(n, padded, sp, c)
        return out[:, :t], tok
