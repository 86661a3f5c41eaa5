"""AimCLR (``Levigty/AimCLR``: ``net/st_gcn.py`` ``Model`` with ``hidden_channels: 16``) -> ``aimclr_stgcn``.

Checkpoints are ``torchlight`` state dicts of the whole ``net/aimclr.py`` wrapper: the query encoder
under ``encoder_q.`` (ST-GCN names as :mod:`.stgcn`, classifier ``fc`` Linear (K, 256)); pre-training
files also hold the momentum encoder ``encoder_k.``, the ``queue`` / ``queue_ptr`` (dropped and
reported) and a projection MLP ``encoder_q.fc.0`` / ``fc.2`` instead of a classifier (dropped: the
backbone is filled, the head initialised; pass ``num_classes=0`` for the bare backbone).
Linear-evaluation files convert whole.
"""

from __future__ import annotations

from . import register_converter
from .base import Converter
from .stgcn import STGCN_RULES

AIMCLR = register_converter(Converter(
    source="aimclr", models=("aimclr_stgcn",),
    official="Levigty/AimCLR net/st_gcn.py Model (encoder_q of net/aimclr.py)",
    rules=((r"^encoder_q\.", ""), *STGCN_RULES),
    ignore=(r"^encoder_k\.", r"^queue", r"^encoder_q\.fc\.\d+\.")))
