"""The Gemini summariser against a loopback fake of the API, through the real google-genai SDK.

The fake answers from the facts of the papers it is told about (tests.fakes.gemini), as a model would.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import replace
from importlib import resources
from pathlib import Path

import pytest

from paperpress import backend_gemini, llm, llm_run, ratelimit
from paperpress.config import PaperpressError, Settings, Topic, load_settings
from paperpress.records import Affiliation, Entry, Extras, Paper, Summary, Usage
from paperpress.summarise import sum_usage, summarise_entries
from tests.fakes.gemini import FAKE_KEY, FakeGemini, FakePaper, FakeRequest, compose_answer, count_tokens

ROOT = Path(__file__).resolve().parents[1]
ZH = Topic(slug="avatars", name="元宇宙/虚拟人", language="zh", query="avatar")
EN = Topic(slug="avatars-en", name="Avatars", language="en", query="avatar")
ICT = "Institute of Computing Technology, Chinese Academy of Sciences"


def load_papers(n: int) -> list[Paper]:
    """n papers: the seed day's six (real titles and abstracts), then made-up ones."""
    text = resources.files("paperpress.data").joinpath("metaverse-avatars.jsonl").read_text(encoding="utf-8")
    papers = []
    for d in [d for d in map(json.loads, text.splitlines()) if d["listed_on"] == "2024-04-01"][:n]:
        papers.append(Paper(arxiv_id=d["arxiv_id"], version=d["version"], title=d["title"],
                            authors=tuple(d["authors"]), abstract=d["abstract"], comment=d.get("comment")))
    for i in range(len(papers), n):
        papers.append(Paper(arxiv_id=f"2404.{i:05d}", version="v1", title=f"Avatar Paper Number {i}",
                            authors=("A. Author",), abstract=f"We propose method {i}. It works. Experiments agree."))
    return papers


def facts_of(papers: list[Paper], **facts) -> list[FakePaper]:
    """What the fake model knows of these papers: their titles and abstracts (and any facts given)."""
    return [FakePaper(p.arxiv_id, p.title, p.abstract, **facts) for p in papers]


def make_entries(n: int, first_page: str = "") -> list[Entry]:
    """Entries for the first n seed papers, with an optional first page."""
    return [Entry(paper=p, extras=Extras(first_page=first_page)) for p in load_papers(n)]


def good_answer(**changes: object) -> dict:
    """A schema-valid Chinese answer, with some fields changed."""
    answer = {
        "tldr": "本文提出一种基于扩散模型的主播视频生成系统。",
        "key_takeaways": ["提出结构引导扩散模型。", "采用两阶段训练策略。", "提出批量重叠时间去噪模块。"],
        "title_translation": "Make-Your-Anchor：基于扩散的二维虚拟形象生成框架",
        "keywords": ["虚拟形象生成", "扩散模型"], "affiliations": [], "code_url": "",
        "background": "背景。", "prior_work": "以往方法。", "method": "方法。", "results": "结果。",
        "methods": ["diffusion model", "U-Net"],
        "conclusion": {"significance": "意义。", "innovation": "创新。", "performance": "性能。", "workload": "工作量。"},
    }
    answer.update(changes)
    return answer


def spent_prompt(requests: list[FakeRequest]) -> int:
    """Prompt tokens the fake counted for these requests."""
    return sum(count_tokens(r.system + r.prompt) for r in requests)


@pytest.fixture
def fake():
    """A fake Gemini that knows the test papers, with no latency and no rate limit."""
    with FakeGemini(papers=facts_of(load_papers(12))) as server:
        yield server


@pytest.fixture
def settings(fake: FakeGemini, tmp_path: Path) -> Settings:
    """Settings pointing at the fake, with every wait scaled down for fast tests."""
    return Settings(gemini_base_url=fake.url, api_key=FAKE_KEY, cache_dir=tmp_path / "cache", gemini_rpm=0,
                    gemini_tpm=0, gemini_timeout_s=5.0, gemini_backoff_s=0.01, gemini_retry_scale=0.02,
                    gemini_max_wait_s=5.0, gemini_retries=3)


# -- answers -------------------------------------------------------------------------------------


def test_schema_valid_answers_become_grounded_summaries(fake, settings):
    entries = make_entries(3)
    out = summarise_entries(entries, ZH, settings, "gemini")
    assert [e.paper for e in out] == [e.paper for e in entries]  # same order, facts untouched
    assert all(isinstance(e.summary, Summary) and e.summary_note == "" for e in out)
    assert all(e.summary.title_translation and any("\u4e00" <= ch <= "\u9fff" for ch in e.summary.tldr) for e in out)
    assert all(e.usage.total_tokens == e.usage.prompt_tokens + e.usage.output_tokens + e.usage.thought_tokens > 0
               for e in out)
    assert sum_usage(out) == Usage(**{k: sum(getattr(e.usage, k) for e in out) for k in Usage.model_fields})
    # The model's code link (from the paper's abstract) is kept; method names map to the vocabulary.
    assert out[0].summary.code_url == "https://github.com/ICTMCG/Make-Your-Anchor"
    assert "diffusion" in out[0].summary.methods
    request = fake.requests[0]
    assert request.path == f"/v1beta/models/{settings.gemini_model}:generateContent"
    assert request.api_key == FAKE_KEY
    assert request.config["responseMimeType"] == "application/json"
    assert set(request.config["responseJsonSchema"]["properties"]) == set(Summary.model_fields)


