"""The website: `quarto render` when Quarto is installed, else a pandoc-built preview in _site/.

The preview mirrors Quarto's layout (`_site/index.html`, `_site/posts/<folder>/index.html`,
`_site/about.html`, `_site/topics.html`) so links keep working when Quarto takes over. It needs
no JavaScript and is deterministic: the same project gives the same bytes.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import importlib.util
import json
import logging
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import quote

import nbformat
import pypandoc
import yaml

from .config import PaperpressError, load_labels
from .text import fence, quote_attribute

log = logging.getLogger(__name__)

GENERATOR = "paperpress preview (pandoc)"
PREVIEW_NOTICE = "Quarto not found: built a pandoc preview (run `quarto render` for the full site)"
SECTIONS = ("posts", "trends")
SKIPPED_FILES = {"index.ipynb", "digest.json"}
FIGURE_DIR = "index_files/figure-html"  # where Quarto puts a notebook's figures
IMAGE_TYPES = {"image/png": "png", "image/jpeg": "jpg", "image/svg+xml": "svg"}
# pandoc's Markdown; no YAML blocks inside bodies (front matter goes in as a metadata file) and no
# implicit figures (an output image is an image, not a caption).
READER = "markdown-yaml_metadata_block-implicit_figures"
# Front-matter text fields Quarto reads as Markdown, as it does `categories` (pandoc parses every metadata
# string, raw HTML included); the preview reads them the same way, so unescaped outside text shows here as there.
TEXT_FIELDS = ("title", "subtitle", "description")
LANG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # terminal colours in tracebacks
SHORTCODE = re.compile(r"\{\{<.*?>\}\}", re.DOTALL)
SITE_LABELS = load_labels("site")  # data/labels.yml: the preview's own words, in the site's language
# The navbar of a _quarto.yml without one (Quarto shows none then; the preview keeps its pages reachable).
DEFAULT_NAVBAR = (("index.html", "Home"), ("topics.html", "Topics"), ("trends.html", "Trends"), ("about.html", "About"))


@dataclass(frozen=True)
class Shown:
    """Front-matter strings as the site shows them: Markdown read by pandoc, as HTML and as plain text."""

    html: dict[str, str] = field(default_factory=dict)
    plain: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Page:
    """One notebook page of the site: its folder and its front matter."""

    section: str
    folder: Path
    meta: dict[str, Any] = field(hash=False)

    @property
    def href(self) -> str:
        """Link to the page from the site root."""
        return f"{self.section}/{quote(self.folder.name)}/index.html"

    @property
    def date(self) -> str:
        """The front-matter date as text ('' if none)."""
        return format_date(self.meta.get("date"))


def render_site(root: Path, quarto: str | None = "quarto") -> Path:
    """Render the site into root/_site and return its index.html (a pandoc preview without Quarto)."""
    root = Path(root)
    executable = (find_quarto() if quarto == "quarto" else shutil.which(quarto)) if quarto else None
    if quarto and not executable and os.sep in quarto:
        raise PaperpressError(f"quarto not found or not executable: {quarto}")
    if executable:
        return run_quarto(root, executable)
    index = build_preview(root)
    log.warning("%s: %s", PREVIEW_NOTICE, index)
    return index


def find_quarto() -> str | None:
    """The Quarto that `paperpress render` runs: on PATH or beside this Python (pip's quarto-cli), else None."""
    found = shutil.which("quarto") or shutil.which("quarto", path=str(Path(sys.executable).parent))
    if not found:
        return None
    # pip's quarto-cli installs a `quarto` script that runs the binary it fetched into the package
    # (quarto_cli/quarto-<version>/bin/quarto) but drops its exit code (quarto-cli setup.py console_scripts
    # "quarto = quarto_cli:run_quarto", which returns None): run that binary itself, so a failure shows.
    try:
        head = Path(found).read_bytes()[:4096]
    except OSError:
        return found
    if head.startswith(b"#!") and b"quarto_cli" in head:
        spec = importlib.util.find_spec("quarto_cli")
        package = Path(spec.origin).parent if spec and spec.origin else None
        binaries = sorted(package.glob("quarto-*/bin/quarto")) if package else []
        return str(binaries[-1]) if binaries else found
    return found


def is_preview(index: Path) -> bool:
    """Whether a rendered index.html is the pandoc preview rather than Quarto's site."""
    try:
        head = Path(index).read_text(encoding="utf-8", errors="replace")[:2000]
    except FileNotFoundError:
        return False
    return f'<meta name="generator" content="{GENERATOR}">' in head


def run_quarto(root: Path, quarto: str) -> Path:
    """Run `quarto render` in root and return _site/index.html."""
    subprocess.run([quarto, "render"], cwd=root, check=True)
    return root / "_site" / "index.html"


def build_preview(root: Path) -> Path:
    """Build the pandoc preview in a temporary folder of root, then swap it in as root/_site."""
    work = Path(tempfile.mkdtemp(prefix="._site-build-", dir=root))
    try:
        site = work / "_site"
        site.mkdir()
        write_preview(root, site)
        swap_dirs(site, root / "_site", work / "old")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return root / "_site" / "index.html"


def swap_dirs(new: Path, target: Path, trash: Path) -> None:
    """Replace target by new, moving the old target to trash first."""
    if target.exists():
        target.rename(trash)
    new.rename(target)


def write_preview(root: Path, site: Path) -> None:
    """Write every page of the preview into site."""
    config = read_config(root)
    pages = [page for section in SECTIONS for page in find_pages(root, section)]
    qmds = {name: read_qmd(root / f"{name}.qmd")[0] for name in ("index", "topics", "about", "trends")}
    shown = render_fields([config["description"], *[t for m in [p.meta for p in pages] + list(qmds.values())
                                                     for t in list_fields(m)]])
    libs = site / "site_libs"
    libs.mkdir()
    (libs / "preview.css").write_bytes(read_data("preview.css").encode("utf-8"))
    project = read_yaml(root / "_quarto.yml")
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda page: write_notebook_page(page, site, config, shown, toc_depth(project, page)), pages))
    posts = sort_pages([p for p in pages if p.section == "posts"])
    trends = sort_pages([p for p in pages if p.section == "trends"])
    words = site_words(config)
    write_qmd_page(root / "index.qmd", site / "index.html", config, shown, render_listing(posts, shown, words["no_posts"]))
    topics = render_topics(trends, find_listing(qmds["topics"], "topics"), shown, words["no_topics"])
    write_qmd_page(root / "topics.qmd", site / "topics.html", config, shown, topics + render_topic_pages(root))
    write_qmd_page(root / "about.qmd", site / "about.html", config, shown, "")
    trends_list = render_listing(trends, shown, words["no_trends"])
    write_qmd_page(root / "trends.qmd", site / "trends.html", config, shown, trends_list)
    write_generated_pages(root, site, config, posts)


