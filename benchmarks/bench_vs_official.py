"""mmfusion against the official implementations, side by side: one training step, same input, same weights.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_vs_official.py --official-root DIR [--models stgcn,ctrgcn]
        [--repeats 7] [--batch 2] [--frames T] [--name vs_official]

``DIR`` holds the user's own checkouts of the official repositories, one sub-folder per repository,
named as below (nothing of that code is part of mmfusion; the script imports it from ``DIR``):

====================  =================================  ===================================================
model                 sub-folder of ``--official-root``  repository
====================  =================================  ===================================================
``stgcn``             ``st-gcn``                         github.com/yysijie/st-gcn
``ctrgcn``            ``CTR-GCN``                        github.com/Uason-Chen/CTR-GCN
``hypergcn_base``     ``Hyper-GCN``                      github.com/6UOOON9/Hyper-GCN
``stgcnpp``           ``pyskl``                          github.com/kennymckormick/pyskl
``aclnet``            ``ACLNet``                         github.com/firework8/ACLNet
``psumnet_body``      ``psumnet``                        github.com/skelemoa/psumnet
``aimclr_stgcn``      ``AimCLR``                         github.com/Levigty/AimCLR
``dstanet``           ``DSTA-Net``                       github.com/lshiwjx/DSTA-Net
``bigru``             ``CMD``                            github.com/maoyunyao/CMD
``mamp_transformer``  ``MAMP``                           github.com/maoyunyao/MAMP
``epam_net``          ``Multimodal-Action-Recognition``  github.com/ahmed-nady/Multimodal-Action-Recognition
``xshiftnet_rgb``     ``Multimodal-Action-Recognition``  (EPAM-Net's RGB stream + its I3D head)
``xshiftnet_pose``    ``Multimodal-Action-Recognition``  (EPAM-Net's pose stream + its I3D head)
====================  =================================  ===================================================

Per model: the official model is built from its code, mmfusion's with the same configuration; the
official weights (and BN statistics) are copied into ours parameter by parameter (in registration order,
checked by shape; by name; or through mmfusion's checkpoint converter, loaded strictly), so both start
from the same point. One training step = forward + cross-entropy +
backward (gradients zeroed before each step, no optimizer update, so every repeat computes the same
thing), in train mode, 1 thread, CPU time of the process (``time.process_time``); official and mmfusion
steps ALTERNATE in one process so both see the same machine load; the table gives the median of the
repeats, the spread (min-max), the ratio mmfusion / official of the medians, and the max abs difference of
the logits of one train-mode forward relative to the largest official logit (``rel_diff``), so the timing
compares the same mathematics (train mode: freshly initialised BN statistics can make eval logits huge).

Inputs: skeletons (N, C, T, V, 2) at each model's configured T; EPAM-Net and its streams at the paper's
sizes, rgb (N, 3, 16, 224, 224) and heatmaps (N, 17, 48, 56, 56) (``--frames`` sets the T of a model's
(first) input; EPAM-Net's heatmap T is 3x its RGB T). EPAM-Net's loss is CE(rgb logits) + CE(pose
logits) on both sides, as in its training.

Imports the official code needs but the benchmark does not (e.g. ``torchlight``, ``mmcv``) are replaced by
empty stand-in modules while that repository is imported (EPAM-Net's mmcv 1.x stand-in is
``official_parity_epam.py``'s). Results: ``benchmarks/results/<name>.json``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import statistics
import sys
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import print_table, write_results  # noqa: E402
from official_parity import MAMP_FINETUNE  # noqa: E402
from official_parity_epam import OfficialEPAM, OfficialStream, official_parts  # noqa: E402

import mmfusion  # noqa: E402
from mmfusion.models.converters import fit_state, get_converter  # noqa: E402

# -- importing official code in isolation -------------------------------------------------------------

#: top-level module names the official repositories share (``model``, ``graph``, ``net`` ...): dropped from
#: ``sys.modules`` before and after each repository so that one repository never sees another's.
_SHARED_TOPLEVEL = ("model", "graph", "net", "feeders", "torchlight", "utils", "pyskl", "aclnet", "tools", "mmcv",
                    "mmaction", "actionModels")


def _stub(name: str, **attrs: Any) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__path__ = []  # a package, so that "from name.sub import x" finds the stubbed sub-modules
    mod.__dict__.update(attrs)
    return mod


@contextmanager
def official_import(root: Path, stubs: dict[str, types.ModuleType] | None = None) -> Iterator[None]:
    """Import from ``root`` (an official checkout) with ``stubs`` standing in for missing packages."""
    if not root.is_dir():
        raise FileNotFoundError(f"official checkout not found: {root}")

    def _drop() -> None:
        for key in list(sys.modules):
            if key.split(".")[0] in _SHARED_TOPLEVEL:
                del sys.modules[key]

    _drop()
    saved_path = list(sys.path)
    sys.path.insert(0, str(root))
    sys.modules.update(stubs or {})
    try:
        yield
    finally:
        sys.path[:] = saved_path
        _drop()
        for key in stubs or {}:
            sys.modules.pop(key, None)


def cpu_only_cuda_calls() -> None:
    """Make ``tensor.cuda(...)`` a no-op: some official forwards move buffers with ``.cuda(x.get_device())``,
    which fails on a CPU tensor (device -1). The benchmark runs on the CPU only."""
    torch.Tensor.cuda = lambda self, *args, **kwargs: self  # type: ignore[method-assign]


def _load_file(path: Path, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


# -- copying weights ----------------------------------------------------------------------------------

def _entries(model: nn.Module, skip: Callable[[str], bool]) -> list[tuple[str, Tensor]]:
    return [(k, v) for k, v in model.state_dict().items() if not skip(k) and not k.endswith("num_batches_tracked")]


def copy_weights(src: nn.Module, dst: nn.Module, skip_src: Callable[[str], bool] = lambda k: False,
                 skip_dst: Callable[[str], bool] = lambda k: False,
                 order: Callable[[list[tuple[str, Tensor]]], list[tuple[str, Tensor]]] | None = None) -> int:
    """Copy ``src``'s parameters and buffers into ``dst`` pairing them in registration order.

    Pairs must have the same number of elements (a different shape is reshaped: e.g. a 1x1-conv classifier
    into a Linear); ``order`` may reorder the source entries where the two modules register in a different
    order. Returns the number of tensors copied; raises on any mismatch.
    """
    s, d = _entries(src, skip_src), _entries(dst, skip_dst)
    if order is not None:
        s = order(s)
    if len(s) != len(d):
        raise RuntimeError(f"weight copy: {len(s)} official tensors vs {len(d)} mmfusion tensors\n"
                           + "\n".join(f"{a[0]} {tuple(a[1].shape)}  |  {b[0]} {tuple(b[1].shape)}"
                                       for a, b in zip(s + [("-", torch.empty(0))] * len(d),
                                                       d + [("-", torch.empty(0))] * len(s))))
    with torch.no_grad():
        for (ks, vs), (kd, vd) in zip(s, d):
            if vs.numel() != vd.numel():
                raise RuntimeError(f"weight copy: {ks} {tuple(vs.shape)} does not fit {kd} {tuple(vd.shape)}")
            vd.copy_(vs.reshape(vd.shape))
    return len(s)


def copy_by_name(src: nn.Module, dst: nn.Module, rename: Callable[[str], str]) -> int:
    """Copy where mmfusion's key, renamed by ``rename``, is the official key (checked: every key found)."""
    s = src.state_dict()
    d = _entries(dst, lambda k: False)
    missing = [k for k, _ in d if rename(k) not in s]
    if missing:
        raise RuntimeError(f"weight copy: no official tensor for {missing[:5]} ...")
    with torch.no_grad():
        for k, v in d:
            v.copy_(s[rename(k)].reshape(v.shape))
    return len(d)


