"""Trends: keywords, affiliations and method tags counted per paper, for one post or a topic's archive."""

from __future__ import annotations

import datetime as dt
import gc
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist
from typing import Callable, Iterable

import numpy as np
import pandas as pd
from .archive import load_archive
from .config import TRENDS_WINDOW_DAYS, find_topic, find_topics_file, load_topics
from .institutions import Institution, merge_spellings, normalise_affiliation
from .records import Affiliation, Digest, Entry
from .text import is_title_piece
from .vocab import family_order, map_keywords, method_families, normalise_keyword, query_terms, tag_methods

WINDOW_DAYS = TRENDS_WINDOW_DAYS  # trailing window of a post's archive section, and of rising/fading terms
MIN_PAPERS = 5  # minimum support: a term is tested only with at least this many papers in one of the two windows
MIN_KNOWN = 2  # a phrase that this many papers use on its own is a known term: phrases holding it count for it
MIN_WORD = 3  # the same for a single word (a lone "real" or "time" is more often a fragment than a term)
PRIOR_WEIGHT = 0.1  # the prior of the log-odds is worth this share of the papers compared (α0)
FDR = 0.05  # expected share of false findings among the terms called rising or fading (Benjamini–Hochberg)
MAX_WEEKLY_DAYS = 182  # spans up to about half a year are counted per week, longer ones per month
KINDS = ("keyword", "method", "family", "affiliation", "country")
# The kinds whose changes are tested, and their names in trends.json.
TESTED = {"keyword": "keyword", "method": "method", "family": "family", "affiliation": "institution"}
PLURALS = {"keyword": "keywords", "method": "methods", "family": "families", "institution": "institutions"}
PAPERS_OF = {"keyword": "summarised", "affiliation": "detailed", "country": "detailed"}  # who can have the kind's facts


def counted_affiliations(entry: Entry) -> tuple[Affiliation, ...]:
    """The affiliations an entry counts with: OpenAlex's, else the first page's, else the model's grounded ones."""
    # OpenAlex's when it had any, else the first page's (affiliations.find_affiliations). Sidecars written before
    # the first-page reader left out the title's lines may hold a piece of the title ("D Masks" of "2D Masks").
    title = entry.paper.title
    found = tuple(a for a in entry.extras.affiliations
                  if a.source != "pdf" or not is_title_piece(a.name, title, marked=True))
    if found:
        return found
    # The summary's were grounded against the first page and OpenAlex (gemini.ground_summary) before they got here.
    return tuple(Affiliation(name=n, source="model") for n in (entry.summary.affiliations if entry.summary else []))


def institutions_of(entry: Entry) -> list[Institution]:
    """Normalised institutions of an entry (see counted_affiliations)."""
    return [normalise_affiliation(name, ror, country) for name, ror, country in raw_affiliations(entry)]


# --- one day's tables -----------------------------------------------------------------------------


def count_per_paper(entries: Iterable[Entry], terms_of: Callable[[Entry], Iterable[str]]) -> Counter:
    """How many papers mention each term (a term counts once per paper)."""
    counts: Counter = Counter()
    for entry in entries:
        counts.update({t for t in terms_of(entry) if t})
    return counts


def keywords_of(entry: Entry) -> list[str]:
    """Normalised keywords of an entry's summary (those that say nothing dropped)."""
    return [normalise_keyword(k) for k in (entry.summary.keywords if entry.summary else [])]


def affiliations_of(entry: Entry) -> list[str]:
    """Normalised institution names of an entry."""
    return [i.name for i in institutions_of(entry)]


def methods_of(entry: Entry) -> list[str]:
    """Method tags of an entry's summary."""
    return list(entry.summary.methods) if entry.summary else []


def top_table(counts: Counter, column: str, top: int) -> pd.DataFrame:
    """The `top` most frequent terms as a table (ties broken alphabetically, so reruns match)."""
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return pd.DataFrame(rows, columns=[column, "papers"])


def keyword_table(digest: Digest, top: int = 10) -> pd.DataFrame:
    """Most frequent keywords of today's papers."""
    return top_table(count_per_paper(digest.entries, keywords_of), "keyword", top)