def site_words(config: dict[str, Any]) -> dict[str, str]:
    """The preview's own words in the site's language (`lang` of _quarto.yml): Chinese for zh*, else English."""
    return SITE_LABELS["zh" if str(config["lang"]).lower().startswith("zh") else "en"]


def list_fields(meta: dict[str, Any]) -> list[str]:
    """The Markdown strings of a page's front matter (title, subtitle, description, categories, a trends page's
    topic-* fields, which the Topics listing shows as Markdown as Quarto's table listing does)."""
    topic = [str(value) for key, value in meta.items() if str(key).startswith("topic-") and isinstance(value, str)]
    return [str(meta[key]) for key in TEXT_FIELDS if meta.get(key)] + list_categories(meta) + topic


def render_fields(texts: Iterable[str]) -> Shown:
    """Read front-matter strings as Quarto does (pandoc Markdown): each as HTML and as plain text, one pandoc call each."""
    unique = sorted({t for t in texts if t})
    if not unique:
        return Shown()
    return Shown(dict(zip(unique, convert_fields(unique, "html5"))), dict(zip(unique, convert_fields(unique, "plain"))))


def convert_fields(texts: list[str], to: str) -> list[str]:
    """Convert metadata strings with pandoc (as a metadata file: strings are Markdown there) into `to`."""
    separator = f"@@paperpress-{secrets.token_hex(8)}@@"  # no text can hold a token it never saw
    with tempfile.TemporaryDirectory(prefix="paperpress-fields-") as folder:
        template, meta = Path(folder) / "fields.tpl", Path(folder) / "fields.json"
        template.write_text(f"$for(items)$$items$$sep$\n{separator}\n$endfor$\n", encoding="utf-8")
        meta.write_text(json.dumps({"items": texts, "pagetitle": "fields"}), encoding="utf-8")
        command = [pypandoc.get_pandoc_path(), "--from=markdown", f"--to={to}", "--standalone", "--wrap=none",
                   f"--template={template}", f"--metadata-file={meta}"]
        done = subprocess.run(command, input=b"", capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pandoc failed ({done.returncode}): {done.stderr.decode('utf-8', 'replace').strip()}")
    parts = [part.strip() for part in done.stdout.decode("utf-8").split(f"\n{separator}\n")]
    if len(parts) != len(texts):
        raise RuntimeError(f"pandoc gave {len(parts)} fields for {len(texts)}")
    return parts


def read_config(root: Path) -> dict[str, Any]:
    """Read the site title, description, language, address and navbar (href, text pairs) from _quarto.yml."""
    data = read_yaml(root / "_quarto.yml")
    website = data.get("website") or {}
    return {
        "site-title": str(website.get("title") or "paperpress"),
        "description": str(website.get("description") or ""),
        "lang": clean_lang(data.get("lang")),
        "site-url": str(website.get("site-url") or ""),
        # The today page is written by `paperpress pages`: no navbar link while it is missing.
        "navbar": tuple(item for item in read_navbar(website)
                        if item[0] != "today.html" or (root / "today.qmd").is_file()),
    }


def read_navbar(website: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The navbar's left items as (href of the rendered page, text); the default four when there is none."""
    items = ((website.get("navbar") or {}).get("left") or []) if isinstance(website.get("navbar"), dict) else []
    found = []
    for item in items:
        if isinstance(item, dict) and item.get("href"):
            href = re.sub(r"\.(qmd|ipynb|md)$", ".html", str(item["href"]))
            found.append((href, str(item.get("text") or Path(href).stem)))
    return tuple(found) or DEFAULT_NAVBAR


def render_navbar(config: dict[str, Any], root: str) -> str:
    """The preview's navbar links (text escaped: _quarto.yml is ours, but a page never trusts text)."""
    return "\n".join(f'<a href="{html.escape(root + quote(href))}">{html.escape(text)}</a>'
                     for href, text in config["navbar"] if "://" not in href)


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping file ({} when it is missing or not a mapping)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    return data if isinstance(data, dict) else {}


def toc_depth(project: dict[str, Any], page: Page) -> int:
    """The depth of the table of contents Quarto gives a page, 0 for none (toc, toc-depth: Quarto's defaults
    false and 3, then _quarto.yml, the folder's _metadata.yml and the front matter, the html format's last)."""
    found: dict[str, Any] = {"toc": False, "toc-depth": 3}
    for layer in (project, read_yaml(page.folder.parent / "_metadata.yml"), page.meta):
        html_format = ((layer.get("format") or {}) if isinstance(layer.get("format"), dict) else {}).get("html")
        for options in (layer, html_format if isinstance(html_format, dict) else {}):
            found.update({key: options[key] for key in ("toc", "toc-depth") if key in options})
    depth = found["toc-depth"]
    return depth if found["toc"] is True and isinstance(depth, int) and depth > 0 else 0


def read_data(name: str) -> str:
    """Read a file shipped in paperpress/data."""
    return resources.files("paperpress").joinpath("data", name).read_text(encoding="utf-8")


def find_pages(root: Path, section: str) -> list[Page]:
    """Find the notebook pages of a section (posts or trends), in folder order."""
    pages = []
    for path in sorted((root / section).glob("*/index.ipynb")):
        if path.parent.name.startswith("."):
            continue  # not a page: a folder set aside while a post was replaced (Quarto skips them too)
        notebook = nbformat.read(path, as_version=4)
        try:
            meta = read_front_matter(notebook)[0]
        except yaml.YAMLError as error:
            raise PaperpressError(f"{path}: front matter is not valid YAML: {error}") from None
        pages.append(Page(section, path.parent, meta))
    return pages


def sort_pages(pages: Iterable[Page]) -> list[Page]:
    """Sort pages newest first: by front-matter date, then folder name."""
    return sorted(pages, key=lambda p: (date_key(p.meta.get("date")), p.folder.name), reverse=True)


def date_key(value: Any) -> str:
    """A sortable text form of a front-matter date."""
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value or "")


def format_date(value: Any) -> str:
    """The date shown on pages: YYYY-MM-DD for dates and datetimes, else the text as given."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.strftime("%Y-%m-%d")
    return str(value or "")


def clean_lang(value: Any) -> str:
    """A BCP 47-looking language tag, else 'en'."""
    text = str(value or "")
    return text if LANG.match(text) else "en"


def read_front_matter(notebook: nbformat.NotebookNode) -> tuple[dict[str, Any], int | None]:
    """Return the YAML front matter of the first raw `---` cell and that cell's index."""
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "raw" and cell.source.lstrip().startswith("---"):
            return parse_yaml_block(cell.source), index
    return {}, None


def parse_yaml_block(text: str) -> dict[str, Any]:
    """Parse the YAML between the first two `---` lines of text ({} if none or not a mapping)."""
    lines = text.strip().splitlines()
    if not lines or lines[0].strip() != "---":
        return {}
    end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() in ("---", "...")), len(lines))
    data = yaml.safe_load("\n".join(lines[1:end]))
    return data if isinstance(data, dict) else {}


