"""Trend sections of a page: a post's archive section and a topic's trends page (all outside text escaped)."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pandas as pd

from . import charts, post, trends
from .config import PaperpressError, find_topic, load_topics
from .trends import Trends

LABELS = {
    "en": {
        "recent": "Last {days} days", "recent_counts": "{posts} earlier posts and today's: {papers} papers.",
        "first_post": "This is the topic's first post: trends over time start with the next one.",
        "affiliations": "Top affiliations", "countries": "Countries of affiliations",
        "no_affiliations": "No affiliations known for these papers (they come from OpenAlex or the PDFs).",
        "rising": "Rising keywords: last {days} days against the {days} before",
        "fading": "Fading keywords: last {days} days against the {days} before",
        "no_before": "No posts in the {days} days before this window: nothing to compare with yet.",
        "no_rising": "No keyword rose by at least {n} papers.",
        "no_fading": "No keyword with at least {n} papers before faded.",
        "how": "Change = share of papers now − share before, in percentage points ({now} papers now, {before} before).",
        "families": "Method families over time", "papers": "Papers over time", "keywords": "Keywords over time",
        "rising_heading": "Rising and fading keywords", "reading": "Reading the numbers",
        "new": "new", "term": "keyword", "now": "papers, last {days} d", "before": "papers, {days} d before",
        "share_now": "% now", "share_before": "% before", "change": "change (points)", "note": "note",
        "affiliation": "affiliation", "country": "country", "papers_col": "papers",
        "last_window": "last {days} d", "window_before": "{days} d before",
        "title": "Trends · {name}",
        "description": "Method families, affiliations and keywords over time: {posts} posts of {name}, {first} to {last}.",
        "no_posts": "No posts of this topic yet.",
        "r_span": "{posts} posts with {papers} papers, {first} to {last}.",
        "r_family": "The method family tagged most often is {family} ({n} papers, {pct}% of all); then {second}.",
        "r_family_only": "The method family tagged most often is {family} ({n} papers, {pct}% of all).",
        "r_no_family": "No method tags yet.",
        "r_window": "In the last {days} days ({now} papers, against {before} in the {days} days before):",
        "r_family_change": "the method family that grew most is {family} ({before}% → {now}% of papers)",
        "r_rising": "the keyword that rose most is “{term}” ({now} papers against {before}, {change:+.1f} points)",
        "r_fading": "the one that faded most is “{term}” ({now} against {before}, {change:+.1f} points)",
        "r_nothing": "no keyword moved by {n} papers or more",
        "r_affiliation": "The most frequent affiliation is {name} ({n} papers); institutions in {k} countries, most in {country} ({m}).",
        "r_affiliation_nc": "The most frequent affiliation is {name} ({n} papers).",
        "r_no_affiliation": "No affiliations are known for these papers yet (they come from OpenAlex or the PDFs).",
        "sep": "; ",
    },
    "zh": {
        "recent": "近 {days} 天", "recent_counts": "此前 {posts} 篇推送加今日：共 {papers} 篇论文。",
        "first_post": "这是本主题的第一篇推送：随时间变化的趋势从下一篇开始。",
        "affiliations": "高频单位", "countries": "单位所在国家/地区",
        "no_affiliations": "这些论文暂无已知单位（单位信息来自 OpenAlex 或论文 PDF）。",
        "rising": "上升的关键词：近 {days} 天对比此前 {days} 天",
        "fading": "下降的关键词：近 {days} 天对比此前 {days} 天",
        "no_before": "本窗口之前的 {days} 天内没有推送，暂无可比较的数据。",
        "no_rising": "没有关键词上升到至少 {n} 篇论文。",
        "no_fading": "没有此前至少 {n} 篇论文的关键词下降。",
        "how": "变化 = 当前论文占比 − 此前论文占比，单位为百分点（当前 {now} 篇，此前 {before} 篇）。",
        "families": "方法类别随时间变化", "papers": "论文数随时间变化", "keywords": "关键词随时间变化",
        "rising_heading": "上升与下降的关键词", "reading": "数据解读",
        "new": "新", "term": "关键词", "now": "近 {days} 天论文数", "before": "此前 {days} 天论文数",
        "share_now": "当前占比 %", "share_before": "此前占比 %", "change": "变化（百分点）", "note": "备注",
        "affiliation": "单位", "country": "国家/地区", "papers_col": "论文数",
        "last_window": "近 {days} 天", "window_before": "此前 {days} 天",
        "title": "趋势 · {name}",
        "description": "{name} 方向趋势：方法类别、单位与关键词随时间的变化（{posts} 篇推送，{first} 至 {last}）。",
        "no_posts": "本主题暂无推送。",
        "r_span": "共 {posts} 篇推送、{papers} 篇论文，{first} 至 {last}。",
        "r_family": "最常见的方法类别是 {family}（{n} 篇，占全部论文的 {pct}%），其次是 {second}。",
        "r_family_only": "最常见的方法类别是 {family}（{n} 篇，占全部论文的 {pct}%）。",
        "r_no_family": "暂无方法标签。",
        "r_window": "近 {days} 天（{now} 篇论文，此前 {days} 天为 {before} 篇）：",
        "r_family_change": "增长最多的方法类别是 {family}（论文占比 {before}% → {now}%）",
        "r_rising": "上升最多的关键词是“{term}”（{now} 篇，此前 {before} 篇，{change:+.1f} 个百分点）",
        "r_fading": "下降最多的是“{term}”（{now} 篇，此前 {before} 篇，{change:+.1f} 个百分点）",
        "r_nothing": "没有关键词变化达到 {n} 篇",
        "r_affiliation": "最常见的单位是 {name}（{n} 篇）；单位分布在 {k} 个国家/地区，最多的是 {country}（{m} 篇）。",
        "r_affiliation_nc": "最常见的单位是 {name}（{n} 篇）。",
        "r_no_affiliation": "这些论文暂无已知单位（单位信息来自 OpenAlex 或论文 PDF）。",
        "sep": "；",
    },
}


def words_of(t: Trends) -> dict[str, str]:
    """The labels in the topic's language."""
    return LABELS[t.language]


