"""Roofline of a training step: FLOPs, bytes moved, the bound they imply on this machine, and how close
the measured step gets to it.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/roofline.py [--models hypergcn_base,xshiftnet_rgb]
        [--peak 190] [--bandwidth 11] [--repeats 3] [--name roofline]

Per registered model (its :class:`common.BenchSpec` input and training batch), one training step
(forward + loss + backward):

* FLOPs: ``flops.count_flops`` (convs, matmuls, attention; groups-corrected conv backward);
* bytes: every non-view aten op of the step reads its tensor inputs and writes its outputs once
  (a ``TorchDispatchMode`` sums their ``nbytes``): the traffic of an unfused, cache-less execution,
  the usual roofline estimate for eager PyTorch (ops whose operands fit in cache move less, fused
  kernels move less, im2col-style kernels move more);
* the bound: ``max(FLOPs / peak, bytes / bandwidth)`` with the fp32 GEMM peak (``--peak`` GFLOP/s,
  ``bench_gemm.py``) and the memory bandwidth (``--bandwidth`` GB/s, ``bench_bandwidth.py``) of one core;
* the measured step (median CPU time of ``--repeats``, 1 thread) and ``bound / measured``, the share of
  the roofline the step reaches.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BenchSpec, print_table, write_results  # noqa: E402
from flops import count_flops  # noqa: E402

import mmfusion  # noqa: E402

DEFAULT_MODELS = "hypergcn_base,xshiftnet_rgb,xshiftnet_pose,epam_net,point_sequence_encoder,unipose_pointnet,deform3d"


class ByteCounter(TorchDispatchMode):
    """Sums the bytes every non-view aten op reads (tensor inputs) and writes (tensor outputs)."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0
        self.per_op: dict[str, int] = {}

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        if not getattr(func, "is_view", False):
            flat_in, _ = tree_flatten((args, kwargs or {}))
            flat_out, _ = tree_flatten(out)
            n = sum(t.numel() * t.element_size() for t in flat_in + flat_out if isinstance(t, torch.Tensor))
            self.bytes += n
            name = str(func.overloadpacket)
            self.per_op[name] = self.per_op.get(name, 0) + n
        return out


def roofline(name: str, peak: float, bandwidth: float, repeats: int) -> dict[str, Any]:
    spec = BenchSpec(name)
    torch.manual_seed(0)
    model = mmfusion.create_model(name, **spec.kwargs).train()
    batch = spec.batch(spec.train_batch)

    def step() -> None:
        model.zero_grad(set_to_none=True)
        spec.train_loss(model, spec.run(model, batch), batch).backward()

    step()
    flops, _ = count_flops(step)
    with ByteCounter() as bc:
        step()
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        step()
        times.append(time.process_time() - t0)
    t = statistics.median(times)
    t_flop, t_mem = flops / (peak * 1e9), bc.bytes / (bandwidth * 1e9)
    top = sorted(bc.per_op.items(), key=lambda kv: -kv[1])[:3]
    return {"model": name, "batch": spec.train_batch, "input": spec.describe(), "GFLOP": flops / 1e9,
            "GB moved": bc.bytes / 1e9, "FLOP/byte": flops / max(bc.bytes, 1),
            "bound": "memory" if t_mem > t_flop else "compute", "bound_ms": 1e3 * max(t_flop, t_mem),
            "step_ms": 1e3 * t, "of_roofline_%": 100 * max(t_flop, t_mem) / t,
            "flop_util_%": 100 * t_flop / t,
            "top_bytes": ", ".join(f"{k} {v / 1e9:.2f} GB" for k, v in top)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=DEFAULT_MODELS)
    ap.add_argument("--peak", type=float, default=190.0, help="fp32 GEMM GFLOP/s of one core (bench_gemm.py)")
    ap.add_argument("--bandwidth", type=float, default=11.0, help="GB/s of one core (bench_bandwidth.py)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--name", default="roofline")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        rows.append(roofline(name, args.peak, args.bandwidth, args.repeats))
        print_table([{k: v for k, v in rows[-1].items() if k not in ("input", "top_bytes")}])
    print_table([{k: v for k, v in r.items() if k not in ("input", "top_bytes")} for r in rows],
                title=f"roofline, 1 thread, peak {args.peak} GFLOP/s, bandwidth {args.bandwidth} GB/s")
    path = write_results(args.name, {"command": " ".join(sys.argv), "load_avg": os.getloadavg(),
                                     "peak_gflops": args.peak, "bandwidth_gbs": args.bandwidth, "rows": rows})
    print(f"-> {path}")


if __name__ == "__main__":
    main()
