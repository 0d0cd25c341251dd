"""Affiliations: OpenAlex by arXiv DOI (loopback fake), else a heuristic on the PDF's first page."""

from __future__ import annotations

import copy
import os
import time
from dataclasses import replace

import pytest

from paperpress import affiliations, pdf, trends
from paperpress.affiliations import (fetch_openalex, find_affiliations, openalex_cache_path, parse_openalex,
                                     parse_pdf_affiliations)
from paperpress.config import Settings, read_data
from paperpress.institutions import institution_key, load_institutions, merge_spellings, normalise_affiliation, sorted_key
from paperpress.records import Affiliation, Digest, Entry, Extras, Paper, Summary
from paperpress.text import is_title_piece
from tests.fakes.arxiv import unused_url
from tests.fakes.openalex import DOCUMENTED_WORK, FakeOpenAlex, make_work
from tests.fakes.pdfs import make_pdf

TSINGHUA = ("Tsinghua University", "https://ror.org/03cve4549", "CN")
TENCENT = ("Tencent (China)", "https://ror.org/00hhjss72", "CN")
ICT = ("Institute of Computing Technology", "https://ror.org/0090r4d87", "CN")
ETH = ("ETH Zurich", "https://ror.org/05a28rw58", "CH")

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


# The shapes issue 11 lists: an all-caps name glued to its mark, a name with no keyword, a trailing
# abbreviation dot; one per line or all on one line.
ISSUE_SHAPES = """Neural Avatars in the Wild
Alice Chen1, Bob Müller2, Carla Rossi3, Dan Wu4
1CUHK
2MPI Informatics
3ETH Zurich
4Tsinghua Univ.
{alice,dan}@cuhk.edu.hk, bob@mpi-inf.mpg.de
Abstract
We study avatars at many Universities and Labs."""
ONE_LINE = """Neural Avatars in the Wild
Alice Chen2,3 Bob Müller1
1CUHK 2MPI Informatics 3ETH Zurich
Abstract
We study avatars."""
# Two author columns as PDFium reads them: one row of each column per line.
TWO_COLUMNS = """NECA: Neural Customizable Human Avatar
Junjin Xiao Qing Zhang∗ Wei Li
Sun Yat-sen University CUHK Peking University Shanghai AI Laboratory SYSU
Guangzhou, China Hong Kong, China Beijing, China
xiaojj5@mail2.sysu.edu.cn zhangq@cuhk.edu.hk li@pku.edu.cn
ABSTRACT
Human avatar has become a novel type of 3D asset."""
NAMES_BETWEEN = """Title Words Here
Ziyao Huang CUHK Fan Tang MPI Informatics
Zhang Qing Tsinghua University
Abstract"""
SYMBOL_MARKS = """Avatars Everywhere
Jane Doe∗ John Roe† Ann Poe‡
∗Stanford University †Google Research ‡Moonshot AI
Abstract"""
# What must not count: footnotes, addresses, cities, e-mails, a marked city, the title above the authors.
NOT_INSTITUTIONS = """Meta-Learning Research for Avatars at Scale
Jane Doe1∗, John Roe2†
1Oxford Brookes University 2Beijing, China
Oxford, UK
Stanford, CA 94305, USA
jane.doe@brookes.ac.uk, {john,roe}@research.google.com
∗Equal contribution. †Work done during an internship at Tencent AI Lab. ‡Now at Google DeepMind. §Deceased.
Abstract
We thank Google Research and MIT for their support."""


def make_paper(arxiv_id: str = "2403.16510") -> Paper:
    return Paper(arxiv_id=arxiv_id, version="v1", title="T", authors=("Ziyao Huang", "Fan Tang"), abstract="A.")


@pytest.fixture
def openalex():
    with FakeOpenAlex() as server:
        yield server


@pytest.fixture
def settings(openalex, tmp_path, monkeypatch) -> Settings:
    monkeypatch.setattr(affiliations, "OPENALEX_BACKOFF", 0.05)  # the backoff's shape, not its seconds
    return Settings(openalex_url=openalex.url, openalex_mailto="team@example.org", cache_dir=tmp_path / "cache")


def age(path, hours: float) -> None:
    """Make a cached answer look `hours` old."""
    then = time.time() - hours * 3600
    os.utime(path, (then, then))


# --- OpenAlex: the documented Work object -------------------------------------------------------


