"""Claims of a summary — its figures and names — checked against the text the model was given (pure, no network).

A figure is a number with or without its unit or sign (21%, 3.2 dB, 50x, 60+ FPS, 1.5M, 1,000, 三倍); a name
is a token a reader would look up (an acronym, a capitalised technical name, a token mixing letters and
digits), not the capitalised first word of an English sentence. A figure is supported when the source
holds the same value (at the precision the summary writes it: 约 21% for 21.4%) of a compatible kind (a
percentage for a percentage, a ratio for a ratio); a name when the source holds the same token, whatever
its case, hyphens or plural. URLs, arXiv ids, dates and list numbering are removed from both texts first,
so they never support anything and are never claims.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Sequence

from .records import CheckedSummary, DroppedClaim, Summary

# -- cleaning: what is neither a claim nor support -------------------------------------------------

MONTHS = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
NOT_CLAIMS = [
    re.compile(r"\\url\{[^}]*\}|https?://\S+|www\.\S+|\S+@\S+\.\w+"),  # links and e-mail addresses
    re.compile(r"(?i)\barxiv:\s*\S+|\b\d{4}\.\d{4,5}(?:v\d+)?\b|\b[a-z\-]+(?:\.[A-Z]{2})?/\d{7}\b"),  # arXiv ids
    re.compile(rf"\b\d{{4}}-\d{{1,2}}-\d{{1,2}}\b|\b\d{{1,2}}\s+{MONTHS},?\s+\d{{4}}\b|\b{MONTHS}\s+\d{{1,2}},?\s+\d{{4}}\b"
               rf"|\b{MONTHS}\s+\d{{4}}\b|\d{{4}}\s*年\s*\d{{1,2}}\s*月(?:\s*\d{{1,2}}\s*日)?"),  # dates
    # list numbering: (1) 1) (i) ①, and "1." opening a line or a sentence
    re.compile(r"\((?:\d{1,2}|[ivx]{1,4}|[a-h])\)|(?<![\w.)])\d{1,2}\)(?=\s)|(?:^|(?<=[\n:;。]))\s*\d{1,2}\.(?=\s)",
               re.M),
    # ordinals and item labels number things, as list numbering does: 第2句, 要点3, Step 2, Stage 1
    re.compile(r"第\s*\d{1,3}|(?:要点|步骤|阶段|(?i:step|stage|point|item|contribution))\s*\d{1,2}(?!\d)"),
]
CIRCLED = re.compile(r"[\u2460-\u2473\u2776-\u2793]")  # ①..⑳, ❶..➓
# A venue's year (CVPR 2024, ECCV'24) is a date, not a figure; the venue stays as a name.
VENUE_YEAR = re.compile(r"(\b[A-Z][A-Za-z]*[A-Z])\s*(?:'\d{2}|(?:19|20)\d{2})\b")


def clean_text(text: str) -> str:
    """Text without what is never a claim nor support: links, arXiv ids, dates, list numbering, venue years."""
    # ① is list numbering; NFKC would make it a 1
    text = unicodedata.normalize("NFKC", CIRCLED.sub(" ", text or ""))
    if any(mark in text for mark in ("://", "www.", "@", "\\url")):
        text = NOT_CLAIMS[0].sub(" ", text)
    if not any(c.isdigit() for c in text):  # the other patterns all need a digit: most sentences skip them
        return text
    for pattern in NOT_CLAIMS[1:]:
        text = pattern.sub(" ", text)
    text = VENUE_YEAR.sub(r"\1 ", text)
    # 512x512 is two sizes, not a ratio of 512.
    return re.sub(r"(?<=\d)\s*[x×]\s*(?=\d)", " by ", text)


# -- figures -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """A figure: its value, the precision written (one unit of its last digit), its kind and its text."""

    value: float
    step: float
    kind: str  # "percent", "ratio" or "" (a count or a measure)
    text: str


SCALES = {"k": 1e3, "K": 1e3, "M": 1e6, "B": 1e9, "thousand": 1e3, "million": 1e6, "billion": 1e9, "万": 1e4, "亿": 1e8}
NUMBER = re.compile(
    r"(?<![A-Za-z0-9_.])(?<![A-Za-z]-)"  # not glued to a word: GPT-4, H100, ResNet-50 are names
    r"(?P<int>(?>\d{1,3}(?:,\d{3})+(?!\d)|\d+))(?:\.(?P<dec>\d++))?"
    r"(?P<plus>\s?\+)?"
    r"(?:\s*(?P<scale>[kKMB](?![A-Za-z0-9])|thousand\b|million\b|billion\b|万|亿))?"
    r"(?:\s*(?P<unit>%|percent(?:age points?)?\b|个百分点|x(?![A-Za-z0-9])|×|times\b|-?fold\b|倍))?"
    r"(?![A-Za-z])"  # 3D, 2nd, 4K-like names glued to letters are not figures
)
WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
         "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
         "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
         "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000}
WORD_NUMBER = re.compile(r"(?i)\b(?P<word>" + "|".join(WORDS) + r")(?:(?P<fold>fold)\b|\b(?:[\s-]*(?P<unit>times|fold)\b)?)")
TWICE = re.compile(r"(?i)\b(twice|double[sd]?)\b")
CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
CN_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10000}
CN_NUMERAL = "零〇一二两三四五六七八九十百千万"
# Chinese numerals are figures with 倍 (三倍) or as 百分之二十; 一种/两阶段 are words, not claims.
CN_FIGURE = re.compile(rf"(?<![{CN_NUMERAL}几数多])(?P<ratio>[{CN_NUMERAL}]+)\s*倍|百分之(?P<pct>[{CN_NUMERAL}]+)")


def kind_of(unit: str | None) -> str:
    """The kind of a figure from its unit: percent, ratio or ''."""
    if not unit:
        return ""
    return "percent" if unit.startswith(("%", "percent", "个百分点")) else "ratio"


def parse_chinese(numeral: str) -> int:
    """The value of a Chinese numeral (三 3, 十五 15, 两百 200, 三十万 300000)."""
    total, section, digit = 0, 0, 0
    for char in numeral:
        if char in CN_DIGITS:
            digit = CN_DIGITS[char]
        elif char == "万":
            total += (section + digit or 1) * 10000
            section, digit = 0, 0
        else:
            section += (digit or 1) * CN_UNITS[char]
            digit = 0
    return total + section + digit


def find_figures(text: str, words: bool = False) -> list[Figure]:
    """Figures of a cleaned text; with words, also number words (three times, one-tenth's 'one') as sources have them."""
    found = []
    for m in NUMBER.finditer(text):
        whole = m["int"].replace(",", "")
        decimals = len(m["dec"] or "")
        scale = SCALES.get((m["scale"] or "").strip(), 1.0)
        value = float(f"{whole}.{m['dec']}" if decimals else whole) * scale
        found.append(Figure(value, 10.0 ** -decimals * scale, kind_of(m["unit"]), m[0].strip()))
    for m in CN_FIGURE.finditer(text):
        numeral, kind = (m["ratio"], "ratio") if m["ratio"] else (m["pct"], "percent")
        found.append(Figure(float(parse_chinese(numeral)), 1.0, kind, m[0]))
    for m in TWICE.finditer(text):
        if words or m[1].lower() == "twice":  # a summary's 'double-blind' is no claim; a source's 'doubles' is support
            found.append(Figure(2.0, 1.0, "ratio", m[0]))
    for m in WORD_NUMBER.finditer(text):
        ratio = bool(m["fold"] or m["unit"])
        if words or ratio:  # a summary's 'two-stage' is no claim; its 'three times faster' is
            found.append(Figure(float(WORDS[m["word"].lower()]), 1.0, "ratio" if ratio else "", m[0]))
    return found


def supports(source: Figure, claim: Figure) -> bool:
    """Whether a source figure holds a claimed one: a compatible kind and the value at the claim's precision."""
    if claim.kind and source.kind != claim.kind:
        return False
    return abs(source.value - claim.value) < claim.step * (1 - 1e-9) or abs(source.value - claim.value) <= 1e-9 * max(
        1.0, abs(claim.value))


# -- names ---------------------------------------------------------------------------------------

TOKEN = re.compile(r"[A-Za-z0-9]+(?:(?:[-_+']|\.(?=\d))[A-Za-z0-9]+)*\+*")
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
# Acronyms whose words the source may spell out instead (SOTA for state-of-the-art).
EXPANSIONS = {
    "sota": ("state of the art",), "llm": ("large language model",), "vr": ("virtual reality",),
    "ar": ("augmented reality",), "xr": ("extended reality",), "mr": ("mixed reality",),
    "ai": ("artificial intelligence",), "nerf": ("neural radiance field",), "3dgs": ("3d gaussian splatting",),
    "2d": ("two dimensional",), "3d": ("three dimensional",), "fps": ("frames per second", "fps"),
}


NOT_KEY = re.compile(r"[^0-9a-z+]")
JOINERS = re.compile(r"[-_+']")
HAS_DIGIT = re.compile(r"\d")
HAS_LETTER = re.compile(r"[A-Za-z]")


@functools.lru_cache(maxsize=65536)
def name_key(token: str) -> str:
    """A name compared loosely: case, hyphens, dots and a plural s ignored."""
    key = NOT_KEY.sub("", token.casefold())
    return key[:-1] if len(key) > 3 and key.endswith("s") and not key.endswith("ss") else key


# A number with its unit or scale glued on (50x, 46K, 30ms, 2nd) is a figure or nothing, never a name.
NUMERIC_TOKEN = re.compile(r"(?i)^\d+(?:\.\d+)?(?:k|m|b|x|fps|ms|s|h|db|gb|mb|tb|cm|mm|min|hz|khz|w|px|p|st|nd|rd|th)?$")

UNITS = {"db", "hz", "khz", "mhz", "ghz", "kb", "mb", "gb", "tb"}  # units read as figures' parts, not names


def is_name(token: str, first: bool) -> bool:
    """Whether a token is a name a reader would look up (first: it opens an English sentence)."""
    if len(token) < 2 or not HAS_LETTER.search(token) or NUMERIC_TOKEN.match(token) or token.casefold() in UNITS:
        return False
    if HAS_DIGIT.search(token) or any(c.isupper() for c in token[1:]):  # GPT-4, 3D, NeRF, SOTA, U-Net
        return True
    return token[0].isupper() and not first  # a capitalised word inside a sentence: Gaussian, Transformer


def find_names(text: str) -> list[str]:
    """Names in a cleaned sentence; the first word of an English sentence is not one unless it looks like a name."""
    english = not CJK.search(text)
    names = []
    for m in TOKEN.finditer(text):
        if m[0].islower() and not HAS_DIGIT.search(m[0]):  # a plain lower-case word: never a name
            continue
        at = m.start() - 1
        while at >= 0 and text[at].isspace():
            at -= 1
        first = english and (at < 0 or text[at] in ".!?:;\"“(")
        if is_name(m[0], first):
            names.append(m[0])
    return names


def name_parts(token: str) -> list[str]:
    """The parts of a hyphenated name that are names themselves (NeRF of NeRF-based)."""
    return [p for p in JOINERS.split(token) if p and is_name(p, first=True)]


# -- the source ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """What a summary may rely on: the figures and name keys of the texts the model was given."""

    figures: tuple[Figure, ...]
    keys: frozenset[str]
    words: str  # the cleaned text, lower case, runs of non-alphanumerics as one space (for expansions)

    def has_figure(self, claim: Figure) -> bool:
        """Whether the source holds this figure."""
        return any(supports(f, claim) for f in self.figures)

    def has_name(self, name: str) -> bool:
        """Whether the source holds this name (whole, by its spelled-out words, or each of its name parts)."""
        key = name_key(name)
        if key in self.keys or any(f" {e} " in self.words for e in EXPANSIONS.get(key, ())):
            return True
        parts = name_parts(name)
        return bool(parts) and parts != [name] and all(self.has_name(p) for p in parts)


def build_source(texts: Iterable[str]) -> Source:
    """The source of a summary from the texts the model was given (title, comment, abstract, PDF text)."""
    cleaned = "\n".join(clean_text(t) for t in texts if t)
    tokens = [m[0] for m in TOKEN.finditer(cleaned)]
    keys: set[str] = set()
    for i, token in enumerate(tokens):
        keys.add(name_key(token))
        keys.update(name_key(p) for p in JOINERS.split(token) if p)
        for n in (2, 3):  # Stable Diffusion ~ StableDiffusion, StyleGAN 2 ~ StyleGAN2
            if i + n <= len(tokens):
                keys.add(name_key("".join(tokens[i : i + n])))
    words = " " + " ".join(re.sub(r"[^0-9a-z]+", " ", cleaned.casefold()).split()) + " "
    words = re.sub(r"(\w{4,})s ", r"\1 ", words)  # plurals: neural radiance fields
    return Source(tuple(find_figures(cleaned, words=True)), frozenset(keys), words)


def source_of(title: str, abstract: str, comment: str | None = None, *pdf_texts: str) -> Source:
    """The source of a paper's summary: its title, comment, abstract and any PDF text sent."""
    return build_source([title, comment or "", abstract, *pdf_texts])


# -- checking ------------------------------------------------------------------------------------


def find_claims(sentence: str) -> tuple[list[Figure], list[str]]:
    """The figures and names a sentence claims."""
    cleaned = clean_text(sentence)
    return find_figures(cleaned), find_names(cleaned)


def find_unsupported(sentence: str, source: Source) -> list[str]:
    """What a sentence claims that the source does not hold, as reasons ('figure 35%', 'name HumanNeRF')."""
    figures, names = find_claims(sentence)
    reasons = [f"figure {f.text}" for f in figures if not source.has_figure(f)]
    reasons += [f"name {n}" for n in dict.fromkeys(names) if not source.has_name(n)]
    return reasons


SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"“(\[\u3400-\u9fff])|(?<=[。！？；])\s*")


