"""UniPose: weakly supervised 3-D human pose from RGB-D sequences (Zheng et al., PRCV 2025).

Stage A (:mod:`.pointnet_pose`, :mod:`.losses`): a two-stage PointNet++ on OBB-normalised point
clouds (:mod:`.obb`) predicts per-point joint heat and vote directions, decoded by
heat-weighted voting (:mod:`.decode`); trained from noisy 2-D keypoints only (back-projection,
bone-length, symmetry and motion-smoothness losses).
Stage B (:mod:`.a2j`): anchor-to-joint networks on depth and RGB frames trained on stage A's
3-D outputs as pseudo labels.
Pipelines lift a clip with :func:`mmfusion.pose.lift.lift_rgbd` (depth (T, H, W) uint16 mm +
keypoints (T, V, 2) px -> (T, V, 3) metres; stage A from a :func:`~.lift.save_lifter` folder or naive).
Data: :mod:`.data` (data sets of synthetic pose clips, ITOP, CMU Panoptic; the files are read
by :mod:`mmfusion.data.formats.itop` / :mod:`~mmfusion.data.formats.panoptic`, the synthetic
clips rendered by :mod:`mmfusion.data.synthetic.pose_world`), point clouds from depth and the
naive lifting :mod:`.cloud`; metrics :mod:`.metrics` (MPJPE mm, AP@10cm). Training of both
stages: :mod:`.train` (on the engine's accelerator and checkpoint writing).

Registered models: ``unipose_pointnet(_tiny)``, ``a2j_depth(_tiny)``, ``a2j_rgb(_tiny)``.
Submodules are imported on use (``import mmfusion.pose.losses``) to keep imports light.
"""
