"""Posts written straight from Digest records (no notebook run): the sidecar and a page made by post.py."""

from __future__ import annotations

from pathlib import Path

import nbformat
import yaml
from nbformat.v4 import new_markdown_cell, new_notebook, new_raw_cell

from paperpress import post
from paperpress.archive import save_digest
from paperpress.records import Digest, Entry, Paper, Summary, make_urls
from paperpress.text import escape_md

HOSTILE_TITLE = 'Bad <script>alert("x")</script> & <b>bold</b> *star* [link](javascript:alert(1))'


def make_paper(arxiv_id: str, title: str, authors: tuple[str, ...] = ("Ada Lovelace", "Alan Turing")) -> Paper:
    """A paper with arXiv's links."""
    abs_url, pdf_url = make_urls(arxiv_id, "v1")
    return Paper(arxiv_id=arxiv_id, version="v1", title=title, authors=authors, abstract=f"Abstract of {title}.",
                 abs_url=abs_url, pdf_url=pdf_url)


def make_summary(tldr: str) -> Summary:
    """A summary with its one line and three takeaways."""
    return Summary(tldr=tldr, key_takeaways=["one", "two", "three"])


def make_digest(slug: str, name: str, date: str, papers: list[Paper], language: str = "en",
                listed: tuple[Paper, ...] = ()) -> Digest:
    """A post's record: each paper summarised (its one line names it)."""
    entries = tuple(Entry(paper=p, summary=make_summary(f"One line on {p.title}")) for p in papers)
    return Digest(date=date, topic_slug=slug, topic_name=name, language=language, source="sample",
                  summariser="offline", entries=entries, listed=listed)


def write_post(posts: Path, digest: Digest, folder: str = "") -> Path:
    """posts/<date>-<slug>/: the sidecar and an index.ipynb whose page is post.py's Markdown."""
    target = posts / (folder or f"{digest.date}-{digest.topic_slug}")
    target.mkdir(parents=True, exist_ok=True)
    save_digest(digest, str(target))
    matter = {"title": f"{escape_md(digest.topic_name)} · {digest.date}", "date": digest.date,
              "categories": [escape_md(digest.topic_name)], "description": f"Papers of {digest.date}"}
    body = [post.render_header(digest), *[post.render_paper(e, digest.language) for e in digest.entries]]
    body += [part for part in (post.render_listed(digest),) if part]
    cells = [new_raw_cell("---\n" + yaml.safe_dump(matter, allow_unicode=True, sort_keys=False) + "---"),
             new_markdown_cell("\n\n".join(body))]
    nbformat.write(new_notebook(cells=cells), target / "index.ipynb")
    return target
