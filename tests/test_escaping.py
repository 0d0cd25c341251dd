"""Outside text (arXiv, a model, a PDF) reaches the page as literal text: checked the way Quarto reads it,
with pandoc's Markdown reader (front matter included: pandoc reads every metadata string as Markdown)."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pypandoc
import pytest

from paperpress import post, publish, trendpage, trends
from paperpress.records import Conclusion, Digest, Entry, Extras, Figure, Paper, Summary
from paperpress.text import escape_md

# Titles the issue names: raw HTML, emphasis, math, a javascript: link (and a few more of the same kind).
HOSTILE_TITLES = [
    "Splat <img src=x onerror=alert(7)> Attack",
    "Avatars <script>alert(1)</script> for all",
    "*Bold* claims and __strong__ ones",
    "snake_case_names_ and _emphasis_",
    "$E = mc^2$ costs $5 and $10",
    "[click me](javascript:alert(1)) now",
    "<https://evil.example> and &amp; &lt;b&gt; entities",
    "`code` ~~strike~~ H~2~O x^2^ [^1] ^[note] @cite {{< include x >}}",
]
# Node types that only markup makes: none may come out of escaped text (Str, Space and smart quotes may).
MARKUP = {"Emph", "Strong", "Math", "Link", "Image", "RawInline", "RawBlock", "Code", "CodeBlock", "Strikeout",
          "Superscript", "Subscript", "Cite", "Note", "Span", "Div", "Underline", "SmallCaps", "Header",
          "BulletList", "OrderedList", "BlockQuote", "DefinitionList", "HorizontalRule", "LineBlock", "Table",
          "LineBreak", "MetaBlocks"}
# Model answers that try every Markdown construct, at the start of a field and inside it.
HOSTILE_ANSWERS = [
    "<script>alert('tldr')</script>", "# Heading takeaway", "1. numbered takeaway", "1) numbered too",
    "- bullet takeaway", "+ plus bullet", "> quoted takeaway", "(a) fancy list", "iv. roman list", "---",
    "::: {.callout-note}", "*emph* and **strong** and _under_", "[x](javascript:alert(1))", "![img](x.png)",
    "$\\alpha$ math", "<img src=x onerror=alert(7)>", "`code`", "| table | row |", "[^note] ^[inline]",
    "@citation", "~~strike~~", "\\*already escaped\\*", "&lt;entity&gt; &amp;", "<!-- comment -->",
    "{{< include /etc/passwd >}}", "Term\n: definition", "line\n\n# break", "--flag -- dash --- rule",
]


def ast(markdown: str) -> dict:
    """pandoc's reading of a Markdown document (Quarto's reader), as its JSON AST."""
    return json.loads(pypandoc.convert_text(markdown, "json", format="markdown"))


def node_types(value) -> list[str]:
    """Every node type ("t") in a piece of pandoc AST."""
    if isinstance(value, dict):
        return ([value["t"]] if "t" in value else []) + [t for v in value.values() for t in node_types(v)]
    if isinstance(value, list):
        return [t for v in value for t in node_types(v)]
    return []


def stringify(value) -> str:
    """The text of inline AST nodes (straight quotes for smart ones)."""
    if isinstance(value, list):
        return "".join(stringify(v) for v in value)
    kind = value.get("t")
    if kind == "Str":
        return value["c"]
    if kind in ("Space", "SoftBreak"):
        return " "
    if kind == "Quoted":
        mark = '"' if value["c"][0]["t"] == "DoubleQuote" else "'"
        return mark + stringify(value["c"][1]) + mark
    if kind in ("MetaInlines", "Para", "Plain"):
        return stringify(value["c"])
    raise AssertionError(f"markup in escaped text: {kind}")


def paper(title: str = "A plain title", **fields) -> Paper:
    """A paper with the given title."""
    base = {"arxiv_id": "2404.00001", "version": "v1", "title": title, "authors": ("A. Author",),
            "abstract": "We propose a method.", "abs_url": "https://arxiv.org/abs/2404.00001v1",
            "pdf_url": "https://arxiv.org/pdf/2404.00001v1"}
    return Paper(**(base | fields))


def summary(texts: list[str], keywords: list[str] = (), methods: list[str] = ()) -> Summary:
    """A model answer whose every free-text field holds one of texts (cycled)."""
    cycle = (texts * 20)[:20]
    return Summary(tldr=cycle[0], key_takeaways=cycle[1:8], title_translation=cycle[8], keywords=list(keywords),
                   affiliations=[cycle[9]], background=cycle[10], prior_work=cycle[11], method=cycle[12],
                   results=cycle[13], methods=list(methods),
                   conclusion=Conclusion(significance=cycle[14], innovation=cycle[15], performance=cycle[16],
                                         workload=cycle[17]))


def digest(title: str, name: str = "Avatars", keywords: list[str] = (), methods: list[str] = (),
           language: str = "en") -> Digest:
    """A one-paper digest whose paper, summary keywords and method tags are given."""
    entry = Entry(paper=paper(title), summary=summary(["plain words"], keywords, methods))
    return Digest(date="2024-04-01", topic_slug="avatars", topic_name=name, language=language, source="sample",
                  summariser="offline", entries=(entry,))


def read_front_matter(matter: dict) -> dict:
    """The front matter as Quarto hands it to pandoc: YAML (as we write it) read as a Markdown document's metadata."""
    return ast(publish.dump_front_matter(matter) + "\n")["meta"]