def test_parse_openalex_reads_the_documented_work_object():
    found = parse_openalex(copy.deepcopy(DOCUMENTED_WORK))
    assert [(a.name, a.ror, a.country, a.source) for a in found] == [
        ("Simon Fraser University", "https://ror.org/0213rcc28", "CA", "openalex"),
        ("Public Knowledge Project", None, None, "openalex"),  # ror, country_code and type may be null
        ("OurResearch", "https://ror.org/02nr0ka47", "US", "openalex"),
    ]


def test_fake_works_have_the_documented_shape():
    documented = DOCUMENTED_WORK["authorships"][0]
    made = make_work("2403.16510", [("Ziyao Huang", [TSINGHUA], ["Tsinghua University, Beijing"])])
    assert set(DOCUMENTED_WORK) <= set(made)
    authorship = made["authorships"][0]
    assert set(authorship) == set(documented)
    assert set(authorship["institutions"][0]) == set(documented["institutions"][0])
    assert set(authorship["affiliations"][0]) == set(documented["affiliations"][0])
    assert set(authorship["author"]) == set(documented["author"])
    for key in ("countries", "raw_affiliation_strings", "institutions", "affiliations"):
        assert isinstance(authorship[key], list) and isinstance(documented[key], list)


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


def test_raw_affiliation_strings_stand_in_when_institutions_are_empty():
    # A new paper: OpenAlex has the printed affiliations but has matched no institution yet.
    work = make_work("2404.00001", [("Jane Doe", [], ["Dept. of CS, Tsinghua Univ., Beijing, China"]),
                                    ("John Roe", [], ["CUHK; MPI Informatics"]), ("Ann Poe", [ETH], ["ETH Zürich"])])
    work["authorships"][0]["countries"] = ["CN"]  # OpenAlex reads countries from raw strings too
    found = parse_openalex(work)
    assert [(a.name, a.country) for a in found] == [
        ("Dept. of CS, Tsinghua Univ., Beijing, China", "CN"), ("CUHK", None), ("MPI Informatics", None), ("ETH Zurich", "CH")]
    assert {a.source for a in found} == {"openalex"} and found[-1].ror == ETH[1]
    # ... and they count like any printed name.
    assert [normalise_affiliation(a.name, a.ror, a.country).name for a in found] == [
        "Tsinghua University", "Chinese University of Hong Kong", "Max Planck Institute for Informatics", "ETH Zurich"]


# --- OpenAlex: requests, retries, cache ----------------------------------------------------------


def test_fetch_openalex_asks_by_arxiv_doi_with_mailto(openalex, settings):
    openalex.add_work("2403.16510", [("Ziyao Huang", [ICT])])
    work = fetch_openalex("2403.16510", settings)
    assert work["authorships"][0]["institutions"][0]["display_name"] == "Institute of Computing Technology"
    assert set(work) == {"id", "doi", "display_name", "authorships"}  # only the fields we read travel
    request = openalex.requests[0]
    assert request.path == "/works/doi:10.48550/arXiv.2403.16510"
    assert request.params == {"mailto": "team@example.org", "select": "id,doi,display_name,authorships"}
    assert request.headers["User-Agent"].startswith("paperpress/")


def test_fetch_openalex_sends_the_key_as_api_key_and_never_logs_it(settings, caplog):
    key = "oa-key-" + "3" * 24
    with FakeOpenAlex(api_key=key) as keyed:
        keyed.add_work("2403.16510", [("Ziyao Huang", [ICT])])
        with_key = replace(settings, openalex_url=keyed.url, openalex_api_key=key)
        assert fetch_openalex("2403.16510", with_key)["id"]
        assert keyed.requests[0].params["api_key"] == key
        assert key not in repr(with_key)
        caplog.set_level("INFO", logger="paperpress.affiliations")
        keyed.reject_query()  # a 400 that repeats the query: not cached, not logged with the key
        assert fetch_openalex("2403.16511", with_key) is None
    # Unreachable: requests' error repeats the URL with its query; the log has the error's kind only.
    assert fetch_openalex("2403.16512", replace(with_key, openalex_url=unused_url())) is None
    assert "2403.16512" in caplog.text and key not in caplog.text


