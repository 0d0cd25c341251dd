"""Trend sections of a page: a post's archive section and a topic's trends page (all outside text escaped)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from . import charts, post, trends
from .archive import write_front_matter
from .config import load_labels
from .text import escape_md
from .trends import Trends
from .records import Digest
from .vocab import family_name, normalise_keyword

LABELS = load_labels("trends")  # data/labels.yml
# The comparison's numbers, written beside the trends page and linked from it (a relative link: Quarto copies
# the files a page's <a href> points to into the site, see quarto-cli src/project/types/website/website-resources.ts).
DATA_FILE = "trends.json"
LANGUAGE_NAMES = {"zh": "中文", "en": "English"}  # each language by its own name, as language pickers show them


def words_of(t: Trends) -> dict[str, str]:
    """The labels in the topic's language."""
    return LABELS[t.language]


# --- tables ---------------------------------------------------------------------------------------


def format_changes(table: pd.DataFrame, t: Trends) -> pd.DataFrame:
    """A rising/fading table with the reader's column names: counts, shares, change in points and z beside them."""
    words = words_of(t)
    days = t.window_days
    terms = [family_name(term, t.language) if kind == "family" else term for term, kind in zip(table["term"], table["kind"])]
    return pd.DataFrame({
        words["term"]: terms,
        words["kind"]: [words[f"k_{trends.TESTED[k]}"] for k in table["kind"]],
        words["now"].format(days=days): table["now"],
        words["share_now"]: table["share now"].map("{:.1f}".format),
        words["before"].format(days=days): table["before"],
        words["share_before"]: table["share before"].map("{:.1f}".format),
        words["change"]: table["change"].map("{:+.1f}".format),
        words["z"]: table["z"].map("{:+.2f}".format),
    })


def describe_test(t: Trends) -> str:
    """The line that says what was compared and what a rising or fading term had to pass."""
    data = trends.changes_data(t)
    stat = data["statistic"]
    counts = words_of(t)["how"].format(now=data["windows"]["now"]["papers"], before=data["windows"]["before"]["papers"],
                                       days=t.window_days, min=stat["min_papers"])
    now, before = data["windows"]["now"], data["windows"]["before"]
    if (now["summarised"], before["summarised"]) != (now["papers"], before["papers"]):
        counts += words_of(t)["space"] + words_of(t)["how_base"].format(now=now["summarised"], before=before["summarised"])
    if not stat["tested"]:
        return counts
    rule = words_of(t)["how_rule"].format(needed=stat["needed"], fdr=round(100 * stat["false_discovery_rate"]),
                                          tested=stat["tested"])
    return f"{counts}{words_of(t)['space']}{rule}"


def render_rising_tables(t: Trends, top: int = 10, data_link: str = "") -> list[str]:
    """Rising and fading terms of every kind with their counts and z (or one line saying there are none)."""
    words = words_of(t)
    data = trends.changes_data(t)
    if not data["windows"]["before"]["papers"] or not data["windows"]["now"]["papers"]:
        return [f"*{words['no_before'].format(days=t.window_days)}*"]
    # One plain sentence says what the lists are; how they are counted and tested is folded away below them.
    parts = [words["plain"].format(days=t.window_days)]
    rising, fading = trends.rising_terms(t, None, top), trends.fading_terms(t, None, top)
    details = [describe_test(t)]
    if not len(rising) and not len(fading):
        stat = data["statistic"]
        key = "no_change" if stat["tested"] else "no_tested"
        parts.append(f"**{words['no_change_plain']}**")  # the numbers behind it go into the fold
        details.insert(0, f"**{words[key].format(tested=stat['tested'], min=stat['min_papers'], needed=stat['needed'] or 0)}**")
    for table, caption, empty in ((rising, "rising", "no_rising"), (fading, "fading", "no_fading")):
        if len(table):
            parts.append(post.render_table(format_changes(table, t), words[caption].format(days=t.window_days)))
        elif len(rising) or len(fading):
            parts.append(f"*{words[empty]}*")
    parts.append(fold_details(words["details"], "\n\n".join(details)))
    if data_link:
        parts.append(words["data_link"].format(link=data_link))
    return parts


def fold_details(summary: str, text: str) -> str:
    """A folded block (HTML details, which Quarto and the pandoc preview both keep) holding Markdown text."""
    # Blank lines around the text: pandoc reads Markdown inside an HTML block element only when they are there.
    return f"<details class=\"statistic\">\n<summary>{summary}</summary>\n\n{text}\n\n</details>"


def format_affiliations(table: pd.DataFrame, t: Trends) -> pd.DataFrame:
    """An affiliation table with the reader's column names."""
    words = words_of(t)
    names = {"affiliation": words["affiliation"], "country": words["country"], "papers": words["papers_col"],
             "last window": words["last_window"].format(days=t.window_days),
             "window before": words["window_before"].format(days=t.window_days)}
    return table.rename(columns=names)


