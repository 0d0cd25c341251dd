"""The arXiv source against a loopback fake: queries, paging, the pause, retries and their limits."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from paperpress import arxiv_api, sources
from paperpress.config import PaperpressError, Settings, Topic
from paperpress.arxiv_api import ArxivClient, build_query, build_window, fetch_arxiv, parse_feed, parse_retry_after
from tests.conftest import ARXIV_XML
from tests.fakes.arxiv import FakeArxiv, unused_url

DAY = dt.date(2024, 4, 1)
UTC = dt.timezone.utc
WINDOW = (dt.datetime(2024, 4, 1, tzinfo=UTC), dt.datetime(2024, 4, 2, tzinfo=UTC))  # the GMT day of DAY


class FakeClock:
    """Virtual time: sleeping advances it at once, and every sleep is logged."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_papers(count: int, day: str = "2024-04-01", categories=("cs.CV",), prefix: str = "2404") -> list[dict]:
    """Papers submitted on `day`, one a minute from 00:00 GMT."""
    return [
        {
            "arxiv_id": f"{prefix}.{n:05d}",
            "version": "v1",
            "title": f"Talking head paper {n}\n  with a wrapped   title",
            "authors": [f"Author {n}", "Second Author"],
            "abstract": f"We study talking heads ({n}).\n  Code: https://github.com/lab/repo{n}",
            "published": f"{day}T{n // 60:02d}:{n % 60:02d}:00Z",
            "categories": list(categories),
        }
        for n in range(count)
    ]


def make_topic(**fields) -> Topic:
    """A talking-head topic with overridable fields."""
    return Topic(slug="talking-head", name="Talking Head", query='ti:"talking head" OR ti:"lip sync"', **fields)


@pytest.fixture
def fake():
    with FakeArxiv(make_papers(25)) as server:
        yield server


@pytest.fixture
def clock():
    return FakeClock()


def make_client(fake: FakeArxiv, clock: FakeClock, **options) -> ArxivClient:
    """A client on virtual time with arXiv's real 3 s pause (it costs nothing here)."""
    return ArxivClient(fake.url, options.pop("delay", 3.0), clock=clock, sleep=clock.sleep, **options)


def test_window_is_gmt_minutes_with_an_inclusive_end():
    assert build_window(*WINDOW) == "submittedDate:[202404010000 TO 202404012359]"
    et = dt.timezone(dt.timedelta(hours=-4))  # a mailing's deadlines, 14:00 EDT
    assert build_window(dt.datetime(2024, 3, 28, 14, tzinfo=et), dt.datetime(2024, 3, 29, 14, tzinfo=et)) == (
        "submittedDate:[202403281800 TO 202403291759]")


def test_select_window_keeps_what_the_query_finds():
    papers = [arxiv_api.Paper(arxiv_id=f"2404.0000{n}", title="t", authors=("a",), abstract="", published=stamp)
              for n, stamp in enumerate(["2024-03-31T23:59:59Z", "2024-04-01T00:00:00Z", "2024-04-01T23:59:30Z",
                                         "2024-04-02T00:00:00Z"])]
    assert [p.arxiv_id for p in arxiv_api.select_window(papers, *WINDOW)] == ["2404.00001", "2404.00002"]


def test_query_joins_topic_categories_and_window():
    query = build_query(make_topic(categories=("cs.CV", "cs.GR")), WINDOW[0] - dt.timedelta(days=1), WINDOW[1])
    assert query == (
        '(ti:"talking head" OR ti:"lip sync") AND (cat:cs.CV OR cat:cs.GR)'
        " AND submittedDate:[202403310000 TO 202404012359]"
    )
    assert build_query(make_topic(), *WINDOW).count(" AND ") == 1


def test_non_ascii_query_is_rejected_with_a_clear_message():
    with pytest.raises(ValidationError, match="ASCII"):
        Topic(slug="avatars", name="虚拟人", query="ti:虚拟人")


def test_parse_feed_reads_the_recorded_real_response():
    papers, total = parse_feed(ARXIV_XML.read_bytes())
    assert total == 214881 and len(papers) == 10
    first = papers[0]
    assert (first.arxiv_id, first.version) == ("2202.12139", "v1")
    assert first.title == "Testing Deep Learning Models: A First Comparative Study of Multiple Testing Techniques"
    assert first.authors == ("Mohit Kumar Ahuja", "Arnaud Gotlieb", "Helge Spieker")
    assert first.comment == "Artificial Intelligence in Software Testing 2022 workshop @ ICST 2022"
    assert first.categories == ("cs.SE", "cs.LG")
    assert first.published == "2022-02-24T15:05:19Z"
    assert (first.abs_url, first.pdf_url) == ("https://arxiv.org/abs/2202.12139v1", "https://arxiv.org/pdf/2202.12139v1")
    assert all("  " not in p.abstract and "\n" not in p.abstract for p in papers)


