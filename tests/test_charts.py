"""Charts of the trend sections: produced without error, with the expected series, readable and reproducible."""

from __future__ import annotations

import re
import warnings

import pytest

from paperpress import archive as store, charts, trends, vocab

from .helpers import require, system_has_cjk_font
from .test_trends import archive, load_trends, planted_trends, toy_trends  # noqa: F401  (archive is a fixture)

PNG = b"\x89PNG\r\n\x1a\n"


def is_png(chart: charts.Chart) -> bool:
    """Whether a chart holds PNG bytes and alt text."""
    return chart.png.startswith(PNG) and bool(chart.alt.strip())


@pytest.mark.parametrize("slug", ["metaverse-avatars", "talking-head"])
def test_trend_charts_have_the_expected_series(archive, slug, tmp_path):  # noqa: F811
    t = load_trends(archive, slug)
    families = charts.plot_families(t, str(tmp_path))
    assert is_png(families) and (tmp_path / "charts" / "families.png").read_bytes() == families.png
    assert families.series == tuple(vocab.family_name(f, t.language) for f in trends.family_over_time(t).index)
    assert {vocab.family_name(f, t.language) for f in vocab.family_order()} >= set(families.series)
    assert len(families.series) >= 5
    papers = charts.plot_papers(t)
    assert is_png(papers) and papers.series == ("papers",) and "2024-01 – 2024-12" in papers.alt
    keywords = charts.plot_keyword_trend(t)
    assert is_png(keywords) and keywords.series == tuple(trends.count_terms(t, "keyword").index[:10])
    rising = charts.plot_rising(t)  # the samples' windows hold no significant change
    assert is_png(rising) and rising.series == () and rising.alt.endswith(charts.LABELS[t.language]["no_change"])


def test_alt_text_carries_the_numbers():
    t = toy_trends()
    chart = charts.plot_families(t, recent=True)
    assert chart.series == ("representation",)
    assert "representation: 3, 2" in chart.alt and "2024-03-11 – 2024-03-18" in chart.alt
    planted = planted_trends()
    rising = charts.plot_rising(planted)
    assert "3d gaussian splatting (keyword) z +4.8 (37 vs 0)" in rising.alt
    assert "representation (method family) z +5.1 (44 vs 5)" in rising.alt


def test_rising_chart_is_drawn_from_the_data():
    t = planted_trends()
    data = trends.changes_data(t)
    chart = charts.plot_rising(t, top=8)
    assert chart.series == tuple(c["term"] for c in [*data["rising"][:8], *data["fading"][:8][::-1]])
    fig = charts.plot_changes([*data["rising"], *data["fading"][::-1]], data["statistic"]["needed"], "t", charts.LABELS["en"])
    ax = fig.axes[0]
    dashed = sorted(line.get_xdata()[0] for line in ax.get_lines() if line.get_linestyle() == "--")
    assert dashed == pytest.approx([-data["statistic"]["needed"], data["statistic"]["needed"]])  # the threshold
    bars = sorted(bar.get_width() for bar in ax.patches)
    assert bars == pytest.approx(sorted(c["score"] for c in data["rising"] + data["fading"]))
    assert ax.get_yticklabels()[-1].get_text() == f"{data['rising'][0]['term']} · method family (44 vs 5)"


def test_same_inputs_same_bytes(archive):  # noqa: F811
    t = load_trends(archive, "talking-head")
    assert charts.plot_families(t).png == charts.plot_families(t).png
    assert charts.plot_rising(t).png == charts.plot_rising(t).png


def test_empty_trends_still_draw():
    t = trends.make_trends([], "2024-03-20", 10, "toy", "Toy", "en", 0)
    for chart in (charts.plot_families(t), charts.plot_papers(t), charts.plot_keyword_trend(t), charts.plot_rising(t),
                  charts.plot_affiliations(t)):
        assert is_png(chart) and chart.series in ((), ("papers",))


def test_methods_legend_sits_outside_the_bars(archive):  # noqa: F811
    day = store.read_digest(archive / "2024-04-01-metaverse-avatars")
    table = trends.method_table(day)
    legend = charts.family_colours(table["family"])
    fig = charts.plot_bars(table, "method", "t", "papers", [legend[f] for f in table["family"]], legend)
    fig.canvas.draw()
    ax = fig.axes[0]
    assert ax.get_legend().get_window_extent().x0 >= ax.get_window_extent().x1
    assert list(legend) == [f for f in vocab.family_order() if f in set(table["family"])]  # fixed order and colour


def test_chinese_labels_render_with_a_cjk_font(archive):  # noqa: F811
    # Whether a font is there is asked of the system, not of the lookup under test.
    require(system_has_cjk_font(), "no font with Chinese glyphs installed (apt-get install fonts-wqy-microhei)")
    assert charts.find_cjk_font() is not None, "a CJK font is installed but charts.find_cjk_font did not find it"
    t = load_trends(archive, "metaverse-avatars")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chart = charts.plot_families(t)
    assert chart.alt.startswith("各方法类别每月论文数")
    assert not [w for w in caught if "missing from" in str(w.message)]  # no tofu boxes


def test_heatmap_of_many_periods_skips_cell_numbers():
    import pandas as pd

    table = pd.DataFrame([[1] * 40], index=["a"], columns=[f"p{i}" for i in range(40)])
    fig = charts.plot_heatmap(table, "t", "x", "y", charts.LABELS["en"])
    assert not fig.axes[0].texts  # 40 numbers would not be readable at blog width
    small = charts.plot_heatmap(table.iloc[:, :5], "t", "x", "y", charts.LABELS["en"])
    assert [t.get_text() for t in small.axes[0].texts] == ["1"] * 5