def test_english_topic_drops_title_translation(fake, settings):
    fake.script("2403.16510", FakeGemini.answer(good_answer(tldr="An anchor video system.", title_translation="x")))
    [entry] = summarise_entries(make_entries(1), EN, settings, "gemini")
    assert entry.summary.tldr == "An anchor video system." and entry.summary.title_translation == ""
    assert "title_translation" not in fake.requests[0].config["responseJsonSchema"]["properties"]


def test_schema_hints_cover_summary_fields():
    schema = llm.build_schema("zh")
    assert set(schema["properties"]) == set(Summary.model_fields)
    assert schema["properties"]["key_takeaways"]["maxItems"] == 7
    assert schema["properties"]["conclusion"]["properties"]["workload"]["maxLength"] == 400
    assert "$ref" not in json.dumps(schema) and all("description" in p for p in schema["properties"].values())


def test_made_up_affiliation_and_link_are_dropped(fake, settings):
    # The model read the first page (it reports ICT) but also makes up an institution and a repository.
    paper = load_papers(1)[0]
    fake.add_paper(paper.arxiv_id, paper.title, paper.abstract, affiliations=(ICT,), invented={
        "affiliations": [ICT.lower(), "Stanford University", "ETH Zürich"], "code_url": "https://github.com/made-up/repo"})
    entry = Entry(paper=paper, extras=Extras(
        first_page=f"Make-Your-Anchor\nZiyao  Huang\n{ICT}", affiliations=(Affiliation(name="ETH Zürich", source="openalex"),)))
    [out] = summarise_entries([entry], ZH, settings, "gemini")
    assert out.summary.affiliations == [ICT.lower(), "ETH Zürich"]  # on the first page, or known to OpenAlex
    assert out.summary.code_url == ""


def test_the_model_reports_affiliations_only_from_a_first_page_it_was_given(fake, settings):
    paper = load_papers(1)[0]
    fake.add_paper(paper.arxiv_id, paper.title, paper.abstract, affiliations=(ICT,))
    [bare] = summarise_entries([Entry(paper=paper)], ZH, settings, "gemini")
    [read] = summarise_entries([Entry(paper=paper, extras=Extras(first_page=f"Ziyao Huang\n{ICT}"))], ZH, settings, "gemini")
    assert bare.summary.affiliations == [] and read.summary.affiliations == [ICT]


def test_invalid_json_then_valid_answer(fake, settings):
    fake.script("2403.16510", FakeGemini.text('{"tldr": "unfinished'), FakeGemini.answer(good_answer()))
    [entry] = summarise_entries(make_entries(1), ZH, settings, "gemini")
    assert entry.summary is not None and len(fake.requests) == 2
    assert "previous answer was rejected" in fake.requests[1].prompt and "not valid JSON" in fake.requests[1].prompt
    assert entry.usage.prompt_tokens == spent_prompt(fake.requests)  # both calls counted


def test_invalid_twice_gets_a_note_and_a_rerun_fills_the_gap(fake, settings):
    # This model answers the first paper with too few key points, every time it is asked.
    first_paper = load_papers(1)[0]
    fake.add_paper(first_paper.arxiv_id, first_paper.title, first_paper.abstract,
                   answer=good_answer(key_takeaways=["只有一点。"]))
    first = summarise_entries(make_entries(2), ZH, settings, "gemini")
    assert first[0].summary is None and "unusable answer twice" in first[0].summary_note
    assert "key_takeaways" in first[0].summary_note
    assert first[0].usage.total_tokens > 0  # tokens spent on failures are still counted
    assert first[1].summary is not None
    fake.add_paper(first_paper.arxiv_id, first_paper.title, first_paper.abstract)  # a better day
    fake.reset()
    again = summarise_entries(make_entries(2), ZH, settings, "gemini")
    assert again[0].summary is not None and len(fake.requests) == 1  # only the gap was asked again


def test_echoed_instructions_are_rejected(fake, settings):
    echo = good_answer(tldr="Use only what the paper's text states; never invent names, numbers, affiliations or links")
    fake.script("2403.16510", FakeGemini.answer(echo), FakeGemini.answer(good_answer()))
    [entry] = summarise_entries(make_entries(1), ZH, settings, "gemini")
    assert entry.summary.tldr == good_answer()["tldr"] and len(fake.requests) == 2
    assert "repeats the instructions" in fake.requests[1].prompt


