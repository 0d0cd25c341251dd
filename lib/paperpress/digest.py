"""One post's data flow: topic and mailing → papers → new vs. posted → extras → summaries → Digest."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

from . import mailings, sources, summarise
from .archive import COMPLETE, collect_posted, load_archive, read_digest, save_digest  # noqa: F401 - save_digest: the template calls digest.save_digest
from .config import PaperpressError, Settings, find_topic, find_topics_file, load_settings, load_topics, parse_date
from .records import Digest, Entry, Usage


def list_earlier_runs(folder: Path, topic_slug: str, date: str) -> list[Path]:
    """Markers of earlier days of this topic that a parallel backfill still has in flight."""
    return [m for m in folder.glob(f"????-??-??-{topic_slug}") if m.name[:10] < date]


def wait_until(ready, what: str, timeout: float = 3600.0) -> None:
    """Poll `ready()` until it holds; a stuck backfill becomes a clear error, not a hang."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise PaperpressError(f"gave up waiting for {what}")
        time.sleep(0.02)


def wait_for_claims(pending_dir: str, topic_slug: str, date: str) -> dict[str, set[str]]:
    """In a parallel backfill, wait for every earlier day's choice of papers; return what they claimed.

    The backfill marks each day it will run as `<pending_dir>/<date>-<slug>` and removes the marker when the
    run ends; a run writes `<date>-<slug>.claim.json` as soon as it knows its papers. A day chooses its
    papers once every earlier day has claimed (or ended): the same choice as one-by-one runs make, while
    the slow parts (kernel start, PDFs, summaries) overlap.
    """
    if not pending_dir:
        return {}
    folder = Path(pending_dir)
    wait_until(lambda: all((folder / f"{m.name}.claim.json").exists()
                           for m in list_earlier_runs(folder, topic_slug, date)),
               f"earlier days of {topic_slug} to choose their papers")
    claimed: dict[str, set[str]] = {}
    for claim in sorted(folder.glob(f"????-??-??-{topic_slug}.claim.json")):
        if claim.name[:10] < date:
            for arxiv_id, versions in json.loads(claim.read_text(encoding="utf-8")).items():
                claimed.setdefault(arxiv_id, set()).update(versions)
    return claimed


def wait_for_earlier_posts(pending_dir: str, topic_slug: str, date: str) -> None:
    """In a parallel backfill, wait until every earlier day has ended: the trends read their sidecars."""
    if pending_dir:
        folder = Path(pending_dir)
        wait_until(lambda: not list_earlier_runs(folder, topic_slug, date), f"earlier days of {topic_slug} to end")


def claim_papers(pending_dir: str, topic_slug: str, date: str, papers: list) -> None:
    """Tell later days of a parallel backfill which papers this day lists (written atomically)."""
    if not pending_dir:
        return
    path = Path(pending_dir) / f"{date}-{topic_slug}.claim.json"
    data: dict[str, list[str]] = {}
    for paper in papers:
        data.setdefault(paper.arxiv_id, []).append(paper.version)
    path.with_suffix(".tmp").write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
    path.with_suffix(".tmp").replace(path)


