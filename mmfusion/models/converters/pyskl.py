"""PYSKL (``kennymckormick/pyskl`` ``RecognizerGCN``: ``backbone`` + ``cls_head`` GCNHead) -> ``stgcnpp`` / ``ctrgcn``.

mmcv checkpoints nest the weights under ``state_dict``. Official names: ``backbone.data_bn``
(BatchNorm1d over M*V*C), ``backbone.gcn.<i>`` (``gcn.A`` the adaptive graph of ``gcn_adaptive='init'``,
``gcn.conv``, ``gcn.down``, ``gcn.bn``; ``tcn`` the multi-scale ``mstcn``; ``residual`` a
``unit_tcn``), classifier ``cls_head.fc_cls`` (K, 256). The ST-GCN++ configs
(``configs/stgcn++/stgcn++_ntu60_xsub_hrnet/j.py`` ...) and BRL's long-tailed runs use this model;
the README links one ``j.pth`` / ``b.pth`` / ``jm.pth`` / ``bm.pth`` per config. The skeleton layout is
read from the data BN (V*C channels, C = 3): 25 joints -> ``ntu25`` (``*_3dkp`` configs, 3-D
joints), 17 -> ``coco17`` (``*_hrnet`` configs, 2-D keypoints + score). Registered as ``pyskl`` and
``stgcnpp``.

PYSKL's CTR-GCN (``pyskl/models/gcns/ctrgcn.py``, ``configs/ctrgcn/ctrgcn_pyskl_*``, keys
``backbone.net.<i>``) is refused: its keys map onto ``ctrgcn`` one to one, but its mathematics is
not the official CTR-GCN's (its multi-scale TCN ends in a ReLU, and more): with the same weights the
logits differ by 1.5 (of 4.6) in ``benchmarks/official_parity_pyskl.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor

from ...errors import CheckpointError
from . import register_converter
from .base import Converter

_LAYOUT_BY_JOINTS = {25: "ntu25", 17: "coco17"}


def _model(state: Mapping[str, Tensor]) -> str:
    if any(k.startswith("encoder.net.") for k in state):
        raise CheckpointError("pyskl converter: this is PYSKL's CTR-GCN (backbone.net.*), whose forward pass differs "
                              "from the official CTR-GCN that mmfusion's ctrgcn follows (an extra ReLU after the "
                              "multi-scale TCN, and more); not converted -- see docs/pretrained.md")
    return "stgcnpp"


def _layout(state: Mapping[str, Tensor]) -> dict[str, Any]:
    bn = state.get("encoder.data_bn.bn.weight")
    if bn is None:
        return {}
    v = bn.shape[0] // 3
    if bn.shape[0] % 3 or v not in _LAYOUT_BY_JOINTS:
        raise CheckpointError(f"pyskl converter: data_bn has {bn.shape[0]} channels, not 3 x V with V in "
                              f"{sorted(_LAYOUT_BY_JOINTS)} (NTU 3-D joints / COCO HRNet keypoints)")
    return {"layout": _LAYOUT_BY_JOINTS[v]}

PYSKL = register_converter(Converter(
    source="pyskl", models=("stgcnpp",),
    official="kennymckormick/pyskl pyskl/models/gcns/stgcn.py STGCN + GCNHead",
    rules=((r"^backbone\.data_bn\.", "encoder.data_bn.bn."),
           (r"^backbone\.", "encoder."),
           (r"^cls_head\.fc_cls\.", "head.")),
    ignore=(r"^data_preprocessor\.",), choose_model=_model, infer_kwargs=_layout), "stgcnpp")