def affiliation_table(digest: Digest, top: int = 10) -> pd.DataFrame:
    """Most frequent institutions of today's papers, with their country."""
    countries = {i.name: i.country for e in digest.entries for i in institutions_of(e)}
    table = top_table(count_per_paper(digest.entries, affiliations_of), "affiliation", top)
    table.insert(1, "country", [countries.get(name, "") for name in table["affiliation"]])
    return table


def method_table(digest: Digest) -> pd.DataFrame:
    """Method tags of today's papers (the briefly listed ones tagged from title and abstract), with their family."""
    families = method_families()
    counts = count_per_paper(digest.entries, methods_of)
    counts.update(tag for paper in digest.listed for tag in set(tag_methods(f"{paper.title}. {paper.abstract}")))
    table = top_table(counts, "method", top=50)
    table.insert(1, "family", [families.get(tag, "other") for tag in table["method"]])
    return table


# --- an archive of posts --------------------------------------------------------------------------


@dataclass(frozen=True)
class Trends:
    """A topic's posts up to `end` as per-paper facts: papers (date, paper) and, per kind, (date, paper, term)."""

    topic_slug: str
    topic_name: str
    language: str
    end: str  # last day counted (YYYY-MM-DD)
    window_days: int
    post_dates: tuple[str, ...]
    papers: pd.DataFrame = field(repr=False)
    facts: dict[str, pd.DataFrame] = field(repr=False)  # kind (KINDS) → date, paper, term; each once per paper
    countries: dict[str, str] = field(default_factory=dict, repr=False)  # institution → country name
    earlier_posts: int = 0  # posts before the newest one (0: a first post has no archive to compare)
    query: str = ""  # the topic's arXiv query: its terms are left out of the keyword counts
    memo: dict = field(default_factory=dict, repr=False, compare=False)  # tables computed once per Trends


class Columns:
    """Growing columns of raw facts of one kind: the paper's position (in collect_facts' papers) and the value."""

    def __init__(self) -> None:
        self.owners: list[int] = []
        self.values: list = []

    def extend(self, owner: int, values: list) -> None:
        """Add one paper's values."""
        self.owners += [owner] * len(values)
        self.values += values

    def frame(self, terms: list, dates: pd.DatetimeIndex, ids) -> pd.DataFrame:
        """The facts with their counting terms (a term once per paper, the first time; empty terms dropped).

        dates and ids are the papers' (by position): rows are told apart by integers, not by hashing strings.
        """
        if not len(terms):  # the columns an empty archive has always had
            return pd.DataFrame({"date": to_dates([]), "paper": [], "term": []})
        codes, names = pd.factorize(pd.Index(terms, dtype=object), use_na_sentinel=False)
        owners = np.asarray(self.owners, dtype=np.int64)
        rows = np.flatnonzero(codes != names.get_loc("")) if "" in names else np.arange(len(codes))
        _, first = np.unique(owners[rows] * max(len(names), 1) + codes[rows], return_index=True)
        rows = rows[np.sort(first)]
        # From arrays typed the way pandas types a whole column (str): a frame left with no row keeps its types.
        terms_typed = pd.Series(np.asarray(names, dtype=object)).array
        return pd.DataFrame({"date": dates.take(owners[rows]), "paper": ids.take(owners[rows]),
                             "term": terms_typed.take(codes[rows])})


def to_dates(days: list[str]) -> pd.DatetimeIndex:
    """YYYY-MM-DD strings as dates, each distinct day parsed once (an archive has few days, many rows)."""
    codes, uniques = pd.factorize(pd.Index(days, dtype=object))
    return pd.DatetimeIndex(pd.to_datetime(uniques, format="%Y-%m-%d")).take(codes) if len(days) else pd.DatetimeIndex([])


def raw_affiliations(entry: Entry) -> list[tuple[str, str | None, str | None]]:
    """An entry's institutions as (name, ror, country), before normalising (see counted_affiliations)."""
    return [(a.name, a.ror, a.country) for a in counted_affiliations(entry)]


