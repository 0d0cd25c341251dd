"""Benchmark: a topic's trends page over a synthetic archive of 365 posts × 30 papers, against reading the sidecars.

    .venv/bin/python benchmarks/bench_trends.py [--posts 365] [--papers 30] [--repeat 3] [--no-papermill]

The archive is written once (deterministic, seeded) into a throwaway project. Each case then runs in a
fresh interpreter (cold caches, imports not timed) and reports its wall time and the peak of Python
allocations during the case (tracemalloc, in a second fresh run so that tracing does not slow the timing):

  read      archive.load_archive: parse and validate every sidecar of the topic (the floor)
  tables    read + normalise + every table of the page (families, papers, keywords, the comparison of the
            two windows with its statistic, affiliations, countries) + the reading of the numbers
  page      all the trends notebook does: its code cells run in order in this process (no kernel), writing the
            charts, trends.json and the front matter to a folder and collecting the Markdown they show
  papermill publish.build_trends_page end to end (kernel start, notebook, publish), for reference

Target: the page (in-process) costs at most 1.8× reading the sidecars (medians of --repeat runs). Exit 1 when it
is missed. `--digest` prints one hash of every output of the page on the benchmark's data instead (charts, their
alt texts, trends.json, the HTML tables): an optimisation must leave it unchanged.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "lib")]

SLUG = "diffusion-models"  # an English topic of topics.yml
TARGET = 1.8
START = "2024-01-01"

# What one case does in a fresh interpreter; prints {"seconds": …, "peak_mib": …} as JSON.
CHILD = r'''
import json, sys, time, tracemalloc
posts, slug, case, trace = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
from paperpress import archive as store, charts, trendpage, trends, vocab
charts.apply_style()  # style and font lookup once per process: not part of any case

def run_read():
    return store.load_archive(posts, slug)

def run_tables():
    t = trends.topic_trends(slug, "topics.yml", posts)
    return [trends.family_over_time(t), trends.papers_over_time(t), trends.top_keywords_over_time(t),
            trends.changes_data(t), trends.rising_terms(t), trends.fading_terms(t), trends.top_affiliations(t),
            trends.top_countries(t), trendpage.render_reading(t)], t

# The page: the code cells of notebooks/trends.ipynb run here, in order, as papermill would run them (its
# parameters cell, then the values it injects), without a kernel; what the cells display is collected.
import nbformat, tempfile
from IPython import display as shown_by
CELLS = [c.source for c in nbformat.read("notebooks/trends.ipynb", as_version=4).cells if c.cell_type == "code"]
OUT = tempfile.mkdtemp(prefix="page-", dir=".")  # inside the throwaway project
SHOWN = []
shown_by.display = lambda *objects, **_kw: SHOWN.extend(objects)

def run_page():
    scope = {}
    for n, source in enumerate(CELLS):
        exec(source, scope)
        if n == 0:
            scope.update(topic=slug, topics_file="topics.yml", posts_dir=posts, output_dir=OUT)
    return scope["t"]

def run_digest():  # not timed: one hash of every output of the page, to check that a faster page is the same page
    import hashlib, pathlib
    run_page()
    digest = hashlib.sha256()
    for path in sorted(pathlib.Path(OUT).rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(OUT)).encode() + b"\0" + path.read_bytes())
    digest.update("\n".join(getattr(o, "data", str(o)) for o in SHOWN).encode())
    print(json.dumps({"sha256": digest.hexdigest(), "shown": len(SHOWN)}))
    sys.exit(0)

case_fn = {"read": run_read, "tables": run_tables, "page": run_page, "digest": run_digest}[case]
if trace:
    tracemalloc.start()
start = time.perf_counter()
case_fn()
seconds = time.perf_counter() - start
peak = tracemalloc.get_traced_memory()[1] / 2**20 if trace else 0.0
print(json.dumps({"seconds": seconds, "peak_mib": peak}))
'''

WORDS = ("avatar", "diffusion", "radiance", "gaussian", "mesh", "texture", "motion", "speech", "face", "head",
         "relighting", "garment", "hand", "scene", "video", "portrait", "expression", "skinning", "latent",
         "denoising", "rendering", "geometry", "reconstruction", "editing", "control", "identity", "emotion")
KEYWORDS = ["3D Gaussian Splatting", "3DGS", "gaussian splatting", "NeRF", "neural radiance fields", "diffusion models",
            "Diffusion", "talking head generation", "talking face generation", "SMPL-X", "score distillation sampling",
            "SDS", "approach", "method", "state-of-the-art", "扩散模型", "三维高斯泼溅 (3D Gaussian Splatting)",
            "text-to-3D", "lip sync", "LLMs"] + [f"{a} {b}" for a in WORDS[:12] for b in WORDS[12:]]
METHOD_TEXT = ("NeRF", "3D Gaussian Splatting", "diffusion model", "GAN", "VAE", "SMPL-X", "FLAME", "transformer",
               "audio-driven", "text-to-3D", "linear blend skinning", "U-Net", "LLM", "CLIP model", "mesh")
AFFILIATIONS = ["Tsinghua University", "Tsinghua Univ., Beijing, China", "CAS ICT",
                "Institute of Computing Technology, Chinese Academy of Sciences", "Shanghai AI Lab", "ETH Zürich",
                "Max Planck Institute for Informatics", "Google Research", "NVIDIA", "The University of Hong Kong"] + [
                f"Department of {w.title()}, Example University {i}, Springfield, USA" for i, w in enumerate(WORDS)] + [
                f"Example Universty {i}" for i in range(len(WORDS))]  # misspellings that merge by fuzzy matching


def make_entry(rng: random.Random, arxiv_id: str):
    """One synthetic paper with extras and an offline-style summary of realistic sizes."""
    from paperpress import vocab
    from paperpress.records import Affiliation, Entry, Extras, Paper, Summary, make_urls

    methods = rng.sample(METHOD_TEXT, rng.randint(1, 4))
    sentences = [" ".join(rng.choices(WORDS, k=18)).capitalize() + "." for _ in range(8)]
    abstract = f"We propose a method based on {' and '.join(methods)}. " + " ".join(sentences)
    abs_url, pdf_url = make_urls(arxiv_id, "v1")
    paper = Paper(arxiv_id=arxiv_id, version="v1", title=" ".join(rng.choices(WORDS, k=8)).title(),
                  authors=tuple(f"Author {rng.randint(1, 5000)}" for _ in range(rng.randint(2, 9))),
                  abstract=abstract, categories=("cs.CV",), abs_url=abs_url, pdf_url=pdf_url)
    names = rng.sample(AFFILIATIONS, rng.randint(1, 3))
    affiliations = tuple(Affiliation(name=n, source="pdf") for n in names)
    summary = Summary(tldr=sentences[0], key_takeaways=sentences[1:5], keywords=rng.sample(KEYWORDS, 8),
                      background=sentences[0], prior_work=sentences[1], method=" ".join(sentences[2:4]),
                      results=sentences[5], methods=vocab.tag_methods(abstract))
    return Entry(paper=paper, extras=Extras(affiliations=affiliations), summary=summary)


def make_archive(posts: Path, count: int, papers: int) -> int:
    """Write `count` daily posts of `papers` papers each; return the bytes of all sidecars."""
    import datetime as dt

    from paperpress import archive as store
    from paperpress.records import Digest

    rng = random.Random(20240101)
    day = dt.date.fromisoformat(START)
    total = 0
    for n in range(count):
        date = (day + dt.timedelta(days=n)).isoformat()
        entries = tuple(make_entry(rng, f"{date[2:4]}{date[5:7]}.{n * papers + i:05d}") for i in range(papers))
        post = Digest(date=date, topic_slug=SLUG, topic_name="Diffusion Models", language="en", source="sample",
                      summariser="offline", entries=entries)
        total += store.save_digest(post, str(posts / f"{date}-{SLUG}")).stat().st_size
    return total


def run_case(project: Path, case: str, trace: bool) -> dict:
    """One case in a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", CHILD, "posts", SLUG, case, "1" if trace else "0"], cwd=project,
                         check=True, capture_output=True, text=True, env=child_env())
    return json.loads(out.stdout.strip().splitlines()[-1])


