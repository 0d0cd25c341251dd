"""The test suite's own guards: what a missing piece of the set-up does to a test, in CI and elsewhere."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PROBE = '''
def test_reads_the_sample(sample_dir):
    assert sample_dir.is_dir()
'''


@pytest.fixture
def lone_tests(tmp_path) -> Path:
    """A copy of the suite's conftest and helpers in a project folder with no ../shared beside it."""
    tests = tmp_path / "project" / "tests"
    tests.mkdir(parents=True)
    for name in ("__init__.py", "conftest.py", "helpers.py"):
        shutil.copy(HERE / name, tests / name)
    (tests / "test_probe.py").write_text(PROBE, encoding="utf-8")
    return tests


def run_probe(tests: Path, ci: str | None) -> subprocess.CompletedProcess:
    """pytest on the probe in a fresh interpreter, with CI set to `ci` (or unset)."""
    env = {k: v for k, v in os.environ.items() if k != "CI"} | ({"CI": ci} if ci is not None else {})
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", "tests/test_probe.py"],
                          cwd=tests.parent, env=env, capture_output=True, text=True, timeout=120)


def test_missing_shared_data_fails_in_ci_and_skips_elsewhere(lone_tests):
    assert not (lone_tests.parent.parent / "shared").exists()
    ci = run_probe(lone_tests, "true")
    assert ci.returncode == 1 and "1 error" in ci.stdout and "CI=true: shared sample data not found" in ci.stdout, ci.stdout
    local = run_probe(lone_tests, None)
    assert local.returncode == 0 and "1 skipped" in local.stdout and "shared sample data not found" in local.stdout, local.stdout
