"""The summariser's core promises, against every backend's fake alike: Gemini, and an OpenAI-compatible server
as OpenAI, DeepSeek and a local (Ollama/vLLM-like) server speak it.

Each backend is reached through its real SDK (google-genai, openai) and a loopback fake of its wire format.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator

import pytest

from paperpress.config import Settings
from paperpress.records import Affiliation, Entry, Extras, Summary
from paperpress.summarise import summarise_entries
from tests.fakes.gemini import FAKE_KEY, INVENTED, FakeGemini
from tests.fakes.openai_compat import FAKE_OPENAI_KEY, FakeOpenAI
from tests.test_gemini import EN, ICT, ZH, facts_of, good_answer, load_papers, make_entries

BACKENDS = ["gemini", "openai", "deepseek", "local"]


@dataclass
class Backend:
    """One backend's fake, the settings and model setting that reach it, and its scripting class."""

    name: str
    fake: Any
    settings: Settings
    model: str
    kind: Any  # FakeGemini or FakeOpenAI: answer(), text(), error()

    def summarise(self, entries: list[Entry], topic=ZH, **changes: Any) -> list[Entry]:
        """summarise_entries with this backend's model setting."""
        return summarise_entries(entries, topic, replace(self.settings, **changes), "model", model=self.model)


def open_backend(name: str, tmp_path: Path, **fake_args: Any) -> Any:
    """The fake server of a backend (a context manager), knowing the test papers."""
    papers = facts_of(load_papers(12))
    if name == "gemini":
        return FakeGemini(papers=papers, **fake_args)
    return FakeOpenAI(mode=name, papers=papers, **fake_args)


def settings_for(name: str, fake: Any, tmp_path: Path) -> Settings:
    """Settings pointing at the fake, every wait scaled down."""
    common = dict(cache_dir=tmp_path / "cache", gemini_rpm=0, gemini_tpm=0, gemini_timeout_s=5.0, gemini_backoff_s=0.01,
                  gemini_retry_scale=0.02, gemini_max_wait_s=5.0, gemini_retries=3)
    if name == "gemini":
        return Settings(gemini_base_url=fake.url, api_key=FAKE_KEY, **common)
    return Settings(openai_base_url=fake.url, openai_api_key=fake.api_key or "", openai_rpm=0, **common)


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path) -> Iterator[Backend]:
    """Each backend in turn, with no latency and no rate limit."""
    name = request.param
    with open_backend(name, tmp_path) as fake:
        model = "gemini-3.5-flash-lite" if name == "gemini" else "openai:fake-model"
        yield Backend(name, fake, settings_for(name, fake, tmp_path), model, FakeGemini if name == "gemini" else FakeOpenAI)


def asked(backend: Backend) -> list[Any]:
    """The fake's requests that reached the model (DeepSeek's one json_schema refusal of a run left out)."""
    return [r for r in backend.fake.requests if r.status != 400 or backend.name != "deepseek"]


# -- the same promises everywhere ----------------------------------------------------------------


def test_schema_valid_answers_become_grounded_summaries(backend):
    entries = make_entries(3)
    out = backend.summarise(entries)
    assert [e.paper for e in out] == [e.paper for e in entries]  # same order, facts untouched
    assert all(isinstance(e.summary, Summary) and e.summary_note == "" for e in out)
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in e.summary.tldr) for e in out)
    # One meaning of usage everywhere: prompt, answer and reasoning tokens apart, adding up to the total.
    assert all(e.usage.total_tokens == e.usage.prompt_tokens + e.usage.output_tokens + e.usage.thought_tokens > 0
               for e in out)
    assert out[0].summary.code_url == "https://github.com/ICTMCG/Make-Your-Anchor"  # in the abstract: kept
    assert "diffusion" in out[0].summary.methods
    assert len(asked(backend)) == 3


def test_made_up_affiliation_and_link_are_dropped(backend):
    paper = load_papers(1)[0]
    backend.fake.add_paper(paper.arxiv_id, paper.title, paper.abstract, affiliations=(ICT,), invented={
        "affiliations": [ICT.lower(), "Stanford University", "ETH Zürich"], "code_url": "https://github.com/made-up/repo"})
    entry = Entry(paper=paper, extras=Extras(
        first_page=f"Make-Your-Anchor\nZiyao  Huang\n{ICT}", affiliations=(Affiliation(name="ETH Zürich", source="openalex"),)))
    [out] = backend.summarise([entry])
    assert out.summary.affiliations == [ICT.lower(), "ETH Zürich"]  # on the first page, or known to OpenAlex
    assert out.summary.code_url == ""


