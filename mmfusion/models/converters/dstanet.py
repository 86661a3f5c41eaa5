"""DSTA-Net (``lshiwjx/DSTA-Net`` ``model/dstanet.py`` ``DSTANet``, and HiCLR's copy) -> ``dstanet`` / ``dstanet_ntu``.

Official names: ``input_map`` (Conv2d 1x1 + BN; HiCLR's ``net/dsta.py`` splits the conv out as
``proj``, normalised here), ``graph_layers.<i>`` (``alphas``, ``attention0s``, ``in_nets``,
``out_nets``, ``ff_nets``, ``out_nett``, ``downs*`` / ``downt*``; the sinusoidal ``pes.pe`` /
``pet.pe`` buffers, compared with ours and dropped; ``atts`` / ``attt`` constant zero buffers,
checked and dropped), classifier ``fc`` (K, 256). HiCLR's MoCo files keep the encoder under
``encoder_q.`` (momentum encoder, queue and projection MLP dropped, as :mod:`.aimclr`). The entry
is read from the width of the first block: 32 -> ``dstanet`` (HiCLR's config, 50 frames), 64 ->
``dstanet_ntu`` (``ntu60_dstanet.yaml``, 128 frames).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from torch import Tensor

from . import register_converter
from .base import Converter


def _hiclr_layout(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """HiCLR's split input map (``proj`` conv, ``input_map.0`` BN) as lshiwjx's (``input_map.0`` / ``.1``)."""
    if not any(re.fullmatch(r"(encoder_q\.)?proj\.weight", k) for k in state):
        return dict(state)
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        key = re.sub(r"^(encoder_q\.)?input_map\.0\.", r"\1input_map.1.", key)
        out[re.sub(r"^(encoder_q\.)?proj\.", r"\1input_map.0.", key)] = value
    return out


def _size(state: Mapping[str, Tensor]) -> str:
    w = state.get("encoder.input_map.0.weight")
    return "dstanet_ntu" if w is not None and w.shape[0] == 64 else "dstanet"


DSTANET = register_converter(Converter(
    source="dstanet", models=("dstanet", "dstanet_ntu"),
    official="lshiwjx/DSTA-Net model/dstanet.py DSTANet (and JHang2020/HiCLR net/dsta.py)",
    rules=((r"^encoder_q\.", ""),
           (r"\.(pes|pet)\.pe$", r".\1"),
           (r"^fc\.", "head."),
           (r"^(?!head\.)", "encoder.")),
    ignore=(r"^encoder_k\.", r"^queue", r"^encoder_q\.fc\.\d+\."),
    zeros=(r"\.att[st]$",),
    prepare=_hiclr_layout, choose_model=_size))