def test_english_answer_for_chinese_topic_is_retried(fake, settings):
    fake.script("2403.16510", FakeGemini.answer(good_answer(tldr="English.", key_takeaways=["a", "b", "c"])))
    [entry] = summarise_entries(make_entries(1), ZH, settings, "gemini")
    assert entry.summary is not None and "Simplified Chinese" in fake.requests[1].prompt


def test_safety_block_gives_a_note(fake, settings):
    fake.script("2403.16510", FakeGemini.blocked("SAFETY"))
    out = summarise_entries(make_entries(2), ZH, settings, "gemini")
    assert out[0].summary is None and out[0].summary_note == "answer blocked by Gemini (finish reason SAFETY)"
    assert out[1].summary is not None
    assert [r.arxiv_id for r in fake.requests].count("2403.16510") == 1  # a block is not retried


def test_blocked_prompt_gives_a_note(fake, settings):
    fake.script("2403.16510", FakeGemini.prompt_blocked("PROHIBITED_CONTENT"))
    out = summarise_entries(make_entries(2), ZH, settings, "gemini")
    assert out[0].summary is None and out[0].summary_note == "prompt blocked by Gemini (PROHIBITED_CONTENT)"
    assert out[1].summary is not None and [r.arxiv_id for r in fake.requests].count("2403.16510") == 1


def test_thought_parts_are_not_the_answer(fake, settings):
    # Thought summaries come back as parts marked thought when asked for; the answer is the other parts.
    from google.genai import types

    client = backend_gemini.make_client(settings)
    request = llm.Request(llm.build_instructions("zh"), llm.build_prompt(load_papers(1)[0], Extras(), 6000), llm.build_schema("zh"))
    config = backend_gemini.make_config(request, backend_gemini.pick_thinking("gemini-3.1-pro"))
    config.thinking_config = types.ThinkingConfig(thinking_level="LOW", include_thoughts=True)
    response = client.models.generate_content(model="gemini-3.1-pro", contents=request.prompt, config=config)
    assert [bool(p.thought) for p in response.candidates[0].content.parts] == [True, False]
    reply = backend_gemini.read_reply(response)
    assert llm.read_answer(reply, "zh", request.schema).tldr.startswith("本文提出了《Make-Your-Anchor")


def test_fake_answers_from_facts_are_schema_valid():
    for language in ("zh", "en"):
        system = llm.build_instructions(language)
        for paper in load_papers(6):
            request = FakeRequest("", "v1beta", "m", "", {}, llm.build_prompt(paper, Extras(), 6000), system, "", 0.0)
            answer = compose_answer(facts_of([paper])[0], request)
            summary = llm.read_answer_text(json.dumps(answer), language, llm.build_schema(language))  # lengths too
            assert bool(summary.title_translation) == (language == "zh")


def test_tokens_of_a_rejected_answer_count_when_the_retry_fails(fake, settings):
    fake.script("2403.16510", FakeGemini.text("{oops"), FakeGemini.blocked("RECITATION"))
    [entry] = summarise_entries(make_entries(1), ZH, settings, "gemini")
    assert entry.summary is None and "RECITATION" in entry.summary_note and entry.usage.prompt_tokens > 0


# -- API version and thinking ----------------------------------------------------------------------


def test_v1_refuses_our_fields_so_requests_go_to_v1beta(fake, settings):
    from google import genai
    from google.genai import errors, types

    v1 = genai.Client(api_key=FAKE_KEY, http_options=types.HttpOptions(base_url=fake.url, api_version="v1"))
    with pytest.raises(errors.ClientError) as info:
        request = llm.Request(llm.build_instructions("en"), "hi", llm.build_schema("en"))
        v1.models.generate_content(model="gemini-3.5-flash-lite", contents="hi", config=backend_gemini.make_config(request))
    assert info.value.code == 400 and 'Unknown name "systemInstruction": Cannot find field.' in info.value.message
    assert """Unknown name "responseMimeType" at 'generation_config'""" in info.value.message
    [entry] = summarise_entries(make_entries(1), ZH, settings, "gemini")
    assert entry.summary is not None and fake.requests[-1].version == "v1beta"


def test_lowest_thinking_each_model_family_accepts():
    pick, Thinking = backend_gemini.pick_thinking, backend_gemini.Thinking
    assert pick("gemini-3.5-flash-lite") == Thinking(level="MINIMAL") == pick("gemini-3.5-flash")
    assert pick("gemini-3.1-pro-preview") == Thinking(level="LOW") == pick("gemini-pro-latest")
    assert pick("gemini-2.5-flash") == Thinking(budget=0) == pick("gemini-2.5-flash-lite")
    assert pick("gemini-2.5-pro") == Thinking(budget=128)
    assert pick("gemini-2.0-flash") is None and pick("my-tuned-model") is None
    assert pick("gemini-3.5-flash", "high") == Thinking(level="HIGH") and pick("gemini-2.5-pro", "off") is None
    assert pick("gemini-2.5-pro", "512") == Thinking(budget=512)