def copy_converted(source: str, model_name: str | None = None, rename: Callable[[str], str] = lambda k: k
                   ) -> Callable[[nn.Module, nn.Module], int]:
    """A copy that runs the official state dict through mmfusion's converter for ``source`` (the one
    ``mmfusion convert`` uses), renames the result with ``rename`` and loads it strictly."""
    def copy(src: nn.Module, dst: nn.Module) -> int:
        conv = get_converter(source).convert(src.state_dict(), model_name)
        state = {rename(k): v for k, v in conv.state.items()}
        dst.load_state_dict(fit_state(dst, state, f"<official {source} model>", type(dst).__name__), strict=True)
        return len(state)
    return copy


def _encoder_head_names(key: str) -> str:
    return key.removeprefix("encoder.").replace("head.", "fc.", 1) if key.startswith("head.") else \
        key.removeprefix("encoder.")


# -- the pairs ----------------------------------------------------------------------------------------

@dataclass
class Pair:
    """One model: how to build the official one (from ``--official-root``) and ours, and their input."""

    name: str
    folder: str
    build_official: Callable[[Path, int], nn.Module]
    build_ours: Callable[[int], nn.Module]
    frames: int
    joints: int = 25
    channels: int = 3
    copy: Callable[[nn.Module, nn.Module], int] = copy_weights
    official_logits: Callable[[nn.Module, Any], Tensor] = lambda m, x: m(x)
    ours_logits: Callable[[nn.Module, Any], Tensor] = lambda m, x: m(x)
    #: (batch, frames, generator) -> the input both logits functions take (default: skeletons
    #: (N, channels, frames, joints, 2))
    make_input: Callable[[int, int, torch.Generator], Any] | None = None
    loss: Callable[[Tensor, Tensor], Tensor] = F.cross_entropy
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _ours(name: str, **kw: Any) -> Callable[[int], nn.Module]:
    return lambda k: mmfusion.create_model(name, num_classes=k, **kw)


