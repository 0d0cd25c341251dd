"""Trend sections and the trends page: the reading of the numbers, escaping, first posts, papermill end to end."""

from __future__ import annotations

import dataclasses
import html
import json
import re
import shutil

import nbformat
import pytest
import yaml

from paperpress import archive as store, publish, site, trendpage, trends, vocab

from .helpers import ROOT, chart_links, make_project, markdown_outputs, read_post, run_cli
from .test_trends import (SAMPLE_DIR, archive, first_listings, load_trends, make_post, planted_trends,  # noqa: F401
                          toy_trends)


def test_reading_states_the_counts(archive):  # noqa: F811
    t = load_trends(archive, "talking-head")
    text = trendpage.render_reading(t)
    days = sorted({r["listed_on"] for r in first_listings("talking-head").values()})
    assert text.startswith(f"50 posts with 185 papers, {days[0]} to 2024-12-07.")
    families = trends.count_terms(t, "family")
    assert f"{families.index[0]} ({families.iloc[0]} papers" in text
    assert f"then {families.index[1]} ({families.iloc[1]})." in text
    chinese = trendpage.render_reading(dataclasses.replace(t, language="zh", memo={}))
    second = vocab.family_name(families.index[1], "zh")  # a family named in the page's language
    assert f"其次是{second}（{families.iloc[1]} 篇）" in chinese and second != families.index[1]  # not "(41)"
    assert not re.search(r"[A-Za-z]", chinese.split("\n\n")[1])  # the families' sentence is all Chinese
    keywords = trends.count_terms(t, "keyword")
    assert f"the keywords used most are “{keywords.index[0]}” ({keywords.iloc[0]} papers)" in text
    # Nothing in the sample passes the test, and the reading says so instead of naming the noisiest term.
    stat = trends.changes_data(t)["statistic"]
    assert ("In the last 90 days (66 papers, against 58 in the 90 days before): no keyword, method, method family or "
            f"institution changed more than chance would explain ({stat['tested']} terms compared; "
            f"|z| ≥ {stat['needed']:.1f} needed).") in text
    assert "No affiliations are known" in text  # the sample source has no affiliations


def test_reading_names_only_findings():
    t = planted_trends()
    data = trends.changes_data(t)
    text = trendpage.render_reading(t)
    window = next(line for line in text.split("\n\n") if line.startswith("In the last 90 days"))
    # The method tag and the keyword "3D Gaussian Splatting" are one finding: named once, as the method.
    assert window.endswith("more papers than before mention the method family representation (44 against 5; "
                           "z = +5.1) and the method 3D Gaussian Splatting (37 against 0; z = +4.8).")
    named = set(re.findall(r"“([^”]+)”", window)) | set(re.findall(r"the method (?:family )?([\w -]+?) \(", window))
    assert named <= {c["term"] for c in data["rising"] + data["fading"]}  # never a change that did not pass
    assert "fewer" not in window  # nothing faded


def test_reading_in_chinese(archive):  # noqa: F811
    text = trendpage.render_reading(load_trends(archive, "metaverse-avatars"))
    assert text.startswith("共 37 篇推送、114 篇论文，2024-01-24 至 2024-12-07。") and "最常见的方法类别是" in text
    assert "近 90 天（39 篇论文，此前 90 天为 43 篇）：关键词、方法、方法类别与单位的变化都在随机波动范围内" in text
    assert "。." not in text and "). " not in text


def evil_trends() -> trends.Trends:
    """6 papers with 'nerf' in the earlier window, 6 with hostile keywords in the later one."""
    posts = [make_post("2024-03-02", [["nerf"]] * 6, 0),
             make_post("2024-03-12", [["evil*bold*<script>alert(1)</script>term", "w[x](javascript:y)z"]] * 6, 10)]
    return trends.make_trends(posts, "2024-03-20", 10, "toy", "Toy", "en", 1)