@pytest.mark.parametrize("model", ["gemini-3.5-flash-lite", "gemini-3.1-pro-preview", "gemini-2.5-flash", "gemini-2.5-pro"])
def test_each_model_family_accepts_our_thinking_config(fake, settings, model):
    # The fake refuses a thinking config the model does not take (a level on 2.5, MINIMAL on a Pro, budget 0 on 2.5 Pro).
    [entry] = summarise_entries(make_entries(1), ZH, settings, "gemini", model=model)
    assert entry.summary is not None and [r.status for r in fake.requests] == [200]
    assert fake.requests[0].config["thinkingConfig"]


def test_thinking_is_kept_low_so_a_thinking_model_answers_at_once(fake, settings):
    # Unset, a 3.x Pro thinks "high" and spends its whole output limit before writing a word.
    [entry] = summarise_entries(make_entries(1), ZH, settings, "gemini", model="gemini-3.1-pro")
    [request] = fake.requests
    assert entry.summary is not None and request.config["thinkingConfig"] == {"thinkingLevel": "LOW"}
    assert entry.usage.thought_tokens == request.thoughts > 0  # recorded in the usage
    assert request.config["maxOutputTokens"] >= llm.ANSWER_TOKENS + backend_gemini.THINKING_ROOM


def test_empty_max_tokens_answer_is_asked_again_with_more_room(fake, settings):
    paper = load_papers(1)[0]
    fake.add_paper(paper.arxiv_id, paper.title, paper.abstract, thinks=7000)  # a hard paper: long thoughts at any level
    [entry] = summarise_entries([Entry(paper=paper)], ZH, settings, "gemini")
    first, second = fake.requests
    assert first.thoughts == first.config["maxOutputTokens"]  # all of it spent thinking: an empty MAX_TOKENS answer
    assert second.config["maxOutputTokens"] == 2 * first.config["maxOutputTokens"]  # not the same request
    assert entry.summary is not None and entry.usage.thought_tokens == first.thoughts + 7000


def test_out_of_room_twice_gives_a_note(fake, settings):
    paper = load_papers(1)[0]
    fake.add_paper(paper.arxiv_id, paper.title, paper.abstract, thinks=50_000)
    [entry] = summarise_entries([Entry(paper=paper)], ZH, settings, "gemini")
    assert entry.summary is None and "ran out of output tokens twice" in entry.summary_note and len(fake.requests) == 2


def test_usage_without_thought_tokens_still_reads():
    # Sidecars written before thought tokens were recorded.
    old = {"prompt_tokens": 10, "output_tokens": 5, "total_tokens": 15}
    assert Usage.model_validate(old).thought_tokens == 0
    entry = Entry.model_validate({"paper": load_papers(1)[0].model_dump(), "usage": old})
    assert entry.usage.total_tokens == 15


# -- errors --------------------------------------------------------------------------------------


def test_429_waits_for_retry_delay(fake, settings):
    fake.script("2403.16510", FakeGemini.quota("minute", retry_delay="5s"))  # x 0.02 scale = 0.1 s
    [entry] = summarise_entries(make_entries(1), ZH, settings, "gemini")
    first, second = fake.requests
    assert first.status == 429 and second.status == 200 and entry.summary is not None
    assert second.started - first.started >= 0.1


def test_429_longer_than_max_wait_names_the_quota(fake, settings):
    fake.script("2403.16510", FakeGemini.quota("tokens", retry_delay="3600s"))
    [entry] = summarise_entries(make_entries(1), ZH, replace(settings, gemini_retry_scale=1.0), "gemini")
    assert entry.summary is None and len(fake.requests) == 1
    assert "input tokens per minute (GenerateContentInputTokensPerModelPerMinute-FreeTier)" in entry.summary_note
    assert "Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_input_token_count" \
        in entry.summary_note  # the server's own words


def test_model_without_free_tier_stops_the_run(settings):
    with FakeGemini(no_free_tier={"gemini-3.1-pro"}) as fake:
        out = summarise_entries(make_entries(3), ZH, replace(settings, gemini_base_url=fake.url, gemini_concurrency=1),
                                "gemini", model="gemini-3.1-pro")
    assert len(fake.requests) == 1  # waiting cannot help: no retry, no other paper asked
    assert all("'gemini-3.1-pro' has no free-tier quota for this key (limit: 0" in e.summary_note for e in out)
    assert "limit: 0, model: gemini-3.1-pro" in out[0].summary_note  # the server's own words


