"""3D deformable cross-modal attention (Kim et al., ICCV 2023), built on DAT's 2-D design.

A feature volume ``Z`` (N, C, T, H, W) is flattened to ``T*H*W`` query tokens and joined by a
few cross-modal tokens (N, K, C) (the paper uses K = 2: one RGB and one pose token). Keys and
values do not come from every voxel: a *3D token search* (:class:`TokenSearch3D`) predicts a
bounded (t, y, x) offset for each point of a coarse reference grid (Ts, Hs, Ws), the volume is
sampled trilinearly at the shifted points (``F.grid_sample`` on 5-D input) and the sampled
"deformable tokens", concatenated with the cross-modal tokens, are projected by ``W_k`` / ``W_v``.
Every query then attends over those ``Ts*Hs*Ws + K`` keys.

With zero offsets and the full grid (``sample_size=None``) the sampled tokens are the voxels
themselves, so the layer is exactly multi-head self-attention over ``[Z ; tokens]``; the tests
check this against :class:`torch.nn.MultiheadAttention`.

Coordinates: ``F.grid_sample`` wants the last grid dimension ordered (x, y, t) in [-1, 1]
(``align_corners=True``: -1 and 1 are the centres of the first and last voxel). Offsets are
predicted, stored and returned in the (t, y, x) order and in units of voxels of the input
volume, and flipped to (x, y, t) only when the grid is built.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError

__all__ = ["DeformableAttention3D", "TokenSearch3D", "reference_grid_3d"]


def _triple(v: int | float | Sequence[int | float], name: str) -> tuple:
    if isinstance(v, (int, float)):
        return (v, v, v)
    v = tuple(v)
    if len(v) != 3:
        raise ConfigError(f"{name} must be a number or a (t, h, w) triple, got {v!r}")
    return v


def reference_grid_3d(in_size: Sequence[int], out_size: Sequence[int], device: torch.device | None = None,
                      dtype: torch.dtype = torch.float32) -> Tensor:
    """Uniform reference points of an ``out_size`` grid laid over an ``in_size`` volume.

    Point ``i`` of an axis with ``D`` input voxels and ``n`` samples sits at the centre of its
    block, voxel coordinate ``(i + 0.5) * D / n - 0.5`` (so ``n == D`` gives the voxels
    themselves), normalised to [-1, 1] for ``align_corners=True``. A one-voxel axis maps to 0.

    Returns:
        (Ts, Hs, Ws, 3) tensor ordered (t, y, x), in normalised coordinates.
    """
    axes = []
    for d, n in zip(in_size, out_size):
        pos = (torch.arange(n, device=device, dtype=dtype) + 0.5) * (d / n) - 0.5
        axes.append(pos * (2.0 / (d - 1)) - 1.0 if d > 1 else torch.zeros_like(pos))
    gt, gy, gx = torch.meshgrid(*axes, indexing="ij")
    return torch.stack((gt, gy, gx), dim=-1)


class _ChannelLayerNorm3d(nn.LayerNorm):
    """LayerNorm over the channel axis of a (B, C, T, H, W) volume."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)


