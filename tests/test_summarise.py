"""The summariser seam: the offline extractive summariser and the dispatch by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from paperpress.config import PaperpressError, Settings, Topic
from paperpress.records import Entry, Extras, Paper, Usage
from paperpress.text import strip_latex
from paperpress.text import find_code_urls
from paperpress.vocab import tag_methods
from paperpress.summarise import (
    check_summariser,
    pick_model,
    split_sentences,
    sum_usage,
    summarise_entries,
    summarise_offline,
)
from tests.test_gemini import load_papers

import json
import re

from paperpress.summarise import CUES


def load_archive_rows() -> list[dict]:
    """Every listing of the embedded archive (114 papers, some listed twice)."""
    path = Path(__file__).resolve().parents[1] / "lib" / "paperpress" / "data" / "metaverse-avatars.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

ZH = Topic(slug="avatars", name="元宇宙/虚拟人", language="zh", query="avatar")
EN = Topic(slug="avatars-en", name="Avatars", language="en", query="avatar", model="topic-model")


def test_offline_fills_every_seed_paper_deterministically():
    entries = [Entry(paper=p) for p in load_papers(6)]
    first = summarise_entries(entries, ZH, Settings(), "offline")
    assert [e.paper for e in first] == [e.paper for e in entries]
    assert all(e.summary and e.summary.tldr for e in first)
    assert all(e.summary.conclusion.workload == "" for e in first)  # an abstract says nothing of the workload
    assert summarise_entries(entries, ZH, Settings(), "offline") == first


def used_sentences(summary) -> list[str]:
    """Every sentence a summary uses, field by field (a field may hold several)."""
    c = summary.conclusion
    fields = [summary.tldr, *summary.key_takeaways, summary.background, summary.prior_work, summary.method,
              summary.results, c.significance, c.innovation, c.performance, c.workload]
    return [s for field in fields for s in split_sentences(field)]


def test_offline_uses_each_sentence_of_the_abstract_once_and_only_where_it_fits():
    papers = [Paper(**{k: v for k, v in row.items() if k in Paper.model_fields}, abs_url="", pdf_url="")
              for row in load_archive_rows()]
    for paper in papers:
        summary = summarise_offline(paper, Extras(), "zh")
        used = used_sentences(summary)
        assert len(used) == len(set(used)), paper.title  # no sentence twice (the seed's 意义 = 创新点 repeat)
        sentences = {strip_latex(s) for s in split_sentences(paper.abstract)}
        for line in used:  # every line is a sentence of the abstract, as written (a long one cut at the field's cap)
            assert line in sentences or (line.endswith("…") and any(s.startswith(line[:-1]) for s in sentences)), line
        assert "\\url" not in " ".join(used) and "\\" not in " ".join(used)
        if summary.prior_work:
            assert all(re.search(CUES["prior_work"], s, re.I) for s in split_sentences(summary.prior_work))
        if summary.results:
            assert all(re.search(CUES["results"], s, re.I) for s in split_sentences(summary.results))
    anchor = summarise_offline(papers[[p.arxiv_id for p in papers].index("2403.16510")], Extras(), "zh")
    assert anchor.prior_work == "" and anchor.conclusion.significance == ""  # nothing fits: absent, not made up
    assert "https://github.com/ICTMCG/Make-Your-Anchor" not in " ".join(anchor.key_takeaways)  # the code link says it


def test_offline_keywords_are_concepts_of_the_vocabulary():
    paper = load_papers(1)[0]  # Make-Your-Anchor: YAKE finds "automatic generation", "anchor-style video", …
    assert summarise_offline(paper, Extras(), "zh").keywords == ["diffusion model"]


def test_a_one_sentence_abstract_gives_a_summary_without_repeats():
    paper = Paper(arxiv_id="2401.00001", title="T", authors=("A",), abstract="We propose a thing for avatars.")
    summary = summarise_offline(paper, Extras(), "en")
    assert summary.tldr == "We propose a thing for avatars." and summary.key_takeaways == [] and not summary.method


def test_strip_latex():
    assert strip_latex(r"Page: \url{https://a.b/c}. 50\% in $4\times$ less, \emph{not} {\em x}, ``q''") == \
        "Page: https://a.b/c. 50% in 4× less, not x, “q”"
    assert strip_latex(r"\href{https://x.y}{site} and $\sim$30 fps, a~b") == "site (https://x.y) and ~30 fps, a b"


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
