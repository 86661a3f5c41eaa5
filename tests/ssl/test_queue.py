"""TensorQueue: FIFO writes with wrap-around, ids, and the 2-process (gloo) check that the queue after
each step equals the single-process queue fed the same global batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmfusion.errors import ConfigError
from mmfusion.ssl.queue import TensorQueue

SIZE, DIM, STEPS = 10, 4, 4
#: global batch per step: 6 rows (3 per rank), then 4 (wrap-around), then 7 (4 + 3: unequal ranks), then 12 > SIZE
SPLITS = [(3, 3), (2, 2), (4, 3), (6, 6)]


def test_fifo_wraps_around_and_keeps_ids() -> None:
    q = TensorQueue(5, 2, with_ids=True, init="zeros")
    q.enqueue(torch.ones(3, 2), torch.tensor([0, 1, 2]))
    q.enqueue(2 * torch.ones(4, 2), torch.tensor([3, 4, 5, 6]))
    # rows 0..2 <- 1, 3, 4 <- 2, then 0, 1 <- 2 (wrapped)
    assert q.keys[:, 0].tolist() == [2, 2, 1, 2, 2]
    assert q.ids.tolist() == [5, 6, 2, 3, 4]
    assert int(q.ptr) == 2 and int(q.count) == 7
    assert q.newest(3)[:, 0].tolist() == [2, 2, 2]
    assert torch.equal(q.newest(5), q.keys[[2, 3, 4, 0, 1]])
    with pytest.raises(ConfigError, match="ids"):
        q.enqueue(torch.ones(1, 2))
    with pytest.raises(ConfigError, match=r"\(B, 2\)"):
        q.enqueue(torch.ones(1, 3), torch.tensor([0]))


def test_randn_init_is_unit_norm_and_the_same_everywhere() -> None:
    a, b = TensorQueue(8, 3), TensorQueue(8, 3)
    torch.testing.assert_close(a.keys.norm(dim=1), torch.ones(8))
    assert torch.equal(a.keys, b.keys)
    assert set(a.state_dict()) == {"keys", "ids", "ptr", "count"}


def _data() -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(3)
    out = []
    start = 0
    for a, b in SPLITS:
        n = a + b
        out.append((torch.randn(n, 6, generator=g), torch.arange(start, start + n)))
        start += n
    return out


def _run(rank: int, world: int) -> dict[str, np.ndarray]:
    """Every step: this rank's slice -> a fixed projection (the "encoder") -> normalised keys -> enqueue."""
    proj = torch.randn(6, DIM, generator=torch.Generator().manual_seed(0))
    q = TensorQueue(SIZE, DIM, with_ids=True)
    out = {}
    for step, ((x, ids), (a, _)) in enumerate(zip(_data(), SPLITS)):
        sl = slice(0, None) if world == 1 else (slice(0, a) if rank == 0 else slice(a, None))
        q.enqueue(F.normalize(x[sl] @ proj, dim=1), ids[sl])
        for name, buf in q.state_dict().items():
            out[f"{name}_{step}"] = buf.numpy().copy()
    return out


@pytest.mark.slow
def test_two_process_queue_equals_the_single_process_queue(gloo_pair) -> None:
    single = _run(0, 1)
    ranks = gloo_pair(_run)
    assert single[f"count_{STEPS - 1}"] == sum(a + b for a, b in SPLITS)
    assert (single[f"ids_{STEPS - 1}"] >= 0).all()
    for rank, got in enumerate(ranks):
        assert set(got) == set(single)
        for key, value in single.items():
            np.testing.assert_allclose(got[key], value, rtol=1e-6, atol=1e-7, err_msg=f"rank {rank}: {key}")
