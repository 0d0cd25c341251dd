"""Text helpers every stage may use: arXiv whitespace, Markdown escaping, safe links, code links."""

from __future__ import annotations

import functools
import html
import re
import unicodedata

# Pandoc/CommonMark markup characters anywhere in a line; a backslash makes each literal.
MD_SPECIAL = re.compile(r"([\\`*_{}\[\]#!|$~^@])")
# Markup that only counts at the start of a block (">" is an entity by then): a leading "-", "+" or ":"
# (bullets, rules "---", div fences ":::", definitions) and the delimiter of an ordered-list marker,
# pandoc's fancy ones included: "1." "1)" "(1)" "a." "(iv)" (fancy_lists, on in pandoc and Quarto Markdown).
MD_LEADING = re.compile(r"^([-+:])|^(\(?(?:\d+|[A-Za-z]|[ivxlcdmIVXLCDM]+)?)([.)])(?=\s|$)")
# A hyphen after a hyphen: pandoc's (and Quarto's) smart punctuation makes "--" an en dash, "---" an em dash.
DASH_RUN = re.compile(r"(?<=-)-")
URL = re.compile(r"https?://[^\s{}<>\"'\\]+")
CODE_HOSTS = re.compile(r"github\.com|gitlab\.com|huggingface\.co|github\.io")
# What means something inside a pandoc attribute value: its quote, the escape character, and "&", which
# starts an entity reference there (pandoc's Markdown reader decodes `&amp;`); a backslash makes each literal.
ATTRIBUTE_SPECIAL = re.compile(r'([\\"&])')
# Quotes and punctuation trimmed from the ends of a keyword or an institution name.
EDGE_PUNCT = " \t\"'“”‘’`.,;:!?*()[]{}<>（）【】《》、，。；：！？"


def clean_text(text: str | None) -> str:
    """Collapse arXiv's hard-wrapped whitespace into single spaces."""
    return re.sub(r"\s+", " ", text or "").strip()


def escape_md(text: str | None) -> str:
    """Outside text as literal Markdown: one line, markup escaped, no raw HTML."""
    flat = DASH_RUN.sub(r"\\-", MD_SPECIAL.sub(r"\\\1", " ".join((text or "").split())))
    return html.escape(MD_LEADING.sub(escape_leading, flat), quote=False)


def escape_leading(match: re.Match) -> str:
    """A backslash before the block markup MD_LEADING found."""
    if match.group(1):
        return "\\" + match.group(1)
    return f"{match.group(2)}\\{match.group(3)}"


def quote_attribute(text: str | None) -> str:
    """Outside text as a double-quoted pandoc attribute value (`{fig-alt="…"}`): one line, literal."""
    return '"' + ATTRIBUTE_SPECIAL.sub(r"\\\1", " ".join((text or "").split())) + '"'


def safe_url(url: str) -> str:
    """An http(s) URL fit for a Markdown link target, or '' for anything else."""
    url = url.strip()
    if not re.match(r"^https?://[^\s<>\"'()\\]+$", url):
        return ""
    return url


def link(text: str, url: str) -> str:
    """A Markdown link with escaped text, or the escaped text alone when the URL is not http(s)."""
    target = safe_url(url)
    return f"[{escape_md(text)}]({target})" if target else escape_md(text)


def find_code_urls(*texts: str | None) -> list[str]:
    """Code and project links that occur in the given texts (never invented)."""
    urls: list[str] = []
    for text in texts:
        for url in URL.findall(text or ""):
            url = url.rstrip(".,;:)]")
            if url not in urls:
                urls.append(url)
    code = [u for u in urls if CODE_HOSTS.search(u)]
    return code or urls


