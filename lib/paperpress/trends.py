"""Trends: counts of keywords, affiliations and method tags across papers, as pandas tables."""

from __future__ import annotations

from collections import Counter
from typing import Callable, Iterable

import pandas as pd

from .records import Digest, Entry
from .summarise import load_methods


def normalise_keyword(term: str) -> str:
    """A keyword in its counting form: lower case, single spaces."""
    return " ".join(term.lower().split())


def count_per_paper(entries: Iterable[Entry], terms_of: Callable[[Entry], Iterable[str]]) -> Counter:
    """How many papers mention each term (a term counts once per paper)."""
    counts: Counter = Counter()
    for entry in entries:
        counts.update({t for t in terms_of(entry) if t})
    return counts


def keywords_of(entry: Entry) -> list[str]:
    """Normalised keywords of an entry's summary."""
    return [normalise_keyword(k) for k in (entry.summary.keywords if entry.summary else [])]


def affiliations_of(entry: Entry) -> list[str]:
    """First-author affiliations: known ones (OpenAlex/PDF) first, else the summary's grounded ones."""
    names = [a.name for a in entry.extras.affiliations] or (entry.summary.affiliations if entry.summary else [])
    return [" ".join(n.split()) for n in names]


def methods_of(entry: Entry) -> list[str]:
    """Method tags of an entry's summary."""
    return list(entry.summary.methods) if entry.summary else []


def top_table(counts: Counter, column: str, top: int) -> pd.DataFrame:
    """The `top` most frequent terms as a table (ties broken alphabetically, so reruns match)."""
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return pd.DataFrame(rows, columns=[column, "papers"])


def keyword_table(digest: Digest, top: int = 10) -> pd.DataFrame:
    """Most frequent keywords of today's papers."""
    return top_table(count_per_paper(digest.entries, keywords_of), "keyword", top)


def affiliation_table(digest: Digest, top: int = 10) -> pd.DataFrame:
    """Most frequent first-author affiliations of today's papers."""
    return top_table(count_per_paper(digest.entries, affiliations_of), "affiliation", top)


def method_table(digest: Digest) -> pd.DataFrame:
    """Method tags of today's papers with their family, most frequent first."""
    families = {m.tag: m.family for m in load_methods()}
    table = top_table(count_per_paper(digest.entries, methods_of), "method", top=50)
    table.insert(1, "family", [families.get(tag, "other") for tag in table["method"]])
    return table
