"""The live path end to end: `paperpress run` (no --offline) against loopback fakes of arXiv, OpenAlex
and Gemini, reached by the notebook's kernel through environment variables."""

import json
import os
import re

import pytest
import yaml

from paperpress import archive as store

from .fakes.arxiv import FakeArxiv, unused_url
from .fakes.gemini import FAKE_KEY, FakeGemini, FakePaper
from .fakes.openalex import FakeOpenAlex
from .fakes.pdfs import AFFILIATIONS, make_pdf
from .helpers import files_holding, make_project, markdown_outputs, read_post, run_cli, tree_bytes

DAY = "2024-04-01"
POST = f"posts/{DAY}-metaverse-avatars"
CJK = re.compile(r"[\u4e00-\u9fff]")
OPENALEX_KEY = "FAKE-OPENALEX-KEY-0000-do-not-leak"  # openalex.env() hands it to the run


def seed_papers(sample_dir):
    """The six seed papers as arXiv would list them in the mailing of the seed day, plus an older one.

    That mailing (Monday 2024-04-01) covers submissions from Thursday 28 March 14:00 to Friday 29 March
    14:00 EDT (18:00 GMT); its 7-day look-back reaches back to 21 March.
    """
    lines = [json.loads(line) for line in (sample_dir / "metaverse-avatars.jsonl").read_text().splitlines()]
    papers = [{**p, "published": f"2024-03-29T{17 - n:02d}:00:00Z"} for n, p in enumerate(p for p in lines if p["listed_on"] == DAY)]
    older = next(p for p in lines if p["listed_on"] < "2024-03-31")
    return papers + [{**older, "published": "2024-03-10T12:00:00Z"}]


def paper_facts(papers):
    """What the fake model knows of the papers: titles, abstracts and the first author's institution on the
    first page (the fake PDFs print make_pdf's affiliations, the first author's first)."""
    return [FakePaper(p["arxiv_id"], p["title"], p["abstract"], affiliations=(AFFILIATIONS[0],)) for p in papers]


@pytest.fixture
def fakes(sample_dir):
    """Running fakes of arXiv (with PDFs), OpenAlex and Gemini, and the environment that points at them."""
    papers = seed_papers(sample_dir)
    with FakeArxiv(papers) as arxiv, FakeOpenAlex(api_key=OPENALEX_KEY) as openalex, \
            FakeGemini(papers=paper_facts(papers)) as gemini:
        arxiv.add_pdfs(lambda p: make_pdf(title=p["title"], authors=[(a, 1) for a in p["authors"][:3]]))
        openalex.add_work("2403.16510", [("Ziyao Huang", [("Institute of Computing Technology", "https://ror.org/0409k5a27", "CN")])])
        env = arxiv.env() | openalex.env() | gemini.env()
        yield arxiv, openalex, gemini, env


def test_live_post_with_summaries_figures_and_affiliations(tmp_path, fakes):
    arxiv, openalex, gemini, env = fakes
    project = make_project(tmp_path)
    result = run_cli(project, "run", "--topic", "metaverse-avatars", "--date", DAY, env=env)
    assert result.returncode == 0, result.stderr
    data = store.read_digest(project / POST)
    assert [e.paper.arxiv_id for e in data.entries] == [
        "2403.16510", "2403.11589", "2403.10335", "2403.08764", "2402.16607", "2402.11909"]
    assert data.summariser.startswith("gemini:")
    for entry in data.entries:
        assert entry.summary and CJK.search(entry.summary.tldr)  # zh topic: Chinese summaries
        assert entry.extras.pdf_status == "ok" and entry.extras.figures
        assert all((project / POST / f.path).is_file() for f in entry.extras.figures)
    first = data.entries[0]
    assert first.extras.affiliations[0].source == "openalex"
    assert first.paper.authors[0] == "Ziyao Huang"  # bibliographic facts from arXiv, never the model
    assert len(gemini.requests) == 6 and data.usage.total_tokens > 0
    text = "\n".join(markdown_outputs(read_post(project / POST)))
    assert "Institute of Computing Technology" in text and "<img src=\"figures/" in text
    assert "tokens" in text and "Google Gemini" in text
    rendered = run_cli(project, "render", env=env)
    assert rendered.returncode == 0, rendered.stderr
    assert (project / ".paperpress" / "kernel.log").is_file()  # the kernel's own log is searched too
    assert not files_holding(project, FAKE_KEY)  # posts, site, cache, logs: every file the run touched
    assert FAKE_KEY not in result.stdout + result.stderr + rendered.stdout + rendered.stderr
    assert openalex.requests[0].params["api_key"] == OPENALEX_KEY  # sent by the kernel, read from its environment
    assert not files_holding(project, OPENALEX_KEY) and OPENALEX_KEY not in result.stdout + result.stderr
    # The listing image is the first paper's teaser figure (from the fake PDFs), with its own alt text.
    matter = yaml.safe_load(read_post(project / POST).cells[0].source.strip("-\n"))
    teaser = first.extras.figures[0]
    assert matter["image"] == teaser.path == "figures/2403.16510v1-1.webp" and matter["image-alt"] == teaser.alt
    home = (project / "_site" / "index.html").read_text(encoding="utf-8")
    assert f'<img src="{POST}/{teaser.path}"' in home


