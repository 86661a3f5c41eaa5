"""Converted official weights vs the official model code: max |logits difference| per source.

Needs local checkouts of the official repositories (nothing of theirs is in this repository)::

    python benchmarks/official_parity.py --official-root /path/to/checkouts [--sources ctrgcn stgcn ...]

``--official-root`` holds one folder per repository, named ``<owner>+<name>`` or ``<name>``
(``Uason-Chen+CTR-GCN`` or ``CTR-GCN``, ``yysijie+st-gcn``, ``Levigty+AimCLR``,
``skelemoa+psumnet``, ``maoyunyao+MAMP``, ``6UOOON9+Hyper-GCN``,
``lshiwjx+DSTA-Net``, ``JHang2020+HiCLR``). For each source: the official model is built at its
official configuration with random weights and random BatchNorm statistics, its ``state_dict()`` is
saved as the official ``.pth`` would be, converted with :func:`mmfusion.models.pretrained.load_official`
and both models are run in eval mode (float32, CPU) on the same random input. Prints one Markdown
row per case: the max abs difference of the logits, the largest official logit (random deep GCNs in
eval mode reach large logits) and their ratio.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import randomise_weights  # noqa: E402

from mmfusion.models.pretrained import load_official

#: source -> (repository folder names tried, builder of the official model, input shape, our kwargs)
NTU_GRAPH = {"labeling_mode": "spatial"}
ST_GRAPH = {"layout": "ntu-rgb+d", "strategy": "spatial"}


def _official(root: Path, names: tuple[str, ...], module: str) -> Any:
    """Import ``module`` from the first existing checkout in ``names``; the checkout stays first on
    ``sys.path`` (their constructors import graph classes by name) until the next call, and their
    clashing top-level packages (``model``, ``net``, ``graph``) are forgotten first."""
    for name in names:
        repo = root / name
        if repo.is_dir():
            for key in [k for k in sys.modules if k.split(".")[0] in ("model", "net", "graph", "torchlight")]:
                del sys.modules[key]
            sys.path[:] = [q for q in sys.path if not q.startswith(str(root))]
            sys.path.insert(0, str(repo))
            return importlib.import_module(module)
    raise FileNotFoundError(f"none of {names} under {root}")


def _ctrgcn(root: Path) -> nn.Module:
    mod = _official(root, ("Uason-Chen+CTR-GCN", "CTR-GCN"), "model.ctrgcn")
    return mod.Model(num_class=60, num_point=25, num_person=2, graph="graph.ntu_rgb_d.Graph", graph_args=NTU_GRAPH)


def _stgcn(root: Path) -> nn.Module:
    mod = _official(root, ("yysijie+st-gcn", "st-gcn"), "net.st_gcn")
    return mod.Model(in_channels=3, num_class=60, graph_args=ST_GRAPH, edge_importance_weighting=True, dropout=0.5)


def _aimclr(root: Path) -> nn.Module:
    mod = _official(root, ("Levigty+AimCLR", "AimCLR"), "net.st_gcn")

    class LinearEval(nn.Module):  # net/aimclr.py keeps the encoder as encoder_q (key prefix only)
        def __init__(self) -> None:
            super().__init__()
            self.encoder_q = mod.Model(in_channels=3, hidden_channels=16, hidden_dim=256, num_class=60,
                                       graph_args=ST_GRAPH, edge_importance_weighting=True)

        def forward(self, x: Tensor) -> Tensor:
            return self.encoder_q(x)

    return LinearEval()


def _psumnet(stream: str) -> Callable[[Path], nn.Module]:
    def build(root: Path) -> nn.Module:
        mod = _official(root, ("skelemoa+psumnet", "psumnet"), "model.psumnet")
        return mod.Model(num_class=60, num_point={"body": 25, "hand": 13, "leg": 9}[stream],
                         graph="graph.ntu_rgb_d.Graph", graph_args=NTU_GRAPH, in_channels=12, stream=stream)
    return build


class _FirstOutput(nn.Module):
    """The official model's logits when its forward returns (logits, extras); CUDA calls made no-ops on CPU."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        cuda = Tensor.cuda
        if not torch.cuda.is_available():  # Hyper-GCN's forward moves its graph with .cuda(x.get_device())
            Tensor.cuda = lambda t, *a, **k: t  # type: ignore[method-assign]
        try:
            out = self.model(x)
        finally:
            Tensor.cuda = cuda  # type: ignore[method-assign]
        return out[0] if isinstance(out, tuple) else out


def _hypergcn(size: str) -> Callable[[Path], nn.Module]:
    def build(root: Path) -> nn.Module:
        mod = _official(root, ("6UOOON9+Hyper-GCN", "Hyper-GCN"), f"model.hypergcn_{size}")
        return _FirstOutput(mod.Model(num_class=60, num_point=25, num_person=2, graph="graph.ntu_rgb_d.Graph",
                                      graph_args={"labeling_mode": "virtual_ensemble"}, hyper_joints=3))
    return build


