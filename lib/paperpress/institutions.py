"""Institutions in one name each: data-file aliases and countries, word order, close spellings (rapidfuzz)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Iterable

from rapidfuzz import fuzz, process

from .config import read_data
from .text import EDGE_PUNCT


@dataclass(frozen=True)
class Institution:
    """An institution in its counting form: a name and a country name ('' when unknown)."""

    name: str
    country: str = ""
    known: bool = False  # from OpenAlex or the data file (unknown ones may still merge by spelling)


@dataclass(frozen=True)
class InstitutionRules:
    """The affiliation data file, ready to use: institutions by key and ROR id, countries, cutoff."""

    by_key: dict[str, Institution]
    by_ror: dict[str, Institution]
    keys: tuple[str, ...]
    countries: dict[str, str]  # ISO code → name
    country_keys: dict[str, str]  # key of a printed country name → country name
    abbreviations: dict[str, str]
    cutoff: float


def institution_key(name: str, abbreviations: dict[str, str]) -> str:
    """The matching form of an institution name: lower case, no punctuation, abbreviations expanded."""
    text = name.lower().replace("&", " and ").replace("'", "").replace("’", "")
    words = re.sub(r"[^\w\s]", " ", text).split()
    words = [abbreviations.get(w, w) for w in words]
    return " ".join(words[1:] if words[:1] == ["the"] and len(words) > 1 else words)


# Words many institutions' names share: names alike only in these are different places ("Wuhan University
# of Science and Technology" and "Pohang University of Science and Technology" are 94% alike as strings).
GENERIC_WORDS = frozenset("university institute college school academy of for and the at in science sciences technology"
                          " technological national research laboratory laboratories center department polytechnic"
                          " engineering normal".split())
MIN_DISTINCT_SCORE = 80  # "Exmaple" is a typo of "Example" (86); "Xian" is not "Dalian" (60)


def is_close_name(key: str, other: str) -> bool:
    """Whether two keys that look alike as wholes share their first telling word (not "university", "of"...)."""
    for mine, theirs in ((key, other), (other, key)):
        telling = [w for w in mine.split() if w not in GENERIC_WORDS]
        if telling and not any(fuzz.ratio(telling[0], w) >= MIN_DISTINCT_SCORE for w in theirs.split()):
            return False
    return True


def find_close(key: str, keys: list[str] | tuple[str, ...], cutoff: float) -> int | None:
    """The index of the closest key (rapidfuzz ratio ≥ cutoff) that is a spelling of the same name, if any."""
    for _match, _score, index in process.extract(key, keys, scorer=fuzz.ratio, score_cutoff=cutoff, limit=5):
        if is_close_name(key, keys[index]):
            return index
    return None


def sorted_key(key: str) -> str:
    """A key with its words sorted, so "CAS ICT" meets "ICT, CAS"."""
    return " ".join(sorted(key.split()))


@functools.cache
def load_institutions() -> InstitutionRules:
    """Institutions, aliases and countries of data/affiliations.yml, keyed for matching."""
    data = read_data("affiliations.yml")
    abbreviations = {str(k): str(v) for k, v in data["abbreviations"].items()}
    countries = {code: item["name"] for code, item in data["countries"].items()}
    country_keys = {institution_key(alias, {}): item["name"]
                    for item in data["countries"].values() for alias in [item["name"], *item["aliases"]]}
    by_key: dict[str, Institution] = {}
    by_ror: dict[str, Institution] = {}
    for item in data["institutions"]:
        institution = Institution(item["name"], countries.get(item.get("country", ""), ""), known=True)
        for alias in [item["name"], *item.get("aliases", [])]:
            key = institution_key(str(alias), abbreviations)
            by_key.setdefault(key, institution)
            by_key.setdefault(sorted_key(key), institution)
        if item.get("ror"):
            by_ror[item["ror"]] = institution
    return InstitutionRules(by_key, by_ror, tuple(by_key), countries, country_keys, abbreviations,
                            float(data["fuzzy_cutoff"]))


def match_institution(name: str, rules: InstitutionRules) -> Institution | None:
    """The data file's institution for a name: exact alias, word order, then a close spelling."""
    key = institution_key(name, rules.abbreviations)
    if not key:
        return None
    found = rules.by_key.get(key) or rules.by_key.get(sorted_key(key))
    if found or len(key) < 10:
        return found  # short names are abbreviations: a near miss is another institution
    best = find_close(key, rules.keys, rules.cutoff)
    return rules.by_key[rules.keys[best]] if best is not None else None


def country_name(code: str | None, rules: InstitutionRules) -> str:
    """The shown name of an ISO country code ('' for none)."""
    return rules.countries.get((code or "").upper(), (code or "").upper())


def pick_unit(parts: list[str]) -> str:
    """The institution among the comma-separated parts of an unknown affiliation (not its department)."""
    top = re.compile(r"universit|institut|academy|college|school|laborator|\blab\b|inc\b|ltd|corp|company|group"
                     r"|research|center|centre|hospital|大学|研究院|研究所|实验室|公司", re.I)
    sub = re.compile(r"^(department|dept|school of|faculty|college of|key lab|state key|center for|centre for)", re.I)
    ranked = [p for p in parts if top.search(p) and not sub.search(p)] or [p for p in parts if top.search(p)] or parts
    return ranked[0]


@functools.lru_cache(maxsize=1 << 14)
def normalise_affiliation(name: str, ror: str | None = None, country: str | None = None) -> Institution:
    """An affiliation in its counting form: OpenAlex/ROR name when known, else the data file's, else cleaned."""
    rules = load_institutions()
    if ror and ror in rules.by_ror:
        return rules.by_ror[ror]
    text = " ".join(name.split()).strip(EDGE_PUNCT + "0123456789∗†‡§¶")
    whole = match_institution(text, rules)
    if whole:
        return whole
    if ror:  # OpenAlex names are canonical already
        return Institution(text, country_name(country, rules), known=True)
    parts = [p.strip(EDGE_PUNCT) for p in re.split(r"[,;，；]", text) if p.strip(EDGE_PUNCT)]
    places = [rules.country_keys.get(institution_key(p, {}), "") for p in parts]
    found_country = country_name(country, rules) or next((c for c in reversed(places) if c), "")
    for part in parts:
        known = match_institution(part, rules)
        if known:
            return known
    units = [p for p, place in zip(parts, places) if not place] or parts or [text]
    return Institution(pick_unit(units), found_country)


def merge_spellings(names: Iterable[str], cutoff: float | None = None) -> dict[str, str]:
    """Unknown institution names mapped to one spelling each (the first in sorted order of a close group)."""
    rules = load_institutions()
    cutoff = rules.cutoff if cutoff is None else cutoff
    heads: list[str] = []
    head_keys: list[str] = []
    merged: dict[str, str] = {}
    for name in sorted(set(names)):
        key = institution_key(name, rules.abbreviations)
        best = find_close(key, head_keys, cutoff) if len(key) >= 10 else None
        if best is None and key in head_keys:
            best = head_keys.index(key)
        if best is not None:
            merged[name] = heads[best]
        else:
            heads.append(name)
            head_keys.append(key)
            merged[name] = name
    return merged
