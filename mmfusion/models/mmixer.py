"""M-Mixer: Modality Mixer for multi-modal action recognition (Lee et al., WACV 2023; journal
version with CFEM, arXiv 2311.12344).

Each video-like modality (RGB, depth, IR; any two or more) runs through its own frame-wise
2-D CNN, is projected to ``d`` and temporally encoded by a Multi-modal Contextualization
Unit (:class:`~mmfusion.fusion.mcu.MCU`) that also sees a cross-modal action content ``g_m``
summarising the *other* modalities. ``g_m`` comes from the CFEM (journal version,
``content="cfem"``) or from the temporal means of the others, concatenated and projected
(WACV version, ``content="mean"``). The last hidden states of all streams are concatenated
and classified::

    batch[m] (N, C_m, T_m, H, W) -> FrameEncoder2D -> (N, T_m, D) -> Linear -> F_m (N, T_m, d)
    g_m = CFEM({F_m'})[m].content  or  Linear(concat_{m' != m} mean_t F_m')          (N, d)
    h_m = MCU_m(F_m, g_m).last                                                        (N, d)
    logits = Linear(Dropout(concat_m h_m))                                            (N, K)
    logits_<m> = Linear_m(Dropout(h_m))                                               (N, K)

Paper facts not retrieved (backbone depth, frames, resolution, d, Q, schedule) are design
choices here; see docs/models.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..encoders.frame2d import FrameEncoder2D, channels_of
from ..errors import ConfigError, MissingModalityError
from ..fusion.cfem import CFEM
from ..fusion.mcu import MCU
from ..model_cfg import ModelCfg, frames_input
from ..registry import register_model

__all__ = ["MMixer"]


class MMixer(nn.Module):
    """M-Mixer over two or more of ``"rgb"``, ``"depth"``, ``"ir"``.

    ``forward(batch)`` reads ``batch[m]`` (N, C_m, T_m, H_m, W_m) for every ``m`` in
    ``modalities`` (C: rgb 3, depth/ir 1; T and size may differ between modalities) and returns
    ``{"logits": (N, K), "features": (N, M*d)}``, plus ``"logits_<m>": (N, K)`` for each m when
    ``aux_weight > 0``. Classifier contract: ``forward_features(batch)`` -> ``{m: F_m (N, T_m, d)}``
    (projected frame features); ``forward_head(feats, pre_logits=False)`` runs CFEM / MCU and the
    head (``pre_logits``: the concatenated last MCU states (N, M*d)); ``num_classes=0`` makes every
    head Identity (``"logits"`` = those features); ``reset_classifier(K)``.

    Args:
        modalities: two or more distinct modality keys.
        num_classes: K (0: pooled features).
        backbone: timm backbone of every frame encoder, or a mapping modality -> name.
        dim: d, the MCU / CFEM width.
        content: ``"cfem"`` (journal M-Mixer) or ``"mean"`` (WACV M-Mixer).
        num_queries / cfem_layers / cfem_heads: CFEM sizes.
        dropout: before the classifiers.
        aux_weight: weight of the mean per-stream CE in :meth:`loss` (0 = plain CE on ``logits``).
        pretrained_paths: optional ``{modality: local .safetensors}`` of backbone weights.
        temporal_shift: TSM inside the frame encoders (not part of M-Mixer; off by default).
    """

    def __init__(self, modalities: Sequence[str] = ("rgb", "depth", "ir"), num_classes: int = 60,
                 backbone: str | Mapping[str, str] = "resnet18", dim: int = 512, content: str = "cfem",
                 num_queries: int = 4, cfem_layers: int = 1, cfem_heads: int = 8, dropout: float = 0.5,
                 aux_weight: float = 0.0, pretrained_paths: Mapping[str, str | Path] | None = None,
                 temporal_shift: bool = False) -> None:
        super().__init__()
        if isinstance(modalities, str):
            modalities = (modalities,)
        modalities = tuple(modalities)
        if len(modalities) < 2 or len(set(modalities)) != len(modalities):
            raise ConfigError(f"M-Mixer fuses two or more distinct modalities, got {modalities}")
        for m in modalities:
            channels_of(m)  # ConfigError for anything that is not a frame modality
        if num_classes < 0:
            raise ConfigError(f"M-Mixer: num_classes must be >= 0 (0: pooled features), got {num_classes}")
        if content not in ("cfem", "mean"):
            raise ConfigError(f"M-Mixer: content must be 'cfem' or 'mean', got {content!r}")
        if aux_weight < 0:
            raise ConfigError(f"M-Mixer: aux_weight must be >= 0, got {aux_weight}")
        paths = dict(pretrained_paths or {})
        extra = [m for m in paths if m not in modalities]
        if extra:
            raise ConfigError(f"M-Mixer: pretrained_paths for modalities not in use: {extra}")
        backbones = dict(backbone) if isinstance(backbone, Mapping) else dict.fromkeys(modalities, backbone)
        missing = [m for m in modalities if m not in backbones]
        if missing:
            raise ConfigError(f"M-Mixer: no backbone given for {missing}")

        self.modalities, self.num_classes, self.dim = modalities, num_classes, dim
        self.content_mode, self.aux_weight = content, float(aux_weight)
        self.encoders = nn.ModuleDict({
            m: FrameEncoder2D(backbones[m], in_chans=channels_of(m), pretrained=m in paths,
                              checkpoint_path=paths.get(m), temporal_shift=temporal_shift)
            for m in modalities})
        self.proj = nn.ModuleDict({m: nn.Linear(self.encoders[m].out_dim, dim) for m in modalities})
        if content == "cfem":
            self.cfem: CFEM | None = CFEM(dim, modalities, num_queries=num_queries, num_heads=cfem_heads,
                                          num_layers=cfem_layers)
            self.content_proj = None
        else:
            self.cfem = None
            self.content_proj = nn.ModuleDict(
                {m: nn.Linear(dim * (len(modalities) - 1), dim) for m in modalities})
        self.mcu = nn.ModuleDict({m: MCU(dim, dim, dim) for m in modalities})
        self.dropout = nn.Dropout(dropout)
        self.num_features = dim * len(modalities)
        self._build_heads(num_classes)

    def _build_heads(self, num_classes: int) -> None:
        def linear(d: int) -> nn.Module:
            return nn.Linear(d, num_classes) if num_classes else nn.Identity()

        self.num_classes = num_classes
        self.head = linear(self.num_features)
        # per-stream heads exist only when their loss is on: parameters outside the loss would
        # stall DistributedDataParallel (every parameter must get a gradient each step)
        self.aux_heads = nn.ModuleDict({m: linear(self.dim) for m in self.modalities}) if self.aux_weight > 0 \
            else None

    def reset_classifier(self, num_classes: int) -> None:
        """Fresh final layers (the head and any per-stream heads) with ``num_classes`` outputs (0: Identity)."""
        if num_classes < 0:
            raise ConfigError(f"reset_classifier: num_classes must be >= 0, got {num_classes}")
        device = next(self.parameters()).device
        self._build_heads(num_classes)
        self.to(device)

    def _check(self, batch: Mapping[str, Tensor]) -> None:
        n: int | None = None
        for m in self.modalities:
            if m not in batch:
                raise MissingModalityError(m, f"M-Mixer({', '.join(self.modalities)}) needs batch[{m!r}] "
                                              f"(N, {channels_of(m)}, T, H, W)")
            x = batch[m]
            if not isinstance(x, Tensor) or x.ndim != 5:
                shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
                raise ConfigError(f"M-Mixer: batch[{m!r}] must be (N, {channels_of(m)}, T, H, W), got {shape}")
            if n is None:
                n = x.shape[0]
            elif x.shape[0] != n:
                raise ConfigError(f"M-Mixer: batch sizes differ between modalities ({n} vs {x.shape[0]} for {m!r})")

    def contents(self, feats: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Cross-modal action content ``g_m`` (N, d) of every modality from the projected F (N, T_m, d)."""
        if self.cfem is not None:
            return {m: out.content for m, out in self.cfem(feats).items()}
        assert self.content_proj is not None
        means = {m: f.mean(dim=1) for m, f in feats.items()}
        return {m: self.content_proj[m](torch.cat([means[o] for o in self.modalities if o != m], dim=-1))
                for m in self.modalities}

    def forward_features(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """``{m: F_m (N, T_m, d)}``: every stream's projected frame features."""
        self._check(batch)
        return {m: self.proj[m](self.encoders[m](batch[m])) for m in self.modalities}

    def _last_states(self, feats: Mapping[str, Tensor]) -> dict[str, Tensor]:
        g = self.contents(feats)
        return {m: self.mcu[m](feats[m], g[m].to(feats[m].dtype))[1] for m in self.modalities}

    def forward_head(self, feats: Mapping[str, Tensor], pre_logits: bool = False) -> Tensor:
        """``{m: (N, T_m, d)}`` -> logits (N, K) (``pre_logits``: concatenated last MCU states (N, M*d))."""
        last = self._last_states(feats)
        x = torch.cat([last[m] for m in self.modalities], dim=-1)
        return x if pre_logits else self.head(self.dropout(x))

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        last = self._last_states(self.forward_features(batch))
        x = torch.cat([last[m] for m in self.modalities], dim=-1)
        out = {"logits": self.head(self.dropout(x)), "features": x}
        if self.aux_heads is not None:
            for m in self.modalities:
                out[f"logits_{m}"] = self.aux_heads[m](self.dropout(last[m]))
        return out

    def loss(self, outputs: Mapping[str, Tensor], target: Tensor) -> Tensor:
        """CE(logits) + aux_weight * mean_m CE(logits_<m>); ``target`` (N,) ids or (N, K) soft targets."""
        loss = F.cross_entropy(outputs["logits"].float(), target)
        if self.aux_weight > 0:
            aux = torch.stack([F.cross_entropy(outputs[f"logits_{m}"].float(), target) for m in self.modalities])
            loss = loss + self.aux_weight * aux.mean()
        return loss


def _cfg(frames: int, size: int, num_classes: int, source: str) -> ModelCfg:
    return ModelCfg(inputs={m: frames_input(m, frames, size) for m in ("rgb", "depth", "ir")},
                    num_classes=num_classes, clip_len=frames, source=source,
                    output='"logits" (N, K), "features" (N, 3d) (+ "logits_<m>" if aux_weight > 0)')


@register_model(tags=("model", "rgb", "depth", "ir"), cfg=_cfg(
    16, 112, 60, "ours: recipe's full-size clip, 16 frames at 112^2 (the paper's size was not retrieved)"))
def mmixer(modalities: Sequence[str] = ("rgb", "depth", "ir"), num_classes: int = 60, content: str = "cfem",
           backbone: str | Mapping[str, str] = "resnet18", pretrained_paths: Mapping[str, str] | None = None,
           **kwargs: Any) -> nn.Module:
    """M-Mixer with frame-wise ResNet-18 encoders and d = 512 (CFEM content by default)."""
    kwargs.setdefault("dim", 512)
    return MMixer(modalities=modalities, num_classes=num_classes, content=content, backbone=backbone,
                  pretrained_paths=pretrained_paths, **kwargs)


@register_model(tags=("model", "rgb", "depth", "ir", "test"), cfg=_cfg(
    8, 48, 10, "ours: make demo, 8 frames at 48^2"))
def mmixer_tiny(modalities: Sequence[str] = ("rgb", "depth", "ir"), num_classes: int = 10, content: str = "cfem",
                backbone: str | Mapping[str, str] = "test_resnet", pretrained_paths: Mapping[str, str] | None = None,
                **kwargs: Any) -> nn.Module:
    """CPU-sized M-Mixer: timm ``test_resnet`` frame encoders (``frame_tiny``), d = 64, 4 heads, 2 queries."""
    kwargs.setdefault("dim", 64)
    kwargs.setdefault("cfem_heads", 4)
    kwargs.setdefault("num_queries", 2)
    return MMixer(modalities=modalities, num_classes=num_classes, content=content, backbone=backbone,
                  pretrained_paths=pretrained_paths, **kwargs)
