"""Every paper once: daily catch-up runs against a fake arXiv that publishes on arXiv's calendar, under a test clock.

A month (26 October – 1 December 2026: daylight-saving time ends on 1 November, Thanksgiving is 26
November) of runs at the scheduled 03:30 GMT is simulated at the digest level (the planning and the
data flow `paperpress run` uses, without papermill); a few full `paperpress` commands check the same
invariants end to end. Each case ends with: every announced paper in exactly one post, none in two, a
new version in at most one "updated" list, and no post for a day without a mailing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import re
from pathlib import Path

import pytest

from paperpress import archive, catchup, digest, mailings
from paperpress.arxiv_api import parse_time
from paperpress.config import Settings, find_topic, load_topics

from .fakes.arxiv import FakeArxiv
from .fakes.gemini import FakeGemini
from .fakes.openalex import FakeOpenAlex
from .helpers import make_project, run_cli, tree_bytes

UTC = dt.timezone.utc
SLUG = "heads"
TOPICS = f"""topics:
  - slug: {SLUG}
    name: Heads
    query: 'ti:head'
    max_papers: 3
"""


def at(text: str) -> dt.datetime:
    """An aware GMT time from 'YYYY-MM-DD HH:MM'."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def paper(arxiv_id: str, submitted: str, **extra) -> dict:
    """A paper about heads submitted at `submitted` (GMT)."""
    return {"arxiv_id": arxiv_id, "title": f"Head study {arxiv_id}", "authors": ["A. Author"],
            "abstract": f"We propose a head model ({arxiv_id}). Experiments show it works.",
            "categories": ["cs.CV"], "published": at(submitted).strftime("%Y-%m-%dT%H:%M:%SZ"), **extra}


# Named cases inside the month, with why each is there.
CASES = {
    "dst": paper("2611.90001", "2026-11-02 18:30"),  # Mon 13:30 EST: before the 14:00 EST (19:00 GMT) deadline
    "after_friday": paper("2611.90002", "2026-10-30 18:30"),  # Fri 14:30 EDT: after the deadline, Monday's mailing
    "held": paper("2611.90003", "2026-11-16 12:00", hold=2),  # held two mailings: Wed 20:00 EST instead of Mon
    "lagging": paper("2611.90004", "2026-11-17 12:00", lag_hours=3),  # in the API at 04:00 GMT, after the 03:30 run
    "thanksgiving": paper("2611.90005", "2026-11-25 20:00"),  # Wed after the deadline; no Thursday mailing
    "revised": paper("2611.90006", "2026-11-03 10:00"),
    "revised_v2": paper("2611.90006", "2026-11-03 10:00", version="v2", updated="2026-11-05T10:00:00Z"),
    # One paper in each mailing the cases below name, whatever the random background gives.
    "monday": paper("2610.90010", "2026-10-30 12:00"),
    "missed": paper("2611.90008", "2026-11-10 12:00"),
    "after_missed": paper("2611.90009", "2026-11-11 12:00"),
    "before_thanksgiving": paper("2611.90011", "2026-11-25 12:00"),
    "weekend": paper("2611.90012", "2026-11-28 12:00"),
    # The only paper of Friday 20 November's mailing, in the API after that day's run: the mailing is found
    # empty and recorded as handled, so the paper goes to the next mailing's post (Monday 23rd, by the look-back),
    # never to a post dated the 20th made days later below newer ones (the "last mailing handled" record).
    "after_empty": paper("2611.90013", "2026-11-19 12:00", lag_hours=3),
}
EMPTY_WINDOW = ("2026-11-18 19:00", "2026-11-19 19:00")  # Friday 20 November's submissions (GMT): no background paper
BUSY = [paper(f"2611.8{n:04d}", f"2026-11-04 {1 + 2 * n:02d}:30") for n in range(7)]  # 7 in Thursday's mailing
SKIPPED_RUN = dt.date(2026, 11, 11)  # the cron run of that day did not happen (an outage)