def collect_facts(archive: Iterable[Digest]) -> tuple[list[tuple[str, str, bool, bool]], dict[str, Columns]]:
    """Papers (first posting only: day, id, summarised, detailed) and the raw keywords, method tags and affiliations.

    Only a summarised paper can have keywords, and only a detailed one (an entry of its post, not one listed
    briefly beyond max_papers) affiliations: each kind's shares are taken of the papers that could have it.
    Each raw fact names its paper by position in the papers returned.
    """
    papers: dict[str, tuple[str, bool, bool]] = {}
    raw = {kind: Columns() for kind in ("keyword", "method", "affiliation")}
    for digest in archive:
        day = digest.date
        for entry in digest.entries:
            pid = entry.paper.arxiv_id
            if pid in papers:
                continue  # a paper counts on the day it was first posted
            owner, summary = len(papers), entry.summary
            papers[pid] = (day, summary is not None, True)
            if summary:
                raw["keyword"].extend(owner, summary.keywords)
                raw["method"].extend(owner, summary.methods)
            raw["affiliation"].extend(owner, raw_affiliations(entry))
        for paper in digest.listed:  # beyond max_papers: no summary, no PDF, but counted and method-tagged
            if paper.arxiv_id not in papers:
                owner = len(papers)
                papers[paper.arxiv_id] = (day, False, False)
                raw["method"].extend(owner, tag_methods(f"{paper.title}. {paper.abstract}"))
    return [(day, pid, summarised, detailed) for pid, (day, summarised, detailed) in papers.items()], raw


def split_keywords(frame: pd.DataFrame, topic: frozenset[str]) -> pd.DataFrame:
    """Keyword facts in their counting terms: one name per concept, phrases split, the topic's own terms out."""
    codes, names = pd.factorize(frame["term"])  # the frame holds each (paper, keyword) once: counts are papers
    mapping = map_keywords(dict(zip(names, np.bincount(codes, minlength=len(names)).tolist())), topic,
                           MIN_KNOWN, MIN_WORD)
    # Each fact becomes one row per term it counts for (numpy: an archive has many facts, few distinct keywords).
    atom_codes, atoms = pd.factorize(pd.Index([a for name in names for a in mapping[name]], dtype=object))
    lengths = np.array([len(mapping[name]) for name in names], dtype=int)
    starts = np.cumsum(lengths) - lengths
    reps = lengths[codes]
    rows = np.repeat(np.arange(len(codes)), reps)
    within = np.arange(len(rows)) - np.repeat(np.cumsum(reps) - reps, reps)
    terms = atom_codes[starts[codes[rows]] + within] if len(rows) else np.array([], dtype=int)
    papers = pd.factorize(frame["paper"])[0][rows]
    _, first = np.unique(papers * max(len(atoms), 1) + terms, return_index=True)  # a term once per paper
    keep = rows[np.sort(first)], terms[np.sort(first)]
    return pd.DataFrame({"date": frame["date"].to_numpy()[keep[0]], "paper": frame["paper"].to_numpy()[keep[0]],
                         "term": np.asarray(atoms, dtype=object)[keep[1]]})


def build_frames(archive: Iterable[Digest], topic: frozenset[str] = frozenset()
                 ) -> tuple[pd.DataFrame, dict[str, pd.DataFrame], dict[str, str]]:
    """Papers and per-kind facts of an archive, normalised (each distinct raw value once), topic terms out."""
    papers, raw = collect_facts(archive)
    keywords = {k: normalise_keyword(k) for k in set(raw["keyword"].values)}
    families = method_families()
    institutions = {a: normalise_affiliation(*a) for a in set(raw["affiliation"].values)}
    spelling = merge_spellings(i.name for i in institutions.values() if not i.known)
    named = {a: spelling.get(i.name, i.name) for a, i in institutions.items()}
    countries: dict[str, str] = {}
    for raw_value, institution in sorted(institutions.items(), key=lambda kv: str(kv[0])):
        countries[named[raw_value]] = countries.get(named[raw_value]) or institution.country
    dates, ids = to_dates([p[0] for p in papers]), pd.Series([p[1] for p in papers]).array
    facts = {
        "keyword": split_keywords(raw["keyword"].frame([keywords[k] for k in raw["keyword"].values], dates, ids), topic),
        "method": raw["method"].frame(raw["method"].values, dates, ids),
        "family": raw["method"].frame([families.get(m, "other") for m in raw["method"].values], dates, ids),
        "affiliation": raw["affiliation"].frame([named[a] for a in raw["affiliation"].values], dates, ids),
        "country": raw["affiliation"].frame([institutions[a].country for a in raw["affiliation"].values], dates, ids),
    }
    paper_frame = pd.DataFrame({"date": dates, "paper": [p[1] for p in papers],
                                "summarised": [p[2] for p in papers], "detailed": [p[3] for p in papers]})
    return paper_frame, facts, countries


