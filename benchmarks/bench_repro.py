"""Where bitwise reproducibility ends: the same training steps under other CPU kernels and thread counts.

    python benchmarks/bench_repro.py

Runs 30 AdamW steps of ``frame_gru_tiny`` (RGB, 8 clips of 8 x 48 x 48, seed 0) in fresh interpreters
under: the machine's default kernels and 1 thread (twice), oneDNN / ATen limited to AVX2 (what a CPU
without AVX-512 runs), and 2 threads. It prints the final loss and a hash of the weights. On one machine
the same settings give the same bits; another instruction set or thread count sums in another order,
and training amplifies the last-bit differences into a different run. The synthetic world itself is
identical across numpy's SIMD levels (``--world`` checks a small one under each).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

TRAIN = r"""
import hashlib, torch, mmfusion
torch.manual_seed(0)
m = mmfusion.create_model("frame_gru_tiny", num_classes=12, modality="rgb")
x = torch.randn(8, 3, 8, 48, 48); y = torch.arange(8) % 12
opt = torch.optim.AdamW(m.parameters(), 3e-3)
for _ in range(30):
    loss = torch.nn.functional.cross_entropy(m({"rgb": x})["logits"], y)
    opt.zero_grad(); loss.backward(); opt.step()
w = torch.cat([p.detach().flatten() for p in m.parameters()])
print(f"{loss.item():.10f} {hashlib.sha256(w.numpy().tobytes()).hexdigest()[:12]}")
"""

WORLD = r"""
import hashlib, sys
from pathlib import Path
from mmfusion.data.synthetic import SynthConfig, generate
out = Path(sys.argv[1])
generate(out, SynthConfig(performers=(1, 2), cameras=(1,), replications=(1,), num_workers=1, progress=False))
h = hashlib.sha256()
for p in sorted(out.rglob("*")):
    if p.is_file():
        h.update(p.name.encode()); h.update(p.read_bytes())
print(h.hexdigest()[:12])
"""

TRAIN_CASES = {
    "default kernels, 1 thread": {"OMP_NUM_THREADS": "1"},
    "default kernels, 1 thread (again)": {"OMP_NUM_THREADS": "1"},
    "AVX2 only (ATen + oneDNN), 1 thread": {"OMP_NUM_THREADS": "1", "ATEN_CPU_CAPABILITY": "avx2",
                                            "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "default kernels, 2 threads": {"OMP_NUM_THREADS": "2"},
}
WORLD_CASES = {
    "numpy default SIMD": {},
    "numpy without AVX-512": {"NPY_DISABLE_CPU_FEATURES": "AVX512_SPR AVX512_ICL X86_V4"},
    "numpy baseline SSE4 only": {"NPY_DISABLE_CPU_FEATURES": "AVX512_SPR AVX512_ICL X86_V4 X86_V3"},
}


def run(code: str, env: dict[str, str], *args: str) -> str:
    full = {**os.environ, **env}
    out = subprocess.run([sys.executable, "-c", code, *args], env=full, capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--world", action="store_true", help="also hash a small synthetic world under numpy SIMD levels")
    args = ap.parse_args(argv)
    print("| training setting | final loss | weights sha256[:12] |\n|---|---|---|")
    for name, env in TRAIN_CASES.items():
        loss, sha = run(TRAIN, env).split()
        print(f"| {name} | {loss} | {sha} |")
    if args.world:
        print("\n| world generation | files sha256[:12] |\n|---|---|")
        for name, env in WORLD_CASES.items():
            with tempfile.TemporaryDirectory() as tmp:
                print(f"| {name} | {run(WORLD, env, os.path.join(tmp, 'w'))} |")


if __name__ == "__main__":
    main()