def test_rerun_makes_no_model_calls_and_same_bytes(tmp_path, fakes):
    _arxiv, openalex, gemini, env = fakes
    project = make_project(tmp_path)
    assert run_cli(project, "run", "--topic", "metaverse-avatars", "--date", DAY, env=env).returncode == 0
    before, calls, asked = tree_bytes(project / "posts"), len(gemini.requests), len(openalex.requests)
    again = run_cli(project, "run", "--topic", "metaverse-avatars", "--date", DAY, env=env)
    assert again.returncode == 0, again.stderr
    assert len(gemini.requests) == calls
    assert asked == 6 and len(openalex.requests) == asked  # its answers (404s too) are cached
    assert tree_bytes(project / "posts") == before


def test_faults_are_survived(tmp_path, fakes):
    arxiv, openalex, gemini, env = fakes
    project = make_project(tmp_path)
    arxiv.fail(503)
    arxiv.fail(429, retry_after=0)
    arxiv.fail_pdf(503)
    openalex.fail(500)
    gemini.queue(FakeGemini.quota("minute", retry_delay="0.05s"), FakeGemini.error(500))
    result = run_cli(project, "run", "--topic", "metaverse-avatars", "--date", DAY, env=env)
    assert result.returncode == 0, result.stderr
    data = store.read_digest(project / POST)
    assert len(data.entries) == 6 and all(e.summary for e in data.entries)
    missing = [e for e in data.entries if e.extras.pdf_status != "ok"]
    assert len(missing) <= 1 and all(e.extras.pdf_status == "missing" for e in missing)


def test_failed_summary_is_marked_and_a_rerun_fills_it(tmp_path, fakes):
    _arxiv, _openalex, gemini, env = fakes
    project = make_project(tmp_path)
    gemini.script("2403.10335", FakeGemini.blocked("SAFETY"))
    result = run_cli(project, "run", "--topic", "metaverse-avatars", "--date", DAY, env=env)
    assert result.returncode == 3 and "summaries unavailable" in result.stderr
    text = "\n".join(markdown_outputs(read_post(project / POST)))
    assert "总结不可用" in text  # the page says so where the summary would be
    filled = run_cli(project, "run", "--topic", "metaverse-avatars", "--date", DAY, env=env)
    assert filled.returncode == 0, filled.stderr
    assert all(e.summary for e in store.read_digest(project / POST).entries)


