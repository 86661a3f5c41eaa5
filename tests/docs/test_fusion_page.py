"""docs/fusion.md: every ``<!-- doctest -->`` Python block runs and asserts; every public fusion block is documented."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest
import torch

import mmfusion.fusion

DOC = Path(__file__).resolve().parents[2] / "docs" / "fusion.md"
MARKED = re.compile(r"<!-- doctest -->\s*```python\n(.*?)```", re.DOTALL)


def _blocks() -> list[str]:
    return MARKED.findall(DOC.read_text(encoding="utf-8"))


def test_there_is_an_example_per_block_family() -> None:
    text = "\n".join(_blocks())
    for name in ("CFEM", "MCU", "DeformableAttention3D", "JointStrideAttention", "PoseGuidedAttention"):
        assert re.search(rf"import .*\b{name}\b", text), f"no runnable example imports {name}"


@pytest.mark.parametrize("index", range(3))
def test_doc_example_runs(index: int) -> None:
    blocks = _blocks()
    assert len(blocks) == 3, "update the parametrisation when adding or removing examples"
    torch.manual_seed(0)
    namespace: dict[str, object] = {"__name__": f"fusion_doc_{index}"}
    exec(compile(blocks[index], f"{DOC}:block{index}", "exec"), namespace)  # noqa: S102 - our own documentation
    assert "model" in namespace


def test_every_public_fusion_class_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for info in pkgutil.iter_modules(mmfusion.fusion.__path__, prefix="mmfusion.fusion."):
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", ()):
            assert f"`{name}" in text or f"{name}(" in text, f"{info.name}.{name} is not in docs/fusion.md"
