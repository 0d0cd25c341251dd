"""The summariser seam: the offline extractive summariser and the dispatch by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from paperpress.config import PaperpressError, Settings, Topic
from paperpress.records import Entry, Extras, Usage
from paperpress.text import find_code_urls
from paperpress.vocab import tag_methods
from paperpress.summarise import (
    WORKLOAD_NOTE,
    check_summariser,
    pick_model,
    split_sentences,
    sum_usage,
    summarise_entries,
    summarise_offline,
)
from tests.test_gemini import load_papers

ZH = Topic(slug="avatars", name="元宇宙/虚拟人", language="zh", query="avatar")
EN = Topic(slug="avatars-en", name="Avatars", language="en", query="avatar", model="topic-model")


def test_offline_fills_every_seed_paper_deterministically():
    entries = [Entry(paper=p) for p in load_papers(6)]
    first = summarise_entries(entries, ZH, Settings(), "offline")
    assert [e.paper for e in first] == [e.paper for e in entries]
    assert all(e.summary and len(e.summary.key_takeaways) >= 3 and e.summary.tldr for e in first)
    assert all(e.summary.conclusion.workload == WORKLOAD_NOTE["zh"] for e in first)
    assert summarise_entries(entries, ZH, Settings(), "offline") == first


def test_offline_takes_code_links_from_the_text_or_the_pdf():
    paper = load_papers(1)[0]
    assert summarise_offline(paper, Extras(), "en").code_url == "https://github.com/ICTMCG/Make-Your-Anchor"
    pdf = Extras(code_urls=("https://github.com/example/from-pdf",))
    assert summarise_offline(paper, pdf, "en").code_url == "https://github.com/example/from-pdf"
    assert "diffusion" in summarise_offline(paper, Extras(), "en").methods


def test_text_helpers():
    assert split_sentences("One thing. Two things! 3 more?") == ["One thing.", "Two things!", "3 more?"]
    assert find_code_urls("see https://example.org/x. and https://github.com/a/b).") == ["https://github.com/a/b"]
    assert tag_methods("A NeRF with Gaussian Splatting and SMPL-X") == ["NeRF", "3D Gaussian Splatting", "SMPL-X"]


def test_unknown_summariser_is_a_user_error():
    with pytest.raises(PaperpressError, match="unknown summariser 'gpt'"):
        summarise_entries([], ZH, Settings(), "gpt")


def test_model_choice_order():
    settings = Settings(gemini_model="settings-model")
    assert pick_model(ZH, settings) == "settings-model"
    assert pick_model(EN, settings) == "topic-model"
    assert pick_model(EN, settings, "cli-model") == "cli-model"


def test_gemini_without_key_says_how_to_set_it(tmp_path: Path):
    settings = Settings(api_key="", cache_dir=tmp_path / "cache", gemini_base_url="http://127.0.0.1:9")
    with pytest.raises(PaperpressError) as info:
        summarise_entries([Entry(paper=load_papers(1)[0])], ZH, settings, "gemini")
    message = str(info.value)
    assert "GEMINI_API_KEY" in message and ".env" in message and "\n" not in message
    assert not settings.cache_dir.exists()


def test_sum_usage_adds_entries():
    papers = load_papers(2)
    entries = [Entry(paper=papers[0], usage=Usage(prompt_tokens=10, output_tokens=5, total_tokens=15)),
               Entry(paper=papers[1], usage=Usage(prompt_tokens=1, output_tokens=2, total_tokens=3))]
    assert sum_usage(entries) == Usage(prompt_tokens=11, output_tokens=7, total_tokens=18)


def test_check_summariser_needs_no_work():
    check_summariser("offline", Settings())
    check_summariser("gemini", Settings(api_key="k"))
    with pytest.raises(PaperpressError, match="GEMINI_API_KEY"):
        check_summariser("gemini", Settings())
    with pytest.raises(PaperpressError, match="unknown summariser"):
        check_summariser("claude", Settings(api_key="k"))