def _stgcn_official(root: Path, k: int) -> nn.Module:
    with official_import(root):
        mod = importlib.import_module("net.st_gcn")
        return mod.Model(in_channels=3, num_class=k, edge_importance_weighting=True, dropout=0.0,
                         graph_args={"layout": "ntu-rgb+d", "strategy": "spatial"})


def _ctrgcn_official(root: Path, k: int) -> nn.Module:
    with official_import(root):
        mod = importlib.import_module("model.ctrgcn")
        return mod.Model(num_class=k, num_point=25, num_person=2, graph="graph.ntu_rgb_d.Graph",
                         graph_args={"labeling_mode": "spatial"})


def _hypergcn_official(root: Path, k: int) -> nn.Module:
    with official_import(root):
        mod = importlib.import_module("model.hypergcn_base")
        return mod.Model(num_class=k, num_point=25, num_person=2, graph="graph.ntu_rgb_d.Graph",
                         graph_args={"labeling_mode": "virtual_ensemble"}, hyper_joints=3)


def _aimclr_official(root: Path, k: int) -> nn.Module:
    with official_import(root):
        mod = importlib.import_module("net.st_gcn")
        return mod.Model(in_channels=3, hidden_channels=16, hidden_dim=256, num_class=k, dropout=0.0,
                         graph_args={"layout": "ntu-rgb+d", "strategy": "spatial"}, edge_importance_weighting=True)


def _psumnet_official(root: Path, k: int) -> nn.Module:
    with official_import(root):
        mod = importlib.import_module("model.psumnet")
        return mod.Model(num_class=k, num_point=25, num_person=2, graph="graph.ntu_rgb_d.Graph",
                         graph_args={"labeling_mode": "spatial"}, in_channels=12, stream="body")


def _dstanet_official(root: Path, k: int) -> nn.Module:
    from mmfusion.encoders.dstanet import DSTANET_HICLR_CONFIG

    with official_import(root):
        mod = importlib.import_module("model.dstanet")
        return mod.DSTANet(num_class=k, num_point=25, num_frame=50, config=[list(c) for c in DSTANET_HICLR_CONFIG],
                           use_temporal_att=False, att_t=False, glo_reg_t=False)


def _bigru_official(root: Path, k: int) -> nn.Module:
    # moco/GRU.py imports torchvision at module level (unused by BIGRU); a stand-in keeps it optional
    stubs = {} if importlib.util.find_spec("torchvision") else {"torchvision": _stub("torchvision")}
    with official_import(root, stubs):
        mod = _load_file(root / "moco" / "GRU.py", "official_cmd_gru")
        return mod.BIGRU(150, 1024, 3, num_class=k)


def _bigru_copy(official: nn.Module, ours: nn.Module) -> int:
    from mmfusion.encoders.bigru import load_official_bigru_state

    state = load_official_bigru_state(ours.encoder, official.state_dict())
    ours.encoder.load_state_dict(state)
    with torch.no_grad():
        ours.head.weight.copy_(official.fc.weight)
        ours.head.bias.copy_(official.fc.bias)
    return len(state) + 2


