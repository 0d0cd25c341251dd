"""Summarisers: the deterministic offline extractive one here; a model (Gemini or any OpenAI-compatible server,
llm_run.py) behind the same seam."""

from __future__ import annotations

import re
from typing import Iterable, Sequence

from .claims import check_summary, source_of
from .config import Endpoint, PaperpressError, Settings, Topic, resolve_endpoint
from .records import Conclusion, Entry, Extras, Paper, Summary, Usage
from .text import find_code_urls, strip_latex
from .vocab import find_concepts, normalise_keyword, tag_methods

# Cue phrases that place a sentence in the structured reading; first match order matters.
CUES = {
    "method": r"\bwe (propose|present|introduce|develop|design|build)\b|\bour (method|approach|framework|model|system)\b"
    r"|\bin this (paper|work|study)\b|\bthis (paper|work) (proposes|presents|introduces)\b|\bspecifically\b",
    "prior_work": r"\b(existing|previous|prior|conventional|traditional|current|recent)( [\w-]+){0,2} (methods?|approaches|works?|"
    r"solutions|techniques|models|systems)\b"
    r"|\bhowever\b|\b(suffer|struggle|fail|limited|lack)",
    "results": r"\b(experiments?|results?|demonstrat\w*|outperform\w*|state-of-the-art|sota|achiev\w*|evaluat\w*|show that)\b",
    "significance": r"\b(we believe|pave[sd]? the way|opens? (up )?(new|the way)|implications?|(broad|wide|many|various) "
    r"applications?|applications? (in|to|for)|potential (to|for)|could (benefit|enable)|future (research|work))\b",
    "innovation": r"\b(novel|first|for the first time|unlike (existing|previous|prior)|new (method|approach|framework|paradigm))\b",
}
AVAILABILITY = re.compile(r"https?://|\b(code|project page|data(set)?|models?)\b.{0,40}\b(available|released)\b", re.I)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"(\[])")



def split_sentences(text: str) -> list[str]:
    """Sentences of an abstract (a simple splitter is enough for arXiv prose)."""
    return [s.strip() for s in SENTENCE_END.split(" ".join(text.split())) if s.strip()]


def extract_keywords(text: str, top: int = 8) -> list[str]:
    """Key phrases by YAKE (lower score = more relevant), lower-cased, each once, none the stop lists reject."""
    import yake  # imported here: it is slow to import and only the offline path needs it

    extractor = yake.KeywordExtractor(lan="en", n=3, dedup_lim=0.7, top=top * 3)
    seen: list[str] = []
    for phrase, _score in sorted(extractor.extract_keywords(text), key=lambda kv: (kv[1], kv[0])):
        phrase = phrase.lower().strip()
        # YAKE keeps overlapping n-grams ("avatar generation" inside "avatar generation framework").
        if normalise_keyword(phrase) and not any(phrase in kept or kept in phrase for kept in seen):
            seen.append(phrase)
    return seen[:top]


def score_sentences(sentences: Sequence[str], keywords: Sequence[str], title: str) -> list[float]:
    """Relevance of each sentence: keyword hits weighted by rank, plus title-word overlap."""
    title_words = {w for w in re.findall(r"[a-z0-9]+", title.lower()) if len(w) > 3}
    scores = []
    for sentence in sentences:
        low = sentence.lower()
        hits = sum(1.0 / (rank + 1) for rank, kw in enumerate(keywords) if kw in low)
        overlap = len(title_words & set(re.findall(r"[a-z0-9]+", low)))
        scores.append(hits + 0.3 * overlap)
    return scores


