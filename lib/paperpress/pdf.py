"""PDFs: download into a cache, first-page text, introduction, code links; with figures (figures.py), one Extras per paper."""

from __future__ import annotations

import io
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pypdfium2 as pdfium
import requests
from pypdf import PdfReader

from .affiliations import find_affiliations
from .arxiv_api import ArxivClient, client_for
from .config import Settings
from .figures import cache_folder, extract_figures
from .records import Extras, Paper
from .text import cut_text, find_code_urls

log = logging.getLogger(__name__)

MAX_PDF_BYTES = 40 * 2**20  # arXiv caps submissions at 50 MB; a digest needs far less
PDF_TIMEOUT = (10.0, 60.0)  # connect, read (s)
PDF_DEADLINE = 180.0  # the whole download: requests' timeout is per read, a slow drip never trips it
INTRO_PAGES = 3
MAX_FIRST_PAGE = 4000
MAX_INTRO = 6000
MAX_CODE_URLS = 5

INTRO = re.compile(r"^\s*(?:(?:1|I)\.?\s+)?introduction\s*$", re.I | re.M)
# The heading after the introduction: numbered 2 / II (capitalised, short), or a usual name.
NEXT_SECTION = re.compile(
    r"^\s*(?:(?:2|II)\.?\s+[A-Z][^\n]{2,60}|(?i:related works?|background|preliminar(?:y|ies)|methods?))\s*$", re.M
)
CODE_HOST = re.compile(r"github\.com|gitlab\.com|huggingface\.co|github\.io|bitbucket\.org|codeberg\.org")


@dataclass(frozen=True)
class PdfText:
    """What we read from a PDF's text: the first page, the introduction, the first page's links."""

    first_page: str = ""
    intro: str = ""
    links: tuple[str, ...] = ()


def cache_path(paper: Paper, settings: Settings) -> Path:
    """Where a paper's PDF is cached, keyed by id and version."""
    return Path(settings.cache_dir) / "pdf" / f"{paper.versioned_id.replace('/', '_')}.pdf"


