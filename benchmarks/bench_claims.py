"""Benchmark: the claim checker (lib/paperpress/claims.py) over the embedded archive.

    .venv/bin/python benchmarks/bench_claims.py [--repeat 5]

1. Planted claims: benchmarks/planted_claims.yml, a fixed list written before the checker — unsupported
   figures, names absent from the paper, "outperforms X" where X is not in the source, in English and
   Chinese, and the same claims when the paper supports them. Each is checked, as a takeaway would be,
   against its paper's title, comment and abstract (what an offline run sends; the archive has no PDF text).
   Targets, per kind of claim: at least 95% of the unsupported ones dropped, at most 2% of the supported.
2. The demo's offline summaries: every listing of the archive summarised offline in the topic's language
   (Chinese) and checked. Target: nothing dropped (they quote the abstract).
3. Cost per paper: building the source and checking the summary, plus finding each takeaway's abstract
   sentence (what the post does), against summarising the paper offline (the cheapest summariser; a model
   call takes seconds). Medians over --repeat passes of the archive, measured in this run.

Exit 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "lib")]

from paperpress import claims  # noqa: E402
from paperpress.records import Extras, Paper  # noqa: E402
from paperpress.summarise import summarise_offline  # noqa: E402

ARCHIVE = ROOT / "lib" / "paperpress" / "data" / "metaverse-avatars.jsonl"
PLANTED = ROOT / "benchmarks" / "planted_claims.yml"
MAX_KEPT_UNSUPPORTED, MAX_DROPPED_SUPPORTED = 0.05, 0.02


def load_listings() -> list[Paper]:
    """Every listing of the embedded archive (a paper listed again when revised counts again)."""
    rows = [json.loads(line) for line in ARCHIVE.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [Paper(arxiv_id=r["arxiv_id"], version=r["version"], title=r["title"], authors=tuple(r["authors"]),
                  abstract=r["abstract"], comment=r.get("comment")) for r in rows]


def check_planted(papers: dict[str, Paper]) -> tuple[list[str], bool]:
    """Table rows of the planted claims per kind and language, and whether every target holds."""
    counts: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])  # (kind, lang, supported) -> [dropped, total]
    misses = []
    for claim in yaml.safe_load(PLANTED.read_text(encoding="utf-8"))["claims"]:
        paper = papers[claim["paper"]]
        reasons = claims.find_unsupported(claim["text"], claims.source_of(paper.title, paper.abstract, paper.comment))
        key = (claim["kind"], claim["lang"], claim["supported"])
        counts[key][0] += bool(reasons)
        counts[key][1] += 1
        if bool(reasons) == claim["supported"]:
            misses.append(f"  {'dropped' if reasons else 'kept'}: [{claim['paper']}] {claim['text']} {reasons}")
    rows, ok = [], True
    for kind in ("figure", "name", "outperforms", "all"):
        for lang in ("en", "zh", "both"):
            pick = [v for (k, l, _s), v in counts.items() if kind in (k, "all") and lang in (l, "both")]
            bad = [v for (k, l, s), v in counts.items() if kind in (k, "all") and lang in (l, "both") and not s]
            good = [v for (k, l, s), v in counts.items() if kind in (k, "all") and lang in (l, "both") and s]
            if not pick:
                continue
            dropped_bad, n_bad = sum(v[0] for v in bad), sum(v[1] for v in bad)
            dropped_good, n_good = sum(v[0] for v in good), sum(v[1] for v in good)
            share_bad, share_good = dropped_bad / n_bad, dropped_good / n_good
            hold = share_bad >= 1 - MAX_KEPT_UNSUPPORTED and share_good <= MAX_DROPPED_SUPPORTED
            ok &= hold
            rows.append(f"| {kind} | {lang} | {dropped_bad}/{n_bad} ({share_bad:.0%}) | {dropped_good}/{n_good} "
                        f"({share_good:.0%}) | {'yes' if hold else 'NO'} |")
    return rows + (["", "misjudged:", *misses] if misses else []), ok


def check_offline(listings: list[Paper]) -> tuple[int, list]:
    """Statements dropped from the offline summaries of every listing (Chinese topic), and the drops."""
    dropped = []
    for paper in listings:
        summary = summarise_offline(paper, Extras(), "zh")
        _checked, drops = claims.check_summary(summary, claims.source_of(paper.title, paper.abstract, paper.comment))
        dropped += [(paper.arxiv_id, d) for d in drops]
    return len(listings), dropped


def time_per_paper(listings: list[Paper], repeat: int) -> dict[str, float]:
    """Median seconds per paper: summarising offline, checking its summary, checking and finding sources."""
    summaries = [summarise_offline(p, Extras(), "zh") for p in listings]  # warm YAKE and the regexes
    cases = {
        "summarise (offline)": lambda: [summarise_offline(p, Extras(), "zh") for p in listings],
        "check": lambda: [claims.check_summary(s, claims.source_of(p.title, p.abstract, p.comment))
                          for p, s in zip(listings, summaries)],
        "check + sources": lambda: [(claims.check_summary(s, claims.source_of(p.title, p.abstract, p.comment)),
                                     [claims.find_source_sentence(t, p.abstract) for t in s.key_takeaways])
                                    for p, s in zip(listings, summaries)],
    }
    result = {}
    for name, run in cases.items():
        times = []
        for _ in range(repeat):
            claims.name_key.cache_clear()  # every pass starts cold: the caches last one run, not the benchmark
            claims.sentence_sources.cache_clear()
            start = time.perf_counter()
            run()
            times.append((time.perf_counter() - start) / len(listings))
        result[name] = statistics.median(times)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    listings = load_listings()
    papers = {p.arxiv_id: p for p in reversed(listings)}  # first listing of each paper
    rows, planted_ok = check_planted(papers)
    print("Planted claims (benchmarks/planted_claims.yml), checked against title, comment and abstract:\n")
    print("| kind | language | unsupported dropped | supported dropped | targets (>= 95%, <= 2%) |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    n, dropped = check_offline(listings)
    print(f"\nOffline summaries of the demo: {n} listings, {len(dropped)} statements dropped (target 0)")
    for arxiv_id, d in dropped[:10]:
        print(f"  [{arxiv_id}] {d.field}: {d.text} ({d.reason})")
    timing = time_per_paper(listings, args.repeat)
    base = timing["summarise (offline)"]
    print(f"\nCost per paper (median of {args.repeat} passes over {n} listings):\n")
    print("| case | ms per paper | × offline summarising |")
    print("|---|---|---|")
    for name, seconds in timing.items():
        print(f"| {name} | {seconds * 1000:.2f} | {seconds / base:.3f} |")
    ok = planted_ok and not dropped
    print("\n" + ("all targets met" if ok else "TARGET MISSED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