def _bigru_official_logits(m: nn.Module, x: Tensor) -> Tensor:
    n, c, t, v, p = x.shape  # the official input is (N, T, V*C*M), joint-major (see mmfusion.encoders.bigru)
    return m(x.permute(0, 2, 3, 1, 4).reshape(n, t, v * c * p))


def _mamp_official(root: Path, k: int) -> nn.Module:
    with official_import(root):
        mod = importlib.import_module("model.transformer")
        model = mod.Transformer(num_classes=k, **{**MAMP_FINETUNE, "drop_path_rate": 0.0})
    model.head.dropout.p = 0.0  # ActionHeadFinetune hard-codes dropout 0.3; 0 on both sides, so logits compare
    return model


def _epam_parts(root: Path, k: int) -> dict[str, nn.Module]:
    with official_import(root):
        return official_parts(root, k)


def _rgb_clip(batch: int, t: int, g: torch.Generator) -> Tensor:
    return torch.randn(batch, 3, t, 224, 224, generator=g)


def _heatmaps(batch: int, t: int, g: torch.Generator) -> Tensor:
    return torch.rand(batch, 17, t, 56, 56, generator=g)  # heatmap values are in [0, 1]


def _two_stream_logits(out: dict[str, Tensor]) -> Tensor:
    return torch.stack([out["logits_rgb"], out["logits_pose"]])  # (2, N, K): both heads are trained


def _two_stream_loss(logits: Tensor, y: Tensor) -> Tensor:
    return F.cross_entropy(logits[0], y) + F.cross_entropy(logits[1], y)


def _stream_names(stream: str) -> Callable[[str], str]:
    # the EPAM converter's names of one stream (rgb_backbone.*, rgb_head.*) -> the stream classifier's
    return lambda k: k.replace(f"{stream}_backbone.", "backbone.", 1).replace(f"{stream}_head.", "head.", 1)


def _fc_last(entries: list[tuple[str, Tensor]]) -> list[tuple[str, Tensor]]:
    return [e for e in entries if not e[0].startswith("fc.")] + [e for e in entries if e[0].startswith("fc.")]