def make_month() -> list[dict]:
    """Background papers at random times (weekends included) from 20 October on, plus the named cases."""
    rng = random.Random(14)
    papers = []
    start = at("2026-10-20 00:00")
    for n in range(70):
        submitted = start + dt.timedelta(minutes=rng.randrange(41 * 24 * 60))
        if not at(EMPTY_WINDOW[0]) <= submitted < at(EMPTY_WINDOW[1]):
            papers.append(paper(f"2610.{n:05d}", submitted.strftime("%Y-%m-%d %H:%M")))
    return papers + list(CASES.values()) + BUSY


@dataclasses.dataclass
class Post:
    """A post the simulation wrote: its mailing date, when it was made, its digest."""

    date: str
    made: dt.datetime
    digest: digest.Digest


def catch_up(now: dt.datetime, posts: Path, topics: Path, settings: Settings, work: Path, made: list[Post]) -> None:
    """What `paperpress run --topic heads` does at `now`, minus papermill: plan, one query, one post per mailing."""
    dates = catchup.plan_catch_up(posts, SLUG, now)
    if not dates:
        return
    topic = find_topic(load_topics(topics), SLUG)
    path = work / f"span-{now:%Y%m%d}.jsonl"
    papers = catchup.fetch_span(topic, dates, settings, path)
    cached = dataclasses.replace(settings, arxiv_cache=str(path))
    windows = catchup.find_windows(topic, dates)
    for date in dates:
        if catchup.has_news(papers, windows[date], SLUG, str(posts), date):
            folder = posts / f"{date}-{SLUG}"
            result = digest.build_digest(date, SLUG, source="arxiv", summariser="offline", topics_file=str(topics),
                                         posts_dir=str(posts), output_dir=str(folder), settings=cached)
            assert result.entries or result.listed or result.updated  # has_news said so
            archive.save_digest(result, str(folder))
            made.append(Post(date, now, result))
        archive.record_mailing(posts, SLUG, date)  # handled: the next run starts after it


def check_every_paper_once(fake: FakeArxiv, made: list[Post], end: dt.datetime) -> dict[str, Post]:
    """The invariants; returns the post of each paper."""
    post_of: dict[str, Post] = {}
    updated_in: dict[str, list[str]] = {}
    for post in made:
        assert mailings.mailing_on(dt.date.fromisoformat(post.date)) is not None, f"post on {post.date}: no mailing"
        for p in [e.paper for e in post.digest.entries] + list(post.digest.listed):
            assert p.arxiv_id not in post_of, f"{p.arxiv_id} in {post_of[p.arxiv_id].date} and {post.date}"
            post_of[p.arxiv_id] = post
        for p in post.digest.updated:
            updated_in.setdefault(p.versioned_id, []).append(post.date)
    assert [p.date for p in made] == sorted({p.date for p in made})  # one per mailing, none back-dated below a newer one
    fake.set_now(end)
    announced = {p["arxiv_id"] for p in fake.visible()}
    assert set(post_of) == announced  # every announced paper, in exactly one post (checked above)
    assert all(len(dates) == 1 for dates in updated_in.values()), updated_in
    # Each paper is in the first post made after it became visible whose query window holds it.
    for p in fake.papers:
        if p["version"] != "v1" or p["arxiv_id"] not in announced:
            continue
        visible, submitted = fake.visible_at(p), parse_time(p["published"])
        first = next(post for post in made if post.made >= visible
                     and parse_time(post.digest.window[0]) <= submitted < parse_time(post.digest.window[1]))
        assert post_of[p["arxiv_id"]] is first, (p["arxiv_id"], post_of[p["arxiv_id"]].date, first.date)
    return post_of


@pytest.fixture
def services(tmp_path):
    """The calendar fake arXiv (no PDFs: they are optional) and a fake OpenAlex, and settings pointing at them."""
    with FakeArxiv(make_month(), calendar=True) as arxiv, FakeOpenAlex() as openalex:
        settings = Settings(arxiv_api_url=arxiv.url, arxiv_delay_seconds=0.0, openalex_url=openalex.url,
                            cache_dir=tmp_path / "cache")
        yield arxiv, settings