def test_parse_feed_rejects_what_is_not_a_feed_and_reports_api_errors():
    with pytest.raises(ValueError):
        parse_feed(b"")
    error_feed = ARXIV_XML.read_bytes().replace(b"http://arxiv.org/abs/2202.12139v1", b"http://arxiv.org/api/errors#bad")
    with pytest.raises(PaperpressError, match="arXiv API rejected the query"):
        parse_feed(error_feed)


def test_fetch_pages_to_the_end_newest_first_with_arxiv_parameters(fake, clock):
    fake.set_papers(make_papers(25) + make_papers(3, day="2024-03-31", prefix="2403"))
    client = make_client(fake, clock, page_size=10)
    papers = fetch_arxiv(make_topic(max_papers=12), WINDOW, Settings(), client=client)  # max_papers: no cap here
    assert [p.arxiv_id for p in papers] == [f"2404.{n:05d}" for n in range(24, -1, -1)]
    assert papers[0].title == "Talking head paper 24 with a wrapped title"
    assert papers[0].pdf_url == f"{fake.base}/pdf/2404.00024v1"
    sent = fake.api_requests
    assert [(r.params["start"], r.params["max_results"]) for r in sent] == [("0", "10"), ("10", "10"), ("20", "10")]
    assert {r.params["sortBy"] for r in sent} == {"submittedDate"}
    assert {r.params["sortOrder"] for r in sent} == {"descending"}
    assert {r.params["search_query"] for r in sent} == {build_query(make_topic(), *WINDOW)}
    assert all(r.headers["User-Agent"].startswith("paperpress/") for r in sent)


def test_one_request_per_page_and_the_pause_only_between_requests(fake, clock):
    client = make_client(fake, clock, page_size=10)
    papers = fetch_arxiv(make_topic(), WINDOW, Settings(), client=client)
    assert len(papers) == 25 and len(fake.api_requests) == 3  # 10 + 10 + 5, stops at the total
    assert clock.sleeps == [3.0, 3.0] and client.waited == 6.0


def test_window_and_categories(fake, clock):
    papers = make_papers(3) + make_papers(2, day="2024-03-30", prefix="2403") + make_papers(2, categories=["cs.AI"], prefix="2405")
    unrelated = make_papers(1, prefix="2406")[0] | {"title": "Protein folding", "abstract": "Proteins."}
    fake.set_papers(papers + [unrelated])
    topic = make_topic(categories=("cs.CV", "cs.GR"))
    found = fetch_arxiv(topic, (WINDOW[0] - dt.timedelta(days=2), WINDOW[1]), Settings(), client=make_client(fake, clock))
    assert {p.arxiv_id for p in found} == {"2404.00000", "2404.00001", "2404.00002", "2403.00000", "2403.00001"}
    assert "(cat:cs.CV OR cat:cs.GR)" in fake.api_requests[0].params["search_query"]


def test_keep_categories_filters_client_side_too():
    papers, _ = parse_feed(ARXIV_XML.read_bytes())
    kept = arxiv_api.keep_categories(papers, ["cs.CR", "cs.AI"])
    assert [p.arxiv_id for p in kept] == [p.arxiv_id for p in papers if {"cs.CR", "cs.AI"} & set(p.categories)]
    assert 0 < len(kept) < len(papers) and arxiv_api.keep_categories(papers, []) == papers


def test_empty_day_is_an_empty_list_after_one_request(fake, clock):
    may = tuple(t + dt.timedelta(days=30) for t in WINDOW)
    assert fetch_arxiv(make_topic(), may, Settings(), client=make_client(fake, clock)) == []
    assert len(fake.api_requests) == 1 and clock.sleeps == []


def test_survives_a_503_with_backoff(fake, clock):
    fake.fail(503)
    papers = fetch_arxiv(make_topic(), WINDOW, Settings(), client=make_client(fake, clock))
    assert len(papers) == 25 and len(fake.api_requests) == 2
    assert len(clock.sleeps) == 1 and 3.0 <= clock.sleeps[0] <= 6.0  # one pause plus jitter


