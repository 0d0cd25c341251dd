"""Trends: keywords, affiliations and method tags counted per paper, for one post or a topic's archive."""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable

import pandas as pd
from rapidfuzz import fuzz, process

from . import digest as digests
from .config import read_data
from .records import Affiliation, Digest, Entry
from .summarise import load_methods

WINDOW_DAYS = 90  # trailing window of a post's archive section, and of rising/fading terms
MIN_PAPERS = 2  # a term rises (or fades) only with at least this many papers in the window it is strong in
MAX_WEEKLY_DAYS = 182  # spans up to about half a year are counted per week, longer ones per month
KINDS = ("keyword", "method", "family", "affiliation", "country")
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")
BRACKETED = re.compile(r"^(.+?)\s*[(（]\s*(.+?)\s*[)）]$")
SLASHED = re.compile(r"^(.+?)\s*[/／|]\s*(.+)$")
EDGE_PUNCT = " \t\"'“”‘’`.,;:!?*()[]{}<>（）【】《》、，。；：！？"


# --- keywords -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeywordRules:
    """The keyword data file, ready to use: aliases by normal form, stop lists, plural rules."""

    aliases: dict[str, str]
    chinese: dict[str, str]
    stop_terms: frozenset[str]
    stop_words: frozenset[str]
    keep: frozenset[str]
    irregular: dict[str, str]


@functools.cache
def load_keyword_rules() -> KeywordRules:
    """Keyword aliases, Chinese terms and stop lists (data/keywords.yml), in normal form."""
    data = read_data("keywords.yml")
    plain = KeywordRules({}, {}, frozenset(), frozenset(), frozenset(data["singular"]["keep"]),
                         dict(data["singular"]["irregular"]))
    aliases: dict[str, str] = {}
    for canonical, others in data["aliases"].items():
        target = shape_keyword(canonical, plain)
        for alias in [canonical, *others]:
            aliases[shape_keyword(alias, plain)] = target
    chinese = {squeeze_cjk(k): aliases.get(shape_keyword(v, plain), shape_keyword(v, plain))
               for k, v in data["chinese"].items()}
    stop_terms = frozenset(shape_keyword(t, plain) for t in data["stop_terms"]) | frozenset(map(clean_text, data["stop_terms"]))
    return KeywordRules(aliases, chinese, stop_terms, frozenset(data["stop_words"]), plain.keep, plain.irregular)


def clean_text(term: str) -> str:
    """Lower case, single spaces, one kind of hyphen, no quotes or punctuation at the ends."""
    text = " ".join(str(term).lower().replace("‐", "-").replace("–", "-").replace("—", "-").split())
    return text.strip(EDGE_PUNCT)


def squeeze_cjk(term: str) -> str:
    """The lookup form of a Chinese term: cleaned, without spaces (Chinese writes none)."""
    return clean_text(term).replace(" ", "")


def singularise(word: str, rules: KeywordRules) -> str:
    """The singular of an English word by the usual suffix rules, with the data file's exceptions."""
    if word in rules.irregular:
        return rules.irregular[word]
    if word in rules.keep or len(word) <= 3 or not re.fullmatch(r"[a-z][a-z-]*", word):
        return word  # abbreviations ("sds", "3dgs") and non-words keep their final s
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "ches", "shes", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is", "ics")):
        return word[:-1]
    return word


def shape_keyword(term: str, rules: KeywordRules) -> str:
    """A keyword cleaned, with its last word singular (the head noun of an English phrase)."""
    words = clean_text(term).split(" ")
    return " ".join([*words[:-1], singularise(words[-1], rules)])


def pick_english(term: str) -> str:
    """The English side of a bilingual keyword ("扩散模型 (diffusion model)"); the outer side of "long (ABBR)"."""
    match = BRACKETED.match(term.strip()) or SLASHED.match(term.strip())
    if not match:
        return term
    first, second = match.groups()
    if CJK.search(first) and not CJK.search(second) and re.search(r"[A-Za-z]{2}", second):
        return second
    if CJK.search(second) and not CJK.search(first) and re.search(r"[A-Za-z]{2}", first):
        return first
    return first if BRACKETED.match(term.strip()) and not CJK.search(term) else term