def render_affiliation_tables(t: Trends, top: int = 10) -> list[str]:
    """Top affiliations and countries of the whole archive, or a line saying none are known."""
    words = words_of(t)
    table = trends.top_affiliations(t, top)
    if not len(table):
        return [f"*{words['no_affiliations']}*"]
    countries = trends.top_countries(t, top).rename(columns={"country": words["country"], "papers": words["papers_col"]})
    return [post.render_table(format_affiliations(table, t), words["affiliations"]), post.render_table(countries, words["countries"])]


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


def show_affiliations(t: Trends, output_dir: str = "") -> None:
    """Notebook cell: top affiliations of the whole archive, with a chart and countries."""
    parts: list = [f"## {words_of(t)['affiliations']}"]
    if len(trends.top_affiliations(t, 1)):
        parts.append(charts.plot_affiliations(t, output_dir))
    post.show_parts(parts + render_affiliation_tables(t), output_dir)


def show_post_trends(digest: Digest, recent: trends.Trends | None = None, output_dir: str = "") -> None:
    """Notebook cell: the trend section after the papers, and the footer."""
    footer = post.render_footer(digest)
    post.show_parts(render_post_trends(digest, recent) + ([footer] if footer else []), output_dir)


def render_post_recent(recent: trends.Trends, language: str) -> list[str]:
    """The last 90 days (earlier posts plus today): shared affiliations and what rose or faded; [] when nothing does.

    Without posts in the 90 days before, nothing can rise or fade: the section then shows only what several
    papers share, or is left out (the trends page has the rest).
    """
    if not recent.earlier_posts:
        return []
    words = post.LABELS[language]
    body = []
    affiliations = post.shared_rows(trends.top_affiliations(recent, 10, recent=True))
    if len(affiliations):
        body.append(post.render_table(format_affiliations(affiliations, recent), words_of(recent)["affiliations"]))
    if trends.changes_data(recent)["windows"]["before"]["papers"]:
        tables = []
        for direction, table in (("rising", trends.rising_terms(recent, None, 10)),
                                 ("fading", trends.fading_terms(recent, None, 10))):
            if len(table):
                table = table.assign(term=[family_name(t, language) if k == "family" else t
                                           for t, k in zip(table["term"], table["kind"])])
                caption = words_of(recent)[direction].format(days=recent.window_days)
                tables.append(post.render_table(format_changes(table, recent), caption))
        body += tables or [words["no_change"].format(days=recent.window_days)]
    return [render_recent_heading(recent), *body] if body else []


def trends_link(slug: str) -> str:
    """The topic's trends page, relative to a post (posts/<folder>/ and trends/<slug>/ are siblings' children)."""
    return f"../../trends/{quote(slug)}/index.html"


def render_post_trends(digest: Digest, recent: trends.Trends | None = None) -> list[str]:
    """The trend section after the papers: today's shared numbers, the last 90 days, the link to the trends page."""
    words = post.LABELS[digest.language]
    link_line = words["trends_link"].format(link=trends_link(digest.topic_slug))
    if not digest.entries and not digest.listed:
        return [link_line]  # an empty mailing: the header said so; no numbers, no empty tables
    parts = [f"## {words['trends']}", *post.render_today(digest, post.topic_terms_of(recent))]
    if recent is not None:
        parts += render_post_recent(recent, digest.language)
    return [*parts, link_line]


# --- a topic's trends page ------------------------------------------------------------------------


def render_reading(t: Trends) -> str:
    """A short machine-written reading of the numbers, every figure taken from the tables and trends.json."""
    words = words_of(t)
    papers = len(t.papers)
    if not papers:
        return words["no_posts"]
    first = t.papers["date"].min().strftime("%Y-%m-%d")
    lines = [words["r_span"].format(posts=len(t.post_dates), papers=papers, first=first, last=t.end)]
    lines.append(read_families(t, papers))
    lines.append(read_keywords(t))
    lines.append(read_windows(t))
    lines.append(read_affiliations(t))
    return "\n\n".join(line for line in lines if line)


def read_families(t: Trends, papers: int) -> str:
    """The sentence on the most frequent method families."""
    words = words_of(t)
    families = trends.count_terms(t, "family")
    if not len(families):
        return words["r_no_family"]
    family, n = family_name(families.index[0], t.language), int(families.iloc[0])
    pct = round(100 * n / papers)
    if len(families) == 1:
        return words["r_family_only"].format(family=escape_md(family), n=n, pct=pct)
    return words["r_family"].format(family=escape_md(family), n=n, pct=pct,
                                    second=escape_md(family_name(families.index[1], t.language)), m=int(families.iloc[1]))


