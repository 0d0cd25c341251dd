"""The e-mail digest of one mailing: a plain-text and an HTML part (inline styles, no scripts), outside text escaped.

Composing only: sending is smtp's, choosing what to send is mailout's.
"""

from __future__ import annotations

import hashlib
import html
import re
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import quote, urlsplit

from .config import load_labels
from .records import Digest, Paper
from .summarise import split_sentences
from .text import paper_anchor, safe_url

MAX_AUTHORS = 10  # a collaboration's hundreds of names would bury the titles
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # nothing from arXiv reaches a header or a part as a control byte


def one_line(text: str | None) -> str:
    """Outside text as one line without control characters (a header or a line of the plain part)."""
    return " ".join(CONTROL.sub(" ", text or "").split())


def post_url(site_url: str, folder: str, anchor: str = "") -> str:
    """The address of a post on the published site (the .html Quarto writes), optionally a paper's anchor in it."""
    return f"{site_url.rstrip('/')}/posts/{quote(folder)}/index.html" + (f"#{anchor}" if anchor else "")


def recipient_key(address: str) -> str:
    """How a recipient is recorded in the committed send records: a hash, not the address."""
    return hashlib.sha256(address.strip().lower().encode("utf-8")).hexdigest()[:16]


def describe_paper(paper: Paper, line: str, words: dict) -> dict[str, str]:
    """The facts of one paper the message shows, as plain text (escaped where they land)."""
    authors = list(paper.authors[:MAX_AUTHORS]) + ([words["et_al"]] if len(paper.authors) > MAX_AUTHORS else [])
    return {"title": one_line(paper.title), "authors": one_line(", ".join(authors)), "line": one_line(line),
            "arxiv": safe_url(paper.abs_url)}


def list_papers(digest: Digest, words: dict) -> list[tuple[Paper, dict[str, str]]]:
    """Every paper of the mailing with its one line: the summary's, else the abstract's first sentence."""
    found = []
    for entry in digest.entries:
        line = entry.summary.tldr if entry.summary else (split_sentences(entry.paper.abstract) or [""])[0]
        found.append((entry.paper, describe_paper(entry.paper, line, words)))
    for paper in digest.listed:  # beyond max_papers: the post lists them with the abstract's first sentence
        found.append((paper, describe_paper(paper, (split_sentences(paper.abstract) or [""])[0], words)))
    return found


def render_plain(digest: Digest, papers: list[tuple[Paper, dict[str, str]]], links: list[str], words: dict,
                 topic_page: str) -> str:
    """The text/plain part: each paper's title, authors, one line and its two links."""
    name = one_line(digest.topic_name)
    lines = [words["mail_intro"].format(date=digest.date, topic=name, n=len(papers)), ""]
    for (_, facts), link in zip(papers, links):
        lines += [facts["title"], facts["authors"]]
        lines += [facts["line"]] if facts["line"] else []
        colon = words["colon"]
        lines += [f"{words['in_post']}{colon}{link}"] + ([f"{words['arxiv']}{colon}{facts['arxiv']}"] if facts["arxiv"] else [])
        lines.append("")
    lines += ["-- ", words["mail_footer"].format(site=topic_page)]
    return "\n".join(lines) + "\n"


STYLE = {
    "body": "margin:0;padding:16px;font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;"
            "font-size:15px;line-height:1.5;color:#1f2328;background:#ffffff",
    "intro": "margin:0 0 16px;color:#59636e",
    "paper": "margin:0 0 20px;padding:0 0 12px;border-bottom:1px solid #d1d9e0",
    "title": "margin:0 0 4px;font-size:17px;line-height:1.35",
    "link": "color:#0969da;text-decoration:none",
    "authors": "margin:0 0 6px;color:#59636e;font-size:13px",
    "line": "margin:0 0 6px",
    "links": "margin:0;font-size:13px",
    "footer": "margin:16px 0 0;color:#59636e;font-size:12px",
}


def render_html(digest: Digest, papers: list[tuple[Paper, dict[str, str]]], links: list[str], words: dict,
                language: str, topic_page: str) -> str:
    """The text/html part: inline styles only (mail clients drop style sheets), no scripts, every text escaped."""
    esc = html.escape  # text and attribute values alike (quote=True)
    name = one_line(digest.topic_name)
    items = []
    for (_, facts), link in zip(papers, links):
        arxiv = (f' · <a style="{STYLE["link"]}" href="{esc(facts["arxiv"])}">{esc(words["arxiv"])}</a>'
                 if facts["arxiv"] else "")
        line = f'<p style="{STYLE["line"]}">{esc(facts["line"])}</p>' if facts["line"] else ""
        items.append(
            f'<div style="{STYLE["paper"]}">'
            f'<h2 style="{STYLE["title"]}"><a style="{STYLE["link"]}" href="{esc(link)}">{esc(facts["title"])}</a></h2>'
            f'<p style="{STYLE["authors"]}">{esc(facts["authors"])}</p>{line}'
            f'<p style="{STYLE["links"]}"><a style="{STYLE["link"]}" href="{esc(link)}">{esc(words["in_post"])}</a>'
            f"{arxiv}</p></div>")
    intro = esc(words["mail_intro"].format(date=digest.date, topic=name, n=len(papers)))
    footer = esc(words["mail_footer"].format(site="")).rstrip()
    return (f'<!DOCTYPE html>\n<html lang="{"zh-Hans" if language == "zh" else "en"}">'
            f'<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{esc(name)}</title></head>\n'
            f'<body style="{STYLE["body"]}"><p style="{STYLE["intro"]}">{intro}</p>\n' + "\n".join(items)
            + f'\n<p style="{STYLE["footer"]}">{footer} <a style="{STYLE["link"]}" href="{esc(topic_page)}">'
            f"{esc(topic_page)}</a></p></body></html>\n")


def build_message(digest: Digest, folder: str, recipient: str, sender: str, site_url: str, when) -> EmailMessage:
    """One mailing's message for one recipient, in the topic's language (None-free: the caller skips empty mailings)."""
    words = load_labels("delivery")[digest.language]
    papers = list_papers(digest, words)
    links = [post_url(site_url, folder, paper_anchor(paper.arxiv_id)) for paper, _ in papers]
    topic_page = f"{site_url.rstrip('/')}/topics/{quote(digest.topic_slug)}.html"
    message = EmailMessage()  # the default policy encodes non-ASCII headers (RFC 2047) and refuses line breaks in them
    message["Subject"] = words["subject"].format(topic=one_line(digest.topic_name), date=digest.date)
    message["From"] = sender
    message["To"] = recipient
    message["Date"] = format_datetime(when)
    # The same message keeps its id when a run sends it again (the server dropped the connection before it
    # acknowledged it): mail clients that saw the first copy can tell.
    host = urlsplit(site_url).hostname or "paperpress.invalid"
    message["Message-ID"] = f"<{digest.topic_slug}.{digest.date}.{recipient_key(recipient)}@{host}>"
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: auto-responders do not answer it
    message.set_content(render_plain(digest, papers, links, words, topic_page))
    message.add_alternative(render_html(digest, papers, links, words, digest.language, topic_page), subtype="html")
    # After the parts: set_content and make_alternative move or clear every Content-* header (email.message).
    message["Content-Language"] = "zh-Hans" if digest.language == "zh" else "en"
    return message

