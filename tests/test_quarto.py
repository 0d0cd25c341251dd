"""The demo site rendered by the real Quarto, when env QUARTO names its launcher, checked as a reader sees it.

CI cannot fetch Quarto's sources, so there the pandoc preview stands in (test_site, test_demo); where the two
differ, Quarto is right. Run it with `QUARTO=/path/to/quarto .venv/bin/python -m pytest tests/test_quarto.py`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import lxml.html
import pytest
import yaml

from .helpers import BIN, ROOT
from .quarto_checks import check_site, code_shown, find_warnings, images_without_alt, listed_posts, missing_from_toc, read_page

QUARTO = os.environ.get("QUARTO", "")
SITE_FILES = ("_quarto.yml", "index.qmd", "about.qmd", "topics.qmd", "trends.qmd", "posts/_metadata.yml", "topics.yml")


@pytest.fixture(scope="module")
def quarto_site(demo_site, tmp_path_factory):
    """The demo's posts and trends page rendered by `quarto render` in a copy of the project."""
    if not QUARTO:
        pytest.skip("set QUARTO to a Quarto launcher to render the demo with the real Quarto")
    project, _ = demo_site
    site = tmp_path_factory.mktemp("quarto-site")
    for section in ("posts", "trends"):
        shutil.copytree(project / section, site / section, ignore=shutil.ignore_patterns("_site", ".*"))
    for name in SITE_FILES:  # the repository's own site files, as a checkout has them
        shutil.copyfile(ROOT / name, site / name)
    # As the workflow does: the topic pages (with their feeds) and the today page first, then Quarto.
    pages = subprocess.run([str(BIN / "paperpress"), "pages"], cwd=site, capture_output=True, text=True, timeout=300)
    assert pages.returncode == 0, pages.stderr
    done = subprocess.run([QUARTO, "render"], cwd=site, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    return site, done.stdout + done.stderr


def test_the_demo_renders_clean_with_quarto(quarto_site):
    site, log = quarto_site
    posts = sorted(p.parent.name for p in (site / "posts").glob("*/index.ipynb"))
    assert len(posts) == 37
    depth = yaml.safe_load((ROOT / "posts" / "_metadata.yml").read_text(encoding="utf-8")).get("toc-depth", 3)
    assert check_site(site / "_site", log, posts, {"posts": depth}) == []


def test_quarto_shows_the_topics_and_the_trends_page_in_their_languages(quarto_site):
    site, _ = quarto_site
    topics = read_page(site / "_site" / "topics.html")
    assert [a.text_content().strip() for a in topics.xpath('//nav//a[contains(@class, "nav-link")]')][:5] == \
        ["首页", "今日", "主题", "趋势", "关于"]
    rows = topics.xpath('//div[@id="listing-topics"]//table[contains(@class, "quarto-listing-table")]//tbody/tr')
    cells = [td.text_content().strip() for td in rows[0].xpath("./td")]
    assert len(rows) == 1 and cells == ["元宇宙/虚拟人", "中文", "37", "2024-12-07", "趋势 · 元宇宙/虚拟人"]
    links = rows[0].xpath(".//a/@href")
    assert all((site / "_site" / h.removeprefix("./")).is_file() for h in links)
    pages = topics.xpath('//div[@id="listing-topic-pages"]//table[contains(@class, "quarto-listing-table")]//tbody/tr')
    assert len(pages) == 1 and pages[0].xpath(".//a/@href")[0].endswith("topics/metaverse-avatars.html")
    feed = (site / "_site" / "topics" / "metaverse-avatars.xml").read_text(encoding="utf-8")
    assert feed.count("<item>") == 20  # the topic's own feed: its newest posts, as many as a Quarto feed holds (items: 20)
    trends = read_page(site / "_site" / "trends" / "metaverse-avatars" / "index.html")
    alts = [img.get("alt") for img in trends.xpath("//main//img")]
    assert any("三维表示: 6, 无推送, 无推送, 6" in a for a in alts)  # February and March: no posts, not 0
    assert trends.xpath('//details[@class="statistic"]/summary')[0].text_content() == "计数与检验方法"


def page(body: str, toc: str = ""):
    """A page shaped as Quarto writes one."""
    return lxml.html.fromstring(f'<html><body><nav id="TOC">{toc}</nav><main id="quarto-document-content">{body}'
                                "</main></body></html>")


def test_the_checks_find_what_a_reader_would_meet():
    assert find_warnings("[1/2] a.qmd\nWARN (x) something\n\x1b[33mWARNING: y\x1b[39m\nOutput created") == [
        "WARN (x) something", "\x1b[33mWARNING: y\x1b[39m"]
    sections = '<section id="a"><h2 data-anchor-id="a">A</h2></section><section id="b"><h3 data-anchor-id="b">B</h3></section>'
    assert missing_from_toc(page(sections, '<a href="#a">A</a>')) == ["b"]
    assert missing_from_toc(page(sections, '<a href="#a">A</a>'), depth=2) == []
    assert images_without_alt(page('<img src="x.png" alt="chart"><img src="y.png" alt=" ">')) == ["y.png"]
    assert code_shown(page('<div class="cell"><div class="sourceCode"><pre>import x</pre></div></div>')) == ["import x"]
    index = page('<div class="quarto-listing"><a href="./posts/2024-04-01-t/index.html">t</a></div>')
    assert listed_posts(index) == {"2024-04-01-t"}


def test_contributors_are_told_how_to_run_it():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "QUARTO=" in readme and "tests/test_quarto.py" in readme
