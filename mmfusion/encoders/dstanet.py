"""DSTA-Net (Shi et al., "Decoupled Spatial-Temporal Attention Network for Skeleton-Based
Action-Gesture Recognition", ACCV 2020), re-implemented after the official
``lshiwjx/DSTA-Net`` ``model/dstanet.py``; the configuration is the one HiCLR uses as its
transformer encoder (``JHang2020/HiCLR`` ``config/release/transformer_ntu60``).

* Input map: 1x1 conv (C -> 32) + BN + LeakyReLU(0.1), persons folded into the batch.
* 8 attention blocks ``(in, out, inter, stride)``: (32, 32, 16, 1), (32, 32, 16, 1),
  (32, 64, 16, 2), (64, 64, 16, 1), (64, 128, 32, 2), (128, 128, 32, 1), (128, 128, 32, 1),
  (128, 256, 32, 1).
* Spatial attention per block (:class:`STAttentionBlock`): sinusoidal joint-index encoding,
  ``S = 3`` heads of ``tanh(q^T k / (C' T)) * alpha`` plus a learnable global attention
  (initialised ``1 / V``), aggregation, 1x1 conv + BN, residual, LeakyReLU, a feed-forward
  1x1 conv + BN, residual, LeakyReLU.
* Temporal part: in this configuration (``use_temporal_att=False``) a 7x1 conv + BN with the
  block's stride, residual (strided 1x1 conv when the shape changes), LeakyReLU. With
  ``use_temporal_att=True`` the symmetric temporal attention of the paper is used (frame-index
  encoding sized by ``num_frame``).
* Init: kaiming-normal (fan_out) conv weights (biases keep PyTorch's default init, as in the
  official ``conv_init``), BN weight 1 / bias 0, Linear xavier-normal.

Shapes: ``forward(x)``: (N, C, T, V, M) -> (N, 256); ``forward_features``: -> (N, M, 256, T/4, V);
``pool`` maps it to (N, 256). The registered classifiers (``dstanet``, ``dstanet_ntu``,
``dstanet_tiny``, with the official xavier-normal ``fc_init``) live in :mod:`mmfusion.models.skeleton_zoo`.
``T`` may not exceed ``num_frame`` (the positional encodings are precomputed).

Parameters: 1,546,480 for the encoder, 1,561,900 with a 60-class head (the "1.56 M" figure;
identical to the official code). The original DSTA-Net NTU config (64 ... 256, 128 frames) is
``dstanet_ntu``: 3,801,968 (3,817,388 with the head).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..data.layouts import get_layout
from ..errors import ConfigError
from .stgcn import STGCN, check_skeleton

__all__ = ["DSTANET_HICLR_CONFIG", "DSTANET_NTU_CONFIG", "DSTANET_TINY_CONFIG", "DSTANet", "STAttentionBlock",
           "sinusoidal_position_map"]

#: (in, out, inter, stride) per block - HiCLR's DSTA-Net.
DSTANET_HICLR_CONFIG: tuple[tuple[int, int, int, int], ...] = (
    (32, 32, 16, 1), (32, 32, 16, 1), (32, 64, 16, 2), (64, 64, 16, 1),
    (64, 128, 32, 2), (128, 128, 32, 1), (128, 128, 32, 1), (128, 256, 32, 1))
#: the original DSTA-Net NTU configuration (``ntu60_dstanet.yaml``).
DSTANET_NTU_CONFIG: tuple[tuple[int, int, int, int], ...] = (
    (64, 64, 16, 1), (64, 64, 16, 1), (64, 128, 32, 2), (128, 128, 32, 1),
    (128, 256, 64, 2), (256, 256, 64, 1), (256, 256, 64, 1), (256, 256, 64, 1))
DSTANET_TINY_CONFIG: tuple[tuple[int, int, int, int], ...] = ((16, 16, 8, 1), (16, 32, 8, 2))


def sinusoidal_position_map(channels: int, num_frames: int, num_joints: int, domain: str) -> Tensor:
    """Transformer sinusoidal encoding of the frame (``"temporal"``) or joint (``"spatial"``) index.

    Returns (1, channels, num_frames, num_joints) (official ``PositionalEncoding.pe``).
    """
    t = torch.arange(num_frames).repeat_interleave(num_joints)
    j = torch.arange(num_joints).repeat(num_frames)
    pos = (t if domain == "temporal" else j).float()[:, None]
    pe = torch.zeros(num_frames * num_joints, channels)
    div = torch.exp(torch.arange(0, channels, 2).float() * -(math.log(10000.0) / channels))
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)[:, : channels // 2]
    return pe.view(num_frames, num_joints, channels).permute(2, 0, 1).unsqueeze(0)


def _conv_bn(c_in: int, c_out: int, kernel: tuple[int, int] = (1, 1), stride: int = 1) -> nn.Sequential:
    pad = ((kernel[0] - 1) // 2, (kernel[1] - 1) // 2)
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, (stride, 1), pad), nn.BatchNorm2d(c_out))


class STAttentionBlock(nn.Module):
    """DSTA-Net decoupled spatial / temporal attention block.

    Shapes: (N, C_in, T, V) -> (N, C_out, T / stride, V).
    """

    def __init__(self, in_channels: int, out_channels: int, inter_channels: int, num_subsets: int = 3,
                 num_joints: int = 25, num_frames: int = 32, stride: int = 1, glo_reg_s: bool = True,
                 att_s: bool = True, glo_reg_t: bool = False, att_t: bool = False, use_spatial_att: bool = True,
                 use_temporal_att: bool = False, attention_drop: float = 0.0, use_pes: bool = True,
                 use_pet: bool = True) -> None:
        super().__init__()
        self.inter, self.num_subsets, self.in_channels, self.out_channels = (
            inter_channels, num_subsets, in_channels, out_channels)
        self.glo_reg_s, self.att_s, self.glo_reg_t, self.att_t = glo_reg_s, att_s, glo_reg_t, att_t
        self.use_spatial_att, self.use_temporal_att = use_spatial_att, use_temporal_att
        self.use_pes, self.use_pet = use_pes, use_pet
        s, v = num_subsets, num_joints
        changes = in_channels != out_channels or stride != 1
        if use_spatial_att:
            pes = sinusoidal_position_map(in_channels, num_frames, v, "spatial")
            self.register_buffer("pes", pes, persistent=False)
            self.ff_nets = _conv_bn(out_channels, out_channels)
            if att_s:
                self.in_nets = nn.Conv2d(in_channels, 2 * s * inter_channels, 1)
                self.alphas = nn.Parameter(torch.ones(1, s, 1, 1))
            if glo_reg_s:
                self.attention0s = nn.Parameter(torch.ones(1, s, v, v) / v)
            self.out_nets = _conv_bn(in_channels * s, out_channels)
            self.downs1 = _conv_bn(in_channels, out_channels) if changes else nn.Identity()
        else:
            self.out_nets = _conv_bn(in_channels, out_channels, (1, 3))
        self.downs2 = _conv_bn(in_channels, out_channels) if changes else nn.Identity()
        if use_temporal_att:
            self.register_buffer("pet", sinusoidal_position_map(out_channels, num_frames, v, "temporal"),
                                 persistent=False)
            self.ff_nett = _conv_bn(out_channels, out_channels, (1, 1), stride)
            if att_t:
                self.in_nett = nn.Conv2d(out_channels, 2 * s * inter_channels, 1)
                self.alphat = nn.Parameter(torch.ones(1, s, 1, 1))
            if glo_reg_t:
                self.attention0t = nn.Parameter(torch.zeros(1, s, num_frames, num_frames) + torch.eye(num_frames))
            self.out_nett = _conv_bn(out_channels * s, out_channels)
            self.downt1 = _conv_bn(out_channels, out_channels) if changes else nn.Identity()
        else:
            self.out_nett = _conv_bn(out_channels, out_channels, (7, 1), stride)
        self.downt2 = _conv_bn(out_channels, out_channels, (1, 1), stride) if changes else nn.Identity()
        self.relu = nn.LeakyReLU(0.1)
        self.drop = nn.Dropout(attention_drop)

    def _spatial(self, x: Tensor) -> Tensor:
        n, c, t, v = x.shape
        if not self.use_spatial_att:
            return self.relu(self.downs2(x) + self.out_nets(x))
        att = x.new_zeros(n, self.num_subsets, v, v)
        y = x + self.pes[:, :, :t].to(x.dtype) if self.use_pes else x
        if self.att_s:
            q, k = torch.chunk(self.in_nets(y).view(n, 2 * self.num_subsets, self.inter, t, v), 2, dim=1)
            att = att + torch.tanh(torch.einsum("nsctu,nsctv->nsuv", q, k) / (self.inter * t)) * self.alphas
        if self.glo_reg_s:
            att = att + self.attention0s
        att = self.drop(att)
        y = torch.einsum("nctu,nsuv->nsctv", x, att).reshape(n, self.num_subsets * c, t, v)
        y = self.relu(self.downs1(x) + self.out_nets(y))
        return self.relu(self.downs2(x) + self.ff_nets(y))

    def _temporal(self, y: Tensor) -> Tensor:
        n, c, t, v = y.shape
        if not self.use_temporal_att:
            return self.relu(self.downt2(y) + self.out_nett(y))
        att = y.new_zeros(n, self.num_subsets, t, t)
        z = y + self.pet[:, :, :t].to(y.dtype) if self.use_pet else y
        if self.att_t:
            q, k = torch.chunk(self.in_nett(z).view(n, 2 * self.num_subsets, self.inter, t, v), 2, dim=1)
            att = att + torch.tanh(torch.einsum("nsctv,nscqv->nstq", q, k) / (self.inter * v)) * self.alphat
        if self.glo_reg_t:
            att = att + self.attention0t[:, :, :t, :t]
        att = self.drop(att)
        z = torch.einsum("nctv,nstq->nscqv", y, att).reshape(n, self.num_subsets * c, t, v)
        z = self.relu(self.downt1(y) + self.out_nett(z))
        return self.relu(self.downt2(y) + self.ff_nett(z))

    def forward(self, x: Tensor) -> Tensor:
        return self._temporal(self._spatial(x))


class DSTANet(nn.Module):
    """DSTA-Net encoder.

    Args:
        layout: skeleton layout (gives V).
        in_channels: C of the input.
        config: ``(in, out, inter, stride)`` per block; the first block's ``in`` is the
            input-map width.
        num_frames: longest T supported by the positional encodings (50 in HiCLR).
        num_subsets: attention heads (3).
        use_temporal_att, att_t, glo_reg_t, glo_reg_s, att_s: the official switches.
        attention_drop: dropout on the attention maps (0.5 in HiCLR's pretext config).

    Shapes: see the module docstring.
    """

    def __init__(self, layout: str = "ntu25", in_channels: int = 3,
                 config: Sequence[tuple[int, int, int, int]] = DSTANET_HICLR_CONFIG, num_frames: int = 50,
                 num_subsets: int = 3, use_temporal_att: bool = False, att_t: bool = False, glo_reg_t: bool = False,
                 glo_reg_s: bool = True, att_s: bool = True, attention_drop: float = 0.0) -> None:
        super().__init__()
        if not config:
            raise ConfigError("DSTA-Net: config needs at least one block")
        self.layout = get_layout(layout)
        v = self.layout.num_joints
        self.in_channels, self.num_frames = in_channels, num_frames
        c0 = config[0][0]
        self.input_map = nn.Sequential(nn.Conv2d(in_channels, c0, 1), nn.BatchNorm2d(c0), nn.LeakyReLU(0.1))
        layers: list[nn.Module] = []
        frames = num_frames
        for c_in, c_out, inter, stride in config:
            layers.append(STAttentionBlock(c_in, c_out, inter, num_subsets, v, frames, stride, glo_reg_s, att_s,
                                           glo_reg_t, att_t, True, use_temporal_att, attention_drop))
            frames = int(frames / stride + 0.5)
        self.graph_layers = nn.ModuleList(layers)
        self.out_dim = config[-1][1]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        """(N, C, T, V, M) -> (N, M, out_dim, T', V)."""
        n, c, t, v, m = check_skeleton(x, self.layout.num_joints, self.in_channels, "DSTA-Net")
        if t > self.num_frames:
            raise ConfigError(f"DSTA-Net: input has T={t} frames but the model was built for num_frames="
                              f"{self.num_frames}; resample the clip or build with num_frames={t}")
        y = self.input_map(x.permute(0, 4, 1, 2, 3).reshape(n * m, c, t, v))
        for layer in self.graph_layers:
            y = layer(y)
        return y.reshape(n, m, *y.shape[1:])

    pool = staticmethod(STGCN.pool)  # mean over (T', V), then persons (the official mean over M, T*V)

    def forward(self, x: Tensor) -> Tensor:
        """(N, C, T, V, M) -> (N, out_dim): mean over persons, frames and joints."""
        return self.pool(self.forward_features(x))
