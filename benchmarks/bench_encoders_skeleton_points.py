"""Skeleton and point-cloud encoders: parameters, MACs and CPU inference throughput.

Paper input sizes (batch 1, both persons): ST-GCN 3x300x25x2, Hyper-GCN 3x64x25x2, MAMP
3x120x25x2, point sequence 24x2048x3 (P4Transformer's clip); the ``*_tiny`` variants at
demo sizes (skeleton 3x32x25x2, points 8x256x3).

MACs = ``torch.utils.flop_counter.FlopCounterMode`` FLOPs / 2 (convolutions, matmuls,
einsum/bmm, attention; the CPU flash-attention kernel is registered here, torch counts only
the CUDA ones). Farthest-point sampling, ball query, top-k and gathers are not
counted (no multiply-accumulates, but they take real time on CPU).

    OMP_NUM_THREADS=1 python benchmarks/bench_encoders_skeleton_points.py [--quick]
"""

from __future__ import annotations

import argparse
from typing import Any

import torch
from common import print_table, timeit, write_results
from torch.utils import flop_counter
from torch.utils.flop_counter import FlopCounterMode

import mmfusion

_CPU_SDPA = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
if _CPU_SDPA not in flop_counter.flop_registry:
    # torch counts the CUDA attention kernels only; without this, attention on CPU counts 0
    @flop_counter.register_flop_formula(_CPU_SDPA)
    def _cpu_sdpa_flop(query_shape: tuple[int, ...], key_shape: tuple[int, ...], value_shape: tuple[int, ...],
                       *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
        return flop_counter.sdpa_flop_count(query_shape, key_shape, value_shape)

CASES: list[tuple[str, str, tuple[int, ...], dict[str, Any]]] = [
    # (model, size label, input shape, kwargs)
    ("stgcn", "paper", (1, 3, 300, 25, 2), {}),
    ("hypergcn_base", "paper", (1, 3, 64, 25, 2), {}),
    ("hypergcn_large", "paper", (1, 3, 64, 25, 2), {}),
    ("mamp_transformer", "paper", (1, 3, 120, 25, 2), {}),
    ("point_sequence_encoder", "paper", (1, 24, 2048, 3), {}),
    ("stgcn", "demo", (1, 3, 32, 25, 2), {}),
    ("stgcn_tiny", "demo", (1, 3, 32, 25, 2), {}),
    ("hypergcn_tiny", "demo", (1, 3, 32, 25, 2), {}),
    ("mamp_transformer_tiny", "demo", (1, 3, 32, 25, 2), {}),
    ("point_sequence_encoder_tiny", "demo", (1, 8, 256, 3), {}),
]


def make_input(shape: tuple[int, ...]) -> torch.Tensor:
    if len(shape) == 4:  # points (N, T, P, 3): a person-sized blob, metres
        return torch.randn(shape) * torch.tensor([0.25, 0.6, 0.15]) + torch.tensor([0.0, 0.0, 3.0])
    return torch.randn(shape)


def measure(name: str, shape: tuple[int, ...], kwargs: dict[str, Any], min_time: float) -> dict[str, Any]:
    model = mmfusion.create_model(name, **kwargs).eval()
    x = make_input(shape)
    params = sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        with FlopCounterMode(display=False) as fc:
            out = model(x)
        macs = fc.get_total_flops() / 2
        sec = timeit(lambda: model(x), warmup=1, min_time=min_time, max_iters=50)
    return {"model": name, "size": "x".join(map(str, shape)), "params_M": params / 1e6, "params": params,
            "GMACs": macs / 1e9, "ms/clip": sec * 1e3, "clips/s": shape[0] / sec, "out_dim": int(out.shape[-1])}


def main() -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="demo sizes only")
    parser.add_argument("--min-time", type=float, default=1.0, help="seconds of timing per case")
    args = parser.parse_args()
    torch.manual_seed(0)
    rows = []
    for name, label, shape, kw in CASES:
        if args.quick and label == "paper":
            continue
        row = {"input": label, **measure(name, shape, kw, args.min_time)}
        rows.append(row)
        print(f"  {name} {row['size']}: {row['params']:,} params, {row['GMACs']:.3f} GMACs, "
              f"{row['ms/clip']:.1f} ms/clip", flush=True)
    cols = ("model", "input", "size", "params_M", "GMACs", "ms/clip", "clips/s")
    title = f"Skeleton / point encoders, CPU inference, batch 1 ({torch.get_num_threads()} threads)"
    print_table([{k: r[k] for k in cols} for r in rows], title)
    path = write_results("encoders_skeleton_points", {
        "note": "MACs = FlopCounterMode FLOPs / 2; FPS/ball query not counted; eval mode, no_grad, batch 1",
        "rows": rows})
    print(f"wrote {path}")
    return rows


if __name__ == "__main__":
    main()
