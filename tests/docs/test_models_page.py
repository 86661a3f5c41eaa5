"""docs/models.md cannot rot: its table lists every registered model with the parameter count create_model gives.

Also checks the relative links of docs/models.md and docs/fusion.md (files and heading anchors)
and that no doc still points at the pages merged into them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from torch import nn

import mmfusion

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
ROW = re.compile(r"^\| `(?P<name>[a-z0-9_]+)` \|(?P<cells>.*)\|\s*$")
MERGED = ("models_xshiftnet.md", "models_skeleton_points.md", "models_mmixer.md", "models_deform3d.md",
          "fusion_deform3d.md")


def _table() -> dict[str, int]:
    """name -> params of the "All registered models" table."""
    text = (DOCS / "models.md").read_text(encoding="utf-8")
    section = text.split("## All registered models", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, int] = {}
    for line in section.splitlines():
        m = ROW.match(line)
        if m:
            cells = [c.strip() for c in m.group("cells").split("|")]
            assert m.group("name") not in rows, f"{m.group('name')} listed twice"
            rows[m.group("name")] = int(cells[3].replace(",", ""))   # kind | reads | returns | params | paper
    return rows


def _params(name: str) -> int:
    """Parameters of ``create_model(name)`` at its defaults (on the meta device when the model allows it)."""
    try:
        with torch.device("meta"):
            model: nn.Module = mmfusion.create_model(name)
    except (NotImplementedError, RuntimeError):          # init code that reads values needs real tensors
        model = mmfusion.create_model(name)
    return sum(p.numel() for p in model.parameters())


def test_table_lists_every_registered_model() -> None:
    assert set(_table()) == set(mmfusion.list_models())


def test_table_params_match_create_model() -> None:
    actual = {name: _params(name) for name in _table()}
    wrong = {name: (documented, actual[name]) for name, documented in _table().items() if actual[name] != documented}
    assert not wrong, f"docs/models.md params (documented, actual): {wrong}"


def _slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    s = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return s.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    return {_slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, flags=re.MULTILINE)}


@pytest.mark.parametrize("doc", ["models.md", "fusion.md"])
def test_relative_links_resolve(doc: str) -> None:
    path = DOCS / doc
    prose = re.sub(r"`[^`\n]*`", "", re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL))
    for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]+))?\)", prose):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        dest = (path.parent / target) if target else path
        assert dest.exists(), f"{doc}: link to missing {target}"
        if anchor and dest.suffix == ".md":
            assert anchor in _anchors(dest), f"{doc}: no heading #{anchor} in {dest.name}"


def test_merged_pages_are_gone_and_unreferenced() -> None:
    for name in MERGED:
        assert not (DOCS / name).exists(), f"docs/{name} was merged into models.md / fusion.md"
    sources = [ROOT / "README.md", *DOCS.glob("*.md"), *(ROOT / "mmfusion").rglob("*.py"),
               *(ROOT / "tests").glob("*.py")]
    for src in sources:
        if src.resolve() == Path(__file__).resolve():
            continue
        text = src.read_text(encoding="utf-8")
        for name in MERGED:
            assert name not in text, f"{src.relative_to(ROOT)} still refers to {name}"
