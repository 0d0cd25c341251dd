"""PDFs: text, introduction, code links and figures (found by caption) of generated PDFs; downloads, cache and
failures via fakes; the post's figure block."""

from __future__ import annotations

import hashlib
import html
import os
import re
import time

import pypandoc
import pytest
from PIL import Image

from paperpress import figures as figure_finder, pdf, post
from paperpress.config import Settings
from paperpress.records import Entry, Extras, Figure, Paper
from paperpress.arxiv_api import ArxivClient
from tests.fakes.arxiv import FakeArxiv, unused_url
from tests.fakes.openalex import FakeOpenAlex
from tests.fakes import pdfs as pages
from tests.fakes.pdfs import AFFILIATIONS, TITLE, make_one_column_pdf, make_pages, make_pdf, make_two_column_pdf

CODE = "https://github.com/ICTMCG/Make-Your-Anchor"
PAPER = {
    "arxiv_id": "2403.16510",
    "version": "v1",
    "title": TITLE,
    "authors": ["Ziyao Huang", "Fan Tang", "Yong Zhang"],
    "abstract": "We propose Make-Your-Anchor, an anchor-style video generator.",
    "comment": "accepted at CVPR2024",
    "published": "2024-04-01T09:00:00Z",
}


@pytest.fixture(scope="module")
def pdf_bytes() -> bytes:
    """A first page with title, authors, affiliations, a code link, an intro, a photo; a diagram on page 2."""
    return make_pdf(code_url=CODE, figures=((320, 240, "photo"), (400, 200, "diagram")))


@pytest.fixture(scope="module")
def one_column() -> bytes:
    """One-column pages: raster teaser, vector pipeline, plot and photo side by side, table, list, scan."""
    return make_one_column_pdf()


@pytest.fixture(scope="module")
def two_column() -> bytes:
    """Two-column pages: column figures (vector, raster panels), a full-width figure, a table, a scan."""
    return make_two_column_pdf()


def make_paper(**fields) -> Paper:
    data = {k: v for k, v in PAPER.items() if k != "published"} | fields
    return Paper(**{**data, "authors": tuple(data["authors"])})


def file_digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_text_intro_and_links_of_the_first_pages(pdf_bytes):
    doc = pdf.open_pdf(pdf_bytes)
    text = pdf.read_text(doc, pdf_bytes)
    lines = text.first_page.splitlines()
    assert lines[:3] == [TITLE, "Ziyao Huang1, Fan Tang2, Yong Zhang3", f"1{AFFILIATIONS[0]}"]
    assert text.intro.startswith("Digital avatars are everywhere") and text.intro.endswith("that does so.")
    assert "Related Work" not in text.intro
    assert text.links == (CODE,)


def test_find_intro_variants():
    ieee = "I. INTRODUCTION\nAvatars are every-\nwhere, state-of-the-art.\nII. RELATED WORK\nOld work."
    assert pdf.find_intro(ieee) == "Avatars are everywhere, state-of-the-art."
    assert pdf.find_intro("1. Introduction\nShort.\nRelated Works\nX") == "Short."
    assert pdf.find_intro("no heading here") == ""
    assert pdf.find_intro("1 Introduction\n" + "word " * 3000).endswith(" …")


def test_figures_are_the_captioned_areas_with_stable_bytes(pdf_bytes, tmp_path):
    doc = pdf.open_pdf(pdf_bytes)
    first = figure_finder.extract_figures(doc, "2403.16510v1", TITLE, tmp_path / "a")
    again = figure_finder.extract_figures(doc, "2403.16510v1", TITLE, tmp_path / "b")
    assert [f.path for f in first] == ["figures/2403.16510v1-1.webp", "figures/2403.16510v1-2.webp"]  # the logo is skipped
    assert [f.alt for f in first] == ["Figure 1: Overview of panel 1 of our pipeline.", "Figure 2: Overview of panel 2 of our pipeline."]
    assert [f.caption for f in first] == [f.alt for f in first]
    assert first == again
    for figure, (width, height) in zip(first, [(320, 240), (400, 200)]):
        saved = tmp_path / "a" / figure.path
        assert file_digest(saved) == file_digest(tmp_path / "b" / figure.path)
        with Image.open(saved) as image:
            assert image.format == "WEBP" and image.size == (figure.width, figure.height)
            # The crop is the image and its margin: no line of the text above it.
            assert abs(image.width / image.height - width / height) < 0.06


