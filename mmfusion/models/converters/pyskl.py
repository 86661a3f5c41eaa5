"""PYSKL (``kennymckormick/pyskl`` ``RecognizerGCN``: ``backbone`` STGCN + ``cls_head`` GCNHead) -> ``stgcnpp``.

mmcv checkpoints nest the weights under ``state_dict``. Official names: ``backbone.data_bn``
(BatchNorm1d over M*V*C), ``backbone.gcn.<i>`` (``gcn.A`` the adaptive graph of ``gcn_adaptive='init'``,
``gcn.conv``, ``gcn.down``, ``gcn.bn``; ``tcn`` the multi-scale ``mstcn``; ``residual`` a
``unit_tcn``), classifier ``cls_head.fc_cls`` (K, 256). The ST-GCN++ configs
(``configs/stgcn++/stgcn++_ntu60_xsub_hrnet/j.py`` ...) and BRL's long-tailed runs use this model;
the README links one ``best_top1_acc_epoch_*.pth`` per config. Registered as ``pyskl`` and ``stgcnpp``.
"""

from __future__ import annotations

from . import register_converter
from .base import Converter

PYSKL = register_converter(Converter(
    source="pyskl", models=("stgcnpp",), official="kennymckormick/pyskl pyskl/models/gcns/stgcn.py STGCN + GCNHead",
    rules=((r"^backbone\.data_bn\.", "encoder.data_bn.bn."),
           (r"^backbone\.", "encoder."),
           (r"^cls_head\.fc_cls\.", "head.")),
    ignore=(r"^data_preprocessor\.",)), "stgcnpp")
