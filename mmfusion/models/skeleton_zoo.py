"""Registered classifiers of the skeleton encoder zoo: CTR-GCN, ST-GCN++, AimCLR's ST-GCN, ACLNet,
PSUMNet, DSTA-Net, the CMD / HaLP BiGRU and CascadeFormer, each an encoder of :mod:`mmfusion.encoders`
+ its official head.

Every entry returns a :class:`~mmfusion.models.heads.ModalityClassifier` (one class whatever the
arguments) reading ``batch["skeleton"]`` (N, 3, T, V, M) and returning
``{"logits": (N, K), "features": (N, D) pooled, **aux}``; ``num_classes=0`` gives the pooled
pre-logits features in the ``"logits"`` slot; the bare encoder is ``model.encoder``. Each
``ModelCfg`` gives the input at the official configuration (frames T, joints V = 25, persons
M = 2, 3 channels) and the published parameter count with its source.

Heads (pooling, then the official classifier and its initialisation):

* CTR-GCN, PSUMNet (``Uason-Chen/CTR-GCN``, ``skelemoa/psumnet``): mean over (T', V), then persons
  -> Linear, weights N(0, 2/K), zero bias (:func:`~mmfusion.encoders.ctrgcn.init_linear_head`).
* ST-GCN++, ACLNet (PYSKL ``GCNHead``): the same pooling -> Linear, weights N(0, 0.01), zero bias,
  no dropout. ACLNet also returns ``"graph"`` (N, V*V), the input of
  :class:`~mmfusion.encoders.aclnet.ACLNetLoss` (``loss_fn(out["logits"], out["graph"], labels)``).
* AimCLR's ST-GCN (linear evaluation): the same pooling -> Linear (PyTorch default init: the
  ST-GCN ``weights_init`` does not touch linear layers).
* DSTA-Net (``lshiwjx/DSTA-Net``): mean over persons, frames and joints -> Linear, xavier-normal
  weights, zero bias (``fc_init``).
* BiGRU (HaLP linear evaluation): the last frame's 2048-d output -> Linear, xavier-uniform
  weights (the official ``weights_init_gru`` covers every 2-D weight).
* CascadeFormer: mean over frames -> the official MLP head (LayerNorm, dropout 0.3, Linear d -> d,
  ReLU, dropout 0.3, Linear d -> K). T1's masked-joint reconstruction head stays in the model (so
  the pretraining checkpoints load) but is frozen: it takes no part in classification, and a
  trainable parameter outside the loss would stall DDP.

PSUMNet's 12-channel "unified modality" (joint, bone, joint and bone velocities on the stream's
part) is built inside the model from the 3-channel joints (``from_joints=True``, parameter-free,
see :mod:`mmfusion.encoders.psumnet`), so these classifiers all read the same skeleton batch;
``from_joints=False`` reads the official feeder's (N, 12, T, V_part, M) instead.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ..encoders.aclnet import ACLNET_TINY_BLOCKS, ACLNetGCN
from ..encoders.aimclr_stgcn import AIMCLR_STGCN_TINY_BLOCKS, AimCLRSTGCN
from ..encoders.bigru import BiGRU
from ..encoders.cascadeformer import CascadeFormer
from ..encoders.ctrgcn import CTRGCN, CTRGCN_TINY_BLOCKS, init_linear_head
from ..encoders.dstanet import DSTANET_NTU_CONFIG, DSTANET_TINY_CONFIG, DSTANet
from ..encoders.psumnet import PSUMNetStream
from ..encoders.stgcnpp import STGCNPP_TINY_BLOCKS, STGCNPlusPlus
from ..model_cfg import InputSpec, ModelCfg
from ..registry import register_model
from .heads import ModalityClassifier

__all__ = ["cascadeformer_classifier", "pyskl_head_init"]

_TAGS = ("model", "skeleton")
_TEST_TAGS = ("model", "skeleton", "test")


def _skeleton(t: int) -> dict[str, InputSpec]:
    return {"skeleton": InputSpec((3, t, 25, 2), "C T V M", values="skeleton_m")}


def _cfg(t: int, width: int, source: str, paper_params: float | None = None, paper_macs: float | None = None,
         extra: str = "") -> ModelCfg:
    return ModelCfg(inputs=_skeleton(t), num_classes=60, clip_len=t, paper_params=paper_params, paper_macs=paper_macs,
                    source=source, output=f'"logits" (N, K), "features" (N, {width}){extra}')


def pyskl_head_init(fc: nn.Linear) -> None:
    """PYSKL ``GCNHead.init_weights``: ``normal_init(fc_cls, std=0.01)`` (zero bias)."""
    nn.init.normal_(fc.weight, 0.0, 0.01)
    nn.init.zeros_(fc.bias)


def _dsta_head_init(fc: nn.Linear) -> None:
    # official fc_init: xavier-normal weights, zero bias
    nn.init.xavier_normal_(fc.weight)
    nn.init.zeros_(fc.bias)


def _gru_head_init(fc: nn.Linear) -> None:
    # weights_init_gru: xavier-uniform for every 2-D weight (the bias keeps PyTorch's default)
    nn.init.xavier_uniform_(fc.weight)


# -- CTR-GCN --------------------------------------------------------------------------------------

_CTR_SRC = ("Uason-Chen/CTR-GCN model/ctrgcn.py, NTU-60 (window 64): 1,446,672 with the 60-class head "
            "(paper 1.46 M includes it); encoder 1,431,252")


@register_model(tags=_TAGS, cfg=_cfg(64, 256, _CTR_SRC, paper_params=1.46e6))
def ctrgcn(num_classes: int = 60, layout: str = "ntu25", dropout: float = 0.0, **kwargs: Any) -> ModalityClassifier:
    """CTR-GCN, official NTU configuration (10 units 64-128-256, CTRGC graph convs, multi-scale TCN).
    Encoder: :class:`~mmfusion.encoders.ctrgcn.CTRGCN`."""
    return ModalityClassifier(CTRGCN(layout=layout, **kwargs), "skeleton", num_classes, dropout=dropout,
                              head_init=init_linear_head)


@register_model(tags=_TEST_TAGS, cfg=_cfg(32, 48, "ours: three CTR-GCN units (24, 48/s2, 48) for tests"))
def ctrgcn_tiny(num_classes: int = 60, layout: str = "ntu25", dropout: float = 0.0,
                **kwargs: Any) -> ModalityClassifier:
    """Three-unit CTR-GCN (24, 48/s2, 48) for tests."""
    kwargs.setdefault("blocks", CTRGCN_TINY_BLOCKS)
    return ctrgcn(num_classes, layout, dropout, **kwargs)


# -- ST-GCN++ (PYSKL) -----------------------------------------------------------------------------

_STGCNPP_SRC = ("kennymckormick/pyskl stgcn++ config (gcn_adaptive='init', gcn_with_res, mstcn) + GCNHead; "
                "BRL's measured 1.40 M with the 60-class head (backbone 1,387,724) and 1.87 GMACs at T=64, M=2")


@register_model(tags=_TAGS, cfg=_cfg(64, 256, _STGCNPP_SRC, paper_params=1.40e6, paper_macs=1.87e9))
def stgcnpp(num_classes: int = 60, layout: str = "ntu25", dropout: float = 0.0, **kwargs: Any) -> ModalityClassifier:
    """ST-GCN++ (PYSKL / BRL configuration) + PYSKL's ``GCNHead`` (no dropout, N(0, 0.01) init).
    Encoder: :class:`~mmfusion.encoders.stgcnpp.STGCNPlusPlus`."""
    return ModalityClassifier(STGCNPlusPlus(layout=layout, **kwargs), "skeleton", num_classes, dropout=dropout,
                              head_init=pyskl_head_init)


@register_model(tags=_TEST_TAGS, cfg=_cfg(32, 48, "ours: three ST-GCN++ blocks (24, 48/s2, 48) for tests"))
def stgcnpp_tiny(num_classes: int = 60, layout: str = "ntu25", dropout: float = 0.0,
                 **kwargs: Any) -> ModalityClassifier:
    """Three-block ST-GCN++ (24, 48/s2, 48) for tests."""
    kwargs.setdefault("blocks", STGCNPP_TINY_BLOCKS)
    return stgcnpp(num_classes, layout, dropout, **kwargs)


# -- AimCLR's ST-GCN ------------------------------------------------------------------------------

_AIMCLR_SRC = ("Levigty/AimCLR net/st_gcn.py (hidden_channels 16, hidden_dim 256), frame50 input: 0.84 M with a "
               "60-class linear head (encoder 821,380), 0.61 GMACs at T=50, M=2")


@register_model(tags=_TAGS, cfg=_cfg(50, 256, _AIMCLR_SRC, paper_params=0.84e6, paper_macs=0.61e9))
def aimclr_stgcn(num_classes: int = 60, layout: str = "ntu25", **kwargs: Any) -> ModalityClassifier:
    """AimCLR / CrosSCLR / HiCLR quarter-width ST-GCN + the linear-evaluation head.
    Encoder: :class:`~mmfusion.encoders.aimclr_stgcn.AimCLRSTGCN`."""
    return ModalityClassifier(AimCLRSTGCN(layout=layout, **kwargs), "skeleton", num_classes)


@register_model(tags=_TEST_TAGS, cfg=_cfg(32, 32, "ours: three ST-GCN blocks (8, 16/s2, 32) for tests"))
def aimclr_stgcn_tiny(num_classes: int = 60, layout: str = "ntu25", **kwargs: Any) -> ModalityClassifier:
    """Three-block version (8, 16/s2, 32), no dropout, for tests."""
    kwargs.setdefault("blocks", AIMCLR_STGCN_TINY_BLOCKS)
    kwargs.setdefault("dropout", 0.0)
    return aimclr_stgcn(num_classes, layout, **kwargs)


# -- ACLNet ---------------------------------------------------------------------------------------

_ACL_SRC = ("firework8/ACLNet configs/ntu60_xsub/j.py (PYSKL, clip_len 100): 3.73 M with the 60-class head "
            "(backbone 3,705,696; the two loss projections add 2 x 160,256), 7.42 GMACs at T=100, M=2")


@register_model(tags=_TAGS, cfg=_cfg(100, 384, _ACL_SRC, paper_params=3.73e6, paper_macs=7.42e9,
                                     extra=', "graph" (N, V*V)'))
def aclnet(num_classes: int = 60, layout: str = "ntu25", dropout: float = 0.0, **kwargs: Any) -> ModalityClassifier:
    """ACLNet ``GCN_Module`` + PYSKL ``GCNHead``; the outputs carry ``"graph"`` (N, V*V) for
    :class:`~mmfusion.encoders.aclnet.ACLNetLoss`. Encoder: :class:`~mmfusion.encoders.aclnet.ACLNetGCN`."""
    return ModalityClassifier(ACLNetGCN(layout=layout, **kwargs), "skeleton", num_classes, dropout=dropout,
                              head_init=pyskl_head_init)


@register_model(tags=_TEST_TAGS, cfg=_cfg(32, 48, "ours: three ACLNet blocks (24, 48/s2, 48; ratio 0.25)",
                                          extra=', "graph" (N, V*V)'))
def aclnet_tiny(num_classes: int = 60, layout: str = "ntu25", dropout: float = 0.0,
                **kwargs: Any) -> ModalityClassifier:
    """Three-block ACLNet (24, 48/s2, 48; ratio 0.25) for tests."""
    kwargs.setdefault("blocks", ACLNET_TINY_BLOCKS)
    kwargs.setdefault("ratio", 0.25)
    return aclnet(num_classes, layout, dropout, **kwargs)


# -- PSUMNet --------------------------------------------------------------------------------------

_PSUM_SRC = ("skelemoa/psumnet model/psumnet.py Model(num_class=60, in_channels=12, stream={s}), window 64: "
             "{p} M with the 60-class head; input: NTU-25 joints, the 12-channel unified modality is built inside")


def _psumnet(stream: str, num_classes: int, dropout: float, **kwargs: Any) -> ModalityClassifier:
    return ModalityClassifier(PSUMNetStream(stream, **kwargs), "skeleton", num_classes, dropout=dropout,
                              head_init=init_linear_head)


@register_model(tags=_TAGS, cfg=_cfg(64, 256, _PSUM_SRC.format(s="body", p="1.45"), paper_params=1.45e6))
def psumnet_body(num_classes: int = 60, dropout: float = 0.0, **kwargs: Any) -> ModalityClassifier:
    """PSUMNet body stream (25 joints, 10 units). Encoder: :class:`~mmfusion.encoders.psumnet.PSUMNetStream`."""
    return _psumnet("body", num_classes, dropout, **kwargs)


@register_model(tags=_TAGS, cfg=_cfg(64, 256, _PSUM_SRC.format(s="hand", p="0.98"), paper_params=0.98e6))
def psumnet_hand(num_classes: int = 60, dropout: float = 0.0, **kwargs: Any) -> ModalityClassifier:
    """PSUMNet hand stream (13 joints, 6 units)."""
    return _psumnet("hand", num_classes, dropout, **kwargs)


@register_model(tags=_TAGS, cfg=_cfg(64, 256, _PSUM_SRC.format(s="leg", p="0.50"), paper_params=0.50e6))
def psumnet_leg(num_classes: int = 60, dropout: float = 0.0, **kwargs: Any) -> ModalityClassifier:
    """PSUMNet leg stream (9 joints, 4 units)."""
    return _psumnet("leg", num_classes, dropout, **kwargs)


@register_model(tags=_TEST_TAGS, cfg=_cfg(32, 48, "ours: two-unit PSUMNet part stream (24, 48/s2) for tests"))
def psumnet_tiny(num_classes: int = 60, stream: str = "hand", dropout: float = 0.0,
                 **kwargs: Any) -> ModalityClassifier:
    """Two-unit part stream (24, 48/s2), hand by default, for tests."""
    kwargs.setdefault("blocks", ((24, 1), (48, 2)))
    return _psumnet(stream, num_classes, dropout, **kwargs)


# -- DSTA-Net -------------------------------------------------------------------------------------

_DSTA_SRC = ("lshiwjx/DSTA-Net model/dstanet.py with HiCLR's config (JHang2020/HiCLR transformer_ntu60, "
             "frame50 input): 1.56 M with the 60-class head (encoder 1,546,480)")


@register_model(tags=_TAGS, cfg=_cfg(50, 256, _DSTA_SRC, paper_params=1.56e6))
def dstanet(num_classes: int = 60, layout: str = "ntu25", dropout: float = 0.0, **kwargs: Any) -> ModalityClassifier:
    """DSTA-Net, HiCLR configuration (32 ... 256, 50 frames, spatial attention).
    Encoder: :class:`~mmfusion.encoders.dstanet.DSTANet`."""
    return ModalityClassifier(DSTANet(layout=layout, **kwargs), "skeleton", num_classes, dropout=dropout,
                              head_init=_dsta_head_init)


@register_model(tags=_TAGS, cfg=_cfg(128, 256, "lshiwjx/DSTA-Net ntu60_dstanet.yaml (64 ... 256, 128 frames): "
                                               "measured 3,817,388 with the 60-class head"))
def dstanet_ntu(num_classes: int = 60, layout: str = "ntu25", dropout: float = 0.0,
                **kwargs: Any) -> ModalityClassifier:
    """DSTA-Net, original NTU configuration (64 ... 256, up to 128 frames)."""
    kwargs.setdefault("config", DSTANET_NTU_CONFIG)
    kwargs.setdefault("num_frames", 128)
    return dstanet(num_classes, layout, dropout, **kwargs)


@register_model(tags=_TEST_TAGS, cfg=_cfg(32, 32, "ours: two DSTA-Net blocks (16, 32/s2), 32 frames"))
def dstanet_tiny(num_classes: int = 60, layout: str = "ntu25", dropout: float = 0.0,
                 **kwargs: Any) -> ModalityClassifier:
    """Two-block DSTA-Net (16, 32/s2), up to 32 frames, for tests."""
    kwargs.setdefault("config", DSTANET_TINY_CONFIG)
    kwargs.setdefault("num_frames", 32)
    return dstanet(num_classes, layout, dropout, **kwargs)


# -- BiGRU (CMD / HaLP) ---------------------------------------------------------------------------

_GRU_SRC = ("anshulbshah/HaLP moco/GRU.py BIGRU(150, 1024, 3), 64 frames: 45.3 M with the 128-d MoCo fc "
            "(45,261,228; encoder 44,998,956)")


@register_model(tags=_TAGS, cfg=_cfg(64, 2048, _GRU_SRC, paper_params=45.3e6))
def bigru(num_classes: int = 60, dropout: float = 0.0, **kwargs: Any) -> ModalityClassifier:
    """CMD / HaLP BiGRU (3 x 1024, 150 inputs), the last frame -> Linear.
    Encoder: :class:`~mmfusion.encoders.bigru.BiGRU`."""
    return ModalityClassifier(BiGRU(**kwargs), "skeleton", num_classes, dropout=dropout, head_init=_gru_head_init)


@register_model(tags=_TEST_TAGS, cfg=_cfg(32, 64, "ours: two-layer, 32-unit BiGRU for tests"))
def bigru_tiny(num_classes: int = 60, dropout: float = 0.0, **kwargs: Any) -> ModalityClassifier:
    """Two-layer, 32-unit BiGRU for tests."""
    kwargs.setdefault("hidden_size", 32)
    kwargs.setdefault("num_layers", 2)
    return bigru(num_classes, dropout, **kwargs)


# -- CascadeFormer --------------------------------------------------------------------------------

def cascadeformer_classifier(encoder: CascadeFormer, num_classes: int, dropout: float = 0.3) -> ModalityClassifier:
    """``encoder`` + the official MLP head (``GaitRecognitionHeadMLP``): LayerNorm -> dropout -> Linear(d, d)
    -> ReLU -> dropout -> Linear(d, K); ``num_features`` is d (after the hidden layer)."""
    encoder.t1.reconstruction_head.requires_grad_(False)  # pretraining only: see the module docstring
    d = encoder.out_dim
    hidden = nn.Sequential(nn.Dropout(dropout), nn.Linear(d, d), nn.ReLU())
    return ModalityClassifier(encoder, "skeleton", num_classes, norm=True, pre_logits=hidden, pre_logits_dim=d,
                              dropout=dropout)


_CASCADE_SRC = ("YP4AIresearch/CascadeFormer cascadeformer_1_0 NTU_main.py, {split} (window 64, one person): "
                "T1 with its reconstruction head {t1} M, T1 + T2 + fusion {full}; the MLP head adds {head}")


@register_model(tags=_TAGS, cfg=_cfg(64, 768, _CASCADE_SRC.format(split="cross-subject d 768 / 16 heads / 16 layers",
                                                                  t1="88.4", full="180,159,307", head="638,268"),
                                     paper_params=180.16e6))
def cascadeformer(num_classes: int = 60, dropout: float = 0.3, **kwargs: Any) -> ModalityClassifier:
    """CascadeFormer 1.0, NTU cross-subject size (d 768, 16 heads, 16 layers) + the official MLP head.
    Encoder: :class:`~mmfusion.encoders.cascadeformer.CascadeFormer`."""
    return cascadeformer_classifier(CascadeFormer(**kwargs), num_classes, dropout)


@register_model(tags=_TAGS, cfg=_cfg(64, 512, _CASCADE_SRC.format(split="cross-view d 512 / 8 heads / 12 layers",
                                                                  t1="37.9", full="77,345,355", head="294,460"),
                                     paper_params=77.35e6))
def cascadeformer_cv(num_classes: int = 60, dropout: float = 0.3, **kwargs: Any) -> ModalityClassifier:
    """CascadeFormer 1.0, NTU cross-view size (d 512, 8 heads, 12 layers) + the official MLP head."""
    for k, v in (("d_model", 512), ("nhead", 8), ("num_layers", 12)):
        kwargs.setdefault(k, v)
    return cascadeformer(num_classes, dropout, **kwargs)


@register_model(tags=_TAGS, cfg=_cfg(64, 768, _CASCADE_SRC.format(split="T1 alone, cross-subject size",
                                                                  t1="88.4", full="-", head="638,268"),
                                     paper_params=88.4e6))
def cascadeformer_t1(num_classes: int = 60, dropout: float = 0.3, **kwargs: Any) -> ModalityClassifier:
    """T1 alone (cross-subject size unless overridden; the pretraining stage) + the official MLP head."""
    return cascadeformer_classifier(CascadeFormer(cascade=False, **kwargs), num_classes, dropout)


@register_model(tags=_TEST_TAGS, cfg=_cfg(32, 32, "ours: d 32, 2 heads, 1 layer, FFN 64, for tests"))
def cascadeformer_tiny(num_classes: int = 60, dropout: float = 0.3, **kwargs: Any) -> ModalityClassifier:
    """d 32, 2 heads, 1 layer, FFN 64 for tests."""
    for k, v in (("d_model", 32), ("nhead", 2), ("num_layers", 1), ("ffn", 64)):
        kwargs.setdefault(k, v)
    return cascadeformer(num_classes, dropout, **kwargs)
