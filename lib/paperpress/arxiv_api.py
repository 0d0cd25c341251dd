"""The live source: the arXiv API (query, paced and retried requests, Atom parsing), used by `sources`."""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import logging
import re
import threading
import time
from pathlib import Path
from typing import Callable, Iterable

import arxiv
import requests
from arxiv import _feed as arxiv_feed
from filelock import FileLock
from pydantic import ValidationError
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from .config import DEFAULT_ARXIV_API_URL, USER_AGENT, PaperpressError, Settings, Topic
from .records import Paper
from .text import clean_text

log = logging.getLogger(__name__)

# arXiv API (issue 3). arxiv.Client is not used for the transport: it has no timeout, ignores
# Retry-After, spaces retries only by its delay and hides opensearch:totalResults (so an empty page
# looks like an empty day). We keep the package's Atom parser, Result records and sort names.

PAGE_SIZE = 100  # results per request; arXiv allows 2000, but big pages are slow and flaky
API_TRIES = 4
API_TIMEOUT = (10.0, 60.0)  # connect, read (s): arXiv can take a while to build a page
MAX_BACKOFF = 60.0
MAX_RETRY_AFTER = 600.0  # a bogus Retry-After must not park the run for hours


class RetryableError(Exception):
    """A failure another try may fix: 429, 5xx, an empty or broken page, a network error."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


def minute(value: dt.datetime) -> str:
    """A time as submittedDate writes it: GMT, to the minute (YYYYMMDDHHMM)."""
    return value.astimezone(dt.timezone.utc).strftime("%Y%m%d%H%M")


def build_window(start: dt.datetime, end: dt.datetime) -> str:
    """arXiv's submittedDate range for submissions in [start, end): GMT minutes, both ends inclusive (API manual §5.1)."""
    return f"submittedDate:[{minute(start)} TO {minute(end - dt.timedelta(minutes=1))}]"


def build_query(topic: Topic, start: dt.datetime, end: dt.datetime) -> str:
    """The search_query of a topic over a submission window: the topic's query, its categories, the window."""
    parts = [f"({topic.query})"]
    if topic.categories:
        parts.append("(" + " OR ".join(f"cat:{c}" for c in topic.categories) + ")")
    parts.append(build_window(start, end))
    return " AND ".join(parts)


def build_params(query: str, start: int, count: int) -> dict[str, str]:
    """URL parameters of one page of a query, newest submissions first."""
    return {
        "search_query": query,
        "start": str(start),
        "max_results": str(count),
        "sortBy": arxiv.SortCriterion.SubmittedDate.value,
        "sortOrder": arxiv.SortOrder.Descending.value,
    }


def parse_retry_after(value: str | None) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or an HTTP date), capped; None if unusable."""
    value = (value or "").strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        when = when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)
        seconds = (when - dt.datetime.now(dt.timezone.utc)).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def split_version(short_id: str) -> tuple[str, str]:
    """('2403.16510', 'v1') from '2403.16510v1'; the version is '' when absent."""
    match = re.fullmatch(r"(.+?)(v\d+)?", short_id)
    return match.group(1), match.group(2) or ""


def format_time(value: dt.datetime) -> str:
    """An arXiv-style ISO 8601 GMT time, e.g. 2024-03-25T07:52:17Z."""
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def paper_from_result(result: arxiv.Result) -> Paper:
    """A Paper from one parsed arXiv entry: id without version, whitespace collapsed, ISO times."""
    arxiv_id, version = split_version(result.get_short_id())
    abs_url = next((link.href for link in result.links if link.rel == "alternate"), result.entry_id)
    return Paper(
        arxiv_id=arxiv_id,
        version=version,
        title=clean_text(result.title),
        authors=tuple(clean_text(a.name) for a in result.authors),
        abstract=clean_text(result.summary),
        comment=clean_text(result.comment) or None,
        categories=tuple(result.categories),
        published=format_time(result.published),
        updated=format_time(result.updated),
        abs_url=abs_url,
        pdf_url=result.pdf_url or "",
    )


def find_api_error(results: Iterable[arxiv.Result]) -> str | None:
    """The message of arXiv's error entry (id .../api/errors#...), if the feed is one."""
    for result in results:
        if "/api/errors" in result.entry_id:
            return clean_text(result.summary) or "unknown error"
    return None


