"""Benchmark: `paperpress run --offline` for the seed post vs. a bare papermill run (the floor).

Both are measured in the same run, in a throwaway copy of the project, each in a fresh process;
prints wall time (median of N) and peak RSS of the largest process (kernel or driver), with ratios.
Targets: the post costs at most 1.4x the floor, the whole `run` (the post, then the topic's trends page,
built in the same kernel) at most 2.2x. CPU seconds (user + system of every process) are shown too: on a
busy machine they say more than wall time, which other processes stretch.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
REPEAT = 3
# Run a command in a fresh interpreter that reports the peak RSS of its descendants (KiB).
MEASURE = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
           "r = resource.getrusage(resource.RUSAGE_CHILDREN); print(r.ru_maxrss, r.ru_utime + r.ru_stime)")
POST_TARGET, RUN_TARGET = 1.4, 2.2


def make_floor_notebook(path: Path) -> None:
    """A trivial notebook that imports pandas and matplotlib: what any papermill post costs."""
    cell = nbformat.v4.new_code_cell("import pandas, matplotlib.pyplot as plt\nplt.plot([1, 2])")
    nb = nbformat.v4.new_notebook(cells=[cell])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def measure(cmd: list[str], cwd: Path) -> tuple[float, float, float]:
    """Median wall seconds, peak MiB and median CPU seconds of a command over REPEAT runs (after one warm-up)."""
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    times, peaks, cpus = [], [], []
    for _ in range(REPEAT):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", MEASURE, *cmd], cwd=cwd, check=True, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        rss, cpu = out.stdout.split()
        peaks.append(int(rss) / 1024)
        cpus.append(float(cpu))
    return statistics.median(times), max(peaks), statistics.median(cpus)


def main() -> int:
    """Measure both, print the table; exit 1 when the target is missed."""
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "notebooks").mkdir()
        shutil.copy(ROOT / "topics.yml", project)
        for template in ("digest.ipynb", "trends.ipynb"):
            shutil.copy(ROOT / "notebooks" / template, project / "notebooks")
        make_floor_notebook(project / "floor.ipynb")
        floor = measure([str(BIN / "papermill"), "floor.ipynb", "floor.out.ipynb", "--no-progress-bar"], project)
        run = [str(BIN / "paperpress"), "run", "--offline", "--topic", "metaverse-avatars", "--date", "2024-04-01"]
        post = measure([*run, "--no-trends"], project)
        both = measure(run, project)  # the post, then the topic's trends page: a second papermill run
    rows = [("bare papermill (floor)", floor), ("run --offline --no-trends", post), ("run --offline (+ trends page)", both)]
    print(f"{'case':30} {'wall s':>7} {'cpu s':>6} {'peak MiB':>9} {'time ×':>7} {'cpu ×':>6} {'mem ×':>6}")
    for name, (wall, mib, cpu) in rows:
        print(f"{name:30} {wall:7.2f} {cpu:6.2f} {mib:9.0f} {wall / floor[0]:7.2f} {cpu / floor[2]:6.2f} {mib / floor[1]:6.2f}")
    post_ratio, run_ratio = post[0] / floor[0], both[0] / floor[0]
    ok = post_ratio <= POST_TARGET and run_ratio <= RUN_TARGET
    print(json.dumps({"post": round(post_ratio, 2), "post_target": POST_TARGET, "run": round(run_ratio, 2),
                      "run_target": RUN_TARGET, "ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