def test_at_most_six_figures(tmp_path):
    data = make_pdf(figures=[(200 + 10 * n, 200, "photo") for n in range(8)], logo=False)
    figures = figure_finder.extract_figures(pdf.open_pdf(data), "2401.00001v2", "T", tmp_path)
    assert len(figures) == 6 and figures[-1].alt.startswith("Figure 6:")


def crop_size(figure) -> tuple[float, float]:
    """A figure's size in PDF points as rendered (its margin of CROP_PAD on each side removed)."""
    scale = figure_finder.RENDER_SCALE
    return figure.width / scale - 2 * figure_finder.CROP_PAD, figure.height / scale - 2 * figure_finder.CROP_PAD


def near(size: tuple[float, float], expected: tuple[float, float], slack: float = 6.0) -> bool:
    """Whether a size (pt) is the expected one, give or take strokes and tick labels."""
    return all(abs(a - b) <= slack for a, b in zip(size, expected))


def test_one_column_pages_give_every_captioned_figure_and_no_text(one_column, tmp_path):
    figures = figure_finder.extract_figures(pdf.open_pdf(one_column), "2401.00010v1", "T", tmp_path)
    assert [f.caption for f in figures] == [
        "Figure 1: Teaser. Avatars made by our method.",
        "Figure 2: The pipeline: an encoder, a denoiser and a decoder, drawn as vectors.",
        "Figure 3: Loss per epoch.",
        "Figure 4: A photo.",
        "Figure 6: A photo right under another caption.",
        "Figure 7: A photo right under a table caption.",
    ]  # not Figure 5 (only a list above it), not the tables, not the scanned page
    teaser, pipeline, plot, photo, under_figure, under_table = figures
    assert near(crop_size(teaser), (275, 206))  # the 4:3 photo in its 0.6 x 0.26 page box
    assert near(crop_size(pipeline), (419 + 2, 63 + 2))  # three boxes and two arrows, strokes included
    with Image.open(tmp_path / pipeline.path) as image:
        assert (255, 127, 14) in {colour for _, colour in image.convert("RGB").getcolors(1 << 16)}  # the vector fill
    assert near(crop_size(photo), (211, 158))  # side by side: each caption keeps its own half
    assert crop_size(plot)[0] < 306 - 49 and crop_size(plot)[1] < 158 + 30
    assert near(crop_size(under_figure), (127, 95)) and near(crop_size(under_table), (137, 103))  # captions above end them


def test_two_column_pages_columns_panels_and_full_width(two_column, tmp_path):
    figures = figure_finder.extract_figures(pdf.open_pdf(two_column), "2401.00011v1", "T", tmp_path)
    assert [f.caption for f in figures] == [
        "Figure 1: Overview of the system, drawn with vector paths and text labels only.",
        "Fig. 2. Three frames generated from one pose sequence.",
        "Figure 3: Full-width comparison of the loss curves and a generated frame.",
    ]  # a body line that starts with "Figure 3:" is no caption; the table and the scan give nothing
    diagram, frames, wide = figures
    assert near(crop_size(diagram), (208 + 2, 55 + 2))  # within the left column
    assert near(crop_size(frames), (231, 72))  # three raster panels, one figure
    assert crop_size(wide)[0] > 480 and near(crop_size(wide), (crop_size(wide)[0], 166))  # both columns, no running head


def test_loose_images_are_kept_scaled_down_and_scans_and_bare_pages_give_none(tmp_path):
    wide = make_pdf(figures=[(1500, 300, "photo")], captions=["A wide photo that no caption numbers."], logo=False)
    [figure] = figure_finder.extract_figures(pdf.open_pdf(wide), "2401.00002v1", "T", tmp_path)
    assert figure.width == figure_finder.MAX_FIGURE_WIDTH and figure.height in (240, 241)
    assert (figure.alt, figure.caption) == ("T: figure on page 1", "")
    assert figure_finder.extract_figures(pdf.open_pdf(make_pdf(figures=(), logo=True)), "2401.00003v1", "T", tmp_path) == []
    scan = make_pages([[pages.scan(1)], [pages.scan(2)]])
    assert figure_finder.extract_figures(pdf.open_pdf(scan), "2401.00004v1", "T", tmp_path) == []