def test_honours_retry_after_on_429(fake, clock):
    fake.fail(429, retry_after=7)
    papers = fetch_arxiv(make_topic(), WINDOW, Settings(), client=make_client(fake, clock))
    assert len(papers) == 25 and len(fake.api_requests) == 2
    assert clock.sleeps == [7.0]


def test_retries_an_empty_page_and_an_html_page(fake, clock):
    fake.fail_empty()
    fake.fail_html()
    papers = fetch_arxiv(make_topic(), WINDOW, Settings(), client=make_client(fake, clock))
    assert len(papers) == 25 and len(fake.api_requests) == 3


def test_retries_a_timeout(fake):
    fake.fail_timeout(1.0)
    client = ArxivClient(fake.url, 0.01, timeout=0.2)
    assert len(fetch_arxiv(make_topic(), WINDOW, Settings(), client=client)) == 25
    assert len(fake.api_requests) == 2


def test_clear_error_after_the_last_try(fake, clock):
    fake.fail(503, times=4)
    with pytest.raises(PaperpressError) as caught:
        fetch_arxiv(make_topic(), WINDOW, Settings(), client=make_client(fake, clock))
    assert str(caught.value) == f"arXiv API unreachable at {fake.url} after 4 tries: HTTP 503"
    assert len(fake.api_requests) == 4
    low = [3.0, 6.0, 12.0]  # exponential: one pause, doubled each time, plus up to one pause of jitter
    assert all(lo <= s <= lo + 3.0 for lo, s in zip(low, clock.sleeps, strict=True))


def test_unreachable_endpoint_is_a_clear_error(clock):
    client = ArxivClient(unused_url("/api/query"), 0.0, clock=clock, sleep=clock.sleep, backoff=0.0)
    with pytest.raises(PaperpressError, match=r"unreachable at .* after 4 tries: connection failed"):
        fetch_arxiv(make_topic(), WINDOW, Settings(), client=client)


def test_a_rejected_query_is_not_retried(fake, clock):
    fake.fail(400)
    with pytest.raises(PaperpressError, match="refused the query: HTTP 400"):
        fetch_arxiv(make_topic(), WINDOW, Settings(), client=make_client(fake, clock))
    assert len(fake.api_requests) == 1


def test_fetch_reads_the_endpoint_and_pause_from_settings(fake, tmp_path):
    settings = Settings(arxiv_api_url=fake.url, arxiv_delay_seconds=0.01, cache_dir=tmp_path)
    papers = sources.fetch_papers("arxiv", make_topic(max_papers=4), DAY, settings, window=WINDOW)
    assert [p.arxiv_id for p in papers] == [f"2404.{n:05d}" for n in range(24, -1, -1)]  # all: max_papers caps summaries
    same = Settings(arxiv_api_url=fake.url, arxiv_delay_seconds=0.01, cache_dir=tmp_path, gemini_model="other")
    assert arxiv_api.client_for(settings) is arxiv_api.client_for(same)  # one client per run


def test_parallel_runs_share_the_pause_through_the_cache_folder(fake, tmp_path):
    first, second = (ArxivClient(fake.url, 0.2, shared=tmp_path / "arxiv.lock") for _ in range(2))
    first.get(fake.url)
    second.get(fake.url)  # another process's client, as in a backfill
    assert 0.1 < second.waited <= 0.2


def test_parse_retry_after():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("999999") == arxiv_api.MAX_RETRY_AFTER
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=30)
    assert 25 <= parse_retry_after(later.strftime("%a, %d %b %Y %H:%M:%S GMT")) <= 30


def test_a_cached_span_gives_each_window_what_its_query_gives(fake, tmp_path):
    fake.set_papers(make_papers(25) + make_papers(4, day="2024-03-31", prefix="2403"))
    settings = Settings(arxiv_api_url=fake.url, arxiv_delay_seconds=0.0, cache_dir=tmp_path)
    span = fetch_arxiv(make_topic(), (WINDOW[0] - dt.timedelta(days=1), WINDOW[1]), settings)
    cached = Settings(arxiv_cache=str(arxiv_api.save_papers(tmp_path / "span.jsonl", span)))
    asked = len(fake.api_requests)
    for window in (WINDOW, (WINDOW[0] - dt.timedelta(days=1), WINDOW[0]), (WINDOW[0], WINDOW[0] + dt.timedelta(minutes=3))):
        assert sources.fetch_papers("arxiv", make_topic(), DAY, cached, window=window) == fetch_arxiv(
            make_topic(), window, settings)
    assert len(fake.api_requests) == asked + 3  # the cached runs asked arXiv nothing