def child_env() -> dict:
    """The environment of a child: paperpress importable from this checkout."""
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "lib") + os.pathsep + env.get("PYTHONPATH", "")
    return env


def measure(project: Path, cases: tuple[str, ...], repeat: int) -> dict[str, tuple[float, float]]:
    """Per case: median seconds over `repeat` fresh runs, and the peak MiB of one traced run.

    The cases take turns (read, tables, page, read, …): a shared machine's speed drifts over a minute, and
    measured one case after the other the drift went into the ratio (1.5× to 2.0× on the same code).
    """
    times: dict[str, list[float]] = {case: [] for case in cases}
    for _ in range(repeat):
        for case in cases:
            times[case].append(run_case(project, case, trace=False)["seconds"])
    return {case: (statistics.median(times[case]), run_case(project, case, trace=True)["peak_mib"]) for case in cases}


def measure_papermill(project: Path, repeat: int) -> tuple[float, float]:
    """Median seconds of build_trends_page in fresh processes, and the peak RSS (MiB) of its kernel or driver."""
    code = ("import resource, sys; from paperpress import publish; publish.build_trends_page(sys.argv[1]); "
            "print(max(resource.getrusage(r).ru_maxrss for r in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)))")
    times, peaks = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code, SLUG], cwd=project, check=True, capture_output=True,
                             text=True, env=child_env())
        times.append(time.perf_counter() - start)
        peaks.append(int(out.stdout.strip().splitlines()[-1]) / 1024)
    return statistics.median(times), max(peaks)


def main() -> int:
    """Build the archive, measure every case, print the table; exit 1 when the target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--posts", type=int, default=365)
    parser.add_argument("--papers", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-papermill", action="store_true", help="skip the end-to-end papermill case")
    parser.add_argument("--digest", action="store_true", help="print a hash of the page's outputs, measure nothing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "notebooks").mkdir()
        shutil.copy(ROOT / "topics.yml", project)
        shutil.copy(ROOT / "notebooks" / "trends.ipynb", project / "notebooks")
        size = make_archive(project / "posts", args.posts, args.papers)
        if args.digest:
            out = subprocess.run([sys.executable, "-c", CHILD, "posts", SLUG, "digest", "0"], cwd=project, check=True,
                                 capture_output=True, text=True, env=child_env())
            print(out.stdout.strip().splitlines()[-1])
            return 0
        print(f"archive: {args.posts} posts × {args.papers} papers, sidecars {size / 2**20:.1f} MiB")
        rows = measure(project, ("read", "tables", "page"), args.repeat)
        if not args.no_papermill:
            rows["papermill (RSS)"] = measure_papermill(project, args.repeat)
    read_s, read_mib = rows["read"]
    print(f"{'case':16} {'wall s':>8} {'peak MiB':>9} {'time ×':>7} {'mem ×':>7}")
    for name, (seconds, mib) in rows.items():
        mem = f"{mib / read_mib:7.2f}" if "RSS" not in name else f"{'—':>7}"
        print(f"{name:16} {seconds:8.2f} {mib:9.1f} {seconds / read_s:7.2f} {mem}")
    ratio = rows["page"][0] / read_s
    ok = ratio <= TARGET
    print(json.dumps({"page_time_ratio": round(ratio, 2), "target": TARGET, "ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
