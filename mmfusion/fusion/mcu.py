"""Multi-modal Contextualization Unit (MCU) of M-Mixer (Lee et al., WACV 2023).

A GRU whose input at every step is first mixed with a video-level *cross-modal action
content* ``g`` (a summary of the other modalities) by a sigmoid gate::

    a_t  = sigmoid(W_a [x_t ; g] + b_a)                 cross-modality mix gate   (N, I)
    x~_t = a_t * x_t + (1 - a_t) * (W_g g + b_g)        mixed input                (N, I)
    r_t  = sigmoid(W_ir x~_t + b_ir + W_hr h + b_hr)    reset gate                 (N, H)
    z_t  = sigmoid(W_iz x~_t + b_iz + W_hz h + b_hz)    update gate                (N, H)
    n_t  = tanh(W_in x~_t + b_in + r_t * (W_hn h + b_hn))
    h_t  = (1 - z_t) * n_t + z_t * h_{t-1}

The GRU part follows :class:`torch.nn.GRUCell` exactly (gate order r, z, n in
``weight_ih`` / ``weight_hh``; reset applied after the hidden projection), so with the mix
gate fully open (``a == 1``) an :class:`MCUCell` *is* a GRU cell and GRU weights can be
copied in directly. Which of ``z`` / ``1 - z`` keeps the old state is a convention; the
PyTorch one is used.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError
from ..model_cfg import InputSpec, ModelCfg
from ..registry import register_model

__all__ = ["MCU", "MCUCell"]


class MCUCell(nn.Module):
    """One MCU step.

    Shapes: ``x`` (N, I), ``g`` (N, C), ``h`` (N, H) -> ``h'`` (N, H).

    Args:
        input_dim: I, features per frame of this modality.
        hidden_dim: H.
        content_dim: C, size of the cross-modal content ``g`` (default ``input_dim``).
        bias: biases in every projection (as ``nn.GRUCell``).

    Parameters ``weight_ih`` (3H, I), ``weight_hh`` (3H, H), ``bias_ih``, ``bias_hh`` (3H)
    have the names, shapes and meaning of ``nn.GRUCell``'s; ``mix`` (Linear(I + C, I)) is
    ``W_a`` and ``content`` (Linear(C, I)) is ``W_g``.
    """

    def __init__(self, input_dim: int, hidden_dim: int, content_dim: int | None = None, bias: bool = True) -> None:
        super().__init__()
        content_dim = input_dim if content_dim is None else content_dim
        for name, v in (("input_dim", input_dim), ("hidden_dim", hidden_dim), ("content_dim", content_dim)):
            if v < 1:
                raise ConfigError(f"MCUCell: {name} must be >= 1, got {v}")
        self.input_dim, self.hidden_dim, self.content_dim = input_dim, hidden_dim, content_dim
        self.mix = nn.Linear(input_dim + content_dim, input_dim, bias=bias)
        self.content = nn.Linear(content_dim, input_dim, bias=bias)
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden_dim, input_dim))
        self.weight_hh = nn.Parameter(torch.empty(3 * hidden_dim, hidden_dim))
        if bias:
            self.bias_ih: nn.Parameter | None = nn.Parameter(torch.empty(3 * hidden_dim))
            self.bias_hh: nn.Parameter | None = nn.Parameter(torch.empty(3 * hidden_dim))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # the GRU part uses nn.GRUCell's init, U(-1/sqrt(H), 1/sqrt(H)), the gates Linear's default
        bound = 1.0 / math.sqrt(self.hidden_dim)
        for p in (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh):
            if p is not None:
                nn.init.uniform_(p, -bound, bound)
        self.mix.reset_parameters()
        self.content.reset_parameters()

    def mix_input(self, x: Tensor, g: Tensor) -> tuple[Tensor, Tensor]:
        """Cross-modality mix of any number of steps at once.

        ``x`` (..., I) and ``g`` broadcastable to (..., C) -> (``x~`` (..., I), gate ``a`` (..., I)).
        """
        g = g.expand(*x.shape[:-1], g.shape[-1])
        a = torch.sigmoid(self.mix(torch.cat((x, g), dim=-1)))
        return a * x + (1 - a) * self.content(g), a

    def gru_step(self, gi: Tensor, h: Tensor) -> Tensor:
        """GRU update from precomputed input projections ``gi`` (N, 3H) and state ``h`` (N, H)."""
        gh = F.linear(h, self.weight_hh, self.bias_hh)
        i_r, i_z, i_n = gi.chunk(3, dim=-1)
        h_r, h_z, h_n = gh.chunk(3, dim=-1)
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        return (1 - z) * n + z * h

    def forward(self, x: Tensor, g: Tensor, h: Tensor | None = None) -> Tensor:
        """(N, I), (N, C), optional (N, H) (zeros) -> (N, H)."""
        if h is None:
            h = x.new_zeros(x.shape[0], self.hidden_dim)
        x_mixed, _ = self.mix_input(x, g)
        return self.gru_step(F.linear(x_mixed, self.weight_ih, self.bias_ih), h)

    def extra_repr(self) -> str:
        return f"input_dim={self.input_dim}, hidden_dim={self.hidden_dim}, content_dim={self.content_dim}"


class MCU(nn.Module):
    """An MCU run over a sequence.

    ``forward(x (N, T, I), g (N, C), h0 (N, H) | None)`` returns ``(states (N, T, H), last (N, H))``.
    The mix and the input projections of all T steps are computed in one batched op; only the
    recurrent part loops over T (never over N).

    Args: see :class:`MCUCell`; ``return_gates=True`` in forward also returns the mix gates
    ``a`` (N, T, I) for inspection.
    """

    def __init__(self, input_dim: int, hidden_dim: int, content_dim: int | None = None, bias: bool = True) -> None:
        super().__init__()
        self.cell = MCUCell(input_dim, hidden_dim, content_dim, bias)
        self.input_dim, self.hidden_dim, self.content_dim = input_dim, hidden_dim, self.cell.content_dim

    def forward(self, x: Tensor, g: Tensor, h0: Tensor | None = None,
                return_gates: bool = False) -> tuple[Tensor, Tensor] | tuple[Tensor, Tensor, Tensor]:
        if x.ndim != 3 or x.shape[-1] != self.input_dim:
            raise ConfigError(f"MCU expects x (N, T, {self.input_dim}), got {tuple(x.shape)}")
        if g.ndim != 2 or g.shape[0] != x.shape[0] or g.shape[-1] != self.content_dim:
            raise ConfigError(f"MCU expects content g ({x.shape[0]}, {self.content_dim}), got {tuple(g.shape)}")
        if x.shape[1] < 1:
            raise ConfigError("MCU: the sequence is empty (T = 0)")
        cell = self.cell
        x_mixed, gates = cell.mix_input(x, g.unsqueeze(1))
        gi = F.linear(x_mixed, cell.weight_ih, cell.bias_ih)  # (N, T, 3H)
        h = x.new_zeros(x.shape[0], self.hidden_dim) if h0 is None else h0
        # under autocast the projections come out in bf16: keep the recurrence in one dtype
        h = h.to(gi.dtype)
        states = []
        for t in range(x.shape[1]):
            h = cell.gru_step(gi[:, t], h).to(gi.dtype)
            states.append(h)
        seq = torch.stack(states, dim=1)
        if return_gates:
            return seq, h, gates
        return seq, h

    def extra_repr(self) -> str:
        return f"input_dim={self.input_dim}, hidden_dim={self.hidden_dim}, content_dim={self.content_dim}"


@register_model(tags=("fusion",), cfg=ModelCfg(
    inputs={"x": InputSpec((16, 512), "T I"), "g": InputSpec((512,), "C")}, kind="fusion", clip_len=16,
    call="positional", source="M-Mixer (WACV 2023): d = 512 as in mmixer", output="(states (N, T, H), last (N, H))"))
def mcu(input_dim: int = 512, hidden_dim: int = 512, content_dim: int | None = None) -> nn.Module:
    """M-Mixer's recurrent unit: x (N, T, I) + content g (N, C) -> (states (N, T, H), last (N, H))."""
    return MCU(input_dim, hidden_dim, content_dim)
