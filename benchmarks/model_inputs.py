"""Input specifications of every registered model, at the paper's size and at the demo size.

``SPECS[name][size]`` (size ``"paper"`` or ``"demo"``) is a :class:`InputSpec`: how to build the
model for the benchmark, how to make a batch of ``n`` samples, and how to turn the outputs into a
training loss. A model missing from the table is reported as such by ``bench_models.py`` (no
crash); add it here when a new model is registered.

Sizes (batch dict keys follow the data contract of the brief):

* paper: the input size of the publication (or of the official code where the paper does not
  say); ``note`` says where it comes from.
* demo: the small size that the demo / tests use on a CPU (tiny variants; full variants fed the
  same small inputs where the architecture allows it).

Classifier models are built with a 60-class head (NTU-60) at paper size and 10 classes at demo
size; bare encoders with a ``num_classes`` argument are built with the head so that the training
step is the real one (cross-entropy or the model's own ``loss``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Batch = dict[str, Tensor]


@dataclass(frozen=True)
class InputSpec:
    """How to benchmark one model at one size.

    Attributes:
        kwargs: ``create_model`` keyword arguments.
        shapes: per-sample shape of every batch entry (without the leading N).
        train_batch: batch size of the training-step measurement.
        note: where the size comes from.
        make: optional custom batch builder ``(n, generator) -> batch``; default: :func:`default_batch`.
        forward: ``(model, batch) -> outputs``; default ``model(batch)``.
        loss: ``(model, outputs, batch) -> scalar``; default: ``model.loss(outputs, batch["label"])`` if
            the model defines it, else cross-entropy on ``outputs["logits"]``.
    """

    kwargs: dict[str, Any]
    shapes: dict[str, tuple[int, ...]]
    train_batch: int = 4
    note: str = ""
    make: Callable[[int, torch.Generator], Batch] | None = None
    forward: Callable[[nn.Module, Batch], Any] | None = None
    loss: Callable[[nn.Module, Any, Batch], Tensor] | None = None
    num_classes: int = field(default=0)

    def batch(self, n: int, seed: int = 0) -> Batch:
        g = torch.Generator().manual_seed(seed)
        b = self.make(n, g) if self.make is not None else default_batch(self.shapes, n, g)
        if self.num_classes:
            b["label"] = torch.randint(0, self.num_classes, (n,), generator=g)
        return b

    def run(self, model: nn.Module, batch: Batch) -> Any:
        return self.forward(model, batch) if self.forward is not None else model(batch)

    def train_loss(self, model: nn.Module, outputs: Any, batch: Batch) -> Tensor:
        if self.loss is not None:
            return self.loss(model, outputs, batch)
        if hasattr(model, "loss"):
            return model.loss(outputs, batch["label"])
        return F.cross_entropy(outputs["logits"].float(), batch["label"])

    def describe(self) -> str:
        return " + ".join(f"{k} " + "x".join(map(str, s)) for k, s in self.shapes.items())


# -- batch builders (plausible value ranges: the point models normalise, the A2J depth net
#    subtracts a median, so zeros or garbage would take other code paths) ---------------------

def default_batch(shapes: dict[str, tuple[int, ...]], n: int, g: torch.Generator) -> Batch:
    out: Batch = {}
    for key, shape in shapes.items():
        full = (n, *shape)
        if key == "points":  # (N, T, P, 3): a person-sized blob about 3 m in front of the camera
            out[key] = torch.randn(full, generator=g) * torch.tensor([0.25, 0.6, 0.15]) + torch.tensor([0.0, 0.0, 3.0])
        elif key == "skeleton":  # (N, 3, T, V, M) camera metres
            out[key] = torch.randn(full, generator=g) * 0.3 + torch.tensor([0.0, 0.0, 3.0]).view(3, 1, 1, 1)
        elif key == "heatmap":  # (N, 17, T, h, w) in [0, 1]
            out[key] = torch.rand(full, generator=g)
        elif key == "depth":  # (N, 1, T, H, W) metres, 20 % missing readings
            d = 2.0 + 2.0 * torch.rand(full, generator=g)
            out[key] = torch.where(torch.rand(full, generator=g) < 0.2, torch.zeros_like(d), d)
        else:  # rgb / ir / features: normalised values
            out[key] = torch.randn(full, generator=g)
    return out


def _pga_forward(model: nn.Module, batch: Batch) -> Tensor:
    return model(batch["rgb_features"], batch["pose_features"])


def _mean_square(model: nn.Module, outputs: Any, batch: Batch) -> Tensor:
    return outputs.float().square().mean()


def _a2j_loss(model: nn.Module, outputs: Any, batch: Batch) -> Tensor:
    # targets: random joints inside the image and plausible depths, as the A2J loss expects
    uv = outputs["uv"].detach()
    g = torch.Generator().manual_seed(1)
    h, w = batch.get("depth", batch.get("rgb")).shape[-2:]
    target_uv = torch.rand(uv.shape, generator=g) * torch.tensor([float(w), float(h)])
    target_d = 2.0 + torch.rand(outputs["depth_joints"].shape, generator=g)
    return model.loss(outputs, {"uv": target_uv, "depth": target_d})


def _unipose_loss(model: nn.Module, outputs: Any, batch: Batch) -> Tensor:
    # a proxy of the weak losses: joints to a fixed target plus the two per-point maps
    target = batch["points"].mean(dim=2, keepdim=True).expand_as(outputs["joints"])
    return (F.mse_loss(outputs["joints_stages"], target.expand_as(outputs["joints_stages"]))
            + outputs["heat"].mean() + outputs["offset"].square().mean())


def _encoder_forward(key: str) -> Callable[[nn.Module, Batch], Any]:
    def fwd(model: nn.Module, batch: Batch) -> Any:
        return model(batch[key])
    return fwd


def _cfem_forward(model: nn.Module, batch: Batch) -> Any:
    return torch.stack([o.content for o in model({m: batch[m] for m in ("rgb", "depth", "ir")}).values()])


def _mcu_forward(model: nn.Module, batch: Batch) -> Any:
    return model(batch["x"], batch["g"][:, 0])[0]


def _frames(c: int, t: int, s: int) -> tuple[int, int, int, int]:
    return (c, t, s, s)


def _rgb_pose(rgb: tuple[int, ...], heat: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    return {"rgb": rgb, "heatmap": heat}


# -- the table -----------------------------------------------------------------------------------

_RGB_PAPER = (3, 16, 224, 224)  # EPAM-Net / X3D-M clip
_HEAT_PAPER = (17, 48, 56, 56)  # EPAM-Net PoseC3D heatmaps
_RGB_DEMO = (3, 8, 64, 64)  # epam_net_tiny's clip
_HEAT_DEMO = (17, 24, 16, 16)
_SKEL_DEMO = (3, 32, 25, 2)
_K_PAPER, _K_DEMO = 60, 10


def _cls(kwargs: dict[str, Any], shapes: dict[str, tuple[int, ...]], k: int, train_batch: int, note: str,
         **extra: Any) -> InputSpec:
    return InputSpec(kwargs={"num_classes": k, **kwargs}, shapes=shapes, train_batch=train_batch, note=note,
                     num_classes=k, **extra)


def _skeleton(t_paper: int, note: str, tiny: bool) -> dict[str, InputSpec]:
    out = {"demo": _cls({}, {"skeleton": _SKEL_DEMO}, _K_DEMO, 8, "demo skeleton clip: 32 frames")}
    out["paper"] = _cls({}, {"skeleton": (3, t_paper, 25, 2)}, _K_PAPER, 4 if not tiny else 8, note)
    return out


SPECS: dict[str, dict[str, InputSpec]] = {
    # X-ShiftNet streams (EPAM-Net), with their classification heads
    "xshiftnet_rgb": {
        "paper": _cls({}, {"rgb": _RGB_PAPER}, _K_PAPER, 2, "EPAM-Net RGB stream: 16x224^2"),
        "demo": _cls({}, {"rgb": _RGB_DEMO}, _K_DEMO, 8, "demo clip 8x64^2"),
    },
    "xshiftnet_rgb_tiny": {
        "paper": _cls({}, {"rgb": _RGB_PAPER}, _K_PAPER, 2, "EPAM-Net RGB stream size"),
        "demo": _cls({}, {"rgb": _RGB_DEMO}, _K_DEMO, 8, "epam_net_tiny RGB clip"),
    },
    "xshiftnet_pose": {
        "paper": _cls({}, {"heatmap": _HEAT_PAPER}, _K_PAPER, 2, "EPAM-Net pose stream: 48x56^2 heatmaps"),
        "demo": _cls({}, {"heatmap": _HEAT_DEMO}, _K_DEMO, 8, "demo heatmaps 24x16^2"),
    },
    "xshiftnet_pose_tiny": {
        "paper": _cls({}, {"heatmap": _HEAT_PAPER}, _K_PAPER, 2, "EPAM-Net pose stream size"),
        "demo": _cls({}, {"heatmap": _HEAT_DEMO}, _K_DEMO, 8, "epam_net_tiny heatmaps"),
    },
    "epam_net": {
        "paper": _cls({}, _rgb_pose(_RGB_PAPER, _HEAT_PAPER), _K_PAPER, 2, "EPAM-Net: 16x224^2 RGB + 48x56^2 heatmaps"),
        "demo": _cls({}, _rgb_pose(_RGB_DEMO, _HEAT_DEMO), _K_DEMO, 8, "epam_net_tiny sizes"),
    },
    "epam_net_tiny": {
        "paper": _cls({}, _rgb_pose(_RGB_PAPER, _HEAT_PAPER), _K_PAPER, 2, "EPAM-Net sizes"),
        "demo": _cls({}, _rgb_pose(_RGB_DEMO, _HEAT_DEMO), _K_DEMO, 8, "epam_net_tiny docstring sizes"),
    },
    "pose_guided_attention": {
        "paper": InputSpec({}, {"rgb_features": (432, 16, 7, 7), "pose_features": (216, 48, 7, 7)}, 8,
                           "EPAM-Net conv5 maps", forward=_pga_forward, loss=_mean_square),
        "demo": InputSpec({}, {"rgb_features": (72, 8, 2, 2), "pose_features": (54, 24, 2, 2)}, 8,
                          "epam_net_tiny conv5 maps", forward=_pga_forward, loss=_mean_square),
    },
    # 3D deformable RGB + pose transformer
    "deform3d": {
        "paper": _cls({}, {"rgb": _RGB_PAPER, "skeleton": (3, 64, 25, 2)}, _K_PAPER, 2,
                      "16x224^2 RGB (tokens 8x7x7) + 64-frame skeleton resampled to 32"),
        "demo": _cls({}, {"rgb": (3, 8, 224, 224), "skeleton": (3, 16, 25, 2)}, _K_DEMO, 2,
                     "smallest clip its (4, 7, 7) sample grid accepts: 8x224^2"),
    },
    "deform3d_tiny": {
        "paper": _cls({}, {"rgb": (3, 16, 112, 112), "skeleton": (3, 64, 25, 2)}, _K_PAPER, 4,
                      "tiny model on a 16x112^2 clip"),
        "demo": _cls({}, {"rgb": (3, 8, 32, 32), "skeleton": (3, 8, 25, 2)}, _K_DEMO, 8, "deform3d_tiny docstring"),
    },
    # skeleton encoders (with a head; MACs of the head are negligible)
    "stgcn": _skeleton(300, "ST-GCN: 300 frames, 2 persons", tiny=False),
    "stgcn_tiny": _skeleton(300, "ST-GCN input size", tiny=True),
    "hypergcn_base": _skeleton(64, "Hyper-GCN: 64 frames (CTR-GCN pipeline)", tiny=False),
    "hypergcn_large": _skeleton(64, "Hyper-GCN: 64 frames", tiny=False),
    "hypergcn_tiny": _skeleton(64, "Hyper-GCN input size", tiny=True),
    "mamp_transformer": _skeleton(120, "MAMP: 120 frames (30 tokens x 25 joints x 2 persons)", tiny=False),
    "mamp_transformer_tiny": _skeleton(120, "MAMP input size", tiny=True),
    # point sequences
    "point_sequence_encoder": {
        "paper": _cls({}, {"points": (24, 2048, 3)}, _K_PAPER, 2, "P4Transformer clip: 24 frames x 2048 points"),
        "demo": _cls({}, {"points": (8, 512, 3)}, _K_DEMO, 2, "demo: 8 frames x 512 points"),
    },
    "point_sequence_encoder_tiny": {
        "paper": _cls({}, {"points": (24, 2048, 3)}, _K_PAPER, 2, "P4Transformer clip size"),
        "demo": _cls({}, {"points": (8, 256, 3)}, _K_DEMO, 8, "demo: 8 frames x 256 points"),
    },
    # UniPose stage A / B (pose estimation: proxy losses, see _unipose_loss / _a2j_loss)
    "unipose_pointnet": {
        "paper": InputSpec({}, {"points": (1, 2048, 3)}, 4, "C3P: one frame of 2048 points", loss=_unipose_loss),
        "demo": InputSpec({}, {"points": (1, 512, 3)}, 4, "one frame of 512 points", loss=_unipose_loss),
    },
    "unipose_pointnet_tiny": {
        "paper": InputSpec({}, {"points": (1, 2048, 3)}, 4, "C3P frame size", loss=_unipose_loss),
        "demo": InputSpec({}, {"points": (1, 256, 3)}, 8, "one frame of 256 points", loss=_unipose_loss),
    },
    "a2j_depth": {
        "paper": InputSpec({}, {"depth": (1, 1, 288, 288)}, 2, "A2J: 288^2 depth crop", loss=_a2j_loss),
        "demo": InputSpec({}, {"depth": (1, 1, 64, 64)}, 8, "64^2 depth crop", loss=_a2j_loss),
    },
    "a2j_depth_tiny": {
        "paper": InputSpec({}, {"depth": (1, 1, 288, 288)}, 2, "A2J crop size", loss=_a2j_loss),
        "demo": InputSpec({}, {"depth": (1, 1, 64, 64)}, 8, "64^2 depth crop", loss=_a2j_loss),
    },
    "a2j_rgb": {
        "paper": InputSpec({}, {"rgb": (3, 1, 256, 256)}, 2, "A2J-Transformer: 256^2 RGB crop", loss=_a2j_loss),
        "demo": InputSpec({}, {"rgb": (3, 1, 64, 64)}, 8, "64^2 RGB crop", loss=_a2j_loss),
    },
    "a2j_rgb_tiny": {
        "paper": InputSpec({}, {"rgb": (3, 1, 256, 256)}, 2, "A2J-Transformer crop size", loss=_a2j_loss),
        "demo": InputSpec({}, {"rgb": (3, 1, 64, 64)}, 8, "64^2 RGB crop", loss=_a2j_loss),
    },
    # M-Mixer and its single-modality baselines (video-like modalities, frame-wise 2-D CNNs)
    "mmixer": {
        "paper": _cls({}, {"rgb": _frames(3, 16, 112), "depth": _frames(1, 16, 112), "ir": _frames(1, 16, 112)},
                      _K_PAPER, 2, "recipe's full-size example: 16 frames at 112^2 (paper's size not retrieved)"),
        "demo": _cls({}, {"rgb": _frames(3, 8, 48), "depth": _frames(1, 8, 48), "ir": _frames(1, 8, 48)},
                     _K_DEMO, 16, "make demo: 8 frames at 48^2, batch 16"),
    },
    "mmixer_tiny": {
        "paper": _cls({}, {"rgb": _frames(3, 16, 112), "depth": _frames(1, 16, 112), "ir": _frames(1, 16, 112)},
                      _K_PAPER, 2, "full-size clip"),
        "demo": _cls({}, {"rgb": _frames(3, 8, 48), "depth": _frames(1, 8, 48), "ir": _frames(1, 8, 48)},
                     _K_DEMO, 16, "make demo: 8 frames at 48^2, batch 16"),
    },
    "frame_gru": {
        "paper": _cls({}, {"rgb": _frames(3, 16, 112)}, _K_PAPER, 2, "one M-Mixer stream, 16x112^2"),
        "demo": _cls({}, {"rgb": _frames(3, 8, 48)}, _K_DEMO, 16, "make demo baseline: 8x48^2, batch 16"),
    },
    "frame_gru_tiny": {
        "paper": _cls({}, {"rgb": _frames(3, 16, 112)}, _K_PAPER, 2, "16x112^2"),
        "demo": _cls({}, {"rgb": _frames(3, 8, 48)}, _K_DEMO, 16, "make demo baseline: 8x48^2, batch 16"),
    },
    "modality_classifier": {
        "paper": _cls({}, {"rgb": _frames(3, 16, 112)}, _K_PAPER, 2, "frame_tiny encoder, 16x112^2"),
        "demo": _cls({}, {"rgb": _frames(3, 8, 48)}, _K_DEMO, 16, "frame_tiny encoder, 8x48^2"),
    },
    **{name: {
        "paper": InputSpec({"modality": "rgb"}, {"rgb": _frames(3, 16, 112)}, 2, "16x112^2 RGB frames",
                           forward=_encoder_forward("rgb"), loss=_mean_square),
        "demo": InputSpec({"modality": "rgb"}, {"rgb": _frames(3, 8, 48)}, 16, "8x48^2 RGB frames",
                          forward=_encoder_forward("rgb"), loss=_mean_square),
    } for name in ("frame_resnet18", "frame_resnet34", "frame_tiny")},
    "cfem": {
        "paper": InputSpec({}, {"rgb": (16, 512), "depth": (16, 512), "ir": (16, 512)}, 8,
                           "d = 512, 16 frames per modality", forward=_cfem_forward, loss=_mean_square),
        "demo": InputSpec({"dim": 64, "num_heads": 4, "num_queries": 2},
                          {"rgb": (8, 64), "depth": (8, 64), "ir": (8, 64)}, 16, "mmixer_tiny's CFEM",
                          forward=_cfem_forward, loss=_mean_square),
    },
    "mcu": {
        "paper": InputSpec({}, {"x": (16, 512), "g": (1, 512)}, 8, "d = 512, 16 steps",
                           forward=_mcu_forward, loss=_mean_square),
        "demo": InputSpec({"input_dim": 64, "hidden_dim": 64}, {"x": (8, 64), "g": (1, 64)}, 16,
                          "mmixer_tiny's MCU", forward=_mcu_forward, loss=_mean_square),
    },
}

#: published sizes to print beside ours: (params, MACs or None, what the figure counts)
PAPER_NUMBERS: dict[str, tuple[float | None, float | None, str]] = {
    "xshiftnet_rgb": (1.980e6, 4.26e9, "EPAM-Net RGB X-ShiftNet backbone, no head; 16x224^2"),
    "xshiftnet_pose": (0.520e6, 3.36e9, "EPAM-Net pose X-ShiftNet backbone, no head; 48x56^2"),
    "epam_net": (2.54e6, 7.6e9, "EPAM-Net total, 60 classes (MACs: sum of the two streams)"),
    "stgcn": (3.1e6, None, "ST-GCN with 60-class head (yysijie/st-gcn: 3,098,832)"),
    "hypergcn_base": (1.10e6, None, "Hyper-GCN base incl. frozen graph tensors and head"),
    "hypergcn_large": (2.3e6, None, "Hyper-GCN large incl. frozen graph tensors and head"),
    "mamp_transformer": (6.34e6, None, "MAMP encoder without head"),
}


def get_spec(name: str, size: str) -> InputSpec | None:
    """The spec of ``name`` at ``size`` ("paper" / "demo"), or None when the table has none."""
    return SPECS.get(name, {}).get(size)