def assert_literal(meta: dict, key: str) -> list[str]:
    """A metadata field holds no markup; returns its texts (one per list item)."""
    value = meta[key]
    items = value["c"] if value["t"] == "MetaList" else [value]
    found = set(node_types(items)) & MARKUP
    assert not found, (key, found, items)
    assert all(item["t"] == "MetaInlines" for item in items), (key, items)
    return [stringify(item) for item in items]


@pytest.mark.parametrize("title", HOSTILE_TITLES)
@pytest.mark.parametrize("language", ["en", "zh"])
def test_post_front_matter_reads_as_the_literal_title(title, language):
    # (image-alt stays plain text: Quarto's listing reads it raw, never as Markdown; see post.plain_alt)
    d = digest(title, name=f"Topic {title}", keywords=[title, "<b>bold</b> avatars", "*starred* nerf"],
               methods=[title, "NeRF"], language=language)
    meta = read_front_matter(post.build_front_matter(d, "figures/2404.00001v1-1.webp"))
    colon = "：" if language == "zh" else ": "
    assert assert_literal(meta, "description")[0].endswith(f"{colon}{title}")
    assert assert_literal(meta, "title") == [f"Topic {title} · 2024-04-01{colon}{post.short_title(title)}"]
    assert assert_literal(meta, "categories") == [f"Topic {title}", *sorted([title, "NeRF"])]
    keywords = list(post.keyword_counts(d)["keyword"])  # concepts of the vocabulary only
    assert assert_literal(meta, "keywords") == [f"Topic {title}", *keywords] and keywords == ["neural radiance field"]


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_trends_page_front_matter_reads_as_the_literal_name(title):
    d = digest("A plain title", name=title)
    t = trends.make_trends([d], d.date, 30, d.topic_slug, d.topic_name, d.language, 0)
    meta = read_front_matter(trendpage.build_front_matter(t, "charts/families.png"))
    assert title in assert_literal(meta, "title")[0]
    assert title in assert_literal(meta, "description")[0]


def test_hostile_model_answers_add_no_markup_to_the_paper():
    def render(texts: list[str], title: str) -> str:
        entry = Entry(paper=paper(title, authors=(texts[0], texts[1]), abstract=texts[2], comment=texts[3]),
                      summary=summary(texts, keywords=texts[:5], methods=texts[5:9]))
        return post.render_paper(entry, "en")

    plain = ast(render(["plain words"] * len(HOSTILE_ANSWERS), "A plain title"))
    hostile = render(HOSTILE_ANSWERS, HOSTILE_TITLES[0])
    structure = sorted(t for t in node_types(plain["blocks"]) if t in MARKUP)
    assert sorted(t for t in node_types(ast(hostile)["blocks"]) if t in MARKUP) == structure  # same page, other words
    text = pypandoc.convert_text(hostile, "plain", format="markdown", extra_args=["--wrap=none"])
    for literal in ("<script>alert(", "<img src=x onerror=alert(7)>", "[x](javascript:alert(1))", "# Heading takeaway"):
        assert literal in text


