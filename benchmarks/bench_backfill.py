"""Benchmark: offline backfill of every listed day of ../shared/data/sample/talking-head.jsonl,
--jobs 2 against --jobs 1, in the same run. Target: a speed-up of at least 1.7 on 2 cores.
Prints wall time, peak RSS of the largest process, and checks that both give the same posts.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "data" / "sample" / "talking-head.jsonl"
BIN = Path(sys.executable).parent
# Peak RSS of one backfill's descendants, measured in a fresh interpreter (KiB).
MEASURE = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
           "sys.stderr.write(r.stdout[-1500:] + r.stderr[-1500:]) if r.returncode else None; "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)")


def run_backfill(project: Path, jobs: int, days: list[str]) -> tuple[float, float]:
    """Wall seconds and peak MiB of one backfill over the listed days."""
    cmd = [str(BIN / "paperpress"), "backfill", "--topic", "talking-head", "--offline", "--sample", str(SAMPLE),
           "--from", days[0], "--to", days[-1], "--jobs", str(jobs)]
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", MEASURE, *cmd], cwd=project, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"backfill --jobs {jobs} failed:\n{out.stderr[-2000:]}")
    return time.perf_counter() - start, int(out.stdout.strip()) / 1024


def make_project(folder: Path) -> Path:
    """A throwaway project with the topics file and the template."""
    (folder / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / "topics.yml", folder)
    for template in ("digest.ipynb", "trends.ipynb"):
        shutil.copy(ROOT / "notebooks" / template, folder / "notebooks")
    return folder


def read_posts(project: Path) -> dict[str, bytes]:
    """Every file of the posts folder."""
    posts = project / "posts"
    return {p.relative_to(posts).as_posix(): p.read_bytes() for p in sorted(posts.rglob("*")) if p.is_file()}


def main() -> int:
    """Both backfills, the table, and exit 1 when the target is missed."""
    if not SAMPLE.is_file():
        print(f"missing {SAMPLE}")
        return 1
    days = sorted({json.loads(line)["listed_on"] for line in SAMPLE.read_text(encoding="utf-8").splitlines()})
    with tempfile.TemporaryDirectory() as tmp:
        one = make_project(Path(tmp) / "one")
        two = make_project(Path(tmp) / "two")
        serial = run_backfill(one, 1, days)
        parallel = run_backfill(two, 2, days)
        same = read_posts(one) == read_posts(two)
        posts = len(list((two / "posts").iterdir()))
    speedup = serial[0] / parallel[0]
    print(f"{len(days)} listed days, {posts} posts; same bytes from both: {same}")
    print(f"{'case':16} {'wall s':>8} {'s/day':>6} {'peak MiB':>9} {'speed-up':>9}")
    for name, (wall, mib), ratio in (("--jobs 1", serial, 1.0), ("--jobs 2", parallel, speedup)):
        print(f"{name:16} {wall:8.1f} {wall / len(days):6.2f} {mib:9.0f} {ratio:9.2f}")
    ok = speedup >= 1.7 and same
    print(json.dumps({"speedup": round(speedup, 2), "target": 1.7, "same_posts": same, "ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
