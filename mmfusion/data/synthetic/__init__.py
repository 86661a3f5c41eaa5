"""The synthetic NTU RGB+D world: the embedded default data of every mmfusion recipe.

A parametric 25-joint Kinect body (:mod:`.body`: per-subject size, proportions, girth and
clothing) performs parametric actions with real NTU action IDs (:mod:`.actions`: joint-angle
trajectories plus inverse kinematics, time warping, amplitude variation, held props) in a
room filmed by three Kinect v2 rigs (camera 1 frontal, 2 and 3 at +-45 degrees). An exact
analytic ray caster (:mod:`.render`) makes masked depth, IR and RGB; :mod:`.generate` writes
everything in the exact NTU tree and file formats, so the same readers, protocols and data
sets serve real and synthetic data::

    from mmfusion.data.synthetic import SynthConfig, generate
    generate("data/synth_ntu", SynthConfig(seed=0))      # or: mmfusion synth data/synth_ntu

Classes come in pairs that only some modalities can tell apart (RGB-only, depth-only,
IR-only, skeleton-only), so fusion can beat every single modality; see :mod:`.actions` and
docs/synthetic.md. :func:`render_sample` renders one sample in memory with its hidden 3D
ground truth; :func:`noisy_keypoints2d` simulates a COCO-17 2D detector on it.
"""

from .actions import ACTIONS, PAIRS, ActionDef, Prop
from .config import Camera, SampleSpec, SynthConfig, color_camera, depth_camera
from .detector import detect, noisy_keypoints2d
from .generate import META_FILE, generate, is_complete, render_sample, sample_specs
from .overview import render_overview

__all__ = ["ACTIONS", "META_FILE", "PAIRS", "ActionDef", "Camera", "Prop", "SampleSpec", "SynthConfig",
           "color_camera", "depth_camera", "detect", "generate", "is_complete", "noisy_keypoints2d",
           "render_overview", "render_sample", "sample_specs"]
