"""Benchmark the model summariser, each backend against its loopback fake (no network, no key).

    .venv/bin/python benchmarks/bench_gemini.py                    # both backends, the full run (about 3 min)
    .venv/bin/python benchmarks/bench_gemini.py --quick            # every time scale / 10
    .venv/bin/python benchmarks/bench_gemini.py --backend openai   # one backend (gemini or openai)

Per backend (Gemini through google-genai; an OpenAI-compatible server through openai):
1. Throughput: 30 papers, 1 s per answer. Baseline (measured in the same run): one call at a time
   with the SDK's sync client, as the seed blog did. Target: paperpress >= 6x faster.
2. Pacing: the fake answers 429 above 60 requests in any 60 s. Gemini: 60 requests/minute configured;
   OpenAI: nothing configured, the limit learnt from the fake's x-ratelimit-limit-requests header.
   Target: zero 429s and an achieved rate >= 90 % of the limit, over 40 papers (about 40 s).
   40 requests cannot overfill a 60 s window, so a second run squeezes the window to 6 s and sends
   80 (over 8 windows); a run without the client-side limit shows that the fake enforces its window.
Exit status 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.fakes
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

from paperpress import backend_gemini, llm  # noqa: E402
from paperpress.config import Settings, Topic  # noqa: E402
from paperpress.records import Entry, Extras, Paper  # noqa: E402
from paperpress.summarise import summarise_entries  # noqa: E402
from tests.fakes.gemini import FAKE_KEY, FakeGemini, FakePaper  # noqa: E402
from tests.fakes.openai_compat import FAKE_OPENAI_KEY, FakeOpenAI  # noqa: E402

BACKEND = "gemini"  # the backend being measured: set by main() for each in turn

TOPIC = Topic(slug="bench", name="Benchmark", language="zh", query="avatar")


@dataclass
class Row:
    """One line of the results table."""

    name: str
    seconds: float
    requests: int
    too_many: int
    note: str = ""
    share: float = 0.0  # achieved rate / limit, for paced runs


def make_entries(n: int, offset: int = 0) -> list[Entry]:
    """n distinct made-up papers with an abstract and a first page."""
    entries = []
    for i in range(offset, offset + n):
        paper = Paper(arxiv_id=f"2404.{i:05d}", version="v1", title=f"Neural Avatar Method {i}",
                      authors=("A. Author", "B. Author"),
                      abstract=f"We propose method {i} for avatars. It uses a diffusion model. Experiments show gains.")
        entries.append(Entry(paper=paper, extras=Extras(first_page=f"Neural Avatar Method {i}\nA. Author\nExample University")))
    return entries


def facts(entries: list[Entry]) -> list[FakePaper]:
    """What the fake model knows of the made-up papers (it answers from these, as a model would)."""
    return [FakePaper(e.paper.arxiv_id, e.paper.title, e.paper.abstract, affiliations=("Example University",))
            for e in entries]


def open_fake(**args) -> FakeGemini | FakeOpenAI:
    """The measured backend's fake server."""
    return FakeGemini(**args) if BACKEND == "gemini" else FakeOpenAI(mode="openai", **args)


def base_settings(url: str, cache_dir: Path) -> Settings:
    """Settings for the fake: dummy key, quick backoff; no client-side rate limit for OpenAI (learnt from headers)."""
    if BACKEND == "gemini":
        return Settings(gemini_base_url=url, api_key=FAKE_KEY, cache_dir=cache_dir, gemini_backoff_s=0.05)
    return Settings(openai_base_url=url, openai_api_key=FAKE_OPENAI_KEY, cache_dir=cache_dir, gemini_backoff_s=0.05)


MODEL = {"gemini": "gemini-bench", "openai": "openai:bench-model"}


def make_request(entry: Entry) -> llm.Request:
    """The request a run sends for a paper."""
    return llm.Request(llm.build_instructions(TOPIC.language), llm.build_prompt(entry.paper, entry.extras, 6000),
                       llm.build_schema(TOPIC.language))


def openai_body(request: llm.Request) -> dict:
    """The Chat Completions arguments a run sends (strict json_schema)."""
    return {"model": "bench-model", "messages": [{"role": "system", "content": request.system},
                                                 {"role": "user", "content": request.prompt}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "summary", "strict": True,
                                                                       "schema": llm.strict_schema(request.schema)}}}


