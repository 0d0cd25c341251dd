"""The first run: `paperpress demo` on the embedded archive, the template with its defaults, `make lab`."""

import ast
import json
import re
import shutil
import subprocess
import tomllib

import nbformat
import pytest

from paperpress import sources
from paperpress.archive import list_post_dates

from .helpers import BIN, ROOT, make_project, markdown_outputs, markdown_sections, read_post, tree_bytes

pytestmark = pytest.mark.slow


def list_archive_days() -> list[str]:
    """The days the embedded archive lists papers on."""
    with sources.open_sample("") as lines:
        return sorted({json.loads(line)["listed_on"] for line in lines if line.strip()})


def test_demo_posts_every_listed_day_whatever_the_weekday(demo_site):
    project, result = demo_site
    # The sample's days are the days a blog listed the papers (Fridays and Saturdays among them): an offline
    # run posts each of them, whatever arXiv's mailing calendar says.
    assert len(list_archive_days()) == 37
    assert list_post_dates(project / "posts", "metaverse-avatars") == list_archive_days()
    assert (project / "trends" / "metaverse-avatars" / "index.ipynb").is_file()
    assert (project / "_site" / "trends" / "metaverse-avatars" / "index.html").is_file()
    said = re.search(r"demo site at (\S+): (\d+) posts of metaverse-avatars and its trends page, built in (\d+) s",
                     result.stdout)
    assert said, result.stdout
    assert said.group(1) == "_site/index.html" and said.group(2) == "37"


def test_demo_post_without_affiliations_says_they_come_from_pdfs(demo_site):
    project, _ = demo_site
    text = "\n".join(markdown_outputs(read_post(project / "posts" / "2024-04-01-metaverse-avatars")))
    assert "今日暂无已知单位（单位信息来自论文 PDF）" in text


def test_embedded_archive_carries_no_affiliations():
    # The seed post's "affiliation" lines are model-written, not facts: the archive has arXiv metadata only.
    with sources.open_sample("") as lines:
        records = [json.loads(line) for line in lines if line.strip()]
    assert len(records) == 144 and not any("affiliations" in r for r in records)


def read_parameters(template) -> list[tuple[str, str, str, str]]:
    """(name, type, default as written, comment) of each assignment in a template's parameters cell."""
    cell = next(c for c in nbformat.read(template, as_version=4).cells if "parameters" in c.metadata.get("tags", []))
    names = [node.target.id for node in ast.parse(cell.source).body if isinstance(node, ast.AnnAssign)]
    found = [re.match(r"^(\w+): (\w+) = (.+?)  # (.+)$", line) for line in cell.source.splitlines()]
    rows = [m.groups() for m in found if m]
    assert [name for name, *_ in rows] == names, "every parameter needs a comment on its line"
    return rows


def test_help_notebook_lists_every_parameter_with_its_comment():
    help_text = subprocess.run([str(BIN / "papermill"), "--help-notebook", "notebooks/digest.ipynb"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout
    flat = " ".join(help_text.split())
    rows = read_parameters(ROOT / "notebooks" / "digest.ipynb")
    assert len(rows) >= 11
    for name, kind, default, comment in rows:
        assert f"{name}: {kind} (default {default}) {comment}" in flat, name


def test_template_runs_top_to_bottom_with_its_defaults_and_writes_no_files(tmp_path):
    project = make_project(tmp_path / "project")
    before = tree_bytes(project)
    out = tmp_path / "out.ipynb"
    # No parameters at all, in the notebook's own folder: what "Run All" in JupyterLab does.
    subprocess.run([str(BIN / "papermill"), "notebooks/digest.ipynb", str(out), "--cwd", "notebooks",
                    "--no-progress-bar"], cwd=project, check=True, capture_output=True)
    nb = nbformat.read(out, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))  # every cell ran, in order
    assert len([o for o in markdown_sections(nb) if "**Authors:**" in o]) == 6  # the 2024-04-01 post, inline
    assert tree_bytes(project) == before


def test_make_lab_opens_the_template_from_a_venv_of_its_own():
    if not shutil.which("make"):
        pytest.skip("make not installed")
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    assert any(req.startswith("jupyterlab") for req in extras["edit"])
    dry = subprocess.run(["make", "--no-print-directory", "-n", "-B", "lab"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "-m venv .venv-lab" in dry and ".venv-lab/bin/python -m pip install" in dry and "-e '.[edit]'" in dry
    assert re.search(r"^\.venv-lab/bin/jupyter lab .*notebooks/digest\.ipynb$", dry.strip().splitlines()[-1])
    demo = subprocess.run(["make", "--no-print-directory", "-n", "-B", "demo"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert demo.strip().splitlines()[-1].endswith("bin/paperpress demo")