def make_trends(archive: list[Digest], end: str, window_days: int, slug: str, name: str, language: str,
                earlier_posts: int, query: str = "") -> Trends:
    """Trends of an archive (oldest first) counted up to `end`; the query's and the name's terms left out of keywords."""
    papers, facts, countries = build_frames(archive, query_terms(query, name) if query else frozenset())
    return Trends(slug, name, language, end, window_days, tuple(d.date for d in archive), papers, facts, countries,
                  earlier_posts, query)


def recent_trends(today: Digest, posts_dir: str, window_days: int = WINDOW_DAYS, topics_file: str = "") -> Trends:
    """A post's archive section: earlier posts of its topic in two trailing windows, plus today's.

    topics_file gives the topic's query (its terms stay out of the keywords); '' = the nearest topics.yml.
    """
    path = Path(topics_file) if topics_file else find_topics_file()
    topic = find_topic(load_topics(path), today.topic_slug, path)
    first = (dt.date.fromisoformat(today.date) - dt.timedelta(days=2 * window_days - 1)).isoformat()
    earlier = [d for d in load_archive(posts_dir, today.topic_slug, before=today.date) if d.date >= first]
    return make_trends([*earlier, today], today.date, window_days, today.topic_slug, today.topic_name,
                       today.language, len(earlier), topic.query)


def topic_trends(topic: str, topics_file: str = "topics.yml", posts_dir: str = "posts",
                 window_days: int = WINDOW_DAYS, end_date: str = "") -> Trends:
    """A topic's whole archive up to end_date ('' = its latest post), for its trends page."""
    from .config import PaperpressError

    chosen = find_topic(load_topics(topics_file), topic, topics_file)
    archive = load_archive(posts_dir, chosen.slug)
    # A year of sidecars is millions of objects that live as long as the page: left to the cyclic collector, one
    # full collection while the tables and charts are made walks them all again (a fifth of the page's own time).
    # Frozen, it leaves them (and whatever else is alive now) out; garbage made from here on is collected as ever.
    gc.freeze()
    if end_date:
        archive = [d for d in archive if d.date <= end_date]
    if not archive:
        raise PaperpressError(f"no posts of topic '{chosen.slug}' under {posts_dir}" + (f" up to {end_date}" if end_date else ""))
    return make_trends(archive, archive[-1].date, window_days, chosen.slug, chosen.name, chosen.language, len(archive) - 1,
                       chosen.query)


# --- counts over time -----------------------------------------------------------------------------


def find_windows(trends: Trends) -> tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp]:
    """First day of the previous window, first day of the current window, and the last day counted."""
    end = pd.Timestamp(trends.end)
    current = end - pd.Timedelta(days=trends.window_days - 1)
    return current - pd.Timedelta(days=trends.window_days), current, end


def pick_freq(trends: Trends, start: pd.Timestamp | None = None) -> str:
    """'W' (weeks from Monday) for spans up to about half a year, else 'M' (months)."""
    first = start if start is not None else (trends.papers["date"].min() if len(trends.papers) else pd.Timestamp(trends.end))
    return "W" if (pd.Timestamp(trends.end) - first).days <= MAX_WEEKLY_DAYS else "M"


def period_start(dates: pd.Series, freq: str) -> pd.Series:
    """The first day of each date's week (Monday) or month."""
    if freq == "W":
        return dates - pd.to_timedelta(dates.dt.day_of_week, unit="D")
    return dates.dt.to_period("M").dt.start_time


def all_periods(start: pd.Timestamp, end: pd.Timestamp, freq: str) -> pd.DatetimeIndex:
    """Every period between two days, empty ones included (a gap is a finding too)."""
    first = period_start(pd.Series([start]), freq).iloc[0]
    return pd.date_range(first, end, freq="W-MON" if freq == "W" else "MS")