def test_rising_tables_show_counts_and_escape_outside_text():
    t = evil_trends()
    html = "\n".join(trendpage.render_rising_tables(t))
    assert "<script" not in html and "evil*bold*&lt;script&gt;alert(1)&lt;/script&gt;term" in html
    assert "<caption>Rising: last 10 days against the 10 before</caption>" in html
    assert "<caption>Fading: last 10 days against the 10 before</caption>" in html
    # 6 of 6 papers now, 0 of 6 before: z = 2.51 (α0 = 1.2, a = b = 0.6), a finding among the 4 terms tested
    assert "<td>+100.0</td>\n      <td>+2.51</td>" in html
    reading = trendpage.render_reading(t)
    assert "<script" not in reading and "“evil\\*bold\\*&lt;script&gt;alert(1)&lt;/script&gt;term” (6 against 0" in reading


def test_rising_tables_by_hand():
    t = planted_trends()
    html = "\n".join(trendpage.render_rising_tables(t))
    assert "135 in the last 90 days, 135 in the 90 before" in html and "|z| ≥ 2.72" in html
    # 37 of 135 papers now (27.4 %), 0 before: +27.4 points, z = 4.79 (trends.json has the same numbers)
    row = re.search(r"<td>3d gaussian splatting</td>\s*<td>keyword</td>\s*<td>37</td>\s*<td>27.4</td>\s*<td>0</td>\s*"
                    r"<td>0.0</td>\s*<td>\+27.4</td>\s*<td>\+4.79</td>", html)
    assert row, html
    assert "*Nothing faded significantly.*" in html
    toy = "\n".join(trendpage.render_rising_tables(toy_trends()))
    assert "5 in the last 10 days, 4 in the 10 before" in toy and "<table" not in toy
    # Only the method NeRF and its family (every paper) have 5 papers in a window: tested, z = 0.
    assert "**No significant change: none of the 2 terms with at least 5 papers in one window" in toy


def test_first_post_gets_one_line_and_no_archive_sections():
    first = trends.make_trends([make_post("2024-03-20", [["nerf"]], 0)], "2024-03-20", 90, "toy", "Toy", "zh", 0)
    assert trendpage.render_recent_heading(first) == "*这是本主题的第一篇推送：随时间变化的趋势从下一篇开始。*"
    assert trendpage.render_post_recent(first, "zh") == []  # a first post has no archive section


def test_recent_heading_counts_the_window():
    assert trendpage.render_recent_heading(toy_trends()) == (
        "### Last 10 days\n\n1 earlier posts and today's: 5 papers.")


def test_front_matter_and_post_dates(archive, tmp_path):  # noqa: F811
    t = load_trends(archive, "metaverse-avatars")
    (tmp_path / "charts").mkdir()
    (tmp_path / "charts" / "families.png").write_bytes(b"png")
    trendpage.save_front_matter(t, str(tmp_path))
    matter = json.loads((tmp_path / "front-matter.json").read_text(encoding="utf-8"))
    # families in the topic's language; February and March had no post: "no posts", not 0
    assert matter.pop("image-alt").startswith("各方法类别每月论文数 (2024-01 – 2024-12) 三维表示: 6, 无推送, 无推送, 6")
    assert matter == {"title": "趋势 · 元宇宙/虚拟人", "date": "2024-12-07",
                      "description": "元宇宙/虚拟人 方向趋势：方法类别、单位与关键词随时间的变化（37 篇推送，2024-01-24 至 2024-12-07）。",
                      "lang": "zh-Hans", "echo": False, "toc": True, "image": "charts/families.png",
                      "topic-name": "元宇宙/虚拟人", "topic-language": "中文", "topic-posts": 37,
                      "topic-latest": "[2024-12-07](posts/2024-12-07-metaverse-avatars/index.html)"}
    dates = store.list_post_dates(archive, "talking-head", end_date="2024-02-01")
    assert dates[0] == "2024-01-24" and all(d <= "2024-02-01" for d in dates)
    assert publish.build_trends_page("nerf", str(ROOT / "topics.yml"), str(archive), str(tmp_path / "trends")) is None


