"""A FIFO queue of feature vectors (MoCo negatives, NNCLR support set, HaLP prototype pool).

:class:`TensorQueue` keeps ``size`` vectors of ``dim`` values as a buffer (saved in the state dict,
moved with the module), optionally with one int64 id per entry (the dataset index of the sample
that produced it: STARS / NNCLR skip a sample's own earlier entries). ``enqueue`` first gathers the
keys (and ids) of every process in rank order (``torch.distributed.all_gather`` when a process group
of more than one process is initialised; batches may differ in size), then writes the global batch
at the pointer with wrap-around, so N processes hold exactly the queue one process fed the global
batch would hold (MoCo's ``concat_all_gather`` + ``_dequeue_and_enqueue``, without the official
"queue size must divide by the batch" assertion).

Shapes: ``keys`` (size, dim) - row ``i`` is an entry (the official code stores the transpose,
(dim, size)); ``ids`` (size,) int64, -1 where never written; ``ptr`` and ``count`` () int64 (next
write row; entries written so far, for warm-up rules such as HaLP's ``2K + 1``).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError

__all__ = ["TensorQueue", "gather_batch"]


def _world() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


@torch.no_grad()
def gather_batch(x: Tensor) -> Tensor:
    """Concatenate ``x`` (B_rank, ...) of every process in rank order (no gradient; B may differ per rank)."""
    x = x.detach()
    if _world() == 1:
        return x
    world = _world()
    size = torch.tensor([x.shape[0]], device=x.device, dtype=torch.long)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    dist.all_gather(sizes, size)
    counts = [int(s) for s in sizes]
    biggest = max(counts)
    padded = x.new_zeros((biggest, *x.shape[1:]))
    padded[: x.shape[0]] = x
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([p[:c] for p, c in zip(parts, counts)])


class TensorQueue(nn.Module):
    """FIFO of ``size`` vectors of ``dim`` values (+ optional int64 ids), gathered across processes.

    Args:
        size: number of entries K (MoCo / HiCLR / STARS: 32,768; HaLP: 16,384).
        dim: vector length.
        with_ids: keep an int64 id per entry.
        init: ``"randn"`` - unit-normalised Gaussian rows (MoCo's initial queue; drawn from a fixed
            ``seed`` so every process starts with the same queue) or ``"zeros"``.
        seed: seed of the ``"randn"`` initialisation.
    """

    def __init__(self, size: int, dim: int, with_ids: bool = False, init: str = "randn", seed: int = 0) -> None:
        super().__init__()
        if size < 1 or dim < 1:
            raise ConfigError(f"TensorQueue: size and dim must be >= 1, got size={size}, dim={dim}")
        if init not in ("randn", "zeros"):
            raise ConfigError(f"TensorQueue: init must be 'randn' or 'zeros', got {init!r}")
        self.size, self.dim, self.with_ids = size, dim, with_ids
        if init == "randn":
            keys = F.normalize(torch.randn(size, dim, generator=torch.Generator().manual_seed(seed)), dim=1)
        else:
            keys = torch.zeros(size, dim)
        self.register_buffer("keys", keys)
        ids = torch.full((size,), -1, dtype=torch.long) if with_ids else torch.empty(0, dtype=torch.long)
        self.register_buffer("ids", ids)
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def enqueue(self, keys: Tensor, ids: Tensor | None = None) -> None:
        """Gather ``keys`` (B, dim) (and ``ids`` (B,)) of every process, then write them at the pointer."""
        if keys.ndim != 2 or keys.shape[1] != self.dim:
            raise ConfigError(f"TensorQueue: keys must be (B, {self.dim}), got {tuple(keys.shape)}")
        if self.with_ids != (ids is not None):
            raise ConfigError("TensorQueue: pass ids exactly when the queue was built with with_ids=True")
        if ids is not None and ids.shape != (keys.shape[0],):
            raise ConfigError(f"TensorQueue: ids must be ({keys.shape[0]},), got {tuple(ids.shape)}")
        keys = gather_batch(keys.to(self.keys.dtype))
        if ids is not None:
            ids = gather_batch(ids.to(device=self.keys.device, dtype=torch.long))
        b = keys.shape[0]
        if b > self.size:  # only the newest `size` rows survive a pass longer than the queue
            keys, ids = keys[-self.size:], None if ids is None else ids[-self.size:]
            self.ptr.add_(b - self.size).remainder_(self.size)
            self.count.add_(b - self.size)
            b = self.size
        rows = (int(self.ptr) + torch.arange(b, device=self.keys.device)) % self.size
        self.keys[rows] = keys
        if ids is not None:
            self.ids[rows] = ids
        self.ptr.add_(b).remainder_(self.size)
        self.count.add_(b)

    def newest(self, n: int) -> Tensor:
        """The ``n`` most recently written rows (oldest first), (n, dim); HaLP clusters these."""
        n = min(n, self.size)
        rows = (int(self.ptr) - n + torch.arange(n, device=self.keys.device)) % self.size
        return self.keys[rows]

    def extra_repr(self) -> str:
        return f"size={self.size}, dim={self.dim}, with_ids={self.with_ids}"
