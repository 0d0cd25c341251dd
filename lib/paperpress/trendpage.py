"""Trend sections of a page: a post's archive section and a topic's trends page (all outside text escaped)."""

from __future__ import annotations

import pandas as pd

from . import charts, post, trends
from .archive import write_front_matter
from .config import load_labels
from .text import escape_md
from .trends import Trends

LABELS = load_labels("trends")  # data/labels.yml


def words_of(t: Trends) -> dict[str, str]:
    """The labels in the topic's language."""
    return LABELS[t.language]


# --- tables ---------------------------------------------------------------------------------------


def format_changes(table: pd.DataFrame, t: Trends) -> pd.DataFrame:
    """A rising/fading table with the reader's column names, signed changes and a 'new' note."""
    words = words_of(t)
    days = t.window_days
    return pd.DataFrame({
        words["term"]: table["term"],
        words["now"].format(days=days): table["now"],
        words["share_now"]: table["share now"].map("{:.1f}".format),
        words["before"].format(days=days): table["before"],
        words["share_before"]: table["share before"].map("{:.1f}".format),
        words["change"]: table["change"].map("{:+.1f}".format),
        words["note"]: [words["new"] if b == 0 else "" for b in table["before"]],
    })


def render_rising_tables(t: Trends, top: int = 10) -> list[str]:
    """Rising and fading keyword tables with their counts (or one line saying why there are none)."""
    words = words_of(t)
    compared = trends.compare_windows(t, "keyword")
    if not compared.attrs["papers_before"]:
        return [f"*{words['no_before'].format(days=t.window_days)}*"]
    parts = [f"*{words['how'].format(now=compared.attrs['papers_now'], before=compared.attrs['papers_before'])}*"]
    for table, caption, empty in ((trends.rising_terms(t, top=top), "rising", "no_rising"),
                                  (trends.fading_terms(t, top=top), "fading", "no_fading")):
        if len(table):
            parts.append(post.render_table(format_changes(table, t), words[caption].format(days=t.window_days)))
        else:
            parts.append(f"*{words[empty].format(n=trends.MIN_PAPERS)}*")
    return parts


def format_affiliations(table: pd.DataFrame, t: Trends) -> pd.DataFrame:
    """An affiliation table with the reader's column names."""
    words = words_of(t)
    names = {"affiliation": words["affiliation"], "country": words["country"], "papers": words["papers_col"],
             "last window": words["last_window"].format(days=t.window_days),
             "window before": words["window_before"].format(days=t.window_days)}
    return table.rename(columns=names)


def render_affiliation_tables(t: Trends, recent: bool = False, top: int = 10) -> list[str]:
    """Top affiliations (and, on the trends page, countries), or a line saying none are known."""
    words = words_of(t)
    table = trends.top_affiliations(t, top, recent=recent)
    if not len(table):
        return [f"*{words['no_affiliations']}*"]
    caption = words["affiliations"] + (f" ({words['recent'].format(days=t.window_days)})" if recent else "")
    parts = [post.render_table(format_affiliations(table, t), caption)]
    if not recent:
        countries = trends.top_countries(t, top).rename(columns={"country": words["country"], "papers": words["papers_col"]})
        parts.append(post.render_table(countries, words["countries"]))
    return parts


# --- a post's archive section ---------------------------------------------------------------------


def render_recent_heading(t: Trends) -> str:
    """The heading of a post's archive section, with its counts, or the first post's one-line note."""
    words = words_of(t)
    if not t.earlier_posts:
        return f"*{words['first_post']}*"
    heading = f"### {words['recent'].format(days=t.window_days)}"
    _prev, current, end = trends.find_windows(t)
    papers = trends.count_papers(t, current, end)
    posts = sum(current <= pd.Timestamp(d) < end for d in t.post_dates)
    return f"{heading}\n\n{words['recent_counts'].format(posts=posts, papers=papers)}"


def show_recent_families(t: Trends, output_dir: str = "") -> None:
    """Notebook cell: the archive section's heading and its method families per week (a note on a first post)."""
    parts: list = [render_recent_heading(t)]
    if t.earlier_posts:
        parts.append(charts.plot_families(t, output_dir, recent=True))
    post.show_parts(parts, output_dir)


def show_affiliations(t: Trends, output_dir: str = "", recent: bool = False) -> None:
    """Notebook cell: top affiliations (the post's window, or the whole archive with a chart and countries)."""
    if recent and not t.earlier_posts:
        return  # the first post's note already says why there is no archive section
    parts: list = [] if recent else [f"## {words_of(t)['affiliations']}"]
    has_data = bool(len(trends.top_affiliations(t, 1, recent=recent)))
    if has_data and not recent:
        parts.append(charts.plot_affiliations(t, output_dir))
    post.show_parts(parts + render_affiliation_tables(t, recent), output_dir)


def show_rising_terms(t: Trends, output_dir: str = "") -> None:
    """Notebook cell: rising and fading keywords with their counts (nothing on a first post)."""
    if t.earlier_posts:
        post.show_parts(render_rising_tables(t), output_dir)


# --- a topic's trends page ------------------------------------------------------------------------