def read_qmd(path: Path) -> tuple[dict[str, Any], str]:
    """The front matter and body of a .qmd file (empty when it is missing)."""
    return split_qmd(path.read_text(encoding="utf-8")) if path.exists() else ({}, "")


def split_qmd(text: str) -> tuple[dict[str, Any], str]:
    """Split a .qmd file into its front matter and its Markdown body."""
    lines = text.splitlines()
    if lines and lines[0].strip() == "---":
        end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() in ("---", "...")), None)
        if end is not None:
            return parse_yaml_block("\n".join(lines[: end + 1])), "\n".join(lines[end + 1 :])
    return {}, text


def write_notebook_page(page: Page, site: Path, config: dict[str, str], shown: Shown, toc: int = 0) -> None:
    """Convert one post or trends notebook into site/<section>/<folder>/index.html (toc: its TOC depth)."""
    out_dir = site / page.section / page.folder.name
    copy_page_files(page.folder, out_dir)
    notebook = nbformat.read(page.folder / "index.ipynb", as_version=4)
    markdown = convert_notebook(notebook, out_dir)
    body = run_pandoc(markdown, page_metadata(page.meta, config, shown), page_variables(page.meta, config, "../../", shown),
                      toc, fields=markdown_fields(page.meta))
    (out_dir / "index.html").write_text(body, encoding="utf-8")