def test_a_month_of_daily_catch_up_runs(tmp_path, services, monkeypatch):
    fake, settings = services
    posts, work = tmp_path / "posts", tmp_path / "work"
    topics = tmp_path / "topics.yml"
    topics.write_text(TOPICS)
    made: list[Post] = []
    day = dt.date(2026, 10, 27)
    while day <= dt.date(2026, 12, 1):
        if day != SKIPPED_RUN:
            now = dt.datetime.combine(day, dt.time(3, 30), tzinfo=UTC)  # the workflow's cron time
            monkeypatch.setenv("PAPERPRESS_NOW", now.isoformat())  # parse_date and read_now, as in a kernel
            fake.set_now(now)
            catch_up(now, posts, topics, settings, work, made)
        day += dt.timedelta(days=1)
    post_of = check_every_paper_once(fake, made, at("2026-12-01 03:30"))
    dates = [p.date for p in made]

    assert post_of["2611.90001"].date == "2026-11-03"  # the DST week: 13:30 EST is before Monday's deadline
    assert post_of["2611.90002"].date == "2026-11-03"
    assert "2026-11-27" not in dates and post_of["2611.90005"].date == "2026-11-30"  # Thanksgiving: no mailing
    assert not any(dt.date.fromisoformat(d).weekday() >= 5 for d in dates)
    missed = [p for p in made if p.made.date() == SKIPPED_RUN + dt.timedelta(days=1)]
    assert [p.date for p in missed] == ["2026-11-11", "2026-11-12"]  # the next run caught up, oldest first
    assert post_of["2611.90003"].date == "2026-11-19"  # held two mailings: in the first post after its announcement
    assert post_of["2611.90004"].date == "2026-11-19"  # API lag: missed by the 03:30 run, in the next post
    assert "2026-11-20" not in dates and post_of["2611.90013"].date == "2026-11-23"  # an empty mailing stays handled
    busy = post_of[BUSY[0]["arxiv_id"]]
    assert len(busy.digest.entries) == 3 and len(busy.digest.listed) >= 4  # max_papers caps summaries, not papers
    assert all(post_of[p["arxiv_id"]] is busy for p in BUSY)
    assert post_of["2611.90006"].date < "2026-11-06"
    assert [(p.date, [u.versioned_id for u in p.digest.updated]) for p in made if p.digest.updated] == [
        ("2026-11-06", ["2611.90006v2"])]


def test_a_paper_whose_v2_comes_after_the_look_back_is_not_listed_again(tmp_path, monkeypatch):
    late_v2 = paper("2611.90007", "2026-11-02 10:00", version="v2", updated="2026-11-20T10:00:00Z")
    with FakeArxiv([paper("2611.90007", "2026-11-02 10:00"), late_v2], calendar=True) as fake, FakeOpenAlex() as oa:
        settings = Settings(arxiv_api_url=fake.url, arxiv_delay_seconds=0.0, openalex_url=oa.url, cache_dir=tmp_path)
        topics = tmp_path / "topics.yml"
        topics.write_text(TOPICS)
        made: list[Post] = []
        for day in range(3, 24):  # daily runs: by the time v2 is out, the windows have moved on
            now = at(f"2026-11-{day:02d} 03:30")
            monkeypatch.setenv("PAPERPRESS_NOW", now.isoformat())
            fake.set_now(now)
            catch_up(now, tmp_path / "posts", topics, settings, tmp_path / "work", made)
        # arXiv's submittedDate is version 1's: the later runs' windows never see the article again.
        assert [p.date for p in made] == ["2026-11-03"]
        check_every_paper_once(fake, made, at("2026-11-23 03:30"))


# --- the real command ------------------------------------------------------------------------------------


@pytest.fixture
def live(tmp_path):
    """A project with the heads topic and the fakes a live run needs, the clock on Tuesday 3 November 2026."""
    project = make_project(tmp_path)
    (project / "topics.yml").write_text(TOPICS)
    with FakeArxiv(make_month(), calendar=True) as arxiv, FakeOpenAlex() as openalex, FakeGemini() as gemini:
        yield project, arxiv, lambda now: (arxiv.set_now(now), arxiv.env() | openalex.env() | gemini.env())[1]