@functools.lru_cache(maxsize=1 << 16)
def normalise_keyword(term: str) -> str:
    """A keyword in its counting form (lower case, singular, aliases merged); '' when it says nothing."""
    rules = load_keyword_rules()
    text = pick_english(str(term))
    if CJK.search(text):
        key = squeeze_cjk(text)
        text = rules.chinese.get(key, key)
    shaped = shape_keyword(text, rules)
    if shaped in rules.aliases:
        return rules.aliases[shaped]  # a known term is kept even when it holds a stop word
    if not shaped or shaped in rules.stop_terms or clean_text(text) in rules.stop_terms or shaped.isdigit():
        return ""
    if len(shaped) < 2 or any(word in rules.stop_words for word in shaped.split(" ")):
        return ""
    return shaped


# --- affiliations ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Institution:
    """An institution in its counting form: a name and a country name ('' when unknown)."""

    name: str
    country: str = ""
    known: bool = False  # from OpenAlex or the data file (unknown ones may still merge by spelling)


@dataclass(frozen=True)
class InstitutionRules:
    """The affiliation data file, ready to use: institutions by key and ROR id, countries, cutoff."""

    by_key: dict[str, Institution]
    by_ror: dict[str, Institution]
    keys: tuple[str, ...]
    countries: dict[str, str]  # ISO code → name
    country_keys: dict[str, str]  # key of a printed country name → country name
    abbreviations: dict[str, str]
    cutoff: float


def institution_key(name: str, abbreviations: dict[str, str]) -> str:
    """The matching form of an institution name: lower case, no punctuation, abbreviations expanded."""
    text = name.lower().replace("&", " and ").replace("'", "").replace("’", "")
    words = re.sub(r"[^\w\s]", " ", text).split()
    words = [abbreviations.get(w, w) for w in words]
    return " ".join(words[1:] if words[:1] == ["the"] and len(words) > 1 else words)


def sorted_key(key: str) -> str:
    """A key with its words sorted, so "CAS ICT" meets "ICT, CAS"."""
    return " ".join(sorted(key.split()))


@functools.cache
def load_institutions() -> InstitutionRules:
    """Institutions, aliases and countries of data/affiliations.yml, keyed for matching."""
    data = read_data("affiliations.yml")
    abbreviations = {str(k): str(v) for k, v in data["abbreviations"].items()}
    countries = {code: item["name"] for code, item in data["countries"].items()}
    country_keys = {institution_key(alias, {}): item["name"]
                    for item in data["countries"].values() for alias in [item["name"], *item["aliases"]]}
    by_key: dict[str, Institution] = {}
    by_ror: dict[str, Institution] = {}
    for item in data["institutions"]:
        institution = Institution(item["name"], countries.get(item.get("country", ""), ""), known=True)
        for alias in [item["name"], *item.get("aliases", [])]:
            key = institution_key(str(alias), abbreviations)
            by_key.setdefault(key, institution)
            by_key.setdefault(sorted_key(key), institution)
        if item.get("ror"):
            by_ror[item["ror"]] = institution
    return InstitutionRules(by_key, by_ror, tuple(by_key), countries, country_keys, abbreviations,
                            float(data["fuzzy_cutoff"]))


def match_institution(name: str, rules: InstitutionRules) -> Institution | None:
    """The data file's institution for a name: exact alias, word order, then a close spelling."""
    key = institution_key(name, rules.abbreviations)
    if not key:
        return None
    found = rules.by_key.get(key) or rules.by_key.get(sorted_key(key))
    if found or len(key) < 10:
        return found  # short names are abbreviations: a near miss is another institution
    best = process.extractOne(key, rules.keys, scorer=fuzz.ratio, score_cutoff=rules.cutoff)
    return rules.by_key[best[0]] if best else None


def country_name(code: str | None, rules: InstitutionRules) -> str:
    """The shown name of an ISO country code ('' for none)."""
    return rules.countries.get((code or "").upper(), (code or "").upper())


