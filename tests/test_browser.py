"""The rendered site in a real browser: Debian's Chromium driven by Playwright (no browser download)."""

import contextlib
import functools
import http.server
import os
import re
import shutil
import threading

import pytest

from .helpers import add_site_files, make_project, require, run_cli, write_jsonl

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
try:
    from playwright import sync_api as playwright
except ImportError:  # a test dependency: require() below says so (and fails in CI)
    playwright = None
pytestmark = [pytest.mark.browser, pytest.mark.skipif(
    os.environ.get("PAPERPRESS_BROWSER_TESTS") == "0", reason="browser tests turned off (PAPERPRESS_BROWSER_TESTS=0)")]
# Flags for a closed network: without them Chromium keeps trying to reach Google's services.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]


@pytest.fixture(scope="module", autouse=True)
def browser_present():
    """Chromium and playwright: a skip that says which is missing, a failure in CI."""
    require(playwright is not None, "playwright is not installed (pip install -e '.[test]')")
    require(CHROMIUM is not None, "no chromium on PATH (apt-get install chromium)")


@contextlib.contextmanager
def serve(folder):
    """A loopback HTTP server of a folder; yields its base URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A rendered preview site with a post whose arXiv text tries to inject a script."""
    project = add_site_files(make_project(tmp_path_factory.mktemp("site")))
    evil = write_jsonl(project / "evil.jsonl", [{
        "listed_on": "2024-05-02", "topic": "nerf", "arxiv_id": "2405.00001", "version": "v1",
        "title": "Avatars <script>window.__pwned = 1</script>", "authors": ["Mallory"],
        "abstract": "We propose <img src=x onerror=\"window.__pwned=2\"> a <script>alert(1)</script> NeRF method.",
        "comment": "<svg onload=alert(3)>"}])
    result = run_cli(project, "run", "--offline", "--topic", "nerf", "--date", "2024-05-02", "--sample", str(evil))
    assert result.returncode == 0, result.stderr
    rendered = run_cli(project, "render")
    assert rendered.returncode == 0, rendered.stderr
    with serve(project / "_site") as url:
        yield url


