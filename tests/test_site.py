"""The website: Quarto project files and the pandoc preview of _site/ (no Quarto, no network)."""

from __future__ import annotations

import base64
import html
import io
import logging
import re
import shutil
import stat
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell
from PIL import Image

from paperpress import site
from paperpress.config import PaperpressError
from paperpress.text import escape_md

ROOT = Path(__file__).resolve().parents[1]
PROJECT_FILES = ("_quarto.yml", "index.qmd", "about.qmd", "topics.qmd", "posts/_metadata.yml")
NEW = "2024-04-01-metaverse-avatars"
OLD = "2024-03-31-talking-head"
NEW_TITLE = "元宇宙/虚拟人 2024-04-01"
OLD_TITLE = "Talking heads <script>alert('title')</script> & more"
MARKDOWN_OUTPUT = """## Make-Your-Anchor 论文

<details><summary>摘要</summary>

DETAILS_BODY of the abstract.

</details>

Escaped: &lt;script&gt;alert('x')&lt;/script&gt;
"""
HTML_TABLE = '<table class="dataframe"><thead><tr><th>category</th><th>papers</th></tr></thead>' \
    "<tbody><tr><td>cs.CV</td><td>TABLE_CELL_7</td></tr></tbody></table>"


class Links(HTMLParser):
    """Collects href/src attributes and <script> tags of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.srcs: list[tuple[str, str]] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if "href" in attrs:
            self.hrefs.append(attrs["href"])
        if tag == "img":
            self.srcs.append((attrs["src"], attrs.get("alt", "")))


def parse(page: Path) -> Links:
    """Parse a rendered page."""
    links = Links()
    links.feed(page.read_text(encoding="utf-8"))
    return links


def target(page: Path, href: str) -> Path:
    """The file a relative link of page points to."""
    return (page.parent / unquote(href.split("#")[0])).resolve()


def tiny_png() -> bytes:
    """A real 4x3 PNG."""
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def front_matter(**fields) -> nbformat.NotebookNode:
    """The raw front-matter cell of a post."""
    return new_raw_cell("---\n" + yaml.safe_dump(fields, allow_unicode=True, sort_keys=False) + "---")


def write_new_post(folder: Path) -> None:
    """The newer post: every kind of output, a removed cell, a chart file and the digest sidecar."""
    png = tiny_png()
    cells = [
        front_matter(title=NEW_TITLE, date="2024-04-01", categories=["元宇宙/虚拟人"],
                     description="Avatar papers of the day", image="charts/cover.png",
                     keywords=["avatar"], lang="zh"),
        new_code_cell("import REMOVED_SOURCE", metadata={"tags": ["remove-cell"]},
                      outputs=[new_output("display_data", data={"text/markdown": "REMOVED_OUTPUT"})]),
        new_code_cell("show_markdown(CODE_SOURCE_1)", outputs=[new_output(
            "display_data", data={"text/markdown": MARKDOWN_OUTPUT, "text/plain": "<Markdown PLAIN_FALLBACK>"})]),
        new_code_cell("show_table(CODE_SOURCE_2)", outputs=[new_output(
            "execute_result", execution_count=3, data={"text/html": HTML_TABLE, "text/plain": "PLAIN_TABLE"})]),
        new_code_cell("#| fig-alt: 每类论文数\nplot(CODE_SOURCE_3)", outputs=[new_output(
            "display_data", data={"image/png": base64.b64encode(png).decode(), "text/plain": "<Figure>"},
            metadata={"image/png": {"alt": "METADATA_ALT"}})]),
        new_code_cell("noisy(CODE_SOURCE_4)", outputs=[
            new_output("stream", name="stdout", text="STREAM_TEXT\n"),
            new_output("error", ename="ValueError", evalue="ERROR_TEXT", traceback=["ERROR_TRACEBACK"]),
            new_output("execute_result", execution_count=5, data={"text/plain": "PLAIN_RESULT"}),
        ]),
        new_markdown_cell("Closing **words**."),
    ]
    folder.mkdir(parents=True)
    nbformat.write(new_notebook(cells=cells), folder / "index.ipynb")
    (folder / "digest.json").write_text('{"papers": []}', encoding="utf-8")
    (folder / "charts").mkdir()
    (folder / "charts" / "cover.png").write_bytes(png)


def write_old_post(folder: Path) -> None:
    """The older post: an outside title, escaped as our front matter holds it; one Markdown cell."""
    cells = [  # an unquoted date-time, as in the seed post, is a datetime for YAML
        new_raw_cell(f"---\ntitle: \"{escape_md(OLD_TITLE)}\"\ndate: 2024-03-31 13:22:12\n"
                     "categories: [Talking Head Generation]\ndescription: Talking head papers\n---"),
        new_markdown_cell("## Papers\n\nOne paper."),
    ]
    folder.mkdir(parents=True)
    nbformat.write(new_notebook(cells=cells), folder / "index.ipynb")


def make_project(root: Path) -> Path:
    """A tiny project: the repo's Quarto files, two posts and one trends page."""
    for name in PROJECT_FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / name, root / name)
    write_new_post(root / "posts" / NEW)
    write_old_post(root / "posts" / OLD)
    trends = [front_matter(title="Trends: avatars", date="2024-04-01", **{
                  "topic-name": "元宇宙/虚拟人", "topic-language": "中文", "topic-posts": 2,
                  "topic-latest": f"[2024-04-01](posts/{NEW}/index.html)"}),
              new_markdown_cell("Rising methods.")]
    (root / "trends" / "metaverse-avatars").mkdir(parents=True)
    nbformat.write(new_notebook(cells=trends), root / "trends" / "metaverse-avatars" / "index.ipynb")
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A fake project rendered once as a preview."""
    root = make_project(tmp_path_factory.mktemp("project"))
    site.render_site(root, quarto=None)
    return root


def test_quarto_project_never_executes_and_renders_posts():
    config = yaml.safe_load((ROOT / "_quarto.yml").read_text(encoding="utf-8"))
    posts = yaml.safe_load((ROOT / "posts" / "_metadata.yml").read_text(encoding="utf-8"))
    assert config["project"]["type"] == "website" and config["project"]["output-dir"] == "_site"
    assert {"index.qmd", "posts/*/index.ipynb", "trends/*/index.ipynb"} <= set(config["project"]["render"])
    assert config["execute"]["enabled"] is False and posts["execute"]["enabled"] is False
    assert posts["echo"] is False
    listing = yaml.safe_load((ROOT / "index.qmd").read_text(encoding="utf-8").split("---")[1])["listing"]
    assert listing["contents"] == "posts" and listing["sort"] == "date desc" and listing["feed"] is True


def test_home_lists_posts_newest_first_with_working_links(built):
    index = built / "_site" / "index.html"
    text = index.read_text(encoding="utf-8")
    assert text.index(NEW_TITLE) < text.index("Talking heads")
    links = parse(index)
    posts = [h for h in links.hrefs if h.startswith("posts/")]
    assert posts[0].startswith(f"posts/{NEW}/") and posts[-1].startswith(f"posts/{OLD}/")
    assert all(target(index, h).is_file() for h in links.hrefs if "://" not in h)
    assert all(target(index, src).is_file() for src, _ in links.srcs)  # the front-matter image
    assert {"index.html", "topics.html", "about.html"} <= set(links.hrefs)
    assert "Avatar papers of the day" in text and "2024-03-31 ·" in text


def test_post_page_shows_outputs_as_quarto_does(built):
    page = built / "_site" / "posts" / NEW / "index.html"
    text = page.read_text(encoding="utf-8")
    assert '<html lang="zh">' in text and NEW_TITLE in text
    assert "Make-Your-Anchor 论文</h2>" in text
    assert "<details>" in text and "<summary>" in text and "<p>DETAILS_BODY of the abstract.</p>" in text
    assert "TABLE_CELL_7" in text and "<table" in text and "PLAIN_RESULT" in text
    assert "Escaped: &lt;script&gt;alert(" in text
    assert "CODE_SOURCE" not in text and "REMOVED" not in text and "PLAIN_FALLBACK" not in text
    # Quarto shows a cell's stdout and errors in divs of their own (the posts have none: see publish).
    assert '<div class="cell-output cell-output-stdout">\n<pre><code>STREAM_TEXT' in text
    assert '<div class="cell-output cell-output-error">\n<pre><code>ValueError: ERROR_TEXT' in text
    links = parse(page)
    assert links.scripts == 0
    images = dict(links.srcs)
    assert list(images.values()) == ["每类论文数"]  # the cell's fig-alt: Quarto ignores the output's metadata alt
    assert all(target(page, src).read_bytes().startswith(b"\x89PNG") for src in images)
    assert all(target(page, h).is_file() for h in links.hrefs if not h.startswith(("#", "http")))
    assert "这是用 pandoc 生成的预览" in text  # the preview's own words, in the site's language (lang: zh)


def test_post_folder_files_are_copied_but_not_notebook_or_sidecar(built):
    folder = built / "_site" / "posts" / NEW
    assert (folder / "charts" / "cover.png").is_file()
    assert not (folder / "index.ipynb").exists() and not (folder / "digest.json").exists()
    assert not list(built.glob("._site-*")), "temporary build folders are cleaned up"


def test_front_matter_text_is_escaped(built):
    for page in (built / "_site" / "index.html", built / "_site" / "posts" / OLD / "index.html"):
        text = page.read_text(encoding="utf-8")
        assert "<script" not in text and "&lt;script&gt;alert" in text
        assert parse(page).scripts == 0


def test_topics_and_about_pages(built):
    topics = built / "_site" / "topics.html"
    text = topics.read_text(encoding="utf-8")
    # one row per topic (its trends page): name, language, posts, latest post, trends page; headers as topics.qmd names them
    assert "<thead><tr><th>主题</th><th>语言</th><th>推送数</th><th>最新推送</th><th>趋势页</th></tr></thead>" in text
    row = (f'<tr><td><a href="trends/metaverse-avatars/index.html">元宇宙/虚拟人</a></td><td>中文</td><td>2</td>'
           f'<td><a href="posts/{NEW}/index.html">2024-04-01</a></td>'
           '<td><a href="trends/metaverse-avatars/index.html">Trends: avatars</a></td></tr>')
    assert row in text
    assert "Talking Head Generation" not in text  # a category of a post is not a topic: only topics are listed
    assert all(target(topics, h).is_file() for h in parse(topics).hrefs)
    about = (built / "_site" / "about.html").read_text(encoding="utf-8")
    assert "papermill" in about and "listing:" not in about and "title: " not in about


def test_the_site_pages_follow_the_sites_language(built):
    """lang: zh in _quarto.yml: the navbar and the site's own pages are Chinese (names and code excepted)."""
    allowed = {"paperpress", "arXiv", "papermill", "Quarto", "pandoc", "quarto", "render", "NeRF", "diffusion",
               "digest", "json", "trends", "topics", "yml", "posts", "index", "ipynb", "mailing", "Trends", "avatars",
               "RSS"}  # the feed format's name
    for name in ("index.html", "about.html", "topics.html", "trends.html"):
        page = (built / "_site" / name).read_text(encoding="utf-8")
        assert '<html lang="zh">' in page
        nav = re.search(r'<nav class="navbar">(.*?)</nav>', page, re.S).group(1)
        assert [t for t in re.findall(r">([^<]+)</a>", nav)] == ["paperpress", "首页", "主题", "趋势", "关于"]
        main = re.sub(r"<[^>]+>", " ", re.search(r"<main>(.*?)</main>", page, re.S).group(1))
        if name == "index.html":  # the home page lists the posts: their titles and descriptions are not ours
            continue
        english = sorted({w for w in re.findall(r"[A-Za-z]{2,}", html.unescape(main)) if w not in allowed})
        assert not english, f"{name}: {english}"


