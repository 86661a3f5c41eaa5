"""Hyper-GCN (``6UOOON9/Hyper-GCN`` ``model/hypergcn_base.py`` / ``hypergcn_large.py`` ``Model``) -> ``hypergcn_*``.

Official configuration: ``hyper_joints: 3``, ``graph_args.labeling_mode: 'virtual_ensemble'`` (8 heads over
25 + 3 joints). Official names: ``pos_embedding``, ``to_joint_embedding``, ``data_bn`` (BatchNorm1d
over M*V*128), units ``l1`` ... ``l9`` (``gcn1``: ``hyper_joint``, ``alpha``, the frozen graph
``PA`` (8, 28, 28) -- a ``requires_grad=False`` parameter, compared with our buffer and dropped --,
``edge_importance``, ``to_V``, ``to_W``, ``conv_d``, ``bn``; ``tcn1`` the multi-scale TCN;
``residual``), classifier ``fc`` (K, C). ``hypergcn_large`` is told apart by its last stage (512
channels). Released files: the README's per-split weights.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from . import register_converter
from .base import Converter, shift_index


def _size(state: Mapping[str, Tensor]) -> str:
    fc = state.get("head.weight")
    return "hypergcn_large" if fc is not None and fc.shape[1] == 512 else "hypergcn_base"


HYPERGCN = register_converter(Converter(
    source="hypergcn", models=("hypergcn_base", "hypergcn_large"),
    official="6UOOON9/Hyper-GCN model/hypergcn_base.py, hypergcn_large.py Model",
    rules=((r"^(pos_embedding|to_joint_embedding|data_bn)\b", r"encoder.\1"),
           (r"^l(\d+)\.", shift_index("encoder.units.")),
           (r"\.gcn1\.", ".gcn."),
           (r"\.tcn1\.", ".tcn."),
           (r"\.gcn\.PA$", ".gcn.A"),
           (r"\.to_V\.", ".to_v."),
           (r"\.to_W\.", ".to_w."),
           (r"\.residual\.conv\.", ".residual.0."),
           (r"\.residual\.bn\.", ".residual.1."),
           (r"\.3\.conv\.", ".3.0."),
           (r"\.3\.bn\.", ".3.1."),
           (r"^fc\.", "head.")),
    choose_model=_size))
