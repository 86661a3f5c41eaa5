"""CTR-GCN (``Uason-Chen/CTR-GCN`` ``model/ctrgcn.py`` ``Model``) -> ``ctrgcn``.

Official names: ``data_bn`` (BatchNorm1d over M*V*C), units ``l1`` ... ``l10`` (``gcn1`` with ``PA``,
``alpha``, ``convs.<k>.conv1..4``, ``down``, ``bn``; ``tcn1`` the multi-scale TCN whose dilated
branches keep ``conv`` / ``bn`` inside a ``TemporalConv``; ``residual`` a ``unit_tcn``), classifier
``fc`` (K, 256). Released files: ``runs-*.pt`` per stream in the README's Google Drive folder.
"""

from __future__ import annotations

from . import register_converter
from .base import Converter, shift_index

#: renames shared with the sources built on CTR-GCN's units (PSUMNet)
CTRGCN_RULES = (
    (r"^data_bn\.", "encoder.data_bn.bn."),
    (r"^l(\d+)\.", shift_index("encoder.layers.")),
    (r"\.3\.conv\.", ".3.0."),  # TemporalConv(conv, bn) of a dilated branch is Sequential(conv, bn) here
    (r"\.3\.bn\.", ".3.1."),
    (r"\.residual\.conv\.", ".residual.0."),
    (r"\.residual\.bn\.", ".residual.1."),
    (r"^fc\.", "head."),
)

CTRGCN = register_converter(Converter(
    source="ctrgcn", models=("ctrgcn",), official="Uason-Chen/CTR-GCN model/ctrgcn.py Model",
    rules=CTRGCN_RULES))
