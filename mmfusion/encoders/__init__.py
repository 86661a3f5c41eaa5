"""Unimodal encoders: plain ``nn.Module``\\ s that take one tensor and return features (``out_dim``).

Public classes are exported lazily (``from mmfusion.encoders import XShiftNet, STGCN, HyperGCN``):
a submodule is imported on first access. Registered entries built on them:
``mmfusion.list_models(tag="encoder")`` (bare encoders) and the classifiers of
:mod:`mmfusion.models.classifiers` (``stgcn``, ``hypergcn_*``, ``mamp_transformer*``,
``point_sequence_encoder*``) and :mod:`mmfusion.models.skeleton_zoo` (the zoo below).

* :mod:`.frame2d` -- ``FrameEncoder2D``: a timm 2-D CNN per frame, (N, C, T, H, W) -> (N, T, D)
  (``frame_resnet18``, ``frame_resnet34``, ``frame_tiny``; RGB, depth or IR stems).
* :mod:`.xshiftnet` -- X-ShiftNet (EPAM-Net's X3D without temporal kernels),
  (N, C, T, H, W) -> (N, C', T, H', W') (``xshiftnet_rgb``, ``xshiftnet_pose`` and ``_tiny``);
  :mod:`.temporal_shift` -- the TSM shift it uses.
* :mod:`.stgcn` (ST-GCN), :mod:`.hypergcn` (Hyper-GCN), :mod:`.skeleton_transformer`
  (MAMP-style transformer) -- skeleton (N, 3, T, V, M) -> (N, D); :mod:`.graph` builds their
  graphs from a :class:`~mmfusion.data.layouts.SkeletonLayout`.
* the supervised / self-supervised skeleton zoo, all (N, C, T, V, M) -> (N, D):
  :mod:`.ctrgcn` (CTR-GCN, ``CTRGCN``; also ``SkeletonDataBN``), :mod:`.stgcnpp` (ST-GCN++ of
  PYSKL, ``STGCNPlusPlus``), :mod:`.aimclr_stgcn` (AimCLR's quarter-width ST-GCN, ``AimCLRSTGCN``),
  :mod:`.aclnet` (ACLNet's ``ACLNetGCN`` + ``ACLNetLoss``), :mod:`.psumnet` (PSUMNet part streams,
  ``PSUMNetStream``), :mod:`.dstanet` (DSTA-Net, ``DSTANet``), :mod:`.bigru` (CMD / HaLP ``BiGRU``),
  :mod:`.cascadeformer` (CascadeFormer 1.0, ``CascadeFormer``).
* :mod:`.point_sequence` -- per-frame PointNet++ + temporal transformer, points (N, T, P, 3) -> (N, D);
  :mod:`.pointnet2` -- the batched pure-torch FPS / ball-query / set-abstraction operators.

Encoders expose ``forward(x)`` (pooled (N, D) or, for the frame / X-ShiftNet encoders, their
documented maps), ``forward_features(x)`` (unpooled), ``pool`` and ``out_dim``; the registered
classifiers wrap them in :class:`mmfusion.models.heads.ModalityClassifier`.
See docs/models.md for the table of all registered models.
"""

from __future__ import annotations

from ..lazy import lazy_exports

#: public name -> submodule, resolved on first access (frame2d pulls in timm: the package stays light)
_EXPORTS: dict[str, str] = {
    "FrameEncoder2D": "frame2d",
    "channels_of": "frame2d",
    "XShiftNet": "xshiftnet",
    "XShiftNetClassifier": "xshiftnet",
    "XShiftBlock": "xshiftnet",
    "ClipHead": "xshiftnet",
    "TemporalShift": "temporal_shift",
    "temporal_shift": "temporal_shift",
    "STGCN": "stgcn",
    "STGCNBlock": "stgcn",
    "SpatialGraphConv": "stgcn",
    "check_skeleton": "stgcn",
    "HyperGCN": "hypergcn",
    "HyperGCNUnit": "hypergcn",
    "HyperGraphConv": "hypergcn",
    "MultiScaleTCN": "hypergcn",
    "hyper_joint_diversity_loss": "hypergcn",
    "SkeletonTransformer": "skeleton_transformer",
    "TransformerBlock": "skeleton_transformer",
    "PointSequenceEncoder": "point_sequence",
    "normalize_clip": "point_sequence",
    "SetAbstraction": "pointnet2",
    "GlobalSetAbstraction": "pointnet2",
    "farthest_point_sample": "pointnet2",
    "ball_query": "pointnet2",
    "DropPath": "layers",
    "Mlp": "layers",
    "spatial_partition": "graph",
    "uniform_partition": "graph",
    "distance_partition": "graph",
    "virtual_joint_adjacency": "graph",
    "inward_outward_graph": "graph",
    "CTRGCN": "ctrgcn",
    "SkeletonDataBN": "ctrgcn",
    "STGCNPlusPlus": "stgcnpp",
    "AimCLRSTGCN": "aimclr_stgcn",
    "ACLNetGCN": "aclnet",
    "ACLNetLoss": "aclnet",
    "PSUMNetStream": "psumnet",
    "psumnet_unified_input": "psumnet",
    "DSTANet": "dstanet",
    "BiGRU": "bigru",
    "CascadeFormer": "cascadeformer",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