def pick_unit(parts: list[str]) -> str:
    """The institution among the comma-separated parts of an unknown affiliation (not its department)."""
    top = re.compile(r"universit|institut|academy|college|school|laborator|\blab\b|inc\b|ltd|corp|company|group"
                     r"|research|center|centre|hospital|大学|研究院|研究所|实验室|公司", re.I)
    sub = re.compile(r"^(department|dept|school of|faculty|college of|key lab|state key|center for|centre for)", re.I)
    ranked = [p for p in parts if top.search(p) and not sub.search(p)] or [p for p in parts if top.search(p)] or parts
    return ranked[0]


@functools.lru_cache(maxsize=1 << 14)
def normalise_affiliation(name: str, ror: str | None = None, country: str | None = None) -> Institution:
    """An affiliation in its counting form: OpenAlex/ROR name when known, else the data file's, else cleaned."""
    rules = load_institutions()
    if ror and ror in rules.by_ror:
        return rules.by_ror[ror]
    text = " ".join(name.split()).strip(EDGE_PUNCT + "0123456789∗†‡§¶")
    whole = match_institution(text, rules)
    if whole:
        return whole
    if ror:  # OpenAlex names are canonical already
        return Institution(text, country_name(country, rules), known=True)
    parts = [p.strip(EDGE_PUNCT) for p in re.split(r"[,;，；]", text) if p.strip(EDGE_PUNCT)]
    places = [rules.country_keys.get(institution_key(p, {}), "") for p in parts]
    found_country = country_name(country, rules) or next((c for c in reversed(places) if c), "")
    for part in parts:
        known = match_institution(part, rules)
        if known:
            return known
    units = [p for p, place in zip(parts, places) if not place] or parts or [text]
    return Institution(pick_unit(units), found_country)


def merge_spellings(names: Iterable[str], cutoff: float | None = None) -> dict[str, str]:
    """Unknown institution names mapped to one spelling each (the first in sorted order of a close group)."""
    rules = load_institutions()
    cutoff = rules.cutoff if cutoff is None else cutoff
    heads: list[str] = []
    head_keys: list[str] = []
    merged: dict[str, str] = {}
    for name in sorted(set(names)):
        key = institution_key(name, rules.abbreviations)
        best = process.extractOne(key, head_keys, scorer=fuzz.ratio, score_cutoff=cutoff) if len(key) >= 10 else None
        if best is None and key in head_keys:
            best = (key, 100.0, head_keys.index(key))
        if best:
            merged[name] = heads[best[2]]
        else:
            heads.append(name)
            head_keys.append(key)
            merged[name] = name
    return merged


def institutions_of(entry: Entry) -> list[Institution]:
    """Normalised institutions of an entry: known ones (OpenAlex/PDF) first, else the summary's grounded ones."""
    known: Iterable[Affiliation] = entry.extras.affiliations
    if known:
        return [normalise_affiliation(a.name, a.ror, a.country) for a in known]
    return [normalise_affiliation(n) for n in (entry.summary.affiliations if entry.summary else [])]


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


@functools.cache
def method_families() -> dict[str, str]:
    """Method tag → family, from the vocabulary."""
    return {m.tag: m.family for m in load_methods()}


@functools.cache
def family_order() -> tuple[str, ...]:
    """Families in vocabulary order (charts keep one order and colour per family)."""
    return tuple(dict.fromkeys(m.family for m in load_methods()))


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
    """Method tags of today's papers with their family, most frequent first."""
    families = method_families()
    table = top_table(count_per_paper(digest.entries, methods_of), "method", top=50)
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
    memo: dict = field(default_factory=dict, repr=False, compare=False)  # tables computed once per Trends


class Columns:
    """Growing columns of raw facts (day, paper, value) of one kind: cheaper than a tuple per row."""

    def __init__(self) -> None:
        self.days: list[str] = []
        self.papers: list[str] = []
        self.values: list = []

    def extend(self, day: str, paper: str, values: list) -> None:
        """Add one paper's values."""
        self.days += [day] * len(values)
        self.papers += [paper] * len(values)
        self.values += values

    def frame(self, terms: list) -> pd.DataFrame:
        """The facts with their counting terms (a term once per paper; empty terms dropped)."""
        frame = pd.DataFrame({"date": to_dates(self.days), "paper": self.papers, "term": terms})
        return frame[frame["term"] != ""].drop_duplicates(["paper", "term"]).reset_index(drop=True)


