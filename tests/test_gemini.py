"""The Gemini summariser against a loopback fake of the API, through the real google-genai SDK."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import replace
from importlib import resources
from pathlib import Path

import pytest

from paperpress import gemini
from paperpress.config import PaperpressError, Settings, Topic, load_settings
from paperpress.records import Affiliation, Entry, Extras, Paper, Summary
from paperpress.summarise import sum_usage, summarise_entries
from tests.fakes.gemini import FAKE_KEY, FakeGemini, derive_answer

ZH = Topic(slug="avatars", name="元宇宙/虚拟人", language="zh", query="avatar")
EN = Topic(slug="avatars-en", name="Avatars", language="en", query="avatar")


def load_papers(n: int) -> list[Paper]:
    """n papers: the seed day's six (real titles and abstracts), then made-up ones."""
    text = resources.files("paperpress.data").joinpath("seed-2024-04-01.jsonl").read_text(encoding="utf-8")
    papers = []
    for line in text.splitlines()[:n]:
        d = json.loads(line)
        papers.append(Paper(arxiv_id=d["arxiv_id"], version=d["version"], title=d["title"],
                            authors=tuple(d["authors"]), abstract=d["abstract"], comment=d.get("comment")))
    for i in range(len(papers), n):
        papers.append(Paper(arxiv_id=f"2404.{i:05d}", version="v1", title=f"Avatar Paper Number {i}",
                            authors=("A. Author",), abstract=f"We propose method {i}. It works. Experiments agree."))
    return papers


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


@pytest.fixture
def fake():
    """A fake Gemini with no latency and no rate limit."""
    with FakeGemini() as server:
        yield server


@pytest.fixture
def settings(fake: FakeGemini, tmp_path: Path) -> Settings:
    """Settings pointing at the fake, with every wait scaled down for fast tests."""
    return Settings(gemini_base_url=fake.url, api_key=FAKE_KEY, cache_dir=tmp_path / "cache", gemini_rpm=0,
                    gemini_tpm=0, gemini_timeout_s=5.0, gemini_backoff_s=0.01, gemini_retry_scale=0.02,
                    gemini_max_wait_s=5.0, gemini_retries=3)


def test_schema_valid_answers_become_grounded_summaries(fake, settings):
    entries = make_entries(3)
    out = summarise_entries(entries, ZH, settings, "gemini")
    assert [e.paper for e in out] == [e.paper for e in entries]  # same order, facts untouched
    assert all(isinstance(e.summary, Summary) and e.summary_note == "" for e in out)
    assert all(e.summary.title_translation and any("\u4e00" <= ch <= "\u9fff" for ch in e.summary.tldr) for e in out)
    assert all(e.usage.total_tokens == e.usage.prompt_tokens + e.usage.output_tokens > 0 for e in out)
    assert sum_usage(out).total_tokens == sum(e.usage.total_tokens for e in out)
    # Code link copied from the abstract is kept; method names map to the vocabulary.
    assert out[0].summary.code_url == "https://github.com/ICTMCG/Make-Your-Anchor"
    assert "diffusion" in out[0].summary.methods
    request = fake.requests[0]
    assert request.path == f"/v1/models/{settings.gemini_model}:generateContent"
    assert request.api_key == FAKE_KEY
    config = request.body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert set(config["responseJsonSchema"]["properties"]) == set(Summary.model_fields)


def test_english_topic_drops_title_translation(fake, settings):
    fake.script("2403.16510", FakeGemini.answer(good_answer(tldr="An anchor video system.", title_translation="x")))
    [entry] = summarise_entries(make_entries(1), EN, settings, "gemini")
    assert entry.summary.tldr == "An anchor video system." and entry.summary.title_translation == ""
    assert "title_translation" not in fake.requests[0].body["generationConfig"]["responseJsonSchema"]["properties"]


def test_schema_hints_cover_summary_fields():
    schema = gemini.build_schema("zh")
    assert set(schema["properties"]) == set(Summary.model_fields)
    assert schema["properties"]["key_takeaways"]["maxItems"] == 7
    assert schema["properties"]["conclusion"]["properties"]["workload"]["maxLength"] == 400
    assert "$ref" not in json.dumps(schema) and all("description" in p for p in schema["properties"].values())


def test_made_up_affiliation_and_link_are_dropped(fake, settings):
    first_page = "Make-Your-Anchor\nZiyao  Huang\nInstitute of Computing Technology,\nChinese Academy of Sciences"
    answer = good_answer(
        affiliations=["institute of computing technology, chinese academy of sciences", "Stanford University", "ETH Zürich"],
        code_url="https://github.com/made-up/repo",
    )
    fake.script("2403.16510", FakeGemini.answer(answer))
    entry = Entry(paper=load_papers(1)[0], extras=Extras(
        first_page=first_page, affiliations=(Affiliation(name="ETH Zürich", source="openalex"),)))
    [out] = summarise_entries([entry], ZH, settings, "gemini")
    assert out.summary.affiliations == ["institute of computing technology, chinese academy of sciences", "ETH Zürich"]
    assert out.summary.code_url == ""


