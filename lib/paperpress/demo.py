"""The demo: every listed day of the embedded archive as an offline backfill, the trends page, the site; timed."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from . import site, topicpages
from .archive import list_post_dates

TOPIC = "metaverse-avatars"  # the topic of the embedded archive (sources.EMBEDDED_SAMPLE)
YEAR = ("2024-01-01", "2024-12-31")  # the archive's year; backfill skips the days it lists nothing on


def build_backfill_command(jobs: int) -> list[str]:
    """The backfill a user would type: every day of the archive, offline, rebuilt, then the trends page."""
    return [sys.executable, "-m", "paperpress.cli", "backfill", "--offline", "--topic", TOPIC,
            "--from", YEAR[0], "--to", YEAR[1], "--jobs", str(jobs), "--force"]


def build_rebuild_command() -> list[str]:
    """The rebuild a user would type: the demo's posts again from their sidecars, then the trends page."""
    return [sys.executable, "-m", "paperpress.cli", "rebuild", "--topic", TOPIC]


def run_backfill(jobs: int) -> int:
    """Run the demo's backfill as a child process (its progress and summary go to the terminal)."""
    child = subprocess.Popen(build_backfill_command(jobs))
    try:
        return child.wait()
    except KeyboardInterrupt:
        return child.wait()  # the backfill got the same Ctrl-C: it stops its days and says so


def run_demo(jobs: int, root: Path = Path("."), rebuild: bool = False) -> int:
    """Build the demo site in the project folder and say where it is, how many posts and how long it took.

    Every day is rebuilt (--force), so the 2024-04-01 post always shows the weeks before it; with rebuild,
    the posts an earlier demo published are drawn again from their sidecars instead (`paperpress rebuild`).
    """
    start = time.monotonic()
    if rebuild and not list_post_dates(root / "posts", TOPIC):
        print("paperpress: error: no demo posts to rebuild yet: run `paperpress demo` first", file=sys.stderr)
        return 2
    code = subprocess.call(build_rebuild_command()) if rebuild else run_backfill(jobs)
    if code != 0:
        what = "rebuild" if rebuild else "backfill"
        print(f"paperpress: error: the demo's {what} ended with exit code {code}; the site was not rendered",
              file=sys.stderr)
        return code
    topicpages.write_pages(root)  # the topic page (with its feed) and the today page
    index = site.render_site(root)
    posts = len(list_post_dates(root / "posts", TOPIC))
    print(f"paperpress: demo site at {index}: {posts} posts of {TOPIC} and its trends page, "
          f"built in {time.monotonic() - start:.0f} s")
    return 0
