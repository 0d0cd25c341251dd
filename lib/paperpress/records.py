"""Frozen records that flow through the stages: a paper, what we add to it, its summary, a digest."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator


def cap_text(limit: int):
    """A validator that collapses whitespace and cuts text to `limit` characters (with an ellipsis)."""

    def cap(value: object) -> object:
        if not isinstance(value, str):
            return value
        text = " ".join(value.split())
        return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"

    return BeforeValidator(cap)


def cap_list(limit: int):
    """A validator that keeps the first `limit` items of a list."""
    return BeforeValidator(lambda v: list(v)[:limit] if isinstance(v, (list, tuple)) else v)


# Caps keep a runaway model answer (or a hostile abstract) from blowing up a post: cut, not refused.
Short = Annotated[str, cap_text(200)]
Line = Annotated[str, cap_text(400)]
Para = Annotated[str, cap_text(1500)]


class Frozen(BaseModel):
    """Base for immutable records that refuse unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Paper(Frozen):
    """Bibliographic facts of one arXiv paper, always taken from arXiv (never from a model)."""

    arxiv_id: str = Field(pattern=r"^(\d{4}\.\d{4,5}|[a-z\-]+(\.[A-Z]{2})?/\d{7})$")
    version: str = Field(default="", pattern=r"^(v\d+)?$")
    title: str
    authors: tuple[str, ...]
    abstract: str
    comment: str | None = None
    categories: tuple[str, ...] = ()
    published: str | None = None  # ISO 8601 date-time (GMT) when known
    updated: str | None = None
    abs_url: str = ""
    pdf_url: str = ""

    @property
    def versioned_id(self) -> str:
        """The id with its version, e.g. 2403.16510v1."""
        return f"{self.arxiv_id}{self.version}"

    @field_validator("abs_url", "pdf_url")
    @classmethod
    def _http_only(cls, url: str) -> str:
        if url and not url.startswith(("https://", "http://")):
            raise ValueError("links must be http(s)")
        return url


def make_urls(arxiv_id: str, version: str) -> tuple[str, str]:
    """Canonical abs and pdf URLs of an arXiv id and version."""
    vid = f"{arxiv_id}{version}"
    return f"https://arxiv.org/abs/{vid}", f"https://arxiv.org/pdf/{vid}"


class Affiliation(Frozen):
    """An institution of the first author, with where we learnt it."""

    name: Short
    ror: str | None = None
    country: str | None = None
    source: Literal["openalex", "pdf", "model"] = "pdf"


class Figure(Frozen):
    """A figure image saved beside the post (path relative to the post folder)."""

    path: str
    alt: Short
    caption: Para = ""  # the figure's caption as the paper prints it ('' for an image without one)
    width: int = 0
    height: int = 0


class Extras(Frozen):
    """What we learn about a paper beyond arXiv's metadata: PDF text, affiliations, links, figures."""

    pdf_status: Literal["not-fetched", "ok", "missing", "broken", "too-large"] = "not-fetched"
    first_page: str = ""
    intro: str = ""
    affiliations: tuple[Affiliation, ...] = ()
    code_urls: tuple[str, ...] = ()
    figures: tuple[Figure, ...] = ()


class Conclusion(Frozen):
    """The seed's four-part conclusion."""

    significance: Para = ""
    innovation: Para = ""
    performance: Para = ""
    workload: Para = ""


class Summary(Frozen):
    """A machine-written reading of one paper, in the topic's language; never bibliographic facts."""

    tldr: Line
    key_takeaways: Annotated[list[Line], cap_list(7)]  # a model must give 3 to 7 (ModelSummary)
    title_translation: Short = ""
    keywords: Annotated[list[Short], cap_list(10)] = []
    affiliations: Annotated[list[Short], cap_list(6)] = []
    code_url: Short = ""
    background: Para = ""
    prior_work: Para = ""
    method: Para = ""
    results: Para = ""
    methods: Annotated[list[Short], cap_list(10)] = []
    conclusion: Conclusion = Conclusion()


class ModelSummary(Summary):
    """What a model must answer: a Summary with 3 to 7 key takeaways (an extractive summary of a short abstract
    may have fewer, so Summary itself asks for none)."""

    key_takeaways: Annotated[list[Line], Field(min_length=3), cap_list(7)]


class CheckedSummary(Summary):
    """A summary after the claim check (claims.py): the sentences, takeaways and keywords it kept.

    The model must write at least three takeaways (ModelSummary); a checked summary may keep fewer, even none,
    when the others held a figure or a name the paper's text does not.
    """

    key_takeaways: Annotated[list[Line], cap_list(7)]


class DroppedClaim(Frozen):
    """A sentence (or takeaway, keyword) removed from a summary: a figure or name in it is not in the source."""

    field: str  # the summary field: tldr, key_takeaways, results, conclusion.performance, ...
    text: str
    reason: str  # what the source lacks, e.g. "figure 35%; name HumanNeRF"


class Usage(Frozen):
    """Tokens one model call (or a post's calls, summed) used."""

    prompt_tokens: int = 0
    output_tokens: int = 0  # the answer's tokens (candidatesTokenCount)
    total_tokens: int = 0  # includes thought tokens
    # Thinking models bill thought tokens as output; a default keeps sidecars written before this field readable.
    thought_tokens: int = 0


class Entry(Frozen):
    """One paper of a post: its facts, extras and summary (or why there is none)."""

    paper: Paper
    extras: Extras = Extras()
    summary: CheckedSummary | Summary | None = None
    summary_note: str = ""  # why the summary is unavailable, shown on the page
    usage: Usage = Usage()
    # What the claim check removed from the summary ([]: nothing). None: not checked (a sidecar written
    # before the check), left out of the sidecar so that it stays apart from [].
    dropped_claims: tuple[DroppedClaim, ...] | None = Field(default=None, exclude_if=lambda v: v is None)


class Digest(Frozen):
    """One post's data: a topic, a day, its new papers and revised ones; the sidecar's content."""

    date: str
    topic_slug: str
    topic_name: str
    language: Literal["zh", "en"]
    source: str
    summariser: str
    entries: tuple[Entry, ...]
    updated: tuple[Paper, ...] = ()  # new versions of papers posted on an earlier day
    listed: tuple[Paper, ...] = ()  # new papers beyond max_papers: listed briefly, without a summary
    window: tuple[str, ...] = ()  # submissions asked of arXiv, [start, end) ISO GMT; empty for a sample day
    usage: Usage = Usage()
    notes: tuple[str, ...] = ()
