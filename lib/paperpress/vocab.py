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


@functools.cache
def family_names() -> dict[str, dict[str, str]]:
    """Family → its name per language (data/methods.yml `family_names`)."""
    return read_data("methods.yml").get("family_names") or {}


def family_name(family: str, language: str) -> str:
    """A method family as a page in this language names it (the family itself when the file has no name)."""
    return family_names().get(family, {}).get(language, family)


# --- keywords -------------------------------------------------------------------------------------

# Fields of an arXiv query that search the paper's words (ti: title, abs: abstract, all: both); the others
# (au:, cat:, jr:, co:, rn:, id:) name authors, categories or journals, not the topic's terms.
QUERY_TOKEN = re.compile(r'(?:\b([a-z]+):)?(?:"([^"]*)"|([^\s()"]+))')
WORD_FIELDS = {None, "ti", "abs", "all"}
QUERY_OPERATORS = {"AND", "OR", "ANDNOT"}
NAME_PARTS = re.compile(r"\s*[/／|,;，、]\s*")
# "generation of talking heads" is "talking head generation": a nominalised head noun before "of" moves last.
NOMINAL_HEAD = re.compile(r"(tion|sion|ment|sis|ing)$")
# "nerf-based talking face" is a talking face using NeRF: "-based" joins two terms, it makes no new one.
BASED = re.compile(r"(?<=[\w)])-based\b")


@dataclass(frozen=True)
class KeywordRules:
    """The keyword data file, ready to use: aliases by folded normal form, stop lists, plural rules."""

    aliases: dict[str, str]  # fold(normal form) → canonical term (method tags included, as their own canonical)
    chinese: dict[str, str]
    stop_terms: frozenset[str]  # folded
    stop_words: frozenset[str]
    keep: frozenset[str]
    irregular: dict[str, str]

    @property
    def known(self) -> frozenset[str]:
        """The curated terms: canonical keywords and method tags (phrases holding one count for it)."""
        return frozenset(self.aliases.values())


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
            aliases[fold_term(shape_keyword(alias, plain))] = target
    stop_terms = frozenset(fold_term(shape_keyword(t, plain)) for t in data["stop_terms"]) | \
        frozenset(fold_term(clean_term(t)) for t in data["stop_terms"])
    for method in load_methods():  # a method tag is a term too ("audio driven" is spelt like the tag)
        shaped = shape_keyword(method.tag, plain)
        if fold_term(shaped) not in stop_terms:  # "clip": a video clip as often as the CLIP model
            aliases.setdefault(fold_term(shaped), shaped)
    chinese = {squeeze_cjk(k): aliases.get(fold_term(shape_keyword(v, plain)), shape_keyword(v, plain))
               for k, v in data["chinese"].items()}
    return KeywordRules(aliases, chinese, stop_terms, frozenset(data["stop_words"]), plain.keep, plain.irregular)


def clean_term(term: str) -> str:
    """Lower case, single spaces, one kind of hyphen, no quotes or punctuation at the ends."""
    text = " ".join(str(term).lower().replace("‐", "-").replace("–", "-").replace("—", "-").split())
    return text.strip(EDGE_PUNCT)


def fold_term(term: str) -> str:
    """A term with hyphens as spaces: "audio-driven" and "audio driven" fold alike."""
    return " ".join(term.replace("-", " ").split())


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


def reorder_of(shaped: str, rules: KeywordRules) -> str:
    """"synthesis of talking face" → "talking face synthesis": the order English compounds use."""
    words = shaped.split(" ")
    rest = words[2:]
    if len(words) < 3 or words[1] != "of" or not NOMINAL_HEAD.search(words[0]) or len(rest) > 3:
        return shaped
    if any(w in rules.stop_words for w in rest):
        return shaped
    return " ".join([*rest, words[0]])


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
    shaped = reorder_of(shape_keyword(BASED.sub("", text), rules), rules)
    folded = fold_term(shaped)
    if folded in rules.aliases:
        return rules.aliases[folded]  # a known term is kept even when it holds a stop word
    if not shaped or folded in rules.stop_terms or fold_term(clean_term(text)) in rules.stop_terms or shaped.isdigit():
        return ""
    if len(shaped) < 2 or any(word in rules.stop_words for word in shaped.split(" ")):
        return ""
    return shaped