def fence(text: str, info: str) -> str:
    """A fenced block holding text verbatim (longer fence than any backtick run inside)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{info}\n{text.rstrip()}\n{ticks}"


@functools.lru_cache(maxsize=1 << 16)  # the trends ask about each paper's title once per affiliation it has
def title_words(text: str) -> str:
    """Text as its lower-case words (letters, digits) joined by single spaces: "3D-Aware Scene" → "3d aware scene"."""
    return " ".join(re.findall(r"[^\W_]+", text.lower()))


def is_title_piece(text: str, title: str, marked: bool = False) -> bool:
    """Whether text is a piece of the title as a page wraps it: whole words, except where the page hyphenated
    ("Scene Recon-" / "struction for ..."); `marked`: a leading digit of the title's word may have been read as an
    affiliation mark and dropped ("D Masks" of "Using 2D Masks")."""
    words = title_words(text)
    # Every match below holds the words as they are, the last one too: most names stop at this cheap test.
    if not words or words.rsplit(" ", 1)[-1] not in title.lower():
        return False
    text, whole = text.strip(), title_words(title)
    start = "" if text[:1].islower() else r"(?<![^ ])" + (r"\d{0,2}" if marked else "")
    end = "" if text.endswith(("-", "‐")) else r"(?![^ ])"
    return re.search(start + re.escape(words) + end, whole) is not None


def cut_text(text: str, limit: int) -> str:
    """Text cut at a word boundary to at most `limit` characters."""
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def paper_anchor(arxiv_id: str) -> str:
    """The stable HTML id of a paper on its post (`arxiv-2403.16510`): today page and e-mails link to it."""
    # Old-style ids (hep-th/9901001) hold a slash, which a pandoc identifier cannot: it becomes a hyphen.
    return "arxiv-" + re.sub(r"[^A-Za-z0-9.-]", "-", arxiv_id)


# LaTeX that arXiv abstracts carry ("\url{https://…}", "\emph{not}", "$\times$", "50\%"): shown as plain text.
LATEX_ARGUMENT = re.compile(r"\\(?:url|emph|textbf|textit|texttt|textrm|textsc|mathrm|mathbf|mathit|mathcal|text|mbox)\s*\{([^{}]*)\}")
LATEX_HREF = re.compile(r"\\href\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
LATEX_ACCENT = re.compile(r"\\(['`^\"~])\{?([A-Za-z])\}?")
ACCENTS = {"'": "\u0301", "`": "\u0300", "^": "\u0302", '"': "\u0308", "~": "\u0303"}
LATEX_SYMBOLS = {"times": "×", "sim": "~", "approx": "≈", "pm": "±", "leq": "≤", "geq": "≥", "le": "≤", "ge": "≥",
                 "cdot": "·", "rightarrow": "→", "to": "→", "infty": "∞", "alpha": "α", "beta": "β", "gamma": "γ",
                 "lambda": "λ", "mu": "μ", "sigma": "σ", "ldots": "…", "dots": "…"}


def strip_latex(text: str | None) -> str:
    """Text without LaTeX markup: commands' arguments kept, escapes and symbols as characters, $ and braces gone."""
    out = re.sub(r"\{\\(?:em|bf|it)\s+([^{}]*)\}", r"\1", clean_text(text))
    for _ in range(3):  # nested: \emph{\textbf{x}}
        out = LATEX_HREF.sub(r"\2 (\1)", out)
        out = LATEX_ARGUMENT.sub(r"\1", out)
    out = LATEX_ACCENT.sub(lambda m: unicodedata.normalize("NFC", m[2] + ACCENTS[m[1]]), out)  # D\'ej\`a → Déjà
    out = re.sub(r"(?<!\\)\$", "", out).replace("~", " ")  # math delimiters (an escaped \$ stays); a tie is a space
    out = re.sub(r"\\([%&_#$])", r"\1", out).replace("\\-", "")  # \- is a hyphenation hint
    out = re.sub(r"\\\\|\\[,;:! ]", " ", out)  # line breaks and spacing commands
    out = re.sub(r"\\([A-Za-z]+)(?![A-Za-z])", lambda m: LATEX_SYMBOLS.get(m[1], m[1]), out)
    out = out.replace("{", "").replace("}", "")
    return clean_text(out.replace("``", "“").replace("''", "”"))
