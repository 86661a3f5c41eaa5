"""The bidirectional GRU encoder of CMD / HaLP (Mao et al., "CMD: Self-supervised 3D Action
Representation Learning with Cross-modal Mutual Distillation", ECCV 2022; Shah et al., "HaLP:
Hallucinating Latent Positives for Skeleton-based Self-Supervised Learning of Actions",
CVPR 2023), re-implemented after ``anshulbshah/HaLP`` ``moco/GRU.py`` (``BIGRU``).

* The skeleton is flattened per frame to ``V * C * M`` values (150 for NTU: joint-major,
  then coordinate, then person - the official ``permute(0, 2, 3, 1, 4)``), BatchNorm1d over
  those values, then a 3-layer GRU with 1024 hidden units per direction.
* Feature: the output of the last frame, 2 x 1024 = 2048-d (the official ``fc`` maps it to
  the 128-d MoCo embedding; the ``bigru`` classifier's head replaces it, as in the linear
  evaluation).
* Faithful detail: the official encoder feeds the ``nn.GRU(bidirectional=True)`` one frame
  at a time and carries the hidden state, so its "reverse" direction also reads the clip
  forward in time (each call sees a single frame). :class:`BiGRU` computes exactly that
  (``reverse_in_time=False``, default) with one full-sequence call per layer and direction;
  ``reverse_in_time=True`` gives the textbook bidirectional GRU instead.
* Init (official ``weights_init_gru``): xavier-uniform for every 2-D weight, PyTorch defaults
  otherwise.

Shapes: ``forward(x)``: (N, C, T, V, M) -> (N, 2048); ``forward_features(x)``: -> (N, T, 2048),
the per-frame outputs of the last layer; ``pool`` keeps the last frame. The registered
classifiers (``bigru``, ``bigru_tiny``) live in :mod:`mmfusion.models.skeleton_zoo`.

Parameters: 44,998,956 for the encoder; with the official 128-d ``fc`` 45,261,228 (the
"45.3 M" measured figure).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from .stgcn import check_skeleton

__all__ = ["BiGRU", "load_official_bigru_state"]


class BiGRU(nn.Module):
    """CMD / HaLP bidirectional GRU encoder.

    Args:
        num_joints, in_channels, num_person: V, C, M of the input (25, 3, 2 -> 150 inputs).
        hidden_size: per direction (1024).
        num_layers: 3.
        reverse_in_time: see the module docstring (False reproduces the official model).

    Shapes: see the module docstring.
    """

    def __init__(self, num_joints: int = 25, in_channels: int = 3, num_person: int = 2, hidden_size: int = 1024,
                 num_layers: int = 3, reverse_in_time: bool = False) -> None:
        super().__init__()
        if num_layers < 1 or hidden_size < 1:
            raise ConfigError(f"BiGRU: num_layers={num_layers} and hidden_size={hidden_size} must be >= 1")
        self.num_joints, self.in_channels, self.num_person = num_joints, in_channels, num_person
        self.input_size = num_joints * in_channels * num_person
        self.reverse_in_time = reverse_in_time
        self.input_norm = nn.BatchNorm1d(self.input_size)
        layers = []
        for i in range(num_layers):
            d_in = self.input_size if i == 0 else 2 * hidden_size
            layers.append(nn.ModuleDict({"fwd": nn.GRU(d_in, hidden_size, batch_first=True),
                                         "bwd": nn.GRU(d_in, hidden_size, batch_first=True)}))
        self.layers = nn.ModuleList(layers)
        self.out_dim = 2 * hidden_size
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.xavier_uniform_(p)

    def flatten_input(self, x: Tensor) -> Tensor:
        """(N, C, T, V, M) -> (N, T, V*C*M) in the official order."""
        n, c, t, v, m = check_skeleton(x, self.num_joints, self.in_channels, "BiGRU")
        if m != self.num_person:
            raise ConfigError(f"BiGRU: built for M={self.num_person} persons, input has M={m}; pad persons with zeros")
        return x.permute(0, 2, 3, 1, 4).reshape(n, t, v * c * m)

    def forward_features(self, x: Tensor) -> Tensor:
        """(N, C, T, V, M) -> (N, T, 2 * hidden) last-layer outputs for every frame."""
        y = self.flatten_input(x)
        y = self.input_norm(y.transpose(1, 2)).transpose(1, 2)
        for layer in self.layers:
            fwd, _ = layer["fwd"](y)
            if self.reverse_in_time:
                bwd = layer["bwd"](y.flip(1))[0].flip(1)
            else:
                bwd, _ = layer["bwd"](y)
            y = torch.cat([fwd, bwd], dim=-1)
        return y

    @staticmethod
    def pool(features: Tensor) -> Tensor:
        """(N, T, 2 * hidden) -> (N, 2 * hidden): the last frame's output (official)."""
        return features[:, -1]

    def forward(self, x: Tensor) -> Tensor:
        """(N, C, T, V, M) -> (N, 2 * hidden): the last frame's output."""
        return self.pool(self.forward_features(x))


def load_official_bigru_state(model: BiGRU, state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Rename an official ``BIGRU`` state dict (``encoder.gru.weight_ih_l{k}[_reverse]``,
    ``input_norm.*``) to :class:`BiGRU` keys; ``fc.*`` entries are dropped. Returns the new dict."""
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        if key.startswith("input_norm."):
            out[key] = value
        elif key.startswith("encoder.gru."):
            name = key[len("encoder.gru."):]
            reverse = name.endswith("_reverse")
            base, layer = name.removesuffix("_reverse").rsplit("_l", 1)
            out[f"layers.{layer}.{'bwd' if reverse else 'fwd'}.{base}_l0"] = value
    return out