def test_invalid_json_then_valid_answer(fake, settings):
    fake.script("2403.16510", FakeGemini.text('{"tldr": "unfinished'), FakeGemini.answer(good_answer()))
    [entry] = summarise_entries(make_entries(1), ZH, settings, "gemini")
    assert entry.summary is not None and len(fake.requests) == 2
    assert "previous answer was rejected" in fake.requests[1].prompt and "not valid JSON" in fake.requests[1].prompt
    spent = [max(1, len(r.system + r.prompt) // 4) for r in fake.requests]
    assert entry.usage.prompt_tokens == sum(spent)  # both calls counted


def test_invalid_twice_gets_a_note_and_a_rerun_fills_the_gap(fake, settings):
    fake.script("2403.16510", FakeGemini.text("not json"), FakeGemini.answer({"tldr": "x", "key_takeaways": []}))
    first = summarise_entries(make_entries(2), ZH, settings, "gemini")
    assert first[0].summary is None and "unusable answer twice" in first[0].summary_note
    assert first[0].usage.total_tokens > 0  # tokens spent on failures are still counted
    assert first[1].summary is not None
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


def test_429_waits_for_retry_delay(fake, settings):
    fake.script("2403.16510", FakeGemini.error(429, retry_delay="5s"))  # x 0.02 scale = 0.1 s
    [entry] = summarise_entries(make_entries(1), ZH, settings, "gemini")
    first, second = fake.requests
    assert first.status == 429 and second.status == 200 and entry.summary is not None
    assert second.started - first.started >= 0.1


def test_429_longer_than_max_wait_gives_up(fake, settings):
    fake.script("2403.16510", FakeGemini.error(429, retry_delay="3600s"))
    [entry] = summarise_entries(make_entries(1), ZH, replace(settings, gemini_retry_scale=1.0), "gemini")
    assert entry.summary is None and "quota exhausted" in entry.summary_note and len(fake.requests) == 1


def test_5xx_then_success(fake, settings):
    fake.script("2403.16510", FakeGemini.error(503), FakeGemini.error(500))
    [entry] = summarise_entries(make_entries(1), ZH, settings, "gemini")
    assert entry.summary is not None and [r.status for r in fake.requests] == [503, 500, 200]


def test_5xx_forever_gives_a_note(fake, settings):
    fake.script("2403.16510", *[FakeGemini.error(503)] * 4)
    [entry] = summarise_entries(make_entries(1), ZH, settings, "gemini")
    assert entry.summary is None and entry.summary_note == "Gemini failed after 4 tries (HTTP 503)"


def test_unknown_model_stops_the_run(fake, settings):
    fake.queue(FakeGemini.error(404))
    out = summarise_entries(make_entries(3), ZH, replace(settings, gemini_concurrency=1), "gemini", model="no-such")
    assert all(e.summary is None and "model 'no-such' not found" in e.summary_note for e in out)
    assert len(fake.requests) == 1 and fake.requests[0].model == "no-such"


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


def test_cache_is_grounded_again_with_todays_extras(fake, settings):
    fake.script("2403.16510", FakeGemini.answer(good_answer(affiliations=["Tsinghua University"])))
    [bare] = summarise_entries(make_entries(1), ZH, settings, "gemini")
    [rich] = summarise_entries(make_entries(1, first_page="Tsinghua University"), ZH, settings, "gemini")
    assert bare.summary.affiliations == [] and rich.summary.affiliations == ["Tsinghua University"]


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
    with FakeGemini(rpm=6, window=0.5) as fake:
        settings = Settings(gemini_base_url=fake.url, api_key=FAKE_KEY, cache_dir=tmp_path, gemini_rpm=600,
                            gemini_tpm=0, gemini_concurrency=8, gemini_backoff_s=0.01, gemini_retry_scale=1.0)
        out = summarise_entries(make_entries(10), ZH, settings, "gemini")
    starts = sorted(r.started for r in fake.requests)
    assert all(e.summary for e in out) and len(starts) == 10 and fake.count(429) == 0
    assert starts[-1] - starts[0] >= 0.85  # 9 gaps of 0.105 s: paced, not a burst
    assert max(sum(1 for t in starts if s <= t < s + 0.5) for s in starts) <= 5


def test_token_limiter_waits_for_the_window():
    now = [100.0]
    limiter = gemini.RateLimiter(rpm=0, tpm=1000, period=60.0, clock=lambda: now[0])
    limiter.tpm = 1000  # no safety margin here: exact arithmetic
    limiter.spent.extend([[50.0, 400.0], [70.0, 500.0]])
    assert limiter.token_wait(100.0, 100) == 0.0  # 900 + 100 fits
    assert limiter.token_wait(100.0, 300) == pytest.approx(10.0)  # after the first leaves at 110
    assert limiter.token_wait(100.0, 700) == pytest.approx(30.0)  # after both leave
    assert limiter.token_wait(100.0, 5000) == pytest.approx(30.0)  # too big: alone, once the window is empty


def test_limiter_pause_delays_everyone():
    async def scenario() -> float:
        limiter = gemini.RateLimiter(rpm=0, tpm=0)
        limiter.pause(0.05)
        start = time.monotonic()
        await limiter.acquire(10)
        return time.monotonic() - start

    assert asyncio.run(scenario()) >= 0.045


def test_works_inside_a_running_event_loop(fake, settings):
    # A Jupyter kernel (papermill) runs cells inside an event loop: asyncio.run would refuse there.
    async def cell() -> list[Entry]:
        return summarise_entries(make_entries(2), ZH, settings, "gemini")

    out = asyncio.run(cell())
    assert all(e.summary for e in out)


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
    with FakeGemini() as fake:
        settings = load_settings({"GEMINI_API_KEY": key, "GOOGLE_GEMINI_BASE_URL": fake.url,
                                  "PAPERPRESS_CACHE_DIR": str(tmp_path / "cache"), "PAPERPRESS_GEMINI_RPM": "0",
                                  "PAPERPRESS_GEMINI_BACKOFF": "0.01"}, dotenv=tmp_path / "none.env")
        fake.script("2403.16510", FakeGemini.blocked())
        fake.script("2403.11589", FakeGemini.error(503), FakeGemini.text("{bad"), FakeGemini.text("{bad"))
        out = summarise_entries(make_entries(4), ZH, settings, "gemini")
        with FakeGemini(api_key="the-right-key") as strict:  # a rejected key must not be echoed either
            rejected = summarise_entries(make_entries(1), EN, replace(settings, gemini_base_url=strict.url), "gemini")
    assert fake.requests[0].api_key == key  # it was sent, in the header
    assert rejected[0].summary is None and "rejected the API key" in rejected[0].summary_note
    sidecar = json.dumps([e.model_dump(mode="json") for e in out + rejected], ensure_ascii=False)
    cached = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "cache").rglob("*") if p.is_file())
    for text in (sidecar, cached, caplog.text, repr(settings), str(settings)):
        assert key not in text
    assert "SAFETY" in out[0].summary_note and "unusable" in out[1].summary_note


