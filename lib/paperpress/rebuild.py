"""Published posts rebuilt in the current layout from their sidecars: no arXiv, PDF or model call."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from . import publish
from .archive import SIDECAR, list_post_dates
from .config import PaperpressError, find_topic, load_topics
from .publish import EXIT_OK, SEVERITY, RunFailed, rebuild_trends, report_failure

# What a post keeps from its last build: the figures read from its PDFs (a rebuild reads no PDF). Everything
# else (the page, its charts, the front matter) is drawn again from the sidecar by the current template.
KEPT = ("figures",)


def rebuild_parameters(date: str, slug: str, topics_file: str, posts_dir: str, staging: Path) -> dict:
    """The post template's parameters for a rebuild: the sidecar is the source, nothing is summarised."""
    return {"date": date, "topic": slug, "source": "sidecar", "summariser": "offline", "sample_path": "",
            "topics_file": topics_file, "posts_dir": posts_dir, "output_dir": staging.as_posix(),
            "max_papers": 0, "lookback_days": -1, "model": ""}


def rebuild_post(date: str, slug: str, topics_file: str, posts_dir: str, template: str, km) -> Path:
    """One post rebuilt from its sidecar in the kernel km, swapped in only when the whole notebook succeeded."""
    name = f"{date}-{slug}"
    final = Path(posts_dir) / name
    work = Path(posts_dir).parent / ".paperpress"  # beside posts/, so the final rename stays on one disk
    with publish.staging_folder(work, name) as staging:
        for kept in KEPT:
            if (final / kept).is_dir():
                shutil.copytree(final / kept, staging / kept)
        publish.execute_template(template, staging, rebuild_parameters(date, slug, topics_file, posts_dir, staging), km)
        publish.finish_post(staging, final)
    return final / "index.ipynb"


def pick_topics(topics_file: str, posts_dir: str, slug: str | None) -> list[str]:
    """The topic asked for, or every topic of the topics file that has posts."""
    topics = load_topics(topics_file)
    if slug:
        return [find_topic(topics, slug, topics_file).slug]
    return [s for s in topics if list_post_dates(posts_dir, s)]


def rebuild_posts(slug: str | None, topics_file: str = "topics.yml", posts_dir: str = "posts",
                  template: str = "notebooks/digest.ipynb", trends_dir: str = "trends", date: str = "",
                  no_trends: bool = False) -> int:
    """Rebuild a topic's posts (or every topic's, or one date's) and then its trends page; the worst exit code."""
    if not Path(template).is_file():
        raise PaperpressError(f"{template}: post template not found (run from the project folder)")
    plan = {s: [d for d in list_post_dates(posts_dir, s) if not date or d == date]
            for s in pick_topics(topics_file, posts_dir, slug)}
    if not any(plan.values()):
        where = f"{posts_dir}/{date or '<date>'}-{slug or '<topic>'}/{SIDECAR}"
        raise PaperpressError(f"no published post to rebuild (looked for {where})")
    worst = EXIT_OK
    with publish.open_kernel() as km:  # one kernel for every page: no kernel start and no imports per post
        for topic, dates in plan.items():
            done = 0
            for day in dates:
                try:
                    rebuild_post(day, topic, topics_file, posts_dir, template, km)
                    done += 1
                except RunFailed as exc:
                    worst = max(worst, report_failure(exc, f"rebuild of {day}-{topic}"), key=SEVERITY.index)
            print(f"paperpress: rebuilt {done} of {len(dates)} posts of {topic} from their sidecars")
            if dates and not no_trends:
                worst = max(worst, rebuild_trends(topic, topics_file, posts_dir, trends_dir, km), key=SEVERITY.index)
    if worst != EXIT_OK:
        print("paperpress: a post that failed to rebuild was left as it was", file=sys.stderr)
    return worst
