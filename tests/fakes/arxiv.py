"""A loopback fake of the arXiv API: Atom in the shape of the recorded real response, PDFs, faults.

    with FakeArxiv(papers) as fake:          # papers: Paper records or dicts (sample JSONL lines work)
        fake.add_pdf("2403.16510v1", make_pdf(...))
        fake.fail(503)                        # the next API request answers 503, then normal service
        settings = Settings(arxiv_api_url=fake.url, arxiv_delay_seconds=0.01)
        ...
        fake.api_requests                     # what the client asked, in order

Faults (each answers the next request(s), then service is normal): fail(503) / fail(429,
retry_after=7) / fail_empty() / fail_timeout(seconds) / fail_html(); PDFs: fail_pdf(status, seconds=).

For a papermill kernel, pass `fake.env()` (PAPERPRESS_ARXIV_API_URL, a tiny PAPERPRESS_ARXIV_DELAY,
NO_PROXY, and PAPERPRESS_NOW when the clock is set). The fake models a topic query roughly: its
ti:/abs:/all: terms are alternatives (matched case-insensitively in title/abstract), its cat: terms
too, the two groups must both hold, and the submittedDate window filters; other operators are ignored.

What it does as arXiv does (API user manual, https://info.arxiv.org/help/api/user-manual.html):
- one entry per article, its latest (visible) version; `<published>` is "the date that version 1 of
  the article was submitted" for every version, `<updated>` "the date that the retrieved version of
  the article was submitted" (§5.2); `submittedDate` filters on the first version's submission
  time, GMT to the minute, both ends inclusive (§5.1; "submittedDate (date/time of first
  submission)", ContentMine/getpapers#180);
- paging with start/max_results (0-based) and opensearch:totalResults; at most 2000 entries per
  response, and max_results above 30000 is an HTTP 400 (§3.1.1.2);
- sortBy submittedDate / lastUpdatedDate / relevance, sortOrder ascending / descending (§3.1.1.3).

Calendar mode (`FakeArxiv(papers, calendar=True)`, clock `fake.set_now("2026-03-09T01:00:00Z")`): a
version exists for the API only from its announcement on, by arXiv's schedule
(https://info.arxiv.org/help/availability.html): submissions close at 14:00 US Eastern Monday to
Friday and go out at 20:00 Eastern that day (Friday's on Sunday), none on arXiv's holidays (HOLIDAYS);
a paper with `hold: n` goes out n mailings later (moderation holds, same page: "all submissions are
subject to moderation which may result in delays"), and everything shows `lag_hours` after the
announcement (the API trails the listings: scirate/scirate#514, #515). A paper's own submission time
is its `updated` (vN) or `published` (v1) field.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterable
from urllib.parse import parse_qsl, urlsplit

from lxml import etree

# The real response recorded from export.arxiv.org (shared data, read in place, never copied).
TEMPLATE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "arxiv-api-response-example.xml"
NS = {"atom": "http://www.w3.org/2005/Atom", "arxiv": "http://arxiv.org/schemas/atom",
      "opensearch": "http://a9.com/-/spec/opensearch/1.1/"}
ATOM_TYPE = "application/atom+xml; charset=UTF-8"
WINDOW = re.compile(r"submittedDate:\[(\d{12}) TO (\d{12})\]")
MAX_SLICE, MAX_RESULTS = 2000, 30000  # per response; per query (API user manual §3.1.1.2)
ET = ZoneInfo("America/New_York")
# arXiv's published no-mailing days of 2025-2026 (https://info.arxiv.org/help/availability.html; 2025 from
# that page's history in github.com/arXiv/arxiv-docs). The fake's own copy: tests may pass others.
HOLIDAYS = frozenset(dt.date.fromisoformat(d) for d in (
    "2025-01-01", "2025-01-20", "2025-06-19", "2025-07-06", "2025-09-01", "2025-11-27", "2025-12-25", "2025-12-30",
    "2026-01-01", "2026-01-19", "2026-06-19", "2026-07-03", "2026-09-07", "2026-11-26", "2026-12-25", "2026-12-29",
    "2026-12-31"))
TERM = re.compile(r'\b(ti|abs|all|cat):(?:"([^"]+)"|([^\s()]+))')


@dataclass
class Request:
    """One request the fake received."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)


