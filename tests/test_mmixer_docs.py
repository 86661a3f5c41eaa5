"""The runnable examples of docs/fusion.md (blocks marked <!-- mmixer-doctest -->) execute and assert."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

DOC = Path(__file__).resolve().parents[1] / "docs" / "fusion.md"
MARKED = re.compile(r"<!-- mmixer-doctest -->\s*```python\n(.*?)```", re.DOTALL)


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Tiny ops on a shared 2-core machine run far faster on one thread than on two contending ones."""
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)


def test_fusion_doc_examples_run() -> None:
    text = DOC.read_text(encoding="utf-8")
    blocks = MARKED.findall(text)
    assert blocks, f"no <!-- mmixer-doctest --> python block in {DOC}"
    for i, code in enumerate(blocks):
        namespace: dict[str, object] = {"__name__": f"fusion_doc_{i}"}
        exec(compile(code, f"{DOC}:block{i}", "exec"), namespace)  # noqa: S102 - our own documentation
        assert "model" in namespace or "mcu" in namespace


def test_fusion_doc_keeps_the_placeholders_for_other_blocks() -> None:
    text = DOC.read_text(encoding="utf-8")
    for heading in ("## Using a fusion block in your own model", "## M-Mixer: MCU and CFEM",
                    "## 3D deformable cross-modal attention", "## Pose-guided attention (EPAM-Net)"):
        assert heading in text
