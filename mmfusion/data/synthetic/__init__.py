"""The synthetic NTU world: the embedded default data of every recipe.

A parametric 25-joint body (:mod:`.body`) performs parametric actions (:mod:`.actions`) in
front of a Kinect-like rig; a vectorised sphere renderer (:mod:`.render`) makes masked depth,
IR and RGB; :mod:`.generate` writes everything in the exact NTU tree and file formats, so
the very same readers, protocols and data sets serve real and synthetic data.

    from mmfusion.data.synthetic import SynthConfig, generate
    generate("data/synth_ntu", SynthConfig(seed=0))

Class design (which modality separates which classes) is in :mod:`.actions` and
docs/synthetic.md.
"""

from .actions import ACTIONS, ActionSpec, HeldObject
from .config import SynthConfig
from .generate import META_FILE, SampleSpec, generate, is_complete, render_sample, sample_specs
from .overview import render_overview

__all__ = ["ACTIONS", "META_FILE", "ActionSpec", "HeldObject", "SampleSpec", "SynthConfig", "generate",
           "is_complete", "render_overview", "render_sample", "sample_specs"]