def test_bad_front_matter_is_reported_and_site_kept(tmp_path):
    root = make_project(tmp_path)
    site.render_site(root, quarto=None)
    notebook = nbformat.read(root / "posts" / OLD / "index.ipynb", as_version=4)
    notebook.cells[0].source = "---\ntitle: [unclosed\n---"
    nbformat.write(notebook, root / "posts" / OLD / "index.ipynb")
    with pytest.raises(PaperpressError, match="front matter"):
        site.render_site(root, quarto=None)
    assert site.is_preview(root / "_site" / "index.html") and not list(root.glob("._site-*"))


def test_render_site_reports_a_preview(tmp_path, caplog):
    root = make_project(tmp_path)
    (root / "_site").mkdir()
    (root / "_site" / "stale.html").write_text("old", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="paperpress.site"):
        index = site.render_site(root, quarto=None)
    assert index == root / "_site" / "index.html" and index.is_file()
    assert site.is_preview(index)
    assert any("preview" in record.getMessage() for record in caplog.records)
    assert not (root / "_site" / "stale.html").exists()


def test_rerender_gives_identical_bytes(built):
    def snapshot() -> dict[str, bytes]:
        return {p.relative_to(built).as_posix(): p.read_bytes() for p in sorted((built / "_site").rglob("*")) if p.is_file()}

    before = snapshot()
    site.render_site(built, quarto=None)
    assert snapshot() == before


