"""Helpers for tests that run the real command in a throwaway copy of the project."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def make_project(folder: Path) -> Path:
    """A minimal project folder: topics.yml and the templates, as a user's checkout has them."""
    (folder / "notebooks").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "topics.yml", folder / "topics.yml")
    for template in ("digest.ipynb", "trends.ipynb"):
        shutil.copy(ROOT / "notebooks" / template, folder / "notebooks" / template)
    return folder


def add_site_files(project: Path) -> Path:
    """The Quarto website's own files (config, home, about, topics and trends listings), as a checkout has them."""
    for name in ("_quarto.yml", "index.qmd", "about.qmd", "topics.qmd", "trends.qmd"):
        if (ROOT / name).is_file():
            shutil.copy(ROOT / name, project / name)
    return project


def in_ci() -> bool:
    """Whether the tests run in CI (.ci/run exports CI=true, as most CI services do)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def require(present: bool, what: str) -> None:
    """A test's system dependency: skipped (saying why) when it is missing, but failed in CI, whose set-up installs it."""
    if present:
        return
    if in_ci():
        pytest.fail(f"CI=true: {what}; scripts/system-deps.sh (make install) installs it", pytrace=False)
    pytest.skip(what)


def system_has_cjk_font() -> bool:
    """Whether an installed font file has Chinese glyphs, found without the code under test (charts.find_cjk_font)."""
    from matplotlib import font_manager, ft2font

    for path in font_manager.findSystemFonts():
        try:
            if ft2font.FT2Font(path).get_char_index(ord("中")):
                return True
        except (OSError, RuntimeError):
            continue
    return False


def files_holding(folder: Path, secret: str) -> list[str]:
    """Every file under folder (hidden ones and logs included, whatever the suffix) whose bytes hold secret."""
    needle = secret.encode("utf-8")
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes())


CALLER_SETTINGS = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL", "PAPERPRESS_MODEL",
                   "OPENALEX_API_KEY")


def run_cli(project: Path, *args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `paperpress ARGS` in the project folder, as a user would."""
    # A developer's own keys and model settings never reach a test's run: each test sets what it needs.
    full_env = {k: v for k, v in os.environ.items() if k not in CALLER_SETTINGS and not k.startswith(("SMTP_", "PAPERPRESS_MAIL_TO"))}
    full_env.update(env or {})
    return subprocess.run([str(BIN / "paperpress"), *args], cwd=project, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def tree_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under a folder with its bytes (to compare runs)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def write_jsonl(path: Path, records: list[dict]) -> Path:
    """A JSONL file in the sample format."""
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def read_post(folder: Path) -> nbformat.NotebookNode:
    """The post notebook of a post folder."""
    return nbformat.read(folder / "index.ipynb", as_version=4)


def markdown_outputs(nb) -> list[str]:
    """All text/markdown outputs of a notebook, in order."""
    return [o["data"]["text/markdown"] for c in nb.cells if c.cell_type == "code"
            for o in c.get("outputs", []) if "text/markdown" in o.get("data", {})]


def markdown_sections(nb) -> list[str]:
    """The Markdown outputs cut before each level-2 heading (one cell's output may hold several sections)."""
    return re.split(r"\n(?=## )", "\n\n".join(markdown_outputs(nb)))


def chart_links(nb) -> list[tuple[str, str]]:
    """(file, alt) of each chart a notebook's Markdown outputs link to: `![](charts/x.png){fig-alt="…"}`."""
    text = "\n".join(markdown_outputs(nb))
    return [(path, re.sub(r"\\(.)", r"\1", alt)) for path, alt in
            re.findall(r'!\[\]\((charts/[\w-]+\.png)\)\{fig-alt="((?:[^"\\]|\\.)*)"\}', text)]


def html_tables(nb) -> dict[str, list[tuple[str, ...]]]:
    """The HTML tables a notebook's outputs show (in HTML or Markdown outputs): caption → rows of cell texts."""
    tables = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            data = output.get("data", {})
            text = data.get("text/html", "") + data.get("text/markdown", "")
            for table in re.findall(r"<table.*?</table>", text, re.S):
                caption = re.search(r"<caption>(.*?)</caption>", table, re.S)
                rows = [tuple(re.findall(r"<td>(.*?)</td>", row, re.S)) for row in re.findall(r"<tr.*?</tr>", table, re.S)]
                tables[caption.group(1) if caption else ""] = [row for row in rows if row]
    return tables
