"""Benchmark: figure extraction per paper, against opening the PDF and reading the text of its pages.

    .venv/bin/python benchmarks/bench_figures.py [--repeat 3]

Two generated two-column papers (tests/fakes/pdfs.py, written once into a temporary folder): 20 pages
with 20 captioned figures (vector diagrams, plots, raster panels, full-width figures with 1000 px
photos), and the issue's worst case, 40 pages with 30 figures. Each case runs in a fresh interpreter
(imports and PDF generation not timed) and reports its wall time (median of --repeat) and its peak
memory: the highest RSS during the case above the RSS before it (PDFium's own allocations included):

  text      open the PDF and read the text of every page (the baseline: what any reading of it costs)
  figures   open the PDF and find, render, encode and save its figures (no cache)
  rerun     the same with a warm figure cache: nothing is rendered

Target: figures cost at most 2 s per paper on the 40-page PDF (the issue: "not slow a post by more
than a few seconds"). Exit 1 when it is missed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "lib"), str(ROOT)]

TARGET_SECONDS = 2.0

# What one case does in a fresh interpreter; prints {"seconds": …, "peak_mib": …, "figures": …} as JSON.
CHILD = r'''
import json, re, sys, time
from pathlib import Path
from paperpress import figures, pdf

def status(key):
    return int(re.search(key + r":\s+(\d+)", Path("/proc/self/status").read_text())[1]) / 1024

path, case, work = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
data = path.read_bytes()
Path("/proc/self/clear_refs").write_text("5")  # Linux: the peak RSS starts again from here
before = status("VmRSS")
start = time.perf_counter()
doc = pdf.open_pdf(data)
if case == "text":
    found = len([pdf.page_text(doc[i]) for i in range(len(doc))])
else:
    cache = figures.cache_folder(data, work / "cache")
    found = len(figures.extract_figures(doc, "2401.00001v1", "T", work / "post", cache))
doc.close()
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "figures": found, "peak_mib": status("VmHWM") - before}))
'''


def make_paper(pages: int, figures: int) -> bytes:
    """A two-column paper: odd pages hold a full-width figure, even ones two column figures, until `figures`."""
    from tests.fakes import pdfs as p

    drawn, sheets = 0, []
    for number in range(pages):
        sheet = [p.text_lines(p.FULL, 0.975, ["Preprint. Under review."], 8)]
        if drawn < figures and number % 2:
            drawn += 1
            sheet += [p.plot((0.1, 0.75, 0.35, 0.18), seed=number), p.raster((0.55, 0.72, 0.35, 0.21), (1000, 750), seed=number),
                      p.caption(p.FULL, 0.69, f"Figure {drawn}: Loss curves and a generated frame.", centre=True),
                      p.body(p.LEFT, 0.65, 40), p.body(p.RIGHT, 0.65, 40)]
        elif drawn + 2 <= figures:
            drawn += 2
            sheet += [p.body(p.LEFT, 0.92, 14), p.diagram((0.09, 0.62, 0.38, 0.07)),
                      p.caption(p.LEFT, 0.6, f"Figure {drawn - 1}: Overview of the system."), p.body(p.LEFT, 0.55, 34),
                      p.body(p.RIGHT, 0.92, 20), p.panels((0.53, 0.47, 0.39, 0.13), seed=number),
                      p.caption(p.RIGHT, 0.45, f"Figure {drawn}: Three generated frames."), p.body(p.RIGHT, 0.4, 26)]
        else:
            sheet += [p.body(p.LEFT, 0.92, 60), p.body(p.RIGHT, 0.92, 60)]
        sheets.append(sheet)
    return p.make_pages(sheets)


def run_case(path: Path, case: str, work: Path) -> dict:
    """One case in a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), case, str(work)], check=True, capture_output=True,
                         text=True, cwd=ROOT, env={"PYTHONPATH": f"{ROOT / 'lib'}", "PATH": "/usr/bin:/bin"})
    return json.loads(out.stdout)


def measure(path: Path, case: str, work: Path, repeat: int) -> dict:
    """Median seconds, largest peak and the figure count of a case over `repeat` runs (a fresh cache for 'figures')."""
    runs = []
    for n in range(repeat):
        folder = work / (f"cold{n}" if case == "figures" else case)
        if case == "rerun" and n == 0:
            run_case(path, case, folder)  # warm the cache once
        runs.append(run_case(path, case, folder))
    return {"seconds": statistics.median(r["seconds"] for r in runs), "peak_mib": max(r["peak_mib"] for r in runs),
            "figures": runs[0]["figures"]}


def main() -> int:
    """Generate both papers, measure every case, print the table; exit 1 when the target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'paper':18} {'case':8} {'figures':>7} {'wall s':>8} {'+peak MiB':>9} {'time ×':>7} {'mem ×':>6}")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for pages, figures in ((20, 20), (40, 30)):
            path = Path(tmp) / f"paper-{pages}.pdf"
            path.write_bytes(make_paper(pages, figures))
            base = measure(path, "text", Path(tmp) / f"w{pages}", args.repeat)
            for case in ("text", "figures", "rerun"):
                row = base if case == "text" else measure(path, case, Path(tmp) / f"w{pages}", args.repeat)
                print(f"{f'{pages} p, {figures} figs':18} {case:8} {row['figures'] if case != 'text' else '':>7} "
                      f"{row['seconds']:8.3f} {row['peak_mib']:9.0f} {row['seconds'] / base['seconds']:7.1f} "
                      f"{row['peak_mib'] / max(base['peak_mib'], 1):6.1f}")
                if case == "figures" and pages == 40:
                    worst = row["seconds"]
    ok = worst <= TARGET_SECONDS
    print(json.dumps({"figures_seconds_40_pages": round(worst, 3), "target": TARGET_SECONDS, "ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