def run_one_at_a_time(url: str, entries: list[Entry]) -> float:
    """The baseline: one synchronous SDK call per paper, in turn (same prompt, schema and validation)."""
    start = time.monotonic()
    if BACKEND == "gemini":
        client = backend_gemini.make_client(base_settings(url, Path(".")))
        for entry in entries:
            request = make_request(entry)
            response = client.models.generate_content(model="gemini-bench", contents=request.prompt,
                                                      config=backend_gemini.make_config(request))
            llm.read_answer(backend_gemini.read_reply(response), TOPIC.language, request.schema)
        client.close()
        return time.monotonic() - start
    import openai

    with openai.OpenAI(base_url=url, api_key=FAKE_OPENAI_KEY, max_retries=0) as client:
        for entry in entries:
            request = make_request(entry)
            completion = client.chat.completions.create(**openai_body(request))
            llm.read_answer_text(completion.choices[0].message.content or "", TOPIC.language, request.schema)
    return time.monotonic() - start


def run_unpaced(url: str, entries: list[Entry], concurrency: int) -> float:
    """A naive concurrent client: `concurrency` calls in flight, no client-side rate limit, no retries."""
    import asyncio

    async def ask_all() -> None:
        if BACKEND == "gemini":
            client = backend_gemini.make_client(base_settings(url, Path(".")))
        else:
            import openai

            client = openai.AsyncOpenAI(base_url=url, api_key=FAKE_OPENAI_KEY, max_retries=0)
        slots = asyncio.Semaphore(concurrency)

        async def ask(entry: Entry) -> None:
            async with slots:
                request = make_request(entry)
                try:
                    if BACKEND == "gemini":
                        await client.aio.models.generate_content(model="gemini-bench", contents=request.prompt,
                                                                 config=backend_gemini.make_config(request))
                    else:
                        await client.chat.completions.create(**openai_body(request))
                except Exception:  # a 429: counted by the fake
                    pass

        await asyncio.gather(*(ask(e) for e in entries))
        await (client.aio.aclose() if BACKEND == "gemini" else client.close())

    start = time.monotonic()
    asyncio.run(ask_all())
    return time.monotonic() - start


def time_summarise(settings: Settings, entries: list[Entry]) -> tuple[float, list[Entry]]:
    """Wall time and result of summarise_entries with the Gemini summariser."""
    start = time.monotonic()
    out = summarise_entries(entries, TOPIC, settings, "model", model=MODEL[BACKEND])
    return time.monotonic() - start, out


def bench_throughput(scale: float, tmp: Path) -> tuple[list[Row], float]:
    """Part 1: 30 papers at 1 s latency, one at a time vs paperpress; the speed-up."""
    entries, rows = make_entries(30), []
    with open_fake(latency=1.0 * scale, papers=facts(entries)) as fake:
        base = run_one_at_a_time(fake.url, entries)
        rows.append(Row("one call at a time (baseline)", base, fake.count(), fake.count(429)))
        fake.reset()
        rpm = round(1000 / scale)  # a paid tier's limit; not the bottleneck here
        settings = replace(base_settings(fake.url, tmp / "cache1"), gemini_rpm=rpm, openai_rpm=rpm)  # default concurrency
        ours, out = time_summarise(settings, entries)
        assert all(e.summary for e in out), [e.summary_note for e in out if not e.summary]
        name = f"paperpress: concurrency {settings.gemini_concurrency}, {rpm} rpm"
        rows.append(Row(name, ours, fake.count(), fake.count(429), f"max {fake.max_in_flight} in flight"))
        fake.reset()
        again, _ = time_summarise(settings, entries)
        rows.append(Row("paperpress rerun (disk cache)", again, fake.count(), fake.count(429)))
    return rows, base / ours


