"""Vocabularies of the data files: method tags and families, keyword normal forms (aliases, stop lists, Chinese)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from .config import read_data
from .text import EDGE_PUNCT

CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")
BRACKETED = re.compile(r"^(.+?)\s*[(（]\s*(.+?)\s*[)）]$")
SLASHED = re.compile(r"^(.+?)\s*[/／|]\s*(.+)$")


# --- methods --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Method:
    """One entry of the method vocabulary."""

    tag: str
    family: str
    pattern: re.Pattern


@functools.cache
def load_methods() -> tuple[Method, ...]:
    """The curated method vocabulary (data/methods.yml) with compiled alias patterns."""
    data = read_data("methods.yml")
    methods = []
    for item in data["methods"]:
        aliases = sorted({item["tag"].lower(), *(a.lower() for a in item["aliases"])}, key=len, reverse=True)
        alt = "|".join(re.escape(a) for a in aliases)
        methods.append(Method(item["tag"], item["family"], re.compile(rf"(?<![\w-])({alt})(?![\w-])", re.I)))
    return tuple(methods)


def tag_methods(text: str) -> list[str]:
    """Method tags whose aliases occur in the text, in vocabulary order."""
    return [m.tag for m in load_methods() if m.pattern.search(text)]


@functools.cache
def method_families() -> dict[str, str]:
    """Method tag → family, from the vocabulary."""
    return {m.tag: m.family for m in load_methods()}


@functools.cache
def family_order() -> tuple[str, ...]:
    """Families in vocabulary order (charts keep one order and colour per family)."""
    return tuple(dict.fromkeys(m.family for m in load_methods()))


# --- keywords -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeywordRules:
    """The keyword data file, ready to use: aliases by normal form, stop lists, plural rules."""

    aliases: dict[str, str]
    chinese: dict[str, str]
    stop_terms: frozenset[str]
    stop_words: frozenset[str]
    keep: frozenset[str]
    irregular: dict[str, str]


@functools.cache
def load_keyword_rules() -> KeywordRules:
    """Keyword aliases, Chinese terms and stop lists (data/keywords.yml), in normal form."""
    data = read_data("keywords.yml")
    plain = KeywordRules({}, {}, frozenset(), frozenset(), frozenset(data["singular"]["keep"]),
                         dict(data["singular"]["irregular"]))
    aliases: dict[str, str] = {}
    for canonical, others in data["aliases"].items():
        target = shape_keyword(canonical, plain)
        for alias in [canonical, *others]:
            aliases[shape_keyword(alias, plain)] = target
    chinese = {squeeze_cjk(k): aliases.get(shape_keyword(v, plain), shape_keyword(v, plain))
               for k, v in data["chinese"].items()}
    stop_terms = frozenset(shape_keyword(t, plain) for t in data["stop_terms"]) | frozenset(map(clean_term, data["stop_terms"]))
    return KeywordRules(aliases, chinese, stop_terms, frozenset(data["stop_words"]), plain.keep, plain.irregular)


def clean_term(term: str) -> str:
    """Lower case, single spaces, one kind of hyphen, no quotes or punctuation at the ends."""
    text = " ".join(str(term).lower().replace("‐", "-").replace("–", "-").replace("—", "-").split())
    return text.strip(EDGE_PUNCT)


def squeeze_cjk(term: str) -> str:
    """The lookup form of a Chinese term: cleaned, without spaces (Chinese writes none)."""
    return clean_term(term).replace(" ", "")


def singularise(word: str, rules: KeywordRules) -> str:
    """The singular of an English word by the usual suffix rules, with the data file's exceptions."""
    if word in rules.irregular:
        return rules.irregular[word]
    if word in rules.keep or len(word) <= 3 or not re.fullmatch(r"[a-z][a-z-]*", word):
        return word  # abbreviations ("sds", "3dgs") and non-words keep their final s
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "ches", "shes", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is", "ics")):
        return word[:-1]
    return word


def shape_keyword(term: str, rules: KeywordRules) -> str:
    """A keyword cleaned, with its last word singular (the head noun of an English phrase)."""
    words = clean_term(term).split(" ")
    return " ".join([*words[:-1], singularise(words[-1], rules)])


def pick_english(term: str) -> str:
    """The English side of a bilingual keyword ("扩散模型 (diffusion model)"); the outer side of "long (ABBR)"."""
    match = BRACKETED.match(term.strip()) or SLASHED.match(term.strip())
    if not match:
        return term
    first, second = match.groups()
    if CJK.search(first) and not CJK.search(second) and re.search(r"[A-Za-z]{2}", second):
        return second
    if CJK.search(second) and not CJK.search(first) and re.search(r"[A-Za-z]{2}", first):
        return first
    return first if BRACKETED.match(term.strip()) and not CJK.search(term) else term


@functools.lru_cache(maxsize=1 << 16)
def normalise_keyword(term: str) -> str:
    """A keyword in its counting form (lower case, singular, aliases merged); '' when it says nothing."""
    rules = load_keyword_rules()
    text = pick_english(str(term))
    if CJK.search(text):
        key = squeeze_cjk(text)
        text = rules.chinese.get(key, key)
    shaped = shape_keyword(text, rules)
    if shaped in rules.aliases:
        return rules.aliases[shaped]  # a known term is kept even when it holds a stop word
    if not shaped or shaped in rules.stop_terms or clean_term(text) in rules.stop_terms or shaped.isdigit():
        return ""
    if len(shaped) < 2 or any(word in rules.stop_words for word in shaped.split(" ")):
        return ""
    return shaped
