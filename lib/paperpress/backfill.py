"""Backfill: the mailings of a range fetched with one arXiv query, then one `paperpress run` per mailing, N at a time."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from . import catchup
from .config import PaperpressError, check_overrides, find_topic, load_settings, load_topics, parse_date, read_now
from .config import OPENALEX_WARNED, warn_openalex_key
from .summarise import check_summariser

PENDING = Path(".paperpress/pending")
PASSED_ON = ("sample", "topics_file", "posts_dir", "template", "model", "max_papers", "lookback_days")
FLAGS = ("offline", "allow_empty")


@dataclass(frozen=True)
class DayResult:
    """How one day of a backfill ended."""

    date: str
    status: str  # posted, partial, empty, no mailing, skipped, failed, interrupted
    detail: str = ""


def parse_range(start: str, end: str) -> tuple[dt.date, dt.date]:
    """The first and last day of the range, in order."""
    first, last = parse_date(start), parse_date(end)
    if last < first:
        raise PaperpressError(f"--to {end} is before --from {start}")
    return first, last


def clear_pending(slug: str) -> None:
    """Remove this topic's day markers and claims (stale ones from a killed backfill included)."""
    for pattern in ("", ".claim.json", ".claim.tmp"):
        for path in PENDING.glob(f"????-??-??-{slug}{pattern}"):
            path.unlink(missing_ok=True)


def build_run_command(args: argparse.Namespace, date: str) -> list[str]:
    """The `paperpress run` command line of one day, with the backfill's options passed on."""
    cmd = [sys.executable, "-m", "paperpress.cli", "run", "--topic", args.topic, "--date", date]
    for name in PASSED_ON:
        value = getattr(args, name)
        if value or (name == "lookback_days" and value == 0):  # 0 days is a setting, not "the topic's"
            cmd += [f"--{name.replace('_', '-')}", str(value)]
    cmd += [f"--{name.replace('_', '-')}" for name in FLAGS if getattr(args, name)]
    return cmd + ["--no-trends"]  # the trends page is built once, after the last day


def classify(date: str, code: int, stdout: str, stderr: str) -> DayResult:
    """A day's result from its run's exit code and last lines."""
    last_error = (stderr.strip().splitlines() or [""])[-1].removeprefix("paperpress: error: ")
    if code == 0 and "no arXiv mailing" in stdout:
        return DayResult(date, "no mailing")
    if code == 0:
        return DayResult(date, "empty" if "no new papers" in stdout else "posted")
    if code == 3:
        return DayResult(date, "partial", "some summaries unavailable")
    if code in (130, -signal.SIGINT):
        return DayResult(date, "interrupted")
    return DayResult(date, "failed", last_error or f"exit code {code}")