def test_affiliations_chart_shows_institutions_then_countries(archive):  # noqa: F811
    from .test_trends import with_affiliations

    posts = with_affiliations(store.load_archive(archive, "talking-head"),
                              [["Tsinghua Univ., Beijing, China"], ["CAS ICT"], ["ETH Zürich"], []])
    t = trends.make_trends(posts, posts[-1].date, 90, "talking-head", "T", "en", len(posts) - 1)
    chart = charts.plot_affiliations(t)
    assert is_png(chart)
    # 185 papers in a cycle of 4: Tsinghua 47, ICT 46, ETH 46 (ties alphabetical); China 93, Switzerland 46
    assert chart.series == ("Tsinghua University", "ETH Zurich", "Institute of Computing Technology",
                            "China", "Switzerland")
    recent = charts.plot_affiliations(t, recent=True)
    assert "China" not in recent.series and recent.alt.startswith("Top affiliations: ")


def test_a_zh_topics_charts_hold_no_english_we_wrote(archive, monkeypatch):  # noqa: F811
    """Titles, axes, legends and family names of a zh topic's charts are Chinese; only series names (keywords,
    methods, institutions, arXiv's own words) and numbers are not ours to translate."""
    drawn: list[str] = []
    render = charts.render_png

    def record(fig):
        drawn.extend(t.get_text() for t in fig.findobj(charts.matplotlib.text.Text) if t.get_visible() and t.get_text().strip())
        return render(fig)

    monkeypatch.setattr(charts, "render_png", record)
    t = load_trends(archive, "metaverse-avatars")
    planted = planted_trends()
    zh_planted = trends.Trends(**{**planted.__dict__, "language": "zh", "memo": {}})  # rising and fading, in Chinese
    made = [charts.plot_families(t), charts.plot_papers(t), charts.plot_keyword_trend(t), charts.plot_affiliations(t),
            charts.plot_rising(zh_planted)]
    series = {name for chart in made for name in chart.series}
    ours = []
    for text in drawn:
        for name in sorted(series, key=len, reverse=True):
            text = text.replace(name, " ")
        for name in sorted(series, key=len, reverse=True):
            text = text.replace(name[:23], " ")  # row labels may be cut (charts.cut_label)
        ours += re.findall(r"[A-Za-z]{2,}", text)
    assert not ours, sorted(set(ours))


def test_months_without_posts_are_drawn_as_no_posts_not_zero(archive):  # noqa: F811
    t = load_trends(archive, "metaverse-avatars")  # no post in February and March 2024
    table = trends.papers_over_time(t)
    assert trends.quiet_periods(t, table) == ["2024-02", "2024-03"] and table["2024-02"].iloc[0] == 0
    papers = charts.plot_papers(t)
    assert papers.alt.startswith("每月论文数 (2024-01 – 2024-12) 论文数: ")
    assert papers.alt.split(": ", 1)[1].split(", ")[1:3] == ["无推送", "无推送"]
    families = charts.plot_families(t)
    assert "三维表示: 6, 无推送, 无推送, 6" in families.alt and "representation" not in families.alt
    # the hatched "no posts" columns and their legend are drawn, in the topic's language
    fig = charts.plot_columns(table, "t", "x", "y", "empty", charts.LABELS["zh"], trends.quiet_periods(t, table))
    assert [text.get_text() for text in fig.axes[0].get_legend().get_texts()] == ["无推送"]
    assert sum(1 for patch in fig.axes[0].collections if patch.get_hatch() == "///") == 2


def heatmap_png(table) -> bytes:
    """The PNG of a small annotated heatmap."""
    return charts.render_png(charts.plot_heatmap(table, "Keywords", "month", "keyword", charts.LABELS["en"]))


def test_cell_numbers_are_laid_out_once_and_drawn_as_plain_text_would_be(monkeypatch):
    import matplotlib.text
    import pandas as pd

    table = pd.DataFrame([[1, 0, 12], [3, 7, 0]], index=["nerf", "3dgs"], columns=["2024-01", "2024-02", "2024-03"])
    layouts, cell_text = [], charts.CellText
    real_layout = matplotlib.text.Text._get_layout

    def count_layout(self, renderer):
        if isinstance(self, cell_text):
            layouts.append(self.get_text())
        return real_layout(self, renderer)

    monkeypatch.setattr(matplotlib.text.Text, "_get_layout", count_layout)
    fast = heatmap_png(table)
    # The four numbers, each laid out once: when the picture is drawn, not in savefig's layout-only pass.
    assert sorted(layouts) == ["1", "12", "3", "7"]

    # The same picture with the numbers put in the plain way, ax.text: not one pixel differs.
    cells = []

    def record(x, y, text, **kw):
        cells.append((x, y, text, {k: kw[k] for k in ("ha", "va", "fontsize", "color")}))
        return matplotlib.text.Text(visible=False)

    monkeypatch.setattr(charts, "CellText", record)
    fig = charts.plot_heatmap(table, "Keywords", "month", "keyword", charts.LABELS["en"])
    for x, y, text, kw in cells:
        fig.axes[0].text(x, y, text, in_layout=False, **kw)
    assert charts.render_png(fig) == fast
