"""Registered skeleton and point-cloud classifiers: an encoder of :mod:`mmfusion.encoders` + its official head.

Every entry returns a :class:`~mmfusion.models.heads.ModalityClassifier` (one class whatever
the arguments) reading ``batch["skeleton"]`` (N, 3, T, V, M) or ``batch["points"]`` (N, T, P, 3)
and returning ``{"logits": (N, K), "features": (N, D) pooled, **aux}``; ``num_classes=0``
gives the pooled pre-logits features (N, num_features) in the ``"logits"`` slot (timm's contract).
The bare encoders are the classes (:class:`~mmfusion.encoders.stgcn.STGCN`, ...) or ``model.encoder``.

Heads follow the official code of each model:

* ST-GCN (``yysijie/st-gcn``): mean over (T', V, M) -> 1x1 conv (= Linear), all weights from the
  official ``weights_init`` (N(0, 0.02), zero bias); no dropout before it.
* Hyper-GCN (``6UOOON9/Hyper-GCN``): mean over (T', V, M) -> Linear with N(0, sqrt(2/K)) weights;
  loss CE(label smoothing 0.1) + the hyper-joint diversity loss.
* MAMP (``maoyunyao/MAMP``): ``head="finetune"`` (default) - dropout 0.3 on the tokens, mean over
  T', the V x D joint features concatenated (6,400 for NTU), mean over persons, Linear -> 2048
  -> BatchNorm -> ReLU -> Linear(K); fine-tune defaults drop-path 0.3 and label smoothing 0.1.
  ``head="linprobe"``: mean over all tokens and persons -> BatchNorm1d(affine=False) -> Linear(K)
  (the linear-probe protocol; freeze the encoder yourself). ``head="layernorm"``: mmfusion's earlier
  head (mean-pooled tokens -> LayerNorm -> dropout -> Linear, no regularisation by default).
* point sequence encoder (ours): mean over frames -> dropout -> Linear.
"""

from __future__ import annotations

from typing import Any, Literal

from torch import nn

from ..encoders.hypergcn import (
    HYPERGCN_BASE_STAGES,
    HYPERGCN_LARGE_STAGES,
    HYPERGCN_TINY_STAGES,
    HyperGCN,
    official_head_init,
)
from ..encoders.point_sequence import SA_TINY, PointSequenceEncoder
from ..encoders.skeleton_transformer import SkeletonTransformer
from ..encoders.stgcn import STGCN, STGCN_TINY_BLOCKS
from ..errors import ConfigError
from ..model_cfg import InputSpec, ModelCfg
from ..registry import register_model
from .heads import ModalityClassifier, TokenConcatPool

__all__ = ["mamp_head"]


def _skeleton(t: int) -> dict[str, InputSpec]:
    return {"skeleton": InputSpec((3, t, 25, 2), "C T V M", values="skeleton_m")}


def _points(t: int, p: int) -> dict[str, InputSpec]:
    return {"points": InputSpec((t, p, 3), "T P 3", values="points_m")}


def _stgcn_head_init(fc: nn.Linear) -> None:
    # the official weights_init reaches the 1x1-conv classifier too
    nn.init.normal_(fc.weight, 0.0, 0.02)
    nn.init.zeros_(fc.bias)


def _xavier_head_init(fc: nn.Linear) -> None:
    # MAMP's Transformer._init_weights runs after the head is built: xavier-uniform, zero bias
    nn.init.xavier_uniform_(fc.weight)
    nn.init.zeros_(fc.bias)


# -- ST-GCN ---------------------------------------------------------------------------------------

@register_model(tags=("model", "skeleton"), cfg=ModelCfg(
    inputs=_skeleton(300), num_classes=60, clip_len=300, paper_params=3_098_832,
    source="yysijie/st-gcn net/st_gcn.py, NTU-RGB+D config: 3,098,832 parameters with the 60-class head",
    output='"logits" (N, K), "features" (N, 256)'))
def stgcn(num_classes: int = 60, layout: str = "ntu25", dropout: float = 0.5, **kwargs: Any) -> ModalityClassifier:
    """ST-GCN, official configuration: 10 blocks (64-128-256), temporal kernel 9, official NTU graph,
    V*C data BN, official init; dropout 0.5 inside the blocks. Encoder: :class:`STGCN`."""
    return ModalityClassifier(STGCN(layout=layout, dropout=dropout, **kwargs), "skeleton", num_classes,
                              head_init=_stgcn_head_init)


@register_model(tags=("model", "skeleton", "test"), cfg=ModelCfg(
    inputs=_skeleton(32), num_classes=60, clip_len=32, source="ours: four-block ST-GCN for CPU demos and tests",
    output='"logits" (N, K), "features" (N, 128)'))
