"""Institutions of a paper's authors: OpenAlex when it has indexed the paper (cached), else the PDF's first page.

The trends count these, or, when both have nothing, the model's affiliations grounded against the first
page (trends.counted_affiliations).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import requests
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from .config import USER_AGENT, Settings, blot_secrets, read_data
from .institutions import institution_key, normalise_affiliation
from .records import Affiliation, Paper
from .text import is_title_piece

log = logging.getLogger(__name__)

ARXIV_DOI = "10.48550/arXiv.{}"  # the DataCite DOI arXiv registers for every paper
OPENALEX_TIMEOUT = (5.0, 20.0)
MAX_AFFILIATIONS = 6

# OpenAlex (https://docs.openalex.org/how-to-use-the-api/rate-limits-and-authentication): 100,000
# requests a day, at most 10 (later 100) a second, and the "polite pool" for callers who send a mailto.
# We ask once per paper, after its PDF download's pause: far below the per-second limit, so no pacer.
# https://developers.openalex.org/api-reference/errors: 429 is the limit, 5xx a passing fault ("retry
# with backoff"); the X-RateLimit-Remaining header says when the day's budget is spent (retrying is futile).
OPENALEX_TRIES = 3
OPENALEX_BACKOFF = 1.0  # s before the second try, doubled before the third
OPENALEX_FIELDS = "id,doi,display_name,authorships"  # `select`: top-level fields (docs: get-single-entities/select-fields)
RETRY_STATUS = {429, 500, 502, 503, 504}
# A "not indexed yet" answer (404), or a work without any affiliation yet, is kept one day: a rerun of the
# day asks nothing and writes the same post, while a run a day later may find what OpenAlex has added since.
NOT_INDEXED_TTL = 24 * 3600.0


class OpenAlexBusy(Exception):
    """A 429 or 5xx answer another try may fix."""


def openalex_cache_path(arxiv_id: str, settings: Settings) -> Path:
    """Where OpenAlex's answer for a paper is cached (by arXiv id: one DOI for every version)."""
    return Path(settings.cache_dir) / "openalex" / f"{arxiv_id.replace('/', '_')}.json"


def has_affiliations(work: dict) -> bool:
    """Whether a work names any institution or raw affiliation string."""
    return any(a.get("institutions") or a.get("raw_affiliation_strings")
               for a in work.get("authorships") or [] if isinstance(a, dict))


def read_cached_work(path: Path) -> tuple[bool, dict | None]:
    """(found, work) from the cache: a work with affiliations for good; a 404 or a bare work for a day."""
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
        age = time.time() - path.stat().st_mtime
    except (OSError, ValueError):
        return False, None
    work = entry.get("work") if isinstance(entry, dict) else None
    work = work if isinstance(work, dict) else None
    if (work and has_affiliations(work)) or age < NOT_INDEXED_TTL:
        return True, work
    return False, None


