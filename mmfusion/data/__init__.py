"""Data layer: file formats, NTU protocols, preprocessing, data sets and the synthetic world.

Nothing is imported here (import the module you need); the main API:

* :mod:`.formats` -- readers/writers of the published formats: NTU ``.skeleton`` (byte-exact;
  ``read_skeleton(path) -> SkeletonSequence``, ``.to_array()`` (M, T, V, C)), masked depth PNG
  folders (uint16 (T, H, W), mm), RGB/IR AVI (uint8 (T, H, W[, 3])), NW-UCLA JSON, PKU-MMD.
* :mod:`.ntu` -- ``NTUSampleName``, ``split_of(name, protocol)`` (xsub/xview/xsub120/xset),
  missing-skeleton lists, ``NTUTree(root)`` paths.
* :mod:`.layouts` -- skeleton layouts as data (``NTU25``, ``COCO17``, ``UCLA20``, ``get_layout``).
* :mod:`.preprocess` -- CTR-GCN / PYSKL skeleton preprocessing (denoising, centring, crop-resize,
  bone/motion streams); :mod:`.sampling` -- frame indices shared by all modalities;
  :mod:`.transforms` -- clip crops/resizes/flips and tensor conversion.
* :mod:`.camera` -- ``CameraIntrinsics`` (one type; ``from_any``, ``scaled``, ``mirrored``),
  ``project`` / ``backproject`` / ``depth_to_points`` for numpy and torch, ``KINECT_V2_DEPTH``;
  :mod:`.calibration` -- real NTU samples' depth intrinsics fitted on their own ``.skeleton`` files.
* :mod:`.modalities` -- the table of batch keys (channels, layout, file kind, dtype).
* :mod:`.pointcloud` -- fixed-size point sampling per frame (random / FPS); :mod:`.cloud_ops` --
  open3d cleaning (outliers, floor plane, voxels) and PLY export; :mod:`.heatmaps` -- keypoints
  (M, T, V, 2) -> heatmaps (V, T, h, w).
* The data path: :mod:`.reader` (``SampleReader`` protocol, ``NTUTreeReader`` for a raw tree),
  :mod:`.store` (``pack_ntu`` / ``PackedStore``, a reader over memory-mapped shards),
  :mod:`.settings` (frozen ``ClipSettings``), :mod:`.sample` (``make_sample(reader, name,
  settings, rng, train)`` -> ``"rgb"`` (3, T, H, W), ``"depth"``/``"ir"`` (1, T, H, W),
  ``"points"`` (T, P, 3), ``"skeleton"`` (3, T, V, M), ``"heatmap"``, ``"keypoints2d"``),
  :mod:`.dataset` (``NTUDataset``: the protocol index + ``make_sample``; ``collate``).
* :mod:`.roots` -- ``resolve_data_root``: where a recipe's data lives (raw tree, store or
  synthetic world).
* :mod:`.synthetic` -- the synthetic NTU-format world (``generate(out_dir, SynthConfig)``).

See docs/data.md and docs/data_formats.md.
"""
