"""Shared helpers for the benchmark scripts: timing, table printing, JSON results.

Benchmarks are run on purpose (``make bench`` / ``python benchmarks/<name>.py``), never by
the tests; they print a table and write ``benchmarks/results/<name>.json``.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def timeit(fn: Callable[[], Any], warmup: int = 1, min_time: float = 0.5, max_iters: int = 1000) -> float:
    """Median seconds per call of ``fn`` (runs at least ``min_time`` seconds after warm-up)."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    start = time.perf_counter()
    while (time.perf_counter() - start < min_time or len(times) < 3) and len(times) < max_iters:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def print_table(rows: Sequence[dict[str, Any]], title: str = "") -> None:
    if not rows:
        return
    cols = list(rows[0])
    cells = [[_fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    if title:
        print(f"\n{title}")
    print("| " + " | ".join(c.ljust(w) for c, w in zip(cols, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        print("| " + " | ".join(v.rjust(w) for v, w in zip(row, widths)) + " |")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    return "" if v is None else str(v)


def machine_info() -> dict[str, Any]:
    return {"torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpu": platform.processor() or platform.machine(), "python": platform.python_version()}


def write_results(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine_info(), **payload}, indent=2, default=str))
    return path


# -- model inputs: built from each registered entry's ModelCfg (mmfusion.get_model_cfg) ----------

class BenchSpec:
    """How to benchmark one registered model, from its :class:`mmfusion.ModelCfg` alone.

    ``size`` is ``"demo"`` for entries tagged ``"test"`` (CPU-sized), else ``"paper"``; the input is the
    config's. Classifiers are built with ``num_classes = cfg.num_classes or 60`` (the X-ShiftNet
    streams default to features) and trained with their own ``loss`` (else cross-entropy); other
    entries (encoders, fusion blocks, pose nets) with the mean square of their float outputs as a proxy.
    """

    def __init__(self, name: str) -> None:
        import mmfusion
        from mmfusion.registry import model_tags

        self.name = name
        self.cfg = mmfusion.get_model_cfg(name)
        self.size = "demo" if "test" in model_tags(name) else "paper"
        self.classifier = self.cfg.kind == "classifier"
        self.num_classes = (self.cfg.num_classes or 60) if self.classifier else 0
        self.kwargs: dict[str, Any] = {"num_classes": self.num_classes} if self.classifier else {}
        self.train_batch = 8 if self.size == "demo" else 2
        self.note = self.cfg.source

    def batch(self, n: int, seed: int = 0) -> dict[str, torch.Tensor]:
        from mmfusion.model_cfg import make_inputs

        batch = make_inputs(self.cfg, n, seed=seed)
        if self.classifier:
            batch["label"] = torch.randint(0, self.num_classes, (n,), generator=torch.Generator().manual_seed(seed))
        return batch

    def run(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> Any:
        from mmfusion.model_cfg import call_model

        return call_model(model, self.cfg, {k: v for k, v in batch.items() if k in self.cfg.inputs})

    def train_loss(self, model: torch.nn.Module, outputs: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        import torch.nn.functional as F

        if self.classifier:
            if hasattr(model, "loss"):
                return model.loss(outputs, batch["label"])
            return F.cross_entropy(outputs["logits"].float(), batch["label"])
        return sum((t.float().square().mean() for t in _float_tensors(outputs)), torch.zeros(()))

    def describe(self) -> str:
        return " + ".join(f"{k} " + "x".join(map(str, s.shape)) for k, s in self.cfg.inputs.items())


def _float_tensors(obj: Any) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj] if obj.is_floating_point() and obj.requires_grad else []
    if isinstance(obj, dict):
        return [t for v in obj.values() for t in _float_tensors(v)]
    if isinstance(obj, (list, tuple)):  # also named tuples (CFEMOutput)
        return [t for v in obj for t in _float_tensors(v)]
    return []


def get_spec(name: str, size: str) -> BenchSpec | None:
    """The benchmark spec of ``name`` at ``size`` ("paper" / "demo"), or None (other size, or no config)."""
    from mmfusion.errors import ConfigError

    try:
        spec = BenchSpec(name)
    except ConfigError:
        return None
    return spec if spec.size == size else None


def paper_numbers() -> dict[str, tuple[float | None, float | None, str]]:
    """Published (params, MACs, what the figure counts) of every entry whose config has them."""
    import mmfusion

    out: dict[str, tuple[float | None, float | None, str]] = {}
    for name in mmfusion.list_models():
        cfg = mmfusion.get_model_cfg(name)
        if cfg.paper_params is not None:
            out[name] = (cfg.paper_params, cfg.paper_macs, cfg.source)
    return out


def randomise_weights(model: torch.nn.Module, gen: torch.Generator) -> None:
    """Random parameters and BN statistics (frozen graphs kept), so that a wrong mapping shows."""
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                # perturb around the official init in proportion to its spread (keeps activations in
                # range); constant tensors (BN weights, alphas, edge importances) get absolute noise
                noise = torch.randn(p.shape, generator=gen, dtype=p.dtype)
                spread = float(p.std()) if p.numel() > 1 and float(p.std()) > 0 else 1.0
                p.copy_(p + 0.1 * spread * noise if p.numel() > 1 else p + 0.01 + 0.01 * noise)
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=gen, dtype=b.dtype) * 0.1)
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=gen, dtype=b.dtype) + 0.5)
