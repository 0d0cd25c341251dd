"""Summarisers: the deterministic offline extractive one here; a model (Gemini or any OpenAI-compatible server,
llm_run.py) behind the same seam."""

from __future__ import annotations

import re
from typing import Iterable, Sequence

from .claims import check_summary, source_of
from .config import Endpoint, PaperpressError, Settings, Topic, resolve_endpoint
from .records import Conclusion, Entry, Extras, Paper, Summary, Usage
from .text import find_code_urls
from .vocab import normalise_keyword, tag_methods

# Cue phrases that place a sentence in the structured reading; first match order matters.
CUES = {
    "method": r"\bwe (propose|present|introduce|develop|design|build)\b|\bour (method|approach|framework|model|system)\b"
    r"|\bin this (paper|work|study)\b|\bthis (paper|work) (proposes|presents|introduces)\b|\bspecifically\b",
    "prior_work": r"\b(existing|previous|prior|conventional|traditional|current) (methods?|approaches|works?|solutions|techniques)\b"
    r"|\bhowever\b|\b(suffer|struggle|fail|limited|lack)",
    "results": r"\b(experiments?|results?|demonstrat\w*|outperform\w*|state-of-the-art|sota|achiev\w*|evaluat\w*|show that)\b",
}
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"(\[])")

WORKLOAD_NOTE = {
    "en": "Not assessed: the offline extractive summariser reads only the abstract.",
    "zh": "未评估：离线抽取式摘要器只读取摘要。",
}


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


def pick(sentences: Sequence[str], cue: str, limit: int = 2) -> str:
    """The first sentences that match a cue, joined."""
    found = [s for s in sentences if re.search(CUES[cue], s, re.I)]
    return " ".join(found[:limit])


def summarise_offline(paper: Paper, extras: Extras, language: str) -> Summary:
    """A deterministic extractive summary of the abstract that fills every field of the schema."""
    sentences = split_sentences(paper.abstract) or [paper.title]
    keywords = extract_keywords(f"{paper.title}. {paper.abstract}")
    scores = score_sentences(sentences, keywords, paper.title)
    ranked = sorted(range(len(sentences)), key=lambda i: (-scores[i], i))
    method_idx = [i for i, s in enumerate(sentences) if re.search(CUES["method"], s, re.I)]
    tldr = sentences[method_idx[0]] if method_idx else sentences[ranked[0]]
    takeaways = [sentences[i] for i in sorted(ranked[:5])]
    # Short abstracts: fall back on the title and the comment so the schema's minimum holds.
    for extra in (paper.title, paper.comment or "", ", ".join(keywords)):
        if len(takeaways) < 3 and extra and extra not in takeaways:
            takeaways.append(extra)
    background = " ".join(s for s in sentences[:2] if not re.search(CUES["method"], s, re.I)) or sentences[0]
    results = pick(sentences, "results")
    code_urls = list(extras.code_urls) or find_code_urls(paper.abstract, paper.comment)
    return Summary(
        tldr=tldr,
        key_takeaways=takeaways,
        keywords=keywords,
        affiliations=[a.name for a in extras.affiliations],
        code_url=code_urls[0] if code_urls else "",
        background=background,
        prior_work=pick(sentences, "prior_work"),
        method=pick(sentences, "method", limit=3),
        results=results,
        methods=tag_methods(f"{paper.title}. {paper.abstract}"),
        conclusion=Conclusion(
            significance=tldr,
            innovation=pick(sentences, "method", limit=1),
            performance=results,
            workload=WORKLOAD_NOTE[language],
        ),
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
