"""The claim check on the page: the notice of dropped statements, hidden empty fields, each takeaway's source."""

from __future__ import annotations

import json
from unittest.mock import patch

import pypandoc
import pytest

from paperpress import claims, post
from paperpress.records import Conclusion, Digest, Entry, Paper, Summary

ABSTRACT = ("We present FastAvatar. It renders at 50+ FPS on ZJU-MoCap. Training takes 30 minutes. "
            "Code: <script>alert(1)</script> [x](javascript:alert(2)) *12 FPS* on `ZJU-MoCap`.")
PAPER = Paper(arxiv_id="2401.00001", version="v1", title="FastAvatar", authors=("A. Author",), abstract=ABSTRACT,
              abs_url="https://arxiv.org/abs/2401.00001v1")


def checked_entry(**fields) -> Entry:
    """An entry whose summary went through the claim check against PAPER."""
    base = dict(tldr="FastAvatar is fast.", key_takeaways=[
        "渲染速度达 50+ FPS。", "训练只需 30 分钟，比 HumanNeRF 快 9 倍。", "提出新方法。", "在 ZJU-MoCap 上以 12 FPS 运行。"],
        results="It gains 9 dB.", background="Avatars matter.", conclusion=Conclusion(performance="很快。"))
    summary, dropped = claims.check_summary(Summary(**(base | fields)), claims.source_of(PAPER.title, PAPER.abstract))
    return Entry(paper=PAPER, summary=summary, dropped_claims=dropped)


def pandoc_ast(markdown: str) -> dict:
    return json.loads(pypandoc.convert_text(markdown, "json", format="markdown"))


def notes(node) -> list:
    """Every footnote (pandoc Note) in an AST."""
    if isinstance(node, list):
        return [n for item in node for n in notes(item)]
    if isinstance(node, dict):
        return ([node] if node.get("t") == "Note" else []) + notes(node.get("c"))
    return []


def plain(markdown: str) -> str:
    return pypandoc.convert_text(markdown, "plain", format="markdown", extra_args=["--wrap=none"])


@pytest.mark.parametrize("language, notice", [
    ("zh", "本篇总结删去了 2 处表述"), ("en", "2 statements were removed from this summary"),
])
def test_the_notice_counts_the_dropped_statements_in_the_topic_language(language, notice):
    page = post.render_paper(checked_entry(), language)
    assert notice in plain(page)
    assert "HumanNeRF" not in page and "9 dB" not in page and "渲染速度达 50+ FPS。" in page


def test_no_notice_when_nothing_was_dropped_or_nothing_checked():
    entry = checked_entry(key_takeaways=["渲染速度达 50+ FPS。", "a", "b"], results="")
    assert entry.dropped_claims == ()
    for e in (entry, entry.model_copy(update={"dropped_claims": None})):
        text = plain(post.render_paper(e, "en"))
        assert "removed" not in text and "50+ FPS" in text


def test_a_field_the_check_emptied_is_not_shown():
    page = post.render_paper(checked_entry(), "en")
    assert "**Results:**" not in page  # emptied by the check: no "none" row
    assert "**Background:** Avatars matter." in page
    assert "**Prior work and its problems:**" not in page  # empty from the start: not shown either (no "none" rows)
    emptied = checked_entry(tldr="It scores 99%.", key_takeaways=["It is 7x faster.", "It beats INSTA.", "It uses 8 GPUs."])
    page = post.render_paper(emptied, "en")
    assert "**Key Takeaways**" not in page and "3 statements" not in page and "5 statements" in plain(page)


def test_each_takeaway_links_the_abstract_sentence_it_shares_figures_and_names_with():
    page = post.render_paper(checked_entry(), "zh", show_sources=True)
    found = [pypandoc.convert_text(json.dumps({"pandoc-api-version": pandoc_ast("x")["pandoc-api-version"], "meta": {},
                                               "blocks": n["c"]}), "plain", format="json", extra_args=["--wrap=none"]).strip()
             for n in notes(pandoc_ast(page)["blocks"])]
    hostile = "Code: <script>alert(1)</script> [x](javascript:alert(2)) *12 FPS* on `ZJU-MoCap`."
    # 50+ FPS: its sentence; 提出新方法: no figure or name, no source; 12 FPS on ZJU-MoCap: the hostile one, as text
    assert found == ["摘要原句：It renders at 50+ FPS on ZJU-MoCap.", f"摘要原句：{hostile}"]
    assert "<script>" not in pypandoc.convert_text(page, "html", format="markdown")


@pytest.mark.parametrize("summariser, sources", [("offline", 0), ("gemini:gemini-3.5-flash-lite", 2)])
def test_offline_summaries_show_no_source(summariser, sources):
    digest = Digest(date="2024-04-01", topic_slug="t", topic_name="T", language="zh", source="sample",
                    summariser=summariser, entries=(checked_entry(),))
    with patch("IPython.display.display") as display:
        post.show_papers(digest)
    page = display.call_args.args[0].data
    assert len(notes(pandoc_ast(page)["blocks"])) == sources