def test_quarto_on_path_is_called_with_render(tmp_path):
    root = make_project(tmp_path / "project")
    fake = tmp_path / "quarto"
    fake.write_text('#!/bin/sh\necho "$@" > quarto-called.txt\npwd >> quarto-called.txt\n'
                    "mkdir -p _site && echo '<html></html>' > _site/index.html\n", encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    index = site.render_site(root, quarto=str(fake))
    assert index == root / "_site" / "index.html" and not site.is_preview(index)
    called = (root / "quarto-called.txt").read_text(encoding="utf-8").split("\n")
    assert called[0] == "render" and Path(called[1]).resolve() == root.resolve()
    with pytest.raises(PaperpressError, match="quarto not found"):
        site.render_site(root, quarto=str(tmp_path / "missing" / "quarto"))


def toc_entries(page: Path) -> list[str]:
    """The texts of a rendered page's table of contents, in order."""
    nav = re.search(r'<nav id="TOC".*?</nav>', page.read_text(encoding="utf-8"), re.S)
    return [re.sub(r"<[^>]+>|\s+", " ", a).strip() for a in re.findall(r"<a [^>]*>(.*?)</a>", nav.group(0), re.S)] \
        if nav else []


def markdown_cell(source: str, *texts: str, **metadata) -> nbformat.NotebookNode:
    """A code cell whose outputs are these Markdown texts (metadata as given: papermill adds `tags: []`)."""
    outputs = [new_output("display_data", data={"text/markdown": t, "text/plain": "<Markdown>"}) for t in texts]
    return new_code_cell(source, metadata=metadata, outputs=outputs)


@pytest.fixture(scope="module")
def toc_site(tmp_path_factory) -> Path:
    """A post and a trends page whose cells put headings where Quarto does and does not list them."""
    root = tmp_path_factory.mktemp("toc")
    for name in PROJECT_FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / name, root / name)
    cells = [
        front_matter(title="TOC post", date="2024-04-01"),
        markdown_cell("#| output: asis\nshow()", "## Asis One\n\nText.\n\n### Asis Deep\n\n## Asis Two\n\nMore."),
        markdown_cell("show()", "## Alone in its output\n\nText."),  # one output: its div starts with it
        markdown_cell("show()", "## Buried A", "## Buried B"),  # two outputs in one cell div
        new_code_cell("show()", outputs=[  # a heading, then a table: each output in a div of its own
            new_output("display_data", data={"text/markdown": "## Heading then table", "text/plain": "<Markdown>"}),
            new_output("display_data", data={"text/html": HTML_TABLE, "text/plain": "<table>"})]),
        markdown_cell("#| output: asis\nshow()", "## Tagged A\n\nText.\n\n## Tagged B", tags=[]),
        markdown_cell("#| output: asis\nshow()", '![](charts/x.png){fig-alt="Keywords: a \\"b\\" & c (2)"}'),
    ]
    (root / "posts" / "2024-04-01-toc").mkdir(parents=True)
    nbformat.write(new_notebook(cells=cells), root / "posts" / "2024-04-01-toc" / "index.ipynb")
    (root / "posts" / "2024-04-01-toc" / "charts").mkdir()
    (root / "posts" / "2024-04-01-toc" / "charts" / "x.png").write_bytes(tiny_png())
    trends = [front_matter(title="Trends", date="2024-04-01", toc=True),
              markdown_cell("#| output: asis\nshow()", "## Families\n\n### Rising\n\nText.")]
    (root / "trends" / "toc").mkdir(parents=True)
    nbformat.write(new_notebook(cells=trends), root / "trends" / "toc" / "index.ipynb")
    site.render_site(root, quarto=None)
    return root