def test_server_per_day_quota_stops_every_run_until_midnight_pacific(settings):
    with FakeGemini(rpd=1) as fake:
        settings = replace(settings, gemini_base_url=fake.url, gemini_concurrency=1)
        out = summarise_entries(make_entries(3), ZH, settings, "gemini")
        assert out[0].summary is not None and len(fake.requests) == 2
        assert all("per-day quota" in e.summary_note and "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
                   in e.summary_note and "midnight Pacific" in e.summary_note for e in out[1:])
        again = summarise_entries(make_entries(3), ZH, settings, "gemini")  # another run the same day
    assert len(fake.requests) == 2 and again[0].summary is not None and again[1].summary is None


def test_5xx_then_success(fake, settings):
    fake.script("2403.16510", FakeGemini.error(503), FakeGemini.error(500))
    [entry] = summarise_entries(make_entries(1), ZH, settings, "gemini")
    assert entry.summary is not None and [r.status for r in fake.requests] == [503, 500, 200]


def test_5xx_forever_gives_a_note(fake, settings):
    fake.script("2403.16510", *[FakeGemini.error(503)] * 4)
    [entry] = summarise_entries(make_entries(1), ZH, settings, "gemini")
    assert entry.summary is None and entry.summary_note == "Gemini failed after 4 tries (HTTP 503)"


def test_unknown_model_stops_the_run(settings):
    with FakeGemini(models={"gemini-3.5-flash-lite"}) as fake:
        out = summarise_entries(make_entries(3), ZH, replace(settings, gemini_base_url=fake.url, gemini_concurrency=1),
                                "gemini", model="no-such")
    assert all(e.summary is None and "model 'no-such' not found" in e.summary_note for e in out)
    assert "models/no-such is not found for API version v1beta" in out[0].summary_note  # the server's own words
    assert len(fake.requests) == 1 and fake.requests[0].model == "no-such"


@pytest.mark.parametrize("reply, words", [
    (FakeGemini.service_disabled(), ["SERVICE_DISABLED", "Generative Language API has not been used in project"]),
    (FakeGemini.location_unsupported(), ["FAILED_PRECONDITION", "User location is not supported for the API use."]),
])
def test_refusal_every_call_would_repeat_stops_the_run(fake, settings, reply, words):
    fake.queue(reply)
    out = summarise_entries(make_entries(3), ZH, replace(settings, gemini_concurrency=1), "gemini")
    assert len(fake.requests) == 1
    assert all(e.summary is None and all(w in e.summary_note for w in words) for e in out)


def test_thinking_setting_the_model_refuses_stops_the_run(fake, settings):
    out = summarise_entries(make_entries(3), ZH, replace(settings, gemini_concurrency=1, gemini_thinking="minimal"),
                            "gemini", model="gemini-3.1-pro")
    assert len(fake.requests) == 1
    assert all("Thinking level MINIMAL is not supported for this model." in e.summary_note for e in out)


def test_other_400_fails_only_that_paper_with_the_servers_message(fake, settings):
    fake.script("2403.16510", FakeGemini.error(400))
    out = summarise_entries(make_entries(2), ZH, replace(settings, gemini_concurrency=1), "gemini")
    assert out[0].summary_note == "Gemini refused the request (HTTP 400 INVALID_ARGUMENT: Request contains an invalid argument.)"
    assert out[1].summary is not None and len(fake.requests) == 2


def test_server_message_is_one_line_without_a_key():
    key = "AIza" + "B" * 35

    class Error:
        message = f"Bad key {key}\n and secret-key-123456 here"
        details: dict = {}

    assert backend_gemini.server_message(Error(), "secret-key-123456") == "Bad key [key] and [key] here"


# -- cache ---------------------------------------------------------------------------------------


def test_model_precedence(fake, settings):
    topic = ZH.model_copy(update={"model": "topic-model"})
    summarise_entries(make_entries(1), topic, settings, "gemini")
    summarise_entries(make_entries(1), topic, settings, "gemini", model="cli-model")
    summarise_entries(make_entries(1), ZH, replace(settings, gemini_model="settings-model"), "gemini")
    assert [r.model for r in fake.requests] == ["topic-model", "cli-model", "settings-model"]


def test_rerun_hits_the_cache(fake, settings):
    entries = make_entries(4)
    first = summarise_entries(entries, ZH, settings, "gemini")
    assert len(fake.requests) == 4
    fake.reset()
    again = summarise_entries(entries, ZH, settings, "gemini")
    assert fake.requests == [] and again == first  # zero calls; usage restored from the cache
    files = list((settings.cache_dir / "gemini").iterdir())
    assert len(files) == 4 and all(f.suffix == ".json" and not f.name.startswith(".tmp") for f in files)
    # Another language, model or paper version is another cache entry.
    summarise_entries(entries[:1], EN, settings, "gemini")
    v2 = entries[0].model_copy(update={"paper": entries[0].paper.model_copy(update={"version": "v2"})})
    summarise_entries([v2], ZH, settings, "gemini")
    assert len(fake.requests) == 2