def read_keywords(t: Trends, top: int = 3) -> str:
    """The sentence on the keywords used most (the topic's own terms are not counted)."""
    words = words_of(t)
    counts = trends.count_terms(t, "keyword")
    counts = counts[counts >= trends.MIN_KNOWN].head(top)
    if not len(counts):
        return ""
    items = [words["r_keyword_item"].format(term=escape_md(term), n=int(n)) for term, n in counts.items()]
    return words["r_keywords"].format(items=join_items(items, words))


def join_items(items: list[str], words: dict) -> str:
    """"a", "a and b", "a, b and c" in the page's language."""
    if len(items) < 2:
        return "".join(items)
    return words["list_sep"].join(items[:-1]) + words["list_and"] + items[-1]


def describe_items(changes: list[dict], words: dict, top: int = 3, language: str = "en") -> str:
    """The strongest changes of one direction as a phrase: what, its counts and z; a concept once.

    A method tag and the keyword of the same name ("3D Gaussian Splatting") are one finding, named once.
    """
    named: set[str] = set()
    items = []
    for change in changes:
        concept = normalise_keyword(change["term"]) if change["kind"] in ("keyword", "method") else ""
        if concept and concept in named:
            continue
        named.add(concept)
        term = family_name(change["term"], language) if change["kind"] == "family" else change["term"]
        what = words[f"r_what_{change['kind']}"].format(term=escape_md(term))
        items.append(words["r_item"].format(what=what, now=change["now"], before=change["before"], z=change["score"]))
    return join_items(items[:top], words)


def read_windows(t: Trends) -> str:
    """The sentence comparing the last window with the one before: only changes that pass the test are findings."""
    words = words_of(t)
    data = trends.changes_data(t)
    now, before = data["windows"]["now"]["papers"], data["windows"]["before"]["papers"]
    if not now or not before:
        return ""
    stat = data["statistic"]
    clauses = []
    for direction in ("rising", "fading"):
        if data[direction]:
            clauses.append(words[f"r_{direction}"].format(items=describe_items(data[direction], words, language=t.language)))
    if not clauses:
        key = "r_nothing" if stat["tested"] else "r_none_tested"
        clauses.append(words[key].format(tested=stat["tested"], needed=stat["needed"] or 0, min=stat["min_papers"]))
    head = words["r_window"].format(days=t.window_days, now=now, before=before)
    return f"{head}{words['space']}{words['sep'].join(clauses)}{words['end']}"


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
    """Notebook cell: the archive's top keywords per period."""
    post.show_parts([f"## {words_of(t)['keywords']}", charts.plot_keyword_trend(t, output_dir)], output_dir)


def render_changes(t: Trends, output_dir: str = "") -> list:
    """What rose and faded: heading, chart and tables (from trends.json), and the link to it beside the page."""
    # Without an earlier window, or without a finding, there is nothing to chart: the tables' line says why.
    data = trends.changes_data(t)
    chart = [charts.plot_rising(t, output_dir)] if data["rising"] or data["fading"] else []
    link = DATA_FILE if output_dir else ""
    return [f"## {words_of(t)['rising_heading']}", *chart, *render_rising_tables(t, data_link=link)]


def show_changes(t: Trends, output_dir: str = "") -> None:
    """Notebook cell: what rose and faded, with the link to trends.json."""
    post.show_parts(render_changes(t, output_dir), output_dir)


def dump_data(t: Trends) -> str:
    """trends.json's text: sorted keys, fixed rounding (in changes_data), one line per value: reruns match."""
    return json.dumps(trends.changes_data(t), ensure_ascii=False, sort_keys=True, indent=1) + "\n"


def save_data(t: Trends, output_dir: str = "") -> None:
    """Notebook cell: write the page's numbers (trends.json) beside it; nothing without a folder."""
    if output_dir:
        (Path(output_dir) / DATA_FILE).write_text(dump_data(t), encoding="utf-8")


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
        # The Topics page's table (topics.qmd lists the trends pages): the topic, its language by its own name,
        # how many posts it has and its latest one (a link from the site's root, where topics.html is).
        "topic-name": name,
        "topic-language": LANGUAGE_NAMES[t.language],
        "topic-posts": len(t.post_dates),
        "topic-latest": f"[{t.post_dates[-1]}](posts/{t.post_dates[-1]}-{t.topic_slug}/index.html)",
    }
    if image:  # the families chart: its alt text describes it for the listing's thumbnail
        matter["image"] = image
        matter["image-alt"] = post.plain_alt(charts.describe_families(t))
    return matter


def save_front_matter(t: Trends, output_dir: str) -> None:
    """Notebook cell: write the page's front matter (JSON) for publish.build_trends_page; nothing without a folder."""
    write_front_matter(output_dir, lambda image: build_front_matter(t, image), "charts/families.png")