def test_fetch_openalex_failures_are_none_and_not_cached(openalex, settings):
    openalex.add_work("2403.16510", [("Ziyao Huang", [ICT])])
    openalex.fail(500, times=3)
    assert fetch_openalex("2403.16510", settings) is None
    assert len(openalex.requests) == 3  # three tries, then the first page stands in
    assert fetch_openalex("2403.16510", settings)["id"]  # an outage is not remembered
    assert fetch_openalex("2403.16510", replace(settings, openalex_url=unused_url(), cache_dir=settings.cache_dir / "x")) is None


def test_fetch_openalex_retries_429_and_5xx_with_growing_waits(openalex, settings):
    openalex.add_work("2403.16510", [("Ziyao Huang", [ICT])])
    openalex.fail(429)
    openalex.fail(503)
    assert fetch_openalex("2403.16510", settings)["id"]
    first, second, third = (r.at for r in openalex.requests)
    assert second - first >= 0.05 and third - second >= 0.1


def test_fetch_openalex_stops_when_the_days_budget_is_spent(openalex, settings):
    openalex.add_work("2403.16510", [("Ziyao Huang", [ICT])])
    openalex.spend_credits()
    assert fetch_openalex("2403.16510", settings) is None
    assert len(openalex.requests) == 1  # X-RateLimit-Remaining: 0 — no retry can help before midnight UTC
    assert not openalex_cache_path("2403.16510", settings).exists()


def test_a_rerun_asks_openalex_nothing(openalex, settings):
    openalex.add_work("2403.16510", [("Ziyao Huang", [ICT])])
    first = find_affiliations(make_paper("2403.16510"), GLUED_MARKS, settings)
    age(openalex_cache_path("2403.16510", settings), hours=24 * 365)  # a work with institutions is kept for good
    again = find_affiliations(make_paper("2403.16510"), GLUED_MARKS, settings)
    assert again == first and len(openalex.requests) == 1


def test_not_indexed_yet_is_remembered_for_a_day(openalex, settings):
    assert fetch_openalex("2403.99999", settings) is None  # 404: not indexed yet
    openalex.add_work("2403.99999", [("Ziyao Huang", [ICT])])
    assert fetch_openalex("2403.99999", settings) is None and len(openalex.requests) == 1  # a rerun today: same post
    age(openalex_cache_path("2403.99999", settings), hours=25)
    assert fetch_openalex("2403.99999", settings)["id"]  # a day later OpenAlex has indexed it
    assert len(openalex.requests) == 2


def test_a_work_without_affiliations_is_asked_again_a_day_later(openalex, settings):
    openalex.add_work("2403.16510", [("Ziyao Huang", [])])
    assert parse_openalex(fetch_openalex("2403.16510", settings)) == []
    path = openalex_cache_path("2403.16510", settings)
    age(path, hours=23)
    fetch_openalex("2403.16510", settings)
    assert len(openalex.requests) == 1
    openalex.add_work("2403.16510", [("Ziyao Huang", [ICT])])
    age(path, hours=25)
    assert [a.name for a in parse_openalex(fetch_openalex("2403.16510", settings))] == ["Institute of Computing Technology"]


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


def names(found) -> list[str]:
    return [a.name for a in found]


def counted(found) -> list[str]:
    return [normalise_affiliation(a.name, a.ror, a.country).name for a in found]


def test_first_page_acronyms_glued_marks_names_without_keyword_and_abbreviation_dots():
    authors = ["Alice Chen", "Bob Müller", "Carla Rossi", "Dan Wu"]
    found = parse_pdf_affiliations(ISSUE_SHAPES, authors)
    assert names(found) == ["CUHK", "MPI Informatics", "ETH Zurich", "Tsinghua Univ."]
    assert counted(found) == ["Chinese University of Hong Kong", "Max Planck Institute for Informatics", "ETH Zurich",
                              "Tsinghua University"]
    # An abbreviation's dot is not the end of a sentence, even without a mark or a known name.
    assert names(parse_pdf_affiliations("T\nJane Doe\nWestfield Univ.\nAbstract", ["Jane Doe"])) == ["Westfield Univ."]


def test_first_page_puts_the_first_authors_institutions_first():
    # All marks on one line; the first author is at 2 and 3.
    assert names(parse_pdf_affiliations(ONE_LINE, ["Alice Chen", "Bob Müller"])) == ["MPI Informatics", "ETH Zurich", "CUHK"]
    superscripts = "T\nJane Doe² John Roe¹\n¹CUHK ²MPI Informatics\nAbstract"
    assert names(parse_pdf_affiliations(superscripts, ["Jane Doe", "John Roe"])) == ["MPI Informatics", "CUHK"]