def test_a_spent_time_budget_renders_nothing(one_column, monkeypatch, tmp_path):
    monkeypatch.setattr(figure_finder, "FIGURE_SECONDS", -1.0)
    assert figure_finder.extract_figures(pdf.open_pdf(one_column), "2401.00012v1", "T", tmp_path) == []


def test_figure_block_shows_captions_as_literal_text():
    caption = 'Figure 1: <script>x</script> *bold* $x_1$ [link](https://e.org) "q" & ~s~'
    figure = Figure(path="figures/a-1.webp", alt=caption, caption=caption, width=10, height=10)
    block = post.render_figures(Entry(paper=make_paper(), extras=Extras(figures=(figure,))), post.LABELS["en"])
    assert "<script>" not in block and "<figcaption>" in block
    html_out = pypandoc.convert_text(block, "html", format="markdown")
    text = html.unescape(re.sub(r"<[^>]+>", " ", html_out.split("<figcaption>")[1].split("</figcaption>")[0]))
    assert " ".join(text.split()) == caption  # no emphasis, maths, link or tag made of it
    assert f'alt="{html.escape(caption)}"' in html_out


def test_code_links_from_abstract_comment_and_first_page():
    paper = make_paper(abstract="Code: https://github.com/a/b.", comment="Project page: https://a.github.io/b/")
    text = pdf.PdfText(first_page="Code at https://github.com/ICTMCG/Make-\nYour-Anchor and https://doi.org/10.1/x", links=(CODE,))
    assert pdf.find_code_links(paper, text) == ("https://github.com/a/b", "https://a.github.io/b/", CODE)
    assert pdf.find_code_links(make_paper(), pdf.PdfText(first_page="See https://doi.org/10.1/x")) == ()


@pytest.fixture
def fakes():
    with FakeArxiv([PAPER]) as arxiv, FakeOpenAlex() as openalex:
        yield arxiv, openalex


def settings_for(fakes, tmp_path) -> Settings:
    arxiv, openalex = fakes
    return Settings(arxiv_api_url=arxiv.url, arxiv_delay_seconds=0.0, openalex_url=openalex.url, cache_dir=tmp_path / "cache")


def test_enrich_papers_downloads_once_and_fills_extras(fakes, pdf_bytes, tmp_path, monkeypatch):
    arxiv, openalex = fakes
    arxiv.add_pdf("2403.16510v1", pdf_bytes)
    paper = make_paper(pdf_url=arxiv.pdf_url("2403.16510v1"))
    settings = settings_for(fakes, tmp_path)
    [extras] = pdf.enrich_papers([paper], settings, tmp_path / "post")
    assert extras.pdf_status == "ok" and extras.first_page.startswith(TITLE)
    assert [a.name for a in extras.affiliations] == list(AFFILIATIONS) and extras.affiliations[0].source == "pdf"
    assert extras.code_urls == (CODE,)
    assert [f.path for f in extras.figures] == ["figures/2403.16510v1-1.webp", "figures/2403.16510v1-2.webp"]
    assert (tmp_path / "post" / extras.figures[0].path).is_file()
    assert list((tmp_path / "cache" / "figures").glob("v*/*/figures.json"))
    assert (tmp_path / "cache" / "pdf" / "2403.16510v1.pdf").read_bytes() == pdf_bytes
    openalex.add_work("2403.16510", [("Ziyao Huang", [("Tsinghua University", "https://ror.org/03cve4549", "CN")])])
    # A day later (OpenAlex's "not indexed yet" is remembered for a day), it has indexed the paper.
    stale = time.time() - 25 * 3600
    os.utime(tmp_path / "cache" / "openalex" / "2403.16510.json", (stale, stale))
    monkeypatch.setattr(figure_finder, "make_figures", lambda *a: pytest.fail("the rerun rendered figures"))
    (tmp_path / "post" / extras.figures[0].path).unlink()
    [rerun] = pdf.enrich_papers([paper], settings, tmp_path / "post")
    assert len(arxiv.pdf_requests) == 1  # the rerun read the cache
    assert rerun.figures == extras.figures and (tmp_path / "post" / extras.figures[0].path).is_file()
    assert [(a.name, a.source) for a in rerun.affiliations] == [("Tsinghua University", "openalex")]


