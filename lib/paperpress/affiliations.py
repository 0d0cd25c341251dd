"""Institutions of a paper's authors: OpenAlex when it has indexed the paper, else the PDF's first page."""

from __future__ import annotations

import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Sequence

import requests
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from .config import USER_AGENT, Settings
from .records import Affiliation, Paper

log = logging.getLogger(__name__)

ARXIV_DOI = "10.48550/arXiv.{}"  # the DataCite DOI arXiv registers for every paper
OPENALEX_TIMEOUT = (5.0, 20.0)
MAX_AFFILIATIONS = 6
MAX_HEADER_LINES = 25  # where to stop looking when the first page has no abstract or introduction heading

# Words that mark a line (or part of one) as an institution rather than a name or a title.
INSTITUTION = re.compile(
    r"\b(Univ\.|Universit\w*|Institut\w*|Lab|Labs|Laborator\w+|Inc\.?|Ltd\.?|LLC|GmbH|Corp\.?|Corporation|College"
    r"|School|Academy|Research|Center|Centre|Department|Dept\.|Faculty|Hospital|Foundation|Polytechnic"
    r"|Politecnico|ETH|EPFL|MIT|KAIST|CNRS|Inria|INRIA|Max Planck|Google|DeepMind|Microsoft|Meta|NVIDIA"
    r"|Adobe|Apple|Amazon|IBM|Intel|Samsung|Sony|Tencent|Alibaba|ByteDance|Baidu|Huawei|SenseTime)\b"
)
# Where the header ends: the abstract, or the introduction when the abstract has no heading.
HEADER_END = re.compile(r"^\s*(abstract\b|a b s t r a c t\b|(1|I)\.?\s+introduction\b|introduction$)", re.I)
# Affiliation marks: "1Tsinghua University", "2 Microsoft Research", "*Google", and separators.
MARK = re.compile(r"(?:^|\s+)(?:\d{1,2}|[∗*†‡§¶♠♣♥♦])\s?(?=[A-Z][a-z])|;|\s{2,}")
EMAIL = re.compile(r"\{[^}]*\}@\S+|\S+@\S+")


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


def read_cached_work(path: Path, now: float | None = None) -> tuple[bool, dict | None]:
    """(found, work) from the cache: a work with affiliations for good; a 404 or a bare work for a day."""
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
        age = (time.time() if now is None else now) - path.stat().st_mtime
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


def request_work(arxiv_id: str, settings: Settings, session: requests.Session | None = None) -> requests.Response:
    """OpenAlex's answer for a paper's arXiv DOI, retried with backoff on 429 and 5xx (raises OpenAlexBusy)."""
    url = f"{settings.openalex_url.rstrip('/')}/works/doi:{ARXIV_DOI.format(arxiv_id)}"
    params = {"select": OPENALEX_FIELDS} | ({"mailto": settings.openalex_mailto} if settings.openalex_mailto else {})
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
        log.info("OpenAlex unavailable for %s: %s", arxiv_id, exc if isinstance(exc, OpenAlexBusy) else type(exc).__name__)
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


def find_header_lines(first_page: str, authors: Sequence[str]) -> list[str]:
    """Lines of the first page from the author line (or the second line) up to the abstract."""
    lines = [line.strip() for line in first_page.splitlines() if line.strip()]
    end = next((i for i, line in enumerate(lines) if HEADER_END.match(line)), None)
    surname = authors[0].split()[-1] if authors and authors[0].split() else ""
    start = next((i for i, line in enumerate(lines[:end]) if surname and surname in line), 1)
    return lines[start : end if end is not None else start + MAX_HEADER_LINES]


def parse_pdf_affiliations(first_page: str, authors: Sequence[str] = ()) -> list[Affiliation]:
    """Institutions named between the authors and the abstract of a first page (a heuristic)."""
    found: list[Affiliation] = []
    for line in find_header_lines(first_page, authors):
        for part in MARK.split(EMAIL.sub(" ", line)):
            name = (part or "").strip(" ,.;:*∗†‡§¶")
            if INSTITUTION.search(name) and len(name.split()) <= 20 and name.lower() not in {a.name.lower() for a in found}:
                found.append(Affiliation(name=name, source="pdf"))
    return found[:MAX_AFFILIATIONS]


def find_affiliations(
    paper: Paper, first_page: str, settings: Settings, session: requests.Session | None = None
) -> tuple[Affiliation, ...]:
    """OpenAlex's institutions for the paper when it has them, else the first page's."""
    work = fetch_openalex(paper.arxiv_id, settings, session)
    found = parse_openalex(work) if work else []
    return tuple(found or parse_pdf_affiliations(first_page, paper.authors))
