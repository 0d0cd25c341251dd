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

import contextlib
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


@contextlib.contextmanager
def paper_style():
    """matplotlib's defaults with TrueType text, whatever style the process set (charts.apply_style sets a
    'tight' bounding box, which would crop the page to its content)."""
    import matplotlib

    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams["pdf.fonttype"] = 42
        yield


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
    with paper_style(), PdfPages(buffer, metadata={"CreationDate": None}) as pages:
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


# Pages laid out like a conference paper, for figure finding. Each page is a list of drawers
# (fig -> None) in figure coordinates (0..1, from the bottom left) of a US-letter page (612 x 792 pt).
FULL, LEFT, RIGHT = (0.08, 0.92), (0.08, 0.48), (0.52, 0.92)
PITCH = 11 / 792  # a 9 pt font on an 11 pt line
WRAP = {FULL: 92, LEFT: 44, RIGHT: 44}  # characters that fill ~85% of a column in 9 pt DejaVu Sans
LOREM = (
    "Generating a convincing anchor style video from one minute of footage is hard because full body motion "
    "must stay coherent over time while the face and hands keep their detail. We train a diffusion model "
    "on frames of a single person and condition it on a pose sequence, then decode every window of frames "
    "together so that the motion stays smooth across windows and the identity never drifts. "
)


