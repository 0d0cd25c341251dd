"""The package's stages only depend downward: no import cycles, every import to a lower layer."""

from __future__ import annotations

import ast
import re
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
    # a summary's figures and names against its source (pure)
    "claims": 2,
    # services: arXiv, OpenAlex, models (the provider-neutral core, a thin backend per provider, the run that
    # asks them), PDFs (which download through the arXiv client)
    "arxiv_api": 3, "ratelimit": 3, "llm": 3, "smtp": 3, "affiliations": 4, "backend_gemini": 4, "backend_openai": 4, "figures": 4,
    "pdf": 5, "llm_run": 5,
    # sources, summarising, trend counting
    "sources": 6, "summarise": 6, "trends": 6,
    # charts and pages
    "charts": 7, "post": 7, "site": 7, "trendpage": 8, "topicpages": 8, "mail": 7,
    # one post's flow and publishing
    "digest": 9, "publish": 9, "catchup": 9, "mailout": 10,
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


def read_readme_layers(readme: str) -> list[set[str]]:
    """The README's table of layers as groups of modules, lowest first: a row per layer, "then" inside a row
    starting the next one up ("`text`, `mailings`, then `vocab`, ..." is two layers)."""
    lines = readme.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"^\|\s*layer\s*\|\s*modules\s*\|", line))
    groups: list[set[str]] = []
    for line in lines[start + 2:]:  # after the header and its |---| line
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        for part in re.split(r"\bthen\b", cells[1]):
            groups.append(set(re.findall(r"`([a-z_]+)`", part)))
    return groups


def test_readme_lists_the_layers(root):
    readme = (root / "README.md").read_text(encoding="utf-8")
    expected = [{m for m, layer in LAYERS.items() if layer == n} for n in sorted(set(LAYERS.values()))]
    assert read_readme_layers(readme) == expected, "the README's table of layers differs from LAYERS"


def test_readme_layers_are_read_as_a_structure():
    table = """| layer | modules | what they do |\n|---|---|---|\n| a | `x`, `y`, then `z` | `w` is not a module here |
| b | `v` | text |\n\nprose naming `q`"""
    assert read_readme_layers(table) == [{"x", "y"}, {"z"}, {"v"}]


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
