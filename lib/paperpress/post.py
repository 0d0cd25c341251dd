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
from .records import Digest, Entry, Summary
from .summarise import split_sentences
from .text import cut_text, escape_md, fence, link, paper_anchor, strip_latex
from .vocab import family_name, find_concepts, query_terms

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


def paper_noun(n: int, words: dict) -> str:
    """The noun a count of papers takes: "1 paper", "6 papers" (Chinese: 篇论文 either way)."""
    return words["paper"] if n == 1 else words["papers"]



def render_header(digest: Digest) -> str:
    """The top of the post: the machine-summary notice, the mailing and its source, and the ledger of its papers."""
    words = LABELS[digest.language]
    source = words["source_arxiv" if digest.source == "arxiv" else "source_sample"]
    lines = [] if not digest.entries else [f"> ⚠️ {words['disclaimer'].format(by=summariser_label(digest))}", ""]
    lines.append(f"{render_topic_link(digest)} · {words['mailing_of'].format(date=digest.date)} · {source}")
    lines.append(f"\n{render_ledger(digest)}")
    lines += [f"\n{line}" for line in (render_mailing(digest), render_choice(digest)) if line]
    lines += [f"\n> {escape_md(note)}" for note in digest.notes]
    return "\n".join(lines)


def render_topic_link(digest: Digest) -> str:
    """The topic's name linked to its page (every post of the topic, newest first), and its RSS feed."""
    # topics/<slug>.qmd is written by topicpages from the sidecars; links are to the .html Quarto makes of it.
    page = f"../../topics/{digest.topic_slug}"
    return f"[{escape_md(digest.topic_name)}]({page}.html) ([{LABELS[digest.language]['feed']}]({page}.xml))"


def render_ledger(digest: Digest) -> str:
    """The mailing's papers in one sentence: announced for the topic, summarised, listed briefly, updated."""
    words = LABELS[digest.language]
    n, listed, updated = len(digest.entries), len(digest.listed), len(digest.updated)
    more = [words["ledger_updated"].format(n=updated, papers=paper_noun(updated, words))] if updated else []
    if not n + listed:  # said once, here (and in the description)
        space = " " if digest.language == "en" else ""
        return words["empty"] + (space + words["sep"].join(more) + words["end"] if more else "")
    head = words["ledger"].format(total=n + listed, papers=paper_noun(n + listed, words))
    parts = [words["ledger_all"]] if not listed else [words["ledger_summarised"].format(n=n),
                                                      words["ledger_listed"].format(n=listed)]
    return head + words["colon"] + words["sep"].join(parts + more) + words["end"]


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
        first = strip_latex((split_sentences(paper.abstract) or [""])[0])
        facts = [escape_md(", ".join(authors)), escape_md(paper.comment)]
        # A span with the paper's id (pandoc's bracketed_spans): the today page and e-mails link here.
        items.append(f"- [{link(paper.title, paper.abs_url)}]{{#{paper_anchor(paper.arxiv_id)}}} · " + " · ".join(f for f in facts if f)
                     + (f"  \n  {escape_md(first)}" if first else ""))
    return "\n".join([f"## {words['listed']}", "", words["listed_intro"], "", *items])


def render_table(table: pd.DataFrame, caption: str) -> str:
    """An HTML table with a caption (cell text escaped by pandas), scrolling inside itself when wider than the page."""
    body = table.to_html(index=False, escape=True, border=0, classes="table table-sm")
    body = body.replace(">", f">\n<caption>{html.escape(caption)}</caption>", 1)
    # A phone is narrower than a wide table: the table scrolls, not the page (Bootstrap's .table-responsive,
    # which Quarto's theme has; the inline style for the pandoc preview).
    return f'<div class="table-responsive" style="overflow-x:auto">\n{body}\n</div>'


def render_list(items: Iterable[str]) -> str:
    """A Markdown bullet list of escaped items."""
    return "\n".join(f"- {escape_md(item)}" for item in items)


def render_reading(summary: Summary, entry: Entry, words: dict) -> str:
    """The structured reading (the seed's numbered block), each field only when it has something to say."""
    code = summary.code_url or (entry.extras.code_urls[0] if entry.extras.code_urls else "")
    affiliation = summary.affiliations[0] if summary.affiliations else (
        entry.extras.affiliations[0].name if entry.extras.affiliations else "")
    c = summary.conclusion
    fields = [
        ("title_translation", escape_md(summary.title_translation)),
        ("affiliation", escape_md(affiliation) or words["unknown"]),
        ("kw", escape_md(", ".join(summary.keywords))),
        ("code", link(code, code) if code else words["unknown"]),
        ("background", escape_md(summary.background)),
        ("prior_work", escape_md(summary.prior_work)),
        ("method", escape_md(summary.method)),
        ("results", escape_md(summary.results)),
        ("method_tags", escape_md(", ".join(summary.methods))),
    ]
    rows = [f"1. **{words[key]}:** {value}" for key, value in fields if value]
    parts = [(key, escape_md(getattr(c, key))) for key in ("significance", "innovation", "performance", "workload")]
    if any(value for _key, value in parts):
        rows.append(f"1. **{words['conclusion']}:**")
        rows += [f"    - **{words[key]}:** {value}" for key, value in parts if value]
    return "\n".join(rows)


