"""Model summaries, any provider: cached, concurrent, paced by the shared limiter, retried under one policy."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import hashlib
import logging
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Sequence, TypeVar

from .config import Endpoint, Settings
from .llm import (AnswerError, Outcome, OutOfRoom, PaperFailed, Reply, Request, RetryLater, StopRun, add_feedback, add_usage,
                  apply_outcome, build_instructions, build_prompt, build_schema, cache_path, read_answer, read_cache, write_cache)
from .ratelimit import BudgetSpent, RateLimiter
from .records import Entry, Paper, Usage

log = logging.getLogger(__name__)
T = TypeVar("T")


def make_backend(endpoint: Endpoint, settings: Settings) -> Any:
    """The backend of the endpoint's provider (its SDK is imported only when used)."""
    if endpoint.provider == "openai":
        from .backend_openai import OpenAIBackend

        return OpenAIBackend(endpoint, settings)
    from .backend_gemini import GeminiBackend

    return GeminiBackend(endpoint, settings)


@dataclass
class Run:
    """One batch of papers: backend, limits and what every paper shares."""

    backend: Any
    language: str
    settings: Settings
    limiter: RateLimiter
    slots: asyncio.Semaphore
    fatal: str = ""  # set when every further call would fail the same way (bad key, unknown model, spent quota)
    calls: int = field(default=0)

    def stop(self, note: str) -> PaperFailed:
        """Stop asking for this run: every paper not yet summarised gets this note."""
        if not self.fatal:
            log.warning("%s: %s", self.backend.label, note)
            self.fatal = note
        return PaperFailed(self.fatal)


def backoff_seconds(settings: Settings, attempt: int) -> float:
    """Exponential backoff with jitter for the attempt-th retry (0-based)."""
    return min(settings.gemini_max_wait_s, settings.gemini_backoff_s * 2**attempt * random.uniform(0.8, 1.2))


async def call_model(run: Run, request: Request) -> Reply:
    """One call through the limiter, retried after 429 (waiting what the server asked), 5xx and timeouts."""
    settings, label, last = run.settings, run.backend.label, ""
    estimate = run.backend.estimate(request)
    for attempt in range(settings.gemini_retries + 1):
        if run.fatal:
            raise PaperFailed(run.fatal)
        try:
            record = await run.limiter.acquire(estimate)
        except BudgetSpent as exc:
            raise run.stop(f"{exc}; a rerun after midnight Pacific time fills the missing summaries") from None
        run.calls += 1
        try:
            reply = await run.backend.send(request)
        except StopRun as exc:
            if exc.spend_day:
                run.limiter.spend_day()  # every run sharing the cache folder stops asking too
            raise run.stop(str(exc)) from None
        except RetryLater as exc:
            last = exc.said
            if exc.wait is None:
                wait = backoff_seconds(settings, attempt)
            else:
                wait = exc.wait * settings.gemini_retry_scale
                if wait > settings.gemini_max_wait_s:
                    raise PaperFailed(f"{label} quota exhausted ({last}; retry after {exc.wait:.0f} s: {exc.detail})") from None
                run.limiter.pause(wait)  # the server's limit is shared by every request: all of them wait
            log.info("%s: %s; retrying in %.2f s", label, last, wait)
        else:
            if reply.limits is not None:
                run.limiter.learn(*reply.limits)
            run.limiter.settle(record, run.backend.spent(reply, estimate))
            return reply
        if attempt < settings.gemini_retries:
            await asyncio.sleep(wait)
    raise PaperFailed(f"{label} failed after {settings.gemini_retries + 1} tries ({last})")


async def summarise_paper(run: Run, paper: Paper, prompt: str) -> Outcome:
    """A summary of one paper: ask, validate; ask again with more room, or once with the problem, if the answer was bad."""
    usage, problem, label = Usage(), "", run.backend.label
    request = Request(build_instructions(run.language), prompt, build_schema(run.language))
    reasked = False
    while True:
        try:
            reply = await call_model(run, dataclasses.replace(request, prompt=add_feedback(prompt, problem) if problem else prompt))
            usage = add_usage(usage, reply.usage)
            return Outcome(read_answer(reply, run.language, request.schema), usage=usage)
        except OutOfRoom as exc:
            if request.grown:
                return Outcome(None, f"{label} ran out of output tokens twice ({str(exc)[:120]})", usage)
            request = dataclasses.replace(request, grown=True)
            log.info("%s answer for %s stopped at the output limit (%s); asking with more room", label, paper.versioned_id, exc)
        except AnswerError as exc:
            problem = str(exc)
            log.info("%s answer for %s rejected: %s", label, paper.versioned_id, problem)
            if reasked:
                return Outcome(None, f"{label} gave an unusable answer twice ({problem[:120]})", usage)
            reasked = True
        except PaperFailed as exc:  # keep the tokens an earlier, rejected answer cost
            return Outcome(None, str(exc), usage)


async def guard_paper(run: Run, paper: Paper, prompt: str) -> Outcome:
    """summarise_paper within the concurrency bound; any failure becomes a note, never an exception."""
    async with run.slots:
        try:
            return await summarise_paper(run, paper, prompt)
        except PaperFailed as exc:
            return Outcome(None, str(exc))
        except Exception as exc:  # one paper must never fail the post; the type alone is secret-free
            log.warning("%s summary of %s failed: %s", run.backend.label, paper.versioned_id, type(exc).__name__)
            return Outcome(None, f"unexpected error ({type(exc).__name__})")