def split_sentences(text: str) -> list[str]:
    """Sentences of a text in English or Chinese."""
    return [s.strip() for s in SENTENCE_END.split(" ".join(text.split())) if s.strip()]


def join_sentences(sentences: Sequence[str]) -> str:
    """Sentences joined back (no space after a Chinese full stop)."""
    out = ""
    for s in sentences:
        out += s if not out or out[-1] in "。！？；" else " " + s
    return out


PROSE = ("tldr", "background", "prior_work", "method", "results")
CONCLUSION = ("significance", "innovation", "performance", "workload")


def check_prose(field: str, text: str, source: Source, dropped: list[DroppedClaim]) -> str:
    """A prose field without its unsupported sentences (each recorded in dropped)."""
    sentences = split_sentences(text)
    kept = check_items(field, sentences, source, dropped)
    return join_sentences(kept) if len(kept) < len(sentences) else text


def check_items(field: str, items: Sequence[str], source: Source, dropped: list[DroppedClaim]) -> list[str]:
    """The items of a list field (takeaways, keywords) holding no unsupported claim (the others recorded)."""
    kept = []
    for item in items:
        reasons = find_unsupported(item, source)
        if reasons:
            dropped.append(DroppedClaim(field=field, text=item, reason="; ".join(reasons)))
        else:
            kept.append(item)
    return kept


