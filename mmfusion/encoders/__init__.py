"""Unimodal encoders: plain ``nn.Module``\\ s that take one tensor and return features (``out_dim``).

Every module here is imported by the registry, so each encoder is also a registered name
(``mmfusion.create_model(name, **cfg)``, ``mmfusion.list_models(tag="encoder")``); import the
classes directly to use them inside your own models.

* :mod:`.frame2d` -- ``FrameEncoder2D``: a timm 2-D CNN per frame, (N, C, T, H, W) -> (N, T, D)
  (``frame_resnet18``, ``frame_resnet34``, ``frame_tiny``; RGB, depth or IR stems).
* :mod:`.xshiftnet` -- X-ShiftNet (EPAM-Net's X3D without temporal kernels),
  (N, C, T, H, W) -> (N, C', T, H', W') (``xshiftnet_rgb``, ``xshiftnet_pose`` and ``_tiny``);
  :mod:`.temporal_shift` -- the TSM shift it uses.
* :mod:`.stgcn` (ST-GCN), :mod:`.hypergcn` (Hyper-GCN), :mod:`.skeleton_transformer`
  (MAMP-style transformer) -- skeleton (N, 3, T, V, M) -> (N, D); :mod:`.graph` builds their
  graphs from a :class:`~mmfusion.data.layouts.SkeletonLayout`.
* :mod:`.point_sequence` -- per-frame PointNet++ + temporal transformer, points (N, T, P, 3) -> (N, D);
  :mod:`.pointnet2` -- the batched pure-torch FPS / ball-query / set-abstraction operators.

With ``num_classes`` the registered skeleton and point entries wrap the encoder in
:class:`mmfusion.models.heads.ModalityClassifier` (reads ``batch["skeleton"]`` / ``batch["points"]``).
See docs/models.md for the table of all registered models.
"""
