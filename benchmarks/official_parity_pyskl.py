"""PYSKL's ST-GCN++: converted weights vs the official code, max |logits difference|; and why its CTR-GCN is refused.

    python benchmarks/official_parity_pyskl.py --official-root /path/to/checkouts

``--official-root`` holds ``kennymckormick+pyskl`` (or ``pyskl``). PYSKL imports mmcv 1.x at package
level; this script registers a minimal stand-in (``build_norm_layer`` / ``build_activation_layer``,
``_BatchNorm``, a pass-through registry) and bare parent packages in ``sys.modules``, then imports
their ``pyskl/models/gcns/{stgcn,ctrgcn}.py`` and ``pyskl/utils/graph.py`` unchanged. The recognizer
is assembled under PYSKL's names (``backbone``, ``cls_head.fc_cls``) with ``GCNHead``'s pooling
(mean over (T, V), then persons) written here. Nothing of theirs is copied into this repository.

The second row loads PYSKL's CTR-GCN weights into ``ctrgcn`` by name (the converter refuses that
file): the difference it prints is why (PYSKL's CTR-GCN is not the official CTR-GCN's forward).
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import randomise_weights  # noqa: E402

from mmfusion.models.pretrained import load_official


def _norm(cfg: dict, channels: int) -> tuple[str, nn.Module]:
    kinds = {"BN": nn.BatchNorm2d, "BN2d": nn.BatchNorm2d, "BN1d": nn.BatchNorm1d, "BN3d": nn.BatchNorm3d}
    return "bn", kinds[cfg["type"]](channels)


def _act(cfg: dict) -> nn.Module:
    return {"ReLU": nn.ReLU, "Tanh": nn.Tanh, "Sigmoid": nn.Sigmoid}[cfg["type"]]()


class _Registry:
    def register_module(self, *args: Any, **_: Any) -> Any:
        return args[0] if args and isinstance(args[0], type) else (lambda cls: cls)


def _install(pkg: Path) -> Any:
    def module(name: str, path: Path | None = None, **attrs: Any) -> types.ModuleType:
        m = types.ModuleType(name)
        m.__dict__.update(attrs)
        if path is not None:
            m.__path__ = [str(path)]
        sys.modules[name] = m
        return m

    module("mmcv")
    module("mmcv.cnn", build_norm_layer=_norm, build_activation_layer=_act)
    module("mmcv.runner", load_checkpoint=lambda *a, **k: None)
    module("mmcv.utils", _BatchNorm=_BatchNorm)
    module("pyskl", pkg)
    utils = module("pyskl.utils", pkg / "utils")
    graph = importlib.import_module("pyskl.utils.graph")
    utils.__dict__.update({k: v for k, v in vars(graph).items() if not k.startswith("_")},
                          cache_checkpoint=lambda path: path)
    module("pyskl.models", pkg / "models")
    module("pyskl.models.builder", BACKBONES=_Registry(), HEADS=_Registry())
    module("pyskl.models.gcns", pkg / "models" / "gcns")
    return importlib.import_module("pyskl.models.gcns.stgcn"), importlib.import_module("pyskl.models.gcns.ctrgcn")


def _ctrgcn_name(key: str) -> str:
    """PYSKL CTR-GCN name -> the official CTR-GCN's (``backbone.net.3.gcn1.A`` -> ``l4.gcn1.PA``)."""
    key = re.sub(r"^backbone\.net\.(\d+)\.", lambda m: f"l{int(m.group(1)) + 1}.", key)
    key = re.sub(r"\.gcn1\.A$", ".gcn1.PA", key)
    return key.replace("backbone.", "").replace("cls_head.fc_cls.", "fc.")


class Recognizer(nn.Module):
    """``backbone`` (N, M, T, V, C) -> (N, M, C', T', V) + ``cls_head.fc_cls`` after GCNHead's pooling."""

    def __init__(self, backbone: nn.Module, num_classes: int = 60) -> None:
        super().__init__()
        self.backbone = backbone
        self.cls_head = nn.Module()
        self.cls_head.fc_cls = nn.Linear(256, num_classes)

    def forward(self, x: Tensor) -> Tensor:  # x: (N, C, T, V, M), mmfusion's layout
        feats = self.backbone(x.permute(0, 4, 2, 3, 1).contiguous())
        return self.cls_head.fc_cls(feats.mean((3, 4)).mean(1))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--official-root", type=Path, required=True)
    args = p.parse_args(argv)
    repo = next((args.official_root / n for n in ("kennymckormick+pyskl", "pyskl")
                 if (args.official_root / n).is_dir()), None)
    if repo is None:
        raise SystemExit(f"no pyskl checkout under {args.official_root}")
    stgcn, ctrgcn = _install(repo / "pyskl")
    graph = {"layout": "nturgb+d", "mode": "spatial"}
    cases = {"stgcnpp (pyskl)": lambda: stgcn.STGCN(graph_cfg=graph, gcn_adaptive="init", gcn_with_res=True,
                                                    tcn_type="mstcn"),
             "ctrgcn (pyskl)": lambda: ctrgcn.CTRGCN(graph_cfg=graph)}
    print("| case | max abs diff of logits | max abs logit |\n| --- | --- | --- |")
    for name, build in cases.items():
        gen = torch.Generator().manual_seed(0)
        torch.manual_seed(0)
        ref = Recognizer(build())
        randomise_weights(ref, gen)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "j.pth"
            state = ref.state_dict()
            if "ctrgcn" in name:  # same names as the official CTR-GCN once PYSKL's prefixes are mapped
                state = {_ctrgcn_name(k): v for k, v in state.items() if k != "backbone.A"}
            torch.save({"state_dict": state, "meta": {"epoch": 16}}, path)
            ours, _ = load_official(path, "ctrgcn" if "ctrgcn" in name else "pyskl")
        x = torch.randn(2, 3, 64, 25, 2, generator=gen)
        with torch.no_grad():
            a = ref.eval()(x)
            b = ours.eval()({"skeleton": x})["logits"]
        print(f"| {name} | {float((a - b).abs().max()):.1e} | {float(a.abs().max()):.3g} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
