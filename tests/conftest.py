"""Shared fixtures: where the project and the shared sample data are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .helpers import add_site_files, in_ci, make_project, run_cli

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SAMPLE_DIR = SHARED / "data" / "sample"
ARXIV_XML = SHARED / "data" / "arxiv-api-response-example.xml"

# Loopback fakes must never go through a proxy, in this process or in papermill's kernel.
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"


@pytest.fixture(scope="session")
def root() -> Path:
    """The project's root folder."""
    return ROOT


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    """../shared/data/sample (real listings of a daily digest blog): skipped without it, failed in CI, which has it."""
    if not SAMPLE_DIR.is_dir():
        if in_ci():
            pytest.fail(f"CI=true: shared sample data not found at {SAMPLE_DIR}", pytrace=False)
        pytest.skip(f"shared sample data not found at {SAMPLE_DIR}")
    return SAMPLE_DIR


@pytest.fixture(scope="session")
def demo_site(tmp_path_factory):
    """`paperpress demo` (37 posts, the trends page, the preview site), built once per session in a throwaway project."""
    project = add_site_files(make_project(tmp_path_factory.mktemp("demo-site")))
    result = run_cli(project, "demo", "--jobs", "2", timeout=900)  # a loaded CI machine: several times the budget
    assert result.returncode == 0, result.stderr
    return project, result