def to_dates(days: list[str]) -> pd.DatetimeIndex:
    """YYYY-MM-DD strings as dates, each distinct day parsed once (an archive has few days, many rows)."""
    codes, uniques = pd.factorize(pd.Index(days, dtype=object))
    return pd.DatetimeIndex(pd.to_datetime(uniques, format="%Y-%m-%d")).take(codes) if len(days) else pd.DatetimeIndex([])


def raw_affiliations(entry: Entry) -> list[tuple[str, str | None, str | None]]:
    """An entry's institutions as (name, ror, country): known ones (OpenAlex/PDF) first, else the summary's."""
    known = entry.extras.affiliations
    if known:
        return [(a.name, a.ror, a.country) for a in known]
    return [(n, None, None) for n in (entry.summary.affiliations if entry.summary else [])]


def collect_facts(archive: Iterable[Digest]) -> tuple[list[tuple[str, str]], dict[str, Columns]]:
    """Papers (first posting only) and the raw keywords, method tags and affiliations of each."""
    papers: dict[str, str] = {}
    raw = {kind: Columns() for kind in ("keyword", "method", "affiliation")}
    for digest in archive:
        day = digest.date
        for entry in digest.entries:
            pid = entry.paper.arxiv_id
            if pid in papers:
                continue  # a paper counts on the day it was first posted
            papers[pid] = day
            if entry.summary:
                raw["keyword"].extend(day, pid, entry.summary.keywords)
                raw["method"].extend(day, pid, entry.summary.methods)
            raw["affiliation"].extend(day, pid, raw_affiliations(entry))
    return [(day, pid) for pid, day in papers.items()], raw


def build_frames(archive: Iterable[Digest]) -> tuple[pd.DataFrame, dict[str, pd.DataFrame], dict[str, str]]:
    """Papers and per-kind facts of an archive, normalised (each distinct raw value once), spellings merged."""
    papers, raw = collect_facts(archive)
    keywords = {k: normalise_keyword(k) for k in set(raw["keyword"].values)}
    families = method_families()
    institutions = {a: normalise_affiliation(*a) for a in set(raw["affiliation"].values)}
    spelling = merge_spellings(i.name for i in institutions.values() if not i.known)
    named = {a: spelling.get(i.name, i.name) for a, i in institutions.items()}
    countries: dict[str, str] = {}
    for raw_value, institution in sorted(institutions.items(), key=lambda kv: str(kv[0])):
        countries[named[raw_value]] = countries.get(named[raw_value]) or institution.country
    facts = {
        "keyword": raw["keyword"].frame([keywords[k] for k in raw["keyword"].values]),
        "method": raw["method"].frame(list(raw["method"].values)),
        "family": raw["method"].frame([families.get(m, "other") for m in raw["method"].values]),
        "affiliation": raw["affiliation"].frame([named[a] for a in raw["affiliation"].values]),
        "country": raw["affiliation"].frame([institutions[a].country for a in raw["affiliation"].values]),
    }
    paper_frame = pd.DataFrame({"date": to_dates([d for d, _p in papers]), "paper": [p for _d, p in papers]})
    return paper_frame, facts, countries


def make_trends(archive: list[Digest], end: str, window_days: int, slug: str, name: str, language: str,
                earlier_posts: int) -> Trends:
    """Trends of an archive (oldest first) counted up to `end`."""
    papers, facts, countries = build_frames(archive)
    return Trends(slug, name, language, end, window_days, tuple(d.date for d in archive), papers, facts, countries,
                  earlier_posts)


def recent_trends(today: Digest, posts_dir: str, window_days: int = WINDOW_DAYS) -> Trends:
    """A post's archive section: earlier posts of its topic in two trailing windows, plus today's."""
    first = (dt.date.fromisoformat(today.date) - dt.timedelta(days=2 * window_days - 1)).isoformat()
    earlier = [d for d in digests.load_archive(posts_dir, today.topic_slug, before=today.date) if d.date >= first]
    return make_trends([*earlier, today], today.date, window_days, today.topic_slug, today.topic_name,
                       today.language, len(earlier))