def test_toc_lists_only_the_headings_quarto_would(toc_site):
    # Quarto wraps each output in a div (and the cell in another) unless the cell says `output: asis` and
    # has no metadata to copy onto a div; pandoc lists a heading in a div only if it opens the div and no
    # heading of its level follows there. Posts stop at level 2 (posts/_metadata.yml).
    page = toc_site / "_site" / "posts" / "2024-04-01-toc" / "index.html"
    assert toc_entries(page) == ["Asis One", "Asis Two", "Alone in its output"]
    text = page.read_text(encoding="utf-8")
    assert "Buried B</h2>" in text and "Tagged B</h2>" in text and "then table</h2>" in text  # not in its TOC


def test_trends_page_toc_takes_quartos_default_depth(toc_site):
    assert toc_entries(toc_site / "_site" / "trends" / "toc" / "index.html") == ["Families", "Rising"]


def test_markdown_image_takes_its_fig_alt_as_quarto_does(toc_site):
    page = toc_site / "_site" / "posts" / "2024-04-01-toc" / "index.html"
    images = dict(parse(page).srcs)
    assert images == {"charts/x.png": 'Keywords: a "b" & c (2)'}
    assert target(page, "charts/x.png").read_bytes().startswith(b"\x89PNG")
    assert "fig-alt" not in page.read_text(encoding="utf-8")


