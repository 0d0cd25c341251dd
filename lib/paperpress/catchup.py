"""Which mailings a run posts (catch-up after a topic's last post, a backfill's range) and one arXiv query for them all."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from pathlib import Path
from typing import Iterator

from . import archive, mailings, sources
from .config import PaperpressError, Settings, Topic
from .records import Paper

CACHE_VARIABLE = "PAPERPRESS_ARXIV_CACHE"  # read by config.load_settings in each run's kernel


def list_sample_days(path: str) -> list[dt.date]:
    """Days a sample file lists papers on, oldest first: offline, they are the mailings."""
    with sources.open_sample(path) as lines:
        days = {json.loads(line).get("listed_on", "") for line in lines if line.strip()}
    return sorted(dt.date.fromisoformat(d) for d in days if d)


def check_mailing(day: dt.date, now: dt.datetime) -> str:
    """'' when arXiv has announced a mailing dated `day` by `now`; why there is none otherwise.

    A mailing that exists but is not announced yet is bad input (its papers are not public).
    """
    mailing = mailings.mailing_on(day)
    if mailing is None:
        return f"no arXiv mailing is dated {mailings.explain_no_mailing(day)}"
    if mailing.announced > now:
        raise PaperpressError(f"bad date '{day}': arXiv announces that mailing at {mailing.announced:%Y-%m-%d %H:%M} GMT "
                              f"(20:00 US Eastern); its papers are not public yet")
    return ""


def plan_catch_up(posts_dir: str | Path, slug: str, now: dt.datetime, sample: str | None = None) -> list[str]:
    """Mailing dates a run posts, oldest first: every one after the topic's last post (or the last mailing a
    run found empty) that arXiv has announced by `now`; for a topic without either, the latest one only.
    With a sample (offline), its days are the mailings."""
    last_text = max([*archive.list_post_dates(posts_dir, slug)[-1:], archive.read_last_mailing(posts_dir, slug)])
    last = dt.date.fromisoformat(last_text) if last_text else None
    if sample is None:
        return [m.listed.isoformat() for m in mailings.mailings_after(last, now)]
    days = [d for d in list_sample_days(sample) if d <= now.date()]
    return [d.isoformat() for d in (days[-1:] if last is None else [d for d in days if d > last])]


def plan_range(first: dt.date, last: dt.date, now: dt.datetime, sample: str | None = None) -> tuple[list[str], dict[str, str]]:
    """A backfill's mailing dates from `first` to `last`, and for every other day of the range why it has none."""
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    if sample is not None:
        listed = set(list_sample_days(sample))
        return [d.isoformat() for d in days if d in listed], {d.isoformat(): "not in the sample" for d in days if d not in listed}
    dates, without = [], {}
    for day in days:
        mailing = mailings.mailing_on(day)
        if mailing is None:
            without[day.isoformat()] = mailings.explain_no_mailing(day).split(": ", 1)[1]
        elif mailing.announced > now:
            without[day.isoformat()] = "not announced yet"
        else:
            dates.append(day.isoformat())
    return dates, without


def find_windows(topic: Topic, dates: list[str]) -> dict[str, tuple[dt.datetime, dt.datetime]]:
    """Each mailing date's query window (its submissions and the topic's look-back)."""
    return {d: mailings.query_window(mailings.mailing_on(dt.date.fromisoformat(d)), topic.lookback_days) for d in dates}


def fetch_span(topic: Topic, dates: list[str], settings: Settings, path: Path) -> list[Paper]:
    """One paged arXiv query over every date's window, saved at `path` for the runs to read instead of asking again."""
    from . import arxiv_api  # the HTTP stack loads only for live runs

    windows = find_windows(topic, dates).values()
    span = (min(w[0] for w in windows), max(w[1] for w in windows))
    papers = arxiv_api.fetch_arxiv(topic, span, settings)
    arxiv_api.save_papers(path, papers)
    return papers


@contextlib.contextmanager
def fetched_once(topic: Topic, dates: list[str], settings: Settings, work: Path) -> Iterator[list[Paper]]:
    """Fetch the span of `dates` once and point every run started inside (their kernels) at it; cleaned up after."""
    path = work / "spans" / f"{topic.slug}-{dates[0]}-{dates[-1]}.jsonl"
    papers = fetch_span(topic, dates, settings, path)
    before = os.environ.get(CACHE_VARIABLE)
    os.environ[CACHE_VARIABLE] = str(path.resolve())
    try:
        yield papers
    finally:
        if before is None:
            os.environ.pop(CACHE_VARIABLE, None)
        else:
            os.environ[CACHE_VARIABLE] = before
        path.unlink(missing_ok=True)


def count_in_window(papers: list[Paper], window: tuple[dt.datetime, dt.datetime]) -> int:
    """How many fetched papers a date's own query would find."""
    from . import arxiv_api

    return len(arxiv_api.select_window(papers, *window))


def has_news(papers: list[Paper], window: tuple[dt.datetime, dt.datetime], slug: str, posts_dir: str, date: str) -> bool:
    """Whether a date's run would list anything: a paper in its window that no earlier post has (in that version)."""
    from . import arxiv_api

    posted = archive.collect_posted(archive.load_archive(posts_dir, slug, before=date))
    new, updated = sources.split_new(arxiv_api.select_window(papers, *window), posted)
    return bool(new or updated)
