"""Skeleton world: generation time and learnability sanity check.

    python benchmarks/bench_skeleton_world.py OUT [--num 10000] [--workers 2] [--packed-only]

Generates the world (``mmfusion.data.synthetic.skeleton_world``) and reports wall and CPU
seconds, then trains two tiny classifiers on joint features of the packed arrays under NTU-60
xsub (train: the 20 training subjects): a linear softmax classifier and a one-hidden-layer MLP
on each sequence resampled to 16 frames, centred on the first frame's SpineMid of actor 1.
The world should be learnable (far above 1/60) but not trivial (below 100 %).
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from mmfusion.data.ntu import split_of
from mmfusion.data.synthetic.skeleton_world import SkeletonWorldConfig, generate_skeleton_world, load_packed


def features(data: np.ndarray, lengths: np.ndarray, frames: int = 16) -> np.ndarray:
    out = np.zeros((len(data), 3, frames, data.shape[3], data.shape[4]), np.float32)
    for i, (x, n) in enumerate(zip(data, lengths)):
        idx = np.linspace(0, n - 1, frames).round().astype(int)
        x = np.asarray(x[:, idx])
        x = x - x[:, :1, 1:2, :1]  # SpineMid of actor 1 in the first sampled frame
        out[i] = x * (np.abs(np.asarray(data[i][:, idx])).sum(0, keepdims=True) > 0)
    return out.reshape(len(data), -1)


def fit(model: torch.nn.Module, xtr: torch.Tensor, ytr: torch.Tensor, epochs: int = 60) -> None:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        for b in torch.randperm(len(xtr), generator=g).split(256):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xtr[b]), ytr[b]).backward()
            opt.step()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--num", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--packed-only", action="store_true")
    a = ap.parse_args()
    t0, c0 = time.perf_counter(), time.process_time()
    root = generate_skeleton_world(a.out, SkeletonWorldConfig(num_sequences=a.num, workers=a.workers),
                                   overwrite=True, write_files=not a.packed_only)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = time.process_time() - c0 + kids.ru_utime + kids.ru_stime
    print(f"generation: {a.num} sequences, {time.perf_counter() - t0:.1f} s wall, {cpu:.1f} s CPU "
          f"({a.workers} workers, files={'no' if a.packed_only else 'yes'})")
    data, labels, names, lengths = load_packed(root)
    x = torch.from_numpy(features(data, lengths))
    y = torch.from_numpy(labels)
    tr = torch.tensor([split_of(n, "xsub") == "train" for n in names])
    mu, sd = x[tr].mean(0), x[tr].std(0) + 1e-3
    x = (x - mu) / sd
    torch.manual_seed(0)
    for name, model in (("linear", torch.nn.Linear(x.shape[1], 60)),
                        ("mlp", torch.nn.Sequential(torch.nn.Linear(x.shape[1], 256), torch.nn.ReLU(),
                                                    torch.nn.Dropout(0.3), torch.nn.Linear(256, 60)))):
        fit(model, x[tr], y[tr])
        model.eval()
        with torch.no_grad():
            acc_tr = (model(x[tr]).argmax(1) == y[tr]).float().mean().item()
            acc_te = (model(x[~tr]).argmax(1) == y[~tr]).float().mean().item()
        print(f"{name}: xsub train {100 * acc_tr:.1f} %, test {100 * acc_te:.1f} % "
              f"(chance {100 / 60:.1f} %; {int(tr.sum())} / {int((~tr).sum())} samples)")


if __name__ == "__main__":
    main()