@pytest.fixture(scope="module")
def project(tmp_path_factory, archive):  # noqa: F811
    """A project holding the sample archive's sidecars, the templates and the site files."""
    root = make_project(tmp_path_factory.mktemp("trendpage"))
    shutil.copy(ROOT / "notebooks" / "trends.ipynb", root / "notebooks" / "trends.ipynb")
    for name in ("_quarto.yml", "index.qmd", "about.qmd", "topics.qmd", "trends.qmd"):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(archive, root / "posts")
    return root


@pytest.mark.slow
def test_trends_page_end_to_end(project, monkeypatch):
    monkeypatch.chdir(project)
    path = publish.build_trends_page("talking-head")  # papermill run 1
    assert path.as_posix() == "trends/talking-head/index.ipynb"
    nb = nbformat.read(project / path, as_version=4)
    nbformat.validate(nb)
    matter = yaml.safe_load(nb.cells[0].source.strip("-\n"))
    assert nb.cells[0].cell_type == "raw" and matter["title"] == "Trends · Talking Head Generation"
    assert matter["date"] == "2024-12-07" and matter["lang"] == "en" and "50 posts" in matter["description"]
    assert (project / "trends" / "talking-head" / matter["image"]).is_file()
    outputs = markdown_outputs(nb)
    headings = [o.splitlines()[0] for o in outputs if o.startswith("## ")]
    assert headings == ["## Reading the numbers", "## Method families over time", "## Papers over time",
                        "## Keywords over time", "## Rising and fading", "## Top affiliations"]
    charts = chart_links(nb)
    assert len(charts) == 3 and all(alt for _path, alt in charts)  # no finding: no rising chart
    assert matter["image-alt"] == dict(charts)["charts/families.png"]
    assert any("\n\n**No significant change:" in o for o in outputs)
    data = (project / "trends" / "talking-head" / "trends.json").read_bytes()  # moved in with the page
    assert data == trendpage.dump_data(load_trends(project / "posts", "talking-head")).encode("utf-8")
    assert any("[trends.json](trends.json)" in o for o in outputs)
    for cell in nb.cells:
        assert not [o for o in cell.get("outputs", []) if o.output_type in ("error", "stream")]
    assert not (project / ".paperpress" / "staging" / "trends-talking-head").exists()
    assert not (project / "trends" / "talking-head" / "front-matter.json").exists()
    site.render_site(project, quarto=None)
    listing = (project / "_site" / "trends.html").read_text(encoding="utf-8")
    assert 'href="trends/talking-head/index.html"' in listing and "Trends · Talking Head Generation" in listing
    page = (project / "_site" / "trends" / "talking-head" / "index.html").read_text(encoding="utf-8")
    assert '<a href="../../trends.html">趋势</a>' in page and "Reading the numbers" in page  # the site's navbar, the topic's page
    assert 'href="trends.json"' in page and (project / "_site" / "trends" / "talking-head" / "trends.json").read_bytes() == data


@pytest.mark.slow
def test_post_shows_the_last_90_days_after_todays_trends(project):
    result = run_cli(project, "run", "--offline", "--sample", str(SAMPLE_DIR / "talking-head.jsonl"),
                     "--topic", "talking-head", "--date", "2024-12-07", "--max-papers", "100",
                     "--no-trends")  # papermill run 2 (the page has its own test)
    assert result.returncode == 0, result.stderr
    folder = project / "posts" / "2024-12-07-talking-head"
    nb = read_post(folder)
    text = "\n".join(markdown_outputs(nb))
    paper, trend, recent = text.index("**Authors:**"), text.index("\n## Trends\n"), text.index("\n### Last 90 days\n")
    assert paper < trend < recent  # the papers first, then today's trends, then the last 90 days
    assert "Against the 90 days before: no keyword, method, method family or institution changed significantly." in text
    assert "trends.json" not in text  # the data file sits beside trends pages, not posts
    assert not chart_links(nb) and not (folder / "charts").exists()  # the trends page has the charts
    assert text.rstrip().endswith("[trends page](../../trends/talking-head/index.html).")


