"""Institutions of a paper's authors: OpenAlex when it has indexed the paper, else the PDF's first page."""

from __future__ import annotations

import logging
import re
from typing import Sequence

import requests

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


def fetch_openalex(arxiv_id: str, settings: Settings, session: requests.Session | None = None) -> dict | None:
    """The OpenAlex work of an arXiv paper (by its arXiv DOI); None when not indexed or unreachable."""
    url = f"{settings.openalex_url.rstrip('/')}/works/doi:{ARXIV_DOI.format(arxiv_id)}"
    params = {"mailto": settings.openalex_mailto} if settings.openalex_mailto else {}
    try:
        resp = (session or requests).get(url, params=params, timeout=OPENALEX_TIMEOUT, headers={"User-Agent": USER_AGENT})
        if resp.status_code != 200:
            log.info("OpenAlex has no work for %s (HTTP %s)", arxiv_id, resp.status_code)
            return None
        work = resp.json()
    except (requests.RequestException, ValueError) as exc:
        # Affiliations are a nicety: the PDF fallback covers an OpenAlex outage.
        log.info("OpenAlex unavailable for %s: %s", arxiv_id, type(exc).__name__)
        return None
    return work if isinstance(work, dict) else None


def parse_openalex(work: dict) -> list[Affiliation]:
    """Institutions of an OpenAlex work, the first author's first, each once."""
    authorships = [a for a in work.get("authorships") or [] if isinstance(a, dict)]
    authorships.sort(key=lambda a: a.get("author_position") != "first")  # stable: keeps the rest in order
    found: list[Affiliation] = []
    seen: set[str] = set()
    for authorship in authorships:
        for inst in authorship.get("institutions") or []:
            name = " ".join(str(inst.get("display_name") or "").split())
            key = inst.get("ror") or inst.get("id") or name.lower()
            if name and key not in seen:
                seen.add(key)
                found.append(
                    Affiliation(name=name, ror=inst.get("ror") or None, country=inst.get("country_code") or None, source="openalex")
                )
    return found[:MAX_AFFILIATIONS]


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
