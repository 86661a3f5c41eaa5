"""PSUMNet (``skelemoa/psumnet`` ``model/psumnet.py`` ``Model``, one part stream) -> ``psumnet_<stream>``.

The official stream model keeps CTR-GCN's unit names (:mod:`.ctrgcn`: ``data_bn``, ``fc``) with its
units in a ``layers`` list (``layers.0`` ...) and 12 input channels; the stream (``psumnet_body`` /
``_hand`` / ``_leg``) is read from the data BN's size (12 * V * M: V = 25 body, 13 hand, 9 leg).
Released file: the body-stream weights linked in the README (hand / leg links empty).
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from ...errors import CheckpointError
from . import register_converter
from .base import Converter
from .ctrgcn import CTRGCN_RULES

_STREAM_BY_JOINTS = {25: "psumnet_body", 13: "psumnet_hand", 9: "psumnet_leg"}


def _stream(state: Mapping[str, Tensor]) -> str:
    channels = state["encoder.data_bn.bn.weight"].shape[0] if "encoder.data_bn.bn.weight" in state else 0
    v = channels // 24  # 12 unified-modality channels x 2 persons
    if channels % 24 or v not in _STREAM_BY_JOINTS:
        raise CheckpointError(f"psumnet converter: data_bn has {channels} channels, not 12 x V x 2 with V in "
                              f"{sorted(_STREAM_BY_JOINTS)} (body / hand / leg)")
    return _STREAM_BY_JOINTS[v]


PSUMNET = register_converter(Converter(
    source="psumnet", models=("psumnet_body", "psumnet_hand", "psumnet_leg"),
    official="skelemoa/psumnet model/psumnet.py Model",
    rules=((r"^layers\.", "encoder.layers."), *CTRGCN_RULES), choose_model=_stream))