def test_first_page_two_author_columns_read_as_one_line():
    found = parse_pdf_affiliations(TWO_COLUMNS, ["Junjin Xiao", "Qing Zhang", "Wei Li"])
    assert names(found) == ["Sun Yat-sen University", "CUHK", "Peking University", "Shanghai AI Laboratory"]  # SYSU: once
    # A department does not end a name: no new institution starts inside "Dept. of CS Stanford University".
    page = "T\nJane Doe\nDept. of Computer Science Stanford University\nAbstract"
    assert names(parse_pdf_affiliations(page, ["Jane Doe"])) == ["Dept. of Computer Science Stanford University"]


def test_first_page_in_chinese():
    page = "标题\n张三1 李四2 王五3\n1清华大学 2北京大学 3字节跳动\n摘要"
    assert names(parse_pdf_affiliations(page, ["张三", "李四", "王五"])) == ["清华大学", "北京大学", "字节跳动"]
    two_columns = "标题\n张三 李四\n清华大学 字节跳动\n北京 中国 北京 中国\n摘要"
    assert counted(parse_pdf_affiliations(two_columns, ["张三", "李四"])) == ["Tsinghua University", "ByteDance"]


def test_first_page_names_between_author_names_and_names_in_either_order():
    found = parse_pdf_affiliations(NAMES_BETWEEN, ["Ziyao Huang", "Fan Tang", "Qing Zhang"])
    assert names(found) == ["CUHK", "MPI Informatics", "Tsinghua University"]


def test_first_page_symbol_marks_and_an_unknown_name_without_keyword():
    found = parse_pdf_affiliations(SYMBOL_MARKS, ["Jane Doe", "John Roe", "Ann Poe"])
    assert names(found) == ["Stanford University", "Google Research", "Moonshot AI"]
    letters = "T\nJane Doea, John Roeb\naSchool of Computer Science, Wuhan University, China\nbTencent AI Lab\nAbstract"
    assert names(parse_pdf_affiliations(letters, ["Jane Doe", "John Roe"])) == [
        "School of Computer Science, Wuhan University, China", "Tencent AI Lab"]  # Elsevier's letters


def test_first_page_leaves_out_titles_footnotes_addresses_cities_and_emails():
    found = parse_pdf_affiliations(NOT_INSTITUTIONS, ["Jane Doe", "John Roe"])
    assert names(found) == ["Oxford Brookes University"]


def test_first_page_of_real_pdfs():
    """Text as PDFium extracts it from generated PDFs: marks glued to names, and two columns of authors."""
    glued = make_pdf(title="Neural Avatars in the Wild", authors=[("Alice Chen", 1), ("Bob Müller", 2), ("Carla Rossi", 3)],
                     affiliations=["CUHK", "MPI Informatics", "Tsinghua Univ."])
    columns = make_pdf(title="NECA: Neural Customizable Human Avatar", affiliations=[], columns=[
        ["Junjin Xiao", "Sun Yat-sen University", "Guangzhou, China", "xiaojj5@mail2.sysu.edu.cn"],
        ["Qing Zhang∗", "CUHK", "Hong Kong, China", "zhangq@cuhk.edu.hk"]])
    pages = [pdf.read_text(pdf.open_pdf(data), data).first_page for data in (glued, columns)]
    assert "1CUHK" in pages[0].splitlines() and "Sun Yat-sen University CUHK" in pages[1].splitlines()
    assert names(parse_pdf_affiliations(pages[0], ["Alice Chen", "Bob Müller", "Carla Rossi"])) == [
        "CUHK", "MPI Informatics", "Tsinghua Univ."]
    assert names(parse_pdf_affiliations(pages[1], ["Junjin Xiao", "Qing Zhang"])) == ["Sun Yat-sen University", "CUHK"]


WRAPPED_TITLE = """Learning Expressive Head Avatars from Monocular Videos Using
2D Masks and 3D Scene Recon-
struction with 3D Diffusion
J. Doe1 J. Roe2
1Tsinghua University
2Google Research
Abstract
We propose."""
LONG_TITLE = ("Learning Expressive Head Avatars from Monocular Videos Using 2D Masks and 3D Scene Reconstruction with 3D "
              "Diffusion")