def stgcn_tiny(num_classes: int = 60, layout: str = "ntu25", dropout: float = 0.0, **kwargs: Any) -> ModalityClassifier:
    """Four-block ST-GCN (32, 64/s2, 64, 128/s2) for demos and tests, official graph / data BN / init."""
    kwargs.setdefault("blocks", STGCN_TINY_BLOCKS)
    return ModalityClassifier(STGCN(layout=layout, dropout=dropout, **kwargs), "skeleton", num_classes,
                              head_init=_stgcn_head_init)


# -- Hyper-GCN ------------------------------------------------------------------------------------

def _hypergcn(stages: Any, embed_dim: int, num_classes: int, layout: str, dropout: float, label_smoothing: float,
              **kwargs: Any) -> ModalityClassifier:
    enc = HyperGCN(layout=layout, embed_dim=embed_dim, stages=stages, **kwargs)
    # init="torch" (the earlier mmfusion behaviour) also leaves the classifier at PyTorch's default
    head_init = official_head_init if kwargs.get("init", "official") == "official" else None
    return ModalityClassifier(enc, "skeleton", num_classes, dropout=dropout, label_smoothing=label_smoothing,
                              head_init=head_init)


_HYPER_SRC = ("6UOOON9/Hyper-GCN model/hypergcn_base.py / hypergcn_large.py; paper note 1.1 M / 2.3 M, "
              "counted with the frozen graph tensors (9 x 8 x 28 x 28) and the 60-class head")


@register_model(tags=("model", "skeleton"), cfg=ModelCfg(
    inputs=_skeleton(64), num_classes=60, clip_len=64, paper_params=1.10e6, paper_macs=1.57e9, source=_HYPER_SRC,
    output='"logits" (N, K), "features" (N, 256), "loss_div"'))
def hypergcn_base(num_classes: int = 60, layout: str = "ntu25", dropout: float = 0.0, label_smoothing: float = 0.1,
                  **kwargs: Any) -> ModalityClassifier:
    """Hyper-GCN base (128-256-256, 9 units, 3 hyper joints); ``loss`` = CE(label smoothing 0.1) + diversity."""
    return _hypergcn(HYPERGCN_BASE_STAGES, 128, num_classes, layout, dropout, label_smoothing, **kwargs)


@register_model(tags=("model", "skeleton"), cfg=ModelCfg(
    inputs=_skeleton(64), num_classes=60, clip_len=64, paper_params=2.3e6, paper_macs=2.81e9, source=_HYPER_SRC,
    output='"logits" (N, K), "features" (N, 512), "loss_div"'))
def hypergcn_large(num_classes: int = 60, layout: str = "ntu25", dropout: float = 0.0, label_smoothing: float = 0.1,
                   **kwargs: Any) -> ModalityClassifier:
    """Hyper-GCN large (last stage 512)."""
    return _hypergcn(HYPERGCN_LARGE_STAGES, 128, num_classes, layout, dropout, label_smoothing, **kwargs)


@register_model(tags=("model", "skeleton", "test"), cfg=ModelCfg(
    inputs=_skeleton(32), num_classes=60, clip_len=32, source="ours: 32-64 channels, 2 stages of 3 units",
    output='"logits" (N, K), "features" (N, 64), "loss_div"'))
def hypergcn_tiny(num_classes: int = 60, layout: str = "ntu25", dropout: float = 0.0, label_smoothing: float = 0.1,
                  **kwargs: Any) -> ModalityClassifier:
    """Hyper-GCN with 32-64 channels in 2 stages of 3 units for demos / tests."""
    return _hypergcn(HYPERGCN_TINY_STAGES, 32, num_classes, layout, dropout, label_smoothing, **kwargs)


# -- MAMP transformer -----------------------------------------------------------------------------

MampHead = Literal["finetune", "linprobe", "layernorm"]


