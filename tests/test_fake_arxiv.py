"""The fake arXiv behaves as the API manual and the announcement schedule say (checked through our parser)."""

from __future__ import annotations

import requests

from paperpress.arxiv_api import ArxivClient, parse_feed
from tests.fakes.arxiv import FakeArxiv

QUERY = "ti:head AND submittedDate:[202603020000 TO 202603132359]"


def paper(arxiv_id: str, submitted: str, version: str = "v1", **extra) -> dict:
    """One version of a paper about heads, submitted at `submitted` (GMT)."""
    field = "published" if version == "v1" else "updated"
    return {"arxiv_id": arxiv_id, "version": version, "title": f"Head {arxiv_id}", field: submitted,
            "categories": ["cs.CV"], **extra}


def ask(fake: FakeArxiv, query: str = QUERY, **params) -> tuple[list, int]:
    """Papers and total of one page, through paperpress's Atom parser."""
    args = {"search_query": query, "start": "0", "max_results": "50", "sortBy": "submittedDate",
            "sortOrder": "descending", **params}
    resp = requests.get(fake.url, params=args, timeout=10)
    assert resp.status_code == 200, resp.text
    return parse_feed(resp.content)


def test_papers_appear_at_their_announcement_held_ones_later_and_after_the_lag():
    papers = [
        paper("2603.00001", "2026-03-04T18:00:00Z"),  # Wed 13:00 EST: announced Wed 20:00 EST = Thu 01:00 GMT
        paper("2603.00002", "2026-03-04T19:30:00Z"),  # after the deadline: Thursday's mailing
        paper("2603.00003", "2026-03-04T18:00:00Z", hold=2),  # held two mailings: Thu, then Sunday's
        paper("2603.00004", "2026-03-06T20:00:00Z", lag_hours=3),  # Fri after the deadline: Monday 20:00 EDT + 3 h
    ]
    with FakeArxiv(papers, calendar=True) as fake:
        seen = {}
        for now in ("2026-03-05T00:59:00Z", "2026-03-05T01:00:00Z", "2026-03-06T01:00:00Z", "2026-03-09T00:00:00Z",
                    "2026-03-10T02:59:00Z", "2026-03-10T03:00:00Z"):
            fake.set_now(now)
            seen[now] = sorted(p.arxiv_id for p in ask(fake)[0])
    assert seen == {
        "2026-03-05T00:59:00Z": [],
        "2026-03-05T01:00:00Z": ["2603.00001"],
        "2026-03-06T01:00:00Z": ["2603.00001", "2603.00002"],
        "2026-03-09T00:00:00Z": ["2603.00001", "2603.00002", "2603.00003"],  # Sunday 20:00 EDT
        "2026-03-10T02:59:00Z": ["2603.00001", "2603.00002", "2603.00003"],
        "2026-03-10T03:00:00Z": ["2603.00001", "2603.00002", "2603.00003", "2603.00004"],
    }


def test_a_holiday_moves_the_announcement():
    # Thanksgiving 2026 (Thu 26 Nov): Wednesday-after-deadline papers go out on Sunday 29 Nov, 20:00 EST.
    with FakeArxiv([paper("2611.00001", "2026-11-25T20:00:00Z")], calendar=True) as fake:
        fake.set_now("2026-11-30T00:59:00Z")
        assert ask(fake, "ti:head")[0] == []
        fake.set_now("2026-11-30T01:00:00Z")
        assert [p.arxiv_id for p in ask(fake, "ti:head")[0]] == ["2611.00001"]
    # arXiv listed "Sunday 6 July" 2025: no Friday deadline, Thursday-after-deadline papers go out Monday.
    with FakeArxiv([paper("2507.00001", "2025-07-03T19:00:00Z")], calendar=True) as fake:
        fake.set_now("2025-07-07T23:59:00Z")
        assert ask(fake, "ti:head")[0] == []
        fake.set_now("2025-07-08T00:00:00Z")
        assert [p.arxiv_id for p in ask(fake, "ti:head")[0]] == ["2507.00001"]


def test_one_entry_per_article_its_newest_visible_version_dated_by_version_one():
    versions = [paper("2603.00001", "2026-03-03T10:00:00Z"),
                paper("2603.00001", "2026-03-05T10:00:00Z", version="v2", published="2026-03-05T10:00:00Z")]
    with FakeArxiv(versions, calendar=True) as fake:
        fake.set_now("2026-03-05T03:00:00Z")  # v1 announced, v2 not yet submitted
        (only,), total = ask(fake)
        assert (only.version, total) == ("v1", 1)
        fake.set_now("2026-03-06T03:00:00Z")
        (only,), total = ask(fake)
        assert (only.version, only.published, only.updated, total) == (
            "v2", "2026-03-03T10:00:00Z", "2026-03-05T10:00:00Z", 1)
        # submittedDate is the first version's time: a window around v2's submission misses the article.
        assert ask(fake, "ti:head AND submittedDate:[202603050000 TO 202603052359]")[0] == []


def test_paging_total_and_sort_order():
    papers = [paper(f"2603.{n:05d}", f"2026-03-0{2 + n % 5}T{n:02d}:00:00Z") for n in range(23)]
    with FakeArxiv(papers) as fake:
        first, total = ask(fake, max_results="10")
        rest, _ = ask(fake, start="10", max_results="10")
        last, _ = ask(fake, start="20", max_results="10")
        assert total == 23 and [len(first), len(rest), len(last)] == [10, 10, 3]
        stamps = [p.published for p in first + rest + last]
        assert stamps == sorted(stamps, reverse=True)
        ascending, _ = ask(fake, sortOrder="ascending", max_results="30")
        assert [p.published for p in ascending] == sorted(stamps)
        assert requests.get(fake.url, params={"search_query": "ti:head", "max_results": "30001"}, timeout=10).status_code == 400


def test_the_client_pages_a_calendar_fake_to_the_end():
    papers = [paper(f"2603.{n:05d}", "2026-03-03T12:00:00Z") for n in range(250)]
    with FakeArxiv(papers, calendar=True) as fake:
        fake.set_now("2026-03-04T03:00:00Z")
        client = ArxivClient(fake.url, 0.0)
        seen, start, total = [], 0, 1
        while start < total:
            page, total = client.fetch_page(QUERY, start, 100)
            seen += page
            start += len(page)
        assert len({p.arxiv_id for p in seen}) == 250 and client.requests == 3
