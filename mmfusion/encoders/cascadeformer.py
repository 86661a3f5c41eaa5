"""CascadeFormer 1.0 (Peng et al., "CascadeFormer: A Family of Two-stage Cascading Transformers
for Skeleton-based Human Action Recognition", arXiv 2509.00692), re-implemented after the
official ``YP4AIresearch/CascadeFormer`` (``cascadeformer_1_0/joint/ntu_60_own``:
``NTU_pretraining.py``, ``finetuning.py``, ``NTU_main.py``).

* Person selection: only the most active person is kept (largest sum of absolute
  coordinates over T, V, C), giving frames (N, T, V*C).
* **T1** (:class:`FrameTokenTransformer`): one token per frame, ``Linear(V*C -> d)`` + a learned
  positional embedding for up to 64 frames (truncated normal, std 0.02), then a post-norm
  ``nn.TransformerEncoder`` (FFN 2048, ReLU, dropout 0.1) and a linear reconstruction head
  ``d -> V*C`` used by the masked-joint pretraining (:func:`mask_random_joints`; MSE on the
  masked slots only).
* **T2**: a second encoder of the same size on T1's tokens (dropout 0.2 at finetuning).
* Fusion (:class:`CrossAttentionFFN`): cross-attention with T1 tokens as queries and T2 tokens
  as keys / values, residual + LayerNorm, a ``d -> d -> d`` ReLU FFN, residual + LayerNorm;
  mean over frames -> (N, d). The official classifier is an MLP head
  (:func:`cascadeformer_mlp_head`: LayerNorm, dropout, Linear d->d, ReLU, dropout, Linear).

Sizes (``NTU_main.py``): cross-subject d 768, 16 heads, 16 layers (``cascadeformer``);
cross-view d 512, 8 heads, 12 layers (``cascadeformer_cv``).

Shapes: ``forward(x)``: (N, C, T<=64, V, M) -> (N, d); ``forward_features(x)``: -> (N, T, d),
the fused frame tokens; ``pool`` averages them over frames. The registered classifiers
(``cascadeformer``, ``cascadeformer_cv``, ``cascadeformer_t1``, ``cascadeformer_tiny``, with the
official MLP head) live in :mod:`mmfusion.models.skeleton_zoo`.

Parameters: T1 (with its reconstruction head) 88,388,939 at the cross-subject size (the
"88.4 M" measured figure), 37,938,763 at the cross-view size (37.9 M); the full encoder
(T1 + T2 + fusion) 180,159,307 cross-subject (the "about 180 M"), 77,345,355 cross-view.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from .stgcn import check_skeleton

__all__ = ["CascadeFormer", "CrossAttentionFFN", "FrameTokenTransformer", "cascadeformer_mlp_head",
           "mask_random_joints", "select_most_active_person"]

#: longest clip the positional embedding covers (official ``POSITIONAL_UPPER_BOUND``).
MAX_FRAMES = 64


def select_most_active_person(x: Tensor) -> Tensor:
    """(N, C, T, V, M) -> (N, T, V, C): the person with the largest sum of |coordinates|."""
    n, c, t, v, m = x.shape
    seq = x.permute(0, 2, 3, 1, 4)  # (N, T, V, C, M)
    idx = seq.abs().sum(dim=(1, 2, 3)).argmax(dim=-1)
    return torch.gather(seq, 4, idx.view(n, 1, 1, 1, 1).expand(-1, t, v, c, 1)).squeeze(-1)


def mask_random_joints(x: Tensor, ratio: float = 0.3, generator: torch.Generator | None = None,
                       pad_value: float = 0.0) -> tuple[Tensor, Tensor]:
    """CascadeFormer pretraining mask: per sample, ``max(1, int(ratio * T * V))`` random (t, v)
    slots get all their coordinates set to ``pad_value``.

    Args:
        x: (N, T, V, C).

    Returns:
        (masked x (N, T, V, C), mask (N, T, V) bool, True = masked).
    """
    n, t, v, _ = x.shape
    k = max(1, int(ratio * t * v))
    scores = torch.rand(n, t * v, generator=generator, device="cpu").to(x.device)
    chosen = scores.argsort(dim=1)[:, :k]
    mask = torch.zeros(n, t * v, dtype=torch.bool, device=x.device)
    mask.scatter_(1, chosen, True)
    mask = mask.view(n, t, v)
    return x.masked_fill(mask[..., None], pad_value), mask


def _encoder(d_model: int, nhead: int, num_layers: int, dropout: float, ffn: int) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward=ffn, dropout=dropout, batch_first=True)
    return nn.TransformerEncoder(layer, num_layers=num_layers, enable_nested_tensor=False)


class FrameTokenTransformer(nn.Module):
    """CascadeFormer T1: frame tokens -> transformer, with a reconstruction head.

    Shapes: ``encode(x)``: (N, T, V, C) -> (N, T, d); ``forward(x)``: (N, T, V, C) -> (N, T, V, C)
    reconstruction.
    """

    def __init__(self, num_joints: int = 25, in_channels: int = 3, d_model: int = 768, nhead: int = 16,
                 num_layers: int = 16, dropout: float = 0.1, ffn: int = 2048, max_frames: int = MAX_FRAMES) -> None:
        super().__init__()
        self.num_joints, self.in_channels, self.max_frames = num_joints, in_channels, max_frames
        self.joint_embedding = nn.Linear(num_joints * in_channels, d_model)
        self.pos_embedding = nn.Parameter(torch.zeros(1, max_frames, d_model))
        nn.init.trunc_normal_(self.pos_embedding, std=0.02)
        self.transformer_encoder = _encoder(d_model, nhead, num_layers, dropout, ffn)
        self.reconstruction_head = nn.Linear(d_model, num_joints * in_channels)

    def encode(self, x: Tensor) -> Tensor:
        n, t, v, c = x.shape
        if v != self.num_joints or c != self.in_channels:
            raise ConfigError(f"CascadeFormer: expected frames (N, T, {self.num_joints}, {self.in_channels}), "
                              f"got {tuple(x.shape)}")
        if t > self.max_frames:
            raise ConfigError(f"CascadeFormer: T={t} exceeds the {self.max_frames}-frame positional embedding")
        y = self.joint_embedding(x.reshape(n, t, v * c)) + self.pos_embedding[:, :t]
        return self.transformer_encoder(y)

    def forward(self, x: Tensor) -> Tensor:
        n, t, v, c = x.shape
        return self.reconstruction_head(self.encode(x)).view(n, t, v, c)


class CrossAttentionFFN(nn.Module):
    """Official ``CrossAttentionWithFFN``: post-norm cross-attention + FFN (d -> d -> d).

    Shapes: q (N, T, d), k, v (N, S, d) -> (N, T, d).
    """

    def __init__(self, d_model: int, nhead: int, dropout: float = 0.2) -> None:
        super().__init__()
        self.cross_attention = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        self.norm1 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_model), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(d_model, d_model))
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        attn, _ = self.cross_attention(q, k, v, need_weights=False)
        x = self.norm1(q + self.dropout1(attn))
        return self.norm2(x + self.dropout2(self.ffn(x)))


class CascadeFormer(nn.Module):
    """CascadeFormer 1.0 encoder: T1 -> T2 -> cross-attention fusion -> mean over frames.

    Args:
        num_joints, in_channels: V, C.
        d_model, nhead, num_layers: size of T1 and T2 (cross-subject: 768, 16, 16).
        t1_dropout, t2_dropout, fusion_dropout: 0.1, 0.2, 0.2 (official NTU finetuning).
        cascade: False gives T1 alone (pretraining / ``cascadeformer_t1``).

    Shapes: see the module docstring.
    """

    def __init__(self, num_joints: int = 25, in_channels: int = 3, d_model: int = 768, nhead: int = 16,
                 num_layers: int = 16, t1_dropout: float = 0.1, t2_dropout: float = 0.2, fusion_dropout: float = 0.2,
                 ffn: int = 2048, cascade: bool = True) -> None:
        super().__init__()
        if d_model % nhead:
            raise ConfigError(f"CascadeFormer: d_model={d_model} must be a multiple of nhead={nhead}")
        self.num_joints, self.in_channels = num_joints, in_channels
        self.t1 = FrameTokenTransformer(num_joints, in_channels, d_model, nhead, num_layers, t1_dropout, ffn)
        self.t2 = _encoder(d_model, nhead, num_layers, t2_dropout, ffn) if cascade else None
        self.cross_attn = CrossAttentionFFN(d_model, nhead, fusion_dropout) if cascade else None
        self.out_dim = d_model

    def forward_features(self, x: Tensor) -> Tensor:
        """(N, C, T, V, M) -> (N, T, d) fused frame tokens (T1 tokens when ``cascade=False``)."""
        check_skeleton(x, self.num_joints, self.in_channels, "CascadeFormer")
        x1 = self.t1.encode(select_most_active_person(x))
        if self.t2 is None or self.cross_attn is None:
            return x1
        x2 = self.t2(x1)
        return self.cross_attn(x1, x2, x2)

    @staticmethod
    def pool(features: Tensor) -> Tensor:
        """(N, T, d) -> (N, d): mean over frames (official)."""
        return features.mean(dim=1)

    def forward(self, x: Tensor) -> Tensor:
        """(N, C, T, V, M) -> (N, d): mean over frames."""
        return self.pool(self.forward_features(x))


def cascadeformer_mlp_head(d_model: int, num_classes: int, dropout: float = 0.3) -> nn.Sequential:
    """Official classifier (``GaitRecognitionHeadMLP``): (N, d) -> (N, num_classes)."""
    return nn.Sequential(nn.LayerNorm(d_model), nn.Dropout(dropout), nn.Linear(d_model, d_model), nn.ReLU(),
                         nn.Dropout(dropout), nn.Linear(d_model, num_classes))