def period_label(day: pd.Timestamp, freq: str) -> str:
    """A period's column label: the week's Monday (YYYY-MM-DD) or the month (YYYY-MM)."""
    return day.strftime("%Y-%m-%d" if freq == "W" else "%Y-%m")


def quiet_periods(trends: Trends, table: pd.DataFrame) -> list[str]:
    """The period columns of an over-time table in which the topic has no post at all: "no posts", not 0 papers."""
    if table.empty or not len(table.columns):
        return []
    freq = "W" if len(str(table.columns[0])) == 10 else "M"
    dates = pd.Series(pd.to_datetime(list(trends.post_dates)), dtype="datetime64[ns]")
    posted = {period_label(day, freq) for day in period_start(dates, freq)}
    return [column for column in table.columns if column not in posted]


def select_span(frame: pd.DataFrame, start: pd.Timestamp | None, end: pd.Timestamp | None = None) -> pd.DataFrame:
    """Rows dated from start to end (both included; None leaves a side open)."""
    if start is None and end is None:
        return frame
    dates = frame["date"]
    if dates.is_monotonic_increasing:  # facts come in posting order: two binary searches, and a slice, not a copy
        first = dates.searchsorted(start, "left") if start is not None else 0
        return frame.iloc[first:dates.searchsorted(end, "right") if end is not None else len(frame)]
    keep = (dates >= (start if start is not None else dates.min())) & (dates <= (end if end is not None else dates.max()))
    return frame[keep]


def find_span_start(trends: Trends, recent: bool) -> pd.Timestamp | None:
    """Where over-time tables start: the current window (posts) or the first post (trends page)."""
    return find_windows(trends)[1] if recent else None


def count_over_time(trends: Trends, kind: str, terms: Iterable[str] | None = None, recent: bool = False,
              freq: str = "") -> pd.DataFrame:
    """Papers per term (rows) and period (columns), every period shown; rows in the given order."""
    key = ("over time", kind, None if terms is None else tuple(terms), recent, freq)
    if key not in trends.memo:
        trends.memo[key] = tabulate_periods(trends, kind, terms, recent, freq)
    return trends.memo[key].copy()


def tabulate_periods(trends: Trends, kind: str, terms: Iterable[str] | None, recent: bool, freq: str) -> pd.DataFrame:
    """The table of count_over_time, computed."""
    start = find_span_start(trends, recent)
    first = start if start is not None else (trends.papers["date"].min() if len(trends.papers) else None)
    if first is None or pd.isna(first):
        return pd.DataFrame()
    freq = freq or pick_freq(trends, first)
    facts = select_span(trends.facts[kind], first, pd.Timestamp(trends.end))
    periods = all_periods(first, pd.Timestamp(trends.end), freq)
    table = facts.groupby(["term", period_start(facts["date"], freq)]).size().unstack(fill_value=0) if len(facts) \
        else pd.DataFrame()
    rows = list(terms) if terms is not None else sorted(table.index)
    table = table.reindex(index=rows, columns=periods, fill_value=0).fillna(0).astype(int)
    table.columns = [period_label(p, freq) for p in periods]
    table.index.name, table.columns.name = kind, None
    return table


def family_over_time(trends: Trends, recent: bool = False) -> pd.DataFrame:
    """Papers per method family and period (families that occur, in vocabulary order)."""
    present = set(trends.facts["family"]["term"].unique())  # not the column's values one by one: 30 per post
    order = [f for f in (*family_order(), "other") if f in present]
    return count_over_time(trends, "family", order, recent)


def papers_over_time(trends: Trends, recent: bool = False) -> pd.DataFrame:
    """Papers per period (one row, 'papers'), every period shown."""
    start = find_span_start(trends, recent)
    first = start if start is not None else (trends.papers["date"].min() if len(trends.papers) else None)
    if first is None or pd.isna(first):
        return pd.DataFrame()
    freq = pick_freq(trends, first)
    papers = select_span(trends.papers, first, pd.Timestamp(trends.end))
    periods = all_periods(first, pd.Timestamp(trends.end), freq)
    counts = period_start(papers["date"], freq).value_counts().reindex(periods, fill_value=0)
    return pd.DataFrame([counts.to_numpy()], index=pd.Index(["papers"], name="papers"),
                        columns=[period_label(p, freq) for p in periods])