def test_rising_chart_and_data_file(tmp_path):
    first = trends.make_trends([make_post("2024-03-20", [["nerf"]], 0)], "2024-03-20", 90, "toy", "Toy", "en", 0)
    trendpage.show_changes(first, str(tmp_path / "first"))
    assert not (tmp_path / "first" / "charts" / "rising.png").exists()
    trendpage.show_changes(toy_trends(), str(tmp_path / "toy"))  # an earlier window, but no finding
    assert not (tmp_path / "toy" / "charts" / "rising.png").exists()
    t = planted_trends()
    (tmp_path / "planted").mkdir()
    trendpage.save_data(t, str(tmp_path / "planted"))
    parts = trendpage.render_changes(t, str(tmp_path / "planted"))
    assert (tmp_path / "planted" / "charts" / "rising.png").is_file() and parts[1].name == "rising"
    assert parts[-1] == "All counts and scores of this comparison: [trends.json](trends.json) (download)."
    text = (tmp_path / "planted" / "trends.json").read_text(encoding="utf-8")
    assert json.loads(text) == trends.changes_data(t) and text == trendpage.dump_data(planted_trends())
    assert list(json.loads(text)) == sorted(json.loads(text))  # sorted keys: the same bytes on every run
    assert not [p for p in trendpage.render_changes(t) if "trends.json" in str(p)]  # no folder, no file, no link


@pytest.mark.parametrize("language, jargon", [("en", "log-odds"), ("zh", "狄利克雷")])
def test_the_statistic_is_one_plain_sentence_with_its_details_folded(language, jargon):
    for t in (toy_trends(), planted_trends()):  # no change, and a finding
        t = dataclasses.replace(t, language=language, memo={})
        parts = trendpage.render_rising_tables(t, data_link="trends.json")
        assert parts[0] == trendpage.LABELS[language]["plain"].format(days=t.window_days)
        folded = [p for p in parts if p.startswith('<details class="statistic">')]
        assert len(folded) == 1 and jargon in folded[0] and "|z|" in folded[0]
        shown = [p for p in parts if p not in folded]
        assert not [p for p in shown if jargon in p or "|z|" in p], shown


@pytest.mark.slow
def test_a_zh_topics_trends_page_is_all_chinese_where_we_write_it(project, monkeypatch):
    """Headings, reading, captions, chart titles, axes, legends and family names: Chinese. Not ours to translate:
    the terms counted (keywords, method tags, institutions), the services' names and the data file's."""
    monkeypatch.chdir(project)
    publish.build_trends_page("metaverse-avatars")
    site.render_site(project, quarto=None)
    page = (project / "_site" / "trends" / "metaverse-avatars" / "index.html").read_text(encoding="utf-8")
    main = re.search(r"<main>(.*?)</main>", page, re.S).group(1)
    alts = " ".join(re.findall(r'alt="([^"]*)"', main))
    text = html.unescape(re.sub(r"<[^>]+>", " ", main) + " " + alts)
    t = load_trends(project / "posts", "metaverse-avatars")
    terms = {term for kind in ("keyword", "method", "affiliation", "country") for term in trends.count_terms(t, kind).index}
    data_words = {w.lower() for t in terms for w in re.findall(r"[A-Za-z]+", t)}
    allowed = {"openalex", "pdf", "trends", "json", "z", "fightin", "words"}  # services, the data file, the cited method
    english = sorted({w for w in re.findall(r"[A-Za-z]+", text) if w.lower() not in data_words | allowed})
    assert not english, english
    assert "三维表示" in text and "无推送" in text and "计数与检验方法" in text