def test_pdf_text_that_arrives_later_is_asked_again(fake, settings):
    # Summarised while the PDF was unavailable; once its text is there, the richer prompt is a new question.
    paper = load_papers(1)[0]
    fake.add_paper(paper.arxiv_id, paper.title, paper.abstract, affiliations=(ICT,))
    [thin] = summarise_entries([Entry(paper=paper)], ZH, settings, "gemini")
    with_pdf = Entry(paper=paper, extras=Extras(pdf_status="ok", first_page=f"Ziyao Huang\n{ICT}"))
    [rich] = summarise_entries([with_pdf], ZH, settings, "gemini")
    [again] = summarise_entries([with_pdf], ZH, settings, "gemini")
    assert len(fake.requests) == 2 and "First page:" in fake.requests[1].prompt
    assert thin.summary.affiliations == [] and rich.summary.affiliations == again.summary.affiliations == [ICT]


def test_cache_is_grounded_again_with_todays_extras(fake, settings):
    paper = load_papers(1)[0]
    fake.add_paper(paper.arxiv_id, paper.title, paper.abstract, invented={"affiliations": ["Tsinghua University"]})
    [bare] = summarise_entries([Entry(paper=paper)], ZH, settings, "gemini")
    known = Extras(affiliations=(Affiliation(name="Tsinghua University", source="openalex"),))  # not in the prompt
    [rich] = summarise_entries([Entry(paper=paper, extras=known)], ZH, settings, "gemini")
    assert len(fake.requests) == 1  # the same prompt: answered from the cache
    assert bare.summary.affiliations == [] and rich.summary.affiliations == ["Tsinghua University"]


# -- pacing --------------------------------------------------------------------------------------


def test_concurrency_is_bounded(fake, settings):
    fake.latency = 0.1
    start = time.monotonic()
    out = summarise_entries(make_entries(9), ZH, replace(settings, gemini_concurrency=3), "gemini")
    elapsed = time.monotonic() - start
    assert all(e.summary for e in out)
    assert fake.max_in_flight == 3  # reached, never exceeded
    assert elapsed >= 0.3  # three waves of 0.1 s (no upper bound: a loaded machine is slow)


def test_requests_are_paced_under_the_rpm_limit(tmp_path):
    # 600 rpm: one request per 0.105 s (95 % of the limit); the fake answers 429 above 6 in any 0.5 s.
    with FakeGemini(rpm=6, window=0.5, papers=facts_of(load_papers(10))) as fake:
        settings = Settings(gemini_base_url=fake.url, api_key=FAKE_KEY, cache_dir=tmp_path, gemini_rpm=600,
                            gemini_tpm=0, gemini_concurrency=8, gemini_backoff_s=0.01, gemini_retry_scale=1.0)
        out = summarise_entries(make_entries(10), ZH, settings, "gemini")
    starts = sorted(r.started for r in fake.requests)
    assert all(e.summary for e in out) and len(starts) == 10 and fake.count(429) == 0
    assert starts[-1] - starts[0] >= 0.85  # 9 gaps of 0.105 s: paced, not a burst
    # Sent evenly (the limiter's grants; arrivals at the fake jitter on a loaded machine).
    assert min_gap(granted(tmp_path, settings.gemini_model), 10) >= 60 / (600 * ratelimit.RATE_MARGIN) - 1e-6


def granted(cache_dir: Path, model: str) -> list[float]:
    """When the shared limiter let each request of the last minute go (wall clock, sorted)."""
    state = json.loads(llm_run.limits_file(Settings(cache_dir=cache_dir), model).read_text(encoding="utf-8"))
    return sorted(r[0] for r in state["spent"])


def min_gap(times: list[float], count: int) -> float:
    """The shortest gap between `count` times (fails if there are not that many)."""
    assert len(times) == count
    return min(b - a for a, b in zip(times, times[1:]))


PROCESS = """
import json, sys, time
from paperpress.config import Settings
from paperpress.summarise import summarise_entries
from tests.test_gemini import ZH, make_entries
url, cache, first, count, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
settings = Settings(gemini_base_url=url, api_key="FAKE-GEMINI-KEY-0000-do-not-leak", cache_dir=cache, gemini_rpm=480,
                    gemini_tpm=0, gemini_concurrency=8, gemini_backoff_s=0.01, gemini_retry_scale=1.0)
time.sleep(max(0.0, start - time.time()))  # both processes start asking together, whatever their import time
out = summarise_entries(make_entries(first + count)[first:], ZH, settings, "gemini")
print(json.dumps([e.summary is not None for e in out]))
"""