def download_pdf(
    url: str, client: ArxivClient, max_bytes: int = MAX_PDF_BYTES, timeout=PDF_TIMEOUT, deadline: float = PDF_DEADLINE
) -> tuple[str, bytes]:
    """A PDF's status ('ok', 'missing', 'too-large', 'broken') and bytes; network errors are a status."""
    started = time.monotonic()
    chunks, size = [], 0
    try:
        with client.get(url, stream=True, timeout=timeout) as resp:
            if resp.status_code != 200:
                return "missing", b""
            if int(resp.headers.get("Content-Length") or 0) > max_bytes:
                return "too-large", b""
            for chunk in resp.iter_content(64 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    return "too-large", b""
                if time.monotonic() - started > deadline:
                    return "missing", b""
                chunks.append(chunk)
    except (requests.RequestException, ValueError) as exc:
        log.warning("PDF download failed for %s: %s", url, type(exc).__name__)
        return "missing", b""
    data = b"".join(chunks)
    # arXiv answers some PDF links with an HTML page (e.g. "PDF being generated"): not a PDF.
    return ("ok", data) if data.startswith(b"%PDF-") else ("broken", b"")


def load_pdf(paper: Paper, settings: Settings, client: ArxivClient) -> tuple[str, bytes]:
    """A paper's PDF from the cache, else downloaded (and cached when it is one)."""
    path = cache_path(paper, settings)
    if path.is_file():
        return "ok", path.read_bytes()
    if not paper.pdf_url:
        return "missing", b""
    status, data = download_pdf(paper.pdf_url, client)
    if status == "ok":
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(f"{path.name}.{os.getpid()}.part")  # parallel runs never see half a file
        part.write_bytes(data)
        os.replace(part, path)
    return status, data


def open_pdf(data: bytes) -> pdfium.PdfDocument:
    """A PDFium document of PDF bytes; raises PdfiumError (or ValueError) when the file is broken."""
    doc = pdfium.PdfDocument(data)
    if len(doc) == 0:
        doc.close()
        raise ValueError("a PDF without pages")
    return doc


def page_text(page: pdfium.PdfPage) -> str:
    """A page's text, one stripped line per line, empty lines dropped."""
    # PDFium marks a hyphen it finds at a line end as U+0002 (or U+FFFE): give the hyphen back.
    text = page.get_textpage().get_text_range().replace("\x02", "-").replace("\ufffe", "-")
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def find_intro(text: str) -> str:
    """The introduction of a paper's first pages (whitespace collapsed, line-break hyphens joined); '' if none."""
    start = INTRO.search(text)
    if not start:
        return ""
    end = NEXT_SECTION.search(text, start.end())
    body = text[start.end() : end.start() if end else len(text)]
    body = re.sub(r"(\w)-\n(?=[a-z])", r"\1", body)
    return cut_text(" ".join(body.split()), MAX_INTRO)


def find_links(data: bytes) -> tuple[str, ...]:
    """http(s) targets of the first page's link annotations (whole, unlike URLs broken across lines)."""
    links: list[str] = []
    try:
        page = PdfReader(io.BytesIO(data)).pages[0]  # pypdf reads annotations far more simply than PDFium
        for annot in page.get("/Annots") or []:
            action = annot.get_object().get("/A")
            uri = action.get_object().get("/URI") if action else None
            uri = uri.decode("latin-1") if isinstance(uri, bytes) else uri
            if isinstance(uri, str) and uri.startswith(("http://", "https://")) and uri not in links:
                links.append(str(uri))
    except Exception as exc:  # noqa: BLE001 - links are a nicety: keep those read so far
        log.info("first-page links unreadable: %s", type(exc).__name__)
    return tuple(links)


def read_text(doc: pdfium.PdfDocument, data: bytes) -> PdfText:
    """First-page text, introduction and first-page links of an open PDF (and its bytes)."""
    pages = [page_text(doc[i]) for i in range(min(INTRO_PAGES, len(doc)))]
    return PdfText(first_page=cut_text(pages[0], MAX_FIRST_PAGE), intro=find_intro("\n".join(pages)), links=find_links(data))


def find_code_links(paper: Paper, text: PdfText) -> tuple[str, ...]:
    """Code and project links of the abstract and comment, then code-host links of the first page."""
    urls = find_code_urls(paper.abstract, paper.comment)
    # On the first page only code hosts count: its other links are DOIs, licences and citations.
    # LaTeX breaks a long \url after '/', '-' or '_' without adding a hyphen: rejoin such lines.
    page = re.sub(r"(https?://\S*[/\-_])\n(\S+)", r"\1\2", text.first_page)
    urls += [u for u in find_code_urls(page, "\n".join(text.links)) if CODE_HOST.search(u)]
    unique = []
    for url in urls:
        if url not in unique and not any(other != url and other.startswith(url) for other in urls):
            unique.append(url)  # a URL cut at a line break is a prefix of the whole one
    return tuple(unique[:MAX_CODE_URLS])


def enrich_paper(
    paper: Paper, settings: Settings, assets_dir: Path | None, client: ArxivClient, session: requests.Session
) -> Extras:
    """Extras of one paper; a missing or broken PDF leaves its text and figures empty and says so."""
    status, data = load_pdf(paper, settings, client)
    text, figures = PdfText(), []
    if data:
        try:
            doc = open_pdf(data)
        except Exception as exc:  # noqa: BLE001 - a malformed file must never fail the run
            log.warning("unreadable PDF for %s: %s", paper.versioned_id, type(exc).__name__)
            status, doc = "broken", None
            cache_path(paper, settings).unlink(missing_ok=True)  # maybe a bad copy: let a rerun fetch it again
        if doc is not None:
            try:
                text = read_text(doc, data)
                if assets_dir is not None:
                    stem, cache = paper.versioned_id.replace("/", "_"), cache_folder(data, settings.cache_dir)
                    figures = extract_figures(doc, stem, paper.title, Path(assets_dir), cache)
            except Exception as exc:  # noqa: BLE001 - a page PDFium chokes on: keep what we have
                log.warning("partly unreadable PDF for %s: %s", paper.versioned_id, type(exc).__name__)
            finally:
                doc.close()
    return Extras(
        pdf_status=status,
        first_page=text.first_page,
        intro=text.intro,
        affiliations=find_affiliations(paper, text.first_page, settings, session),
        code_urls=find_code_links(paper, text),
        figures=tuple(figures),
    )


def enrich_papers(papers: Sequence[Paper], settings: Settings, assets_dir: Path | None) -> list[Extras]:
    """Extras (PDF text, affiliations, code links, figures saved under assets_dir) for each paper, in order."""
    client = client_for(settings)  # PDFs share the run's arXiv client and its pause between requests
    with requests.Session() as session:
        return [enrich_paper(paper, settings, assets_dir, client, session) for paper in papers]