def count_terms(trends: Trends, kind: str, start: pd.Timestamp | None = None,
                end: pd.Timestamp | None = None) -> pd.Series:
    """Papers per term of one kind between two days (sorted by count, then term; computed once per Trends)."""
    key = ("count", kind, start, end)
    if key not in trends.memo:
        counts = select_span(trends.facts[kind], start, end)["term"].value_counts()
        frame = counts.rename_axis("term").reset_index(name="papers")
        frame = frame.sort_values(["papers", "term"], ascending=[False, True], kind="stable")
        trends.memo[key] = pd.Series(frame["papers"].to_numpy(), index=pd.Index(frame["term"].to_numpy(), name="term"),
                                     name="papers")
    return trends.memo[key]


def count_papers(trends: Trends, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None,
                 kind: str = "") -> int:
    """Papers between two days (of a kind's facts: those that could have them, see collect_facts)."""
    papers = select_span(trends.papers, start, end)
    column = PAPERS_OF.get(kind)
    return int(papers[column].sum()) if column and len(papers) else len(papers)


def top_affiliations(trends: Trends, top: int = 10, recent: bool = False) -> pd.DataFrame:
    """Most frequent institutions with country; on the trends page also this window's and the previous one's count."""
    prev, current, end = find_windows(trends)
    total = count_terms(trends, "affiliation", current if recent else None, end)
    table = pd.DataFrame({"affiliation": total.index[:top], "country": [trends.countries.get(n, "") for n in total.index[:top]],
                          "papers": total.to_numpy()[:top]})
    if not recent:
        now = count_terms(trends, "affiliation", current, end)
        before = count_terms(trends, "affiliation", prev, current - pd.Timedelta(days=1))
        table["last window"] = [int(now.get(n, 0)) for n in table["affiliation"]]
        table["window before"] = [int(before.get(n, 0)) for n in table["affiliation"]]
    return table


def top_countries(trends: Trends, top: int = 10) -> pd.DataFrame:
    """Countries of the institutions, by papers (a paper counts once per country)."""
    counts = count_terms(trends, "country")
    return pd.DataFrame({"country": counts.index[:top], "papers": counts.to_numpy()[:top]})


# --- what changed: the current window against the one before --------------------------------------


def score_changes(now, before, n_now, n_before) -> np.ndarray:
    """z-scores of each term's weighted log-odds ratio, now against before, with an informative Dirichlet prior.

    Monroe, Colaresi & Quinn (2008), "Fightin' Words", on papers instead of words: a paper counts once per
    term, so for each term a paper either mentions it or not and the Dirichlet prior is a Beta prior. With
    y₁ of n₁ papers mentioning the term now and y₀ of n₀ before, π = (y₁ + y₀) / (n₁ + n₀) its share of the
    two windows together (the prior's centre: no change) and α₀ = PRIOR_WEIGHT · (n₁ + n₀) the prior's weight:

        a = α₀·π,  b = α₀·(1 − π)
        δ  = log((y₁ + a) / (n₁ − y₁ + b)) − log((y₀ + a) / (n₀ − y₀ + b))    (log-odds ratio)
        σ² = 1/(y₁ + a) + 1/(n₁ − y₁ + b) + 1/(y₀ + a) + 1/(n₀ − y₀ + b)
        z  = δ / σ

    The prior pulls rare terms towards no change (2 papers against 0 gives z ≈ 1), so a large z needs
    both a large change and enough papers; z > 0 is a rise. A term in every paper of both windows scores 0.
    """
    y1, y0 = np.asarray(now, dtype=float), np.asarray(before, dtype=float)
    n_now, n_before = np.asarray(n_now, dtype=float), np.asarray(n_before, dtype=float)  # per term, or one for all
    weight = PRIOR_WEIGHT * (n_now + n_before)
    share = (y1 + y0) / np.maximum(n_now + n_before, 1)
    a, b = weight * share, weight * (1 - share)
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.log((y1 + a) / (n_now - y1 + b)) - np.log((y0 + a) / (n_before - y0 + b))
        variance = 1 / (y1 + a) + 1 / (n_now - y1 + b) + 1 / (y0 + a) + 1 / (n_before - y0 + b)
        z = delta / np.sqrt(variance)
    return np.where(share >= 1, 0.0, z)  # a term in every paper of both windows cannot change