# -- the claim check on the page (claims.py): a notice of what was dropped, each takeaway's source ----------


def render_checked_summary(entry: Entry, words: dict, show_sources: bool, extracted: str = "") -> list[str]:
    """The one-liner and the takeaways after the claim check, with how many statements it dropped; empty ones left out."""
    summary = entry.summary
    assert summary is not None
    dropped = len(entry.dropped_claims or ())
    notice = ""
    if dropped:
        template = words["dropped_one"] if dropped == 1 else words["dropped_many"]
        notice = f"*{escape_md(template.format(n=dropped))}*"
    head = [text for text in (notice, escape_md(summary.tldr)) if text]
    parts = [f"**{words['summary']}**{extracted}\n\n" + "\n\n".join(head)] if head else []
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


def render_figures(entry: Entry, words: dict) -> str:
    """The collapsible figure block: each image with its caption as alt text and as visible text ('' without figures)."""

    def literal(text: str) -> str:
        # Pandoc reads Markdown inside HTML blocks: numeric references keep a caption's * _ $ [ ... as they are.
        return re.sub(r"[\\`*_{}\[\]!|$~^@]", lambda m: f"&#{ord(m[0])};", html.escape(text))

    if not entry.extras.figures:
        return ""
    images = [
        f'<figure><img src="{html.escape(f.path)}" alt="{html.escape(f.alt)}" loading="lazy" style="max-width:100%">'
        + (f"<figcaption>{literal(f.caption)}</figcaption>" if f.caption else "") + "</figure>"
        for f in entry.extras.figures
    ]
    return "\n".join(["<details>", f"<summary>{html.escape(words['figures'])}</summary>", *images, "</details>"])


def render_paper(entry: Entry, language: str, summariser: str = "", show_sources: bool | None = None) -> str:
    """One paper's section, in the seed's order, under a heading with a stable anchor (#arxiv-<id>); each takeaway's
    abstract sentence as a footnote (show_sources; by default for model summaries: offline ones quote the abstract)."""
    words = LABELS[language]
    paper = entry.paper
    pdf = link("PDF", paper.pdf_url or paper.abs_url)
    parts = [
        f"## {escape_md(paper.title)} {{#{paper_anchor(paper.arxiv_id)}}}",  # today page and e-mails link here
        f"**{words['authors']}:** {escape_md(', '.join(paper.authors))}",
        escape_md(strip_latex(paper.abstract)),  # LaTeX markup ("\url{…}") read as its text
        f"{pdf} {escape_md(paper.comment)}".rstrip(),
    ]
    if entry.extras.pdf_status not in ("ok", "not-fetched"):
        parts.append(f"*{escape_md(words['pdf_missing'].format(status=entry.extras.pdf_status))}*")
    summary = entry.summary
    if summary is None:
        parts.append(f"> {escape_md(words['unavailable'].format(note=entry.summary_note or '?'))}")
    else:
        if show_sources is None:
            show_sources = bool(summariser) and summariser != "offline"
        extracted = words["extracted"] if summariser == "offline" else ""
        parts += render_checked_summary(entry, words, show_sources, extracted)
        parts.append(f"**{words['reading']}**\n\n{render_reading(summary, entry, words)}")
    parts.append(render_figures(entry, words))
    return "\n\n".join(part for part in parts if part)


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


# --- the trend section: after the papers, short, numbers only where they compare ------------------


def topic_terms_of(recent: trends.Trends | None) -> frozenset[str]:
    """The topic's own terms (its query's phrases and its name): never counted as its keywords."""
    return query_terms(recent.query, recent.topic_name) if recent is not None and recent.query else frozenset()


def keyword_counts(digest: Digest, topic: frozenset[str] = frozenset()) -> pd.DataFrame:
    """Papers per concept among today's keywords (vocabulary names only, the topic's own terms out)."""
    counts = trends.count_per_paper(digest.entries, lambda e: find_concepts(e.summary.keywords if e.summary else [], topic))
    return trends.top_table(counts, "keyword", top=50)


