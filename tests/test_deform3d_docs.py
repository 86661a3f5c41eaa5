"""The runnable example of the 3D-deformable docs section (<!-- deform3d-doctest --> blocks) executes and asserts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Tiny ops on a shared 2-core machine run far faster on one thread than on two contending ones."""
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)


DOCS = Path(__file__).resolve().parents[1] / "docs"
MARKED = re.compile(r"<!-- deform3d-doctest -->\s*```python\n(.*?)```", re.DOTALL)


def _doc() -> Path:
    # the section is written in docs/fusion_deform3d.md and may be merged into docs/fusion.md
    for name in ("fusion_deform3d.md", "fusion.md"):
        path = DOCS / name
        if path.exists() and MARKED.search(path.read_text(encoding="utf-8")):
            return path
    raise AssertionError(f"no <!-- deform3d-doctest --> python block in {DOCS}/fusion*.md")


def test_deform3d_doc_example_runs() -> None:
    path = _doc()
    blocks = MARKED.findall(path.read_text(encoding="utf-8"))
    for i, code in enumerate(blocks):
        namespace: dict[str, object] = {"__name__": f"deform3d_doc_{i}"}
        exec(compile(code, f"{path}:block{i}", "exec"), namespace)  # noqa: S102 - our own documentation
        assert "model" in namespace and "out" in namespace