def render_reading(t: Trends) -> str:
    """A short machine-written reading of the numbers, every figure taken from the tables below."""
    words = words_of(t)
    papers = len(t.papers)
    if not papers:
        return words["no_posts"]
    first = t.papers["date"].min().strftime("%Y-%m-%d")
    lines = [words["r_span"].format(posts=len(t.post_dates), papers=papers, first=first, last=t.end)]
    lines.append(read_families(t, papers))
    lines.append(read_windows(t))
    lines.append(read_affiliations(t))
    return "\n\n".join(line for line in lines if line)


def read_families(t: Trends, papers: int) -> str:
    """The sentence on the most frequent method families."""
    words = words_of(t)
    families = trends.count_terms(t, "family")
    if not len(families):
        return words["r_no_family"]
    family, n = families.index[0], int(families.iloc[0])
    pct = round(100 * n / papers)
    if len(families) == 1:
        return words["r_family_only"].format(family=escape_md(family), n=n, pct=pct)
    second = f"{escape_md(families.index[1])} ({int(families.iloc[1])})"
    return words["r_family"].format(family=escape_md(family), n=n, pct=pct, second=second)


def read_windows(t: Trends) -> str:
    """The sentence comparing the last window with the one before: families and keywords."""
    words = words_of(t)
    compared = trends.compare_windows(t, "family")
    now, before = compared.attrs["papers_now"], compared.attrs["papers_before"]
    if not now or not before:
        return ""
    clauses = []
    grown = trends.sort_changes(compared[compared["change"] > 0], ascending=False)
    if len(grown):
        row = grown.iloc[0]
        clauses.append(words["r_family_change"].format(family=escape_md(row["term"]), before=row["share before"],
                                                       now=row["share now"]))
    rising, fading = trends.rising_terms(t, top=1), trends.fading_terms(t, top=1)
    for table, key in ((rising, "r_rising"), (fading, "r_fading")):
        if len(table):
            row = table.iloc[0]
            clauses.append(words[key].format(term=escape_md(row["term"]), now=row["now"], before=row["before"],
                                             change=row["change"]))
    if not len(rising) and not len(fading):
        clauses.append(words["r_nothing"].format(n=trends.MIN_PAPERS))
    head = words["r_window"].format(days=t.window_days, now=now, before=before)
    return f"{head} {words['sep'].join(clauses)}."


def read_affiliations(t: Trends) -> str:
    """The sentence on affiliations and countries."""
    words = words_of(t)
    affiliations = trends.count_terms(t, "affiliation")
    if not len(affiliations):
        return words["r_no_affiliation"]
    name, n = escape_md(affiliations.index[0]), int(affiliations.iloc[0])
    countries = trends.count_terms(t, "country")
    if not len(countries):
        return words["r_affiliation_nc"].format(name=name, n=n)
    return words["r_affiliation"].format(name=name, n=n, k=len(countries), country=escape_md(countries.index[0]),
                                         m=int(countries.iloc[0]))


def show_reading(t: Trends, output_dir: str = "") -> None:
    """Notebook cell: the reading of the numbers."""
    post.show_parts([f"## {words_of(t)['reading']}", render_reading(t)], output_dir)


def show_families(t: Trends, output_dir: str = "") -> None:
    """Notebook cell: method families per period over the whole archive."""
    post.show_parts([f"## {words_of(t)['families']}", charts.plot_families(t, output_dir)], output_dir)


def show_papers(t: Trends, output_dir: str = "") -> None:
    """Notebook cell: papers per period."""
    post.show_parts([f"## {words_of(t)['papers']}", charts.plot_papers(t, output_dir)], output_dir)


def show_keywords(t: Trends, output_dir: str = "") -> None:
    """Notebook cell: top keywords per period, then rising and fading ones with their counts."""
    words = words_of(t)
    # Without an earlier window there is nothing to chart: the tables' one line says why.
    compared = trends.compare_windows(t, "keyword").attrs["papers_before"]
    rising = [charts.plot_rising(t, output_dir)] if compared else []
    post.show_parts([f"## {words['keywords']}", charts.plot_keyword_trend(t, output_dir),
                     f"### {words['rising_heading']}", *rising, *render_rising_tables(t)], output_dir)


# --- building the page ----------------------------------------------------------------------------


def build_front_matter(t: Trends, image: str | None) -> dict:
    """Front matter of a trends page: title, date of the latest post, description, lang, image (and its alt).

    Quarto reads front-matter strings as Markdown: the topic's name goes in as escaped text.
    """
    words = words_of(t)
    first, last, name = t.post_dates[0], t.end, escape_md(t.topic_name)
    matter = {
        "title": words["title"].format(name=name),
        "date": last,
        "description": words["description"].format(posts=len(t.post_dates), name=name, first=first, last=last),
        "lang": "zh-Hans" if t.language == "zh" else "en",
        "echo": False,  # trends/ has no _metadata.yml: Quarto must not show the code cells
        "toc": True,
    }
    if image:  # the families chart: its alt text describes it for the listing's thumbnail
        matter["image"] = image
        matter["image-alt"] = post.plain_alt(charts.describe_families(t))
    return matter


def save_front_matter(t: Trends, output_dir: str) -> None:
    """Notebook cell: write the page's front matter (JSON) for publish.build_trends_page; nothing without a folder."""
    write_front_matter(output_dir, lambda image: build_front_matter(t, image), "charts/families.png")