# --- one name per concept -------------------------------------------------------------------------


def query_terms(query: str, name: str = "") -> frozenset[str]:
    """A topic's own terms: the phrases its arXiv query searches for and its name, as written and in normal form.

    `abs:"talking head" OR ti:"talking face"` gives "talking head" and "talking face"; author, category
    and journal fields and the terms after ANDNOT are left out.
    """
    found: list[str] = []
    excluded = False
    for match in QUERY_TOKEN.finditer(query):
        field, phrase, word = match.groups()
        text = phrase if phrase is not None else word
        if field is None and text in QUERY_OPERATORS:
            excluded = text == "ANDNOT"
            continue
        if field in WORD_FIELDS and not excluded:
            found.append(text)
        excluded = False
    found += [name, *NAME_PARTS.split(name)]
    rules = load_keyword_rules()
    terms = {normalise_keyword(t) for t in found} | {shape_keyword(t, rules) for t in found if not CJK.search(t)}
    return frozenset(t for t in terms if t)


def is_topic_term(term: str, topic: frozenset[str]) -> bool:
    """Whether a term says no more than the topic's own words: a piece of one, maybe with generic words.

    "talking head", "head generation" and "high fidelity talking" (a fragment YAKE cut from "high fidelity
    talking head") say nothing on a talking-head topic; "head pose" does.
    """
    if CJK.search(term):
        return any(term in t for t in topic)
    return cover_words(fold_term(term).split(" "), topic_pieces(topic), load_keyword_rules().stop_terms)


@functools.lru_cache(maxsize=64)
def topic_pieces(topic: frozenset[str]) -> frozenset[str]:
    """Every run of words of the topic's terms, folded: "talking head" gives "talking", "head", "talking head"."""
    return frozenset(" ".join(w[i:j]) for t in topic for w in [fold_term(t).split(" ")]
                     for i in range(len(w)) for j in range(i + 1, len(w) + 1))


def cover_words(words: list[str], pieces: frozenset[str], generic: frozenset[str]) -> bool:
    """Whether the words are a run of topic pieces and generic terms, with at least one topic piece."""
    covered = {0: False}  # words covered so far → whether a topic piece was used
    for end in range(1, len(words) + 1):
        for start in [s for s in covered if s < end]:
            chunk = " ".join(words[start:end])
            if chunk in pieces or chunk in generic:
                covered[end] = covered.get(end, False) or covered[start] or chunk in pieces
    return covered.get(len(words), False)


def pick_spellings(support: dict[str, int]) -> dict[str, str]:
    """One spelling per folded form: the curated one, else the one most papers use (then the first in order)."""
    known = load_keyword_rules().aliases
    spelling: dict[str, str] = {}
    for term in sorted(support, key=lambda t: (-support[t], t)):
        spelling.setdefault(fold_term(term), known.get(fold_term(term), term))
    return spelling


