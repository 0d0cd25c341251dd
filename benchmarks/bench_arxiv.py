"""Requests and time spent waiting on arXiv for one topic-day: paperpress against the blog we model.

    .venv/bin/python benchmarks/bench_arxiv.py [--scale 0.1]

Both run against the loopback fake arXiv (started here) on the same day of 120 NeRF papers, with
arXiv's pauses scaled by --scale so that the run takes seconds: paperpress sends one query, one
request per page, and pauses arXiv's 3 s between requests (0.3 s at 0.1); the baseline, like the
blog we model, runs one query per term of the topic and sleeps 16 s (1.6 s) before every request.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "lib")]
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

import requests  # noqa: E402

from paperpress.config import Settings, Topic  # noqa: E402
from paperpress.arxiv_api import PAGE_SIZE, ArxivClient, build_params, build_query, fetch_arxiv, parse_feed  # noqa: E402
from tests.fakes.arxiv import FakeArxiv  # noqa: E402

DAY = dt.date(2024, 4, 1)
WINDOW = (dt.datetime(2024, 4, 1, tzinfo=dt.timezone.utc), dt.datetime(2024, 4, 2, tzinfo=dt.timezone.utc))
TOPIC = Topic(
    slug="nerf", name="NeRF", query='ti:NeRF OR ti:"neural radiance field" OR ti:"neural radiance fields"',
    categories=("cs.CV", "cs.GR"), max_papers=150,
)
RULE_S, BLOG_SLEEP_S = 3.0, 16.0  # arXiv's rule; what the modelled blog slept before each request


@dataclass
class Row:
    """One approach's numbers."""

    name: str
    queries: int
    requests: int
    waited: float
    wall: float
    papers: int


def make_day(count: int = 120) -> list[dict]:
    """A busy NeRF day: the terms overlap ("field" is inside "fields"), as real titles do."""
    names = ["NeRF", "Neural Radiance Field", "Neural Radiance Fields"]
    return [
        {
            "arxiv_id": f"2404.{n:05d}",
            "title": f"{names[n % 3]} for scene {n}",
            "authors": ["A. Author"],
            "abstract": "We study radiance fields.",
            "categories": ["cs.CV"],
            "published": f"2024-04-01T{n // 60:02d}:{n % 60:02d}:00Z",
        }
        for n in range(count)
    ]


def run_ours(fake: FakeArxiv, delay: float) -> Row:
    """paperpress: the topic's one query, a page per request, the rule's pause between requests."""
    before = len(fake.api_requests)
    client = ArxivClient(fake.url, delay)
    started = time.perf_counter()
    papers = fetch_arxiv(TOPIC, WINDOW, Settings(), client=client)
    wall = time.perf_counter() - started
    return Row(f"paperpress: 1 query, {delay:g} s between requests", 1, len(fake.api_requests) - before, client.waited, wall, len(papers))


def run_baseline(fake: FakeArxiv, sleep_s: float) -> Row:
    """The modelled blog: one query per OR-ed term, a fixed sleep before every request, merged after."""
    terms = [t.strip() for t in re.split(r"\bOR\b", TOPIC.query)]
    before, waited, found = len(fake.api_requests), 0.0, {}
    started = time.perf_counter()
    with requests.Session() as session:
        for term in terms:
            query, start = build_query(TOPIC.model_copy(update={"query": term}), *WINDOW), 0
            while start < TOPIC.max_papers:
                time.sleep(sleep_s)
                waited += sleep_s
                page, total = parse_feed(session.get(fake.url, params=build_params(query, start, PAGE_SIZE)).content)
                found.update((p.arxiv_id, p) for p in page)
                start += len(page)
                if not page or start >= total:
                    break
    wall = time.perf_counter() - started
    name = f"baseline: 1 query per term, {sleep_s:g} s before each"
    return Row(name, len(terms), len(fake.api_requests) - before, waited, wall, len(found))


def print_table(ours: Row, base: Row, scale: float) -> None:
    """The comparison table, the ratios and the target checks."""
    print(f"One topic-day ({TOPIC.slug}, {DAY}, loopback fake arXiv), pauses scaled x{scale:g}\n")
    head = f"{'approach':<48} {'queries':>7} {'requests':>8} {'waiting s':>9} {'wall s':>7} {'papers':>6}"
    print(head)
    print("-" * len(head))
    for row in (ours, base):
        print(f"{row.name:<48} {row.queries:>7} {row.requests:>8} {row.waited:>9.2f} {row.wall:>7.2f} {row.papers:>6}")
    ratio = lambda a, b: f"{a / b:.1f}x" if b else "n/a"  # noqa: E731
    print(f"{'baseline / paperpress':<48} {'':>7} {ratio(base.requests, ours.requests):>8} "
          f"{ratio(base.waited, ours.waited):>9} {ratio(base.wall, ours.wall):>7}")
    print(f"\nAt arXiv's real pauses: paperpress waits {ours.waited / scale:.0f} s, the baseline {base.waited / scale:.0f} s.")
    pages = -(-ours.papers // PAGE_SIZE)
    rule = RULE_S * scale * (ours.requests - 1)
    print(f"Target: one request per page: {ours.requests} requests for {pages} pages -> {'met' if ours.requests == pages else 'MISSED'}")
    print(f"Target: no sleeping beyond the rule: waited {ours.waited:.2f} s, rule allows {rule:.2f} s -> "
          f"{'met' if ours.waited <= rule + 1e-6 else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1, help="multiplies arXiv's 3 s and the blog's 16 s (default 0.1)")
    args = parser.parse_args()
    with FakeArxiv(make_day()) as fake:
        ours = run_ours(fake, RULE_S * args.scale)
        base = run_baseline(fake, BLOG_SLEEP_S * args.scale)
    print_table(ours, base, args.scale)


if __name__ == "__main__":
    main()