def shared_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of a (term, …, papers) table that more than one paper has: what there is to compare."""
    return table[table["papers"] > 1]


def render_counts(table: pd.DataFrame, caption: str, columns: dict[str, str], distinct: str, none: str) -> str:
    """A table of the terms several papers share, or one sentence when each paper has its own (or none)."""
    if not len(table):
        return none
    shared = shared_rows(table)
    if not len(shared):
        return distinct
    return render_table(shared.rename(columns=columns), caption)


def render_today(digest: Digest, topic: frozenset[str]) -> list[str]:
    """Today's numbers: keywords, method tags and affiliations several papers share (or a sentence each)."""
    words = LABELS[digest.language]
    n = len(digest.entries) + len(digest.listed)
    if n < 2:
        return [words["one_paper"]]
    papers = {"papers": words["col_papers"]}
    methods = trends.method_table(digest)
    methods["family"] = [family_name(f, digest.language) for f in methods["family"]]
    affiliations = trends.affiliation_table(digest, top=50)
    known = sum(bool(trends.affiliations_of(e)) for e in digest.entries)
    parts = [
        render_counts(keyword_counts(digest, topic), words["keywords"], {"keyword": words["col_keyword"], **papers},
                      words["kw_distinct"].format(n=len(digest.entries)), words["kw_none"]),
        render_counts(methods, words["methods"], {"method": words["col_method"], "family": words["col_family"], **papers},
                      words["m_distinct"].format(n=n), words["m_none"]),
        render_counts(affiliations, words["affiliations"],
                      {"affiliation": words["col_affiliation"], "country": words["col_country"], **papers},
                      words["aff_distinct"].format(k=known, m=len(affiliations)), words["no_affiliations"]),
    ]
    sentences = [p for p in parts if not p.startswith("<")]
    tables = [p for p in parts if p.startswith("<")]
    return ([" ".join(sentences) if digest.language == "en" else "".join(sentences)] if sentences else []) + tables


# --- front matter ---------------------------------------------------------------------------------


def short_title(title: str, limit: int = 48) -> str:
    """A paper's short name for a listing: the part before its colon ("Make-Your-Anchor"), else its start."""
    head = title.split(":", 1)[0].strip()
    if ":" in title and 2 <= len(head) <= limit:
        return head
    return cut_text(" ".join(title.split()), limit)


def find_teaser(digest: Digest) -> tuple[str, str] | None:
    """The first paper's teaser figure (path, alt) when it has one: the post's listing image."""
    if digest.entries and digest.entries[0].extras.figures:
        figure = digest.entries[0].extras.figures[0]
        return figure.path, figure.alt or figure.caption
    return None


def build_front_matter(digest: Digest, image: str | None, image_alt: str = "", topic: frozenset[str] = frozenset()) -> dict:
    """Quarto front matter of a post: title, date, categories, description, image (and its alt), keywords, lang.

    Quarto (through pandoc) reads front-matter strings as Markdown, raw HTML included: each string that
    carries a topic name, an arXiv title, a keyword or a tag is escaped text (image-alt: see plain_alt).
    The title tells posts apart (its first paper and how many more); the image is the first paper's
    teaser figure, or none.
    """
    words = LABELS[digest.language]
    name = escape_md(digest.topic_name)
    papers = [e.paper for e in digest.entries] + list(digest.listed)
    if papers:
        first, total = escape_md(short_title(papers[0].title)), len(papers)
        key = "title_more" if total > 1 else "title"
        title = words[key].format(name=name, date=digest.date, first=first, total=total, more=total - 1)
        description = words["description"].format(name=name, date=digest.date, total=total, first=escape_md(papers[0].title),
                                                  papers=paper_noun(total, words))
    else:
        title = words["title_empty"].format(name=name, date=digest.date)
        description = words["description_empty"].format(name=name, date=digest.date)
    methods = trends.method_table(digest)["method"].tolist()[:3]
    keywords = keyword_counts(digest, topic)["keyword"].tolist()[:8]
    matter = {
        "title": title,
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


def show_papers(digest: Digest) -> None:
    """Notebook cell: every paper, then the briefly listed ones and the updated list, as one Markdown output."""
    from IPython.display import display

    parts = [render_paper(entry, digest.language, digest.summariser) for entry in digest.entries]
    parts += [extra for extra in (render_listed(digest), render_updated(digest)) if extra]
    if parts:
        display(markdown("\n\n".join(parts)))


def save_front_matter(digest: Digest, output_dir: str, recent: trends.Trends | None = None) -> None:
    """Write the post's front matter (JSON) for `paperpress run` to put in cell 0; nothing without a folder."""
    teaser = find_teaser(digest)
    alt = teaser[1] if teaser else ""
    write_front_matter(output_dir, lambda image: build_front_matter(digest, image, alt, topic_terms_of(recent)),
                       teaser[0] if teaser else "")
