"""PDFs: download, first-page text, introduction, figures (issue 3 fills this in)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .config import Settings
from .records import Extras, Paper


def enrich_papers(papers: Sequence[Paper], settings: Settings, assets_dir: Path | None) -> list[Extras]:
    """Extras (PDF text, affiliations, code links, figures saved under assets_dir) for each paper."""
    return [Extras() for _ in papers]
