"""A page and an RSS feed per topic, and the today page: Quarto pages written from the posts' sidecars.

A topic's posts are the folders whose sidecar names the topic (never a folder-name pattern: `head`
would collect `talking-head`). Each topic page lists them by explicit path in a Quarto listing with a
feed; the today page lists the latest mailing of every topic, one line per paper, linked to the paper's
anchor (`#arxiv-<id>`) in its post. Both are generated (git-ignored) and written again before each render.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import yaml

from .archive import SIDECAR, read_digest
from .config import PaperpressError, load_labels, load_topics
from .records import Digest
from .text import escape_md, paper_anchor

TOPIC_DIR = "topics"  # topics/<slug>.qmd → topics/<slug>.html and its feed topics/<slug>.xml
TODAY = "today.qmd"
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")  # config.Topic's slug: it names a file here
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
GENERATED = "# Written by `paperpress pages` from the posts' sidecars: edits are overwritten."


@dataclass(frozen=True)
class PostRef:
    """One post of a topic, as its sidecar names it."""

    date: str
    folder: str  # the post's folder name under posts/
    topic_slug: str
    topic_name: str
    language: str


def scan_posts(posts_dir: str | Path) -> dict[str, list[PostRef]]:
    """Topic slug → its posts, newest first, read from each post's sidecar (folder names are not trusted)."""
    found: dict[str, list[PostRef]] = {}
    for path in sorted(Path(posts_dir).glob(f"*/{SIDECAR}")):
        folder = path.parent
        if folder.name.startswith((".", "_")) or not (folder / "index.ipynb").is_file():
            continue  # a folder set aside mid-swap, or a sidecar without a page
        try:
            data = json.loads(path.read_bytes())
            ref = PostRef(str(data["date"]), folder.name, str(data["topic_slug"]), str(data["topic_name"]),
                          str(data.get("language") or "en"))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # archive.load_archive warns about unreadable sidecars; a page just leaves them out
        if not SLUG.match(ref.topic_slug) or not DATE.match(ref.date) or ref.language not in ("zh", "en"):
            continue
        found.setdefault(ref.topic_slug, []).append(ref)
    return {slug: sorted(refs, key=lambda r: (r.date, r.folder), reverse=True) for slug, refs in found.items()}


def order_topics(scanned: dict[str, list[PostRef]], topics_file: str | Path) -> list[str]:
    """Slugs with posts: topics.yml's order first, then topics no longer listed there, by slug."""
    try:
        listed = [slug for slug in load_topics(topics_file) if slug in scanned]
    except PaperpressError:
        listed = []
    return listed + sorted(set(scanned) - set(listed))


def site_language(root: Path) -> str:
    """The site's language for the today page: zh when _quarto.yml's lang is Chinese, else en."""
    path = root / "_quarto.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    lang = str((data or {}).get("lang") or "") if isinstance(data, dict) else ""
    return "zh" if lang.lower().startswith("zh") else "en"


def lang_tag(language: str) -> str:
    """The page's lang attribute for a topic language."""
    return "zh-Hans" if language == "zh" else "en"


def dump_page(matter: dict, body: str) -> str:
    """A .qmd page: a comment, YAML front matter, Markdown body."""
    yaml_text = yaml.safe_dump(matter, allow_unicode=True, sort_keys=False, width=10_000)
    return f"---\n{GENERATED}\n{yaml_text}---\n\n{body.strip()}\n"


def build_topic_page(refs: list[PostRef]) -> str:
    """A topic's page: a Quarto listing of its posts by path, newest first, with its RSS feed (topics/<slug>.xml)."""
    latest = refs[0]
    words = load_labels("delivery")[latest.language]
    name = escape_md(latest.topic_name)  # Quarto reads front-matter strings as Markdown
    matter = {
        "title": name,
        "description": words["topic_description"].format(n=len(refs), date=latest.date),
        "lang": lang_tag(latest.language),
        "listing": {
            # Explicit paths, relative to this page (a listing glob like ../posts/*-head/ would take talking-head too).
            "contents": [f"../posts/{ref.folder}/index.ipynb" for ref in refs],
            "sort": "date desc",
            "type": "default",
            "fields": ["image", "date", "title", "description"],
            # Quarto writes topics/<slug>.xml and links it in the page's head; it needs website.site-url. The
            # channel's title is taken as plain text and XML-escaped (quarto-cli src/project/types/website/listing/
            # website-listing-feed.ts: `options.title || websiteTitle(...)`; feed/preamble.ejs.md: escape(feed.title)).
            "feed": {"title": " ".join(latest.topic_name.split()), "language": lang_tag(latest.language)},
        },
        "page-layout": "full",
        "title-block-banner": False,
    }
    body = words["topic_intro"].format(feed=f"[{words['feed']}]({quote(latest.topic_slug)}.xml)")
    return dump_page(matter, body)


def post_href(ref: PostRef, anchor: str = "") -> str:
    """Link from the site root to a post (the .html Quarto writes), optionally to a paper's anchor in it."""
    return f"posts/{quote(ref.folder)}/index.html" + (f"#{anchor}" if anchor else "")


def render_today_topic(ref: PostRef, digest: Digest, words: dict) -> str:
    """One topic's part of the today page: its heading, its latest post, one line per paper."""
    papers = [e.paper for e in digest.entries] + list(digest.listed)
    lines = [f"## [{escape_md(ref.topic_name)}]({TOPIC_DIR}/{quote(ref.topic_slug)}.html) · {ref.date}", "",
             f"[{words['post']}]({post_href(ref)}) · {words['papers'].format(n=len(papers))}", ""]
    if not papers:
        return "\n".join(lines + [words["empty"]])
    for paper in papers:
        first = paper.authors[0] if paper.authors else ""
        more = f" {words['et_al']}" if len(paper.authors) > 1 else ""
        lines.append(f"- [{escape_md(paper.title)}]({post_href(ref, paper_anchor(paper.arxiv_id))})"
                     + (f" · {escape_md(first)}{more}" if first else ""))
    return "\n".join(lines)


def build_today_page(latest: list[PostRef], posts_dir: Path, language: str) -> str:
    """The today page: the latest mailing of every topic, grouped by topic, in the site's language."""
    words = load_labels("delivery")[language]
    parts = [render_today_topic(ref, read_digest(posts_dir / ref.folder), words) for ref in latest]
    matter = {"title": words["today_title"], "description": words["today_description"], "lang": lang_tag(language)}
    return dump_page(matter, "\n\n".join([words["today_intro"], *parts] if parts else [words["no_posts"]]))


def write_pages(root: str | Path = ".", topics_file: str | Path = "topics.yml", posts_dir: str | Path = "posts") -> list[Path]:
    """Write topics/<slug>.qmd for every topic with posts and today.qmd; topic pages of vanished topics go."""
    root = Path(root)
    posts = root / posts_dir
    scanned = scan_posts(posts)
    slugs = order_topics(scanned, root / topics_file)
    folder = root / TOPIC_DIR
    shutil.rmtree(folder, ignore_errors=True)  # wholly generated: a topic without posts keeps no page
    written = []
    if slugs:
        folder.mkdir(parents=True)
    for slug in slugs:
        path = folder / f"{slug}.qmd"
        path.write_text(build_topic_page(scanned[slug]), encoding="utf-8")
        written.append(path)
    today = root / TODAY
    today.write_text(build_today_page([scanned[s][0] for s in slugs], posts, site_language(root)), encoding="utf-8")
    return [*written, today]
