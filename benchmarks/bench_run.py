"""Benchmark: `paperpress run --offline` for the seed post vs. a bare papermill run (the floor).

Both are measured in the same run, in a throwaway copy of the project, each in a fresh process;
prints wall time (median of N) and peak RSS of the largest process (kernel or driver), with ratios.
Target: the post costs at most 1.5x the floor. The trends page that `run` rebuilds afterwards is a
second papermill run, shown on its own row.
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
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def make_floor_notebook(path: Path) -> None:
    """A trivial notebook that imports pandas and matplotlib: what any papermill post costs."""
    cell = nbformat.v4.new_code_cell("import pandas, matplotlib.pyplot as plt\nplt.plot([1, 2])")
    nb = nbformat.v4.new_notebook(cells=[cell])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def measure(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """Median wall seconds and peak MiB of a command over REPEAT runs (after one warm-up)."""
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    times, peaks = [], []
    for _ in range(REPEAT):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", MEASURE, *cmd], cwd=cwd, check=True, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        peaks.append(int(out.stdout.strip()) / 1024)
    return statistics.median(times), max(peaks)


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
    rows = [("bare papermill (floor)", *floor, 1.0, 1.0),
            ("run --offline (the post)", *post, post[0] / floor[0], post[1] / floor[1]),
            ("  + trends page", *both, both[0] / floor[0], both[1] / floor[1])]
    print(f"{'case':28} {'wall s':>8} {'peak MiB':>9} {'time ×':>7} {'mem ×':>7}")
    for name, wall, mib, rt, rm in rows:
        print(f"{name:28} {wall:8.2f} {mib:9.0f} {rt:7.2f} {rm:7.2f}")
    ok = post[0] / floor[0] <= 1.5
    print(json.dumps({"time_ratio": round(post[0] / floor[0], 2), "target": 1.5, "ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
