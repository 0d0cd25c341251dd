"""The OpenAI-compatible backend's own behaviour: what it sends, how each kind of server answers, and the model setting."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from paperpress import llm, llm_run, ratelimit
from paperpress.backend_openai import OpenAIBackend, read_limits, read_retry_after
from paperpress.config import DEFAULT_OPENAI_BASE_URL, PaperpressError, Settings, Topic, load_settings, parse_model, resolve_endpoint
from paperpress.post import summariser_label
from paperpress.records import Digest, Entry
from paperpress.summarise import summarise_entries
from tests.fakes.openai_compat import FAKE_OPENAI_KEY, FakeOpenAI, check_strict
from tests.test_gemini import EN, ZH, facts_of, good_answer, load_papers, make_entries

MODEL = "openai:fake-model"


def settings_for(fake: FakeOpenAI, tmp_path: Path, **changes) -> Settings:
    """Settings pointing at the fake (its key, if it wants one), every wait scaled down."""
    base = Settings(openai_base_url=fake.url, openai_api_key=fake.api_key or "", cache_dir=tmp_path / "cache",
                    gemini_timeout_s=5.0, gemini_backoff_s=0.01, gemini_retry_scale=0.02, gemini_max_wait_s=5.0, gemini_retries=3)
    return replace(base, **changes)


def summarise(fake: FakeOpenAI, tmp_path: Path, n: int = 1, topic: Topic = ZH, model: str = MODEL, **changes) -> list[Entry]:
    """summarise_entries of the first n test papers through the fake."""
    return summarise_entries(make_entries(n), topic, settings_for(fake, tmp_path, **changes), "model", model=model)


# -- what is sent ----------------------------------------------------------------------------------


def test_openai_gets_a_strict_schema_and_the_full_one_is_enforced(tmp_path):
    with FakeOpenAI(papers=facts_of(load_papers(2))) as fake:
        fake.script("2403.16510", FakeOpenAI.answer(good_answer(tldr="很长的一句话。" * 40)), FakeOpenAI.answer(good_answer()))
        [entry] = summarise(fake, tmp_path)
    first, second = fake.requests
    assert first.api_key == FAKE_OPENAI_KEY and first.path == "/v1/chat/completions"
    sent = first.response_format["json_schema"]
    assert first.response_format["type"] == "json_schema" and sent["strict"] is True
    assert check_strict(sent["schema"]) == "" and "maxLength" not in json.dumps(sent["schema"])
    assert "at most 200 characters" in sent["schema"]["properties"]["tldr"]["description"]  # the limit, told in words
    # The strict form lacks maxLength: the answer is held to it all the same, and asked once more.
    assert "field 'tldr': at most 200 characters (got 280)" in second.prompt and entry.summary == entry.summary


def test_the_fake_refuses_what_strict_mode_refuses():
    assert "'maxLength' is not permitted" in check_strict(llm.build_schema("zh"))
    assert check_strict(llm.strict_schema(llm.build_schema("zh"))) == ""
    assert "additionalProperties" in check_strict({"type": "object", "properties": {}})


def test_deepseek_refuses_json_schema_so_the_run_asks_in_json_mode(tmp_path):
    with FakeOpenAI(mode="deepseek", papers=facts_of(load_papers(3))) as fake:
        out = summarise(fake, tmp_path, 3, gemini_concurrency=1)
    refused, *answered = fake.requests
    assert refused.status == 400 and refused.response_format["type"] == "json_schema"
    assert [r.status for r in answered] == [200] * 3 and all(r.response_format == {"type": "json_object"} for r in answered)
    # JSON mode takes no schema: it goes into the prompt, which names "json" (else DeepSeek answers 400).
    assert all('"key_takeaways"' in r.system and "json" in r.system for r in answered)
    assert all(e.summary for e in out)


def test_json_mode_without_json_in_the_prompt_is_refused_by_deepseek(tmp_path):
    # The fake holds DeepSeek's rule: so our JSON-mode prompt passing proves it names "json".
    with FakeOpenAI(mode="deepseek") as fake:
        backend = OpenAIBackend(resolve_endpoint(settings_for(fake, tmp_path), MODEL), settings_for(fake, tmp_path))
        backend.mode = "json_object"
        body = backend.make_body(llm.Request("Summarise.", "arXiv id: 2403.16510", llm.build_schema("en")))
    assert "json" in body["messages"][0]["content"] and body["response_format"] == {"type": "json_object"}


def test_deepseek_blank_answers_are_asked_again(tmp_path):
    with FakeOpenAI(mode="deepseek", blank_every=2, papers=facts_of(load_papers(4))) as fake:
        out = summarise(fake, tmp_path, 4, gemini_concurrency=1)
    answered = [r for r in fake.requests if r.status == 200]
    assert all(e.summary for e in out) and len(answered) == 7  # every second answer blank: 3 of them, each asked again
    assert sum("the answer was blank" in r.prompt for r in answered) == 3


def test_deepseek_reasoning_content_is_never_the_answer(tmp_path):
    with FakeOpenAI(mode="deepseek", reasoning=True, papers=facts_of(load_papers(1))) as fake:
        [entry] = summarise(fake, tmp_path)
    text = json.dumps(entry.summary.model_dump(), ensure_ascii=False)
    assert entry.summary is not None and "The paper proposes a method; its abstract" not in text
    # completion_tokens includes the reasoning: recorded apart, as Gemini's thoughts are.
    assert entry.usage.thought_tokens == 300 and entry.usage.output_tokens > 0
    assert entry.usage.total_tokens == entry.usage.prompt_tokens + entry.usage.output_tokens + 300


def test_local_server_needs_no_key_and_its_inline_reasoning_is_dropped(tmp_path):
    with FakeOpenAI(mode="local", papers=facts_of(load_papers(2))) as fake:
        settings = settings_for(fake, tmp_path)
        assert settings.openai_api_key == ""
        out = summarise_entries(make_entries(2), EN, settings, "model", model="openai:qwen3:8b")
    assert all(e.summary for e in out) and {r.model for r in fake.requests} == {"qwen3:8b"}
    assert all(r.api_key == "" for r in fake.requests)  # no Authorization header at all
    assert all("<think>" not in json.dumps(e.summary.model_dump()) for e in out)
    assert all(0 < e.usage.thought_tokens < e.usage.output_tokens for e in out)  # the inline share, estimated


def test_a_server_that_wants_a_key_says_so_once(tmp_path):
    with FakeOpenAI(mode="local", api_key="token-abc123") as fake:  # vllm serve --api-key token-abc123
        out = summarise(fake, tmp_path, 3, openai_api_key="", gemini_concurrency=1)
    assert len(fake.requests) == 1 and fake.requests[0].status == 401
    assert all("wants an API key (HTTP 401: You didn't provide an API key" in e.summary_note for e in out)
    assert all("set OPENAI_API_KEY" in e.summary_note for e in out)


def test_a_wrong_key_stops_the_run_and_is_not_echoed(tmp_path):
    key = "sk-wrong-recognisable-key-0123456789"
    with FakeOpenAI(papers=facts_of(load_papers(2))) as fake:
        out = summarise(fake, tmp_path, 2, openai_api_key=key, gemini_concurrency=1)
    assert len(fake.requests) == 1 and all("rejected the API key in OPENAI_API_KEY" in e.summary_note for e in out)
    assert all(key not in e.summary_note and "Incorrect API key provided" in e.summary_note for e in out)


def test_unknown_model_stops_the_run_with_what_to_check(tmp_path):
    with FakeOpenAI(models={"gpt-real"}) as fake:
        out = summarise(fake, tmp_path, 2, model="openai:gpt-nope", gemini_concurrency=1)
    assert len(fake.requests) == 1
    assert all("model 'gpt-nope' not found" in e.summary_note and "does not exist" in e.summary_note
               and "ends in /v1" in e.summary_note for e in out)


def test_spent_balance_stops_the_run(tmp_path):
    quota = FakeOpenAI.error(429)
    quota = replace(quota, body={"error": {"message": "You exceeded your current quota, please check your plan and billing "
                                           "details.", "type": "insufficient_quota", "param": None, "code": "insufficient_quota"}})
    with FakeOpenAI() as fake:
        fake.queue(quota)
        out = summarise(fake, tmp_path, 2, gemini_concurrency=1)
    assert len(fake.requests) == 1 and all("quota or balance is used up" in e.summary_note for e in out)


def test_reasoning_that_fills_the_room_is_asked_again_with_more(tmp_path):
    with FakeOpenAI(papers=facts_of(load_papers(1))) as fake:
        fake.script("2403.16510", FakeOpenAI.thinking(9000))
        [entry] = summarise(fake, tmp_path, openai_reasoning="medium")
    first, second = fake.requests
    assert first.body["reasoning_effort"] == "medium" and "temperature" not in first.body
    assert second.body["reasoning_effort"] == "low" and second.body["max_tokens"] == 2 * first.body["max_tokens"]
    assert entry.summary is not None and entry.usage.thought_tokens == 9000 + 700


def test_limits_come_from_the_servers_headers_and_no_429_follows(tmp_path):
    # The fake allows 6 requests per 3 s and says so per minute (120) in x-ratelimit-limit-requests; no
    # client-side limit is set: the first request goes alone, the rest are paced at what the headers say.
    # (3 s, not less: the limiter keeps 5 % of a window in hand, and arrivals jitter by tens of ms here.)
    with FakeOpenAI(rpm=6, window=3.0, papers=facts_of(load_papers(8))) as fake:
        out = summarise(fake, tmp_path, 8, gemini_concurrency=8)
    assert all(e.summary for e in out) and fake.count(429) == 0 and len(fake.requests) == 8
    endpoint = resolve_endpoint(settings_for(fake, tmp_path), MODEL)
    state = json.loads(llm_run.limits_file(settings_for(fake, tmp_path), endpoint).read_text(encoding="utf-8"))
    assert state["learnt_rpm"] == 120  # shared with every run of this key and model through the cache folder
    # Granted evenly after the first answer (the limiter's grants: arrivals at the fake jitter on a loaded machine).
    grants = sorted(r[0] for r in state["spent"])
    assert len(grants) == 8 and min(b - a for a, b in zip(grants[1:], grants[2:])) >= 60 / (120 * ratelimit.RATE_MARGIN) - 1e-6


def test_headers_are_read_as_the_sdk_reads_them():
    assert read_limits({"x-ratelimit-limit-requests": "5000", "x-ratelimit-limit-tokens": "160000"}) == (5000, 160000)
    assert read_limits({}) is None
    assert read_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert read_retry_after({"retry-after": "2"}) == 2.0 and read_retry_after({}) is None


def test_one_retry_policy_ours():
    settings = Settings(openai_base_url="http://127.0.0.1:9/v1", openai_api_key="k" * 20)
    backend = OpenAIBackend(resolve_endpoint(settings, MODEL), settings)
    assert backend.client.max_retries == 0  # the SDK's own retries off: ours honour Retry-After across processes


# -- the model setting ---------------------------------------------------------------------------


def test_model_setting_names_provider_and_model():
    assert parse_model("gemini-3.5-flash-lite") == ("gemini", "gemini-3.5-flash-lite")
    assert parse_model("gemini:gemini-2.5-pro") == ("gemini", "gemini-2.5-pro")
    assert parse_model("openai:qwen3:8b") == ("openai", "qwen3:8b")  # Ollama's names have colons
    with pytest.raises(PaperpressError, match="unknown provider 'claude'"):
        parse_model("claude:sonnet")
    with pytest.raises(PaperpressError, match="names no model"):
        parse_model("openai:")


def test_endpoint_and_key_of_a_topic(tmp_path):
    env = {"OPENAI_BASE_URL": "", "OPENAI_API_KEY": "sk-main-key-000000000000", "DEEPSEEK_API_KEY": "sk-deepseek-key-0000000000",
           "PAPERPRESS_MODEL": "openai:gpt-5-mini"}
    settings = load_settings(env, dotenv=tmp_path / "none.env")
    default = resolve_endpoint(settings, settings.gemini_model)
    assert (default.base_url, default.api_key, default.spec) == (DEFAULT_OPENAI_BASE_URL, env["OPENAI_API_KEY"],
                                                                 "openai:gpt-5-mini@api.openai.com")  # empty = unset
    topic = Topic(slug="ds", name="DS", query="x", model="openai:deepseek-chat", base_url="https://api.deepseek.com",
                  api_key_env="DEEPSEEK_API_KEY")
    own = resolve_endpoint(settings, topic.model, topic)
    assert (own.base_url, own.api_key, own.key_name) == ("https://api.deepseek.com", env["DEEPSEEK_API_KEY"], "DEEPSEEK_API_KEY")
    assert "sk-" not in repr(settings) and "sk-" not in repr(own)
    with pytest.raises(PaperpressError, match="api_key_env names DASHSCOPE_API_KEY, which is not set"):
        resolve_endpoint(settings, "openai:qwen-plus", topic.model_copy(update={"api_key_env": "DASHSCOPE_API_KEY"}))
    with pytest.raises(PaperpressError, match="no OpenAI API key"):
        resolve_endpoint(replace(settings, openai_api_key=""), "openai:gpt-5-mini")
    local = resolve_endpoint(replace(settings, openai_api_key="", openai_base_url="http://localhost:11434/v1"), "openai:qwen3:8b")
    assert local.api_key == "" and local.spec == "openai:qwen3:8b@localhost:11434"


def test_topics_file_takes_base_url_and_key_variable_name():
    topic = Topic(slug="q", name="Q", query="x", base_url="https://dashscope.aliyuncs.com/compatible-mode/v1",
                  api_key_env="DASHSCOPE_API_KEY")
    assert topic.api_key_env == "DASHSCOPE_API_KEY"
    with pytest.raises(ValueError):
        Topic(slug="q", name="Q", query="x", api_key_env="sk-an-actual-key")  # a name, never the key itself


def test_the_post_names_the_provider_and_model():
    def digest(summariser: str, language: str = "en") -> Digest:
        return Digest(date="2024-04-01", topic_slug="t", topic_name="T", language=language, source="arxiv",
                      summariser=summariser, entries=())

    assert summariser_label(digest("openai:deepseek-chat@api.deepseek.com")) == \
        "summaries by the model deepseek-chat at api.deepseek.com (OpenAI-compatible API)"
    assert "api.deepseek.com 上的模型 deepseek-chat" in summariser_label(digest("openai:deepseek-chat@api.deepseek.com", "zh"))
    assert summariser_label(digest("gemini:gemini-3.5-flash-lite")) == "summaries by Google Gemini, model gemini-3.5-flash-lite"


# -- doctor and the workflow -----------------------------------------------------------------------


def test_doctor_live_asks_the_configured_provider(tmp_path):
    from tests.fakes.arxiv import FakeArxiv
    from tests.fakes.openalex import FakeOpenAlex
    from tests.helpers import make_project, run_cli
    from tests.test_doctor import KNOWN, lines_of

    with FakeArxiv([KNOWN]) as arxiv, FakeOpenAlex() as openalex, FakeOpenAI(mode="deepseek") as fake:
        env = arxiv.env() | openalex.env() | fake.env(model="deepseek-chat")
        result = run_cli(make_project(tmp_path), "doctor", "--live", env=env)
        wrong = run_cli(make_project(tmp_path), "doctor", "--live", env=env | {"OPENAI_API_KEY": "sk-wrong-key-0123456789abcdef"})
    line, failed = lines_of(result.stdout)["OpenAI-compatible"], lines_of(wrong.stdout)["OpenAI-compatible"]
    assert line.startswith(f"ok  deepseek-chat at {fake.url}: a valid structured answer"), result.stdout
    assert [r.response_format["type"] for r in fake.requests[:2]] == ["json_schema", "json_object"]  # as a run asks
    assert failed.startswith("fail  ") and "rejected the API key" in failed and wrong.returncode == 1
    assert FAKE_OPENAI_KEY not in result.stdout + wrong.stdout and "sk-wrong-key" not in wrong.stdout


def test_the_workflow_passes_the_providers_secrets():
    import yaml

    workflow = yaml.safe_load((Path(__file__).resolve().parents[1] / ".github/workflows/publish.yml").read_text(encoding="utf-8"))
    steps = [s for job in workflow["jobs"].values() for s in job["steps"] if "paperpress" in str(s.get("run", ""))
             and ("doctor" in s["run"] or "paperpress run" in s["run"])]
    assert len(steps) == 2  # doctor --live, and the run of each topic
    for step in steps:
        env = step["env"]
        assert env["OPENAI_API_KEY"] == "${{ secrets.OPENAI_API_KEY }}" and env["GEMINI_API_KEY"] == "${{ secrets.GEMINI_API_KEY }}"
        assert env["PAPERPRESS_MODEL"] == "${{ vars.PAPERPRESS_MODEL }}" and env["OPENAI_BASE_URL"] == "${{ vars.OPENAI_BASE_URL }}"
        assert env["DEEPSEEK_API_KEY"] == "${{ secrets.DEEPSEEK_API_KEY }}"


def test_cache_is_keyed_on_provider_endpoint_and_model(tmp_path):
    with FakeOpenAI(papers=facts_of(load_papers(1))) as one, FakeOpenAI(papers=facts_of(load_papers(1))) as other:
        summarise(one, tmp_path)
        summarise(one, tmp_path)  # a rerun: no call
        summarise(other, tmp_path)  # the same model name at another endpoint: another answer
        summarise(one, tmp_path, model="openai:other-model")
    assert len(one.requests) == 2 and len(other.requests) == 1
    cached = [json.loads(p.read_text(encoding="utf-8")) for p in (tmp_path / "cache" / "openai").glob("*.json")]
    assert sorted((c["provider"], c["endpoint"], c["model"]) for c in cached) == sorted(
        [("openai", one.url, "fake-model"), ("openai", other.url, "fake-model"), ("openai", one.url, "other-model")])


def test_a_server_without_limit_headers_is_probed_once_per_cache_folder(tmp_path):
    # DeepSeek and local servers send no x-ratelimit-*: the first run learns that, later runs do not wait for a probe.
    with FakeOpenAI(mode="local", latency=0.2, papers=facts_of(load_papers(6))) as fake:
        summarise_entries(make_entries(3), EN, settings_for(fake, tmp_path), "model", model=MODEL)
        first = sorted(r.started for r in fake.requests)
        fake.reset()
        summarise_entries(make_entries(6)[3:], EN, settings_for(fake, tmp_path), "model", model=MODEL)
        second = sorted(r.started for r in fake.requests)
    assert first[1] - first[0] >= 0.2  # the probe went alone
    assert second[-1] - second[0] < 0.15  # known: all at once