def parse_feed(content: bytes) -> tuple[list[Paper], int]:
    """Papers of one Atom page of the arXiv API and its opensearch:totalResults."""
    feed = arxiv_feed.parse(content)
    if feed.malformed:
        raise ValueError(f"not an Atom feed: {feed.error}")
    error = find_api_error(feed.results)
    if error:
        raise PaperpressError(f"arXiv API rejected the query: {error}")
    papers = []
    for result in feed.results:
        try:
            papers.append(paper_from_result(result))
        except ValidationError as exc:
            # One entry in a format we do not know should not cost the whole day.
            log.warning("skipping arXiv entry %s: %s", result.entry_id, exc.errors()[0]["msg"])
    return papers, feed.header.total_results


class ArxivClient:
    """One per run: a session that names the project, arXiv's pause between requests, retries with backoff."""

    def __init__(
        self,
        api_url: str = DEFAULT_ARXIV_API_URL,
        delay: float = 3.0,
        *,
        page_size: int = PAGE_SIZE,
        tries: int = API_TRIES,
        timeout: float | tuple[float, float] = API_TIMEOUT,
        backoff: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        shared: Path | None = None,
    ):
        self.api_url, self.delay, self.page_size, self.tries, self.timeout = api_url, delay, page_size, tries, timeout
        first = delay if backoff is None else backoff  # the first retry waits about one pause, then doubles
        self.backoff = wait_exponential_jitter(initial=first, max=MAX_BACKOFF, jitter=first)
        self.clock, self.sleep = clock, sleep
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.requests = 0  # counted for the benchmark and the tests
        self.waited = 0.0
        self._last: float | None = None
        self._lock = threading.Lock()
        # Parallel runs (a backfill) keep arXiv's pause too: a lock file and the time of the last request.
        self.shared = Path(shared) if shared else None
        if self.shared:
            self.shared.parent.mkdir(parents=True, exist_ok=True)
        self._file_lock = FileLock(str(self.shared)) if self.shared else contextlib.nullcontext()

    def pause(self, seconds: float) -> None:
        """Sleep, counting it as time spent waiting on arXiv."""
        if seconds > 0:
            self.waited += seconds
            self.sleep(seconds)

    def wait_turn(self) -> None:
        """Pause until `delay` seconds have passed since the last request of this run or a parallel one."""
        pauses = [0.0]
        if self._last is not None:
            pauses.append(self._last + self.delay - self.clock())
        if self.shared:
            # Wall-clock stamps across processes: capped at one pause, as a clock may jump.
            pauses.append(min(self.delay, read_stamp(self.shared) + self.delay - time.time()))
        self.pause(max(pauses))

    def get(self, url: str, **kwargs) -> requests.Response:
        """One GET in turn: sent at least `delay` seconds after the previous one ended."""
        with self._lock, self._file_lock:  # one request at a time, whichever thread or process asks
            self.wait_turn()
            kwargs.setdefault("timeout", self.timeout)
            try:
                return self.session.get(url, **kwargs)
            finally:
                self.requests += 1
                self._last = self.clock()
                if self.shared:
                    write_stamp(self.shared, time.time())

    def fetch_page(self, query: str, start: int, count: int) -> tuple[list[Paper], int]:
        """One page of results and the total, retried on 429, 5xx, empty pages and network errors."""
        retrying = Retrying(
            stop=stop_after_attempt(self.tries),
            wait=self.wait_retry,
            retry=retry_if_exception_type(RetryableError),
            sleep=self.pause,
            reraise=True,
        )
        try:
            return retrying(self.try_page, build_params(query, start, count), start)
        except RetryableError as exc:
            raise PaperpressError(f"arXiv API unreachable at {self.api_url} after {self.tries} tries: {exc}") from exc

    def wait_retry(self, state: RetryCallState) -> float:
        """Exponential backoff with jitter, never shorter than the server's Retry-After."""
        error = state.outcome.exception() if state.outcome else None
        return max(self.backoff(state), getattr(error, "retry_after", None) or 0.0)

    def try_page(self, params: dict[str, str], start: int) -> tuple[list[Paper], int]:
        """One request for one page; RetryableError for what another try may fix."""
        try:
            resp = self.get(self.api_url, params=params)
        except requests.Timeout as exc:
            raise RetryableError("timed out") from exc
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            raise RetryableError("connection failed") from exc
        except requests.RequestException as exc:
            raise PaperpressError(f"arXiv API URL {self.api_url!r} is not usable ({type(exc).__name__})") from exc
        if resp.status_code == 429 or resp.status_code >= 500:
            raise RetryableError(f"HTTP {resp.status_code}", parse_retry_after(resp.headers.get("Retry-After")))
        if resp.status_code != 200:
            reason = find_api_error(arxiv_feed.parse(resp.content).results) or resp.reason
            raise PaperpressError(f"arXiv API at {self.api_url} refused the query: HTTP {resp.status_code} ({reason})")
        if "xml" not in resp.headers.get("Content-Type", ""):
            # A proxy's or maintenance HTML page: not an empty day.
            raise RetryableError("not an Atom feed")
        try:
            papers, total = parse_feed(resp.content)
        except ValueError as exc:
            raise RetryableError("broken Atom feed") from exc
        if not papers and start < total:
            raise RetryableError("empty page")
        return papers, total


