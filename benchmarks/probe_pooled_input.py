"""Why CascadeFormer's stage 1 probes below its random T1: pooled-input probes and token linearity.

Prints two tables (run on purpose, ~3-5 min on one core of the skeleton world):

1. A linear probe (the recipes' BN + Linear, SGD lr 0.1, 100 epochs) on hand-made features of the
   clips CascadeFormer reads (the most active person, (N, T, V * C) frames): the **mean pose** over
   frames, mean + standard deviation, mean + mean absolute frame difference. The mean pose is what
   mean-pooling gives when every frame token is a linear function of its frame's pose.
2. With ``--run`` (a CascadeFormer stage-1 folder, e.g. ``<run>/stage_1_masked_joints``): how
   linear T1's frame tokens (N, T, d) are in their frame's pose: R^2 of the least-squares fit
   ``tokens ~ [pose, 1]`` on ``--clips`` training clips, for the pre-trained T1 and the same card at
   its random initialisation (seed ``--seed``). Masked-slot reconstruction through a linear head
   pushes the tokens towards a linear code of the pose (R^2 near 1), and then the mean-pooled
   features are a linear map of the mean pose (table 1, first row).

::

    python benchmarks/probe_pooled_input.py --cache-dir /work/cache/skel60
    python benchmarks/probe_pooled_input.py --run runs/cf/stage_1_masked_joints --clips 512
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from mmfusion.encoders.cascadeformer import CascadeFormer, select_most_active_person
from mmfusion.registry import create_model
from mmfusion.ssl.presets import world_splits
from mmfusion.ssl.pretrain import load_pretrained_encoder, read_encoder_card
from mmfusion.ssl.protocols import extract_features, linear_probe

FEATURES: dict[str, Callable[[Tensor], Tensor]] = {
    "mean pose": lambda f: f.mean(1),
    "mean + std": lambda f: torch.cat([f.mean(1), f.std(1)], 1),
    "mean + mean |frame difference|": lambda f: torch.cat([f.mean(1), (f[:, 1:] - f[:, :-1]).abs().mean(1)], 1),
}


def frames(x: Tensor) -> Tensor:
    """(N, C, T, V, M) -> (N, T, V * C): the most active person, as CascadeFormer's T1 reads it."""
    return select_most_active_person(x).flatten(2)


def token_r2(t1_encode: Callable[[Tensor], Tensor], clips: Tensor) -> float:
    """R^2 of the least-squares fit of T1's tokens (N * T, d) on their frame's pose (N * T, V * C + 1)."""
    with torch.no_grad():
        f = select_most_active_person(clips)
        tokens = t1_encode(f).flatten(0, 1).double()
    pose = torch.cat([f.flatten(2).flatten(0, 1).double(), torch.ones(tokens.shape[0], 1, dtype=torch.double)], 1)
    coef = torch.linalg.lstsq(pose, tokens).solution
    resid = tokens - pose @ coef
    return float(1 - resid.pow(2).sum() / (tokens - tokens.mean(0)).pow(2).sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache-dir", default="/work/cache/skel60")
    ap.add_argument("--clip-len", type=int, default=32, help="frames per clip (CascadeFormer's cpu preset: 32)")
    ap.add_argument("--run", default=None, help="a CascadeFormer stage-1 folder (encoder.safetensors + config.json)")
    ap.add_argument("--clips", type=int, default=512, help="training clips for the token fit")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    _, train, test = world_splits(args.cache_dir, clip_len=args.clip_len, seed=args.seed)

    print(f"| pooled input feature ({args.clip_len} frames) | dim | linear probe top-1 (test) |\n| --- | --- | --- |")
    for name, fn in FEATURES.items():
        xtr, ytr = extract_features(lambda x, fn=fn: fn(frames(x)), train)
        xte, yte = extract_features(lambda x, fn=fn: fn(frames(x)), test)
        res = linear_probe(xtr, ytr, xte, yte, seed=args.seed)
        print(f"| {name} | {xtr.shape[1]} | {100 * res.metrics['top1']:.2f} |")

    if args.run is None:
        return
    card = read_encoder_card(args.run)
    kwargs = {k: v for k, v in card.get("model_kwargs", {}).items() if k not in ("num_classes", "head")}
    clips = torch.stack([train[i]["skeleton"] for i in range(min(args.clips, len(train)))])
    print(f"\n| T1 of {card['model_name']} {kwargs} | R^2 of tokens ~ linear(frame pose) |\n| --- | --- |")
    for init in ("pre-trained", f"random (seed {args.seed})"):
        torch.manual_seed(args.seed)
        model = create_model(card["model_name"], num_classes=0, **kwargs)
        if init == "pre-trained":
            load_pretrained_encoder(model, Path(args.run) / "encoder.safetensors")
        enc = getattr(model, "encoder", model)
        if not isinstance(enc, CascadeFormer):
            raise SystemExit(f"--run {args.run}: not a CascadeFormer encoder ({type(enc).__name__})")
        print(f"| {init} | {token_r2(enc.eval().t1.encode, clips):.3f} |")


if __name__ == "__main__":
    main()