def body(column, top: float, lines: int = 6, lead: str = "") -> callable:
    """A paragraph of `lines` lines (the last one short, as paragraphs end) from `top` down."""
    text = lead + LOREM * (1 + lines * WRAP[column] // len(LOREM))
    rows = textwrap.wrap(text, WRAP[column])[: lines - 1] + ["and so it ends."]
    return lambda fig: [fig.text(column[0], top - n * PITCH, row, fontsize=9, va="top", parse_math=False)
                        for n, row in enumerate(rows)]


def text_lines(column, top: float, rows: Sequence[str], size: float = 9) -> callable:
    """Given lines of text (a list, a heading, a table caption) from `top` down."""
    return lambda fig: [fig.text(column[0], top - n * PITCH * size / 9, row, fontsize=size, va="top", parse_math=False)
                        for n, row in enumerate(rows)]


def caption(column, top: float, text: str, centre: bool = False) -> callable:
    """A figure (or table) caption wrapped to its column; centred ones sit in the middle of the column."""
    rows = textwrap.wrap(text, WRAP[column])
    x = (column[0] + column[1]) / 2 if centre else column[0]
    return lambda fig: [fig.text(x, top - n * PITCH, row, fontsize=9, va="top", ha="center" if centre else "left",
                                 parse_math=False) for n, row in enumerate(rows)]


def raster(box, size=(320, 240), kind: str = "photo", seed: int = 0) -> callable:
    """A raster image filling `box` (left, bottom, width, height), embedded at its native resolution."""
    return lambda fig: add_figure(fig, box, (*size, kind), seed)


def panels(box, count: int = 3, seed: int = 0) -> callable:
    """`count` raster panels side by side in `box`: one figure made of several images."""
    left, bottom, width, height = box
    step = width / count
    return lambda fig: [add_figure(fig, (left + n * step, bottom, step * 0.9, height), (160, 160, "photo"), seed + n)
                        for n in range(count)]


def diagram(box, labels: Sequence[str] = ("Encoder", "Denoiser", "Decoder")) -> callable:
    """A pipeline drawn only with vector paths and text labels: filled boxes joined by arrows."""
    from matplotlib.patches import FancyArrowPatch, Rectangle

    left, bottom, width, height = box
    step = width / len(labels)

    def draw(fig) -> None:
        for n, label in enumerate(labels):
            x = left + n * step
            fig.add_artist(Rectangle((x, bottom), step * 0.7, height, transform=fig.transFigure,
                                     facecolor="#ff7f0e", edgecolor="#1f77b4", linewidth=2))
            fig.text(x + step * 0.35, bottom + height / 2, label, fontsize=7, ha="center", va="center", parse_math=False)
            if n:
                fig.add_artist(FancyArrowPatch((x - step * 0.3, bottom + height / 2), (x, bottom + height / 2),
                                               transform=fig.transFigure, arrowstyle="-|>", mutation_scale=12))

    return draw


def plot(box, seed: int = 0) -> callable:
    """A line plot with ticks, labels and a legend: vector paths and text, no raster."""

    def draw(fig) -> None:
        ax = fig.add_axes(box)
        xs = list(range(10))
        ax.plot(xs, [x * x / (seed + 3) for x in xs], color="#2ca02c", label="ours")
        ax.plot(xs, [x * 2 for x in xs], color="#d62728", label="baseline")
        ax.set_xlabel("epoch", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.legend(fontsize=6)

    return draw


def table(column, top: float, rows: int = 4) -> callable:
    """A table drawn with rules and text cells under its caption ("Table 1: ..."): not a figure."""
    from matplotlib.lines import Line2D

    cells = [["Method", "PSNR", "SSIM", "FID"]] + [[f"Model {n}", f"{30 + n}.1", f"0.9{n}", f"{20 - n}.5"] for n in range(rows)]

    def draw(fig) -> None:
        caption(column, top, "Table 1: Results on the test set, higher is better.")(fig)
        width = column[1] - column[0]
        for n, row in enumerate(cells):
            y = top - (n + 2) * PITCH * 1.3
            for k, cell in enumerate(row):
                fig.text(column[0] + k * width / 4, y, cell, fontsize=8, va="top", parse_math=False)
        for y in (top - 1.9 * PITCH * 1.3, top - 2.9 * PITCH * 1.3, top - (len(cells) + 1.9) * PITCH * 1.3):
            fig.add_artist(Line2D(column, (y, y), transform=fig.transFigure, color="black", linewidth=0.8))

    return draw


def scan(seed: int = 0) -> callable:
    """A scanned page: one raster image covering the page, no text layer."""
    return lambda fig: add_figure(fig, (0, 0, 1, 1), (612, 792, "photo"), seed)


def make_pages(pages: Sequence[Sequence[callable]]) -> bytes:
    """PDF bytes of pages drawn by the given drawers; the same drawers always give the same bytes."""
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    buffer = io.BytesIO()
    with paper_style(), PdfPages(buffer, metadata={"CreationDate": None}) as pdf:
        for drawers in pages:
            fig = Figure(figsize=(8.5, 11))
            for draw in drawers:
                draw(fig)
            pdf.savefig(fig)
    return buffer.getvalue()


def make_one_column_pdf() -> bytes:
    """One-column pages: a raster teaser, a vector pipeline, a plot and a photo side by side, a table, a list
    above a caption, photos stacked under a figure caption and under a table caption, a scan."""
    return make_pages([
        [text_lines(FULL, 0.95, [TITLE], 15), body(FULL, 0.91, 8),
         raster((0.2, 0.5, 0.6, 0.26), seed=1), caption(FULL, 0.48, "Figure 1: Teaser. Avatars made by our method."),
         body(FULL, 0.44, 10)],
        [body(FULL, 0.95, 9), diagram((0.12, 0.7, 0.76, 0.08)),
         caption(FULL, 0.68, "Figure 2: The pipeline: an encoder, a denoiser and a decoder, drawn as vectors."),
         body(FULL, 0.64, 6), plot((0.12, 0.33, 0.3, 0.17)), raster((0.55, 0.3, 0.35, 0.2), seed=2),
         lambda fig: [caption(LEFT, 0.27, "Figure 3: Loss per epoch.")(fig), caption(RIGHT, 0.27, "Figure 4: A photo.")(fig)],
         body(FULL, 0.22, 5)],
        [table(FULL, 0.93), body(FULL, 0.78, 6),
         text_lines(FULL, 0.66, ["- first item of a list", "- the second item", "- a third, short", "- and a fourth"]),
         caption(FULL, 0.60, "Figure 5: A caption above nothing but text."),
         raster((0.3, 0.45, 0.4, 0.12), seed=7), caption(FULL, 0.43, "Figure 6: A photo right under another caption."),
         text_lines(FULL, 0.38, ["Pose    PSNR    FID", "none    29.0    24.1", "ours    31.3    19.8"]),
         caption(FULL, 0.33, "Table 2: An ablation, captioned under its rows."),
         raster((0.3, 0.17, 0.4, 0.13), seed=8), caption(FULL, 0.15, "Figure 7: A photo right under a table caption.")],
        [scan(3)],
    ])


def make_two_column_pdf() -> bytes:
    """Two-column pages: a line of body text that starts with 'Figure 3:', a vector diagram and a figure of
    three raster panels in the columns, a full-width figure over both, a table, a scan."""
    rows = textwrap.wrap(LOREM, WRAP[LEFT])
    trap = rows[:4] + ["Figure 3: plots the loss of both models and"] + rows[4:10]  # body text, not a caption
    return make_pages([
        [text_lines(FULL, 0.95, [TITLE], 15), text_lines(LEFT, 0.9, trap), diagram((0.09, 0.62, 0.38, 0.07)),
         caption(LEFT, 0.6, "Figure 1: Overview of the system, drawn with vector paths and text labels only."),
         body(LEFT, 0.55, 25), body(RIGHT, 0.9, 20), panels((0.53, 0.47, 0.39, 0.13), seed=4),
         caption(RIGHT, 0.45, "Fig. 2. Three frames generated from one pose sequence."), body(RIGHT, 0.4, 20)],
        [text_lines(FULL, 0.975, ["Preprint. Under review."], 8),  # the running head, just over the figure
         plot((0.1, 0.75, 0.35, 0.18)), raster((0.55, 0.72, 0.35, 0.21), seed=5),
         caption(FULL, 0.69, "Figure 3: Full-width comparison of the loss curves and a generated frame.", centre=True),
         body(LEFT, 0.65, 26), table(RIGHT, 0.65), body(RIGHT, 0.5, 12)],
        [scan(6)],
    ])
