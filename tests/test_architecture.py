"""The package's shape: the import graph, the layers, module sizes and the cost of ``import mmfusion``.

The graph is read from the source (``ast``), not from a running interpreter, so it shows every
dependency a module declares, including imports deferred into functions.
"""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "mmfusion"

# Lower layers never import higher ones (deferred imports included). A module's layer is that of the
# longest prefix listed here.
LAYERS: dict[str, int] = {
    "mmfusion.errors": 0,
    "mmfusion.registry": 1, "mmfusion.model_cfg": 1, "mmfusion.runs": 1, "mmfusion.distributed": 1, "mmfusion.lazy": 1,
    "mmfusion.locks": 1, "mmfusion.cli_errors": 1,
    "mmfusion.data": 2,
    "mmfusion.encoders": 3, "mmfusion.fusion": 3,
    "mmfusion.models": 4,
    "mmfusion.engine": 5,
    "mmfusion.pose": 6,  # UniPose: models, and their training on the engine
    "mmfusion.ssl": 6,  # self-supervised objectives and their pre-training on the engine
    "mmfusion.experiments": 7, "mmfusion.pipelines": 7,
    "mmfusion.cli": 8, "mmfusion": 8,
}
# Modules allowed to stay above ~500 lines name their reason in the docstring with this marker.
MAX_LINES = 520
SIZE_MARKER = "Size:"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _resolve(mod: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


@functools.cache
def _imports_of_package() -> dict[str, list[tuple[str, bool, int]]]:
    return _imports(_modules())


def _imports(mods: dict[str, Path]) -> dict[str, list[tuple[str, bool, int]]]:
    """module -> [(imported mmfusion module, at top level?, line)]."""
    out: dict[str, list[tuple[str, bool, int]]] = {}
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(), str(path))
        top = {id(n) for n in tree.body}
        # imports under a top-level `if TYPE_CHECKING:` are not executed
        for n in tree.body:
            if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test):
                top |= {id(m) for m in ast.walk(n)}
        edges: list[tuple[str, bool, int]] = []
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(mod, path.name == "__init__.py", node)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for t in targets:
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t.startswith("mmfusion") and t != mod:
                    is_type_only = any(isinstance(p, ast.If) and "TYPE_CHECKING" in ast.unparse(p.test)
                                       for p in tree.body if id(node) in {id(m) for m in ast.walk(p)})
                    if not is_type_only:
                        edges.append((t, id(node) in top, node.lineno))
        out[mod] = edges
    return out


def _layer(mod: str) -> int:
    best = max((k for k in LAYERS if mod == k or mod.startswith(k + ".")), key=len)
    return LAYERS[best]


def test_no_import_cycle_among_top_level_imports() -> None:
    graph = {m: sorted({t for t, top, _ in e if top}) for m, e in _imports_of_package().items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in graph.get(m, []):
            # a package importing its own submodules (and they importing siblings) is how packages work;
            # a cycle through a parent package's __init__ only is not one to report
            if state.get(t) == 1:
                cycle = stack[stack.index(t):] + [t]
                if not all(c.startswith(cycle[0] + ".") or c == cycle[0] for c in cycle[1:-1]):
                    raise AssertionError("import cycle: " + " -> ".join(cycle))
            elif state.get(t) is None:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_lower_layers_never_import_higher_ones() -> None:
    mods = _modules()
    bad = []
    for m, edges in _imports_of_package().items():
        if m == "mmfusion":
            continue
        for t, _top, line in edges:
            if t != "mmfusion" and _layer(t) > _layer(m):
                bad.append(f"{mods[m].relative_to(PKG.parent)}:{line} ({m}, layer {_layer(m)}) imports {t} "
                           f"(layer {_layer(t)})")
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def test_modules_stay_small_or_say_why() -> None:
    big = []
    for p in _modules().values():
        n = len(p.read_text().splitlines())
        doc = ast.get_docstring(ast.parse(p.read_text())) or ""
        if n > MAX_LINES and SIZE_MARKER not in doc:
            big.append(f"{p.relative_to(PKG.parent)}: {n} lines")
    assert not big, f"modules over {MAX_LINES} lines without a '{SIZE_MARKER}' reason in the docstring: {big}"


@pytest.mark.slow
def test_import_mmfusion_is_light() -> None:
    """``import mmfusion`` pulls in no heavy optional package (its cost: benchmarks/bench_import.py)."""
    code = "import mmfusion, sys; print(','.join(sorted(sys.modules)))"
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout.strip().split(","))
    heavy = {"open3d", "timm", "accelerate", "decord", "av", "matplotlib", "numba", "h5py", "torchvision"}
    assert not heavy & loaded, f"import mmfusion imports {sorted(heavy & loaded)}"