def test_the_next_catch_up_run_completes_a_partial_post_and_changes_nothing_else(tmp_path, fakes):
    arxiv, _openalex, gemini, env = fakes
    project = make_project(tmp_path)
    gemini.script("2403.10335", FakeGemini.blocked("SAFETY"))
    assert run_cli(project, "run", "--topic", "metaverse-avatars", "--date", DAY, env=env).returncode == 3
    before, calls = store.read_digest(project / POST), len(gemini.requests)
    queries, pdfs = len(arxiv.api_requests), len(arxiv.pdf_requests)
    figures = {p.name: p.read_bytes() for p in (project / POST / "figures").iterdir()}
    # The next scheduled run: Tuesday's mailing has nothing new (one query, no post), then the gap is filled.
    later = env | {"PAPERPRESS_NOW": "2024-04-02T03:30:00Z"}
    result = run_cli(project, "run", "--topic", "metaverse-avatars", "--no-trends", env=later)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "filled 1 missing summaries of 1 earlier posts of metaverse-avatars" in result.stdout
    after = store.read_digest(project / POST)
    assert len(gemini.requests) == calls + 1  # only the missing summary was asked for
    # The post is not made again: no arXiv query of its own (the one query is the catch-up's), no PDF.
    assert len(arxiv.api_requests) == queries + 1 and len(arxiv.pdf_requests) == pdfs
    assert [e.paper for e in after.entries] == [e.paper for e in before.entries]  # the papers stay where they are
    for old, new in zip(before.entries, after.entries):
        if old.summary is None:
            assert new.summary is not None and not new.summary_note and new.extras == old.extras
        else:
            assert new == old
    assert (after.listed, after.updated, after.window, after.summariser) == (
        before.listed, before.updated, before.window, before.summariser)
    assert {p.name: p.read_bytes() for p in (project / POST / "figures").iterdir()} == figures
    assert "总结不可用" not in "\n".join(markdown_outputs(read_post(project / POST)))
    assert not list((project / POST).glob("complete*"))  # the run's handshake is no part of the page
    # From the cache where it has the answer: a sidecar that lost a summary gets it back without a model call.
    sidecar = project / POST / "digest.json"
    data = json.loads(sidecar.read_text(encoding="utf-8"))
    data["entries"][1]["summary"] = None
    sidecar.write_text(json.dumps(data, ensure_ascii=False, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    old_time = 1_700_000_000  # written before the command starts, as a post of an earlier run is
    os.utime(sidecar, (old_time, old_time))
    again = run_cli(project, "backfill", "--topic", "metaverse-avatars", "--from", "2024-04-02", "--to", "2024-04-02",
                    "--no-trends", env=later)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "filled 1 missing summaries" in again.stdout and len(gemini.requests) == calls + 1
    assert store.read_digest(project / POST) == after


def test_completing_posts_keeps_within_the_days_budget(tmp_path, fakes):
    _arxiv, _openalex, gemini, env = fakes
    project = make_project(tmp_path)
    budget = env | {"PAPERPRESS_GEMINI_RPD": "4", "PAPERPRESS_GEMINI_CONCURRENCY": "1"}
    assert run_cli(project, "run", "--topic", "metaverse-avatars", "--date", DAY, env=budget).returncode == 3
    spent = run_cli(project, "run", "--topic", "metaverse-avatars", "--no-trends",
                    env=budget | {"PAPERPRESS_NOW": "2024-04-02T03:30:00Z"})
    assert spent.returncode == 3 and "filled 0 missing summaries" in spent.stderr and "2 still missing" in spent.stderr
    assert len(gemini.requests) == 4  # the day's budget was spent: nothing asked
    assert sum(e.summary is None for e in store.read_digest(project / POST).entries) == 2
    fresh = run_cli(project, "run", "--topic", "metaverse-avatars", "--no-trends",
                    env=env | {"PAPERPRESS_NOW": "2024-04-02T03:30:00Z"})  # a new day's budget (no client-side cap)
    assert fresh.returncode == 0 and "filled 2 missing summaries" in fresh.stdout, fresh.stdout + fresh.stderr
    assert len(gemini.requests) == 6 and all(e.summary for e in store.read_digest(project / POST).entries)


def test_spent_daily_budget_leaves_abstracts_and_a_later_run_fills_them(tmp_path, fakes):
    _arxiv, _openalex, gemini, env = fakes
    project = make_project(tmp_path)
    budget = env | {"PAPERPRESS_GEMINI_RPD": "4", "PAPERPRESS_GEMINI_CONCURRENCY": "1"}
    result = run_cli(project, "run", "--topic", "metaverse-avatars", "--date", DAY, env=budget)
    assert result.returncode == 3 and "2 summaries unavailable" in result.stderr
    data = store.read_digest(project / POST)
    assert len(gemini.requests) == 4 and [e.summary is not None for e in data.entries] == [True] * 4 + [False] * 2
    assert all(e.paper.abstract for e in data.entries)
    assert "daily budget of 4 Gemini requests" in "\n".join(markdown_outputs(read_post(project / POST)))
    filled = run_cli(project, "run", "--topic", "metaverse-avatars", "--date", DAY, env=env)  # the next day's budget
    assert filled.returncode == 0, filled.stderr
    assert len(gemini.requests) == 6 and all(e.summary for e in store.read_digest(project / POST).entries)


def test_unreachable_arxiv_is_one_line_and_writes_nothing(tmp_path, fakes):
    _arxiv, _openalex, _gemini, env = fakes
    project = make_project(tmp_path)
    env = env | {"PAPERPRESS_ARXIV_API_URL": unused_url("/api/query")}
    result = run_cli(project, "run", "--topic", "metaverse-avatars", "--date", DAY, env=env)
    assert result.returncode == 2 and "arXiv API unreachable" in result.stderr
    assert result.stderr.count("\n") == 1
    assert not list((project / "posts").iterdir())


def test_posted_papers_are_not_listed_again(tmp_path, fakes, sample_dir):
    arxiv, _openalex, _gemini, env = fakes
    project = make_project(tmp_path)
    assert run_cli(project, "run", "--topic", "metaverse-avatars", "--date", DAY, env=env).returncode == 0
    # The next mailing looks back 7 days and sees the same six papers: nothing new, so no post.
    empty = run_cli(project, "run", "--topic", "metaverse-avatars", "--date", "2024-04-02", env=env)
    assert empty.returncode == 0 and "no new papers" in empty.stdout
    # A revised version of one of them goes into the "updated" list, not a new section.
    papers = seed_papers(sample_dir)
    arxiv.set_papers(papers + [{**papers[0], "version": "v2", "updated": "2024-04-01T15:00:00Z"}])
    revised = run_cli(project, "run", "--topic", "metaverse-avatars", "--date", "2024-04-02", env=env)
    assert revised.returncode == 0, revised.stderr
    data = store.read_digest(project / "posts" / "2024-04-02-metaverse-avatars")
    assert not data.entries and [p.versioned_id for p in data.updated] == ["2403.16510v2"]
    assert "论文更新" in "\n".join(markdown_outputs(read_post(project / "posts" / "2024-04-02-metaverse-avatars")))


def test_live_post_through_an_openai_compatible_server(tmp_path, sample_dir):
    # DeepSeek-like: json_schema refused, then JSON mode; the kernel reaches the fake through OPENAI_BASE_URL.
    from .fakes.openai_compat import FAKE_OPENAI_KEY, FakeOpenAI

    papers = seed_papers(sample_dir)
    with FakeArxiv(papers) as arxiv, FakeOpenAlex() as openalex, \
            FakeOpenAI(mode="deepseek", papers=paper_facts(papers), reasoning=True) as server:
        arxiv.add_pdfs(lambda p: make_pdf(title=p["title"], authors=[(a, 1) for a in p["authors"][:3]]))
        env = arxiv.env() | openalex.env() | server.env(model="deepseek-chat")
        project = make_project(tmp_path)
        result = run_cli(project, "run", "--topic", "metaverse-avatars", "--date", DAY, env=env)
    assert result.returncode == 0, result.stderr
    data = store.read_digest(project / POST)
    host = server.url.split("//")[1].split("/")[0]
    assert data.summariser == f"openai:deepseek-chat@{host}" and all(e.summary for e in data.entries)
    assert data.usage.thought_tokens == 6 * 300  # DeepSeek's reasoning_content: counted apart, never shown
    text = "\n".join(markdown_outputs(read_post(project / POST)))
    assert f"由 {host} 上的模型 deepseek-chat（OpenAI 兼容接口）生成" in text  # the post names who wrote it
    assert "The paper proposes a method; its abstract" not in text
    assert not files_holding(project, FAKE_OPENAI_KEY) and FAKE_OPENAI_KEY not in result.stdout + result.stderr
