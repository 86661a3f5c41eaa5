"""PSUMNet part streams (Trivedi and Sarvadevabhatla, "PSUMNet: Unified Modality Part Streams
are All You Need for Efficient Pose-based Action Recognition", ECCV 2022 workshops),
re-implemented after the official ``skelemoa/psumnet`` ``model/psumnet.py``.

Each stream is a CTR-GCN trunk (:class:`~mmfusion.encoders.ctrgcn.CTRGCN`; the official "STRB"
blocks are CTR-GCN's TCN-GCN units and "SAMG" is CTRGC with the 8 / 16 relation channels for
3 or 6 input channels instead of 3 or 9) on a part of the NTU skeleton, fed the 12-channel
"unified modality" (joint, bone, joint velocity, bone velocity; :func:`psumnet_unified_input`):

* ``body``: all 25 joints, CTR-GCN's graph, the ten units 64 ... 256;
* ``hand``: 13 joints (SpineShoulder, both arms, hand tips, thumbs), units 1, 5, 6, 7, 8, 9
  (64, 128/s2, 128, 128, 256/s2, 256);
* ``leg``: 9 joints (SpineBase, both legs), units 1, 5, 6, 8 (64, 128/s2, 128, 256/s2).

The part graphs are the official edge lists (:data:`~mmfusion.encoders.graph.PSUMNET_HAND_INWARD`,
:data:`~mmfusion.encoders.graph.PSUMNET_LEG_INWARD`), including the released leg graph's
oddities (FootLeft linked to SpineBase and HipRight, FootRight isolated) so that official
weights load; the stream scores are fused by a weighted sum outside the model (official
weights per split, e.g. NTU-60 xsub 2 / 1.8 / 0.7 for body / hand / leg).

Input: :class:`PSUMNetStream` builds the unified modality itself from the NTU-25 joints
(``from_joints=True``, default; the conversion has no parameters, so official weights load
unchanged): every skeleton classifier then reads the same ``batch["skeleton"]`` (N, 3, T, 25, M).
``from_joints=False`` takes the official feeder's precomputed (N, 12, T, V_part, M) instead.

Shapes: ``forward(x)``: (N, 3, T, 25, M) (or (N, 12, T, V_part, M)) -> (N, 256);
``forward_features`` -> (N, M, 256, T', V_part). The registered classifiers (``psumnet_body``,
``psumnet_hand``, ``psumnet_leg``, ``psumnet_tiny``) live in :mod:`mmfusion.models.skeleton_zoo`.
Parameters with the official 60-class head (init ``N(0, 2/60)``):
body 1,448,418 / hand 978,482 / leg 499,898, equal to the official code built the same way
(measured figures 1.45 / 0.98 / 0.50 M).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..data.layouts import NTU25
from ..errors import ConfigError
from .ctrgcn import CTRGCN, CTRGCN_BLOCKS
from .graph import (
    PSUMNET_HAND_INWARD,
    PSUMNET_HAND_JOINTS,
    PSUMNET_LEG_INWARD,
    PSUMNET_LEG_JOINTS,
    inward_outward_graph,
)
from .stgcn import check_skeleton

__all__ = ["PSUMNET_STREAMS", "PSUMNetStream", "psumnet_unified_input"]

#: stream -> (NTU-25 joints read, (child, parent) edges in stream indices or None for the
#: NTU-25 bones, blocks).
PSUMNET_STREAMS: dict[str, tuple[tuple[int, ...], tuple[tuple[int, int], ...] | None,
                                 tuple[tuple[int, int], ...]]] = {
    "body": (tuple(range(25)), None, CTRGCN_BLOCKS),
    "hand": (PSUMNET_HAND_JOINTS, PSUMNET_HAND_INWARD, ((64, 1), (128, 2), (128, 1), (128, 1), (256, 2), (256, 1))),
    "leg": (PSUMNET_LEG_JOINTS, PSUMNET_LEG_INWARD, ((64, 1), (128, 2), (128, 1), (256, 2))),
}


def _stream(stream: str) -> tuple[tuple[int, ...], tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]:
    if stream not in PSUMNET_STREAMS:
        raise ConfigError(f"PSUMNet: unknown stream {stream!r}; known: {sorted(PSUMNET_STREAMS)}")
    joints, edges, blocks = PSUMNET_STREAMS[stream]
    # the body stream uses CTR-GCN's NTU-25 bones (the official ``ntu_pairs``)
    return joints, edges if edges is not None else tuple(NTU25.bones), blocks


def psumnet_unified_input(x: Tensor, stream: str = "body") -> Tensor:
    """NTU-25 joints (N, 3, T, 25, M) -> the stream's unified modality (N, 12, T, V_part, M).

    Channels: joint, bone (joint minus its parent in the stream's edge list, later edges win
    as in the official feeder; roots zero), joint velocity and bone velocity (forward
    differences, last frame zero).
    """
    check_skeleton(x, 25, 3, "PSUMNet input")
    joints, edges, _ = _stream(stream)
    j = x[:, :, :, list(joints)]
    bone = torch.zeros_like(j)
    for child, parent in edges:
        bone[:, :, :, child] = j[:, :, :, child] - j[:, :, :, parent]
    jv = torch.zeros_like(j)
    jv[:, :, :-1] = j[:, :, 1:] - j[:, :, :-1]
    bv = torch.zeros_like(bone)
    bv[:, :, :-1] = bone[:, :, 1:] - bone[:, :, :-1]
    return torch.cat([j, bone, jv, bv], dim=1)


class PSUMNetStream(CTRGCN):
    """One PSUMNet part stream: a :class:`~mmfusion.encoders.ctrgcn.CTRGCN` trunk on the part graph.

    Args:
        stream: ``"body"``, ``"hand"`` or ``"leg"`` (:data:`PSUMNET_STREAMS`).
        from_joints: build the 12-channel unified modality from NTU-25 joints (N, 3, T, 25, M)
            inside the model (default); False reads the precomputed (N, 12, T, V_part, M).
        in_channels: channels of the unified modality (12).
        num_person: M of the ``"mvc"`` data BN (2).
        blocks: ``(out_channels, temporal_stride)`` per unit (default: the stream's official units).
        **kwargs: further :class:`CTRGCN` arguments.

    Shapes: see the module docstring.
    """

    def __init__(self, stream: str = "body", from_joints: bool = True, in_channels: int = 12, num_person: int = 2,
                 blocks: Any = None, **kwargs: Any) -> None:
        joints, edges, default_blocks = _stream(stream)
        graph = inward_outward_graph(edges, len(joints))
        super().__init__(layout="ntu25", in_channels=in_channels, num_person=num_person,
                         blocks=default_blocks if blocks is None else blocks, graph=graph, small_inputs=(3, 6),
                         name=f"PSUMNet-{stream}", **kwargs)
        self.stream, self.from_joints = stream, from_joints

    def forward_features(self, x: Tensor) -> Tensor:
        """(N, 3, T, 25, M) joints (or the (N, 12, T, V_part, M) unified input) -> (N, M, 256, T', V_part)."""
        if self.from_joints:
            x = psumnet_unified_input(x, self.stream)
        return super().forward_features(x)
