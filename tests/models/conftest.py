"""Shared helpers of the model tests: M-Mixer behind positional tensors (what exporters and
``torch.compile(fullgraph=True)`` take) and a fixed batch for it; the official key tables and fake
official checkpoints of the converter tests (``official_keys``)."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn


class MMixerPositional(nn.Module):
    """Positional-tensor front for exporters: (rgb, depth, ir) -> logits (N, K)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, rgb: Tensor, depth: Tensor, ir: Tensor) -> Tensor:
        return self.model({"rgb": rgb, "depth": depth, "ir": ir})["logits"]


def mmixer_inputs(n: int = 2, t: int = 4) -> tuple[Tensor, Tensor, Tensor]:
    """rgb (n, 3, t, 32, 32), depth and ir (n, 1, t, 32, 32), seeded."""
    g = torch.Generator().manual_seed(11)
    return (torch.randn(n, 3, t, 32, 32, generator=g), torch.randn(n, 1, t, 32, 32, generator=g),
            torch.randn(n, 1, t, 32, 32, generator=g))


@pytest.fixture(name="positional", scope="session")
def _positional() -> type[MMixerPositional]:
    return MMixerPositional


@pytest.fixture(name="inputs", scope="session")
def _inputs_fixture() -> Callable[..., tuple[Tensor, Tensor, Tensor]]:
    return mmixer_inputs


@functools.cache
def _model_buffers(name: str) -> tuple[frozenset[str], dict[str, Tensor]]:
    """(persistent state keys, every buffer by name) of a freshly built registered model (built once)."""
    import mmfusion

    model = mmfusion.create_model(name)
    return frozenset(model.state_dict()), dict(model.named_buffers(remove_duplicate=False))


class OfficialKeys:
    """The official key tables of ``fixtures/official_keys`` and fake official checkpoints built from them.

    Each table lists an official state dict's names and shapes in the official order (facts read
    from the official model, no code). :meth:`fake` gives seeded random tensors of those shapes;
    a frozen graph buffer gets the graph our model builds (equal to the official one, see
    docs/pretrained.md), so that the converters' graph check passes.
    """

    root = Path(__file__).parent / "fixtures" / "official_keys"

    @property
    def names(self) -> list[str]:
        return sorted(p.stem for p in self.root.glob("*.json"))

    def table(self, name: str) -> dict:
        return json.loads((self.root / f"{name}.json").read_text())

    def fake(self, table: dict, seed: int = 0) -> dict[str, Tensor]:
        from mmfusion.models.converters import get_converter

        g = torch.Generator().manual_seed(seed)
        conv = get_converter(table["source"])
        persistent, buffers = _model_buffers(table["model"])
        state: dict[str, Tensor] = {}
        for key, shape in table["keys"]:
            ours = conv.rename(key)
            if any(re.search(p, key) for p in conv.zeros):  # constant zero buffers (DSTA-Net's atts)
                state[key] = torch.zeros(shape)
            elif ours in buffers and ours not in persistent:
                state[key] = buffers[ours].clone()
            elif key.endswith("num_batches_tracked"):
                state[key] = torch.tensor(7)
            elif key.endswith("running_var"):
                state[key] = torch.rand(shape, generator=g) + 0.5
            else:
                state[key] = torch.randn(shape, generator=g) * 0.05
        return state

    def save(self, table: dict, state: dict[str, Tensor], path: Path) -> Path:
        """``torch.save`` ``state`` nested as the official training script does (``state_dict`` / ``model``)."""
        torch.save({table["nested_under"]: state, "epoch": 3} if table["nested_under"] else state, path)
        return path


@pytest.fixture
def official_keys() -> OfficialKeys:
    return OfficialKeys()
