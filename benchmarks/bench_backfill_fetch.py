"""Requests and time a 90-day backfill spends on arXiv: one paged query over the span against one query per mailing.

    .venv/bin/python benchmarks/bench_backfill_fetch.py [--days 90] [--per-mailing 15] [--scale 0.05]

Both run in this process against the loopback fake arXiv in calendar mode (its clock after the range, so
every paper is announced), on a busy topic with about --per-mailing papers in every mailing's window.
paperpress's backfill asks for the whole span once (the first mailing's look-back included) and pages
through it; the baseline asks once per mailing, each with its own 7-day look-back, as day-by-day
`paperpress run --date` calls do. arXiv's 3 s pause is scaled by --scale so the run takes seconds; the
table also gives the time at the real pause. Both must find the same papers for every mailing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "lib")]
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

from paperpress import mailings  # noqa: E402
from paperpress.arxiv_api import PAGE_SIZE, ArxivClient, fetch_arxiv, select_window  # noqa: E402
from paperpress.config import Settings, Topic  # noqa: E402
from benchmarks.bench_arxiv import Row  # noqa: E402  (one table row, as bench_arxiv prints it)
from tests.fakes.arxiv import FakeArxiv  # noqa: E402

RULE_S = 3.0  # arXiv's pause between requests
LOOKBACK_DAYS = 7
LAST = dt.date(2026, 4, 3)
TOPIC = Topic(slug="diffusion-models", name="Diffusion Models", query="ti:diffusion", categories=("cs.CV", "cs.LG"))


def make_papers(first: dt.date, per_mailing: int) -> list[dict]:
    """About `per_mailing` diffusion papers submitted in each mailing's window from the look-back before `first` on."""
    rng = random.Random(7)
    papers, n = [], 0
    day = first - dt.timedelta(days=LOOKBACK_DAYS + 3)
    for mailing in mailings.mailings_listed(day, LAST):
        seconds = int((mailing.end - mailing.start).total_seconds())
        for _ in range(rng.randint(per_mailing - 3, per_mailing + 3)):
            n += 1
            submitted = mailing.start + dt.timedelta(seconds=rng.randrange(seconds))
            papers.append({"arxiv_id": f"2603.{n:05d}", "title": f"Diffusion model {n}", "authors": ["A. Author"],
                           "abstract": "We denoise.", "categories": [rng.choice(["cs.CV", "cs.LG"])],
                           "published": submitted.strftime("%Y-%m-%dT%H:%M:%SZ")})
    return papers


def run(fake: FakeArxiv, name: str, windows: list[tuple[dt.datetime, dt.datetime]], delay: float) -> tuple[Row, list]:
    """Fetch each window with one paced client; the papers of each."""
    before = len(fake.api_requests)
    client = ArxivClient(fake.url, delay)
    started = time.perf_counter()
    found = [fetch_arxiv(TOPIC, window, Settings(), client=client) for window in windows]
    wall = time.perf_counter() - started
    distinct = len({p.arxiv_id for papers in found for p in papers})
    return Row(name, len(windows), len(fake.api_requests) - before, client.waited, wall, distinct), found


def print_table(span: Row, daily: Row, scale: float, mailings_count: int, days: int) -> bool:
    """The table, the ratios, the target; True when the target is met."""
    print(f"Backfill of {days} days ({mailings_count} mailings, {span.papers} papers, look-back {LOOKBACK_DAYS} days), "
          f"loopback fake arXiv in calendar mode, pauses scaled x{scale:g}\n")
    head = f"{'approach':<44} {'queries':>7} {'requests':>8} {'waiting s':>9} {'wall s':>7} {'at 3 s':>8} {'papers':>6}"
    print(head)
    print("-" * len(head))
    for row in (span, daily):
        real = row.wall - row.waited + row.waited / scale
        print(f"{row.name:<44} {row.queries:>7} {row.requests:>8} {row.waited:>9.2f} {row.wall:>7.2f} {real:>8.0f} {row.papers:>6}")
    ratio = lambda a, b: f"{a / b:.1f}x" if b else "n/a"  # noqa: E731
    print(f"{'per mailing / span':<44} {ratio(daily.queries, span.queries):>7} {ratio(daily.requests, span.requests):>8} "
          f"{ratio(daily.waited, span.waited):>9} {ratio(daily.wall, span.wall):>7}")
    allowed = math.ceil(span.papers / PAGE_SIZE) + 2
    met = span.requests <= allowed
    print(f"\nTarget: requests <= ceil(papers / page size) + 2 = ceil({span.papers} / {PAGE_SIZE}) + 2 = {allowed}: "
          f"{span.requests} -> {'met' if met else 'MISSED'}")
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=90, help="length of the backfill (default 90)")
    parser.add_argument("--per-mailing", type=int, default=15, help="papers per mailing, about (default 15)")
    parser.add_argument("--scale", type=float, default=0.05, help="multiplies arXiv's 3 s pause (default 0.05)")
    args = parser.parse_args()
    first = LAST - dt.timedelta(days=args.days - 1)
    months = mailings.mailings_listed(first, LAST)
    windows = [mailings.query_window(m, LOOKBACK_DAYS) for m in months]
    with FakeArxiv(make_papers(first, args.per_mailing), calendar=True) as fake:
        fake.set_now(LAST.isoformat() + "T12:00:00Z")
        span, (everything,) = run(fake, "paperpress backfill: 1 query over the span", [(windows[0][0], windows[-1][1])],
                                  RULE_S * args.scale)
        daily, per_mailing = run(fake, "baseline: 1 query per mailing (day by day)", windows, RULE_S * args.scale)
    # The span, split locally, gives each mailing what its own query gives.
    same = all({p.arxiv_id for p in select_window(everything, *w)} == {p.arxiv_id for p in found}
               for w, found in zip(windows, per_mailing))
    met = print_table(span, daily, args.scale, len(months), args.days)
    print(f"Same papers per mailing, split locally vs queried one by one: {'yes' if same else 'NO'}")
    return 0 if met and same else 1


if __name__ == "__main__":
    sys.exit(main())