@pytest.mark.parametrize("answer", HOSTILE_ANSWERS)
def test_escaped_answer_is_one_plain_paragraph(answer):
    blocks = ast(escape_md(answer))["blocks"]
    assert len(blocks) == 1 and blocks[0]["t"] == "Para", blocks
    assert stringify(blocks[0]).replace("’", "'").replace("…", "...") == " ".join(answer.split())
    inside = ast(post.render_list([answer, "next"]))["blocks"]  # after a bullet: no nested list or quote
    assert [b["t"] for b in inside] == ["BulletList"] and not set(node_types(inside)) & (MARKUP - {"BulletList"})


@pytest.mark.parametrize("text", ["# heading", "> quote", "- dash", "+ plus", "1. one", "1) one", "(1) one",
                                  "a. alpha", "iv) roman", "---", ": definition", "::: div",
                                  "1.", "(a)", "iv.", "1)", "(iv)"])  # bare markers: pandoc reads "1." alone as a list
def test_leading_markup_stays_text(text):
    """The escape of block markup at the start of a line (text.MD_LEADING and friends)."""
    blocks = ast(escape_md(text))["blocks"]
    assert [b["t"] for b in blocks] == ["Para"], blocks
    assert stringify(blocks[0]).startswith(text[:2].rstrip())
    if len(text) <= 4:  # a bare marker: the whole text, literally
        assert stringify(blocks[0]) == text


class Tags(HTMLParser):
    """Start tags and their attributes, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


HOSTILE_CAPTIONS = [
    'Figure 1" onerror="alert(1)', "Fig. 2' onload='alert(2)", "</details><script>alert(3)</script>",
    "a < b > c & d", "*emph* [link](javascript:x) $x$ `code`", "line\n\none\ttab",
]


def test_hostile_figure_captions_stay_text():
    figures = tuple(Figure(path=f"figures/2404.00001v1-{i}.png", alt=text, caption=text)
                    for i, text in enumerate(HOSTILE_CAPTIONS))
    block = post.render_figures(Entry(paper=paper(), extras=Extras(figures=figures)), post.LABELS["en"])
    parser = Tags()
    parser.feed(block)
    images = [attrs for tag, attrs in parser.tags if tag == "img"]
    assert [tag for tag, _ in parser.tags] == ["details", "summary", *["figure", "img", "figcaption"] * len(figures)]
    assert [a["alt"] for a in images] == [" ".join(text.split()) for text in HOSTILE_CAPTIONS]  # in its attribute
    assert all(set(a) == {"src", "alt", "loading", "style"} for a in images)
    # pandoc (Quarto's reader) keeps each tag whole and reads the visible caption as plain text
    read = ast(block)
    raw = [n["c"][1] for n in walk(read) if n.get("t") in ("RawInline", "RawBlock")]
    assert all(r.startswith(("<details", "</details", "<summary", "</summary", "<figure", "</figure", "<img ",
                             "<figcaption", "</figcaption")) for r in raw), raw
    assert sum(r.startswith("<img ") for r in raw) == len(figures)
    assert not set(node_types(read)) & (MARKUP - {"RawInline", "RawBlock"})
    lines = pypandoc.convert_text(block, "plain", format="markdown", extra_args=["--wrap=none"]).splitlines()
    assert lines[1:] == [" ".join(caption.split()) for caption in HOSTILE_CAPTIONS]  # each caption, as printed


def walk(value):
    """Every AST node under value."""
    if isinstance(value, dict):
        yield value
        for v in value.values():
            yield from walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from walk(v)