def test_listing_thumbnail_takes_image_alt_as_is(tmp_path):
    root = make_project(tmp_path)
    notebook = nbformat.read(root / "posts" / NEW / "index.ipynb", as_version=4)
    notebook.cells[0] = front_matter(title=NEW_TITLE, date="2024-04-01", image="charts/cover.png",
                                     **{"image-alt": "Keywords: a_b (2), <x> & y (1)"})
    nbformat.write(notebook, root / "posts" / NEW / "index.ipynb")
    site.render_site(root, quarto=None)
    assert dict(parse(root / "_site" / "index.html").srcs)[f"posts/{NEW}/charts/cover.png"] == \
        "Keywords: a_b (2), <x> & y (1)"


def write_post(root: Path, name: str, matter: dict) -> None:
    """A post folder whose cell 0 is the front matter as `paperpress run` writes it."""
    from paperpress.publish import dump_front_matter

    (root / "posts" / name).mkdir(parents=True)
    cells = [new_raw_cell(dump_front_matter(matter)), new_markdown_cell("Body.")]
    nbformat.write(new_notebook(cells=cells), root / "posts" / name / "index.ipynb")


def test_preview_reads_front_matter_as_markdown_like_quarto(tmp_path):
    """Unescaped front matter is Markdown with raw HTML, here as in Quarto: the preview catches what Quarto would show."""
    root = tmp_path
    write_post(root, "2024-04-02-raw", {"title": "Raw *emphasis* <b>bold</b>", "date": "2024-04-02",
                                       "description": "Desc <i>tag</i> $x$", "categories": ["Cat _one_"]})
    site.render_site(root, quarto=None)
    page = (root / "_site" / "posts" / "2024-04-02-raw" / "index.html").read_text(encoding="utf-8")
    assert '<h1 class="title">Raw <em>emphasis</em> <b>bold</b></h1>' in page
    assert "<i>tag</i>" in page and "<title>Raw emphasis bold – paperpress</title>" in page
    home = (root / "_site" / "index.html").read_text(encoding="utf-8")
    assert "Raw <em>emphasis</em> <b>bold</b></a></h3>" in home and "Cat <em>one</em></span>" in home


@pytest.mark.parametrize("title", ["Splat <img src=x onerror=alert(7)> Attack", "Avatars <script>alert(1)</script>",
                                   "*Bold* and _under_ $x$ [l](javascript:alert(1)) -- done"])
def test_post_front_matter_shows_the_literal_title_on_every_page(tmp_path, title):
    from paperpress import post
    from paperpress.records import Digest, Entry, Paper

    paper = Paper(arxiv_id="2404.00001", version="v1", title=title, authors=("A",), abstract="x")
    digest = Digest(date="2024-04-02", topic_slug="t", topic_name=f"T {title}", language="en", source="sample",
                    summariser="offline", entries=(Entry(paper=paper),))
    write_post(tmp_path, "2024-04-02-t", post.build_front_matter(digest, None))
    site.render_site(tmp_path, quarto=None)
    shown = html.escape(title, quote=False)
    for path in ("index.html", "posts/2024-04-02-t/index.html"):  # the Topics page lists topics, not posts
        page = tmp_path / "_site" / path
        text = page.read_text(encoding="utf-8")
        assert f"T {shown}" in text, path
        assert parse(page).scripts == 0 and "<img src=x" not in text and "<em>" not in text and "href=\"javascript" not in text
    page = (tmp_path / "_site" / "posts" / "2024-04-02-t" / "index.html").read_text(encoding="utf-8")
    first = html.escape(post.short_title(title), quote=False)
    assert f"<title>T {shown} · 2024-04-02: {first} – paperpress</title>" in page
    assert f'<meta name="description" content="1 new arXiv paper on T {html.escape(title)} in the mailing of 2024-04-02' in page