class TokenSearch3D(nn.Module):
    """3D token search: predicts bounded (t, y, x) offsets on a coarse reference grid.

    depthwise Conv3d(k, stride = input size / sample size) -> LayerNorm(channels) -> GELU
    -> Conv3d 1x1x1 (-> 3 channels, no bias) -> tanh * offset_range.

    Input (B, C, T, H, W) (B = N * offset groups, C = channels per group); output
    (B, Ts, Hs, Ws, 3) offsets in voxels of the input volume, ordered (t, y, x), each
    component bounded by ``offset_range`` (0 on one-voxel axes, which cannot move).

    The stride is derived from the input size at call time, so ``sample_size`` must divide
    the input volume; ``sample_size=None`` keeps the full grid (stride 1).
    """

    def __init__(self, channels: int, kernel_size: int = 3,
                 offset_range: float | Sequence[float] = (1.0, 2.0, 2.0),
                 sample_size: Sequence[int] | None = None, zero_init: bool = True) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ConfigError(f"offset_kernel must be a positive odd number, got {kernel_size}")
        self.kernel_size = kernel_size
        self.offset_range = tuple(float(r) for r in _triple(offset_range, "offset_range"))
        if any(r < 0 for r in self.offset_range):
            raise ConfigError(f"offset_range must be >= 0, got {self.offset_range}")
        self.sample_size = None if sample_size is None else tuple(int(s) for s in _triple(sample_size, "sample_size"))
        if self.sample_size is not None and any(s < 1 for s in self.sample_size):
            raise ConfigError(f"sample_size must be positive, got {self.sample_size}")
        self.dw = nn.Conv3d(channels, channels, kernel_size, padding=kernel_size // 2, groups=channels)
        self.norm = _ChannelLayerNorm3d(channels)
        self.act = nn.GELU()
        # no bias: zero weights then give exactly zero offsets (plain attention at init)
        self.proj = nn.Conv3d(channels, 3, 1, bias=False)
        if zero_init:
            nn.init.zeros_(self.proj.weight)

    def output_size(self, in_size: Sequence[int]) -> tuple[int, int, int]:
        """Sample grid (Ts, Hs, Ws) for an input volume (T, H, W); raises ConfigError if it does not divide."""
        if self.sample_size is None:
            return (int(in_size[0]), int(in_size[1]), int(in_size[2]))
        for d, s in zip(in_size, self.sample_size):
            if s > d or d % s:
                raise ConfigError(f"sample_size {self.sample_size} must divide the feature volume "
                                  f"{tuple(int(x) for x in in_size)} (T, H, W)")
        return self.sample_size

    def forward(self, x: Tensor) -> Tensor:
        in_size = tuple(x.shape[-3:])
        out_size = self.output_size(in_size)
        stride = tuple(d // s for d, s in zip(in_size, out_size))
        # padding k//2 with stride d/s yields exactly s outputs for odd k
        h = F.conv3d(x, self.dw.weight, self.dw.bias, stride=stride, padding=self.kernel_size // 2,
                     groups=self.dw.groups)
        h = self.proj(self.act(self.norm(h)))
        rng = torch.tensor([r if d > 1 else 0.0 for r, d in zip(self.offset_range, in_size)],
                           device=h.device, dtype=h.dtype)
        return torch.tanh(h).permute(0, 2, 3, 4, 1) * rng


class DeformableAttention3D(nn.Module):
    """Multi-head attention of volume tokens + cross-modal tokens over 3D-deformed keys/values.

    Args:
        dim: channels C.
        heads: attention heads (``dim % heads == 0``).
        offset_groups: channel groups with their own offsets (``dim % offset_groups == 0``);
            the token-search net is shared by the groups, as in DAT.
        offset_kernel: odd kernel of the depthwise Conv3d of the token search.
        offset_range: bound of |offset| per axis (t, h, w), in voxels of the input volume.
        sample_size: (Ts, Hs, Ws) sampled key grid; ``None`` = full grid (T, H, W). Must divide
            the input volume.
        qkv_bias: bias of the q/k/v projections.
        attn_drop: attention dropout (training only).
        proj_drop: dropout after the output projection.
        padding_mode: ``F.grid_sample`` padding for points shifted outside the volume.
        zero_init_offsets: zero the last token-search conv so the layer starts as plain attention.

    Shapes:
        z: (N, C, T, H, W); tokens: (N, K, C) or None.
        Returns ``(z_out (N, C, T, H, W), tokens_out (N, K, C) or None, extras)`` where ``extras``
        holds ``"offsets"`` (N, G, Ts, Hs, Ws, 3) in voxels, (t, y, x) order, if
        ``return_offsets``, and ``"attention"`` (N, heads, T*H*W + K, Ts*Hs*Ws + K) if
        ``return_attention`` (queries: voxels then tokens; keys: samples then tokens).
    """

    def __init__(self, dim: int, heads: int = 8, offset_groups: int = 1, offset_kernel: int = 3,
                 offset_range: float | Sequence[float] = (1.0, 2.0, 2.0),
                 sample_size: Sequence[int] | None = None, qkv_bias: bool = True, attn_drop: float = 0.0,
                 proj_drop: float = 0.0, padding_mode: str = "zeros", zero_init_offsets: bool = True) -> None:
        super().__init__()
        if dim % heads:
            raise ConfigError(f"dim {dim} is not divisible by heads {heads}")
        if dim % offset_groups:
            raise ConfigError(f"dim {dim} is not divisible by offset_groups {offset_groups}")
        if padding_mode not in ("zeros", "border", "reflection"):
            raise ConfigError(f"padding_mode must be zeros/border/reflection, got {padding_mode!r}")
        self.dim, self.heads, self.groups = dim, heads, offset_groups
        self.head_dim = dim // heads
        self.attn_drop = attn_drop
        self.padding_mode = padding_mode
        self.q_proj = nn.Linear(dim, dim, bias=qkv_bias)
        self.k_proj = nn.Linear(dim, dim, bias=qkv_bias)
        self.v_proj = nn.Linear(dim, dim, bias=qkv_bias)
        self.out_proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        self.token_search = TokenSearch3D(dim // offset_groups, offset_kernel, offset_range, sample_size,
                                          zero_init=zero_init_offsets)

    @property
    def sample_size(self) -> tuple[int, int, int] | None:
        return self.token_search.sample_size

    def _heads(self, x: Tensor) -> Tensor:
        n, length, _ = x.shape
        return x.reshape(n, length, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, z: Tensor, tokens: Tensor | None = None, return_offsets: bool = False,
                return_attention: bool = False) -> tuple[Tensor, Tensor | None, dict[str, Tensor]]:
        if z.dim() != 5 or z.shape[1] != self.dim:
            raise ConfigError(f"DeformableAttention3D expects z of shape (N, {self.dim}, T, H, W), "
                              f"got {tuple(z.shape)}")
        n, c, t, h, w = z.shape
        x = z.flatten(2).transpose(1, 2)
        y, tok, extras = self.forward_tokens(x, (t, h, w), tokens, return_offsets, return_attention)
        return y.transpose(1, 2).reshape(n, c, t, h, w), tok, extras

    def forward_tokens(self, x: Tensor, size: tuple[int, int, int], tokens: Tensor | None = None,
                       return_offsets: bool = False, return_attention: bool = False,
                       ) -> tuple[Tensor, Tensor | None, dict[str, Tensor]]:
        """Same as :meth:`forward` on channels-last tokens ``x`` (N, T*H*W, C) of a volume ``size``.

        Returns ``(x_out (N, T*H*W, C), tokens_out, extras)``.
        """
        n, length, c = x.shape
        t, h, w = size
        if length != t * h * w or c != self.dim:
            raise ConfigError(f"expected tokens (N, {t * h * w}, {self.dim}) for volume {size}, got {tuple(x.shape)}")
        if tokens is not None and (tokens.dim() != 3 or tokens.shape[0] != n or tokens.shape[2] != c):
            raise ConfigError(f"cross-modal tokens must be (N={n}, K, {c}), got {tuple(tokens.shape)}")
        k_tok = 0 if tokens is None else tokens.shape[1]
        g, cg = self.groups, c // self.groups

        queries = x if tokens is None else torch.cat([x, tokens], dim=1)
        q = self.q_proj(queries)

        # token search on the projected queries of the volume, one offset field per channel group
        q_vol = q[:, :length].transpose(1, 2).reshape(n * g, cg, t, h, w)
        offsets = self.token_search(q_vol)  # (N*G, Ts, Hs, Ws, 3) voxels, (t, y, x)
        ts, hs, ws = offsets.shape[1:4]
        # voxels -> normalised units (align_corners=True: 2 / (D - 1) per voxel)
        scale = torch.tensor([2.0 / (d - 1) if d > 1 else 0.0 for d in (t, h, w)], device=x.device)
        ref = reference_grid_3d((t, h, w), (ts, hs, ws), device=x.device)
        pos = ref + offsets.to(torch.promote_types(offsets.dtype, torch.float32)) * scale
        grid = pos.flip(-1)  # grid_sample wants (x, y, t)

        src = x.transpose(1, 2).reshape(n * g, cg, t, h, w)
        # sample in the wider of the two dtypes: bf16 grid coordinates would be off by ~1/100 voxel
        dt = torch.promote_types(src.dtype, grid.dtype)
        sampled = F.grid_sample(src.to(dt), grid.to(dt), mode="bilinear", padding_mode=self.padding_mode,
                                align_corners=True).to(src.dtype)  # 5-D "bilinear" = trilinear
        sampled = sampled.reshape(n, c, ts * hs * ws).transpose(1, 2)

        kv_in = sampled if tokens is None else torch.cat([sampled, tokens.to(sampled.dtype)], dim=1)
        qh, kh, vh = self._heads(q), self._heads(self.k_proj(kv_in)), self._heads(self.v_proj(kv_in))
        extras: dict[str, Tensor] = {}
        drop = self.attn_drop if self.training else 0.0
        if return_attention:
            attn = (qh @ kh.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim))
            attn = attn.softmax(dim=-1)
            extras["attention"] = attn
            out = F.dropout(attn, drop, self.training) @ vh
        else:
            out = F.scaled_dot_product_attention(qh, kh, vh, dropout_p=drop)
        out = out.transpose(1, 2).reshape(n, length + k_tok, c)
        out = self.proj_drop(self.out_proj(out))
        if return_offsets:
            extras["offsets"] = offsets.reshape(n, g, ts, hs, ws, 3)
        return out[:, :length], (out[:, length:] if tokens is not None else None), extras