def copy_page_files(source: Path, target: Path) -> None:
    """Copy a page folder's files (charts, figures) except notebooks, the digest sidecar and hidden files."""
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if not path.is_file() or is_private(relative):
            continue
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / relative)
    target.mkdir(parents=True, exist_ok=True)


def is_private(relative: Path) -> bool:
    """Whether a file of a page folder stays out of the site (notebooks, digest.json, hidden files)."""
    hidden = any(part.startswith(".") or part == "__pycache__" for part in relative.parts)
    return hidden or relative.suffix == ".ipynb" or relative.as_posix() in SKIPPED_FILES


# The preview turns a notebook into Markdown the way Quarto's Jupyter engine does (quarto-cli 5d1da59,
# src/core/jupyter/jupyter.ts), so that pandoc builds the same table of contents from it: pandoc lists a
# heading inside a div only when it opens that div and no other heading of its level follows in it
# (jgm/pandoc#8518, quarto-cli#5037), so the divs Quarto puts around cells and outputs decide what the
# "On this page" box shows.

# Options a cell's tags set (jupyter.ts:1121-1185, tagMapping).
TAG_OPTIONS = {"hide-cell": {"include": False}, "remove-cell": {"include": False}, "hide-code": {"echo": False},
               "hide-output": {"output": False}, "hide-warnings": {"warning": False}, "show-code": {"echo": True},
               "show-output": {"output": True}, "show-warnings": {"warning": True}}
# Option and metadata keys Quarto keeps off a cell's div (jupyter.ts:200-266: kJupyterCellInternalOptionKeys,
# kJupyterCellStandardMetadataKeys, kJupyterCellThirdPartyMetadataKeys). Any other key, papermill's
# `tags: []` included, is copied onto a div around the cell, even with `output: asis` (jupyter.ts:1427-1457,
# forwardedAttrs → needCell). Quarto compares the key lower-cased with this list, so "outputId" never matches.
UNFORWARDED_KEYS = frozenset({
    "eval", "echo", "warning", "error", "output", "include", "label", "classes", "panel", "column", "fig-cap",
    "fig-subcap", "fig-scap", "fig-cap-location", "tbl-cap-location", "cap-location", "fig-column", "tbl-column",
    "fig-link", "fig-align", "fig-alt", "fig-env", "fig-pos", "lst-label", "lst-cap", "out-width", "out-height",
    "md-indent", "code-fold", "code-line-numbers", "code-summary", "code-overflow", "html-table-processing",
    "collapsed", "autoscroll", "deletable", "format", "name", "id", "colab", "colab_type", "outputId",
    "lines_to_next_cell", "language",
})
# Options that also put a div around the cell: a label, classes, captions (jupyter.ts:1453-1457, needCell).
CELL_DIV_OPTIONS = ("label", "classes", "panel", "column", "fig-column", "tbl-column", "cap-location",
                    "fig-cap-location", "tbl-cap-location", "fig-cap", "tbl-cap")
# Which representation of an output Quarto takes for HTML: text/html first (display-data.ts:45-100).
DISPLAY_PRIORITY = ("text/html", "text/markdown", "image/svg+xml", "image/png", "image/jpeg", "text/plain")


def convert_notebook(notebook: nbformat.NotebookNode, out_dir: Path) -> str:
    """Turn an executed notebook into Quarto's Markdown for it (code never shown), writing images into out_dir."""
    _, front = read_front_matter(notebook)
    chunks = [convert_cell(cell, index, out_dir) for index, cell in enumerate(notebook.cells) if index != front]
    return "\n".join(chunk for chunk in chunks if chunk.strip())