def _pyskl_stubs(root: Path, package: str = "pyskl") -> dict[str, types.ModuleType]:
    """Stand-ins for what PYSKL's GCN backbones import but a training step does not use: mmcv's layer
    builders (BN / ReLU by name), checkpoint loading, the backbone registry, and PYSKL's package
    ``__init__`` files (which import every model, dataset and mmcv runner); the backbone, GCN and TCN
    files themselves are the checkout's."""
    def build_norm_layer(cfg: dict[str, Any], channels: int) -> tuple[str, nn.Module]:
        kind = cfg.get("type", "BN")
        if kind not in ("BN", "BN2d"):
            raise ImportError(f"bench_vs_official: norm {kind!r} not stubbed")
        return "bn", nn.BatchNorm2d(channels)

    def build_activation_layer(cfg: dict[str, Any]) -> nn.Module:
        kind = cfg.get("type", "ReLU")
        if kind != "ReLU":
            raise ImportError(f"bench_vs_official: activation {kind!r} not stubbed")
        return nn.ReLU(inplace=cfg.get("inplace", True))

    class _Registry:
        def register_module(self, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
            return lambda cls: cls

    pkg, p = root / package, package
    return {
        "mmcv": _stub("mmcv"),
        "mmcv.cnn": _stub("mmcv.cnn", build_norm_layer=build_norm_layer, build_activation_layer=build_activation_layer),
        "mmcv.runner": _stub("mmcv.runner", load_checkpoint=lambda *a, **k: None),
        "mmcv.utils": _stub("mmcv.utils", _BatchNorm=nn.modules.batchnorm._BatchNorm),
        p: _stub(p, __path__=[str(pkg)]),
        f"{p}.utils": _stub(f"{p}.utils", __path__=[str(pkg / "utils")], cache_checkpoint=lambda f: f),
        f"{p}.models": _stub(f"{p}.models", __path__=[str(pkg / "models")]),
        f"{p}.models.builder": _stub(f"{p}.models.builder", BACKBONES=_Registry()),
        f"{p}.models.gcns": _stub(f"{p}.models.gcns", __path__=[str(pkg / "models" / "gcns")]),
    }


class _PysklRecognizer(nn.Module):
    """A PYSKL backbone + ``GCNHead`` (mean over T, V, then persons; Linear), input (N, C, T, V, M)."""

    def __init__(self, backbone: nn.Module, channels: int, k: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.fc_cls = nn.Linear(channels, k)

    def forward(self, x: Tensor) -> Tensor:
        f = self.backbone(x.permute(0, 4, 2, 3, 1))  # PYSKL reads (N, M, T, V, C)
        if isinstance(f, tuple):  # ACLNet's backbone also returns its graph feature (the head ignores it)
            f = f[0]
        return self.fc_cls(f.mean(dim=(3, 4)).mean(dim=1))


def _stgcnpp_official(root: Path, k: int) -> nn.Module:
    with official_import(root, _pyskl_stubs(root)):
        sys.modules["pyskl.utils"].Graph = importlib.import_module("pyskl.utils.graph").Graph
        mod = importlib.import_module("pyskl.models.gcns.stgcn")
        backbone = mod.STGCN(graph_cfg={"layout": "nturgb+d", "mode": "spatial"}, gcn_adaptive="init",
                             gcn_with_res=True, tcn_type="mstcn")
        return _PysklRecognizer(backbone, 256, k)


def _aclnet_official(root: Path, k: int) -> nn.Module:
    with official_import(root, _pyskl_stubs(root, "aclnet")):
        sys.modules["aclnet.utils"].Graph = importlib.import_module("aclnet.utils.graph").Graph
        mod = importlib.import_module("aclnet.models.gcns.gcn_module")
        backbone = mod.GCN_Module(gcn_ratio=0.125, gcn_ctr="T", gcn_ada="T",
                                  tcn_ms_cfg=[(3, 1), (3, 2), (3, 3), (3, 4), ("max", 3), "1x1"],
                                  graph_cfg={"layout": "nturgb+d", "mode": "random", "num_filter": 8,
                                             "init_off": 0.04, "init_std": 0.02})
        return _PysklRecognizer(backbone, 384, k)


def _hypergcn_order(entries: list[tuple[str, Tensor]]) -> list[tuple[str, Tensor]]:
    # the official module registers pos_embedding, data_bn, to_joint_embedding, then per unit hyper_joint,
    # alpha, edge_importance; ours pos_embedding, to_joint_embedding, data_bn, then edge_importance first
    top = {"pos_embedding": 0, "to_joint_embedding": 1, "data_bn": 2}
    leaf = {"edge_importance": 0, "hyper_joint": 1, "alpha": 2}

    def key(item: tuple[int, tuple[str, Tensor]]) -> tuple[int, int, int, int]:
        i, (name, _) = item
        parts = name.split(".")
        if parts[0] in top:
            return (0, top[parts[0]], 0, i)
        if parts[0] == "fc":
            return (2, 0, 0, i)
        layer = int(parts[0][1:])
        return (1, layer, leaf.get(parts[-1], 3) if parts[1] == "gcn1" else 3, i)

    return [e for _, e in sorted(enumerate(entries), key=key)]


def _is_adjacency(key: str) -> bool:
    return key.split(".")[-1] in ("A", "PA", "A_vector")


PAIRS: dict[str, Pair] = {
    "stgcn": Pair("stgcn", "st-gcn", _stgcn_official, _ours("stgcn", dropout=0.0), frames=300,
                  copy=lambda o, m: copy_weights(o, m, skip_src=lambda k: k == "A"),
                  note="official Model(graph ntu-rgb+d spatial, edge importance), dropout 0 on both sides"),
    "ctrgcn": Pair("ctrgcn", "CTR-GCN", _ctrgcn_official, _ours("ctrgcn"), frames=64,
                   copy=lambda o, m: copy_weights(o, m, skip_src=_is_adjacency, skip_dst=_is_adjacency)),
    "hypergcn_base": Pair("hypergcn_base", "Hyper-GCN", _hypergcn_official, _ours("hypergcn_base", dropout=0.0),
                          frames=64,
                          copy=lambda o, m: copy_weights(o, m, skip_src=_is_adjacency, skip_dst=_is_adjacency,
                                                         order=_hypergcn_order),
                          official_logits=lambda m, x: m(x)[0],
                          note="logits only on both sides (the hyper-joint diversity loss is left out: it reads "
                               "the parameters only)"),
    "stgcnpp": Pair("stgcnpp", "pyskl", _stgcnpp_official, _ours("stgcnpp"), frames=64,
                    copy=lambda o, m: copy_weights(o, m),
                    note="PYSKL STGCN(gcn_adaptive='init', gcn_with_res, tcn_type='mstcn') + GCNHead pooling"),
    "aclnet": Pair("aclnet", "ACLNet", _aclnet_official, _ours("aclnet"), frames=100,
                   copy=lambda o, m: copy_weights(o, m),
                   note="ACLNet configs/ntu60_xsub/j.py backbone + GCN-head pooling; cross-entropy only (the "
                        "affinity contrastive losses are left out on both sides)"),
    "aimclr_stgcn": Pair("aimclr_stgcn", "AimCLR", _aimclr_official, _ours("aimclr_stgcn", dropout=0.0), frames=50,
                         copy=lambda o, m: copy_weights(o, m, skip_src=lambda k: k == "A", order=_fc_last),
                         note="AimCLR net/st_gcn.py Model(hidden 16, hidden_dim 256), forward without drop"),
    "psumnet_body": Pair("psumnet_body", "psumnet", _psumnet_official, _ours("psumnet_body", from_joints=False),
                         frames=64, channels=12,
                         copy=lambda o, m: copy_weights(o, m, skip_src=_is_adjacency, skip_dst=_is_adjacency),
                         note="12-channel unified input given to both (ours from_joints=False)"),
    "dstanet": Pair("dstanet", "DSTA-Net", _dstanet_official, _ours("dstanet"), frames=50,
                    copy=lambda o, m: copy_by_name(o, m, _encoder_head_names),
                    note="HiCLR configuration (spatial attention only), 50 frames"),
    "bigru": Pair("bigru", "CMD", _bigru_official, _ours("bigru"), frames=64, copy=_bigru_copy,
                  official_logits=_bigru_official_logits,
                  note="CMD moco/GRU.py BIGRU(150, 1024, 3): one GRU call per frame; ours one call per layer"),
    "mamp_transformer": Pair("mamp_transformer", "MAMP", _mamp_official,
                             _ours("mamp_transformer", dropout=0.0, drop_path_rate=0.0), frames=120,
                             copy=copy_converted("mamp", "mamp_transformer"),
                             note="MAMP model/transformer.py Transformer(protocol='finetune', depth 8, 256-d), "
                                  "drop-path and head dropout 0 on both sides"),
    "epam_net": Pair("epam_net", "Multimodal-Action-Recognition",
                     lambda root, k: OfficialEPAM(_epam_parts(root, k)), _ours("epam_net", dropout=0.0), frames=16,
                     copy=copy_converted("epam", "epam_net"),
                     make_input=lambda n, t, g: (_rgb_clip(n, t, g), _heatmaps(n, 3 * t, g)),
                     official_logits=lambda m, x: torch.stack(m(*x)),
                     ours_logits=lambda m, x: _two_stream_logits(m({"rgb": x[0], "heatmap": x[1]})),
                     loss=_two_stream_loss,
                     note="official backbones, attention and I3D heads (mmcv stand-in of official_parity_epam.py); "
                          "loss CE(rgb) + CE(pose); head dropout 0 on both sides"),
    "xshiftnet_rgb": Pair("xshiftnet_rgb", "Multimodal-Action-Recognition",
                          lambda root, k: OfficialStream(_epam_parts(root, k), "rgb"),
                          _ours("xshiftnet_rgb", dropout=0.0), frames=16,
                          copy=copy_converted("epam", rename=_stream_names("rgb")), make_input=_rgb_clip,
                          note="EPAM-Net's X3DTemporalShift + I3D head alone"),
    "xshiftnet_pose": Pair("xshiftnet_pose", "Multimodal-Action-Recognition",
                           lambda root, k: OfficialStream(_epam_parts(root, k), "pose"),
                           _ours("xshiftnet_pose", dropout=0.0), frames=48,
                           copy=copy_converted("epam", rename=_stream_names("pose")), make_input=_heatmaps,
                           note="EPAM-Net's X3DTemporalShiftPose + I3D head alone"),
}


# -- timing -------------------------------------------------------------------------------------------

def _train_step(model: nn.Module, logits: Callable[[nn.Module, Any], Tensor], x: Any, y: Tensor,
                loss: Callable[[Tensor, Tensor], Tensor] = F.cross_entropy) -> float:
    model.zero_grad(set_to_none=True)
    t0 = time.process_time()
    out = logits(model, x)
    loss(out, y).backward()
    return time.process_time() - t0


def run_pair(pair: Pair, root: Path, batch: int, frames: int | None, repeats: int, num_classes: int = 60,
             seed: int = 0) -> dict[str, Any]:
    torch.manual_seed(seed)
    official = pair.build_official(root / pair.folder, num_classes)
    ours = pair.build_ours(num_classes)
    copied = pair.copy(official, ours)
    t = frames or pair.frames
    g = torch.Generator().manual_seed(seed)
    x = pair.make_input(batch, t, g) if pair.make_input is not None else \
        torch.randn(batch, pair.channels, t, pair.joints, 2, generator=g)
    y = torch.randint(0, num_classes, (batch,), generator=g)
    official.train()  # the step that is timed: BN on batch statistics, no dropout on either side
    ours.train()
    with torch.no_grad():
        ref = pair.official_logits(official, x)
        diff = (ref - pair.ours_logits(ours, x)).abs().max().item()
        scale = ref.abs().max().item()
    times: dict[str, list[float]] = {"official": [], "ours": []}
    for i in range(repeats + 1):  # the first round warms both up and is dropped
        order = (("official", official, pair.official_logits), ("ours", ours, pair.ours_logits))
        for who, model, logits in order if i % 2 == 0 else order[::-1]:
            dt = _train_step(model, logits, x, y, pair.loss)
            if i:
                times[who].append(dt)
    med = {k: statistics.median(v) for k, v in times.items()}
    shapes = x if isinstance(x, tuple) else (x,)
    return {"model": pair.name, "input": " + ".join("x".join(map(str, a.shape)) for a in shapes),
            "official_ms": 1e3 * med["official"], "ours_ms": 1e3 * med["ours"],
            "ratio": med["ours"] / med["official"],
            "official_spread_ms": f"{1e3 * min(times['official']):.0f}-{1e3 * max(times['official']):.0f}",
            "ours_spread_ms": f"{1e3 * min(times['ours']):.0f}-{1e3 * max(times['ours']):.0f}",
            "max_abs_diff": diff, "rel_diff": diff / max(scale, 1e-30), "tensors_copied": copied,
            "official_params": sum(p.numel() for p in official.parameters() if p.requires_grad),
            "ours_params": sum(p.numel() for p in ours.parameters() if p.requires_grad),
            "times_official": times["official"], "times_ours": times["ours"], "note": pair.note}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--official-root", type=Path, required=True, help="folder with the official checkouts")
    ap.add_argument("--models", default=",".join(PAIRS), help=f"comma list of {', '.join(PAIRS)}")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--frames", type=int, default=None, help="T (default: each model's config)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--name", default="vs_official")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cpu_only_cuda_calls()
    rows = []
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        if name not in PAIRS:
            raise SystemExit(f"unknown model {name!r}; known: {', '.join(PAIRS)}")
        try:
            row = run_pair(PAIRS[name], args.official_root, args.batch, args.frames, args.repeats)
        except (FileNotFoundError, ImportError, RuntimeError) as e:
            row = {"model": name, "error": f"{type(e).__name__}: {e}"[:300]}
            print(f"{name}: {row['error']}", file=sys.stderr)
        rows.append(row)
        print_table([{k: v for k, v in r.items() if not k.startswith("times_") and k != "note"} for r in rows[-1:]])
    keys = ("model", "input", "official_ms", "ours_ms", "ratio", "official_spread_ms", "ours_spread_ms",
            "rel_diff")
    print_table([{k: r.get(k) for k in keys} for r in rows if "error" not in r],
                title=f"training step, {args.threads} thread(s), CPU time, median of {args.repeats}")
    path = write_results(args.name, {"command": " ".join(sys.argv), "repeats": args.repeats,
                                     "mmfusion": str(Path(mmfusion.__file__).parent), "load_avg": os.getloadavg(),
                                     "rows": rows})
    print(f"-> {path}")


if __name__ == "__main__":
    main()
