"""The skeleton side of the data layer.

* :mod:`.streams` -- joint / bone / skip-bone streams, their motions, acceleration and PSUMNet's
  12-channel concatenation, on ``(C, T, V, M)`` or ``(N, C, T, V, M)`` arrays or tensors.
* :mod:`.families` -- the published preprocessing families beside CTR-GCN's
  (:mod:`mmfusion.data.preprocess`): AimCLR ``frame50``, 2s-AGCN ``pre_normalization``, PYSKL
  (``PreNormalize3D``, ``UniformSampleFrames``, ``FormatGCNInput``).
* :mod:`.corruption` -- FineTec's temporal corruption (five patterns x three levels, seeded per
  sample), the :class:`~.corruption.CorruptedSkeletons` wrapper and the level x pattern table.
* :mod:`.datasets` -- :class:`~.datasets.SkeletonDataset` over packed arrays with the official
  NTU-60/120, NW-UCLA and PKU-MMD protocols.
* :mod:`.conventions` -- other joint conventions (``smpl24``, ``h36m17``, ``coco17`` ...) of a packed
  folder re-expressed in 3-D from its ``ntu25`` arrays (MS-CLR's multi-convention data without a
  second pose estimator; ``data_tools/derive_conventions.py``).

Importers of the published array files live in :mod:`mmfusion.data.formats.pyskl` and
:mod:`mmfusion.data.formats.ctrgcn_npz`; the skeleton-only synthetic world in
:mod:`mmfusion.data.synthetic.skeleton_world`. See docs/skeleton.md.
"""