def find_cutoff(p_values: np.ndarray, rate: float = FDR) -> int:
    """How many of the tests are findings at the false discovery rate (Benjamini & Hochberg 1995).

    With the m p-values sorted, k is the largest i with p₍ᵢ₎ ≤ i·rate/m; the k smallest are findings. Over
    many terms, chance alone would otherwise make some of them look like changes.
    """
    ordered = np.sort(p_values)
    passing = np.nonzero(ordered <= rate * np.arange(1, len(ordered) + 1) / max(len(ordered), 1))[0]
    return int(passing[-1]) + 1 if len(passing) else 0


def needed_score(found: int, tested: int, rate: float = FDR) -> float:
    """The |z| a term needs to be a finding: the two-sided normal quantile of found·rate/tested (at least one)."""
    return NormalDist().inv_cdf(1 - max(found, 1) * rate / (2 * tested)) if tested else math.inf


def find_changes(trends: Trends) -> pd.DataFrame:
    """Every keyword, method, method family and institution of the two windows: counts, shares, z and direction.

    Columns: kind, term, now, before (papers), share now, share before (% of the window's papers), change
    (points), z (NaN when not tested) and direction (rising, fading or none). A term is tested when it has
    at least MIN_PAPERS papers in one of the windows; it is rising or fading when its z is a finding at the
    false discovery rate FDR over all the terms tested. Computed once per Trends: tables, charts, the
    reading and trends.json are drawn from it.
    """
    if "changes" in trends.memo:
        return trends.memo["changes"].copy()
    prev, current, end = find_windows(trends)
    before_end = current - pd.Timedelta(days=1)
    n_now, n_before = count_papers(trends, current, end), count_papers(trends, prev, before_end)
    parts = []
    for kind in TESTED:
        both = pd.concat({"now": count_terms(trends, kind, current, end),
                          "before": count_terms(trends, kind, prev, before_end)}, axis=1)
        both = both.fillna(0).astype(int).rename_axis("term").reset_index().sort_values("term", kind="stable")
        # Shares are of the papers that could have the kind's facts: keywords need a summary.
        base = {"of now": count_papers(trends, current, end, kind), "of before": count_papers(trends, prev, before_end, kind)}
        parts.append(both.assign(kind=kind, **base)[["kind", "term", "now", "before", "of now", "of before"]])
    columns = ["kind", "term", "now", "before", "of now", "of before"]
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    of_now, of_before = table["of now"].clip(lower=1), table["of before"].clip(lower=1)
    table["share now"] = (100 * table["now"] / of_now).round(1)
    table["share before"] = (100 * table["before"] / of_before).round(1)
    table["change"] = (100 * table["now"] / of_now - 100 * table["before"] / of_before).round(1)
    tested = (table[["now", "before"]].max(axis=1) >= MIN_PAPERS) & (table["of now"] > 0) & (table["of before"] > 0)
    z = np.full(len(table), np.nan)
    z[tested.to_numpy()] = score_changes(table["now"][tested], table["before"][tested], table["of now"][tested],
                                         table["of before"][tested])
    table["z"] = z
    p_values = np.array([math.erfc(abs(v) / math.sqrt(2)) if v == v else 1.0 for v in z])  # two-sided; NaN: 1
    found = find_cutoff(p_values[tested.to_numpy()], FDR)
    needed = needed_score(found, int(tested.sum()), FDR)
    # The findings are the tests with p ≤ found·FDR/tested, the same as |z| ≥ needed.
    significant = tested & (p_values <= found * FDR / max(int(tested.sum()), 1))
    table["direction"] = np.where(significant & (table["z"] > 0), "rising",
                                  np.where(significant & (table["z"] < 0), "fading", "none"))
    table.attrs.update(papers_now=n_now, papers_before=n_before, tested=int(tested.sum()), needed=needed, found=found)
    trends.memo["changes"] = table
    return table.copy()


def compare_windows(trends: Trends, kind: str = "keyword") -> pd.DataFrame:
    """One kind's rows of find_changes (every term of the two windows), by term."""
    table = find_changes(trends)
    rows = table[table["kind"] == kind].drop(columns="kind").reset_index(drop=True)
    rows.attrs.update(table.attrs)
    return rows


