"""Profile one registered model (torch.profiler, ops sorted by self CPU time).

Uses the batch built from the model's registered config (``common.BenchSpec``); ``--train``
profiles forward + backward + SGD step at the spec's training batch, otherwise a batch-1 eval forward.

    OMP_NUM_THREADS=2 python benchmarks/profile_model.py xshiftnet_rgb --train [--steps 2] [--rows 25]
"""

from __future__ import annotations

import argparse

import torch
from common import get_spec
from torch.profiler import ProfilerActivity, profile, record_function

import mmfusion


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--train", action="store_true")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--rows", type=int, default=25)
    parser.add_argument("--sort", default="self_cpu_time_total")
    parser.add_argument("--shapes", action="store_true", help="group by input shapes too")
    args = parser.parse_args()

    spec = get_spec(args.model, "paper") or get_spec(args.model, "demo")
    if spec is None:
        raise SystemExit(f"{args.model}: registered without a cfg (mmfusion.get_model_cfg)")
    torch.manual_seed(0)
    model = mmfusion.create_model(args.model, **spec.kwargs)
    if args.train:
        model.train()
        batch = spec.batch(spec.train_batch)
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            with record_function("forward"):
                out = spec.run(model, batch)
                loss = spec.train_loss(model, out, batch)
            with record_function("backward"):
                loss.backward()
            with record_function("optimizer"):
                opt.step()
    else:
        model.eval()
        batch = spec.batch(1)

        def step() -> None:
            with torch.no_grad():
                spec.run(model, batch)

    step()  # warm-up
    with profile(activities=[ProfilerActivity.CPU], record_shapes=args.shapes) as prof:
        for _ in range(args.steps):
            step()
    table = prof.key_averages(group_by_input_shape=args.shapes).table(sort_by=args.sort, row_limit=args.rows)
    print(table)


if __name__ == "__main__":
    main()