def time_paced(url: str, window: float, limit: int, n: int, offset: int, cache_dir: Path, fake: FakeGemini | FakeOpenAI) -> Row:
    """paperpress with a `limit`-per-`window` rpm (Gemini: the setting; OpenAI: the fake's headers) against that window."""
    rpm = round(limit * 60.0 / window)
    settings = replace(base_settings(url, cache_dir), gemini_rpm=rpm)  # OpenAI: openai_rpm stays 0, learnt
    seconds, out = time_summarise(settings, make_entries(n, offset=offset))
    assert all(e.summary for e in out), [e.summary_note for e in out if not e.summary]
    starts = sorted(r.started for r in fake.requests)
    achieved = (len(starts) - 1) / (starts[-1] - starts[0]) * window  # requests per window
    burst = max(sum(1 for t in starts if s <= t < s + window / 6) for s in starts)
    how = "limit" if BACKEND == "gemini" else "limit from headers"
    return Row(f"paperpress: {rpm} rpm {how}, {n} papers", seconds, fake.count(), fake.count(429),
               f"{achieved / limit:.0%} of the limit; max {burst} in any {window / 6:g} s", share=achieved / limit)


def bench_pacing(scale: float, tmp: Path) -> tuple[list[Row], float]:
    """Part 2: a 60 rpm limit against a fake enforcing 60 per minute; the achieved share of the limit."""
    window, limit, rows = 60.0 * scale, 60, []
    with open_fake(latency=0.2 * scale, rpm=limit, window=window) as fake:
        seconds = run_unpaced(fake.url, make_entries(70, offset=100), concurrency=8)
        rows.append(Row("no client-side limit, 70 papers", seconds, fake.count(), fake.count(429),
                        "the fake's window at work"))
    with open_fake(latency=1.0 * scale, rpm=limit, window=window) as fake:
        rows.append(time_paced(fake.url, window, limit, 40, 200, tmp / "cache3", fake))
    # 40 requests cannot overfill a 60-per-minute window: squeeze the minute into 6 s and send 80.
    with open_fake(latency=0.1, rpm=limit, window=6.0) as fake:
        rows.append(time_paced(fake.url, 6.0, limit, 80, 300, tmp / "cache4", fake))
    rows[-1].name += " (6 s window)"
    return rows, min(r.share for r in rows[1:]) if all(r.too_many == 0 for r in rows[1:]) else 0.0


def print_table(title: str, rows: list[Row], baseline: float | None) -> None:
    """The rows, with their speed as a ratio to the baseline's wall time when there is one."""
    print(f"\n{title}")
    print(f"| {'run':<52} | {'wall s':>7} | {'requests':>8} | {'429s':>4} | {'speed vs baseline':>17} | note")
    print(f"|{'-' * 54}|{'-' * 9}|{'-' * 10}|{'-' * 6}|{'-' * 19}|------")
    for row in rows:
        ratio = f"{baseline / row.seconds:.1f}x" if baseline and row.seconds > 0 else "-"
        print(f"| {row.name:<52} | {row.seconds:7.2f} | {row.requests:8d} | {row.too_many:4d} | {ratio:>17} | {row.note}")


def bench_backend(scale: float) -> bool:
    """Both parts for the current BACKEND: print the tables and whether its targets are met."""
    with tempfile.TemporaryDirectory() as tmp:
        rows1, speedup = bench_throughput(scale, Path(tmp))
        print_table(f"[{BACKEND}] Throughput: 30 papers, {scale:g} s per answer", rows1, rows1[0].seconds)
        rows2, share = bench_pacing(scale, Path(tmp))
        print_table(f"[{BACKEND}] Pacing: fake allows 60 requests per {60 * scale:g} s window", rows2, None)
    ok_speed, ok_rate = speedup >= 6.0, share >= 0.9
    print(f"\n[{BACKEND}] speed-up {speedup:.1f}x (target >= 6x): {'ok' if ok_speed else 'MISSED'}")
    print(f"[{BACKEND}] zero 429s and {share:.0%} of the rate limit (target >= 90 %): {'ok' if ok_rate else 'MISSED'}")
    return ok_speed and ok_rate


def main() -> int:
    """Run both parts for each backend asked for; exit 1 if a target is missed."""
    global BACKEND
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]  # show part 1 while part 2 runs
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="divide every latency and window by 10")
    parser.add_argument("--backend", choices=("gemini", "openai", "all"), default="all", help="which backend (default: all)")
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0
    results = []
    for BACKEND in (("gemini", "openai") if args.backend == "all" else (args.backend,)):
        results.append(bench_backend(scale))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