def summarise_offline(paper: Paper, extras: Extras, language: str) -> Summary:
    """A deterministic extractive reading of the abstract: each sentence used once, a field only where one fits.

    The one line is the sentence that says what the paper does (else the most relevant one); prior work,
    method and results take the sentences whose cues fit them, the background the opening sentences that
    fit nothing else, significance and innovation a sentence that says so; the key takeaways are the most
    relevant sentences left. A field no sentence fits stays empty (the post leaves it out); LaTeX markup
    is stripped. `language` is the post's: the sentences stay the abstract's own.
    """
    sentences = [strip_latex(s) for s in split_sentences(paper.abstract)] or [strip_latex(paper.title)]
    phrases = extract_keywords(f"{paper.title}. {paper.abstract}")
    scores = score_sentences(sentences, phrases, paper.title)
    fits = {cue: [i for i, s in enumerate(sentences) if re.search(pattern, s, re.I)] for cue, pattern in CUES.items()}
    used: set[int] = set()

    def take(indices, limit: int) -> str:
        chosen = [i for i in indices if i not in used][:limit]
        used.update(chosen)
        return " ".join(sentences[i] for i in chosen)

    ranked = sorted(range(len(sentences)), key=lambda i: (-scores[i], i))
    # A sentence that fits several fields goes to the first that claims it: results before method
    # ("experiments show that our method …"), prior work before results ("existing methods achieve …").
    claims = [i for i in fits["method"] if i not in fits["results"]] or fits["method"] or ranked
    tldr = take(claims[:1], 1)
    prior_work = take(fits["prior_work"], 2)
    results = take(fits["results"], 2)
    method = take(fits["method"], 2)
    start = claims[0] if claims is not ranked else len(sentences)
    background = take([i for i in range(start) if i not in fits["method"]][:2], 2)
    significance = take(fits["significance"], 1)
    innovation = take(fits["innovation"], 1)
    # The takeaways: the most relevant sentences left, except "code is available at …" (the code link says it).
    left = [i for i in ranked if i not in used and not AVAILABILITY.search(sentences[i])][:4]
    code_urls = list(extras.code_urls) or find_code_urls(paper.abstract, paper.comment)
    return Summary(
        tldr=tldr,
        key_takeaways=[sentences[i] for i in sorted(left)],
        keywords=find_concepts(phrases),
        affiliations=[a.name for a in extras.affiliations],
        code_url=code_urls[0] if code_urls else "",
        background=background,
        prior_work=prior_work,
        method=method,
        results=results,
        methods=tag_methods(f"{paper.title}. {paper.abstract}"),
        conclusion=Conclusion(significance=significance, innovation=innovation),
    )


def summarise_entries(
    entries: Iterable[Entry], topic: Topic, settings: Settings, summariser: str, *, model: str | None = None
) -> list[Entry]:
    """Summaries for all entries (same order) with the named summariser: 'offline', or 'model' (the configured
    model, any provider; 'gemini' is its older name), claims checked."""
    check_summariser(summariser, settings, topic, model)
    entries = list(entries)
    if summariser == "offline":
        done = [e.model_copy(update={"summary": summarise_offline(e.paper, e.extras, topic.language)}) for e in entries]
    else:
        # Imported here: the offline path must not pay for (or need) a model SDK.
        from .llm_run import summarise_with_model

        done = summarise_with_model(entries, topic.language, settings, pick_endpoint(topic, settings, model))
    return [check_claims(entry) for entry in done]


def check_claims(entry: Entry) -> Entry:
    """The entry with only the summary sentences whose figures and names its paper's text holds (claims.py).

    The source is what the model was given: title, comment, abstract and the PDF's first page and
    introduction (the prompt may carry less of these when its budget is tight; any of it is the paper's).
    An entry without a summary is left unchecked (dropped_claims None).
    """
    if entry.summary is None:
        return entry
    paper, extras = entry.paper, entry.extras
    source = source_of(paper.title, paper.abstract, paper.comment, extras.first_page, extras.intro)
    summary, dropped = check_summary(entry.summary, source)
    return entry.model_copy(update={"summary": summary, "dropped_claims": dropped})


def check_summariser(summariser: str, settings: Settings, topic: Topic | None = None, model: str | None = None) -> None:
    """Raise the one-line user error a summariser would (unknown name, bad model setting, no key); call it before any work."""
    if summariser not in ("offline", "model", "gemini"):
        raise PaperpressError(f"unknown summariser '{summariser}' (use 'offline' or 'model')")
    if summariser != "offline":
        resolve_endpoint(settings, model or (topic.model if topic else None) or settings.gemini_model, topic)


def pick_model(topic: Topic, settings: Settings, override: str | None = None) -> str:
    """The model setting: the CLI's override, else the topic's, else PAPERPRESS_MODEL's (provider:model or a bare Gemini name)."""
    return override or topic.model or settings.gemini_model


def pick_endpoint(topic: Topic, settings: Settings, override: str | None = None) -> Endpoint:
    """The endpoint, model and key that summarise this topic."""
    return resolve_endpoint(settings, pick_model(topic, settings, override), topic)


def sum_usage(entries: Iterable[Entry]) -> Usage:
    """Token use of a post: the sum over its entries."""
    entries = list(entries)
    return Usage(
        prompt_tokens=sum(e.usage.prompt_tokens for e in entries),
        output_tokens=sum(e.usage.output_tokens for e in entries),
        total_tokens=sum(e.usage.total_tokens for e in entries),
        thought_tokens=sum(e.usage.thought_tokens for e in entries),
    )