def test_the_rpm_limit_holds_across_processes(tmp_path):
    # backfill --jobs 2: two processes, one key. Each alone keeps 480 rpm (about 4 per 0.5 s); together,
    # unless they share the limit through the cache folder, they send twice that, over the fake's 6.
    start = time.time() + 6
    with FakeGemini(rpm=6, window=0.5, papers=facts_of(load_papers(20))) as fake:
        procs = [subprocess.Popen([sys.executable, "-c", PROCESS, fake.url, str(tmp_path), str(10 * i), "10",
                                   str(start)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)}) for i in range(2)]
        results = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert [p.returncode for p in procs] == [0, 0] and all(all(r) for r in results)
    assert fake.count(200) == 20 and fake.count(429) == 0
    # One queue for both: the grants of the two processes are spaced as one process's would be.
    assert min_gap(granted(tmp_path, Settings().gemini_model), 20) >= 60 / (480 * ratelimit.RATE_MARGIN) - 1e-6


def test_token_limiter_waits_for_the_window():
    spent = [[50.0, 400.0, "a"], [70.0, 500.0, "b"]]
    assert ratelimit.token_wait(spent, 100.0, 100, 1000, 60.0) == 0.0  # 900 + 100 fits
    assert ratelimit.token_wait(spent, 100.0, 300, 1000, 60.0) == pytest.approx(10.0)  # after the first leaves at 110
    assert ratelimit.token_wait(spent, 100.0, 700, 1000, 60.0) == pytest.approx(30.0)  # after both leave
    assert ratelimit.token_wait(spent, 100.0, 5000, 1000, 60.0) == pytest.approx(30.0)  # too big: alone, once empty


def test_limiter_pause_delays_everyone(tmp_path):
    async def scenario() -> float:
        limiter = ratelimit.RateLimiter(rpm=0, tpm=0, shared=tmp_path / "limits.json")
        ratelimit.RateLimiter(rpm=0, tpm=0, shared=tmp_path / "limits.json").pause(0.05)  # another run's 429
        start = time.monotonic()
        await limiter.acquire(10)
        return time.monotonic() - start

    assert asyncio.run(scenario()) >= 0.045


def test_an_unwritable_cache_folder_paces_alone(tmp_path, caplog):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    limiter = ratelimit.RateLimiter(rpm=0, tpm=0, rpd=1, shared=blocked / "limits.json")
    asyncio.run(limiter.acquire(1))  # the run goes on, limited in memory
    with pytest.raises(ratelimit.BudgetSpent):
        asyncio.run(limiter.acquire(1))
    assert "cannot share Gemini limits" in caplog.text


def test_daily_budget_resets_at_midnight_pacific(tmp_path):
    # 07:59 and 08:01 UTC on 2024-01-15 are the same UTC day but 23:59 and 00:01 Pacific (PST, UTC-8).
    now = [dt.datetime(2024, 1, 15, 7, 59, tzinfo=dt.timezone.utc).timestamp()]
    limiter = ratelimit.RateLimiter(rpm=0, tpm=0, rpd=1, clock=lambda: now[0], shared=tmp_path / "limits.json")
    asyncio.run(limiter.acquire(1))
    with pytest.raises(ratelimit.BudgetSpent, match="PAPERPRESS_GEMINI_RPD"):
        asyncio.run(limiter.acquire(1))
    now[0] += 120
    asyncio.run(limiter.acquire(1))


def test_daily_budget_leaves_notes_and_a_later_run_fills_them(fake, settings):
    budget = replace(settings, gemini_rpd=2, gemini_concurrency=1)
    first = summarise_entries(make_entries(4), ZH, budget, "gemini")
    assert [e.summary is not None for e in first] == [True, True, False, False] and len(fake.requests) == 2
    assert all("daily budget of 2 Gemini requests" in e.summary_note and "rerun" in e.summary_note for e in first[2:])
    same_day = summarise_entries(make_entries(4), ZH, budget, "gemini")  # another process, same cache folder
    assert len(fake.requests) == 2 and same_day[2].summary is None
    filled = summarise_entries(make_entries(4), ZH, replace(budget, gemini_rpd=4), "gemini")  # e.g. the next day
    assert all(e.summary for e in filled) and len(fake.requests) == 4


def test_works_inside_a_running_event_loop(fake, settings):
    # A Jupyter kernel (papermill) runs cells inside an event loop: asyncio.run would refuse there.
    async def cell() -> list[Entry]:
        return summarise_entries(make_entries(2), ZH, settings, "gemini")

    out = asyncio.run(cell())
    assert all(e.summary for e in out)


def test_timeout_then_success(fake, settings):
    fake.script("2403.16510", FakeGemini.slow(1.0))
    [entry] = summarise_entries(make_entries(1), ZH, replace(settings, gemini_timeout_s=0.2), "gemini")
    assert entry.summary is not None and len(fake.requests) == 2