def check_summary(summary: Summary, source: Source) -> tuple[CheckedSummary, tuple[DroppedClaim, ...]]:
    """The summary without the sentences, takeaways and keywords whose figures or names the source lacks."""
    dropped: list[DroppedClaim] = []
    update: dict = {name: check_prose(name, getattr(summary, name), source, dropped) for name in PROSE}
    update["key_takeaways"] = check_items("key_takeaways", summary.key_takeaways, source, dropped)
    if summary.title_translation:
        kept = check_items("title_translation", [summary.title_translation], source, dropped)
        update["title_translation"] = kept[0] if kept else ""
    update["keywords"] = check_items("keywords", summary.keywords, source, dropped)
    conclusion = {name: check_prose(f"conclusion.{name}", getattr(summary.conclusion, name), source, dropped)
                  for name in CONCLUSION}
    data = summary.model_dump() | update | {"conclusion": conclusion}
    return CheckedSummary.model_validate(data), tuple(dropped)


@functools.lru_cache(maxsize=64)
def sentence_sources(abstract: str) -> tuple[tuple[str, Source], ...]:
    """Each sentence of an abstract with its figures and names (once per abstract: a post asks per takeaway)."""
    return tuple((sentence, build_source([sentence])) for sentence in split_sentences(abstract))


def find_source_sentence(text: str, abstract: str) -> str:
    """The abstract sentence sharing the most figures and names with a text ('' when none shares any)."""
    figures, names = find_claims(text)
    if not figures and not names:
        return ""
    best, best_count = "", 0
    for sentence, source in sentence_sources(abstract):
        count = sum(source.has_figure(f) for f in figures) + sum(source.has_name(n) for n in dict.fromkeys(names))
        if count > best_count:
            best, best_count = sentence, count
    return best