def read_cell_options(cell: nbformat.NotebookNode) -> dict[str, Any]:
    """A code cell's options: those of its tags, then its leading `#|` YAML lines (which win)."""
    options: dict[str, Any] = {}
    for tag in cell.get("metadata", {}).get("tags", []):
        options.update(TAG_OPTIONS.get(tag, {}))
    lines = []
    for line in cell.source.splitlines():
        if not line.startswith("#|"):
            break
        lines.append(line[2:].removeprefix(" "))
    try:
        found = yaml.safe_load("\n".join(lines)) if lines else None
    except yaml.YAMLError:
        found = None
    options.update(found if isinstance(found, dict) else {})
    return options


def convert_cell(cell: nbformat.NotebookNode, index: int, out_dir: Path) -> str:
    """One cell as Quarto writes it: Markdown as is, HTML raw cells, a code cell's outputs in their divs."""
    if cell.cell_type == "markdown":
        return cell.source.rstrip("\n") + "\n"
    if cell.cell_type == "raw":
        return fence(cell.source, "{=html}") + "\n" if is_html_raw(cell) else ""
    options = read_cell_options(cell)
    if cell.cell_type != "code" or options.get("include") is False or options.get("output") is False:
        return ""
    asis = options.get("output") == "asis"
    chunks = []
    for number, output in enumerate(cell.get("outputs", []), 1):
        chunk = convert_output(output, f"cell-{index + 1}-output-{number}", options, out_dir)
        if chunk and not asis:  # jupyter.ts:1577-1613: each output in a div of its own
            chunk = f"\n::: {{{output_classes(output)}}}\n{chunk}:::\n"
        chunks.append(chunk)
    body = "".join(chunks)
    attributes = forwarded_attributes(cell, options)
    if not body or (asis and not attributes and not any(options.get(k) for k in CELL_DIV_OPTIONS)):
        return body  # output: asis: the outputs as they are (jupyter.ts:1338-1344, 1729)
    count = [f"execution_count={cell.execution_count}"] if isinstance(cell.get("execution_count"), int) else []
    opening = " ".join([f"#{cell.id}"] * bool(cell.get("id")) + [".cell", *attributes, *count])
    return f"::: {{{opening}}}\n{body}:::\n"


def forwarded_attributes(cell: nbformat.NotebookNode, options: dict[str, Any]) -> list[str]:
    """The attributes Quarto copies onto a cell's div from its metadata and options (jupyter.ts:1427-1446)."""
    attributes = []
    for key, value in {**cell.get("metadata", {}), **options}.items():
        if key.lower() in UNFORWARDED_KEYS or value is None:
            continue
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        attributes.append(f"{key}='{text.replace(chr(39), chr(92) + chr(39))}'")
    return attributes


def output_classes(output: nbformat.NotebookNode) -> str:
    """The classes of an output's div (jupyter.ts:1585-1605)."""
    if output.get("output_type") == "stream":
        return f".cell-output .cell-output-{output.get('name', 'stdout')}"
    kind = output.get("output_type")
    kind = "display" if kind in ("display_data", "execute_result") else kind
    markdown = " .cell-output-markdown" if pick_mime(output) == "text/markdown" else ""
    return f".cell-output .cell-output-{kind}{markdown}"


def is_html_raw(cell: nbformat.NotebookNode) -> bool:
    """Whether a raw cell is meant for HTML output."""
    metadata = cell.get("metadata", {})
    kind = str(metadata.get("format") or metadata.get("raw_mimetype") or "")
    return kind in ("text/html", "html")


def pick_mime(output: nbformat.NotebookNode) -> str | None:
    """The representation of a display output Quarto's HTML output uses."""
    data = output.get("data", {})
    return next((mime for mime in DISPLAY_PRIORITY if mime in data), None)


def convert_output(output: nbformat.NotebookNode, stem: str, options: dict[str, Any], out_dir: Path) -> str:
    """One output as Quarto writes it (jupyter.ts, mdOutputDisplayData, mdOutputStream, mdOutputError)."""
    kind = output.get("output_type")
    if kind == "stream":
        if output.get("name") == "stderr" and options.get("warning") is False:
            return ""
        text = ANSI.sub("", to_text(output.get("text", "")))
        return text if options.get("output") == "asis" and output.get("name") == "stdout" else fence(text, "") + "\n"
    if kind == "error":
        trace = ANSI.sub("", "\n".join(output.get("traceback", [])))
        error = f"{output.get('ename', '')}: {output.get('evalue', '')}" + (f"\n{trace}" if trace else "")
        return fence(error, "") + "\n"
    mime = pick_mime(output)
    data = output.get("data", {})
    if mime == "text/html":
        return fence(to_text(data[mime]), "{=html}") + "\n"
    if mime == "text/markdown":
        return to_text(data[mime]) + "\n"
    if mime in IMAGE_TYPES:
        name = write_image(data[mime], mime, f"{stem}.{IMAGE_TYPES[mime]}", out_dir)
        # Quarto: no alt from the output's metadata, the cell's fig-alt as an attribute (mdImageOutput).
        alt = options.get("fig-alt")
        return f"![]({name})" + (f"{{fig-alt={quote_attribute(str(alt))}}}" if alt else "") + "\n"
    if mime == "text/plain":
        return fence(to_text(data[mime]), "") + "\n"
    return ""


