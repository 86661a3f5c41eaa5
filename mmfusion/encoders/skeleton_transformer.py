"""MAMP-style spatio-temporal skeleton transformer (Mao et al., "Masked Motion Predictors are
Strong 3D Action Representation Learners", ICCV 2023; also the STARS encoder).

Facts from the official ``maoyunyao/MAMP`` ``model/transformer.py`` (re-implemented):

* a token is one joint over ``t_patch = 4`` frames: T=120 -> 30 x 25 = 750 tokens per person;
* linear patch embedding of the 4 x 3 values (MAMP uses a Conv2d with kernel = stride =
  (4, 1), the same map; :meth:`SkeletonTransformer.load_mamp_patch_conv` converts). Patch
  features are ordered ``(t, C)`` (frame-major, xyz fastest), the order of MAMP's pre-training
  ``patchify`` (its motion targets), so raw patches and pretext targets share one layout;
* factorised additive learned position embeddings: temporal (T/4, D) + spatial (V, D),
  truncated-normal std 0.02;
* 8 pre-LN ViT blocks, D=256, 8 heads, MLP ratio 4, qkv bias, GELU, full joint-time
  attention; final LayerNorm. Encoder: 6,344,192 parameters.

Masking for MAE-style pre-training (MAMP motion-aware masking, STARS, ...): pass a boolean
``mask`` (True = hidden from the encoder, MAE's "1 is remove") or explicit ``keep_idx``;
only the kept tokens run through the blocks. Token order is time-major:
``token = t' * V + v``.

Persons are folded into the batch (each person is an independent sequence) and pooled
features are averaged over persons.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.layouts import SkeletonLayout, get_layout
from ..errors import ConfigError
from .layers import DropPath, Mlp
from .stgcn import check_skeleton

__all__ = ["SkeletonTransformer", "TransformerBlock"]



def init_linear_layernorm(modules: Iterable[nn.Module]) -> None:
    """MAMP's (and MAE's) initialisation: Linear xavier-uniform with zero bias, LayerNorm 1 / 0."""
    for m in modules:
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

class _Attention(nn.Module):
    """Multi-head self-attention (fused SDPA); (B, L, D) -> (B, L, D)."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, attn_drop: float = 0.0,
                 proj_drop: float = 0.0) -> None:
        super().__init__()
        if dim % num_heads:
            raise ConfigError(f"transformer: dim {dim} must divide by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.attn_drop = attn_drop
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop if self.training else 0.0)
        return self.proj_drop(self.proj(y.transpose(1, 2).reshape(b, n, d)))