@dataclass
class Fault:
    """One injected failure: an HTTP status (with Retry-After), an empty page, a stall, an HTML page."""

    kind: str = "status"  # status | empty | timeout | html
    status: int = 503
    retry_after: str | None = None
    seconds: float = 0.0


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 at a random port, run in a thread as a context manager."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        """http://127.0.0.1:<port>"""
        assert self._server, "start the fake first (use it as a context manager)"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def respond(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body for a request (subclasses answer)."""
        return 404, {"Content-Type": "text/plain"}, b"not found"

    def fail(self, status: int = 503, *, retry_after: str | int | None = None, times: int = 1) -> None:
        """Answer the next `times` requests with this status."""
        ra = None if retry_after is None else str(retry_after)
        self.faults.extend(Fault("status", status, ra) for _ in range(times))

    def fail_timeout(self, seconds: float, times: int = 1) -> None:
        """Stall the next `times` requests for `seconds` before answering (a client timeout)."""
        self.faults.extend(Fault("timeout", seconds=seconds) for _ in range(times))

    def take_fault(self) -> Fault | None:
        """The next queued fault, if any."""
        with self._lock:
            return self.faults.popleft() if self.faults else None

    def record(self, request: Request) -> None:
        """Log a request (thread-safe)."""
        with self._lock:
            self.requests.append(request)

    def __enter__(self):
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()


def unused_url(path: str = "/") -> str:
    """A loopback URL where nothing listens (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


def make_handler(owner: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    """A request handler class that logs each GET and answers with owner.respond()."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            url = urlsplit(self.path)
            request = Request("GET", url.path, dict(parse_qsl(url.query, keep_blank_values=True)), dict(self.headers))
            owner.record(request)
            status, headers, body = owner.respond(request)
            try:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test): nothing to answer

        def log_message(self, *args) -> None:
            pass

    return Handler


def normalise_paper(obj, default_day: str) -> dict:
    """A paper as the fake stores it, from a Paper record or a dict (sample JSONL lines included)."""
    data = obj.model_dump() if hasattr(obj, "model_dump") else dict(obj)
    published = data.get("published") or data.get("listed_on") or default_day
    if len(published) == 10:
        published += "T12:00:00Z"
    return {
        "arxiv_id": data["arxiv_id"],
        "version": data.get("version") or "v1",
        "title": data.get("title") or "Untitled",
        "authors": list(data.get("authors") or ["Anonymous"]),
        "abstract": data.get("abstract") or data.get("summary") or "",
        "comment": data.get("comment"),
        "categories": list(data.get("categories") or ["cs.CV"]),
        "published": published,
        "updated": data.get("updated") or published,  # this version's submission time
        "hold": int(data.get("hold") or 0),  # mailings a moderation hold adds (calendar mode)
        "lag_hours": data.get("lag_hours"),  # this version's API lag, else the fake's
    }


def parse_time(text: str) -> dt.datetime:
    """An aware time from arXiv's ISO 8601 form (2024-03-25T07:52:17Z)."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def has_deadline(day: dt.date, holidays: frozenset) -> bool:
    """Submissions close at 14:00 Eastern on weekdays that are no holiday; Friday's feed the Sunday mailing."""
    if day.weekday() >= 5 or day in holidays:
        return False
    return not (day.weekday() == 4 and day + dt.timedelta(days=2) in holidays)


def announcement_after(submitted: dt.datetime, holidays: frozenset, hold: int = 0) -> dt.datetime:
    """When arXiv announces a submission (20:00 Eastern after its deadline), `hold` mailings later."""
    day = submitted.astimezone(ET).date()
    deadlines = 0
    while True:
        close = dt.datetime.combine(day, dt.time(14), tzinfo=ET)
        if has_deadline(day, holidays) and close > submitted:
            if deadlines == hold:
                announce_day = day + dt.timedelta(days=2 if day.weekday() == 4 else 0)
                return dt.datetime.combine(announce_day, dt.time(20), tzinfo=ET).astimezone(dt.timezone.utc)
            deadlines += 1
        day += dt.timedelta(days=1)


def set_text(parent, path: str, text: str) -> None:
    """Set the text of the first element at `path`."""
    parent.find(path, NS).text = text


def replace_all(parent, path: str, values: Iterable, fill) -> None:
    """Replace the elements at `path` by clones of the first one, one per value, in the same place."""
    found = parent.findall(path, NS)
    index = list(parent).index(found[0])
    for element in found:
        parent.remove(element)
    for offset, value in enumerate(values):
        clone = copy.deepcopy(found[0])
        fill(clone, value)
        parent.insert(index + offset, clone)


class FeedTemplate:
    """The recorded response split into its feed header and one entry to clone."""

    def __init__(self, path: Path = TEMPLATE):
        if not path.is_file():
            raise FileNotFoundError(f"arXiv response template not found at {path} (shared data)")
        self.root = etree.fromstring(path.read_bytes())
        entries = self.root.findall("atom:entry", NS)
        self.entry = entries[0]
        for entry in entries:
            self.root.remove(entry)

    def render(self, papers: list[dict], total: int, start: int, per_page: int, query: str, base: str) -> bytes:
        """One page of the feed, its pdf links pointing back at `base`."""
        root = copy.deepcopy(self.root)
        args = f"search_query={query}&id_list=&start={start}&max_results={per_page}"
        set_text(root, "atom:title", f"arXiv Query: {args}")
        root.find("atom:link", NS).set("href", f"{base}/api/query?{args}")
        set_text(root, "opensearch:itemsPerPage", str(per_page))
        set_text(root, "opensearch:totalResults", str(total))
        set_text(root, "opensearch:startIndex", str(start))
        for paper in papers:
            root.append(self.fill(paper, base))
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    def error(self, message: str, base: str) -> bytes:
        """arXiv's error feed: one entry whose id is .../api/errors#... and whose summary is the message."""
        root = copy.deepcopy(self.root)
        set_text(root, "opensearch:totalResults", "1")
        entry = self.fill({"arxiv_id": "0000.00000", "version": "", "title": "Error", "authors": ["arXiv api core"],
                           "abstract": message, "comment": None, "categories": ["cs.CV"],
                           "published": "2007-02-27T00:00:00-05:00", "updated": "2007-02-27T00:00:00-05:00"}, base)
        set_text(entry, "atom:id", "http://arxiv.org/api/errors#incorrect_id_format_for_0000.00000")
        root.append(entry)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    def fill(self, paper: dict, base: str):
        """An <entry> for one paper, in the template's element order."""
        entry = copy.deepcopy(self.entry)
        vid = paper["arxiv_id"] + paper["version"]
        set_text(entry, "atom:id", f"http://arxiv.org/abs/{vid}")
        set_text(entry, "atom:title", paper["title"])
        set_text(entry, "atom:updated", paper["updated"])
        set_text(entry, "atom:published", paper["published"])
        set_text(entry, "atom:summary", paper["abstract"])
        for link in entry.findall("atom:link", NS):
            if link.get("rel") == "alternate":
                link.set("href", f"https://arxiv.org/abs/{vid}")
            elif link.get("title") == "pdf":
                link.set("href", f"{base}/pdf/{vid}")
            else:
                entry.remove(link)  # the DOI link: our papers have no journal DOI
        for path in ("arxiv:journal_ref", "arxiv:doi"):
            entry.remove(entry.find(path, NS))
        if paper["comment"]:
            set_text(entry, "arxiv:comment", paper["comment"])
        else:
            entry.remove(entry.find("arxiv:comment", NS))
        entry.find("arxiv:primary_category", NS).set("term", paper["categories"][0])
        replace_all(entry, "atom:category", paper["categories"], lambda el, term: el.set("term", term))
        replace_all(entry, "atom:author", paper["authors"], lambda el, name: set_text(el, "atom:name", name))
        return entry


class FakeArxiv(LoopbackServer):
    """The arXiv API at `.url` (query pages, faults) and its PDFs at `/pdf/<id><version>`."""

    def __init__(self, papers: Iterable = (), *, default_day: str = "2024-04-01", template: Path = TEMPLATE,
                 calendar: bool = False, lag_hours: float = 0.0, holidays: Iterable = HOLIDAYS):
        super().__init__()
        self.default_day = default_day
        self.template = FeedTemplate(template)
        self.calendar, self.lag_hours, self.holidays = calendar, lag_hours, frozenset(holidays)
        self.now: dt.datetime | None = None  # the test's clock (calendar mode); None: PAPERPRESS_NOW or the real one
        self.papers: list[dict] = []
        self.pdfs: dict[str, bytes] = {}
        self.pdf_faults: deque[Fault] = deque()
        self.set_papers(papers)

    @property
    def url(self) -> str:
        """The API endpoint, for PAPERPRESS_ARXIV_API_URL."""
        return f"{self.base}/api/query"

    @property
    def api_requests(self) -> list[Request]:
        """Requests to the query endpoint."""
        return [r for r in self.requests if r.path == "/api/query"]

    @property
    def pdf_requests(self) -> list[Request]:
        """Requests for PDFs."""
        return [r for r in self.requests if r.path.startswith("/pdf/")]

    def set_papers(self, papers: Iterable) -> None:
        """Replace what the fake knows (Paper records or dicts, one per version; undated ones go on default_day)."""
        self.papers = [normalise_paper(p, self.default_day) for p in papers]

    def set_now(self, when: str | dt.datetime) -> None:
        """Set the clock of calendar mode (ISO 8601 with a zone, or an aware datetime)."""
        self.now = parse_time(when) if isinstance(when, str) else when

    def read_now(self) -> dt.datetime:
        """The fake's clock: set_now's time, else PAPERPRESS_NOW, else the real time."""
        if self.now is not None:
            return self.now
        text = os.environ.get("PAPERPRESS_NOW")
        return parse_time(text) if text else dt.datetime.now(dt.timezone.utc)

    def visible_at(self, paper: dict) -> dt.datetime | None:
        """When the API starts to show this version (None: always, outside calendar mode)."""
        if not self.calendar:
            return None
        lag = self.lag_hours if paper["lag_hours"] is None else paper["lag_hours"]
        announced = announcement_after(parse_time(paper["updated"]), self.holidays, paper["hold"])
        return announced + dt.timedelta(hours=lag)

    def visible(self) -> list[dict]:
        """What the API shows now: per article its newest visible version, dated by its first version."""
        now = self.read_now() if self.calendar else None
        versions: dict[str, list[dict]] = {}
        for paper in self.papers:
            versions.setdefault(paper["arxiv_id"], []).append(paper)
        shown = []
        for group in versions.values():
            group.sort(key=lambda p: int(p["version"][1:]))
            seen = [p for p in group if now is None or self.visible_at(p) <= now]
            if seen:
                # <published> is version 1's submission time for every version (user manual §5.2).
                shown.append({**seen[-1], "published": group[0]["published"]})
        return shown

    def add_pdfs(self, make) -> None:
        """Serve make(paper_dict) as the PDF of every paper the fake knows (e.g. with tests.fakes.pdfs)."""
        for paper in self.papers:
            self.add_pdf(paper["arxiv_id"] + paper["version"], make(paper))

    def add_pdf(self, versioned_id: str, data: bytes) -> None:
        """Serve these bytes at /pdf/<versioned_id> (any bytes: a broken PDF is a test too)."""
        self.pdfs[versioned_id] = data

    def pdf_url(self, versioned_id: str) -> str:
        """Where the fake serves a paper's PDF."""
        return f"{self.base}/pdf/{versioned_id}"

    def fail_empty(self, times: int = 1) -> None:
        """Answer the next `times` queries with a page that has a total but no entries."""
        self.faults.extend(Fault("empty") for _ in range(times))

    def fail_pdf(self, status: int = 503, *, seconds: float = 0.0, times: int = 1) -> None:
        """Answer the next `times` PDF requests with this status (after stalling `seconds`)."""
        self.pdf_faults.extend(Fault("status", status, seconds=seconds) for _ in range(times))

    def fail_html(self, times: int = 1) -> None:
        """Answer the next `times` queries with 200 and an HTML page (a proxy or maintenance page)."""
        self.faults.extend(Fault("html") for _ in range(times))

    def env(self, delay: float = 0.01) -> dict[str, str]:
        """Environment variables that point paperpress (or a notebook kernel) at this fake."""
        loop = "127.0.0.1,localhost"
        env = {"PAPERPRESS_ARXIV_API_URL": self.url, "PAPERPRESS_ARXIV_DELAY": str(delay), "NO_PROXY": loop, "no_proxy": loop}
        if self.now is not None:
            env["PAPERPRESS_NOW"] = self.now.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return env

    def respond(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        if request.path.startswith("/pdf/"):
            with self._lock:
                fault = self.pdf_faults.popleft() if self.pdf_faults else None
            if fault:
                time.sleep(fault.seconds)
                return fault.status, {"Content-Type": "text/plain"}, b"fake arXiv: PDF fault"
            data = self.pdfs.get(request.path.removeprefix("/pdf/"))
            if data is None:
                return 404, {"Content-Type": "text/plain"}, b"not found"
            return 200, {"Content-Type": "application/pdf"}, data
        if request.path != "/api/query":
            return super().respond(request)
        fault = self.take_fault()
        if int(request.params.get("max_results", 10) or 0) > MAX_RESULTS:
            return 400, {"Content-Type": ATOM_TYPE}, self.template.error(
                f"max_results must not exceed {MAX_RESULTS}", self.base)
        if fault and fault.kind == "status":
            headers = {"Content-Type": "text/plain"} | ({"Retry-After": fault.retry_after} if fault.retry_after else {})
            return fault.status, headers, f"fake arXiv: HTTP {fault.status}".encode()
        if fault and fault.kind == "html":
            return 200, {"Content-Type": "text/html"}, b"<html><body>Down for maintenance</body></html>"
        if fault and fault.kind == "timeout":
            time.sleep(fault.seconds)
        return 200, {"Content-Type": ATOM_TYPE}, self.answer(request.params, empty=bool(fault and fault.kind == "empty"))

    def answer(self, params: dict[str, str], empty: bool = False) -> bytes:
        """The Atom page for a query: the window's papers in the asked order, sliced by start/max_results."""
        query = params.get("search_query", "")
        start, per_page = int(params.get("start", 0)), int(params.get("max_results", 10))
        matches = [p for p in self.visible() if in_window(p, query) and matches_terms(p, query)]
        sort_field = {"lastUpdatedDate": "updated", "submittedDate": "published"}.get(params.get("sortBy", ""), "arxiv_id")
        descending = params.get("sortOrder", "descending") == "descending"
        matches.sort(key=lambda p: (parse_time(p[sort_field]) if sort_field != "arxiv_id" else p[sort_field], p["arxiv_id"]),
                     reverse=descending)
        page = [] if empty else matches[start : start + min(per_page, MAX_SLICE)]
        return self.template.render(page, len(matches), start, per_page, query, self.base)


def in_window(paper: dict, query: str) -> bool:
    """Whether a paper's first submission (GMT, to the minute) falls in the query's submittedDate window, if any."""
    match = WINDOW.search(query)
    if not match:
        return True
    stamp = parse_time(paper["published"]).astimezone(dt.timezone.utc).strftime("%Y%m%d%H%M")
    return match.group(1) <= stamp <= match.group(2)


def matches_terms(paper: dict, query: str) -> bool:
    """Whether a paper has one of the query's text terms and one of its categories (when it has any)."""
    texts, cats = [], []
    for field_name, phrase, word in TERM.findall(query):
        (cats if field_name == "cat" else texts).append((field_name, (phrase or word).lower()))
    fields = {"ti": paper["title"].lower(), "abs": paper["abstract"].lower()}
    fields["all"] = fields["ti"] + " " + fields["abs"]
    text_ok = not texts or any(term in fields[name] for name, term in texts)
    cat_ok = not cats or any(term in (c.lower() for c in paper["categories"]) for _, term in cats)
    return text_ok and cat_ok
