"""The claim checker: figures and names of a summary found (or not) in the text the model was given."""

from __future__ import annotations

import json

import pytest

from paperpress import claims
from paperpress.records import CheckedSummary, Conclusion, DroppedClaim, Entry, ModelSummary, Paper, Summary

ABSTRACT = (
    "We introduce FastAvatar, built on 3D Gaussian Splatting (3DGS). Existing methods based on neural radiance "
    "fields (NeRFs), the state of the art, render at around 15 FPS. Our avatars train within 30 minutes and render at 50+ FPS, 400x faster "
    "than HumanNeRF in training. On ZJU-MoCap the PSNR improves by 3.2 dB and the error drops by 21.4%. "
    "We release 1,500,000 frames of 1,000 subjects."
)
SOURCE = claims.source_of("FastAvatar: Real-Time Avatars", ABSTRACT, "Accepted to CVPR 2024")


@pytest.mark.parametrize("sentence", [
    "Errors drop by 21.4%.", "Errors drop by 21.4 %.", "误差降低约 21%。", "Errors drop by about 21 percent.",
    "PSNR improves by 3.2dB.", "Training is 400× faster.", "训练速度快 400 倍。", "Training is 400 times faster.",
    "It renders at 50+ FPS.", "渲染速度超过 50 FPS。", "It releases 1.5M frames.", "发布了 150 万帧。",
    "It covers 1000 subjects.", "It covers 1,000 subjects.", "It trains in 30 minutes.",
])
def test_a_figure_the_source_holds_stays(sentence):
    assert claims.find_unsupported(sentence, SOURCE) == []


@pytest.mark.parametrize("sentence, reason", [
    ("Errors drop by 35%.", "figure 35%"),
    ("Errors drop by 22.4%.", "figure 22.4%"),
    ("Errors drop by 21.45%.", "figure 21.45%"),  # more precise than the source
    ("PSNR improves by 4.1 dB.", "figure 4.1"),
    ("Training is 50x faster.", "figure 50x"),
    ("训练速度快五倍。", "figure 五倍"),
    ("速度提升三倍。", "figure 三倍"),  # the 3 of 3DGS and 3D is part of a name, never a figure
    ("It renders at 60+ FPS.", "figure 60+"),
    ("It releases 2.5M frames.", "figure 2.5M"),
    ("The error drops by 15%.", "figure 15%"),  # 15 FPS is no percentage
    ("Errors drop by 20%.", "figure 20%"),  # 21.4% rounds to 21%, not 20%
    ("It was trained on 2403 clips.", "figure 2403"),  # only the arXiv id and dates hold 2403, 16510 and 24
    ("It was trained on 16510 clips.", "figure 16510"),
    ("It has 24 layers.", "figure 24"),
    ("The 2nd stage has 9 layers.", "figure 9"),  # an ordinal numbers, it claims nothing
])
def test_a_figure_no_source_holds_goes(sentence, reason):
    source = claims.source_of("T", ABSTRACT, "", "arXiv:2403.16510v1 [cs.CV] 24 Mar 2024", "Preprint 2403.16510.")
    assert claims.find_unsupported(sentence, source) == [reason]


def test_twice_is_a_ratio_of_two():
    doubles = claims.source_of("T", "It doubles the frame rate.", "")
    assert claims.find_unsupported("It is twice as fast.", doubles) == []
    assert claims.find_unsupported("速度提升两倍。", doubles) == []
    assert claims.find_unsupported("It is twice as fast.", SOURCE) == ["figure twice"]


def test_list_numbering_dates_and_ids_are_neither_claims_nor_support():
    source = claims.source_of("T", "Our method has 1) a model and 2) a loss. arXiv:2401.00007, 2024-01-05.", "")
    assert claims.find_unsupported("(1) It uses a model. 2) It uses a loss.", source) == []
    assert claims.find_unsupported("It uses 7 losses.", source) == ["figure 7"]
    assert claims.find_unsupported("It uses 5 models.", source) == ["figure 5"]
    assert claims.find_unsupported("要点3：第2句说明了方法。Step 4 trains it.", source) == []


@pytest.mark.parametrize("sentence, unsupported", [
    ("FastAvatar outperforms HumanNeRF on ZJU-MoCap.", []),
    ("The approach uses 3DGS instead of NeRF.", []),
    ("基于 3D Gaussian Splatting 的方法优于 HumanNeRF。", []),
    ("Results beat state-of-the-art methods.", []),
    ("It reaches SOTA quality.", []),  # SOTA: the source spells it out
    ("The method outperforms PointAvatar.", ["name PointAvatar"]),
    ("该方法优于 PointAvatar 和 INSTA。", ["name PointAvatar", "name INSTA"]),
    ("It is evaluated on PeopleSnapshot.", ["name PeopleSnapshot"]),
    ("Training uses Stable Diffusion.", ["name Stable", "name Diffusion"]),
    ("LPIPS improves markedly.", ["name LPIPS"]),
    ("Moreover, the avatars look real.", []),  # a capitalised first word is no name
    ("The avatars move like Transformer outputs.", ["name Transformer"]),  # inside a sentence it is
])
def test_names_are_checked(sentence, unsupported):
    assert claims.find_unsupported(sentence, SOURCE) == unsupported


