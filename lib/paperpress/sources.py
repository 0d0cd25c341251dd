"""Sources of papers for a (topic, day): the embedded/JSONL sample here; the arXiv API in arxiv_api."""

from __future__ import annotations

import datetime as dt
import json
import re
from importlib import resources
from pathlib import Path
from typing import Iterable

from pydantic import ValidationError

from . import query
from .config import PaperpressError, Settings, Topic
from .records import Affiliation, Extras, Paper, make_urls
from .text import clean_text

EMBEDDED_SAMPLE = "metaverse-avatars.jsonl"  # the embedded archive: 37 listed days of 2024 (arXiv metadata, CC0)
EMBEDDED_TOPIC = "metaverse-avatars"  # whose listings the embedded archive holds (its lines name it 元宇宙/虚拟人)
# Read as a first page's are (affiliations.parse_pdf_affiliations): marks such as "1Tsinghua University" or
# "*Google" and edge punctuation trimmed, each name once, at most six; trends normalise them as any other.
MAX_AFFILIATIONS = 6
AFFILIATION_MARK = re.compile(r"^(?:\d{1,2}|[∗*†‡§¶♠♣♥♦])\s?(?=[A-Z][a-z])")
AFFILIATION_EDGES = " ,.;:*∗†‡§¶"


class BadField(ValueError):
    """A sample field of the wrong shape; the message names the field."""


def parse_sample_affiliations(value: object) -> tuple[Affiliation, ...]:
    """A sample line's optional `affiliations`: institution names as a paper's first page gives them."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise BadField("affiliations must be a list of institution names (strings)")
    found: dict[str, Affiliation] = {}
    for raw in value:
        name = AFFILIATION_MARK.sub("", clean_text(raw)).strip(AFFILIATION_EDGES)
        if name:
            found.setdefault(name.lower(), Affiliation(name=name, source="pdf"))
    return tuple(found.values())[:MAX_AFFILIATIONS]


def parse_sample_line(obj: dict) -> Paper:
    """One JSONL line of the sample format into a Paper."""
    arxiv_id, version = obj["arxiv_id"], obj.get("version") or ""
    abs_url, pdf_url = make_urls(arxiv_id, version)
    return Paper(
        arxiv_id=arxiv_id,
        version=version,
        title=clean_text(obj["title"]),
        authors=tuple(clean_text(a) for a in obj["authors"]),
        abstract=clean_text(obj["abstract"]),
        comment=clean_text(obj.get("comment")) or None,
        categories=tuple(obj.get("categories") or ()),
        abs_url=abs_url,
        pdf_url=pdf_url,
    )


def open_sample(path: str | Path | None):
    """The sample file: a JSONL path, or the embedded archive when empty."""
    if not path:
        return resources.files("paperpress.data").joinpath(EMBEDDED_SAMPLE).open(encoding="utf-8")
    try:
        return open(path, encoding="utf-8")
    except OSError as exc:
        raise PaperpressError(f"{path}: cannot read sample file ({exc.strerror})") from exc


def belongs_to(obj: dict, paper: Paper, topic: Topic, embedded: bool) -> bool:
    """Whether a sample listing is the topic's: it names the topic, or the topic's query (and categories) find it.

    A listing that names its topic (`topic`: slug or name; the embedded archive's are metaverse-avatars')
    belongs to that topic; any other listing is kept only where arXiv's search for the topic would find it.
    """
    named = EMBEDDED_TOPIC if embedded else obj.get("topic")
    if named in (topic.slug, topic.name):
        return True
    if topic.categories and paper.categories and not set(topic.categories) & set(paper.categories):
        return False
    try:
        return query.match_paper(topic.query, paper.title, paper.authors, paper.abstract, paper.comment or "",
                                 paper.categories)
    except query.QueryError as exc:
        raise PaperpressError(f"topic {topic.slug}: {exc}") from None


def read_sample_day(path: str | Path | None, day: dt.date,
                    topic: Topic | None = None) -> dict[str, tuple[Paper, tuple[Affiliation, ...]]]:
    """arXiv id → (paper, its affiliations) of what a sample JSONL lists on `day`, in file order, each id once.

    With a topic, only the listings that belong to it (belongs_to).
    """
    found: dict[str, tuple[Paper, tuple[Affiliation, ...]]] = {}
    with open_sample(path) as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                if obj.get("listed_on") != day.isoformat():
                    continue
                paper = parse_sample_line(obj)
                affiliations = parse_sample_affiliations(obj.get("affiliations"))
            except (json.JSONDecodeError, AttributeError, KeyError, TypeError, ValidationError, BadField) as exc:
                detail = exc if isinstance(exc, BadField) else type(exc).__name__
                raise PaperpressError(f"{path or EMBEDDED_SAMPLE}: line {number}: not a sample record ({detail})") from exc
            if topic is not None and not belongs_to(obj, paper, topic, not path):
                continue
            found.setdefault(paper.arxiv_id, (paper, affiliations))
    return found


def read_sample(path: str | Path | None, day: dt.date, topic: Topic | None = None) -> list[Paper]:
    """Papers a sample JSONL lists on `day` (the topic's only, when given), in file order, each id once."""
    return [paper for paper, _ in read_sample_day(path, day, topic).values()]


def make_sample_extras(papers: Iterable[Paper], path: str | Path | None, day: dt.date) -> list[Extras]:
    """Extras of offline papers: the sample's affiliations, where a live run would read the first page."""
    listed = read_sample_day(path, day)
    return [Extras(affiliations=listed[p.arxiv_id][1] if p.arxiv_id in listed else ()) for p in papers]


def fetch_papers(source: str, topic: Topic, day: dt.date, settings: Settings, sample_path: str = "",
                 window: tuple[dt.datetime, dt.datetime] | None = None) -> list[Paper]:
    """Every paper of the named source: the sample's listing of `day`, or arXiv's submissions in `window`.

    The arXiv source reads settings.arxiv_cache instead of the API when a backfill or catch-up run has
    fetched the whole span once; it keeps exactly what the window's own query would find.
    """
    if source == "sample":
        return read_sample(sample_path, day, topic)
    if source != "arxiv":
        raise PaperpressError(f"unknown source '{source}' (use 'sample' or 'arxiv')")
    if window is None:
        raise PaperpressError("the arXiv source needs a submission window")
    from . import arxiv_api  # the HTTP stack loads only for live runs

    if settings.arxiv_cache:
        cached = arxiv_api.load_papers(settings.arxiv_cache)
        return arxiv_api.sort_newest(arxiv_api.keep_categories(arxiv_api.select_window(cached, *window), topic.categories))
    return arxiv_api.fetch_arxiv(topic, window, settings)


def split_new(papers: Iterable[Paper], posted: dict[str, set[str]]) -> tuple[list[Paper], list[Paper]]:
    """Split papers into new ones and new versions of papers already posted (id -> versions seen)."""
    new, updated = [], []
    for paper in papers:
        seen = posted.get(paper.arxiv_id)
        if seen is None:
            new.append(paper)
        elif paper.version not in seen:
            updated.append(paper)
    return new, updated
