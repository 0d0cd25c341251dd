"""Small, deterministic PDFs that look like a paper's first pages (made with matplotlib's PDF backend).

    data = make_pdf(title="...", authors=[("Ziyao Huang", 1), ("Fan Tang", 2)],
                    affiliations=["Institute of Computing Technology", "Tsinghua University"],
                    code_url="https://github.com/org/repo")

Page 1 carries the title, the author line with affiliation marks, the affiliation block (or, with
`columns`, one block of lines per author side by side, as ACM-style headers print them), an optional
code link (as text and as a link annotation), the abstract, "1 Introduction", "2 Related Work" and
a raster figure with its caption; each further figure goes on a page of its own.
"""

from __future__ import annotations

import io
import textwrap
from typing import Sequence

TITLE = "Make-Your-Anchor: A Diffusion-based 2D Avatar Generation Framework"
AUTHORS = (("Ziyao Huang", 1), ("Fan Tang", 2), ("Yong Zhang", 3))
AFFILIATIONS = (
    "Institute of Computing Technology, Chinese Academy of Sciences",
    "Tsinghua University",
    "Tencent AI Lab",
)
ABSTRACT = (
    "Despite the remarkable progress of talking-head-based avatar-creating solutions, directly generating "
    "anchor-style videos with full-body motions remains challenging. We propose Make-Your-Anchor."
)
INTRO = (
    "Digital avatars are everywhere: in live streaming, education and customer service. Generating a "
    "convincing anchor-style video from a one-minute clip of a person remains hard because full-body "
    "motion must stay coherent over time. In this paper we present a diffusion-based system that does so."
)
RELATED = "Talking-head generation has a long history. Pose-guided human video generation is closer to our task."


def make_image(width: int, height: int, kind: str = "photo", seed: int = 0):
    """A deterministic RGB array: a smooth many-coloured 'photo' or a flat three-colour 'diagram'."""
    import numpy as np

    y, x = np.mgrid[0:height, 0:width]
    if kind == "diagram":
        bands = ((x // max(width // 3, 1) + seed) % 3)[..., None]
        palette = np.array([[255, 255, 255], [31, 119, 180], [255, 127, 14]], dtype=np.uint8)
        return palette[bands[..., 0]]
    red = (x * 255 // max(width - 1, 1) + seed * 40) % 256
    green = y * 255 // max(height - 1, 1)
    blue = (x * y // 7 + seed * 13) % 256
    return np.stack([red, green, blue], axis=-1).astype(np.uint8)


def write_lines(fig, lines: Sequence[tuple[str, float, str | None]], top: float = 0.95) -> float:
    """Write (text, font size, link) lines down the page from `top`; returns where the next line goes."""
    y = top
    for text, size, url in lines:
        fig.text(0.08, y, text, fontsize=size, url=url, parse_math=False)
        y -= size / 11 * 0.022 + 0.006
    return y


def write_columns(fig, blocks: Sequence[Sequence[str]], top: float) -> float:
    """Write blocks of 10-point lines side by side from `top`, row by row as LaTeX lays out a tabular
    (so text extraction reads a row across the columns); returns where the next line goes."""
    rows = max((len(b) for b in blocks), default=0)
    for n in range(rows):
        for k, block in enumerate(blocks):
            if n < len(block):
                fig.text(0.08 + k * 0.9 / len(blocks), top - n * 0.026, block[n], fontsize=10, parse_math=False)
    return top - rows * 0.026


def add_figure(fig, box: tuple[float, float, float, float], spec: tuple[int, int, str], seed: int) -> None:
    """An axes without decoration showing a raster image at its native resolution (embedded as is)."""
    ax = fig.add_axes(box)
    ax.axis("off")
    ax.imshow(make_image(spec[0], spec[1], spec[2], seed), interpolation="none")


def make_pdf(
    title: str = TITLE,
    authors: Sequence[tuple[str, int]] = AUTHORS,
    affiliations: Sequence[str] = AFFILIATIONS,
    *,
    abstract: str = ABSTRACT,
    intro: str = INTRO,
    code_url: str | None = None,
    figures: Sequence[tuple[int, int, str]] = ((320, 240, "photo"),),
    captions: Sequence[str] = (),
    logo: bool = True,
    columns: Sequence[Sequence[str]] = (),
) -> bytes:
    """PDF bytes of a paper-like document; the same arguments always give the same bytes."""
    import matplotlib
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    wrap = lambda text: [(line, 9, None) for line in textwrap.wrap(text, 100)]  # noqa: E731
    lines = [(title, 15, None), (", ".join(f"{name}{mark}" for name, mark in authors), 11, None)]
    lines += [(f"{n}{name}", 9, None) for n, name in enumerate(affiliations, 1)]
    if code_url:
        lines.append((f"Code: {code_url}", 9, code_url))
    lines += [("Abstract", 11, None), *wrap(abstract), ("1 Introduction", 11, None), *wrap(intro)]
    lines += [("2 Related Work", 11, None), *wrap(RELATED)]
    captions = list(captions) or [f"Figure {n}: Overview of panel {n} of our pipeline." for n in range(1, len(figures) + 1)]
    buffer = io.BytesIO()
    # TrueType text (not Type 3) so that PDF readers extract it; no dates, so bytes are reproducible.
    with matplotlib.rc_context({"pdf.fonttype": 42}), PdfPages(buffer, metadata={"CreationDate": None}) as pages:
        for number, spec in enumerate(figures or [None]):
            fig = Figure(figsize=(8.5, 11))
            if number == 0 and columns:
                bottom = write_lines(fig, lines[2 + len(affiliations):], write_columns(fig, columns, write_lines(fig, lines[:1])))
            else:
                bottom = write_lines(fig, lines) if number == 0 else 0.95
            if number == 0 and logo:
                add_figure(fig, (0.85, 0.93, 0.05, 0.04), (24, 24, "photo"), 99)  # a tiny logo: not a figure
            if spec is not None:
                add_figure(fig, (0.15, 0.12, 0.7, min(0.3, bottom - 0.17)), spec, number)
                fig.text(0.08, 0.08, captions[number], fontsize=9, parse_math=False)
            pages.savefig(fig)
    return buffer.getvalue()
