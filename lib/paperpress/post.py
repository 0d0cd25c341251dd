"""The post: Markdown for each part of the page (all outside text escaped) and its front matter."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Iterable

import pandas as pd

from . import mailings, trends
from .archive import write_front_matter
from .claims import find_source_sentence
from .config import load_labels
from .records import Digest, Entry, Paper, Summary
from .summarise import split_sentences
from .text import escape_md, fence, link, paper_anchor

LABELS = load_labels("post")  # data/labels.yml


def summariser_label(digest: Digest) -> str:
    """Who wrote the summaries, as the post says it."""
    words = LABELS[digest.language]
    if digest.summariser == "offline":
        return words["offline"]
    provider, _, rest = digest.summariser.partition(":")
    if provider == "openai":  # openai:<model>@<host>: the model and the server that ran it
        model, _, host = rest.rpartition("@") if "@" in rest else (rest, "", "")
        return words["model_openai"].format(model=escape_md(model), host=escape_md(host or "?"))
    return words["model"].format(model=escape_md(digest.summariser.removeprefix("gemini:")))


def render_header(digest: Digest) -> str:
    """The top of the post: disclaimer, who summarised, and the day's counts."""
    words = LABELS[digest.language]
    lines = [
        f"> ⚠️ {words['disclaimer'].format(by=summariser_label(digest))}",
        "",
        f"**{words['topic']}:** {render_topic_link(digest)} · **{words['update'].format(date=digest.date)}** · "
        f"{len(digest.entries) + len(digest.listed)} {words['papers']} · {words['source']}: {escape_md(digest.source)}",
    ]
    lines += [f"\n{line}" for line in (render_mailing(digest), render_choice(digest)) if line]
    lines += [f"\n> {escape_md(note)}" for note in digest.notes]
    if not digest.entries:
        lines += ["", words["empty"]]
    return "\n".join(lines)


def render_topic_link(digest: Digest) -> str:
    """The topic's name linked to its page (every post of the topic, newest first), and its RSS feed."""
    # topics/<slug>.qmd is written by topicpages from the sidecars; links are to the .html Quarto makes of it.
    page = f"../../topics/{digest.topic_slug}"
    return f"[{escape_md(digest.topic_name)}]({page}.html) ([{LABELS[digest.language]['feed']}]({page}.xml))"


def render_mailing(digest: Digest) -> str:
    """Which arXiv mailing the post is and what it asked arXiv for ('' for a sample day)."""
    mailing = mailings.mailing_on(dt.date.fromisoformat(digest.date)) if digest.window else None
    if mailing is None:
        return ""
    eastern = lambda t: t.astimezone(mailings.ET).strftime("%Y-%m-%d %H:%M")  # noqa: E731
    since = dt.datetime.fromisoformat(digest.window[0].replace("Z", "+00:00"))
    return escape_md(LABELS[digest.language]["mailing"].format(
        date=digest.date, start=eastern(mailing.start), end=eastern(mailing.end), since=eastern(since)))


def render_choice(digest: Digest) -> str:
    """How the summarised papers were chosen, when max_papers left some without a summary ('' otherwise)."""
    if not digest.listed:
        return ""
    n, rest = len(digest.entries), len(digest.listed)
    how = "chosen_sample" if digest.source == "sample" else "chosen"  # arXiv's answer is sorted newest first
    return escape_md(LABELS[digest.language][how].format(n=n, rest=rest, total=n + rest))


def render_listed(digest: Digest) -> str:
    """The papers beyond max_papers, one line each: title (linked), authors, comment, first sentence ('' if none)."""
    if not digest.listed:
        return ""
    words = LABELS[digest.language]
    items = []
    for paper in digest.listed:
        authors = list(paper.authors[:8]) + ([words["et_al"]] if len(paper.authors) > 8 else [])
        first = (split_sentences(paper.abstract) or [""])[0]
        facts = [escape_md(", ".join(authors)), escape_md(paper.comment)]
        # A span with the paper's id (pandoc's bracketed_spans): the today page and e-mails link here.
        items.append(f"- [{link(paper.title, paper.abs_url)}]{{#{paper_anchor(paper.arxiv_id)}}} · " + " · ".join(f for f in facts if f)
                     + (f"  \n  {escape_md(first)}" if first else ""))
    return "\n".join([f"## {words['listed']}", "", words["listed_intro"], "", *items])


