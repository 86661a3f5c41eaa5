"""Action models: multimodal fusion networks, single-modality baselines and the shared heads.

* :mod:`.heads` -- ``ModalityClassifier``: any encoder of one batch key + a classifier head,
  the timm-style contract (``num_classes=0`` -> pooled features, ``forward_features``,
  ``forward_head``, ``reset_classifier``, ``num_features``).
* :mod:`.classifiers` -- the ST-GCN, Hyper-GCN, MAMP and point-sequence classifiers;
  :mod:`.skeleton_zoo` -- CTR-GCN, ST-GCN++, AimCLR's ST-GCN, ACLNet, PSUMNet, DSTA-Net, BiGRU and
  CascadeFormer classifiers (each encoder + its official head).
* :mod:`.unimodal` -- ``FrameGRU`` (``frame_gru``), ``modality_classifier``.
* :mod:`.mmixer` -- M-Mixer (``mmixer``), :mod:`.epam_net` -- EPAM-Net (``epam_net``),
  :mod:`.deform3d` -- the 3D deformable RGB + pose transformer (``deform3d``).

Registration is explicit: :data:`mmfusion.registry.MODEL_MODULES` lists every module that
registers models (encoders, fusion blocks, these, the pose networks) and is imported on first
use of the registry.
"""

from __future__ import annotations

from .deform3d import Deform3DNet
from .epam_net import EPAMNet
from .heads import ModalityClassifier
from .mmixer import MMixer
from .unimodal import FrameGRU

__all__ = ["Deform3DNet", "EPAMNet", "FrameGRU", "MMixer", "ModalityClassifier"]
