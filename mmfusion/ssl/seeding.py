"""Per-sample random numbers that depend on (seed, step, dataset index) only.

Masks and augmentations drawn this way are the same on one process or many (each sample's
numbers do not depend on which process or batch slot it lands in), and after a resume (the
step count is part of the objective's state). Numbers are drawn on the CPU from one
``torch.Generator`` per sample and then moved, so CPU and GPU runs see the same masks.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..errors import MissingModalityError

__all__ = ["batch_index", "sample_seed", "sample_uniform"]

_MIX = (1_000_003, 7_919, 104_729)


def sample_seed(seed: int, step: int, index: int, stream: int = 0) -> int:
    """A 63-bit seed for sample ``index`` at optimizer step ``step`` (``stream`` separates uses)."""
    return ((((int(seed) * _MIX[0] + int(stream)) * _MIX[1] + int(step)) * _MIX[2] + int(index)) * 2_654_435_761) \
        % (2**63 - 1)


def sample_uniform(seed: int, step: int, index: Tensor, shape: tuple[int, ...], device: torch.device | str,
                   stream: int = 0) -> Tensor:
    """U[0, 1) of shape ``(N, *shape)``; row i depends on (seed, step, index[i], stream) only."""
    g = torch.Generator(device="cpu")
    rows = []
    for i in index.detach().to("cpu").tolist():
        g.manual_seed(sample_seed(seed, step, int(i), stream))
        rows.append(torch.rand(shape, generator=g))
    return torch.stack(rows).to(device)


def batch_index(batch: dict[str, Tensor] | object, name: str) -> Tensor:
    """The batch's ``"index"`` (N,) int64, required by objectives that seed per sample."""
    try:
        index = batch["index"]  # type: ignore[index]
    except (KeyError, TypeError):
        raise MissingModalityError("index", f"{name} draws its masks per sample: the batch needs 'index' (N,) "
                                            "dataset indices (mmfusion.ssl.pretrain adds them)") from None
    return torch.as_tensor(index).long()