# -- prompt, key and settings ----------------------------------------------------------------------


def test_pdf_text_is_sent_within_budget(fake, settings):
    extras = Extras(first_page="Tsinghua University " + "word " * 5000, intro="1. Introduction " + "more " * 5000)
    entry = Entry(paper=load_papers(1)[0], extras=extras)
    summarise_entries([entry], ZH, replace(settings, gemini_input_tokens=1000), "gemini")
    prompt = fake.requests[0].prompt
    assert "First page: Tsinghua University" in prompt and "Introduction (start): 1. Introduction" in prompt
    assert 3000 <= len(prompt) <= 1000 * 4 + 100


def test_no_key_fails_before_any_work(fake, settings):
    no_key = replace(settings, api_key="")
    with pytest.raises(PaperpressError, match="GEMINI_API_KEY") as info:
        summarise_entries(make_entries(2), ZH, no_key, "gemini")
    assert "\n" not in str(info.value)
    assert fake.requests == [] and not settings.cache_dir.exists()


def test_the_key_never_appears_in_outputs(tmp_path, caplog):
    key = "FAKE-RECOGNISABLE-GEMINI-KEY-1234567"
    caplog.set_level(logging.DEBUG)
    with FakeGemini(papers=facts_of(load_papers(4))) as fake:
        settings = load_settings({"GEMINI_API_KEY": key, "GOOGLE_GEMINI_BASE_URL": fake.url,
                                  "PAPERPRESS_CACHE_DIR": str(tmp_path / "cache"), "PAPERPRESS_GEMINI_RPM": "0",
                                  "PAPERPRESS_GEMINI_BACKOFF": "0.01"}, dotenv=tmp_path / "none.env")
        fake.script("2403.16510", FakeGemini.blocked())
        fake.script("2403.11589", FakeGemini.error(503), FakeGemini.text("{bad"), FakeGemini.text("{bad"))
        out = summarise_entries(make_entries(4), ZH, settings, "gemini")
        # A rejected key comes back in the error's DebugInfo: it must not be echoed either.
        with FakeGemini(api_key="the-right-key") as strict:
            rejected = summarise_entries(make_entries(1), EN, replace(settings, gemini_base_url=strict.url), "gemini")
    assert fake.requests[0].api_key == key  # it was sent, in the header
    assert rejected[0].summary is None and "rejected the API key" in rejected[0].summary_note
    assert "API key not valid. Please pass a valid API key." in rejected[0].summary_note  # the server's words
    sidecar = json.dumps([e.model_dump(mode="json") for e in out + rejected], ensure_ascii=False)
    files = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "cache").rglob("*") if p.is_file())
    for text in (sidecar, files, caplog.text, repr(settings), str(settings)):
        assert key not in text
    assert "SAFETY" in out[0].summary_note and "unusable" in out[1].summary_note


def test_settings_read_gemini_limits_from_env(tmp_path):
    settings = load_settings({"PAPERPRESS_GEMINI_RPM": "60", "PAPERPRESS_GEMINI_TPM": "1000",
                              "PAPERPRESS_GEMINI_CONCURRENCY": "2", "PAPERPRESS_GEMINI_RETRY_SCALE": "0.5",
                              "PAPERPRESS_GEMINI_RPD": "250", "PAPERPRESS_GEMINI_THINKING": "Low"},
                             dotenv=tmp_path / "none.env")
    assert (settings.gemini_rpm, settings.gemini_tpm, settings.gemini_concurrency, settings.gemini_retry_scale) == (60, 1000, 2, 0.5)
    assert (settings.gemini_rpd, settings.gemini_thinking) == (250, "low")
    assert load_settings({}, dotenv=tmp_path / "none.env").gemini_thinking == "auto"
    with pytest.raises(PaperpressError, match="PAPERPRESS_GEMINI_RPM"):
        load_settings({"PAPERPRESS_GEMINI_RPM": "fast"}, dotenv=tmp_path / "none.env")
    with pytest.raises(PaperpressError, match="PAPERPRESS_GEMINI_THINKING"):
        load_settings({"PAPERPRESS_GEMINI_THINKING": "lots"}, dotenv=tmp_path / "none.env")


def test_fake_env_points_settings_at_the_fake(fake, tmp_path):
    settings = load_settings({**fake.env(), "PAPERPRESS_CACHE_DIR": str(tmp_path)}, dotenv=tmp_path / "none.env")
    assert settings.gemini_base_url == fake.url and settings.api_key == FAKE_KEY and settings.gemini_rpm == 0
    [entry] = summarise_entries(make_entries(1), EN, settings, "gemini")
    assert entry.summary is not None and entry.summary.tldr.startswith("Despite the remarkable process")