def render_table(table: pd.DataFrame, caption: str) -> str:
    """An HTML table with a caption; cell text is escaped by pandas."""
    body = table.to_html(index=False, escape=True, border=0, classes="table table-sm")
    return body.replace(">", f">\n<caption>{html.escape(caption)}</caption>", 1)


def render_trend_tables(digest: Digest) -> list[str]:
    """The trend section: a heading and today's three tables (or a line where a table is empty)."""
    words = LABELS[digest.language]
    parts = [f"## {words['trends']}"]
    for table, caption, empty in (
        (trends.keyword_table(digest), words["keywords"], words["no_keywords"]),
        (trends.affiliation_table(digest), words["affiliations"], words["no_affiliations"]),
        (trends.method_table(digest), words["methods"], words["no_methods"]),
    ):
        parts.append(render_table(table, caption) if len(table) else f"*{empty}*")
    return parts


def render_list(items: Iterable[str]) -> str:
    """A Markdown bullet list of escaped items."""
    return "\n".join(f"- {escape_md(item)}" for item in items)


def render_reading(paper: Paper, summary: Summary, entry: Entry, words: dict) -> str:
    """The structured reading (seed's numbered block); bibliographic lines come from the paper."""
    code = summary.code_url or (entry.extras.code_urls[0] if entry.extras.code_urls else "")
    affiliation = summary.affiliations[0] if summary.affiliations else (
        entry.extras.affiliations[0].name if entry.extras.affiliations else words["none"])
    c = summary.conclusion
    rows = [
        f"1. **{words['title']}:** {escape_md(paper.title)}"
        + (f" ({words['title_translation']}: {escape_md(summary.title_translation)})" if summary.title_translation else ""),
        f"1. **{words['authors']}:** {escape_md(', '.join(paper.authors))}",
        f"1. **{words['affiliation']}:** {escape_md(affiliation)}",
        f"1. **{words['kw']}:** {escape_md(', '.join(summary.keywords)) or words['none']}",
        f"1. **{words['links']}:** {link(paper.abs_url, paper.abs_url)}, "
        f"**{words['code']}:** {link(code, code) if code else words['none']}",
        f"1. **{words['background']}:** {escape_md(summary.background) or words['none']}",
        f"1. **{words['prior_work']}:** {escape_md(summary.prior_work) or words['none']}",
        f"1. **{words['method']}:** {escape_md(summary.method) or words['none']}",
        f"1. **{words['results']}:** {escape_md(summary.results) or words['none']}",
        f"1. **{words['method_tags']}:** {escape_md(', '.join(summary.methods)) or words['none']}",
        f"1. **{words['conclusion']}:**",
        f"    - **{words['significance']}:** {escape_md(c.significance) or words['none']}",
        f"    - **{words['innovation']}:** {escape_md(c.innovation) or words['none']}",
        f"    - **{words['performance']}:** {escape_md(c.performance) or words['none']}",
        f"    - **{words['workload']}:** {escape_md(c.workload) or words['none']}",
    ]
    return "\n".join(rows)


# -- the claim check on the page (claims.py): a notice of what was dropped, each takeaway's source ----------


def render_checked_summary(entry: Entry, words: dict, show_sources: bool) -> list[str]:
    """The one-liner and the takeaways after the claim check, with how many statements it dropped; empty ones left out."""
    summary = entry.summary
    assert summary is not None
    dropped = len(entry.dropped_claims or ())
    notice = ""
    if dropped:
        template = words["dropped_one"] if dropped == 1 else words["dropped_many"]
        notice = f"*{escape_md(template.format(n=dropped))}*"
    head = [text for text in (notice, escape_md(summary.tldr)) if text]
    parts = [f"**{words['summary']}**\n\n" + "\n\n".join(head)] if head else []
    if summary.key_takeaways:
        parts.append(f"**{words['takeaways']}**\n\n{render_takeaways(entry, words, show_sources)}")
    return parts


def render_takeaways(entry: Entry, words: dict, show_sources: bool) -> str:
    """The takeaways as a list; with show_sources each sharing a figure or name with an abstract sentence has it as a footnote.

    A footnote is one tap away on a phone (pandoc links it to the note; Quarto also shows the note in a
    popup), and leaves the list as plain as the seed's.
    """
    assert entry.summary is not None
    items, notes = [], []
    label = re.sub(r"[^A-Za-z0-9]+", "-", entry.paper.versioned_id)
    for i, takeaway in enumerate(entry.summary.key_takeaways, 1):
        sentence = find_source_sentence(takeaway, entry.paper.abstract) if show_sources else ""
        mark = f"[^src-{label}-{i}]" if sentence else ""
        items.append(f"- {escape_md(takeaway)}{mark}")
        if sentence:
            notes.append(f"{mark}: {escape_md(words['source_note'].format(sentence=sentence))}")
    return "\n".join(items) + ("\n\n" + "\n\n".join(notes) if notes else "")