class TransformerBlock(nn.Module):
    """Pre-LN ViT block: x + attn(LN(x)), then x + MLP(LN(x)); (B, L, D) -> (B, L, D)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True, drop: float = 0.0,
                 attn_drop: float = 0.0, drop_path: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = _Attention(dim, num_heads, qkv_bias, attn_drop, drop)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, mlp_ratio, drop)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class SkeletonTransformer(nn.Module):
    """Joint x time-patch tokens through a plain transformer encoder.

    Args:
        layout: skeleton layout (V joints).
        in_channels: C of the input (3).
        num_frames: largest T supported (size of the temporal position table); shorter
            inputs use the first ``T / t_patch`` rows (MAMP itself requires T == 120).
        t_patch: frames per token (4).
        dim, depth, num_heads, mlp_ratio, qkv_bias: transformer size (256, 8, 8, 4, True).
        drop_rate, attn_drop_rate, drop_path_rate: regularisation (MAMP finetune: drop path 0.3).

    Shapes:
        ``forward(x)``: (N, C, T, V, M) -> (N, dim) mean over tokens and persons.
        ``forward_tokens(x, mask=None, keep_idx=None)``: (N, C, T, V, M) -> (N*M, L_keep, dim)
        with L = (T / t_patch) * V tokens, after the final LayerNorm.
        ``forward_features(x)``: (N, C, T, V, M) -> (N, M, T / t_patch, V, dim);
        ``pool``: -> (N, dim) (mean over tokens, then persons).
    """

    def __init__(self, layout: SkeletonLayout | str = "ntu25", in_channels: int = 3, num_frames: int = 120,
                 t_patch: int = 4, dim: int = 256, depth: int = 8, num_heads: int = 8, mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0) -> None:
        super().__init__()
        self.layout = get_layout(layout)
        if t_patch < 1 or num_frames % t_patch:
            raise ConfigError(f"transformer: num_frames {num_frames} must be a multiple of t_patch {t_patch}")
        self.in_channels = in_channels
        self.num_frames = num_frames
        self.t_patch = t_patch
        self.out_dim = dim
        v = self.layout.num_joints
        # input features ordered (t, C) as MAMP's pre-training patchify; load_mamp_patch_conv permutes
        self.patch_embed = nn.Linear(in_channels * t_patch, dim)
        self.temp_embed = nn.Parameter(torch.zeros(1, num_frames // t_patch, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1, v, dim))
        self.pos_drop = nn.Dropout(drop_rate)
        dpr = torch.linspace(0, drop_path_rate, depth).tolist()
        self.blocks = nn.ModuleList([TransformerBlock(dim, num_heads, mlp_ratio, qkv_bias, drop_rate, attn_drop_rate,
                                                      dpr[i]) for i in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self._init_weights()

    def _init_weights(self) -> None:
        nn.init.trunc_normal_(self.temp_embed, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        init_linear_layernorm(self.modules())

    @property
    def num_joints(self) -> int:
        return self.layout.num_joints

    def patchify(self, x: Tensor) -> Tensor:
        """(N, C, T, V, M) -> (N*M, T/t_patch, V, t_patch*C) raw patches (features ordered (t, C))."""
        n, c, t, v, m = check_skeleton(x, self.num_joints, self.in_channels, "skeleton transformer")
        if t % self.t_patch or t > self.num_frames:
            raise ConfigError(f"skeleton transformer: T={t} must be a multiple of t_patch={self.t_patch} and "
                              f"<= num_frames={self.num_frames}")
        tp = t // self.t_patch
        y = x.permute(0, 4, 2, 3, 1).reshape(n * m, tp, self.t_patch, v, c)  # (NM, T', t, V, C)
        return y.permute(0, 1, 3, 2, 4).reshape(n * m, tp, v, self.t_patch * c)

    def embed(self, x: Tensor) -> Tensor:
        """(N, C, T, V, M) -> (N*M, T', V, dim) token embeddings plus position embeddings."""
        p = self.patchify(x)
        tok = self.patch_embed(p)
        return tok + self.temp_embed[:, : tok.shape[1]] + self.pos_embed

    @staticmethod
    def _keep_from_mask(mask: Tensor, b: int, length: int) -> Tensor:
        if mask.dtype != torch.bool:
            raise ConfigError(f"skeleton transformer: mask must be bool (True = masked), got {mask.dtype}")
        if mask.numel() != b * length:
            raise ConfigError(f"skeleton transformer: mask has {mask.numel()} entries, expected (N*M, L) = "
                              f"({b}, {length}) or (N, M, T', V)")
        mask = mask.reshape(b, length)
        kept = (~mask).sum(dim=1)
        if not bool((kept == kept[0]).all()) or int(kept[0]) == 0:
            raise ConfigError("skeleton transformer: every sequence must keep the same, non-zero number of tokens "
                              f"(kept per row: {kept.tolist()[:8]})")
        # stable sort puts kept tokens (False) first in their original order
        return torch.sort(mask.to(torch.uint8), dim=1, stable=True).indices[:, : int(kept[0])]

    def forward_tokens(self, x: Tensor, mask: Tensor | None = None, keep_idx: Tensor | None = None) -> Tensor:
        """Encode (optionally a subset of) the tokens.

        Args:
            x: (N, C, T, V, M) skeletons.
            mask: optional bool, (N*M, L) or (N, M, T', V); True = hidden from the encoder.
                Every sequence must keep the same number of tokens.
            keep_idx: optional long (N*M, L_keep) indices of the tokens to encode
                (alternative to ``mask``; order is preserved).

        Returns:
            (N*M, L_keep, dim) after the final LayerNorm (L_keep = L without masking).
        """
        tok = self.embed(x)
        b, tp, v, d = tok.shape
        tok = tok.reshape(b, tp * v, d)
        if mask is not None and keep_idx is not None:
            raise ConfigError("skeleton transformer: pass either mask or keep_idx, not both")
        if mask is not None:
            keep_idx = self._keep_from_mask(mask, b, tp * v)
        if keep_idx is not None:
            if keep_idx.ndim != 2 or keep_idx.shape[0] != b:
                raise ConfigError(f"skeleton transformer: keep_idx must be (N*M={b}, L_keep), got "
                                  f"{tuple(keep_idx.shape)}")
            if keep_idx.numel() and (int(keep_idx.min()) < 0 or int(keep_idx.max()) >= tp * v):
                raise ConfigError(f"skeleton transformer: keep_idx outside [0, {tp * v})")
            tok = torch.gather(tok, 1, keep_idx.unsqueeze(-1).expand(-1, -1, d))
        tok = self.pos_drop(tok)
        for blk in self.blocks:
            tok = blk(tok)
        return self.norm(tok)

    def forward_features(self, x: Tensor) -> Tensor:
        """(N, C, T, V, M) -> (N, M, T', V, dim) token features (all tokens)."""
        n, m = x.shape[0], x.shape[-1]
        tok = self.forward_tokens(x)
        return tok.view(n, m, x.shape[2] // self.t_patch, self.num_joints, self.out_dim)

    @staticmethod
    def pool(tokens: Tensor) -> Tensor:
        """(N, M, T', V, dim) -> (N, dim): mean over tokens, then persons."""
        return tokens.mean(dim=(2, 3)).mean(dim=1)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """(N, C, T, V, M) -> (N, dim): mean over (kept) tokens, then persons."""
        n, m = x.shape[0], x.shape[-1]
        tok = self.forward_tokens(x, mask=mask)
        return tok.mean(dim=1).view(n, m, -1).mean(dim=1)

    @torch.no_grad()
    def load_mamp_patch_conv(self, weight: Tensor, bias: Tensor) -> None:
        """Copy MAMP's ``joints_embed.proj`` Conv2d (D, C, t_patch, 1) into the linear embedding.

        The conv's inputs are ordered (C, t); the linear layer reads (t, C) patches, so the
        weight is permuted to (D, t, C) first.
        """
        expected = (self.out_dim, self.in_channels, self.t_patch, 1)
        if tuple(weight.shape) != expected:
            raise ConfigError(f"skeleton transformer: patch conv weight {tuple(weight.shape)} != {expected}")
        self.patch_embed.weight.copy_(weight[..., 0].permute(0, 2, 1).reshape(self.out_dim, -1))
        self.patch_embed.bias.copy_(bias)

    def extra_repr(self) -> str:
        return f"t_patch={self.t_patch}, num_frames={self.num_frames}, tokens/person={self.num_tokens}"

    @property
    def num_tokens(self) -> int:
        """Tokens per person at ``num_frames``."""
        return self.num_frames // self.t_patch * self.num_joints