@pytest.mark.slow
def test_catch_up_command_after_a_weekend_and_the_clock_change(live):
    project, fake, env_at = live
    first = run_cli(project, "run", "--topic", SLUG, "--no-trends", env=env_at("2026-10-30T03:30:00Z"))
    assert first.returncode == 0, first.stderr
    # No run on Monday (the weekend's mailing, announced Sunday evening), then Tuesday: two mailings.
    asked = len(fake.api_requests)
    caught = run_cli(project, "run", "--topic", SLUG, "--no-trends", env=env_at("2026-11-03T03:30:00Z"))
    assert caught.returncode == 0, caught.stderr
    assert len(fake.api_requests) == asked + 1  # one query for both mailings
    wrote = [line.split("posts/")[1][:10] for line in caught.stdout.splitlines() if "wrote" in line]
    assert wrote == ["2026-11-02", "2026-11-03"]  # oldest first
    again = run_cli(project, "run", "--topic", SLUG, "--no-trends", env=env_at("2026-11-03T09:00:00Z"))
    assert again.returncode == 0 and "up to date" in again.stdout and again.stdout.count("\n") == 1
    made = [Post(p.date, at("2026-11-03 03:30"), p) for p in archive.load_archive(project / "posts", SLUG)]
    post_of = {e.paper.arxiv_id: p.date for p in made for e in p.digest.entries} | {
        q.arxiv_id: p.date for p in made for q in p.digest.listed}
    assert post_of["2611.90001"] == "2026-11-03" and post_of["2611.90002"] == "2026-11-03"
    fake.set_now(at("2026-11-03 03:30"))
    since = parse_time(made[0].digest.window[0])  # the topic's first post: where its promise starts
    assert set(post_of) == {p["arxiv_id"] for p in fake.visible() if parse_time(p["published"]) >= since}
    assert sum(len(p.digest.entries) + len(p.digest.listed) for p in made) == len(post_of)


@pytest.mark.slow
def test_days_without_a_mailing_are_no_error(live):
    project, _fake, env_at = live
    env = env_at("2026-11-30T12:00:00Z")
    for day, why in (("2026-11-27", "holiday on Thu 2026-11-26"), ("2026-11-28", "Monday to Friday")):
        result = run_cli(project, "run", "--topic", SLUG, "--date", day, env=env)
        assert result.returncode == 0 and why in result.stdout and result.stdout.count("\n") == 1, result.stdout
    future = run_cli(project, "run", "--topic", SLUG, "--date", "2026-11-30", env=env_at("2026-11-30T00:30:00Z"))
    assert future.returncode == 2 and "not public yet" in future.stderr  # announced at 01:00 GMT (20:00 EST)
    assert not (project / "posts").exists() or not list((project / "posts").iterdir())


