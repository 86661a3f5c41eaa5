"""Cross-modal fusion blocks, one file per idea, each a plain ``nn.Module`` with documented shapes.

* :mod:`.mcu` -- ``MCU`` / ``MCUCell``: M-Mixer's Multi-modal Contextualization Unit, a GRU whose
  input is gated by a cross-modal content vector: x (N, T, I), g (N, C) -> states (N, T, H), last (N, H).
* :mod:`.cfem` -- ``CFEM``: M-Mixer's complementary feature extraction (per-modality queries attend
  to the other modalities): ``{m: (N, T_m, d)}`` -> ``{m: CFEMOutput(features (N, Q, d), content (N, d))}``.
* :mod:`.pose_guided_attention` -- ``PoseGuidedAttention`` (EPAM-Net): pose maps (N, Cp, Tp, H, W)
  re-weight RGB maps (N, Cr, Tr, H, W).
* :mod:`.deformable3d` -- ``DeformableAttention3D`` (+ ``TokenSearch3D``): attention over an (N, C, T, H, W)
  volume with learned 3-D sampling offsets and cross-modal tokens (N, K, C).
* :mod:`.stride_attention` -- ``JointStrideAttention`` / ``TemporalStrideAttention``: grouped
  attention over pose tokens (N, T, V, C) sharing cross-modal tokens (N, K, C).

Public classes are exported lazily (``from mmfusion.fusion import MCU, CFEM, PoseGuidedAttention,
DeformableAttention3D, JointStrideAttention, TemporalStrideAttention``). The blocks are also
registered (``mmfusion.list_models(tag="fusion")``) but need no registry: import a class into
your own model (docs/fusion.md has a runnable example).
"""

from __future__ import annotations

from ..lazy import lazy_exports

#: public name -> submodule; resolved on first access (importing the package stays as light as ``import mmfusion``)
_EXPORTS: dict[str, str] = {
    "MCU": "mcu",
    "MCUCell": "mcu",
    "CFEM": "cfem",
    "CFEMOutput": "cfem",
    "PoseGuidedAttention": "pose_guided_attention",
    "DeformableAttention3D": "deformable3d",
    "TokenSearch3D": "deformable3d",
    "JointStrideAttention": "stride_attention",
    "TemporalStrideAttention": "stride_attention",
    "GroupAttention": "stride_attention",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