def write_cached_work(path: Path, work: dict | None) -> None:
    """Cache a work (None: not indexed), written whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f"{path.name}.{os.getpid()}.part")  # parallel runs never read half a file
    part.write_text(json.dumps({"work": work}, ensure_ascii=False, sort_keys=True), encoding="utf-8")
    os.replace(part, path)


def openalex_params(settings: Settings) -> dict[str, str]:
    """The query parameters every OpenAlex request carries: the key (`api_key`, free since 2026-02-13; see
    https://developers.openalex.org/guides/authentication) and the polite-pool address, when set."""
    return (({"api_key": settings.openalex_api_key} if settings.openalex_api_key else {})
            | ({"mailto": settings.openalex_mailto} if settings.openalex_mailto else {}))


def request_work(arxiv_id: str, settings: Settings, session: requests.Session | None = None) -> requests.Response:
    """OpenAlex's answer for a paper's arXiv DOI, retried with backoff on 429 and 5xx (raises OpenAlexBusy)."""
    url = f"{settings.openalex_url.rstrip('/')}/works/doi:{ARXIV_DOI.format(arxiv_id)}"
    params = openalex_params(settings) | {"select": OPENALEX_FIELDS}
    for attempt in Retrying(stop=stop_after_attempt(OPENALEX_TRIES), wait=wait_exponential(OPENALEX_BACKOFF),
                            retry=retry_if_exception_type(OpenAlexBusy), reraise=True):
        with attempt:
            resp = (session or requests).get(url, params=params, timeout=OPENALEX_TIMEOUT,
                                             headers={"User-Agent": USER_AGENT})
            spent = resp.headers.get("X-RateLimit-Remaining") == "0"
            if resp.status_code in RETRY_STATUS and not (resp.status_code == 429 and spent):
                raise OpenAlexBusy(f"HTTP {resp.status_code}")
    return resp


def fetch_openalex(arxiv_id: str, settings: Settings, session: requests.Session | None = None) -> dict | None:
    """The OpenAlex work of an arXiv paper (cached); None when not indexed or unreachable."""
    path = openalex_cache_path(arxiv_id, settings)
    found, work = read_cached_work(path)
    if found:
        return work
    try:
        resp = request_work(arxiv_id, settings, session)
        work = resp.json() if resp.status_code == 200 else None
    except (OpenAlexBusy, requests.RequestException, ValueError) as exc:
        # Affiliations are a nicety: the first page covers an OpenAlex outage (and nothing is cached).
        # The exception's text may repeat the request's URL, key included: only its kind is logged, blotted anyway.
        reason = str(exc) if isinstance(exc, OpenAlexBusy) else type(exc).__name__
        log.info("OpenAlex unavailable for %s: %s", arxiv_id, blot_secrets(reason, settings))
        return None
    if resp.status_code not in (200, 404) or (work is not None and not isinstance(work, dict)):
        log.info("OpenAlex has no work for %s (HTTP %s)", arxiv_id, resp.status_code)
        return None  # a 400 or 403 says nothing about the paper: not cached
    write_cached_work(path, work)
    return work


def parse_openalex(work: dict) -> list[Affiliation]:
    """Institutions of an OpenAlex work, the first author's first, each once.

    An author whose affiliations OpenAlex has not matched to institutions yet (common for new papers)
    gives the raw strings instead; the trends normalise them like first-page names.
    """
    authorships = [a for a in work.get("authorships") or [] if isinstance(a, dict)]
    authorships.sort(key=lambda a: a.get("author_position") != "first")  # stable: keeps the rest in order
    found: list[Affiliation] = []
    seen: set[str] = set()
    for authorship in authorships:
        for affiliation in read_authorship(authorship):
            key = affiliation.ror or affiliation.name.lower()
            if key not in seen:
                seen.add(key)
                found.append(affiliation)
    return found[:MAX_AFFILIATIONS]


def read_authorship(authorship: dict) -> list[Affiliation]:
    """One author's institutions (OpenAlex's names, ROR, country), else their raw affiliation strings."""
    found = []
    for inst in authorship.get("institutions") or []:
        name = " ".join(str((inst or {}).get("display_name") or "").split())
        if name:
            found.append(Affiliation(name=name, ror=inst.get("ror") or None, country=inst.get("country_code") or None,
                                     source="openalex"))
    if found:
        return found
    # OpenAlex finds an author's countries in the raw strings too (Authorship object docs): one is theirs.
    countries = [c for c in authorship.get("countries") or [] if isinstance(c, str)]
    raw = [part for text in authorship.get("raw_affiliation_strings") or [] if isinstance(text, str)
           for part in text.split(";")]  # older records join several affiliations with ';'
    names = dict.fromkeys(" ".join(part.split()).strip(" ,.") for part in raw)
    names = [n for n in names if n]
    country = countries[0] if len(countries) == 1 and len(names) == 1 else None
    return [Affiliation(name=n, country=country, source="openalex") for n in names]


# --- the first page: institutions written as papers write them ---------------------------------------

MAX_HEADER_LINES = 25  # where to stop looking when the first page has no abstract or introduction heading
MAX_ALIAS_WORDS = 10
MAX_UNKNOWN_WORDS = 6  # a marked name with no keyword that the data file does not know: short or not at all
# Words that make a name an institution's (Latin script on word boundaries; Chinese has none).
KEYWORD = (r"Univ|Universit\w*|Universität|Université|Universidad|Universiteit|Institut\w*|Lab|Labs|Laborator\w+|Inc"
           r"|Ltd|LLC|GmbH|Corp|Corporation|Company|College|School|Academy|Research|Center|Centre|Department|Dept"
           r"|Faculty|Hospital|Foundation|Polytechnic|Politecnico|Hochschule|ETH|EPFL|MIT|KAIST|CNRS|Inria|INRIA"
           r"|Google|DeepMind|Microsoft|Meta|NVIDIA|Adobe|Apple|Amazon|IBM|Intel|Samsung|Sony|Tencent|Alibaba"
           r"|ByteDance|Baidu|Huawei|SenseTime")
INSTITUTION = re.compile(rf"\b(?:{KEYWORD})\b|大学|学院|研究院|研究所|实验室|公司")
KEYWORD_WORD = re.compile(rf"^(?:{KEYWORD})\.?$")
# A department or lab is part of an institution: it does not end one ("Dept. of CS Stanford University").
SUBUNIT = re.compile(r"^(?:department|dept|school of|faculty|college of|division|key lab|state key|center for|centre for"
                     r"|graduate school)", re.I)
# Where the header ends: the abstract, or the introduction when the abstract has no heading.
HEADER_END = re.compile(r"^\s*(abstract\b|a b s t r a c t\b|(1|I)\.?\s+introduction\b|introduction$)", re.I)
SYMBOLS = "∗*†‡§¶♠♣♥♦⋆★♮♭♯"
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")
# An affiliation mark before a name, glued or not: "1CUHK", "2 MPI Informatics", "†Google", "aSchool of ...".
ONE_MARK = rf"\d{{1,2}}|[¹²³⁴⁵⁶⁷⁸⁹⁰]|[{SYMBOLS}]"
MARK = re.compile(rf"(?:^|(?<=[\s,;]))({ONE_MARK}|[a-h](?=[A-Z][a-z]))\s?(?=[A-Z\u4e00-\u9fff])")
AUTHOR_MARKS = rf"((?:{ONE_MARK})(?:\s*[,，]?\s*(?:{ONE_MARK}))*)"  # after a name: "Huang1,2", "Zhang∗"
SEPARATOR = re.compile(r"[;|•·]|\s{2,}|\t")
EMAIL = re.compile(r"\{[^}]*\}\s*@\S+|\S+@\S+|https?://\S+|www\.\S+")
FOOTNOTE = re.compile(r"equal(?:ly)? contribut|contributed equally|corresponding|work (?:was )?done|internship|intern at"
                      r"|\b(?:now|currently) (?:at|with)\b|visiting"
                      r"|project (?:lead|page)|^(?:figure|fig\.|table)\s*\d|^code\b|preprint|under review", re.I)
CONNECTORS = {"of", "for", "and", "the", "at", "in", "on", "de", "del", "des", "di", "du", "la", "le", "für", "und", "van",
              "der", "y", "&", "-", "–"}
POSTCODE = re.compile(r"^(?:[A-Z]{2}\s*)?\d{4,6}$")  # "CA 94305", "100084"
KEEP_DOT = re.compile(r"\b(?:Univ|Inc|Ltd|Corp|Co|Dept|Inst|Tech)\.$")


@dataclass(frozen=True)
class Gazetteer:
    """The data file's institution names and aliases, ready to find in a line of text."""

    acronyms: frozenset[str]  # one-word aliases with two capitals or more (CUHK, SUSTech, MPI-INF), matched as written
    phrases: frozenset[str]  # keys of aliases of two words or more (MPI Informatics), matched on the words' key
    words: frozenset[str]  # keys of one-word aliases (Tsinghua, Stanford): only a marked name that is just this
    places: frozenset[str]  # keys of country names, and how they are printed
    cjk: frozenset[str]  # aliases in Chinese or Japanese (清华大学), matched as written
    abbreviations: dict[str, str]  # the data file's (univ → university), as the keys were made with them


@functools.cache
def load_gazetteer() -> Gazetteer:
    """The gazetteer of data/affiliations.yml."""
    data = read_data("affiliations.yml")
    abbreviations = {str(k): str(v) for k, v in data["abbreviations"].items()}
    names = [str(n) for item in data["institutions"] for n in [item["name"], *item.get("aliases", [])]]
    cjk = frozenset(n for n in names if CJK.search(n))
    latin = [n for n in names if not CJK.search(n)]
    acronyms = frozenset(n for n in latin if " " not in n and sum(c.isupper() for c in n) >= 2)
    phrases = frozenset(institution_key(n, abbreviations) for n in latin if " " in n.strip())
    words = frozenset(institution_key(n, abbreviations) for n in latin if " " not in n.strip())
    places = frozenset(institution_key(str(p), {})
                       for item in data["countries"].values() for p in [item["name"], *item["aliases"]])
    return Gazetteer(acronyms, phrases, words, places, cjk, abbreviations)


def find_header_lines(first_page: str, authors: Sequence[str]) -> list[str]:
    """Lines of the first page from the author line (or the second line) up to the abstract."""
    lines = [line.strip() for line in first_page.splitlines() if line.strip()]
    end = next((i for i, line in enumerate(lines) if HEADER_END.match(line)), None)
    surnames = [a.split()[-1] for a in authors[:3] if a.split()]
    pattern = re.compile(r"\b(?:" + "|".join(map(re.escape, surnames)) + r")\b") if surnames else None
    start = next((i for i, line in enumerate(lines[:end]) if pattern and pattern.search(line)), 1)
    return lines[start : end if end is not None else start + MAX_HEADER_LINES]


def strip_authors(line: str, authors: Sequence[str]) -> str:
    """A line with the paper's author names (and the marks after them) turned into separators."""
    for name in authors:
        words = name.split()
        for words in [words, words[::-1]] if len(words) == 2 else [words]:  # "Qing Zhang" is printed "Zhang Qing" too
            # Not "\b" after the name: a glued mark ("Huang1") is a word character too.
            pattern = r"(?<![^\W\d_])" + r"\s+".join(map(re.escape, words)) + r"(?![^\W\d_])" + AUTHOR_MARKS + "?"
            line = re.sub(pattern, " ; ", line, flags=re.I)
    return line


def find_first_marks(lines: Sequence[str], authors: Sequence[str]) -> set[str]:
    """The affiliation marks printed after the first author's name ("Ziyao Huang1,2" gives 1 and 2)."""
    if not authors or not authors[0].split():
        return set()
    name = r"\s+".join(map(re.escape, authors[0].split()))
    for line in lines:
        match = re.search(rf"\b{name}\s?{AUTHOR_MARKS}", line, flags=re.I)
        if match:
            return set(re.findall(ONE_MARK, match.group(1)))
    return set()


def split_marks(line: str) -> list[tuple[str, str]]:
    """(mark, text) pieces of a line, split at affiliation marks and separators ('' where none)."""
    pieces: list[tuple[str, str]] = []
    for chunk in SEPARATOR.split(line):
        cuts = list(MARK.finditer(chunk))
        if not cuts or cuts[0].start() > 0:
            pieces.append(("", chunk[: cuts[0].start() if cuts else len(chunk)]))
        for n, cut in enumerate(cuts):
            pieces.append((cut.group(1), chunk[cut.end() : cuts[n + 1].start() if n + 1 < len(cuts) else len(chunk)]))
    return [(mark, text.strip(" ,;:" + SYMBOLS)) for mark, text in pieces if re.search(r"[^\W\d_]", text)]


def find_known(tokens: Sequence[str], gazetteer: Gazetteer) -> list[tuple[int, int]]:
    """Spans of tokens that are a known acronym, Chinese name or name of two words or more (longest first)."""
    spans, i = [], 0
    while i < len(tokens):
        for j in range(min(len(tokens), i + MAX_ALIAS_WORDS), i, -1):
            words = tokens[i:j]
            if (j - i == 1 and words[0].strip(",.;:，") in gazetteer.acronyms | gazetteer.cjk) or (
                    j - i > 1 and institution_key(" ".join(words), gazetteer.abbreviations) in gazetteer.phrases):
                spans.append((i, j))
                i = j
                break
        else:
            i += 1
    return spans


def is_capitalised(word: str) -> bool:
    """Whether a word starts with a capital letter (or is Chinese)."""
    return bool(re.match(r"[A-Z\u4e00-\u9fff]", word))


def is_complete(words: Sequence[str], known: bool) -> bool:
    """Whether words already name an institution (so that a new name may start after them)."""
    last = " ".join(words).rsplit(",", 1)[-1].strip()
    if known:
        return True
    named = any(is_capitalised(w) and not KEYWORD_WORD.match(w.strip(",.")) for w in last.split())
    return bool(INSTITUTION.search(" ".join(words))) and named and not SUBUNIT.match(last)


def starts_institution(words: Sequence[str]) -> bool:
    """Whether words begin with a name and a keyword ("Peking University", "Key Laboratory of ...")."""
    for word in words[:6]:
        if KEYWORD_WORD.match(word.strip(",.")):
            return True
        if not is_capitalised(word) or word.endswith(","):
            return False
    return False


def split_names(tokens: list[str], spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Token ranges of the institutions in a run of text with no separator (two columns read as one line)."""
    starts = {a for a, _ in spans}
    ranges, start = [], 0
    for i in range(1, len(tokens)):
        if tokens[i - 1].endswith(",") or any(a < i < b for a, b in spans):
            continue  # "Institute X, Academy Y" is one affiliation; a known name is never cut
        known = any(start <= a and b <= i for a, b in spans)
        begins = i in starts or starts_institution(tokens[i:])
        if is_capitalised(tokens[i]) and is_complete(tokens[start:i], known) and begins:
            ranges.append((start, i))
            start = i
    return ranges + [(start, len(tokens))]


def is_place(text: str, gazetteer: Gazetteer) -> bool:
    """Whether text ends in a country or a postcode (an address, not a name)."""
    last = text.rsplit(",", 1)[-1].strip()
    return institution_key(last, {}) in gazetteer.places or bool(POSTCODE.match(last))


def looks_like_name(text: str, gazetteer: Gazetteer) -> bool:
    """Whether a marked text with no keyword can be an institution's name ("Zhipu AI"), not an address."""
    words = text.split()
    return (0 < len(words) <= MAX_UNKNOWN_WORDS and not is_place(text, gazetteer)
            and all(is_capitalised(w) or w.lower() in CONNECTORS for w in words))


def read_piece(mark: str, text: str, gazetteer: Gazetteer) -> list[str]:
    """The institutions named in one marked piece of a header line."""
    tokens = text.split()
    spans = find_known(tokens, gazetteer)
    found: list[str] = []
    for start, end in split_names(tokens, spans):
        name = re.sub(r"\s+(?:and|&)$", "", " ".join(tokens[start:end]).strip(" ,;:"))
        inner = [" ".join(tokens[a:b]).strip(",.;:") for a, b in spans if start <= a and b <= end]
        if INSTITUTION.search(name) or (start, end) in spans:
            found.append(name)
        elif inner:
            found.extend(inner)  # "CUHK, Hong Kong", or known names read between author names
        elif mark and (institution_key(name, {}) in gazetteer.words or looks_like_name(name, gazetteer)) and (
                mark not in SYMBOLS or len(name.split()) > 1):  # a symbol marks footnotes too ("†Deceased")
            found.append(name)  # "3Tsinghua", "4Zhipu AI", "‡Moonshot AI": a marked name is an affiliation
    return found


def is_prose(text: str) -> bool:
    """Whether text reads like a sentence or a footnote rather than a name."""
    lower = [w for w in text.split() if re.match(r"[a-z]", w) and w not in CONNECTORS]
    return len(lower) >= 3 or bool(FOOTNOTE.search(text))


def parse_pdf_affiliations(first_page: str, authors: Sequence[str] = (), title: str = "") -> list[Affiliation]:
    """Institutions named between the authors and the abstract of a first page (a heuristic).

    Lines that are a piece of the paper's title (known from arXiv) are left out: a title's wrapped line such as
    "2D Masks" would otherwise read as a mark and a name ("D Masks").
    """
    gazetteer = load_gazetteer()
    lines = [line for line in find_header_lines(first_page, authors) if not is_title_piece(line, title)]
    first_marks = find_first_marks(lines, authors)
    found: list[tuple[bool, str]] = []
    seen: set[str] = set()
    for line in lines:
        for mark, text in split_marks(strip_authors(EMAIL.sub(" ; ", line), authors)):
            if is_prose(text):
                continue
            for name in read_piece(mark, text, gazetteer):
                name = name if KEEP_DOT.search(name) else name.rstrip(".")
                key = normalise_affiliation(name).name.lower()
                if len(name.split()) <= 20 and key not in seen:
                    seen.add(key)
                    found.append((mark not in first_marks, name))
    found.sort(key=lambda item: item[0])  # stable: the first author's institutions first, else as printed
    return [Affiliation(name=name, source="pdf") for _, name in found[:MAX_AFFILIATIONS]]


def find_affiliations(
    paper: Paper, first_page: str, settings: Settings, session: requests.Session | None = None
) -> tuple[Affiliation, ...]:
    """OpenAlex's institutions for the paper when it has them, else the first page's."""
    work = fetch_openalex(paper.arxiv_id, settings, session)
    found = parse_openalex(work) if work else []
    return tuple(found or parse_pdf_affiliations(first_page, paper.authors, paper.title))