def to_text(value: Any) -> str:
    """Join an output's text (a string or a list of lines)."""
    return "".join(value) if isinstance(value, list) else str(value)


def write_image(value: Any, mime: str, name: str, out_dir: Path) -> str:
    """Write an output image next to the page and return its relative path."""
    target = out_dir / FIGURE_DIR / name
    target.parent.mkdir(parents=True, exist_ok=True)
    text = to_text(value)
    target.write_bytes(text.encode("utf-8") if mime == "image/svg+xml" else base64.b64decode(text))
    return f"{FIGURE_DIR}/{name}"


def page_metadata(meta: dict[str, Any], config: dict[str, str], shown: Shown) -> dict[str, Any]:
    """Our own fields, passed to pandoc as literal metadata strings (pandoc escapes them)."""
    title = shown.plain.get(str(meta.get("title") or ""), "")
    result: dict[str, Any] = {
        "pagetitle": f"{title} – {config['site-title']}" if title and title != config["site-title"] else config["site-title"],
        "site-title": config["site-title"],
    }
    if meta.get("date"):
        result["date"] = format_date(meta["date"])
    return result


def markdown_fields(meta: dict[str, Any]) -> dict[str, Any]:
    """The front-matter fields pandoc reads as Markdown, as Quarto does: TEXT_FIELDS and categories."""
    fields: dict[str, Any] = {key: str(meta[key]) for key in TEXT_FIELDS if meta.get(key)}
    fields["categories"] = list_categories(meta)
    return fields


def page_variables(meta: dict[str, Any], config: dict[str, str], root: str, shown: Shown) -> dict[str, str]:
    """Template variables (inserted verbatim, so escaped or validated here)."""
    variables = {"root": root, "generator": GENERATOR, "lang": clean_lang(meta.get("lang") or config["lang"]),
                 "navbar": render_navbar(config, root), "footer": site_words(config)["footer"]}
    date = format_date(meta.get("date"))
    if ISO_DATE.match(date):
        variables["date-iso"] = date[:10]
    description = shown.plain.get(str(meta.get("description") or config["description"]), "")
    if description:
        variables["description-attr"] = html.escape(" ".join(description.split()))
    return variables


def list_categories(meta: dict[str, Any]) -> list[str]:
    """The front-matter categories as a list of strings."""
    value = meta.get("categories") or []
    return [str(c) for c in (value if isinstance(value, list) else [value]) if str(c).strip()]


