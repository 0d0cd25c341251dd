"""The package's stages only depend downward: no import cycles, every import to a lower layer."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lib" / "paperpress"

# Layer of each module, lowest first (the README's layout section lists the same). An import must go
# to a strictly lower layer; a new module needs a row here.
LAYERS = {
    # records and settings
    "records": 0, "config": 0,
    # text helpers, arXiv's calendar, data-file vocabularies, the archive on disk
    "text": 1, "mailings": 1, "query": 1, "vocab": 2, "institutions": 2, "archive": 2,
    # services: arXiv, OpenAlex, Gemini, PDFs (which download through the arXiv client)
    "arxiv_api": 3, "ratelimit": 3, "affiliations": 4, "gemini": 4, "figures": 4, "pdf": 5,
    # sources, summarising, trend counting
    "sources": 6, "summarise": 6, "trends": 6,
    # charts and pages
    "charts": 7, "post": 7, "site": 7, "trendpage": 8,
    # one post's flow and publishing
    "digest": 9, "publish": 9, "catchup": 9,
    # commands
    "backfill": 10, "demo": 10, "doctor": 10, "rebuild": 10, "cli": 11,
}
ROOT_NAMES = {"__init__", "data"}  # the package itself (its version) and the data files' package


def imported_modules(path: Path) -> set[str]:
    """paperpress modules a file imports, at the top or inside functions ('from . import x' included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:  # from .x import y
                found.add(node.module.split(".")[0])
            elif node.level == 1:  # from . import x, y
                found.update(alias.name for alias in node.names)
            elif node.module and node.module.split(".")[0] == "paperpress":
                parts = node.module.split(".")
                found.update([parts[1]] if len(parts) > 1 else [a.name for a in node.names])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "paperpress" and len(parts) > 1:
                    found.add(parts[1])
    return found


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module → the paperpress modules it imports (the package root and data left out)."""
    modules = {p.stem for p in package.glob("*.py")} - ROOT_NAMES
    return {m: imported_modules(package / f"{m}.py") & modules - {m} for m in sorted(modules)}


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as a path that returns to its start ([] when the graph is acyclic)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        state[node] = 2
        path.pop()
        return []

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start)
            if cycle:
                return cycle
    return []


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert not cycle, "import cycle: " + " → ".join(cycle)


def test_every_module_has_a_layer():
    missing = sorted(set(import_graph()) - set(LAYERS))
    assert not missing, f"modules without a layer in LAYERS (and the README): {missing}"


def test_imports_point_down():
    graph = import_graph()
    upward = [f"{m} (layer {LAYERS[m]}) → {d} (layer {LAYERS[d]})"
              for m, deps in graph.items() for d in sorted(deps) if m in LAYERS and d in LAYERS and LAYERS[d] >= LAYERS[m]]
    assert not upward, "imports that do not point to a lower layer: " + "; ".join(upward)


def test_readme_lists_the_layers(root):
    readme = (root / "README.md").read_text(encoding="utf-8")
    for module in LAYERS:
        assert f"`{module}`" in readme or f" {module} " in readme, f"README's layout does not name {module}"


@pytest.mark.parametrize("source, expected", [
    ("from .trends import x", {"trends"}),
    ("from . import charts, post", {"charts", "post"}),
    ("def f():\n    from .gemini import g\n", {"gemini"}),
    ("import paperpress.pdf", {"pdf"}),
    ("from paperpress import digest", {"digest"}),
    ("from paperpress.records import Paper", {"records"}),
    ("import os\nfrom pathlib import Path", set()),
])
def test_imports_are_read(tmp_path, source, expected):
    path = tmp_path / "m.py"
    path.write_text(source, encoding="utf-8")
    assert imported_modules(path) == expected


def test_a_cycle_is_named():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) == []