def read_stamp(lock_path: Path) -> float:
    """The wall time of the last request any run made (-inf when unknown)."""
    try:
        return float(lock_path.with_suffix(".time").read_text())
    except (OSError, ValueError):
        return float("-inf")


def write_stamp(lock_path: Path, when: float) -> None:
    """Record the wall time of a request for parallel runs."""
    lock_path.with_suffix(".time").write_text(repr(when))


_clients: dict[tuple[str, float, Path], ArxivClient] = {}
_clients_lock = threading.Lock()


def client_for(settings: Settings) -> ArxivClient:
    """The run's one arXiv client for these settings (shared, so the pause holds across topics and PDFs)."""
    key = (settings.arxiv_api_url, settings.arxiv_delay_seconds, Path(settings.cache_dir))
    with _clients_lock:
        if key not in _clients:
            _clients[key] = ArxivClient(key[0], key[1], shared=key[2] / "arxiv.lock")
        return _clients[key]


def keep_categories(papers: Iterable[Paper], categories: Iterable[str]) -> list[Paper]:
    """Papers with at least one of the categories (all papers when none are given)."""
    wanted = set(categories)
    return [p for p in papers if not wanted or wanted & set(p.categories)]


def fetch_arxiv(topic: Topic, window: tuple[dt.datetime, dt.datetime], settings: Settings, *,
                client: ArxivClient | None = None) -> list[Paper]:
    """Every paper of a topic first submitted in the window [start, end): all pages, filtered, newest first."""
    client = client or client_for(settings)
    query = build_query(topic, *window)
    papers: dict[str, Paper] = {}
    start, total = 0, 1
    while start < total:
        page, total = client.fetch_page(query, start, client.page_size)
        for paper in page:
            papers.setdefault(paper.arxiv_id, paper)  # pages can overlap when arXiv reindexes
        start += len(page)
        if not page:
            break
    return sort_newest(keep_categories(papers.values(), topic.categories))


def sort_newest(papers: Iterable[Paper]) -> list[Paper]:
    """Newest submission first; ties by id, so reruns list the same order."""
    return sorted(papers, key=lambda p: (p.published or "", p.arxiv_id), reverse=True)


def select_window(papers: Iterable[Paper], start: dt.datetime, end: dt.datetime) -> list[Paper]:
    """The papers a query for [start, end) finds: first submission within it, to the minute as arXiv compares."""
    low, high = minute(start), minute(end - dt.timedelta(minutes=1))
    return [p for p in papers if p.published and low <= minute(parse_time(p.published)) <= high]


def parse_time(text: str) -> dt.datetime:
    """An aware time from an ISO 8601 string such as 2024-03-25T07:52:17Z."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def save_papers(path: str | Path, papers: Iterable[Paper]) -> Path:
    """Write fetched papers as JSONL (a backfill's one query, read by each day's run), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text("".join(p.model_dump_json() + "\n" for p in papers), encoding="utf-8")
    temporary.replace(path)
    return path


def load_papers(path: str | Path) -> list[Paper]:
    """Papers saved by save_papers."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        return [Paper.model_validate_json(line) for line in lines if line.strip()]
    except (OSError, ValidationError, ValueError) as exc:
        raise PaperpressError(f"{path}: unreadable arXiv cache ({type(exc).__name__})") from exc
