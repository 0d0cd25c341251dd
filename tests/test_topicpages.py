"""Topic pages (posts by sidecar, newest first, an RSS feed) and the today page (latest mailing of every topic)."""

from __future__ import annotations

import os
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from paperpress import site, topicpages
from paperpress.site import split_qmd

from .fakeposts import HOSTILE_TITLE, make_digest, make_paper, write_post
from .helpers import ROOT, add_site_files

TOPICS = """topics:
  - {slug: talking-head, name: Talking Head Generation, language: en, query: 'ti:"talking head"'}
  - {slug: head, name: Head Avatars, language: zh, query: 'ti:head'}
"""


def make_site(folder: Path, lang: str = "") -> Path:
    """A project with two topics whose slugs share a suffix (head, talking-head) and three posts."""
    add_site_files(folder)
    shutil.copytree(ROOT / "posts", folder / "posts", dirs_exist_ok=True)  # _metadata.yml
    if lang:
        config = yaml.safe_load((folder / "_quarto.yml").read_text(encoding="utf-8"))
        config["lang"] = lang
        (folder / "_quarto.yml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    (folder / "topics.yml").write_text(TOPICS, encoding="utf-8")
    posts = folder / "posts"
    write_post(posts, make_digest("talking-head", "Talking Head Generation", "2024-04-01",
                                  [make_paper("2404.00001", "Older talking head")]))
    write_post(posts, make_digest("talking-head", "Talking Head Generation", "2024-04-02",
                                  [make_paper("2404.00002", HOSTILE_TITLE, ("<Eve> *Evil*", "Bob")),
                                   make_paper("2404.00003", "Lip sync", ("Solo Author",))],
                                  listed=(make_paper("2404.00004", "Listed briefly"),)))
    write_post(posts, make_digest("head", "Head Avatars", "2024-04-01", [make_paper("2404.00005", "头部化身")],
                                  language="zh"))
    return folder


def read_page(path: Path) -> tuple[dict, str]:
    """A generated .qmd's front matter and body."""
    return split_qmd(path.read_text(encoding="utf-8"))


def test_topic_pages_list_posts_by_sidecar_newest_first_with_a_feed(tmp_path):
    root = make_site(tmp_path)
    written = topicpages.write_pages(root)
    assert [p.relative_to(root).as_posix() for p in written] == ["topics/talking-head.qmd", "topics/head.qmd", "today.qmd"]
    meta, body = read_page(root / "topics" / "head.qmd")
    # `head` never collects `talking-head`: its posts are those whose sidecar names it.
    assert meta["listing"]["contents"] == ["../posts/2024-04-01-head/index.ipynb"]
    meta, body = read_page(root / "topics" / "talking-head.qmd")
    assert meta["listing"]["contents"] == ["../posts/2024-04-02-talking-head/index.ipynb",
                                           "../posts/2024-04-01-talking-head/index.ipynb"]
    assert meta["listing"]["sort"] == "date desc"
    assert meta["listing"]["feed"]["title"] == "Talking Head Generation"
    assert "(talking-head.xml)" in body and meta["lang"] == "en"


def test_a_folder_name_does_not_make_a_post_of_a_topic(tmp_path):
    root = make_site(tmp_path)
    # A folder named like a `head` post whose sidecar says talking-head belongs to talking-head.
    write_post(root / "posts", make_digest("talking-head", "Talking Head Generation", "2024-04-03",
                                           [make_paper("2404.00006", "Misfiled")]), folder="2024-04-03-head")
    topicpages.write_pages(root)
    assert read_page(root / "topics" / "head.qmd")[0]["listing"]["contents"] == ["../posts/2024-04-01-head/index.ipynb"]
    assert read_page(root / "topics" / "talking-head.qmd")[0]["listing"]["contents"][0] == "../posts/2024-04-03-head/index.ipynb"


def test_a_topic_without_posts_loses_its_page(tmp_path):
    root = make_site(tmp_path)
    topicpages.write_pages(root)
    shutil.rmtree(root / "posts" / "2024-04-01-head")
    topicpages.write_pages(root)
    assert sorted(p.name for p in (root / "topics").iterdir()) == ["talking-head.qmd"]


def test_today_page_has_one_line_per_paper_linked_to_its_anchor(tmp_path):
    root = make_site(tmp_path, lang="en")
    topicpages.write_pages(root)
    meta, body = read_page(root / "today.qmd")
    assert meta["title"] == "Today"
    lines = [line for line in body.splitlines() if line.startswith("- ")]
    assert len(lines) == 4  # the latest mailing of each topic: 3 papers of talking-head (one listed briefly), 1 of head
    assert "Older talking head" not in body
    assert "(posts/2024-04-02-talking-head/index.html#arxiv-2404.00003) · Solo Author" in body
    assert "(posts/2024-04-02-talking-head/index.html#arxiv-2404.00004)" in body
    assert body.index("## [Talking Head Generation]") < body.index("## [Head Avatars]")  # topics.yml's order
    assert "<script>" not in body and "<Eve>" not in body


def test_today_page_speaks_the_sites_language(tmp_path):
    root = make_site(tmp_path, lang="zh-Hans")
    topicpages.write_pages(root)
    meta, body = read_page(root / "today.qmd")
    assert meta["title"] == "今日" and meta["lang"] == "zh-Hans"
    assert "3 篇论文" in body


class Anchors(HTMLParser):
    """Every id and link of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        self.scripts += tag == "script"


def parse(path: Path) -> Anchors:
    """The ids and links of a rendered page."""
    found = Anchors()
    found.feed(path.read_text(encoding="utf-8"))
    return found


def test_preview_links_today_to_paper_anchors_and_posts_to_their_topic_page(tmp_path):
    root = make_site(tmp_path)
    topicpages.write_pages(root)
    site.render_site(root, quarto=None)
    out = root / "_site"
    today = parse(out / "today.html")
    paper_links = [href for href in today.links if "#arxiv-" in href]
    assert len(paper_links) == 4
    for href in paper_links:
        page, anchor = href.split("#")
        assert anchor in parse(out / page).ids, href  # the anchor exists in the post: a heading or a listed line
    assert not today.scripts
    assert "today.html" in parse(out / "index.html").links  # the navbar's Today
    post_page = parse(out / "posts" / "2024-04-02-talking-head" / "index.html")
    assert "../../topics/talking-head.html" in post_page.links and "../../topics/talking-head.xml" in post_page.links
    topic = parse(out / "topics" / "talking-head.html")
    listed = [href for href in topic.links if href.startswith("../posts/")]
    assert listed == ["../posts/2024-04-02-talking-head/index.html", "../posts/2024-04-01-talking-head/index.html"]
    for href in listed:
        assert (out / "topics" / href).resolve().is_file()
    assert "talking-head.xml" in topic.links


def test_hostile_title_is_text_on_the_today_page(tmp_path):
    root = make_site(tmp_path)
    topicpages.write_pages(root)
    site.render_site(root, quarto=None)
    text = (root / "_site" / "today.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;" in text and "<b>bold</b>" not in text and 'href="javascript' not in text
    assert "*star*" in text and "[link](javascript:alert(1))" in text  # the title's own characters, as text


def test_topics_page_links_each_topic_page_and_its_feed(tmp_path):
    root = make_site(tmp_path)
    topicpages.write_pages(root)
    site.render_site(root, quarto=None)
    links = parse(root / "_site" / "topics.html").links
    for slug in ("head", "talking-head"):
        assert f"topics/{slug}.html" in links and f"topics/{slug}.xml" in links
        assert (root / "_site" / "topics" / f"{slug}.html").is_file()
    listing = yaml.safe_load((root / "topics.qmd").read_text(encoding="utf-8").split("---")[1])["listing"]
    [pages] = [item for item in listing if item["id"] == "topic-pages"]
    assert {"id": "topic-pages", "contents": "topics/*.qmd"}.items() <= pages.items()  # Quarto's own table


def test_preview_writes_each_topic_feed(tmp_path):
    import xml.etree.ElementTree as ET

    root = make_site(tmp_path)
    topicpages.write_pages(root)
    site.render_site(root, quarto=None)
    channel = ET.parse(root / "_site" / "topics" / "talking-head.xml").getroot().find("channel")
    assert channel.findtext("title") == "Talking Head Generation"
    assert channel.findtext("link") == "https://example.github.io/paperpress/topics/talking-head.html"
    items = channel.findall("item")
    assert [i.findtext("link") for i in items] == [
        f"https://example.github.io/paperpress/posts/2024-04-0{d}-talking-head/index.html" for d in (2, 1)]
    assert items[0].findtext("pubDate") == "Tue, 02 Apr 2024 00:00:00 GMT"


@pytest.mark.skipif(not os.environ.get("QUARTO"), reason="set QUARTO to a Quarto executable to render with it")
def test_real_quarto_writes_each_topics_feed_and_the_today_page(tmp_path):
    import subprocess
    import xml.etree.ElementTree as ET

    root = make_site(tmp_path)
    topicpages.write_pages(root)
    done = subprocess.run([os.environ["QUARTO"], "render"], cwd=root, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Unable to resolve link target" not in done.stderr  # the posts' topic links and the navbar's Today
    out = root / "_site"
    for slug, days in (("head", ["2024-04-01"]), ("talking-head", ["2024-04-02", "2024-04-01"])):
        channel = ET.parse(out / "topics" / f"{slug}.xml").getroot().find("channel")
        links = [item.findtext("link") for item in channel.findall("item")]
        assert links == [f"https://example.github.io/paperpress/posts/{d}-{slug}/" for d in days]
        assert f'href="{slug}.xml"' in (out / "topics" / f"{slug}.html").read_text(encoding="utf-8")
    today = parse(out / "today.html")
    for href in [h for h in today.links if "#arxiv-" in h]:
        page, anchor = href.split("#")
        assert anchor in parse(out / page).ids, href
    assert "topics/talking-head.html" in " ".join(parse(out / "topics.html").links)