def topic_trends(topic: str, topics_file: str = "topics.yml", posts_dir: str = "posts",
                 window_days: int = WINDOW_DAYS, end_date: str = "") -> Trends:
    """A topic's whole archive up to end_date ('' = its latest post), for its trends page."""
    from .config import PaperpressError, find_topic, load_topics

    chosen = find_topic(load_topics(topics_file), topic, topics_file)
    archive = digests.load_archive(posts_dir, chosen.slug)
    if end_date:
        archive = [d for d in archive if d.date <= end_date]
    if not archive:
        raise PaperpressError(f"no posts of topic '{chosen.slug}' under {posts_dir}" + (f" up to {end_date}" if end_date else ""))
    return make_trends(archive, archive[-1].date, window_days, chosen.slug, chosen.name, chosen.language, len(archive) - 1)


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


def select_span(frame: pd.DataFrame, start: pd.Timestamp | None, end: pd.Timestamp | None = None) -> pd.DataFrame:
    """Rows dated from start to end (both included; None leaves a side open)."""
    if start is None and end is None:
        return frame
    dates = frame["date"]
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
    present = set(trends.facts["family"]["term"])
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


def count_papers(trends: Trends, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None) -> int:
    """Papers between two days."""
    return len(select_span(trends.papers, start, end))


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


def compare_windows(trends: Trends, kind: str = "keyword") -> pd.DataFrame:
    """Every term's papers and share in the current window and the one before, and the change in points.

    change = 100 × (papers now / all papers now − papers before / all papers before): how many more
    papers in a hundred mention the term than in the window before. A reader can redo it from the counts.
    """
    if ("compare", kind) in trends.memo:
        return trends.memo[("compare", kind)].copy()
    prev, current, end = find_windows(trends)
    before_end = current - pd.Timedelta(days=1)
    n_now, n_before = count_papers(trends, current, end), count_papers(trends, prev, before_end)
    now, before = count_terms(trends, kind, current, end), count_terms(trends, kind, prev, before_end)
    table = pd.concat({"now": now, "before": before}, axis=1).fillna(0).astype(int)
    table = table.rename_axis("term").reset_index().sort_values("term", kind="stable").reset_index(drop=True)
    table["share now"] = (100 * table["now"] / n_now).round(1) if n_now else 0.0
    table["share before"] = (100 * table["before"] / n_before).round(1) if n_before else 0.0
    exact = 100 * table["now"] / max(n_now, 1) - 100 * table["before"] / max(n_before, 1)
    table["change"] = exact.round(1)
    table.attrs.update(papers_now=n_now, papers_before=n_before)
    trends.memo[("compare", kind)] = table
    return table.copy()


def rising_terms(trends: Trends, kind: str = "keyword", top: int = 10) -> pd.DataFrame:
    """Terms whose share of papers grew most since the window before (at least MIN_PAPERS papers now)."""
    table = compare_windows(trends, kind)
    if not table.attrs["papers_before"]:
        return table.iloc[0:0]  # nothing to compare with: every term would look new
    table = table[(table["change"] > 0) & (table["now"] >= MIN_PAPERS)]
    return sort_changes(table, ascending=False).head(top).reset_index(drop=True)


def fading_terms(trends: Trends, kind: str = "keyword", top: int = 10) -> pd.DataFrame:
    """Terms whose share of papers shrank most since the window before (at least MIN_PAPERS papers before)."""
    table = compare_windows(trends, kind)
    if not table.attrs["papers_now"] or not table.attrs["papers_before"]:
        return table.iloc[0:0]
    table = table[(table["change"] < 0) & (table["before"] >= MIN_PAPERS)]
    return sort_changes(table, ascending=True).head(top).reset_index(drop=True)


def sort_changes(table: pd.DataFrame, ascending: bool) -> pd.DataFrame:
    """Rows by change (then the larger count, then the term), so ties always come out in one order."""
    attrs = dict(table.attrs)
    peak = table[["now", "before"]].max(axis=1)
    result = table.assign(peak=peak).sort_values(["change", "peak", "term"], ascending=[ascending, False, True],
                                                 kind="stable").drop(columns="peak")
    result.attrs.update(attrs)
    return result


def top_keywords_over_time(trends: Trends, top: int = 10) -> pd.DataFrame:
    """The archive's most frequent keywords per period."""
    return count_over_time(trends, "keyword", list(count_terms(trends, "keyword").index[:top]))