def test_first_page_leaves_out_the_lines_of_the_title():
    # The authors are printed as initials, so the header starts on the page's second line: the title's own.
    authors = ["Jane Doe", "John Roe"]
    assert "D Masks" in names(parse_pdf_affiliations(WRAPPED_TITLE, authors))  # without the title: the issue's bug
    assert names(parse_pdf_affiliations(WRAPPED_TITLE, authors, LONG_TITLE)) == ["Tsinghua University", "Google Research"]
    # Matched loosely (wrapped, hyphenated), but as whole words: a line that is not the title's stays.
    for piece in ("Using", "2D Masks and 3D Scene Recon-", "struction with 3D Diffusion"):
        assert is_title_piece(piece, LONG_TITLE), piece
    for other in ("Tsinghua University", "1Tsinghua University", "Recon", "D Masks", "Videos Masks", "MIT"):
        assert not is_title_piece(other, LONG_TITLE), other
    assert is_title_piece("D Masks", LONG_TITLE, marked=True) and not is_title_piece("D Masks", "Masks for 2 D", marked=True)
    glued = make_pdf(title="Head Avatars from Monocular Videos Using\n2D Masks", authors=[("J. Doe", 1)],
                     affiliations=["Tsinghua University", "MPI Informatics"])
    page = pdf.read_text(pdf.open_pdf(glued), glued).first_page
    assert "2D Masks" in page.splitlines() and "1Tsinghua University" in page.splitlines()
    title = "Head Avatars from Monocular Videos Using 2D Masks"
    assert names(parse_pdf_affiliations(page, ["Jane Doe"], title)) == ["Tsinghua University", "MPI Informatics"]


def test_find_affiliations_prefers_openalex_and_falls_back_to_the_pdf(openalex, settings):
    openalex.add_work("2403.16510", [("Ziyao Huang", [ICT])])
    from_openalex = find_affiliations(make_paper("2403.16510"), GLUED_MARKS, settings)
    assert [(a.name, a.source) for a in from_openalex] == [("Institute of Computing Technology", "openalex")]
    from_pdf = find_affiliations(make_paper("2403.99999"), GLUED_MARKS, settings)
    assert from_pdf[0].source == "pdf" and from_pdf[0].name.startswith("Institute of Computing Technology")


def test_openalex_raw_strings_win_over_the_first_page_and_a_bare_work_falls_back_to_it(openalex, settings):
    openalex.add_work("2403.16510", [("Ziyao Huang", [], ["CUHK, Hong Kong"])])
    assert [(a.name, a.source) for a in find_affiliations(make_paper("2403.16510"), GLUED_MARKS, settings)] == [
        ("CUHK, Hong Kong", "openalex")]
    openalex.add_work("2403.11589", [("Ziyao Huang", [])])  # indexed, but nothing about affiliations yet
    assert {a.source for a in find_affiliations(make_paper("2403.11589"), GLUED_MARKS, settings)} == {"pdf"}


# --- the data file and spellings ------------------------------------------------------------------


def test_every_alias_names_one_institution():
    data = read_data("affiliations.yml")
    rules = load_institutions()
    owner: dict[str, str] = {}
    for item in data["institutions"]:
        assert item["country"] in data["countries"], item["name"]
        for alias in [item["name"], *item.get("aliases", [])]:
            key = institution_key(str(alias), rules.abbreviations)
            for k in {key, sorted_key(key)}:
                assert owner.setdefault(k, item["name"]) == item["name"], f"{alias!r} names two institutions"
    for ambiguous in ("MPI", "NTU", "UCB", "IIT"):  # several institutions each
        assert institution_key(ambiguous, {}) not in owner


def test_alike_names_of_different_institutions_stay_apart_and_typos_merge():
    apart = ["Wuhan University of Science and Technology", "Pohang University of Science and Technology",
             "Huazhong University of Science and Technology", "Shandong University of Science and Technology",
             "Xi'an University of Technology", "Dalian University of Technology"]
    assert len({normalise_affiliation(n).name for n in apart}) == len(apart)
    assert len(set(merge_spellings(apart).values())) == len(apart)
    assert normalise_affiliation("Carnegie Melon University").name == "Carnegie Mellon University"
    assert normalise_affiliation("Pohang Univ. of Sci. & Tech.").name == "POSTECH"
    assert normalise_affiliation("The Chinese University of Hong Kong, Shenzhen").name == "Chinese University of Hong Kong, Shenzhen"