class Splitter:
    """Splits keywords into the known terms they contain and their modifiers (memoised for one set of known terms)."""

    def __init__(self, known: frozenset[str]):
        self.rules = load_keyword_rules()
        self.folded = {fold_term(k): k for k in known}
        self.cjk = sorted({k for k in [*known, *self.rules.chinese] if CJK.search(k)}, key=len, reverse=True)
        self.memo: dict[str, tuple[str, ...]] = {}

    def split(self, term: str) -> tuple[str, ...]:
        """The terms a keyword counts for: "audio-driven talking head" → ("audio-driven", "talking head")."""
        if term not in self.memo:
            self.memo[term] = ()  # a guard: a term never counts through itself
            self.memo[term] = self.split_once(term)
        return self.memo[term]

    def find_known(self, term: str) -> tuple[str, str, str] | None:
        """The longest known term inside `term` (leftmost first), with what stands before and after it."""
        if CJK.search(term):
            for known in self.cjk:
                at = term.find(known)
                if known != term and at >= 0:
                    found = self.rules.chinese.get(known, known)
                    return term[:at], found, term[at + len(known):]
            return None
        words = fold_term(term).split(" ")  # hyphens part words too: "smpl-x" holds "smpl"
        curated = term in self.rules.known
        for size in range(len(words) - 1, 0, -1):
            for start in range(len(words) - size + 1):
                span = " ".join(words[start:start + size])
                found = self.folded.get(span)
                # "talking faces" inside a phrase counts in its normal form, a lone word only through a curated
                # alias ("gaussian", "nerf"), never by its plural alone ("heads" is no term); a curated term
                # splits only at the terms it spells out ("vision-language model" holds no "large language model").
                lone_alias = fold_term(shape_keyword(span, self.rules)) in self.rules.aliases
                if found is None and not curated and (size > 1 or lone_alias):
                    found = self.folded.get(fold_term(normalise_keyword(span)))
                if found and fold_term(found) != " ".join(words):
                    return " ".join(words[:start]), found, " ".join(words[start + size:])
        return None

    def split_once(self, term: str) -> tuple[str, ...]:
        """Split at the longest known term, then split what stands before and after it; unknown pieces drop."""
        found = self.find_known(term)
        if found is None:
            return (term,)
        before, known, after = found
        parts: list[str] = list(self.split(known) or (known,))
        for piece in (before, after):
            shaped = normalise_keyword(piece) if piece else ""
            if shaped and fold_term(shaped) != fold_term(term):
                # A modifier counts when it is a term of its own ("audio-driven"); "high-quality" or a YAKE
                # fragment ("audio enhanced" of "audio enhanced neural radiance fields") does not.
                pieces = self.split(shaped) or (shaped,)
                parts.extend(self.folded[fold_term(p)] for p in pieces if fold_term(p) in self.folded)
        return tuple(dict.fromkeys(parts))


def map_keywords(support: dict[str, int], topic: frozenset[str] = frozenset(), min_known: int = 2,
                 min_word: int = 3) -> dict[str, tuple[str, ...]]:
    """Each normalised keyword → the terms it counts for: one spelling per concept, phrases split, topic terms out.

    support: papers per normalised keyword. Known terms are the curated ones (data/keywords.yml,
    data/methods.yml), the topic's own terms, and every keyword that at least `min_known` papers use on
    its own (`min_word` for a single word: a lone "real" or "time" is more often a fragment than a term).
    A phrase that holds a known term counts for it, and for the known terms among its modifiers
    ("audio-driven talking head" → "talking head", "audio-driven"; "high-fidelity talking head" →
    "talking head"). So a term counted in `min_word` papers or more never contains another one. Then the
    topic's own terms, and their pieces, are dropped: every paper of the topic has them.
    """
    values = [v for v in support if v]
    spelling = pick_spellings({v: support[v] for v in values})
    merged: dict[str, int] = {}
    for value in values:
        name = spelling[fold_term(value)]
        merged[name] = merged.get(name, 0) + support[value]
    used = {t for t, n in merged.items() if n >= (min_known if " " in fold_term(t) else min_word)}
    splitter = Splitter(load_keyword_rules().known | topic | used)
    result = {}
    for value in values:
        atoms = splitter.split(spelling[fold_term(value)])
        result[value] = tuple(a for a in atoms if not is_topic_term(a, topic))
    return result


@functools.lru_cache(maxsize=16)
def splitter_for(known: frozenset[str]) -> Splitter:
    """One Splitter per set of known terms (it memoises its splits)."""
    return Splitter(known)


def find_concepts(keywords, topic: frozenset[str] = frozenset()) -> list[str]:
    """The vocabulary's names (keywords.yml, methods.yml) that keywords hold, each once, the topic's own terms left out.

    A post counts concepts, not phrases: "audio-driven talking head generation" gives "audio-driven" and
    "talking head"; "gained popularity" or "automatic generation" (phrases a keyword extractor cuts) give nothing.
    """
    rules = load_keyword_rules()
    splitter = splitter_for(rules.known | topic)
    found: list[str] = []
    for keyword in keywords:
        term = normalise_keyword(keyword)
        if not term:
            continue
        for atom in splitter.split(rules.aliases.get(fold_term(term), term)):
            if atom in rules.known and atom not in found and not is_topic_term(atom, topic):
                found.append(atom)
    return found


