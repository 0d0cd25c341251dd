"""The archive of posts on disk: sidecars (digest.json), post dates, and the front matter a page hands on."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from pydantic import ValidationError

from .config import PaperpressError
from .records import Digest

SIDECAR = "digest.json"
FRONT_MATTER = "front-matter.json"  # handed from the kernel to `paperpress run`, not published
# Put in a staging folder by `paperpress run` (never published): the post there is completed, not rebuilt
# (digest.complete_digest): its papers stay, only the summaries it lacks are asked for again.
COMPLETE = "complete.json"
MAILINGS = "_mailings"  # posts/_mailings/<slug>.json: the last mailing handled (Quarto skips _ folders)


def load_archive(posts_dir: str | Path, topic_slug: str, before: str | None = None) -> list[Digest]:
    """Digests of earlier posts of a topic (their sidecars), oldest first; a corrupt one is skipped with a warning."""
    digests = []
    # Post folders are named <date>-<slug>: pick by name, so other topics' and later days' sidecars stay unparsed.
    for path in sorted(Path(posts_dir).glob(f"????-??-??-{topic_slug}/{SIDECAR}")):
        if before is not None and path.parent.name[:10] >= before:
            continue
        try:
            digest = Digest.model_validate_json(path.read_bytes())
        except (OSError, ValidationError, ValueError) as exc:
            print(f"paperpress: warning: skipping unreadable sidecar {path} ({type(exc).__name__})", file=sys.stderr)
            continue
        if digest.topic_slug == topic_slug and (before is None or digest.date < before):
            digests.append(digest)
    return sorted(digests, key=lambda d: d.date)


def count_missing(path: str | Path) -> int:
    """Summaries a model-summarised post lacks (0 without parsing the file when it has every one: the common case)."""
    data = Path(path).read_bytes()
    if b'"summary": null' not in data:  # save_digest's own spelling; updated and listed papers have no summary field
        return 0
    try:
        digest = Digest.model_validate_json(data)
    except (ValidationError, ValueError):
        return 0
    return 0 if digest.summariser == "offline" else sum(e.summary is None for e in digest.entries)


def collect_posted(archive: list[Digest]) -> dict[str, set[str]]:
    """arXiv id → versions already posted (summarised, listed briefly or updated) in the archive."""
    posted: dict[str, set[str]] = {}
    for digest in archive:
        for paper in [e.paper for e in digest.entries] + list(digest.listed) + list(digest.updated):
            posted.setdefault(paper.arxiv_id, set()).add(paper.version)
    return posted


def list_post_dates(posts_dir: str | Path, topic_slug: str, end_date: str = "") -> list[str]:
    """Dates of a topic's posts that have a sidecar, up to end_date (from folder names: nothing is parsed)."""
    pattern = re.compile(rf"^(\d{{4}}-\d{{2}}-\d{{2}})-{re.escape(topic_slug)}$")
    dates = [m.group(1) for p in Path(posts_dir).glob("*/") if (m := pattern.match(p.name)) and (p / SIDECAR).is_file()]
    return sorted(d for d in dates if not end_date or d <= end_date)


def read_last_mailing(posts_dir: str | Path, topic_slug: str) -> str:
    """The latest mailing a run has handled for the topic, posted or found empty ('' when none)."""
    try:
        return json.loads((Path(posts_dir) / MAILINGS / f"{topic_slug}.json").read_text(encoding="utf-8"))["last"]
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def record_mailing(posts_dir: str | Path, topic_slug: str, date: str) -> None:
    """Remember that a run has handled this mailing (the later of it and what is recorded), atomically.

    An empty mailing writes no post; without this, every catch-up would ask arXiv about it again, and a
    late paper would land in a post dated days back, below newer posts, where readers miss it.
    """
    from filelock import FileLock

    folder = Path(posts_dir) / MAILINGS
    locks = Path(posts_dir).parent / ".paperpress" / "locks"  # the work folder beside posts/, never published
    for needed in (folder, locks):
        needed.mkdir(parents=True, exist_ok=True)
    path = folder / f"{topic_slug}.json"
    with FileLock(str(locks / f"mailings-{topic_slug}.lock")):  # parallel backfill runs write it too
        last = max(read_last_mailing(posts_dir, topic_slug), date)
        path.with_suffix(".tmp").write_text(json.dumps({"last": last}) + "\n", encoding="utf-8")
        path.with_suffix(".tmp").replace(path)


def write_front_matter(output_dir: str, build, image: str) -> None:
    """Write a page's front matter for finish_post: build(image or None) as JSON; nothing without a folder."""
    if not output_dir:
        return
    found = image if (Path(output_dir) / image).is_file() else None
    data = json.dumps(build(found), ensure_ascii=False, indent=1)
    (Path(output_dir) / FRONT_MATTER).write_text(data, encoding="utf-8")


def save_digest(digest: Digest, output_dir: str) -> Path | None:
    """Write the sidecar (the archive that trends and de-duplication read); nothing without a folder."""
    if not output_dir:
        return None
    path = Path(output_dir) / SIDECAR
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(digest.model_dump(mode="json"), ensure_ascii=False, sort_keys=True, indent=1)
    path.write_text(data + "\n", encoding="utf-8")
    return path


def read_digest(folder: str | Path) -> Digest:
    """The sidecar of a post folder."""
    try:
        return Digest.model_validate_json((Path(folder) / SIDECAR).read_bytes())
    except (OSError, ValidationError, ValueError) as exc:
        raise PaperpressError(f"{Path(folder) / SIDECAR}: unreadable sidecar ({type(exc).__name__})") from exc