def run_pandoc(markdown: str, metadata: dict[str, Any], variables: dict[str, str], toc: int = 0,
               fields: dict[str, Any] | None = None) -> str:
    """Convert Markdown to a standalone HTML page with the preview template (toc: the TOC's depth, 0 for none).

    metadata holds literal strings; fields (front matter) go in a metadata file, where pandoc reads
    strings as Markdown, as Quarto does.
    """
    filters = resources.files("paperpress").joinpath("data", "preview-filter.lua")
    args = ["--standalone", f"--template={template_path()}", "--wrap=none", f"--lua-filter={filters}"]
    if toc:
        args += ["--toc", f"--toc-depth={toc}"]
    for key, value in metadata.items():
        values = value if isinstance(value, list) else [value]
        args += [f"--metadata={key}={item}" for item in values]
    args += [f"--variable={key}={value}" for key, value in variables.items()]
    with tempfile.TemporaryDirectory(prefix="paperpress-page-") as folder:
        meta = Path(folder) / "front-matter.json"
        meta.write_text(json.dumps(fields or {}, ensure_ascii=False), encoding="utf-8")
        command = [pypandoc.get_pandoc_path(), f"--from={READER}", "--to=html5", f"--metadata-file={meta}", *args]
        done = subprocess.run(command, input=markdown.encode("utf-8"), capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pandoc failed ({done.returncode}): {done.stderr.decode('utf-8', 'replace').strip()}")
    return done.stdout.decode("utf-8")


def template_path() -> str:
    """Path of the shipped preview template."""
    return str(resources.files("paperpress").joinpath("data", "preview-template.html"))


def write_qmd_page(source: Path, target: Path, config: dict[str, str], shown: Shown, extra_html: str,
                   root: str = "") -> None:
    """Render a .qmd page (its Markdown body, Quarto shortcodes removed) plus generated HTML."""
    meta, body = read_qmd(source)
    markdown = SHORTCODE.sub("", body).strip()
    if extra_html:
        markdown += "\n\n" + fence(extra_html, "{=html}")
    page_meta = {k: v for k, v in meta.items() if k in ("title", "subtitle", "description", "lang")}
    html_page = run_pandoc(markdown + "\n", page_metadata(page_meta, config, shown),
                           page_variables(page_meta, config, root, shown), fields=markdown_fields(page_meta))
    target.write_text(html_page, encoding="utf-8")


def render_listing(pages: list[Page], shown: Shown, empty: str = "No posts yet.") -> str:
    """HTML of a listing (the home page's posts, the trends pages): one item per page, newest first."""
    if not pages:
        return f'<p class="listing-empty">{html.escape(empty)}</p>'
    return '<div class="listing">\n' + "\n".join(render_listing_item(page, shown) for page in pages) + "\n</div>"


def show_title(page: Page, shown: Shown) -> str:
    """A page's title as HTML: its front-matter title read as Markdown, else its folder name as text."""
    # Quarto's listing puts title, description and categories unescaped into Markdown (item-default.ejs.md:
    # `<%= item.title %>`, lodash's raw interpolation) that its markdown pipeline renders with pandoc
    # (website-listing-template.ts, templateMarkdownHandler): the same reading as the page's own title.
    title = str(page.meta.get("title") or "")
    return shown.html[title] if title else html.escape(page.folder.name)


def render_listing_item(page: Page, shown: Shown) -> str:
    """HTML of one listing item: image, title link, date, categories, description (front matter read as Markdown)."""
    href = html.escape(page.href)
    parts = ['<article class="listing-item">']
    image = find_listing_image(page)
    if image:  # Quarto's listing writes image-alt as it is, attribute-encoded (website-listing-template.ts, img)
        alt = html.escape(" ".join(str(page.meta.get("image-alt") or "").split()))
        parts.append(f'<a href="{href}"><img src="{html.escape(image)}" alt="{alt}"></a>')
    parts.append(f'<h3 class="listing-title"><a href="{href}">{show_title(page, shown)}</a></h3>')
    meta = [html.escape(page.date)] if page.date else []
    meta += [render_category_link(c, shown) for c in list_categories(page.meta)]
    if meta:
        parts.append(f'<p class="listing-meta">{" · ".join(meta)}</p>')
    if page.meta.get("description"):
        parts.append(f'<div class="listing-description">{shown.html[str(page.meta["description"])]}</div>')
    parts.append("</article>")
    return "\n".join(parts)


def find_listing_image(page: Page) -> str | None:
    """Link to the post's front-matter image if it is a file inside the post folder."""
    value = str(page.meta.get("image") or "")
    if not value or "://" in value or value.startswith("/"):
        return None
    path = (page.folder / value).resolve()
    if not path.is_file() or not path.is_relative_to(page.folder.resolve()) or is_private(Path(value)):
        return None
    return f"{page.section}/{quote(page.folder.name)}/{quote(value)}"


def render_category_link(category: str, shown: Shown) -> str:
    """A category of a listing item (a filter in Quarto's listing, which needs its script: plain text here)."""
    return f'<span class="category">{shown.html[category]}</span>'


def find_listing(meta: dict[str, Any], listing_id: str) -> dict[str, Any]:
    """A page's listing options: its only listing, or the one with this id when it has several ({} when none)."""
    listing = meta.get("listing")
    if isinstance(listing, dict):
        return listing
    found = [item for item in listing or [] if isinstance(item, dict) and item.get("id") == listing_id]
    return found[0] if found else {}


def render_topics(trends: list[Page], listing: dict[str, Any], shown: Shown, empty: str) -> str:
    """HTML of the Topics page: topics.qmd's table listing of the trends pages (fields, their display names,
    which fields link to the page, the sort), each value read as Markdown as Quarto's table listing does."""
    fields = [str(f) for f in listing.get("fields") or ["title"]]
    names = listing.get("field-display-names") or {}
    links = set(listing.get("field-links") or ["title"])
    key = str(listing.get("sort") or "title").split()[0]
    pages = sorted(trends, key=lambda page: (str(page.meta.get(key) or ""), page.folder.name))
    if not pages:
        return f'<p class="listing-empty">{html.escape(empty)}</p>'
    head = "".join(f"<th>{html.escape(str(names.get(field, field)))}</th>" for field in fields)
    rows = []
    for page in pages:
        cells = []
        for field in fields:
            value = page.meta.get(field)
            text = show_title(page, shown) if field == "title" else (
                shown.html.get(value, html.escape(value)) if isinstance(value, str) else html.escape("" if value is None else str(value)))
            if field in links:
                text = f'<a href="{html.escape(page.href)}">{text}</a>'
            cells.append(f"<td>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<table class="topics">\n<thead><tr>{head}</tr></thead>\n<tbody>\n' + "\n".join(rows)
            + "\n</tbody>\n</table>")


def write_generated_pages(root: Path, site: Path, config: dict[str, str], posts: list[Page]) -> None:
    """The pages topicpages writes (today.qmd, topics/<slug>.qmd): their Markdown, and a listing of the posts a
    page's `listing.contents` names by path, as Quarto's listing shows them (links made relative to the page)."""
    sources = [root / "today.qmd", *sorted((root / "topics").glob("*.qmd"))]
    by_path = {(page.folder / "index.ipynb").resolve(): page for page in posts}
    for source in [path for path in sources if path.is_file()]:
        meta, _ = read_qmd(source)
        listing = meta.get("listing") if isinstance(meta.get("listing"), dict) else {}
        contents = listing.get("contents") if isinstance(listing.get("contents"), list) else []
        listed = sort_pages(by_path[p] for p in ((source.parent / str(c)).resolve() for c in contents) if p in by_path)
        up = "../" * (len(source.relative_to(root).parts) - 1)
        shown = render_fields(list_fields(meta) + [text for page in listed for text in list_fields(page.meta)])
        extra = render_listing(listed, shown) if listed else ""
        # The listing's links are from the site root; the page sits `up` folders below it.
        extra = re.sub(r'(href|src)="(?![a-z]+:|#|/)', lambda m: f'{m[1]}="{up}', extra)
        target = site / source.relative_to(root).with_suffix(".html")
        target.parent.mkdir(parents=True, exist_ok=True)
        write_qmd_page(source, target, config, shown, extra, up)
        if listing.get("feed"):
            feed = listing["feed"] if isinstance(listing["feed"], dict) else {}
            write_preview_feed(target.with_suffix(".xml"), target.relative_to(site).as_posix(), listed, config, shown,
                               str(feed.get("title") or config["site-title"]), shown.plain.get(str(meta.get("description") or ""), ""))


def write_preview_feed(target: Path, href: str, pages: list[Page], config: dict[str, str], shown: Shown, title: str,
                       description: str) -> None:
    """A listing's RSS 2.0 feed beside its page, as Quarto's (channel, one item per post: title, link, date,
    description; quarto-cli src/resources/projects/website/listing/feed/*.ejs.md), so the preview's feed links work."""
    from email.utils import format_datetime
    from xml.sax.saxutils import escape

    base = config["site-url"].rstrip("/")
    items = []
    for page in pages:
        item = [f"<title>{escape(shown.plain.get(str(page.meta.get('title') or ''), page.folder.name))}</title>",
                f"<link>{escape(base + '/' + page.href)}</link>",
                f"<description>{escape(shown.plain.get(str(page.meta.get('description') or ''), ''))}</description>"]
        if ISO_DATE.match(page.date):
            day = dt.datetime.fromisoformat(page.date[:10]).replace(tzinfo=dt.timezone.utc)
            item.append(f"<pubDate>{format_datetime(day, usegmt=True)}</pubDate>")
        items.append("<item>\n  " + "\n  ".join(item) + "\n</item>")
    channel = [f"<title>{escape(title)}</title>", f"<link>{escape(base + '/' + href)}</link>",
               f"<description>{escape(description)}</description>", f"<generator>{GENERATOR}</generator>", *items]
    target.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0">\n<channel>\n'
                      + "\n".join(channel) + "\n</channel>\n</rss>\n", encoding="utf-8")


def render_topic_pages(root: Path) -> str:
    """The topics page's table of topic pages (topics/<slug>.qmd): each title links its page, then its feed."""
    pages = [(path, read_qmd(path)[0]) for path in sorted((root / "topics").glob("*.qmd"))]
    if not pages:
        return ""
    shown = render_fields(text for _, meta in pages for text in list_fields(meta))
    rows = []
    for path, meta in sorted(pages, key=lambda item: shown.plain.get(str(item[1].get("title") or ""), item[0].stem)):
        href, feed = (html.escape(f"topics/{quote(path.stem)}.{kind}") for kind in ("html", "xml"))
        title = shown.html.get(str(meta.get("title") or ""), html.escape(path.stem))
        rows.append(f'<tr><td><a href="{href}">{title}</a></td><td><a class="feed" href="{feed}">RSS</a></td></tr>')
    return ('<section class="topic-pages" id="topic-pages-list">\n<table>\n<tbody>\n' + "\n".join(rows)
            + "\n</tbody>\n</table>\n</section>\n")