@pytest.mark.slow
def test_backfill_asks_once_and_posts_only_mailings(live):
    project, fake, env_at = live
    result = run_cli(project, "backfill", "--topic", SLUG, "--from", "2026-11-25", "--to", "2026-12-01",
                     "--jobs", "2", "--no-trends", env=env_at("2026-12-02T12:00:00Z"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(fake.api_requests) == 1  # one query for the whole range (under one page)
    assert archive.list_post_dates(project / "posts", SLUG) == ["2026-11-25", "2026-11-26", "2026-11-30", "2026-12-01"]
    assert "no mailing" in result.stdout
    # The one answer split locally gives the posts that one `run --date` per mailing gives, byte for byte.
    one_by_one = make_project(project / "one-by-one")
    (one_by_one / "topics.yml").write_text(TOPICS)
    for day in ("2026-11-25", "2026-11-26", "2026-11-30", "2026-12-01"):
        single = run_cli(one_by_one, "run", "--topic", SLUG, "--date", day, "--no-trends", env=env_at("2026-12-02T12:00:00Z"))
        assert single.returncode == 0, single.stderr
    assert tree_bytes(one_by_one / "posts") == tree_bytes(project / "posts")


def test_the_schedule_runs_the_catch_up_after_the_announcement(root):
    import yaml

    workflow = (root / ".github" / "workflows" / "publish.yml").read_text(encoding="utf-8")
    cron = yaml.safe_load(workflow)[True]["schedule"][0]["cron"]  # YAML 1.1 reads the key `on` as True
    assert cron == "30 3 * * *" and "yesterday" not in workflow
    assert 'paperpress run --topic "${{ matrix.topic }}" --no-trends ${DAY:+--date "$DAY"}' in workflow
    readme = (root / "README.md").read_text(encoding="utf-8")
    cron_line = next(line for line in readme.splitlines() if line.startswith("- **cron**"))
    assert f"`{cron} cd /path/to/paperpress && " in cron_line and "paperpress run --all-topics &&" in cron_line
    assert "--date" not in cron_line
    # 03:30 GMT is after 20:00 Eastern in both halves of the year, with time for the API to catch up.
    for day in (dt.date(2026, 1, 13), dt.date(2026, 7, 14)):
        run = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(3, 30), tzinfo=UTC)
        assert mailings.latest_mailing(run).listed == day + dt.timedelta(days=1)
        assert run - mailings.latest_mailing(run).announced >= dt.timedelta(hours=2, minutes=30)


def test_a_busy_mailing_lists_the_papers_beyond_max_papers(tmp_path):
    from paperpress import post, trends
    from paperpress.records import Digest, Entry, Paper

    def make(n: int, title: str = "") -> Paper:
        return Paper(arxiv_id=f"2611.0000{n}", version="v1", title=title or f"Head {n}", authors=[f"Author {n}"] * 10,
                     abstract="We propose a diffusion model for heads. It works.", comment="CVPR 2027",
                     abs_url=f"https://arxiv.org/abs/2611.0000{n}v1")
    d = Digest(date="2026-11-05", topic_slug=SLUG, topic_name="Heads", language="en", source="arxiv",
               summariser="offline", entries=(Entry(paper=make(1)),), listed=(make(2), make(3, "A <b>bold</b> [x](javascript:y)")),
               window=("2026-10-28T19:00:00Z", "2026-11-04T19:00:00Z"))
    header = post.render_header(d)
    assert "arXiv announced 3 new papers for this topic: 1 summarised, 2 listed briefly." in header
    assert "The 1 newest of its 3 new papers" in header
    assert "sample file's order" in post.render_header(d.model_copy(update={"source": "sample", "window": ()}))
    assert "2026-11-03 14:00 – 2026-11-04 14:00 US Eastern" in header and "since 2026-10-28 15:00" in header
    listed = post.render_listed(d)
    assert "[Head 2](https://arxiv.org/abs/2611.00002v1)" in listed and "CVPR 2027" in listed
    assert "We propose a diffusion model for heads." in listed and "It works" not in listed  # the first sentence
    assert "et al." in listed and "<b>" not in listed and not re.search(r"(?<!\\)\]\(javascript", listed)
    assert trends.method_table(d)["papers"].sum() >= 2  # the listed papers' method tags count
    papers, _facts, _countries = trends.build_frames([d])
    assert len(papers) == 3  # every paper of the mailing counts in the trends
    matter = post.build_front_matter(d, None)
    assert matter["title"] == "Heads · 2026-11-05: Head 1 and 2 more" and "image" not in matter
    assert matter["description"] == "3 new arXiv papers on Heads in the mailing of 2026-11-05, first: Head 1"


@pytest.mark.slow
def test_offline_catch_up_takes_the_sample_days_as_mailings(tmp_path):
    project = make_project(tmp_path)
    first = run_cli(project, "run", "--offline", "--topic", "metaverse-avatars", "--no-trends")
    assert first.returncode == 0, first.stderr
    assert archive.list_post_dates(project / "posts", "metaverse-avatars") == ["2024-12-07"]  # the latest sample day
    again = run_cli(project, "run", "--offline", "--topic", "metaverse-avatars", "--no-trends")
    assert again.returncode == 0 and "up to date" in again.stdout