def summary_of(**fields) -> Summary:
    base = dict(tldr="FastAvatar renders avatars in real time.", key_takeaways=[
        "FastAvatar renders at 50+ FPS.", "It is 400x faster than HumanNeRF.", "It beats PointAvatar by 35%."],
        keywords=["3DGS", "avatar", "GPT-4"], results="Training takes 30 minutes. PSNR gains 9.9 dB. It uses ZJU-MoCap.",
        conclusion=Conclusion(performance="渲染速度达 50+ FPS。误差降低 80%。"))
    return Summary(**(base | fields))


def test_check_summary_drops_what_the_source_lacks_and_keeps_the_rest():
    checked, dropped = claims.check_summary(summary_of(), SOURCE)
    assert isinstance(checked, CheckedSummary)
    assert checked.key_takeaways == ["FastAvatar renders at 50+ FPS.", "It is 400x faster than HumanNeRF."]
    assert checked.results == "Training takes 30 minutes. It uses ZJU-MoCap."
    assert checked.conclusion.performance == "渲染速度达 50+ FPS。"
    assert checked.keywords == ["3DGS", "avatar"]
    assert checked.tldr == "FastAvatar renders avatars in real time."
    assert [(d.field, d.text, d.reason) for d in dropped] == [
        ("results", "PSNR gains 9.9 dB.", "figure 9.9"),
        ("key_takeaways", "It beats PointAvatar by 35%.", "figure 35%; name PointAvatar"),
        ("keywords", "GPT-4", "name GPT-4"),
        ("conclusion.performance", "误差降低 80%。", "figure 80%"),
    ]


def test_a_checked_summary_may_keep_no_takeaway_but_a_model_answer_needs_three():
    made_up = ["It is 7x faster.", "It uses 8 GPUs.", "It beats INSTA."]
    checked, dropped = claims.check_summary(summary_of(key_takeaways=made_up, tldr="It scores 99%."), SOURCE)
    assert checked.key_takeaways == [] and checked.tldr == ""
    assert [d.field for d in dropped].count("key_takeaways") == 3
    with pytest.raises(ValueError):
        ModelSummary(tldr="t", key_takeaways=["one"])


def test_nothing_dropped_keeps_the_summary_as_written():
    summary = summary_of(key_takeaways=["FastAvatar renders at 50+ FPS.", "a", "b"], results="Fine.  Really.",
                         keywords=["avatar"], conclusion=Conclusion())
    checked, dropped = claims.check_summary(summary, SOURCE)
    assert dropped == () and checked.model_dump() == summary.model_dump()


def test_sidecar_tells_not_checked_from_nothing_dropped():
    paper = Paper(arxiv_id="2401.00001", title="T", authors=("A",), abstract="x")
    old = Entry(paper=paper)
    assert "dropped_claims" not in old.model_dump(mode="json")
    assert Entry(paper=paper, dropped_claims=()).model_dump(mode="json")["dropped_claims"] == []
    drop = DroppedClaim(field="results", text="It gains 9 dB.", reason="figure 9")
    kept = CheckedSummary(tldr="t", key_takeaways=["only one"])
    again = Entry.model_validate_json(json.dumps(Entry(paper=paper, summary=kept, dropped_claims=(drop,)).model_dump(mode="json")))
    assert again.dropped_claims == (drop,) and again.summary.key_takeaways == ["only one"]
    assert Entry.model_validate_json(json.dumps(old.model_dump(mode="json"))).dropped_claims is None


@pytest.mark.parametrize("takeaway, expected", [
    ("渲染速度超过 50 FPS，训练只需 30 分钟。", "Our avatars train within 30 minutes and render at 50+ FPS, 400x faster than HumanNeRF in training."),
    ("PSNR gains 3.2 dB on ZJU-MoCap.", "On ZJU-MoCap the PSNR improves by 3.2 dB and the error drops by 21.4%."),
    ("提出了一种新的虚拟人方法。", ""),
    ("It uses PointAvatar.", ""),
])
def test_a_takeaway_finds_its_abstract_sentence(takeaway, expected):
    assert claims.find_source_sentence(takeaway, ABSTRACT) == expected


@pytest.mark.parametrize("text", ["2024-03-24", "24 Mar 2024", "March 24, 2024", "March 2024", "2024年3月24日",
                                  "https://x.org/v2/3.5", "arXiv:2403.16510v2", "2403.16510", "(iv)", "3)", "①"])
def test_dates_ids_links_and_numbering_hold_no_figure(text):
    assert claims.find_figures(claims.clean_text(f"Seen {text} here."), words=True) == []
