"""ST-GCN (``yysijie/st-gcn`` ``net/st_gcn.py`` ``Model``, NTU ``spatial`` graph) -> ``stgcn``.

Official names: the frozen graph buffer ``A`` (3, 25, 25) (compared with ours and dropped),
``data_bn`` (BatchNorm1d over V*C), ``st_gcn_networks.<i>`` (``gcn.conv``, ``tcn.0..4``,
``residual.0/1``), ``edge_importance.<i>``, classifier ``fcn``: a Conv2d 1x1 (K, 256, 1, 1).
Released files: ``st_gcn.ntu-xsub.pt`` / ``st_gcn.ntu-xview.pt`` (``tools/get_models.sh``).
"""

from __future__ import annotations

from . import register_converter
from .base import Converter

STGCN_RULES = (
    (r"^A$", "encoder.A"),
    (r"^data_bn\.", "encoder.data_bn."),
    (r"^st_gcn_networks\.", "encoder.blocks."),
    (r"^edge_importance\.", "encoder.edge_importance."),
    (r"^(fcn|fc)\.", "head."),
)

STGCN = register_converter(Converter(
    source="stgcn", models=("stgcn",), official="yysijie/st-gcn net/st_gcn.py Model", rules=STGCN_RULES))