def mamp_head(encoder: SkeletonTransformer, num_classes: int, head: MampHead = "finetune",
              dropout: float = 0.3, hidden_dim: int = 2048, label_smoothing: float = 0.0) -> ModalityClassifier:
    """MAMP's fine-tune or linear-probe head around ``encoder`` (see the module docstring)."""
    if head == "finetune":
        v, d = encoder.num_joints, encoder.out_dim
        mlp = nn.Sequential(nn.Linear(v * d, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.ReLU(inplace=True))
        for m in mlp:
            if isinstance(m, nn.Linear):
                _xavier_head_init(m)
        return ModalityClassifier(encoder, "skeleton", num_classes, feature_dim=v * d, pool=TokenConcatPool(dropout),
                                  pre_logits=mlp, pre_logits_dim=hidden_dim, label_smoothing=label_smoothing,
                                  head_init=_xavier_head_init)
    if head == "linprobe":
        # main_linprobe.py (MAE lineage): BatchNorm1d(affine=False, eps=1e-6) in front of the linear layer
        bn = nn.BatchNorm1d(encoder.out_dim, affine=False, eps=1e-6)
        return ModalityClassifier(encoder, "skeleton", num_classes, pre_logits=bn, pre_logits_dim=encoder.out_dim,
                                  label_smoothing=label_smoothing, head_init=_xavier_head_init)
    if head == "layernorm":
        # mmfusion's earlier head (not MAMP's): mean-pooled tokens -> LayerNorm -> dropout -> Linear
        return ModalityClassifier(encoder, "skeleton", num_classes, dropout=dropout, norm=True,
                                  label_smoothing=label_smoothing)
    raise ConfigError(f"mamp_transformer: head must be 'finetune', 'linprobe' or 'layernorm', got {head!r}")


def _mamp(num_classes: int, layout: str, head: MampHead, hidden_dim: int,
          dropout: float | None, label_smoothing: float | None, drop_path_rate: float | None,
          **kwargs: Any) -> ModalityClassifier:
    finetune = head == "finetune"
    enc = SkeletonTransformer(layout=layout, drop_path_rate=(0.3 if finetune else 0.0) if drop_path_rate is None
                              else drop_path_rate, **kwargs)
    return mamp_head(enc, num_classes, head, dropout=(0.3 if finetune else 0.0) if dropout is None else dropout,
                     hidden_dim=hidden_dim,
                     label_smoothing=(0.1 if finetune else 0.0) if label_smoothing is None else label_smoothing)


@register_model(tags=("model", "skeleton"), cfg=ModelCfg(
    inputs=_skeleton(120), num_classes=60, clip_len=120, paper_params=19.57e6, paper_macs=14.1e9,
    source="maoyunyao/MAMP model/transformer.py, measured: encoder 6.34 M, + fine-tune head 19.57 M "
           "(linear probe 6.35 M); 14.1 GMACs for 2 persons x 750 tokens",
    output='"logits" (N, K) (K = 0: (N, 2048); linprobe (N, 256)), "features" (N, 6400) (linprobe (N, 256))'))
def mamp_transformer(num_classes: int = 60, layout: str = "ntu25", head: MampHead = "finetune",
                     dropout: float | None = None, label_smoothing: float | None = None,
                     drop_path_rate: float | None = None, **kwargs: Any) -> ModalityClassifier:
    """MAMP encoder (T=120, t_patch 4, 8 layers, 256-d, 8 heads) + the official fine-tune head (default;
    drop-path 0.3, head dropout 0.3, label smoothing 0.1) or ``head="linprobe"`` (no regularisation)."""
    return _mamp(num_classes, layout, head, 2048, dropout, label_smoothing, drop_path_rate, **kwargs)


@register_model(tags=("model", "skeleton", "test"), cfg=ModelCfg(
    inputs=_skeleton(32), num_classes=60, clip_len=32,
    source="ours: 2 layers, 64-d, 4 heads; fine-tune head with a 128-wide hidden layer",
    output='"logits" (N, K) (K = 0: (N, 128); linprobe (N, 64)), "features" (N, 1600) (linprobe (N, 64))'))
def mamp_transformer_tiny(num_classes: int = 60, layout: str = "ntu25",
                          head: MampHead = "finetune", dropout: float | None = None,
                          label_smoothing: float | None = None, drop_path_rate: float | None = None,
                          **kwargs: Any) -> ModalityClassifier:
    """2 layers, 64-d, 4 heads, t_patch 4, up to 120 frames; MAMP heads at a 128-wide hidden layer."""
    cfg = {"dim": 64, "depth": 2, "num_heads": 4, **kwargs}
    hidden = int(cfg.pop("hidden_dim", 128))
    return _mamp(num_classes, layout, head, hidden, dropout, label_smoothing, drop_path_rate, **cfg)


# -- point sequences ------------------------------------------------------------------------------

@register_model(tags=("model", "points"), cfg=ModelCfg(
    inputs=_points(24, 2048), num_classes=60, clip_len=24,
    source="ours; clip size of P4Transformer (24 frames x 2048 points)", output='"logits" (N, K), "features" (N, 256)'))
def point_sequence_encoder(num_classes: int = 60, dropout: float = 0.0, **kwargs: Any) -> ModalityClassifier:
    """PointNet++ SSG per frame (512/0.1/32, 128/0.2/64, global 1024) + 2-layer 256-d temporal
    transformer on ``batch["points"]`` (N, T, P >= 512, 3); mean over frames -> Linear."""
    return ModalityClassifier(PointSequenceEncoder(**kwargs), "points", num_classes, dropout=dropout)


@register_model(tags=("model", "points", "test"), cfg=ModelCfg(
    inputs=_points(8, 256), num_classes=60, clip_len=8, source="ours: small variant for demos and tests",
    output='"logits" (N, K), "features" (N, 64)'))
def point_sequence_encoder_tiny(num_classes: int = 60, dropout: float = 0.0, **kwargs: Any) -> ModalityClassifier:
    """SA 64/0.2/16 and 16/0.4/16, global 128, 1-layer 64-d transformer; P >= 64."""
    cfg: dict[str, Any] = {"sa": SA_TINY, "global_mlp": (64, 128), "dim": 64, "depth": 1, "num_heads": 4, **kwargs}
    return ModalityClassifier(PointSequenceEncoder(**cfg), "points", num_classes, dropout=dropout)
