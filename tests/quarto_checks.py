"""What a reader sees in a site rendered by the real Quarto: checks shared by test_quarto (and usable by hand)."""

from __future__ import annotations

import re
from pathlib import Path

import lxml.html

WARNING = re.compile(r"^\s*(?:\x1b\[[0-9;]*m)*(WARN|WARNING)\b", re.M)


def read_page(path: Path):
    """A rendered page as an lxml tree."""
    return lxml.html.fromstring(path.read_bytes())


def find_warnings(log: str) -> list[str]:
    """Quarto's warning lines in its output (each page's, pandoc's and its own)."""
    return [line for line in log.splitlines() if WARNING.match(line)]


def missing_from_toc(page, depth: int = 3) -> list[str]:
    """Section headings (h2 down to h<depth>, the page's toc-depth) of its content that "On this page" lacks."""
    main = page.get_element_by_id("quarto-document-content")
    levels = "|".join(f".//h{n}" for n in range(2, depth + 1))
    anchors = [h.get("data-anchor-id") or h.getparent().get("id") for h in main.xpath(levels)] if levels else []
    listed = {a.get("href", "")[1:] for a in page.xpath('//nav[@id="TOC"]//a')}
    return [a for a in anchors if a and a not in listed]


def images_without_alt(page) -> list[str]:
    """Images of the page without alt text."""
    return [img.get("src", "") for img in page.xpath("//img") if not (img.get("alt") or "").strip()]


def code_shown(page) -> list[str]:
    """Source code blocks shown on the page (notebook cells' code)."""
    return [el.text_content()[:60] for el in page.xpath('//*[contains(@class, "cell-code") or contains(@class, "sourceCode")]')]


def listed_posts(index) -> set[str]:
    """Post folders the home page's listing links to."""
    hrefs = index.xpath('//div[contains(@class, "quarto-listing")]//a/@href')
    return {m.group(1) for h in hrefs if (m := re.search(r"posts/([^/]+)/index\.html", h))}


def check_site(site: Path, log: str, posts: list[str], toc_depth: dict[str, int] | None = None) -> list[str]:
    """Every problem a reader would meet, one line each ([] when the site is clean); toc_depth: per section
    (posts, trends), the toc-depth its pages are rendered with (Quarto's default, 3, otherwise)."""
    problems = [f"quarto: {w.strip()}" for w in find_warnings(log)]
    pages = sorted(site.glob("*.html")) + sorted(site.glob("posts/*/index.html")) + sorted(site.glob("trends/*/index.html"))
    for path in pages:
        page, name = read_page(path), path.relative_to(site).as_posix()
        problems += [f"{name}: image without alt text: {src}" for src in images_without_alt(page)]
        problems += [f"{name}: code shown: {code!r}" for code in code_shown(page)]
        if name.startswith(("posts/", "trends/")):
            depth = (toc_depth or {}).get(name.split("/")[0], 3)
            problems += [f"{name}: heading #{a} missing from the table of contents" for a in missing_from_toc(page, depth)]
    missing = sorted(set(posts) - listed_posts(read_page(site / "index.html")))
    problems += [f"index.html: the listing lacks {name}" for name in missing]
    problems += [f"posts/{name}: not rendered" for name in posts if not (site / "posts" / name / "index.html").is_file()]
    return problems
