"""A model fake plants, in the result-like fields, a figure copied from the abstract and one no source holds:
the first stays in the post, the second is dropped and recorded in the sidecar."""

from __future__ import annotations

import json
import os
import subprocess
from importlib import resources
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from paperpress.config import Settings, Topic
from paperpress.records import Entry, Paper
from paperpress.summarise import summarise_entries
from tests.fakes.gemini import FAKE_KEY, INVENTED, FakeGemini, FakePaper
from tests.fakes.openai_compat import FAKE_OPENAI_KEY, FakeOpenAI

from .helpers import BIN, make_project, markdown_outputs

ZH = Topic(slug="avatars", name="元宇宙/虚拟人", language="zh", query="avatar")
EN = Topic(slug="avatars-en", name="Avatars", language="en", query="avatar")
# The archive's papers by id (first listing): 2403.08764 (VLOGGER) writes "800,000 identities",
# 2312.09228 (3DGS-Avatar) "around 15 FPS"; 2403.16510 (Make-Your-Anchor) holds no figure at all.
COPIED = {"2403.08764": "800,000", "2312.09228": "15 FPS", "2403.16510": ""}
FAKES = ["gemini", "openai"]  # both model fakes plant the same two kinds (tests.fakes.gemini.plant_figures)


def archive_papers() -> dict[str, Paper]:
    """The embedded archive's papers, by arXiv id (first listing)."""
    text = resources.files("paperpress.data").joinpath("metaverse-avatars.jsonl").read_text(encoding="utf-8")
    papers: dict[str, Paper] = {}
    for d in map(json.loads, text.splitlines()):
        papers.setdefault(d["arxiv_id"], Paper(arxiv_id=d["arxiv_id"], version=d["version"], title=d["title"],
                                               authors=tuple(d["authors"]), abstract=d["abstract"], comment=d.get("comment")))
    return papers


@pytest.fixture(params=FAKES)
def model(request, tmp_path):
    """A model fake that knows the archive's papers: its summariser name, environment and settings."""
    papers = [FakePaper(p.arxiv_id, p.title, p.abstract) for p in archive_papers().values()]
    if request.param == "openai":
        with FakeOpenAI(papers=papers) as fake:
            settings = Settings(gemini_model="openai:fake-model", openai_base_url=fake.url, openai_api_key=FAKE_OPENAI_KEY,
                                cache_dir=tmp_path / "cache", gemini_rpm=0, gemini_tpm=0, gemini_timeout_s=5.0,
                                gemini_backoff_s=0.01, gemini_retries=1)
            yield SimpleNamespace(summariser="model", env=fake.env(), settings=settings)
        return
    with FakeGemini(papers=papers) as fake:
        settings = Settings(gemini_base_url=fake.url, api_key=FAKE_KEY, cache_dir=tmp_path / "cache", gemini_rpm=0,
                            gemini_tpm=0, gemini_timeout_s=5.0, gemini_backoff_s=0.01, gemini_retries=1)
        yield SimpleNamespace(summariser="gemini", env=fake.env(), settings=settings)


def texts(entry: Entry) -> str:
    """Every text of an entry's summary."""
    s = entry.summary
    c = s.conclusion
    return " ".join([s.tldr, s.background, s.prior_work, s.method, s.results, c.significance, c.innovation,
                     c.performance, c.workload, *s.key_takeaways, *s.keywords])


@pytest.mark.parametrize("topic", [ZH, EN], ids=["zh", "en"])
def test_the_copied_figure_stays_and_the_invented_one_goes(model, topic):
    papers = archive_papers()
    entries = [Entry(paper=papers[i]) for i in COPIED]
    out = summarise_entries(entries, topic, model.settings, model.summariser)
    for entry in out:
        copied = COPIED[entry.paper.arxiv_id]
        invented = [f for f in INVENTED if f in " ".join(d.text for d in entry.dropped_claims)]
        assert len(invented) == 1 and invented[0] not in texts(entry)
        assert {d.field for d in entry.dropped_claims} == {"results", "conclusion.performance", "key_takeaways"}
        assert all(d.reason == f"figure {invented[0]}" for d in entry.dropped_claims)
        if copied:
            assert copied in entry.summary.results and copied in entry.summary.conclusion.performance
            assert any(copied in t for t in entry.summary.key_takeaways)
        assert len(entry.summary.key_takeaways) >= 3  # the rest of the summary stays


@pytest.mark.slow
def test_a_run_with_a_model_drops_invented_figures_and_shows_sources(model, tmp_path):
    project = make_project(tmp_path)
    out, folder = tmp_path / "out.ipynb", tmp_path / "post"
    env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY")} | model.env
    env["PAPERPRESS_CACHE_DIR"] = str(tmp_path / "cache")
    subprocess.run([str(BIN / "papermill"), "notebooks/digest.ipynb", str(out), "-p", "date", "2024-04-01", "-p",
                    "topic", "metaverse-avatars", "-p", "summariser", model.summariser, "-p", "output_dir", str(folder),
                    "--no-progress-bar"], cwd=project, check=True, capture_output=True, env=env, timeout=300)
    sidecar = json.loads((folder / "digest.json").read_text(encoding="utf-8"))
    assert len(sidecar["entries"]) == 6
    for entry in sidecar["entries"]:
        dropped = entry["dropped_claims"]
        assert [d["field"] for d in dropped] == ["results", "key_takeaways", "conclusion.performance"]
        assert all(d["reason"].startswith("figure ") and d["reason"][7:] in d["text"] for d in dropped)
        assert not any(d["reason"][7:] in json.dumps(entry["summary"], ensure_ascii=False) for d in dropped)
    vlogger = next(e for e in sidecar["entries"] if e["paper"]["arxiv_id"] == "2403.08764")
    assert "800,000" in vlogger["summary"]["results"]
    page = "\n\n".join(markdown_outputs(nbformat.read(out, as_version=4)))
    assert page.count("本篇总结删去了 3 处表述") == 6
    # The copied figure's takeaway has the abstract sentence it comes from as a footnote (the fake's other
    # takeaways name nothing): VLOGGER's 800,000 identities and One2Avatar's 2407 subjects.
    notes = [line.split("]: ")[1] for line in page.splitlines() if line.startswith("[^src-")]
    starts = ("摘要原句：We also curate MENTOR", "摘要原句：We learn a generative model")
    assert len(notes) == 2 and all(n.startswith(start) for n, start in zip(notes, starts))


def test_offline_summaries_are_checked_and_keep_everything(tmp_path):
    papers = archive_papers()
    out = summarise_entries([Entry(paper=papers[i]) for i in COPIED], ZH, Settings(cache_dir=tmp_path), "offline")
    assert [e.dropped_claims for e in out] == [(), (), ()]  # checked ([] in the sidecar), nothing dropped
