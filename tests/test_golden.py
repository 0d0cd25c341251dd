"""The seed day's post as Markdown, byte for byte: every change of the post's layout is a reviewed diff.

The post of 2024-04-01 (the day this project is modelled on), built offline from the embedded archive after
the 2024-01-24 post (so its 90-day section has an earlier post to count), is compared with
tests/golden/seed-post-2024-04-01.md: its front matter, then each Markdown output, as Quarto reads them.
After an intended change, rewrite the file and review its diff:

    PAPERPRESS_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py
"""

import os
from pathlib import Path

from .helpers import make_project, markdown_outputs, read_post, run_cli

GOLDEN = Path(__file__).parent / "golden" / "seed-post-2024-04-01.md"
POST = "posts/2024-04-01-metaverse-avatars"


def post_markdown(folder: Path) -> str:
    """A post as the Markdown Quarto reads: front matter, then every Markdown output, one blank line apart."""
    nb = read_post(folder)
    return "\n\n".join([nb.cells[0].source, *markdown_outputs(nb)]).rstrip() + "\n"


def test_seed_post_matches_its_golden_file(tmp_path):
    project = make_project(tmp_path)
    for day in ("2024-01-24", "2024-04-01"):
        result = run_cli(project, "run", "--offline", "--topic", "metaverse-avatars", "--date", day, "--no-trends")
        assert result.returncode == 0, result.stderr
    text = post_markdown(project / POST)
    if os.environ.get("PAPERPRESS_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text, encoding="utf-8")
    expected = GOLDEN.read_text(encoding="utf-8")
    # On a difference, the first differing line says where; the rewrite above shows the whole diff.
    for number, (got, want) in enumerate(zip(text.splitlines(), expected.splitlines()), 1):
        assert got == want, f"{GOLDEN.name} line {number} differs (PAPERPRESS_UPDATE_GOLDEN=1 rewrites it)"
    assert text == expected, f"{GOLDEN.name}: lines added or missing (PAPERPRESS_UPDATE_GOLDEN=1 rewrites it)"