def test_settings_read_gemini_limits_from_env(tmp_path):
    settings = load_settings({"PAPERPRESS_GEMINI_RPM": "60", "PAPERPRESS_GEMINI_TPM": "1000",
                              "PAPERPRESS_GEMINI_CONCURRENCY": "2", "PAPERPRESS_GEMINI_RETRY_SCALE": "0.5"},
                             dotenv=tmp_path / "none.env")
    assert (settings.gemini_rpm, settings.gemini_tpm, settings.gemini_concurrency, settings.gemini_retry_scale) == (60, 1000, 2, 0.5)
    with pytest.raises(PaperpressError, match="PAPERPRESS_GEMINI_RPM"):
        load_settings({"PAPERPRESS_GEMINI_RPM": "fast"}, dotenv=tmp_path / "none.env")


def test_fake_default_answers_are_schema_valid():
    for language in ("zh", "en"):
        system = gemini.build_instructions(language)
        for paper in load_papers(5):
            answer = derive_answer(gemini.build_prompt(paper, Extras(), 6000), system)
            summary = gemini.read_answer_text(json.dumps(answer), language)
            assert bool(summary.title_translation) == (language == "zh")


def test_timeout_then_success(fake, settings):
    fake.script("2403.16510", FakeGemini.slow(1.0))
    [entry] = summarise_entries(make_entries(1), ZH, replace(settings, gemini_timeout_s=0.2), "gemini")
    assert entry.summary is not None and len(fake.requests) == 2


def test_daily_quota_stops_the_run(fake, settings):
    fake.queue(FakeGemini.error(429, retry_delay="20s", daily=True))
    out = summarise_entries(make_entries(3), ZH, replace(settings, gemini_concurrency=1), "gemini")
    assert all(e.summary is None and e.summary_note == "daily Gemini quota exhausted (HTTP 429)" for e in out)
    assert len(fake.requests) == 1


def test_fake_env_points_settings_at_the_fake(fake, tmp_path):
    settings = load_settings({**fake.env(), "PAPERPRESS_CACHE_DIR": str(tmp_path)}, dotenv=tmp_path / "none.env")
    assert settings.gemini_base_url == fake.url and settings.api_key == FAKE_KEY and settings.gemini_rpm == 0
    [entry] = summarise_entries(make_entries(1), EN, settings, "gemini")
    assert entry.summary is not None and entry.summary.tldr.startswith("The paper presents")


def test_tokens_of_a_rejected_answer_count_when_the_retry_fails(fake, settings):
    fake.script("2403.16510", FakeGemini.text("{oops"), FakeGemini.blocked("RECITATION"))
    [entry] = summarise_entries(make_entries(1), ZH, settings, "gemini")
    assert entry.summary is None and "RECITATION" in entry.summary_note and entry.usage.prompt_tokens > 0