def display_parts(parts: list) -> None:
    """Show Markdown strings, HTML tables and charts one after another."""
    from IPython.display import HTML, display

    for part in parts:
        if isinstance(part, str):
            display(HTML(part) if part.startswith("<") else post.markdown(part))
        else:
            display(part)


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
    display_parts(parts)


def show_affiliations(t: Trends, output_dir: str = "", recent: bool = False) -> None:
    """Notebook cell: top affiliations (the post's window, or the whole archive with a chart and countries)."""
    if recent and not t.earlier_posts:
        return  # the first post's note already says why there is no archive section
    parts: list = [] if recent else [f"## {words_of(t)['affiliations']}"]
    has_data = bool(len(trends.top_affiliations(t, 1, recent=recent)))
    if has_data and not recent:
        parts.append(charts.plot_affiliations(t, output_dir))
    display_parts(parts + render_affiliation_tables(t, recent))


def show_rising_terms(t: Trends) -> None:
    """Notebook cell: rising and fading keywords with their counts (nothing on a first post)."""
    if t.earlier_posts:
        display_parts(render_rising_tables(t))


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
        return words["r_family_only"].format(family=post.escape_md(family), n=n, pct=pct)
    second = f"{post.escape_md(families.index[1])} ({int(families.iloc[1])})"
    return words["r_family"].format(family=post.escape_md(family), n=n, pct=pct, second=second)


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
        clauses.append(words["r_family_change"].format(family=post.escape_md(row["term"]), before=row["share before"],
                                                       now=row["share now"]))
    rising, fading = trends.rising_terms(t, top=1), trends.fading_terms(t, top=1)
    for table, key in ((rising, "r_rising"), (fading, "r_fading")):
        if len(table):
            row = table.iloc[0]
            clauses.append(words[key].format(term=post.escape_md(row["term"]), now=row["now"], before=row["before"],
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
    name, n = post.escape_md(affiliations.index[0]), int(affiliations.iloc[0])
    countries = trends.count_terms(t, "country")
    if not len(countries):
        return words["r_affiliation_nc"].format(name=name, n=n)
    return words["r_affiliation"].format(name=name, n=n, k=len(countries), country=post.escape_md(countries.index[0]),
                                         m=int(countries.iloc[0]))


def show_reading(t: Trends) -> None:
    """Notebook cell: the reading of the numbers."""
    display_parts([f"## {words_of(t)['reading']}", render_reading(t)])


def show_families(t: Trends, output_dir: str = "") -> None:
    """Notebook cell: method families per period over the whole archive."""
    display_parts([f"## {words_of(t)['families']}", charts.plot_families(t, output_dir)])


def show_papers(t: Trends, output_dir: str = "") -> None:
    """Notebook cell: papers per period."""
    display_parts([f"## {words_of(t)['papers']}", charts.plot_papers(t, output_dir)])


def show_keywords(t: Trends, output_dir: str = "") -> None:
    """Notebook cell: top keywords per period, then rising and fading ones with their counts."""
    words = words_of(t)
    display_parts([f"## {words['keywords']}", charts.plot_keyword_trend(t, output_dir),
                   f"### {words['rising_heading']}", charts.plot_rising(t, output_dir), *render_rising_tables(t)])


# --- building the page ----------------------------------------------------------------------------


def list_post_dates(posts_dir: str | Path, topic_slug: str, end_date: str = "") -> list[str]:
    """Dates of a topic's posts that have a sidecar, up to end_date (from folder names: nothing is parsed)."""
    pattern = re.compile(rf"^(\d{{4}}-\d{{2}}-\d{{2}})-{re.escape(topic_slug)}$")
    dates = [m.group(1) for p in Path(posts_dir).glob("*/") if (m := pattern.match(p.name)) and (p / "digest.json").is_file()]
    return sorted(d for d in dates if not end_date or d <= end_date)


def build_front_matter(t: Trends, image: str | None) -> dict:
    """Front matter of a trends page: title, date of the latest post, description, lang, image."""
    words = words_of(t)
    first, last = t.post_dates[0], t.end
    matter = {
        "title": words["title"].format(name=t.topic_name),
        "date": last,
        "description": words["description"].format(posts=len(t.post_dates), name=t.topic_name, first=first, last=last),
        "lang": "zh-Hans" if t.language == "zh" else "en",
        "echo": False,  # trends/ has no _metadata.yml: Quarto must not show the code cells
        "toc": True,
    }
    if image:
        matter["image"] = image
    return matter


def save_front_matter(t: Trends, output_dir: str) -> None:
    """Notebook cell: write the page's front matter (JSON) for build_trends_page; nothing without a folder."""
    from .publish import write_front_matter

    write_front_matter(output_dir, lambda image: build_front_matter(t, image), "charts/families.png")


def build_trends_page(topic_slug: str, topics_file: str = "topics.yml", posts_dir: str = "posts",
                      trends_dir: str = "trends", template: str = "notebooks/trends.ipynb",
                      window_days: int = trends.WINDOW_DAYS, end_date: str = "") -> Path | None:
    """Execute the trends template for a topic into trends_dir/<slug>/index.ipynb; None when it has no posts.

    Written only when the whole notebook succeeded (staging folder, then a swap), like a post; a
    failing cell raises publish.RunFailed (cell index, error name and value) and leaves the old page.
    """
    from filelock import FileLock

    from . import publish

    topic = find_topic(load_topics(topics_file), topic_slug, topics_file)
    if not list_post_dates(posts_dir, topic.slug, end_date):
        return None  # checked before a kernel starts: a topic without posts has no page
    if not Path(template).is_file():
        raise PaperpressError(f"{template}: trends template not found (run from the project folder)")
    final = Path(trends_dir) / topic.slug
    work = Path(trends_dir).parent / ".paperpress"  # beside trends/, so the final rename stays on one disk
    staging = work / "staging" / f"trends-{topic.slug}"
    (work / "locks").mkdir(parents=True, exist_ok=True)
    parameters = {"topic": topic.slug, "topics_file": str(topics_file), "posts_dir": str(posts_dir),
                  "output_dir": staging.as_posix(), "window_days": window_days, "end_date": end_date}
    with FileLock(work / "locks" / f"trends-{topic.slug}.lock"):  # two builds of one page never interleave
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            publish.execute_template(template, staging, parameters)
            final.parent.mkdir(parents=True, exist_ok=True)
            warnings = publish.finish_post(staging, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    for text in dict.fromkeys(warnings):
        print(text.rstrip(), file=sys.stderr)
    return final / "index.ipynb"
