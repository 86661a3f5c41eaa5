"""Shared test fixtures.

Real data samples live outside the repository in ``../shared/real_samples`` (NTU's terms
forbid redistribution); tests that need them use the ``real_samples`` fixture, which skips
with a clear reason where that folder is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
REAL_SAMPLES = Path(os.environ.get("MMFUSION_REAL_SAMPLES", REPO.parent / "shared" / "real_samples"))

# The tests use tiny tensors: on a small (often shared) CPU one intra-op thread is faster than
# several contending ones, and results do not depend on the machine's core count.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def real_samples() -> Path:
    if not REAL_SAMPLES.is_dir():
        pytest.skip(f"real samples not found at {REAL_SAMPLES} (set MMFUSION_REAL_SAMPLES)")
    return REAL_SAMPLES


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