# Rows of the structured reading per summary field (labels.yml keys), hidden when the claim check emptied them.
READING_ROWS = {"keywords": "kw", "background": "background", "prior_work": "prior_work", "method": "method",
                "results": "results", "conclusion.significance": "significance", "conclusion.innovation": "innovation",
                "conclusion.performance": "performance", "conclusion.workload": "workload"}


def hide_emptied(reading: str, entry: Entry, words: dict) -> str:
    """The structured reading without the rows of fields the claim check left empty (they would only say 'none')."""
    labels = {words[READING_ROWS[d.field]] for d in entry.dropped_claims or () if d.field in READING_ROWS}
    empty = tuple(f"**{label}:** {words['none']}" for label in labels)
    return "\n".join(row for row in reading.split("\n") if not (empty and row.endswith(empty)))


def render_figures(entry: Entry, words: dict) -> str:
    """The collapsible figure block: each image with its caption as alt text and as visible text, all escaped."""

    def literal(text: str) -> str:
        # Pandoc reads Markdown inside HTML blocks: numeric references keep a caption's * _ $ [ ... as they are.
        return re.sub(r"[\\`*_{}\[\]!|$~^@]", lambda m: f"&#{ord(m[0])};", html.escape(text))

    images = [
        f'<figure><img src="{html.escape(f.path)}" alt="{html.escape(f.alt)}" loading="lazy" style="max-width:100%">'
        + (f"<figcaption>{literal(f.caption)}</figcaption>" if f.caption else "") + "</figure>"
        for f in entry.extras.figures
    ] or [f"<p>{html.escape(words['no_figures'])}</p>"]
    return "\n".join(["<details>", f"<summary>{html.escape(words['figures'])}</summary>", *images, "</details>"])


def render_paper(entry: Entry, language: str, show_sources: bool = False) -> str:
    """One paper's section, in the seed's order (show_sources: each takeaway's abstract sentence as a footnote)."""
    words = LABELS[language]
    paper = entry.paper
    pdf = link("PDF", paper.pdf_url or paper.abs_url)
    parts = [
        f"## {escape_md(paper.title)} {{#{paper_anchor(paper.arxiv_id)}}}",  # today page and e-mails link here
        f"**{words['authors']}:** {escape_md(', '.join(paper.authors))}",
        escape_md(paper.abstract),
        f"{pdf} {escape_md(paper.comment)}".rstrip(),
    ]
    if entry.extras.pdf_status not in ("ok", "not-fetched"):
        parts.append(f"*{escape_md(words['pdf_missing'].format(status=entry.extras.pdf_status))}*")
    summary = entry.summary
    if summary is None:
        parts.append(f"> {escape_md(words['unavailable'].format(note=entry.summary_note or '?'))}")
    else:
        parts += render_checked_summary(entry, words, show_sources)
        parts.append(f"**{words['reading']}**\n\n{hide_emptied(render_reading(paper, summary, entry, words), entry, words)}")
    parts.append(render_figures(entry, words))
    return "\n\n".join(parts)


def render_updated(digest: Digest) -> str:
    """The short list of new versions of papers posted before ('' when there are none)."""
    if not digest.updated:
        return ""
    words = LABELS[digest.language]
    items = [f"- {link(p.title, p.abs_url)} ({escape_md(p.versioned_id)})" for p in digest.updated]
    return "\n".join([f"## {words['updated']}", "", words["updated_intro"], "", *items])


def render_footer(digest: Digest) -> str:
    """A small footer: token use when a model was called."""
    u = digest.usage
    if not u.total_tokens:
        return ""
    words = LABELS[digest.language]
    return "---\n\n<small>" + words["tokens"].format(p=u.prompt_tokens, o=u.output_tokens, t=u.total_tokens) + "</small>"