def test_no_assets_folder_means_no_figures(fakes, pdf_bytes, tmp_path):
    arxiv, _ = fakes
    arxiv.add_pdf("2403.16510v1", pdf_bytes)
    [extras] = pdf.enrich_papers([make_paper(pdf_url=arxiv.pdf_url("2403.16510v1"))], settings_for(fakes, tmp_path), None)
    assert extras.pdf_status == "ok" and extras.figures == ()


def test_pdf_failures_are_marked_and_never_raise(fakes, tmp_path):
    arxiv, _ = fakes
    arxiv.add_pdf("2403.00002v1", b"%PDF-1.7\nnot really a PDF")
    arxiv.add_pdf("2403.00003v1", b"<html>PDF being generated</html>")
    arxiv.fail_pdf(503)
    papers = [
        make_paper(arxiv_id="2403.00001", abstract="Code: https://github.com/a/b", pdf_url=arxiv.pdf_url("2403.00001v1")),
        make_paper(arxiv_id="2403.00002", pdf_url=arxiv.pdf_url("2403.00002v1")),
        make_paper(arxiv_id="2403.00003", pdf_url=arxiv.pdf_url("2403.00003v1")),
        make_paper(arxiv_id="2403.00004", pdf_url=unused_url("/pdf/2403.00004v1")),
        make_paper(arxiv_id="2403.00005", pdf_url=""),
    ]
    extras = pdf.enrich_papers(papers, settings_for(fakes, tmp_path), tmp_path / "post")
    assert [e.pdf_status for e in extras] == ["missing", "broken", "broken", "missing", "missing"]
    assert extras[0].code_urls == ("https://github.com/a/b",)  # the abstract still counts
    assert all(e.figures == () and e.first_page == "" for e in extras)
    assert not list((tmp_path / "cache").glob("pdf/*"))  # only readable PDFs stay cached


def test_download_caps_size_and_time(fakes, pdf_bytes):
    arxiv, _ = fakes
    arxiv.add_pdf("2403.16510v1", pdf_bytes)
    client = ArxivClient(arxiv.url, 0.0)
    url = arxiv.pdf_url("2403.16510v1")
    assert pdf.download_pdf(url, client, max_bytes=1000) == ("too-large", b"")
    arxiv.fail_pdf(200, seconds=1.0)
    assert pdf.download_pdf(url, client, timeout=0.2) == ("missing", b"")
    assert pdf.download_pdf(url, client) == ("ok", pdf_bytes)




def test_post_shows_every_captioned_figure_of_the_test_pdfs(fakes, one_column, two_column, tmp_path):
    arxiv, _ = fakes
    arxiv.add_pdf("2401.00010v1", one_column)
    arxiv.add_pdf("2401.00011v1", two_column)
    papers = [make_paper(arxiv_id=i, pdf_url=arxiv.pdf_url(f"{i}v1")) for i in ("2401.00010", "2401.00011")]
    extras = pdf.enrich_papers(papers, settings_for(fakes, tmp_path), tmp_path / "post")
    page = "\n".join(pypandoc.convert_text(post.render_paper(Entry(paper=p, extras=e), "en"), "html", format="markdown")
                     for p, e in zip(papers, extras))
    shown = [html.unescape(" ".join(c.split())) for c in re.findall(r"<figcaption>(.*?)</figcaption>", page, re.S)]
    alts = [html.unescape(a) for a in re.findall(r'<img src="figures/[^"]+" alt="([^"]*)"', page)]
    captions = [f.caption for e in extras for f in e.figures]
    assert [c.split(":")[0].split(".")[0] for c in captions] == ["Figure 1", "Figure 2", "Figure 3", "Figure 4", "Figure 6",
                                                                  "Figure 7", "Figure 1", "Fig", "Figure 3"]
    assert shown == captions and alts == captions
    assert all((tmp_path / "post" / f.path).is_file() for e in extras for f in e.figures)
