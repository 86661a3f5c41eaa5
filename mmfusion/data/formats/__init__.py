"""Readers and writers for the published file formats (one module per format).

=============  =================================================  ==========================
module         format                                             array
=============  =================================================  ==========================
skeleton       NTU ``.skeleton`` text (byte-exact writer)         ``(M, T, V, C)``
depth          NTU masked depth, 16-bit PNG folders (mm)          ``uint16 (T, H, W)``
video          RGB / IR AVI (decord, PyAV fallback; ffv1 writer)  ``uint8 (T, H, W[, 3])``
ucla           NW-UCLA ``all_sqe`` JSON                           ``(T, 20, 3)``
pku            PKU-MMD skeleton rows and label files              ``(2, T, 25, 3)``
synth_meta     synthetic world ``mmfusion_synth.json`` (checks)   dict
itop           ITOP HDF5 labels / point clouds / depth maps       ``(N, 15, 3)``, ``(N, 76800, 3)``
panoptic       CMU Panoptic bodies, calibration, sync, Kinect     ``(19, 4)``, ``uint16 (424, 512)``
               depth (panoptic-toolbox JSON + ``depthdata.dat``)
=============  =================================================  ==========================

``itop`` and ``panoptic`` are imported on use (``from mmfusion.data.formats.itop import ...``):
they serve the pose data sets (:mod:`mmfusion.pose.data`) only.

Every reader raises :class:`mmfusion.errors.DataFormatError` naming the file (and line), also
for values a float32 model input cannot hold (1e39 is finite in float64, inf in float32), for
counts larger than the file can hold (checked before allocating) and for videos that decode
fewer frames than their container declares.
"""

from .depth import depth_frame_name, depth_frame_paths, read_depth_folder, read_depth_png, write_depth_png
from .pku import PKUAction, format_pku_skeleton, read_pku_labels, read_pku_skeleton, write_pku_skeleton
from .skeleton import SkeletonSequence, format_skeleton, parse_skeleton_text, read_skeleton, write_skeleton
from .ucla import UCLASample, format_ucla, read_ucla, write_ucla
from .video import read_video, video_num_frames, write_video

__all__ = [
    "PKUAction", "SkeletonSequence", "UCLASample", "depth_frame_name", "depth_frame_paths", "format_pku_skeleton",
    "format_skeleton", "format_ucla", "parse_skeleton_text", "read_depth_folder", "read_depth_png",
    "read_pku_labels", "read_pku_skeleton", "read_skeleton", "read_ucla", "read_video", "video_num_frames",
    "write_depth_png", "write_pku_skeleton", "write_skeleton", "write_ucla", "write_video",
]