class Runner:
    """Runs days as child processes and can interrupt those still running."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.children: set[subprocess.Popen] = set()
        self.lock = threading.Lock()
        self.stopping = False

    def run_day(self, args: argparse.Namespace, date: str, marker: Path) -> DayResult:
        """Run one day; its marker goes when the run ends, so later days never wait on a run that died.

        A day that claimed its papers and then failed keeps them from later days, as if posted: rerunning
        the backfill (which retries failed days) posts them on their own day.
        """
        try:
            with self.lock:
                if self.stopping:
                    return DayResult(date, "interrupted")
                child = subprocess.Popen(build_run_command(args, date), env=self.env, text=True,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                self.children.add(child)
            stdout, stderr = child.communicate()
            with self.lock:
                self.children.discard(child)
            return classify(date, child.returncode, stdout, stderr)
        finally:
            marker.unlink(missing_ok=True)

    def interrupt(self) -> None:
        """Stop starting days and ask running ones to stop (each cleans its staging folder)."""
        with self.lock:
            self.stopping = True
            for child in self.children:
                child.send_signal(signal.SIGINT)


def print_summary(results: list[DayResult]) -> None:
    """A table of counts per status and one row per day that did not go through."""
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=False)
    counts = Table(title="backfill")
    counts.add_column("status")
    counts.add_column("days", justify="right")
    for status in ("posted", "partial", "empty", "no mailing", "skipped", "failed", "interrupted"):
        n = sum(r.status == status for r in results)
        if n:
            counts.add_row(status, str(n))
    console.print(counts)
    trouble = [r for r in results if r.status in ("failed", "partial")]
    if trouble:
        table = Table(title="days to look at")
        for column in ("date", "status", "reason"):
            table.add_column(column)
        for r in trouble:
            table.add_row(r.date, r.status, r.detail)
        console.print(table)


def run_backfill(args: argparse.Namespace) -> int:
    """Run every mailing of the range not yet posted, `--jobs` at a time, in date order, from one arXiv query."""
    topic = find_topic(load_topics(args.topics_file), args.topic, args.topics_file)
    check_overrides(args.max_papers, args.lookback_days)
    if args.lookback_days is not None:
        topic = topic.model_copy(update={"lookback_days": args.lookback_days})
    first, last = parse_range(args.start, args.end)
    if args.jobs < 1:
        raise PaperpressError("--jobs must be at least 1")
    dates, without = catchup.plan_range(first, last, read_now(), args.sample if args.offline else None)
    results = [DayResult(d, "no mailing" if not args.offline else "empty", why) for d, why in without.items()]
    posts = Path(args.posts_dir)
    todo = [d for d in dates if args.force or not (posts / f"{d}-{topic.slug}" / "index.ipynb").is_file()]
    results += [DayResult(d, "skipped", "already posted") for d in dates if d not in todo]
    env = {**os.environ, "PAPERPRESS_PENDING_DIR": str(PENDING)}
    with backfill_lock(topic.slug), contextlib.ExitStack() as stack:
        if todo and not args.offline:
            # One paged query for every mailing of the range; each run reads its window from it.
            settings = load_settings()
            check_summariser("model", settings, topic, getattr(args, "model", None))  # no key: say so before asking arXiv anything
            warn_openalex_key(settings)  # once, before the runs (which inherit that it was said)
            env[OPENALEX_WARNED] = "1"
            papers = stack.enter_context(catchup.fetched_once(topic, todo, settings, Path(".paperpress")))
            env[catchup.CACHE_VARIABLE] = os.environ[catchup.CACHE_VARIABLE]
            if not args.allow_empty:  # a mailing whose window holds nothing would only start a kernel to say so
                windows = catchup.find_windows(topic, todo)
                quiet = [d for d in todo if not catchup.count_in_window(papers, windows[d])]
                results += [DayResult(d, "empty", "nothing submitted in its window") for d in quiet]
                todo = [d for d in todo if d not in quiet]
        results += run_days(args, topic.slug, todo, env)
    results.sort(key=lambda r: r.date)
    print_summary(results)
    if not args.no_trends and any(r.status in ("posted", "partial") for r in results):
        from .publish import rebuild_trends

        if rebuild_trends(topic.slug, args.topics_file, args.posts_dir, args.trends_dir):
            return 1
    if any(r.status in ("failed", "interrupted") for r in results):
        return 130 if any(r.status == "interrupted" for r in results) else 1
    return 3 if any(r.status == "partial" for r in results) else 0


@contextlib.contextmanager
def backfill_lock(slug: str):
    """One backfill of a topic at a time (a second one is a clear error, not a race)."""
    from filelock import FileLock, Timeout

    Path(".paperpress/locks").mkdir(parents=True, exist_ok=True)
    try:
        lock = FileLock(f".paperpress/locks/backfill-{slug}.lock").acquire(timeout=0)
    except Timeout:
        raise PaperpressError(f"another backfill of {slug} is running") from None
    with lock:
        yield


def run_days(args: argparse.Namespace, slug: str, todo: list[str], env: dict[str, str]) -> list[DayResult]:
    """One `paperpress run` per mailing, `--jobs` at a time, in date order."""
    from rich.progress import Progress

    results: list[DayResult] = []
    if todo:
        PENDING.mkdir(parents=True, exist_ok=True)
        clear_pending(slug)
        markers = {d: PENDING / f"{d}-{slug}" for d in todo}
        for marker in markers.values():
            marker.touch()
        runner = Runner(env)
        try:
            with Progress(transient=False) as progress, ThreadPoolExecutor(max_workers=args.jobs) as pool:
                bar = progress.add_task(f"{slug}", total=len(todo))
                # Submitted in date order: a day only ever waits for earlier days, which are already running.
                futures = [pool.submit(runner.run_day, args, d, markers[d]) for d in todo]
                for future in futures:
                    try:
                        results.append(future.result())
                    except KeyboardInterrupt:
                        runner.interrupt()
                        raise
                    progress.advance(bar)
        except KeyboardInterrupt:
            runner.interrupt()
            results += [DayResult(d, "interrupted") for d in todo if d not in {r.date for r in results}]
            print("paperpress: backfill interrupted; finished days are posted, no partial post is left",
                  file=sys.stderr)
        finally:
            clear_pending(slug)
    return results