def rising_terms(trends: Trends, kind: str | None = "keyword", top: int = 10) -> pd.DataFrame:
    """Terms (of one kind, or of all with None) whose rise is a finding, strongest first."""
    return pick_direction(trends, kind, "rising", top)


def fading_terms(trends: Trends, kind: str | None = "keyword", top: int = 10) -> pd.DataFrame:
    """Terms (of one kind, or of all with None) whose fall is a finding, strongest first."""
    return pick_direction(trends, kind, "fading", top)


def pick_direction(trends: Trends, kind: str | None, direction: str, top: int) -> pd.DataFrame:
    """The rows of one direction, strongest z first (then the term, so ties come out in one order)."""
    table = find_changes(trends)
    rows = table[(table["direction"] == direction) & ((table["kind"] == kind) if kind else True)]
    strength = rows["z"].abs() if len(rows) else rows["z"]
    rows = rows.assign(strength=strength).sort_values(["strength", "term"], ascending=[False, True], kind="stable")
    result = rows.drop(columns="strength").head(top).reset_index(drop=True)
    result.attrs.update(table.attrs)
    return result


def describe_changes(table: pd.DataFrame) -> list[dict]:
    """The rows of the rising or fading list in trends.json."""
    return [{"term": term, "kind": TESTED[kind], "now": int(now), "before": int(before), "score": round(float(z), 3)}
            for kind, term, now, before, z in zip(table["kind"], table["term"], table["now"], table["before"], table["z"])]


def describe_terms(table: pd.DataFrame) -> list[dict]:
    """A kind's terms in trends.json: papers per window, their shares (%), the change, score and direction."""
    columns = ("term", "now", "before", "share now", "share before", "change", "z", "direction")
    return [{"term": term, "now": int(now), "before": int(before), "share_now": float(share_now),
             "share_before": float(share_before), "change": float(change),
             "score": None if math.isnan(z) else round(float(z), 3), "direction": direction}
            for term, now, before, share_now, share_before, change, z, direction in zip(*(table[c] for c in columns))]


def describe_window(trends: Trends, start: pd.Timestamp, end: pd.Timestamp) -> dict:
    """A window in trends.json: its days, its papers, and those summarised (keywords) or posted in full (institutions)."""
    return {"from": start.strftime("%Y-%m-%d"), "to": end.strftime("%Y-%m-%d"), "papers": count_papers(trends, start, end),
            "summarised": count_papers(trends, start, end, "keyword"),
            "detailed": count_papers(trends, start, end, "affiliation")}


def changes_data(trends: Trends) -> dict:
    """The numbers of the comparison as plain data (trends.json): windows, the statistic, every term, findings."""
    if "data" in trends.memo:
        return trends.memo["data"]
    table = find_changes(trends)
    prev, current, end = find_windows(trends)
    day = pd.Timedelta(days=1)
    data: dict = {
        "topic": {"slug": trends.topic_slug, "name": trends.topic_name},
        "windows": {
            "now": describe_window(trends, current, end),
            "before": describe_window(trends, prev, current - day),
        },
        "statistic": {
            "score": "z of the weighted log-odds ratio with an informative Dirichlet prior "
                     "(Monroe, Colaresi & Quinn 2008), papers per term",
            "prior_weight": PRIOR_WEIGHT, "min_papers": MIN_PAPERS, "false_discovery_rate": FDR,
            "tested": table.attrs["tested"],
            "needed": None if math.isinf(table.attrs["needed"]) else round(table.attrs["needed"], 3),
        },
    }
    for kind, name in TESTED.items():
        rows = table[table["kind"] == kind]
        data[PLURALS[name]] = describe_terms(rows)
    for direction in ("rising", "fading"):
        data[direction] = describe_changes(pick_direction(trends, None, direction, len(table)))
    trends.memo["data"] = data
    return data


def top_keywords_over_time(trends: Trends, top: int = 10) -> pd.DataFrame:
    """The archive's most frequent keywords per period."""
    return count_over_time(trends, "keyword", list(count_terms(trends, "keyword").index[:top]))