@pytest.fixture(scope="module")
def demo(demo_site):
    """The demo site (`paperpress demo`: 37 posts and the trends page), served."""
    project, _ = demo_site
    with serve(project / "_site") as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium."""
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def open_page(browser, url):
    """A page with its console errors and dialogs recorded, loaded at url."""
    page = browser.new_page()
    page.errors, page.dialogs = [], []
    # A missing resource is judged by its URL below: browsers ask for /favicon.ico on their own.
    page.on("console", lambda msg: page.errors.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)
    page.on("response", lambda r: page.errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    response = page.goto(url)
    assert response.ok
    page.wait_for_load_state("load")
    return page


def loaded_images(page) -> list[tuple[str, str, int]]:
    """(src, alt, natural width) of every image of a page, after each has loaded or failed."""
    page.wait_for_function("Array.from(document.images).every(i => i.complete)")
    return [tuple(row) for row in page.evaluate("Array.from(document.images).map(i => [i.src, i.alt, i.naturalWidth])")]


def test_home_lists_every_demo_post_newest_first(browser, demo):
    page = open_page(browser, f"{demo}/index.html")
    hrefs = page.evaluate("Array.from(document.querySelectorAll('a[href*=\\'posts/\\']')).map(a => a.getAttribute('href'))")
    posts = [h for h in dict.fromkeys(hrefs) if h.endswith("index.html")]
    dates = [re.match(r"posts/(\d{4}-\d{2}-\d{2})-metaverse-avatars/index\.html$", h).group(1) for h in posts]
    assert len(dates) == 37  # every listed day of the archive, Fridays and Saturdays included
    assert dates == sorted(dates, reverse=True) and len(set(dates)) == 37
    assert dates[0] == "2024-12-07" and dates[-1] == "2024-01-24"
    assert not page.errors


def test_demo_trends_page_shows_its_charts(browser, demo):
    listing = open_page(browser, f"{demo}/trends.html")
    assert listing.locator("a[href*='trends/metaverse-avatars/index.html']").count() >= 1
    page = open_page(browser, f"{demo}/trends/metaverse-avatars/index.html")
    images = loaded_images(page)
    # Families, papers, keywords (the rising/fading chart only when a change passes the test: none in the demo).
    assert len(images) >= 3 and all(width > 0 for _src, _alt, width in images), images
    monthly = next(alt for _src, alt, _width in images if alt.startswith("每月论文数"))
    values = monthly.split("论文数: ")[1].split(", ")  # the alt text in the topic's language
    counts = [int(n) for n in values if n.isdigit()]
    assert "(2024-01 – 2024-12)" in monthly and len(values) == 12 and sum(c > 0 for c in counts) >= 9  # a real curve
    assert values[1:3] == ["无推送", "无推送"] and len(counts) == 10  # February and March had no post: not 0
    assert not page.errors


def test_demo_post_shows_every_paper_its_charts_and_the_weeks_before(browser, demo):
    page = open_page(browser, f"{demo}/posts/2024-04-01-metaverse-avatars/index.html")
    headings = page.locator("h2").all_inner_texts()
    for title in ("Make-Your-Anchor", "UV Gaussians", "NECA", "VLOGGER", "GVA", "One2Avatar"):
        assert any(title in h for h in headings), title
    assert page.locator("details").count() == 6
    images = loaded_images(page)
    assert len(images) >= 3 and all(width > 0 for _src, _alt, width in images), images
    # The archive section: the 2024-01-24 post's papers in the weeks before this one.
    assert "近 90 天" in page.locator("h3").all_inner_texts()
    assert "此前 1 篇推送加今日：共 19 篇论文。" in page.inner_text("body")
    weekly = next(alt for _src, alt, _width in images if alt.startswith("各方法类别每周论文数"))
    assert "(2024-01-01 – 2024-04-01)" in weekly
    representation = weekly.split("三维表示:")[1].split(";")[0].split(",")[:-1]  # families named in the topic's language
    assert any(int(n) > 0 for n in representation if n.strip().isdigit())
    assert "无推送" in [n.strip() for n in representation]  # weeks without any post: "no posts", not 0
    assert not page.errors and not page.dialogs


def test_post_contents_list_the_trends_and_every_paper(browser, demo):
    page = open_page(browser, f"{demo}/posts/2024-04-01-metaverse-avatars/index.html")
    entries = page.locator("nav#TOC a")
    texts = entries.all_inner_texts()
    assert texts[:2] == ["趋势", "近 90 天"] and len(texts) == 8, texts  # today's trends, then the archive's
    for title, text in zip(("Make-Your-Anchor", "UV Gaussians", "NECA", "VLOGGER", "GVA", "One2Avatar"), texts[2:]):
        assert text.startswith(title), texts
    for i in range(entries.count()):  # each entry leads to its heading on the page
        anchor = entries.nth(i).get_attribute("href")
        assert page.locator(f":is(h2, h3)[id='{anchor[1:]}']").count() == 1, anchor


def test_charts_and_thumbnail_carry_their_own_alt_text(browser, demo):
    page = open_page(browser, f"{demo}/posts/2024-04-01-metaverse-avatars/index.html")
    charts = page.evaluate("Array.from(document.images).filter(i => i.src.includes('/charts/'))"
                           ".map(i => [i.src.split('/').pop(), i.alt, i.naturalWidth])")
    assert [name for name, _alt, _w in charts] == ["keywords.png", "methods.png", "families.png"]
    assert all(width > 0 for _n, _a, width in charts)
    keywords = charts[0][1]
    assert keywords.startswith("今日高频关键词: ") and "(2)" in keywords  # series and numbers, not a generic line
    home = open_page(browser, f"{demo}/index.html")
    thumbnail = home.locator("img[src*='2024-04-01-metaverse-avatars/charts/keywords.png']")
    assert thumbnail.get_attribute("alt") == keywords


def test_injected_script_does_not_run(browser, site):
    page = open_page(browser, f"{site}/posts/2024-05-02-nerf/index.html")
    page.wait_for_timeout(300)
    assert page.evaluate("window.__pwned") is None
    assert not page.dialogs
    assert "<script>alert(1)</script>" in page.inner_text("body")  # shown as text
    home = open_page(browser, f"{site}/index.html")
    assert home.evaluate("window.__pwned") is None and not home.dialogs


def test_about_topics_and_trends_pages_load(browser, demo):
    for path in ("about.html", "topics.html"):
        page = open_page(browser, f"{demo}/{path}")
        assert not page.errors
    page = open_page(browser, f"{demo}/topics.html")
    trends = [h for h in page.evaluate("Array.from(document.links).map(a => a.href)") if "/trends/" in h]
    for url in trends:
        if url.endswith(".html"):
            trend_page = open_page(browser, url)
            assert not trend_page.errors