def test_a_leading_the_is_no_part_of_the_name():
    rules = load_institutions()
    key = institution_key("The University of Edinburgh", rules.abbreviations)
    assert key == institution_key("University of Edinburgh", rules.abbreviations)
    assert rules.by_key[key].name == "University of Edinburgh"  # the data file's own key, no fuzzy match needed
    assert institution_key("Theory Lab", {}) == "theory lab" and institution_key("The", {}) == "the"
    # Two spellings of an unknown institution: too short for a fuzzy match, so only the dropped "The" merges them.
    merged = merge_spellings(["The Wyvern Lab", "Wyvern Lab", "The Basilisk Institute of Art", "Basilisk Institute of Art"])
    assert merged["The Wyvern Lab"] == merged["Wyvern Lab"]
    assert merged["The Basilisk Institute of Art"] == merged["Basilisk Institute of Art"]
    assert len(set(merged.values())) == 2


# --- what the trends count ------------------------------------------------------------------------


def make_entry(found: tuple[Affiliation, ...], grounded: list[str], arxiv_id: str = "2403.16510") -> Entry:
    summary = Summary(tldr="One line.", key_takeaways=["a", "b", "c"], affiliations=grounded)
    return Entry(paper=make_paper(arxiv_id), extras=Extras(affiliations=found), summary=summary)


def test_trends_leave_out_a_piece_of_the_title_an_older_sidecar_holds():
    paper = make_paper().model_copy(update={"title": "Head Avatars from Monocular Videos Using 2D Masks"})
    found = (Affiliation(name="D Masks", source="pdf"), Affiliation(name="Tsinghua University", source="pdf"))
    entry = Entry(paper=paper, extras=Extras(affiliations=found))
    assert [a.name for a in trends.counted_affiliations(entry)] == ["Tsinghua University"]
    assert trends.affiliations_of(entry) == ["Tsinghua University"]
    # Nothing left of the first page's: the model's grounded ones count, as for a fresh sidecar.
    alone = Entry(paper=paper, extras=Extras(affiliations=found[:1]),
                  summary=Summary(tldr="One line.", key_takeaways=["a", "b", "c"], affiliations=["Peking University"]))
    assert [(a.name, a.source) for a in trends.counted_affiliations(alone)] == [("Peking University", "model")]
    named = Entry(paper=paper, extras=Extras(affiliations=(Affiliation(name="D Masks", source="openalex"),)))
    assert [a.name for a in trends.counted_affiliations(named)] == ["D Masks"]  # OpenAlex's names are its own


def test_trends_count_openalex_then_the_first_page_then_the_models_grounded_affiliations():
    grounded = ["The Chinese University of Hong Kong"]
    from_openalex = make_entry((Affiliation(name="ETH Zurich", ror=ETH[1], country="CH", source="openalex"),), grounded)
    from_page = make_entry((Affiliation(name="Tsinghua Univ.", source="pdf"),), grounded, "2403.11589")
    from_model = make_entry((), grounded, "2403.10335")
    assert [(a.name, a.source) for a in trends.counted_affiliations(from_openalex)] == [("ETH Zurich", "openalex")]
    assert [(a.name, a.source) for a in trends.counted_affiliations(from_page)] == [("Tsinghua Univ.", "pdf")]
    assert [(a.name, a.source) for a in trends.counted_affiliations(from_model)] == [(grounded[0], "model")]
    assert trends.counted_affiliations(make_entry((), [])) == ()
    digest = Digest(date="2024-04-01", topic_slug="t", topic_name="T", language="en", source="sample", summariser="test",
                    entries=(from_openalex, from_page, from_model))
    table = trends.affiliation_table(digest)
    assert dict(zip(table["affiliation"], table["country"])) == {
        "Chinese University of Hong Kong": "Hong Kong", "ETH Zurich": "Switzerland", "Tsinghua University": "China"}
    archive = trends.make_trends([digest], "2024-04-01", 90, "t", "T", "en", 0)
    assert set(trends.top_affiliations(archive)["affiliation"]) == set(table["affiliation"])