def build_digest(
    date: str,
    topic: str,
    source: str = "sample",
    summariser: str = "offline",
    sample_path: str = "",
    topics_file: str = "",
    posts_dir: str = "posts",
    output_dir: str = "",
    max_papers: int = 0,
    lookback_days: int = -1,
    model: str = "",
    settings: Settings | None = None,
) -> Digest:
    """Everything one post shows, from the notebook's parameters (source "sidecar": the published post's own)."""
    if source == "sidecar":  # `paperpress rebuild`: the post's data as published, no arXiv, PDF or model call
        return read_digest(Path(posts_dir) / f"{parse_date(date).isoformat()}-{topic}")
    settings = settings or load_settings()
    day = parse_date(date)
    path = Path(topics_file) if topics_file else find_topics_file()
    chosen = find_topic(load_topics(path), topic, path)
    summarise.check_summariser(summariser, settings, chosen, model)  # no key: fail before fetching anything
    overrides = {k: v for k, v in (("max_papers", max_papers), ("model", model)) if v}
    if lookback_days >= 0:
        overrides["lookback_days"] = lookback_days
    chosen = chosen.model_copy(update=overrides)
    marker = Path(output_dir) / COMPLETE if output_dir else None
    if marker is not None and marker.is_file():  # `paperpress run` completes this post: its papers stay as they are
        return complete_digest(marker, chosen, settings, summariser)
    window = find_window(source, day, chosen.lookback_days)
    papers = sources.fetch_papers(source, chosen, day, settings, sample_path, window)
    iso = day.isoformat()
    claimed = wait_for_claims(settings.pending_dir, chosen.slug, iso)
    posted = collect_posted(load_archive(posts_dir, chosen.slug, before=iso))
    for arxiv_id, versions in claimed.items():
        posted.setdefault(arxiv_id, set()).update(versions)
    new, updated = sources.split_new(papers, posted)
    claim_papers(settings.pending_dir, chosen.slug, iso, new + updated)
    # Every new paper is in the post; max_papers caps the ones with a full summary (newest first: the
    # source's order), the others are listed briefly. PDFs are read for the summarised ones only.
    summarised, listed = new[: chosen.max_papers], new[chosen.max_papers :]
    assets = Path(output_dir) if output_dir else None
    if source == "arxiv":
        from . import pdf  # PDF libraries load only for live runs: offline posts stay near papermill's floor

        extras = pdf.enrich_papers(summarised, settings, assets)
    else:
        extras = sources.make_sample_extras(summarised, sample_path, day)  # its affiliations stand in for first pages
    entries = [Entry(paper=p, extras=e) for p, e in zip(summarised, extras)]
    entries = summarise.summarise_entries(entries, chosen, settings, summariser)
    wait_for_earlier_posts(settings.pending_dir, chosen.slug, iso)  # before the trends read them
    return Digest(
        date=iso,
        topic_slug=chosen.slug,
        topic_name=chosen.name,
        language=chosen.language,
        source=source,
        summariser="offline" if summariser == "offline" else summarise.pick_endpoint(chosen, settings).spec,
        entries=tuple(entries),
        updated=tuple(updated),
        listed=tuple(listed),
        window=tuple(t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in window) if window else (),
        usage=summarise.sum_usage(entries),
    )


def complete_digest(marker: Path, topic, settings: Settings, summariser: str) -> Digest:
    """A post as it was, with the summaries it lacked asked for again (from the cache when it has them).

    Nothing else changes: the same papers in the same places, their extras (the PDF text of the prompt
    included, so a cached answer is found), the listed and updated papers, the window. A summary that still
    cannot be had keeps its old entry and note.
    """
    old = Digest.model_validate_json(marker.read_bytes())
    marker.unlink()  # a handshake of the run, never part of the page
    if old.date and old.topic_slug != topic.slug:
        raise PaperpressError(f"{marker}: a post of topic '{old.topic_slug}', not '{topic.slug}'")
    entries = list(old.entries)
    todo = [i for i, e in enumerate(entries) if e.summary is None]
    asked = [entries[i].model_copy(update={"summary_note": "", "usage": Usage()}) for i in todo]
    for i, entry in zip(todo, summarise.summarise_entries(asked, topic, settings, summariser)):
        if entry.summary is not None:
            entries[i] = entry
    return old.model_copy(update={"entries": tuple(entries), "usage": summarise.sum_usage(entries)})


def find_window(source: str, day: dt.date, lookback_days: int) -> tuple[dt.datetime, dt.datetime] | None:
    """The submissions a post asks arXiv for: its mailing's window and the look-back (None for the sample).

    A sample lists papers by day: its days are the mailings.
    """
    if source != "arxiv":
        return None
    mailing = mailings.mailing_on(day)
    if mailing is None:
        raise PaperpressError(f"no arXiv mailing is dated {mailings.explain_no_mailing(day)}")
    return mailings.query_window(mailing, lookback_days)
