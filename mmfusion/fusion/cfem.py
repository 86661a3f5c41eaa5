"""Complementary Feature Extraction Module (CFEM) of M-Mixer's journal version (arXiv 2311.12344).

Every target modality ``m`` owns ``Q`` learnable query embeddings. They cross-attend to the
tokens of all the *other* modalities (each frame feature + a sinusoidal temporal position +
a learnable embedding of its modality) through a few pre-LN transformer decoder layers
(cross-attention, FFN; no self-attention between modalities' tokens). The result for ``m``::

    features  (N, Q, d)   complementary information about m taken from the others
    content   (N, d)      mean over the Q queries = cross-modal action content g_m for the MCU

All targets are computed in one attention call: the queries of every modality attend to
every token, with a mask that hides a modality's own tokens from its queries. The output for
``m`` therefore does not depend on ``m``'s own features, nor on the order in which the
modalities are given (attention is a set operation, positions are per modality).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..encoders.layers import Mlp
from ..errors import ConfigError
from ..model_cfg import InputSpec, ModelCfg
from ..registry import register_model

__all__ = ["CFEM", "CFEMLayer", "CFEMOutput", "sinusoidal_positions"]


class CFEMOutput(NamedTuple):
    """CFEM result for one target modality: ``features`` (N, Q, d) and ``content`` (N, d)."""

    features: Tensor
    content: Tensor


def sinusoidal_positions(length: int, dim: int, device: torch.device | None = None,
                         dtype: torch.dtype = torch.float32) -> Tensor:
    """Transformer sine/cosine table (length, dim) computed on the fly (no maximum length)."""
    pos = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)
    half = (dim + 1) // 2
    freq = torch.exp(torch.arange(half, device=device, dtype=torch.float32) * (-math.log(10000.0) / max(half, 1)))
    angles = pos * freq
    table = torch.stack((angles.sin(), angles.cos()), dim=-1).reshape(length, 2 * half)[:, :dim]
    return table.to(dtype)


class CFEMLayer(nn.Module):
    """Pre-LN decoder layer without self-attention: q += MHA(LN(q), LN(kv)); q += FFN(LN(q)).

    Shapes: ``queries`` (N, L_q, d), ``tokens`` (N, L, d), ``mask`` (L_q, L) bool, ``True`` =
    may not attend -> (N, L_q, d).
    """

    def __init__(self, dim: int, num_heads: int, ffn_ratio: float = 4.0, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True)
        self.norm_ffn = nn.LayerNorm(dim)
        self.ffn = Mlp(dim, ffn_ratio, dropout)

    def forward(self, queries: Tensor, tokens: Tensor, mask: Tensor | None = None) -> Tensor:
        kv = self.norm_kv(tokens)
        attended, _ = self.attn(self.norm_q(queries), kv, kv, attn_mask=mask, need_weights=False)
        queries = queries + attended
        return queries + self.ffn(self.norm_ffn(queries))


class CFEM(nn.Module):
    """Query-based extraction of complementary features from the other modalities.

    ``forward(features)`` takes ``{modality: (N, T_m, d)}`` (two or more of the configured
    modalities, any order, each its own T) and returns ``{modality: CFEMOutput}`` with
    ``features`` (N, Q, d) and ``content`` (N, d) for every given modality.

    Args:
        dim: d.
        modalities: names of every modality this module may see (one query set and one
            modality embedding each).
        num_queries: Q.
        num_heads: attention heads (must divide ``dim``).
        num_layers: decoder layers (1-2 in the paper's spirit).
        ffn_ratio: FFN hidden size / d.
        dropout: attention and FFN dropout.
    """

    def __init__(self, dim: int, modalities: Sequence[str], num_queries: int = 4, num_heads: int = 8,
                 num_layers: int = 1, ffn_ratio: float = 4.0, dropout: float = 0.0) -> None:
        super().__init__()
        modalities = tuple(modalities)
        if len(set(modalities)) != len(modalities) or len(modalities) < 2:
            raise ConfigError(f"CFEM needs two or more distinct modalities, got {modalities}")
        if num_queries < 1 or num_layers < 1:
            raise ConfigError(f"CFEM: num_queries and num_layers must be >= 1, got {num_queries}, {num_layers}")
        if num_heads < 1 or dim % num_heads:
            raise ConfigError(f"CFEM: num_heads={num_heads} must divide dim={dim}")
        self.dim, self.modalities, self.num_queries = dim, modalities, num_queries
        self.queries = nn.ParameterDict({m: nn.Parameter(torch.randn(num_queries, dim) * 0.02) for m in modalities})
        self.modality_embed = nn.ParameterDict({m: nn.Parameter(torch.randn(dim) * 0.02) for m in modalities})
        self.layers = nn.ModuleList(CFEMLayer(dim, num_heads, ffn_ratio, dropout) for _ in range(num_layers))
        self.norm = nn.LayerNorm(dim)

    def forward(self, features: Mapping[str, Tensor]) -> dict[str, CFEMOutput]:
        names = list(features)
        if len(names) < 2:
            raise ConfigError(f"CFEM needs features of two or more modalities, got {names}")
        unknown = [m for m in names if m not in self.queries]
        if unknown:
            raise ConfigError(f"CFEM was built for {self.modalities}, got unknown modalities {unknown}")
        first = features[names[0]]
        n = first.shape[0]
        tokens, owner = [], []
        for idx, m in enumerate(names):
            f = features[m]
            if f.ndim != 3 or f.shape[0] != n or f.shape[-1] != self.dim:
                raise ConfigError(f"CFEM expects {m!r} features ({n}, T, {self.dim}), got {tuple(f.shape)}")
            pos = sinusoidal_positions(f.shape[1], self.dim, f.device, f.dtype)
            tokens.append(f + pos + self.modality_embed[m].to(f.dtype))
            owner.append(torch.full((f.shape[1],), idx, device=f.device, dtype=torch.long))
        kv = torch.cat(tokens, dim=1)  # (N, L, d), L = sum of T_m
        token_owner = torch.cat(owner)
        query_owner = torch.arange(len(names), device=first.device).repeat_interleave(self.num_queries)
        mask = query_owner.unsqueeze(1) == token_owner.unsqueeze(0)  # a modality never reads itself
        q = torch.cat([self.queries[m] for m in names], dim=0)  # (M*Q, d)
        q = q.unsqueeze(0).expand(n, -1, -1).to(kv.dtype)
        for layer in self.layers:
            q = layer(q, kv, mask)
        q = self.norm(q).reshape(n, len(names), self.num_queries, self.dim)
        return {m: CFEMOutput(q[:, i], q[:, i].mean(dim=1)) for i, m in enumerate(names)}

    def extra_repr(self) -> str:
        return f"dim={self.dim}, modalities={self.modalities}, num_queries={self.num_queries}"


@register_model(tags=("fusion",), cfg=ModelCfg(
    inputs={m: InputSpec((16, 512), "T D") for m in ("rgb", "depth", "ir")}, kind="fusion", clip_len=16,
    source="M-Mixer journal version (arXiv 2311.12344): d = 512, 4 queries as in mmixer",
    output="{m: CFEMOutput(features (N, Q, d), content (N, d))}"))
def cfem(dim: int = 512, modalities: Sequence[str] = ("rgb", "depth", "ir"), **kwargs: object) -> nn.Module:
    """M-Mixer's CFEM: {modality: (N, T_m, d)} -> {modality: (features (N, Q, d), content (N, d))}."""
    return CFEM(dim, modalities, **kwargs)  # type: ignore[arg-type]