def test_invalid_json_then_valid_answer(backend):
    backend.fake.script("2403.16510", backend.kind.text('{"tldr": "unfinished'), backend.kind.answer(good_answer()))
    [entry] = backend.summarise(make_entries(1))
    first, second = asked(backend)
    assert entry.summary is not None and "not valid JSON" in second.prompt and "previous answer" not in first.prompt


def test_invalid_twice_gets_a_note_and_a_rerun_fills_the_gap(backend):
    paper = load_papers(1)[0]
    backend.fake.add_paper(paper.arxiv_id, paper.title, paper.abstract, answer=good_answer(key_takeaways=["只有一点。"]))
    first = backend.summarise(make_entries(2))
    assert first[0].summary is None and "unusable answer twice" in first[0].summary_note
    assert "key_takeaways" in first[0].summary_note and first[0].usage.total_tokens > 0 and first[1].summary is not None
    backend.fake.add_paper(paper.arxiv_id, paper.title, paper.abstract)  # a better day
    backend.fake.reset()
    again = backend.summarise(make_entries(2))
    assert again[0].summary is not None and len(asked(backend)) == 1  # only the gap was asked again


def test_rerun_makes_no_call(backend):
    entries = make_entries(4)
    first = backend.summarise(entries)
    backend.fake.reset()
    again = backend.summarise(entries)
    assert backend.fake.requests == [] and again == first  # zero calls; usage restored from the cache


def test_5xx_then_success(backend):
    backend.fake.script("2403.16510", backend.kind.error(503), backend.kind.error(500))
    [entry] = backend.summarise(make_entries(1))
    assert entry.summary is not None and [r.status for r in asked(backend)] == [503, 500, 200]


def test_429_waits_as_the_server_asks(backend):
    busy = FakeGemini.quota("minute", retry_delay="5s") if backend.name == "gemini" else FakeOpenAI.error(429, retry_after=5)
    backend.fake.script("2403.16510", busy)  # 5 s x 0.02 scale = 0.1 s
    [entry] = backend.summarise(make_entries(1))
    first, second = asked(backend)
    assert first.status == 429 and second.status == 200 and entry.summary is not None
    assert second.started - first.started >= 0.1


def test_concurrency_is_bounded(backend):
    backend.fake.latency = 0.1
    out = backend.summarise(make_entries(9), gemini_concurrency=3)
    assert all(e.summary for e in out) and backend.fake.max_in_flight == 3


def test_result_fields_hold_a_figure_of_the_abstract_and_one_no_source_holds(backend):
    # For the claim checker (issue 20): the fake model copies one figure and invents another, as models do;
    # the summariser's check keeps the first and drops the second, whichever backend wrote them.
    paper = load_papers(6)[3]  # 2403.08764: "… over 800,000 …"
    [entry] = backend.summarise([Entry(paper=paper)], EN)
    dropped = " ".join(d.text for d in entry.dropped_claims)
    invented = [f for f in INVENTED if f in dropped]
    assert len(invented) == 1 and invented[0].split()[0].rstrip("%") not in paper.abstract
    assert {d.field for d in entry.dropped_claims} >= {"results", "conclusion.performance"}
    assert "800,000" in entry.summary.results and "800,000" in paper.abstract
    assert invented[0] not in entry.summary.results + entry.summary.conclusion.performance


def test_the_key_never_appears_in_outputs(backend, caplog):
    caplog.set_level(logging.DEBUG)
    backend.fake.script("2403.11589", backend.kind.error(503), backend.kind.text("{bad"), backend.kind.text("{bad"))
    out = backend.summarise(make_entries(3))
    key = backend.settings.api_key or backend.settings.openai_api_key
    sidecar = json.dumps([e.model_dump(mode="json") for e in out], ensure_ascii=False)
    files = "".join(p.read_text(encoding="utf-8") for p in backend.settings.cache_dir.rglob("*") if p.is_file())
    for text in (sidecar, files, caplog.text, repr(backend.settings)):
        assert not key or key not in text
    assert "unusable" in out[1].summary_note


def test_gemini_cache_keys_survive_the_split(tmp_path):
    # Caches written before there were other providers (Actions keeps one) stay valid: same key, same file.
    import hashlib

    from paperpress import llm
    from paperpress.config import Endpoint

    paper = load_papers(1)[0]
    prompt = llm.build_prompt(paper, Extras(), 6000)
    old = json.dumps([paper.versioned_id, "gemini-3.5-flash-lite", llm.PROMPT_VERSION, "zh", llm.hash_request("zh", prompt)])
    expected = tmp_path / "gemini" / f"{hashlib.sha256(old.encode()).hexdigest()[:40]}.json"
    assert llm.cache_path(tmp_path, paper, Endpoint("gemini", "gemini-3.5-flash-lite"), "zh", prompt) == expected
