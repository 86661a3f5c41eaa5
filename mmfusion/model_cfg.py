"""Typed configuration beside every registered model (timm's ``default_cfg`` idea).

Each ``@register_model(cfg=ModelCfg(...))`` entry says what one batch looks like: an
:class:`InputSpec` per batch key (per-sample shape, layout letters, dtype, normalisation and the
range of plausible values), the number of classes, the clip length, the published parameter
count and where it comes from. :func:`dummy_inputs` builds a valid batch from the config
alone, so tests, benchmarks and the pipeline never keep their own table of input sizes::

    cfg = mmfusion.get_model_cfg("epam_net_tiny")
    cfg.inputs["rgb"].shape            # (3, 8, 64, 64)  per sample, layout "C T H W"
    batch = mmfusion.dummy_inputs("epam_net_tiny", batch_size=2)   # {"rgb": (2, 3, 8, 64, 64), ...}
    out = call_model(model, cfg, batch)

``call`` says how a batch reaches the model: ``"batch"`` is ``model(batch)`` (every classifier,
the pose nets, CFEM's mapping); ``"positional"`` is ``model(*batch.values())`` in input order
(bare encoders ``(N, C, T, H, W) -> ...``, MCU's ``(x, g)``, the pose-guided attention).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import torch
from torch import Tensor, nn

from .errors import ConfigError

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "InputSpec", "ModelCfg", "call_model", "frames_input", "make_inputs"]

#: the statistics the RGB data pipeline normalises with (``mmfusion.data.transforms``; kept equal by a test,
#: not imported: that module pulls in torchvision)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: how :func:`make_inputs` fills a tensor (plausible values: the point and depth models normalise
#: or subtract medians, so zeros or unit noise would take other code paths)
Values = Literal["normal", "unit", "skeleton_m", "points_m", "depth_m"]


@dataclass(frozen=True)
class InputSpec:
    """One batch entry, per sample (without the leading N).

    Attributes:
        shape: per-sample shape, e.g. ``(3, 16, 224, 224)``.
        layout: letters of the axes, e.g. ``"C T H W"`` (skeletons ``"C T V M"``, points ``"T P 3"``).
        dtype: torch dtype name (``"float32"``, ``"int64"``).
        mean / std: per-channel normalisation the model expects (None: raw values, e.g. metres).
        values: what :func:`make_inputs` draws: ``"normal"`` N(0, 1), ``"unit"`` U[0, 1)
            (heatmaps), ``"skeleton_m"`` joints around 3 m in front of the camera (C first),
            ``"points_m"`` a person-sized blob at 3 m (xyz last), ``"depth_m"`` 2-4 m with 20 %
            missing (zero) readings.
    """

    shape: tuple[int, ...]
    layout: str
    dtype: str = "float32"
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    values: Values = "normal"

    def __post_init__(self) -> None:
        if len(self.layout.split()) != len(self.shape):
            raise ConfigError(f"InputSpec: layout {self.layout!r} has {len(self.layout.split())} axes, "
                              f"shape {self.shape} has {len(self.shape)}")
        if not hasattr(torch, self.dtype) or not isinstance(getattr(torch, self.dtype), torch.dtype):
            raise ConfigError(f"InputSpec: unknown dtype {self.dtype!r}")

    def axis(self, letter: str) -> int:
        """Per-sample size of the axis named ``letter`` (``"T"``, ``"V"`` ...)."""
        names = self.layout.split()
        if letter not in names:
            raise ConfigError(f"InputSpec: layout {self.layout!r} has no axis {letter!r}")
        return self.shape[names.index(letter)]

    def with_axis(self, letter: str, size: int) -> InputSpec:
        """A copy with the axis ``letter`` resized (e.g. another clip length)."""
        names = self.layout.split()
        if letter not in names:
            return self
        shape = list(self.shape)
        shape[names.index(letter)] = size
        return replace(self, shape=tuple(shape))


#: what a registered entry is: a classifier (``num_classes`` / ``num_classes=0`` contract), a bare
#: encoder, a fusion block, or a pose network
Kind = Literal["classifier", "encoder", "fusion", "pose"]


@dataclass(frozen=True)
class ModelCfg:
    """The default configuration of one registered entry.

    Attributes:
        inputs: batch key -> :class:`InputSpec` (for ``call="positional"`` the argument order).
        kind: ``"classifier"``, ``"encoder"``, ``"fusion"`` or ``"pose"``.
        num_classes: the entry's default K (None for non-classifiers).
        clip_len: frames per clip of the time axis ``T`` (None when the input has no time axis).
        call: ``"batch"`` (``model(batch)``) or ``"positional"`` (``model(*batch.values())``).
        paper_params: the published (paper or official code) parameter count, or None.
        paper_macs: the published MACs per sample at ``inputs``, or None.
        source: where the figures and sizes come from.
        output: what the entry returns (documentation, shown in docs/models.md).
    """

    inputs: Mapping[str, InputSpec]
    kind: Kind = "classifier"
    num_classes: int | None = None
    clip_len: int | None = None
    call: Literal["batch", "positional"] = "batch"
    paper_params: float | None = None
    paper_macs: float | None = None
    source: str = ""
    output: str = ""

    def __post_init__(self) -> None:
        if not self.inputs:
            raise ConfigError("ModelCfg: needs at least one input")
        if self.kind == "classifier" and self.num_classes is None:
            raise ConfigError("ModelCfg: a classifier needs its default num_classes")


def frames_input(modality: str, frames: int, size: int | tuple[int, int]) -> InputSpec:
    """A video-like input (C, T, H, W): ``"rgb"`` ImageNet-normalised, ``"depth"`` metres, ``"ir"`` normalised."""
    h, w = (size, size) if isinstance(size, int) else size
    if modality == "rgb":
        return InputSpec((3, frames, h, w), "C T H W", mean=IMAGENET_MEAN, std=IMAGENET_STD)
    if modality == "depth":
        return InputSpec((1, frames, h, w), "C T H W", values="depth_m")
    if modality == "ir":
        return InputSpec((1, frames, h, w), "C T H W")
    raise ConfigError(f"frames_input: unknown video modality {modality!r} (rgb, depth, ir)")


def _dtype(name: str) -> torch.dtype:
    return getattr(torch, name)


def make_inputs(cfg: ModelCfg, batch_size: int = 2, seed: int = 0, clip_len: int | None = None,
                shapes: Mapping[str, tuple[int, ...]] | None = None, device: str | torch.device = "cpu",
                labels: bool = False) -> dict[str, Tensor]:
    """A valid batch ``{key: (batch_size, *shape)}`` built from ``cfg`` alone.

    Args:
        cfg: the entry's :class:`ModelCfg`.
        batch_size: N.
        seed: values come from a seeded generator (the same batch every call).
        clip_len: resize every input's ``T`` axis (e.g. a shorter clip for a CPU test).
        shapes: replace per-sample shapes by key.
        device: where the tensors go.
        labels: add ``"label"`` (N,) class ids for classifiers.
    """
    if batch_size < 1:
        raise ConfigError(f"dummy_inputs: batch_size must be >= 1, got {batch_size}")
    unknown = sorted(set(shapes or {}) - set(cfg.inputs))
    if unknown:
        raise ConfigError(f"dummy_inputs: no input {unknown} in this model's config (inputs: {sorted(cfg.inputs)})")
    g = torch.Generator().manual_seed(seed)
    out: dict[str, Tensor] = {}
    for key, spec in cfg.inputs.items():
        if clip_len is not None:
            spec = spec.with_axis("T", clip_len)
        if shapes and key in shapes:
            spec = replace(spec, shape=tuple(shapes[key]))
        out[key] = _fill(spec, (batch_size, *spec.shape), g).to(device)
    if labels and cfg.kind == "classifier" and cfg.num_classes:
        out["label"] = torch.randint(0, cfg.num_classes, (batch_size,), generator=g).to(device)
    return out


def _fill(spec: InputSpec, full: tuple[int, ...], g: torch.Generator) -> Tensor:
    dtype = _dtype(spec.dtype)
    if not dtype.is_floating_point:
        return torch.zeros(full, dtype=dtype)
    if spec.values == "unit":
        return torch.rand(full, generator=g).to(dtype)
    if spec.values == "points_m":  # (..., 3) xyz last
        scale, centre = torch.tensor([0.25, 0.6, 0.15]), torch.tensor([0.0, 0.0, 3.0])
        return (torch.randn(full, generator=g) * scale + centre).to(dtype)
    if spec.values == "skeleton_m":  # (N, C, T, V, M): xyz on the channel axis
        centre = torch.zeros(full[1])
        centre[min(2, full[1] - 1)] = 3.0
        return (torch.randn(full, generator=g) * 0.3 + centre.view(-1, *([1] * (len(full) - 2)))).to(dtype)
    if spec.values == "depth_m":
        d = 2.0 + 2.0 * torch.rand(full, generator=g)
        return torch.where(torch.rand(full, generator=g) < 0.2, torch.zeros_like(d), d).to(dtype)
    return torch.randn(full, generator=g).to(dtype)


def call_model(model: nn.Module, cfg: ModelCfg, batch: Mapping[str, Tensor]) -> Any:
    """Run ``model`` on a batch the way its config says (``model(batch)`` or positional inputs)."""
    if cfg.call == "batch":
        return model(dict(batch))
    return model(*(batch[k] for k in cfg.inputs))