#: HiCLR's DSTA-Net configuration (config/release/transformer_ntu60/finetune/xsub_joint.yaml)
HICLR_DSTA = dict(num_class=60, num_point=25, num_frame=50, num_subset=3, num_person=2, glo_reg_s=True, att_s=True,
                  glo_reg_t=False, att_t=False, dropout=0, attentiondrop=0.0, dropout2d=0, use_spatial_att=True,
                  use_temporal_att=False, use_pet=True, use_pes=True,
                  config=[[32, 32, 16, 1], [32, 32, 16, 1], [32, 64, 16, 2], [64, 64, 16, 1], [64, 128, 32, 2],
                          [128, 128, 32, 1], [128, 128, 32, 1], [128, 256, 32, 1]])


def _dstanet(root: Path) -> nn.Module:
    mod = _official(root, ("lshiwjx+DSTA-Net", "DSTA-Net"), "model.dstanet")
    return mod.DSTANet(**HICLR_DSTA)


def _dstanet_hiclr(root: Path) -> nn.Module:
    mod = _official(root, ("JHang2020+HiCLR", "HiCLR"), "net.dsta")
    return mod.DSTANet(fix_conv1=True, **HICLR_DSTA)


#: MAMP's fine-tune configuration (config/ntu60_xsub_joint/finetune_t120_layer8_decay.yaml), without num_classes
MAMP_FINETUNE: dict[str, Any] = dict(dim_in=3, dim_feat=256, depth=8, num_heads=8, mlp_ratio=4, num_frames=120,
                                     num_joints=25, patch_size=1, t_patch_size=4, qkv_bias=True, qk_scale=None,
                                     drop_rate=0., attn_drop_rate=0., drop_path_rate=0.3, protocol="finetune")


def _mamp(root: Path) -> nn.Module:
    mod = _official(root, ("maoyunyao+MAMP", "MAMP"), "model.transformer")
    return mod.Transformer(num_classes=60, **MAMP_FINETUNE)


CASES: dict[str, tuple[str, Callable[[Path], nn.Module], tuple[int, ...], dict[str, Any]]] = {
    "ctrgcn": ("ctrgcn", _ctrgcn, (2, 3, 64, 25, 2), {}),
    "stgcn": ("stgcn", _stgcn, (2, 3, 64, 25, 2), {}),
    "aimclr": ("aimclr", _aimclr, (2, 3, 50, 25, 2), {}),
    "psumnet_body": ("psumnet", _psumnet("body"), (2, 12, 64, 25, 2), {"from_joints": False}),
    "psumnet_hand": ("psumnet", _psumnet("hand"), (2, 12, 64, 13, 2), {"from_joints": False}),
    "psumnet_leg": ("psumnet", _psumnet("leg"), (2, 12, 64, 9, 2), {"from_joints": False}),
    "mamp": ("mamp", _mamp, (2, 3, 120, 25, 2), {}),
    "dstanet": ("dstanet", _dstanet, (2, 3, 50, 25, 2), {}),
    "dstanet_hiclr": ("dstanet", _dstanet_hiclr, (2, 3, 50, 25, 2), {}),
    "hypergcn_base": ("hypergcn", _hypergcn("base"), (2, 3, 64, 25, 2), {}),
    "hypergcn_large": ("hypergcn", _hypergcn("large"), (2, 3, 64, 25, 2), {}),
}


def measure(root: Path, case: str, seed: int = 0, dtype: torch.dtype = torch.float32) -> tuple[float, float]:
    """(max |official - ours| over the logits, max |official logits|) for one case."""
    source, build, shape, kwargs = CASES[case]
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    ref = build(root).to(dtype)
    randomise_weights(ref, gen)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "official.pth"
        state = ref.state_dict()
        torch.save({k.removeprefix("model."): v for k, v in state.items()}, path)  # _FirstOutput's prefix
        ours, _ = load_official(path, source, **kwargs)
    ours = ours.to(dtype).eval()
    ref.eval()
    x = torch.randn(shape, generator=gen, dtype=dtype)
    with torch.no_grad():
        a = ref(x)
        b = ours({"skeleton": x})["logits"]
    return float((a - b).abs().max()), float(a.abs().max())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--official-root", type=Path, required=True)
    p.add_argument("--sources", nargs="*", default=list(CASES), choices=list(CASES))
    p.add_argument("--float64", action="store_true", help="run both models in float64 (separates mapping errors "
                                                          "from float32 rounding)")
    args = p.parse_args(argv)
    dtype = torch.float64 if args.float64 else torch.float32
    print("| case | max abs diff of logits | max abs logit | relative |\n| --- | --- | --- | --- |")
    for case in args.sources:
        diff, scale = measure(args.official_root, case, dtype=dtype)
        print(f"| {case} | {diff:.1e} | {scale:.3g} | {diff / scale:.1e} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
