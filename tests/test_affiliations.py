"""Affiliations: OpenAlex by arXiv DOI (loopback fake), else a heuristic on the PDF's first page."""

from __future__ import annotations

import pytest

from paperpress.affiliations import fetch_openalex, find_affiliations, parse_openalex, parse_pdf_affiliations
from paperpress.config import Settings
from paperpress.records import Paper
from tests.fakes.arxiv import unused_url
from tests.fakes.openalex import FakeOpenAlex, make_work

TSINGHUA = ("Tsinghua University", "https://ror.org/03cve4549", "CN")
TENCENT = ("Tencent (China)", "https://ror.org/00hhjss72", "CN")
ICT = ("Institute of Computing Technology", "https://ror.org/0090r4d87", "CN")

# First pages as PDF text extraction gives them (marks glued to names, e-mails, two columns).
GLUED_MARKS = """Make-Your-Anchor: A Diffusion-based 2D Avatar Generation Framework
Ziyao Huang1,2, Fan Tang1, Yong Zhang3, Xiaodong Cun3
1Institute of Computing Technology, Chinese Academy of Sciences 2University of Chinese Academy of Sciences
3Tencent AI Lab  4Key Laboratory of Intelligent Information Processing
{huangziyao19f,tangfan}@ict.ac.cn, zhangyong201303@gmail.com
Abstract
Despite progress in research at many Universities, we propose Make-Your-Anchor."""
STACKED = """NECA: Neural Customizable Human Avatar
Junjin Xiao
Sun Yat-sen University
xiaojj5@mail2.sysu.edu.cn
Qing Zhang∗
Sun Yat-sen University
ABSTRACT
Human avatar has become a novel type of 3D asset."""
NO_ABSTRACT_HEADING = """A Study Without an Abstract Heading
Jane Doe, John Roe
Department of Computer Science, Stanford University, Stanford, CA 94305, USA
1 Introduction
Research shows that institutes of all kinds study avatars."""


def make_paper(arxiv_id: str = "2403.16510") -> Paper:
    return Paper(arxiv_id=arxiv_id, version="v1", title="T", authors=("Ziyao Huang", "Fan Tang"), abstract="A.")


@pytest.fixture
def openalex():
    with FakeOpenAlex() as server:
        yield server


def test_parse_openalex_lists_first_author_first_each_once():
    work = make_work("2403.16510", [("Fan Tang", [TSINGHUA, ICT]), ("Ziyao Huang", [ICT, TENCENT]), ("Yong Zhang", [TENCENT])])
    # OpenAlex marks the first author: trust author_position, not the list order.
    work["authorships"].reverse()
    work["authorships"][0]["author_position"], work["authorships"][-1]["author_position"] = "first", "last"
    found = parse_openalex(work)
    assert [a.name for a in found] == ["Tencent (China)", "Institute of Computing Technology", "Tsinghua University"]
    assert found[0].ror == "https://ror.org/00hhjss72" and found[0].country == "CN"
    assert {a.source for a in found} == {"openalex"}


def test_parse_openalex_without_institutions_is_empty():
    assert parse_openalex({}) == []
    assert parse_openalex(make_work("2403.16510", [("Ziyao Huang", [])])) == []


def test_fetch_openalex_asks_by_arxiv_doi_with_mailto(openalex):
    openalex.add_work("2403.16510", [("Ziyao Huang", [ICT])])
    settings = Settings(openalex_url=openalex.url, openalex_mailto="team@example.org")
    work = fetch_openalex("2403.16510", settings)
    assert work["authorships"][0]["institutions"][0]["display_name"] == "Institute of Computing Technology"
    request = openalex.requests[0]
    assert request.path == "/works/doi:10.48550/arXiv.2403.16510"
    assert request.params == {"mailto": "team@example.org"}
    assert request.headers["User-Agent"].startswith("paperpress/")


def test_fetch_openalex_failures_are_none(openalex):
    settings = Settings(openalex_url=openalex.url)
    assert fetch_openalex("2403.99999", settings) is None  # not indexed yet: 404
    openalex.add_work("2403.16510", [("Ziyao Huang", [ICT])])
    openalex.fail(500)
    assert fetch_openalex("2403.16510", settings) is None
    assert fetch_openalex("2403.16510", Settings(openalex_url=unused_url())) is None


def test_pdf_heuristic_splits_marked_institutions_and_stops_at_the_abstract():
    found = parse_pdf_affiliations(GLUED_MARKS, ["Ziyao Huang", "Fan Tang"])
    assert [a.name for a in found] == [
        "Institute of Computing Technology, Chinese Academy of Sciences",
        "University of Chinese Academy of Sciences",
        "Tencent AI Lab",
        "Key Laboratory of Intelligent Information Processing",
    ]
    assert {a.source for a in found} == {"pdf"}


def test_pdf_heuristic_on_stacked_authors_and_without_abstract_heading():
    assert [a.name for a in parse_pdf_affiliations(STACKED, ["Junjin Xiao"])] == ["Sun Yat-sen University"]
    found = parse_pdf_affiliations(NO_ABSTRACT_HEADING, ["Jane Doe"])
    assert [a.name for a in found] == ["Department of Computer Science, Stanford University, Stanford, CA 94305, USA"]
    assert parse_pdf_affiliations("", ["Jane Doe"]) == []


def test_find_affiliations_prefers_openalex_and_falls_back_to_the_pdf(openalex):
    settings = Settings(openalex_url=openalex.url)
    openalex.add_work("2403.16510", [("Ziyao Huang", [ICT])])
    from_openalex = find_affiliations(make_paper("2403.16510"), GLUED_MARKS, settings)
    assert [(a.name, a.source) for a in from_openalex] == [("Institute of Computing Technology", "openalex")]
    from_pdf = find_affiliations(make_paper("2403.99999"), GLUED_MARKS, settings)
    assert from_pdf[0].source == "pdf" and from_pdf[0].name.startswith("Institute of Computing Technology")