def build_front_matter(digest: Digest, image: str | None, image_alt: str = "") -> dict:
    """Quarto front matter of a post: title, date, categories, description, image (and its alt), keywords, lang.

    Quarto (through pandoc) reads front-matter strings as Markdown, raw HTML included: each string that
    carries a topic name, an arXiv title, a keyword or a tag is escaped text (image-alt: see plain_alt).
    """
    name = escape_md(digest.topic_name)
    first = digest.entries[0].paper.title if digest.entries else ""
    if digest.language == "zh":
        description = f"{name} 方向最新论文已更新，请持续关注 Update in {digest.date}"
    else:
        description = f"New arXiv papers on {name}, {digest.date}"
    if first:
        more = len(digest.entries) + len(digest.listed) - 1
        description += f": {escape_md(first)}" + (f" (+{more})" if more else "")
    methods = trends.method_table(digest)["method"].tolist()[:3]
    keywords = trends.keyword_table(digest, top=8)["keyword"].tolist()
    matter = {
        "title": f"{name} · {digest.date}",
        "date": digest.date,
        "categories": [name, *map(escape_md, methods)],
        "description": description,
        "keywords": [name, *map(escape_md, keywords)],
        "lang": "zh-Hans" if digest.language == "zh" else "en",
    }
    if image:
        matter["image"] = image
        if image_alt:
            matter["image-alt"] = plain_alt(image_alt)
    return matter


def plain_alt(text: str) -> str:
    """Alt text for front matter's image-alt: one line, as it is (never Markdown-escaped)."""
    # Quarto's listing reads image-alt from the raw YAML (quarto-cli src/project/types/website/listing/
    # website-listing-read.ts, `documentMeta?.[kImageAlt]` from `target?.markdown.yaml`) and writes it
    # HTML-encoded into the thumbnail's alt (website-listing-template.ts, utilities.img:
    # encodeAttributeValue); nothing renders pandoc's Markdown reading of it. Markdown escapes would
    # show as backslashes and "&amp;" there, so the text stays plain.
    return " ".join(text.split())


def markdown(text: str):
    """An IPython Markdown display object (imported late: only kernels need IPython)."""
    from IPython.display import Markdown

    return Markdown(text)


def show_parts(parts: list, output_dir: str = "") -> None:
    """Notebook cell output: the parts as one Markdown text (a page being built) or one by one (interactive)."""
    # With an output folder the cell carries `#| output: asis` and Quarto puts this one text in the page
    # as is (quarto-cli src/core/jupyter/jupyter.ts, mdFromCodeCell: "output: asis should just include
    # raw markup w/ no enclosures"), so its headings reach the table of contents; any other output sits in
    # a div of its own, and pandoc lists no heading buried in one (quarto-cli#5037, jgm/pandoc#8518).
    # Without a folder nothing was saved to link to: tables show as HTML and charts inline.
    from IPython.display import HTML, display

    if not parts:
        return
    if output_dir:
        display(markdown("\n\n".join(to_markdown(part) for part in parts)))
        return
    for part in parts:
        if isinstance(part, str):
            display(HTML(part) if part.startswith("<") else markdown(part))
        else:
            display(part)


def to_markdown(part) -> str:
    """One part as Markdown: a saved chart as its image link, an HTML table as a raw block, Markdown as is."""
    if not isinstance(part, str):
        return part.markdown()
    # Raw HTML as a pandoc raw block, never read as Markdown: the form Quarto itself gives a text/html
    # output (src/core/jupyter/jupyter.ts, mdHtmlOutput → mdFormatOutput).
    return fence(part.strip(), "{=html}") if part.startswith("<") else part


def show_header(digest: Digest):
    """Notebook cell: the header."""
    return markdown(render_header(digest))


def show_trend_tables(digest: Digest, output_dir: str = "") -> None:
    """Notebook cell: the trend heading and tables."""
    show_parts(render_trend_tables(digest), output_dir)


def show_papers(digest: Digest) -> None:
    """Notebook cell: every paper, then the briefly listed ones, the updated list and the footer, as one Markdown output."""
    from IPython.display import display

    # Offline summaries quote the abstract: their takeaways need no source.
    parts = [render_paper(entry, digest.language, digest.summariser != "offline") for entry in digest.entries]
    parts += [extra for extra in (render_listed(digest), render_updated(digest), render_footer(digest)) if extra]
    if parts:
        display(markdown("\n\n".join(parts)))


def save_front_matter(digest: Digest, output_dir: str, image_alt: str = "") -> None:
    """Write the post's front matter (JSON) for `paperpress run` to put in cell 0; nothing without a folder."""
    write_front_matter(output_dir, lambda image: build_front_matter(digest, image, image_alt), "charts/keywords.png")
