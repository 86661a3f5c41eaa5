"""Pose-driven spatial-temporal attention of EPAM-Net (CBAM spatial + ECA-style temporal).

Pose features decide *where* (spatial map) and *when* (temporal weights) the RGB stream
should look; RGB features are re-weighted as ``R' = R * (1 + A)`` so that the attention
can only add emphasis, never erase the RGB signal. 107 parameters.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from ..model_cfg import InputSpec, ModelCfg
from ..registry import register_model

__all__ = ["PoseGuidedAttention"]


class PoseGuidedAttention(nn.Module):
    """Spatial-temporal attention from pose features applied to RGB features.

    Shapes:
        rgb: (N, Cr, Tr, H, W); pose: (N, Cp, Tp, H, W) with ``Tp`` a multiple of ``Tr``.
        Pose frames ``0, s, 2s, ...`` (s = Tp // Tr) are the ones the RGB frames were sampled
        at (EPAM-Net: 48 heatmap frames, 16 RGB frames, s = 3).
        Returns RGB' (N, Cr, Tr, H, W) and, if asked, the attention map A (N, 1, Tr, H, W).

    Steps:
        spatial  A_s = sigmoid(BN(Conv3d(2->1, (1,k,k))([max_C, mean_C](P))))   (N, 1, Tr, H, W)
        temporal A_t = sigmoid(Conv1d(1->1, kt)(mean_HW(A_s)))                  (N, 1, Tr, 1, 1)
        A = A_s * A_t;  RGB' = RGB * (1 + A)

    Args:
        kernel_size: spatial kernel k (7).
        temporal_kernel_size: temporal kernel kt (7).
    """

    def __init__(self, kernel_size: int = 7, temporal_kernel_size: int = 7) -> None:
        super().__init__()
        if kernel_size % 2 == 0 or temporal_kernel_size % 2 == 0:
            raise ConfigError(f"PoseGuidedAttention: kernel sizes must be odd, got {kernel_size}, "
                              f"{temporal_kernel_size}")
        p = kernel_size // 2
        self.spatial_conv = nn.Conv3d(2, 1, (1, kernel_size, kernel_size), padding=(0, p, p), bias=False)
        self.spatial_bn = nn.BatchNorm3d(1, eps=1e-5, momentum=0.01)
        self.temporal_conv = nn.Conv1d(1, 1, temporal_kernel_size, padding=temporal_kernel_size // 2, bias=False)
        for conv in (self.spatial_conv, self.temporal_conv):
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")

    @staticmethod
    def time_stride(rgb_shape: tuple[int, ...], pose_shape: tuple[int, ...]) -> int:
        """Pose-to-RGB frame stride ``Tp // Tr``; a :class:`ConfigError` where the shapes cannot align."""
        if len(rgb_shape) != 5 or len(pose_shape) != 5:
            raise ConfigError(f"PoseGuidedAttention expects 5-D (N, C, T, H, W) inputs, got rgb {tuple(rgb_shape)} "
                              f"and pose {tuple(pose_shape)}")
        if rgb_shape[0] != pose_shape[0] or rgb_shape[3:] != pose_shape[3:]:
            raise ConfigError(f"PoseGuidedAttention: batch and spatial sizes must match, got rgb features "
                              f"{tuple(rgb_shape)} and pose features {tuple(pose_shape)} (N, C, T, H, W)")
        t_rgb, t_pose = int(rgb_shape[2]), int(pose_shape[2])
        if t_rgb < 1 or t_pose % t_rgb != 0:
            raise ConfigError(f"PoseGuidedAttention: pose frames ({t_pose}) must be a multiple of RGB frames "
                              f"({t_rgb}); got rgb {tuple(rgb_shape)}, pose {tuple(pose_shape)}")
        return t_pose // t_rgb

    def attention(self, pose: Tensor, stride: int = 1) -> Tensor:
        """A = A_s * A_t from pose features (N, Cp, Tp, H, W), every ``stride``-th frame -> (N, 1, Tp/stride, H, W)."""
        p = pose[:, :, ::stride] if stride > 1 else pose
        pooled = self._channel_pool(p)
        a_s = self.spatial_bn(self.spatial_conv(pooled)).sigmoid()
        n, _, t = a_s.shape[:3]
        a_t = self.temporal_conv(a_s.mean(dim=(3, 4)).reshape(n, 1, t)).sigmoid()
        return a_s * a_t.reshape(n, 1, t, 1, 1)

    @staticmethod
    def _channel_pool(x: Tensor) -> Tensor:
        # max and mean over channels -> (N, 2, T, H, W); amax rather than max() as no indices are needed
        return torch.cat((x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)), dim=1)

    def forward(self, rgb: Tensor, pose: Tensor, return_attention: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        stride = self.time_stride(tuple(rgb.shape), tuple(pose.shape))
        att = self.attention(pose, stride).to(rgb.dtype)
        out = rgb * (1 + att)
        return (out, att) if return_attention else out


@register_model(tags=("fusion", "pose", "rgb"), cfg=ModelCfg(
    inputs={"rgb_features": InputSpec((432, 16, 7, 7), "C T H W"),
            "pose_features": InputSpec((216, 48, 7, 7), "C T H W")},
    kind="fusion", clip_len=None, call="positional", paper_params=107,
    source="EPAM-Net: the conv5 maps of the two X-ShiftNet streams (16x224^2 RGB, 48x56^2 heatmaps)",
    output="rgb * (1 + A): (N, Cr, Tr, H, W)"))
def pose_guided_attention(**kwargs: object) -> nn.Module:
    """EPAM-Net pose-guided attention block (see :class:`PoseGuidedAttention`)."""
    return PoseGuidedAttention(**kwargs)  # type: ignore[arg-type]