def safe_name(text: str) -> str:
    """Text as a file name."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


def limits_file(settings: Settings, endpoint: Endpoint | str) -> Path:
    """The pacing state every run with this cache folder shares: Gemini's quotas are per project and model, an
    OpenAI-compatible server's per key and model (the key enters only as a short digest)."""
    if isinstance(endpoint, str) or endpoint.provider == "gemini":
        model = endpoint if isinstance(endpoint, str) else endpoint.model
        return Path(settings.cache_dir) / "gemini-limits" / f"{safe_name(model)}.json"
    key = hashlib.sha256(f"{endpoint.base_url}\n{endpoint.api_key}".encode()).hexdigest()[:12]
    return Path(settings.cache_dir) / "openai-limits" / f"{safe_name(endpoint.model)}-{key}.json"


def make_limiter(settings: Settings, endpoint: Endpoint) -> RateLimiter:
    """The shared limiter of an endpoint, with the client-side limits its provider's settings give."""
    if endpoint.provider == "gemini":
        return RateLimiter(settings.gemini_rpm, settings.gemini_tpm, settings.gemini_rpd, shared=limits_file(settings, endpoint))
    return RateLimiter(settings.openai_rpm, settings.openai_tpm, shared=limits_file(settings, endpoint))


async def summarise_papers(items: Sequence[tuple[Paper, str]], language: str, settings: Settings,
                           endpoint: Endpoint) -> list[Outcome]:
    """Outcomes for (paper, prompt) pairs, concurrently under the settings' concurrency and the shared limits."""
    backend, limiter = make_backend(endpoint, settings), make_limiter(settings, endpoint)
    run = Run(backend=backend, language=language, settings=settings, limiter=limiter,
              slots=asyncio.Semaphore(max(1, settings.gemini_concurrency)))
    try:
        first: list[Outcome] = []
        if backend.learns_limits and not limiter.knows_rate() and items:
            # Limits are learnt from the first answer's headers: that one goes alone, not a burst into a 429.
            first = [await guard_paper(run, *items[0])]
        rest = await asyncio.gather(*(guard_paper(run, p, prompt) for p, prompt in items[len(first):]))
        outcomes = first + list(rest)
    finally:
        await backend.close()
    failed = sum(1 for o in outcomes if o.summary is None)
    log.info("%s %s: %d requests for %d papers, %d without a summary", backend.label, endpoint.model, run.calls,
             len(items), failed)
    return outcomes


def run_coroutine(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, also inside Jupyter where a loop is already running."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())  # type: ignore[arg-type]
    # A kernel's loop is running in this thread: asyncio.run would refuse, so use a worker thread.
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="paperpress-llm") as pool:
        return pool.submit(lambda: asyncio.run(make())).result()  # type: ignore[arg-type]


def summarise_with_model(entries: Sequence[Entry], language: str, settings: Settings, endpoint: Endpoint) -> list[Entry]:
    """Entries with model summaries (from the cache when the same prompt was answered), grounded; failures carry a note."""
    prompts = [build_prompt(e.paper, e.extras, settings.gemini_input_tokens) for e in entries]
    paths = [cache_path(settings.cache_dir, e.paper, endpoint, language, prompt) for e, prompt in zip(entries, prompts)]
    outcomes: list[Outcome | None] = [read_cache(path) for path in paths]
    todo = [i for i, o in enumerate(outcomes) if o is None]
    log.info("%s: %d papers, %d cached, %d to ask", endpoint.spec, len(entries), len(entries) - len(todo), len(todo))
    if todo:
        items = [(entries[i].paper, prompts[i]) for i in todo]
        fresh = run_coroutine(lambda: summarise_papers(items, language, settings, endpoint))
        for i, outcome in zip(todo, fresh):
            outcomes[i] = outcome
            if outcome.summary is None:  # failures are not cached: a rerun fills the gap
                continue
            try:  # a cache that cannot be written costs a rerun, never the post
                write_cache(paths[i], entries[i].paper, endpoint, language, prompts[i], outcome)
            except OSError as exc:
                log.warning("cannot write the model cache under %s (%s)", settings.cache_dir,
                            exc.strerror or type(exc).__name__)
    return [apply_outcome(entry, outcome) for entry, outcome in zip(entries, outcomes) if outcome is not None]


def ask_once(endpoint: Endpoint, settings: Settings, prompt: str, language: str = "en") -> Outcome:
    """One request with a run's settings and checks, no retry, no cache (doctor --live); errors as StopRun/PaperFailed/RetryLater."""
    async def ask() -> Outcome:
        backend = make_backend(endpoint, settings)
        try:
            request = Request(build_instructions(language), prompt, build_schema(language))
            try:
                reply = await backend.send(request)
            except RetryLater as exc:
                if exc.wait != 0.0:  # only a request to ask again at once (JSON mode) is followed here
                    raise
                reply = await backend.send(request)
            return Outcome(read_answer(reply, language, request.schema), usage=reply.usage)
        finally:
            await backend.close()

    return run_coroutine(ask)
