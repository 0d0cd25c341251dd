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


def test_demo_post_opens_with_its_papers_and_ends_with_its_trends(browser, demo):
    page = open_page(browser, f"{demo}/posts/2024-04-01-metaverse-avatars/index.html")
    headings = page.locator("main h2").all_inner_texts()
    titles = ("Make-Your-Anchor", "UV Gaussians", "NECA", "VLOGGER", "GVA", "One2Avatar")
    assert [h.split(":")[0] for h in headings] == [*titles, "趋势"], headings  # the papers first
    assert page.locator("details").count() == 0 and not loaded_images(page)  # no empty figure block, no chart
    top = page.evaluate("document.getElementById('arxiv-2403.16510').getBoundingClientRect().top + window.scrollY")
    assert top < 900  # the first paper starts on the first screen of a desktop
    link = page.locator("a", has_text="趋势页")
    trends_page = open_page(browser, link.evaluate("a => a.href"))
    assert trends_page.locator("h1").count() >= 1 and not trends_page.errors
    assert not page.errors and not page.dialogs


def test_post_contents_list_every_paper_then_the_trends(browser, demo):
    page = open_page(browser, f"{demo}/posts/2024-04-01-metaverse-avatars/index.html")
    entries = page.locator("nav#TOC a")
    texts = entries.all_inner_texts()
    assert len(texts) == 7 and texts[-1] == "趋势", texts
    for title, text in zip(("Make-Your-Anchor", "UV Gaussians", "NECA", "VLOGGER", "GVA", "One2Avatar"), texts):
        assert text.startswith(title), texts
    assert entries.nth(0).get_attribute("href") == "#arxiv-2403.16510"  # stable anchors (#arxiv-<id>)
    for i in range(entries.count()):  # each entry leads to its heading on the page
        anchor = entries.nth(i).get_attribute("href")
        assert page.locator(f":is(h2, h3)[id='{anchor[1:]}']").count() == 1, anchor


def test_listing_titles_tell_posts_apart_and_show_no_chart(browser, demo):
    home = open_page(browser, f"{demo}/index.html")
    titles = home.locator(".listing-title").all_inner_texts()
    assert len(titles) == 37 and len(set(titles)) == 37
    assert "元宇宙/虚拟人 · 2024-04-01：Make-Your-Anchor 等 6 篇" in titles
    assert not home.locator("img[src*='/charts/']").count()  # a listing image is a paper's figure, never a chart


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


def test_today_and_topic_pages_keep_hostile_text_as_text(browser, site):
    today = open_page(browser, f"{site}/today.html")
    today.wait_for_timeout(300)
    assert today.evaluate("window.__pwned") is None and not today.dialogs and not today.errors
    assert "Avatars <script>window.__pwned = 1</script>" in today.inner_text("body")  # shown as text
    paper = today.evaluate("Array.from(document.links).map(a => a.href).filter(h => h.includes('#arxiv-'))")
    assert paper == [f"{site}/posts/2024-05-02-nerf/index.html#arxiv-2405.00001"]
    post = open_page(browser, paper[0])
    assert post.evaluate("document.getElementById('arxiv-2405.00001') !== null")  # the anchor it jumps to
    topic = open_page(browser, f"{site}/topics/nerf.html")
    assert topic.evaluate("window.__pwned") is None and not topic.dialogs
    assert f"{site}/posts/2024-05-02-nerf/index.html" in topic.evaluate("Array.from(document.links).map(a => a.href)")


PHONE = {"width": 390, "height": 844}
LONG_NAME = "LaboratoryOfExtremelyLongInstitutionNamesForComputerVisionAndGraphicsResearch"  # one word: no break


@pytest.fixture(scope="module")
def phone_site(tmp_path_factory):
    """A post with a table wider than a phone (two papers of one long-named lab) and its trends page with charts."""
    project = add_site_files(make_project(tmp_path_factory.mktemp("phone")))
    base = {"version": "v1", "authors": ["A. Author"], "affiliations": [LONG_NAME],
            "abstract": "We propose a NeRF method with diffusion. Experiments show it beats baselines."}
    sample = write_jsonl(project / "phone.jsonl", [
        {**base, "listed_on": "2024-05-01", "arxiv_id": "2405.00001", "title": "NeRF One"},
        {**base, "listed_on": "2024-05-02", "arxiv_id": "2405.00002", "title": "NeRF Two"},
        {**base, "listed_on": "2024-05-02", "arxiv_id": "2405.00003", "title": "NeRF Three"}])
    for day in ("2024-05-01", "2024-05-02"):
        result = run_cli(project, "run", "--offline", "--topic", "nerf", "--date", day, "--sample", str(sample))
        assert result.returncode == 0, result.stderr
    assert run_cli(project, "render").returncode == 0
    with serve(project / "_site") as url:
        yield project, url


def chart_text_px(page, project) -> list[tuple[str, float]]:
    """Each chart's smallest text in CSS px as the page shows it: its font size (pt, from the PNG) × dpi / 72 ×
    displayed width / natural width."""
    from PIL import Image

    shown = page.evaluate("Array.from(document.images).filter(i => i.src.includes('/charts/'))"
                          ".map(i => [new URL(i.src).pathname, i.getBoundingClientRect().width, i.naturalWidth])")
    sizes = []
    for path, width, natural in shown:
        image = Image.open(project / "_site" / path.lstrip("/"))
        points, dpi = float(image.info["paperpress:min-font-pt"]), image.info["dpi"][0]
        sizes.append((path, points * dpi / 72 * width / natural))
    return sizes


@pytest.mark.parametrize("path", ["posts/2024-05-02-nerf/index.html", "trends/nerf/index.html"])
def test_a_phone_reads_without_scrolling_sideways(browser, phone_site, path):
    project, url = phone_site
    page = browser.new_page(viewport=PHONE)
    page.goto(f"{url}/{path}")
    page.wait_for_load_state("load")
    page.wait_for_function("Array.from(document.images).every(i => i.complete)")
    # No sideways scrolling of the page: what is wider than the phone scrolls inside itself.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    tables = page.evaluate("Array.from(document.querySelectorAll('table')).map(t => [t.scrollWidth, "
                           "t.parentElement.clientWidth, getComputedStyle(t.parentElement).overflowX, "
                           "getComputedStyle(t).overflowX])")
    assert tables
    for width, room, parent_overflow, own_overflow in tables:
        if width > room:
            assert "auto" in (parent_overflow, own_overflow) or "scroll" in (parent_overflow, own_overflow)
    if path.startswith("posts/"):
        assert any(width > room for width, room, _p, _o in tables)  # the long-named lab's table is wider
        assert LONG_NAME in page.inner_text("body")
    else:
        sizes = chart_text_px(page, project)
        assert len(sizes) >= 2 and all(px >= 9 for _path, px in sizes), sizes  # no chart text under 9 CSS px
