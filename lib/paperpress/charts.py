"""Charts: one matplotlib style (colour-blind safe, CJK-capable), PNG bytes with alt text, for posts and trends pages."""

from __future__ import annotations

import base64
import dataclasses
import functools
import io
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # charts are files and notebook outputs; never a window
import matplotlib.patches  # noqa: E402
import matplotlib.text  # noqa: E402
import matplotlib.ticker  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import font_manager  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .config import load_labels  # noqa: E402
from .text import quote_attribute  # noqa: E402
from .vocab import family_name  # noqa: E402
from . import trends  # noqa: E402

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
CJK_FONTS = ["Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei",
             "WenQuanYi Zen Hei", "Droid Sans Fallback", "SimHei", "Microsoft YaHei", "PingFang SC"]
LABELS = load_labels("charts")  # data/labels.yml
HEATMAP = "cividis"  # sequential and readable with colour-vision deficiencies (and in greyscale)
MAX_ANNOTATED = 16  # more columns than this and the numbers in the cells get unreadable (at the phone width below)
# A phone shows a chart about 340 CSS px wide (Quarto's article at 390 px; the preview's 350). Drawn at most
# WIDTH inches wide (layout included) with no text under SMALL points, its smallest text stays >= 9 CSS px
# there: SMALL pt × dpi/72 × 340 px / (WIDTH in × dpi) = 10 × 340 / (72 × 4.8) ≈ 9.8 px.
WIDTH = 4.8
SMALL = 10


def add_system_cjk_fonts() -> None:
    """Register CJK font files installed after matplotlib built its font cache."""
    for path in font_manager.findSystemFonts():
        if re.search(r"wqy|cjk|sourcehan|droidsansfallback|simhei|yahei", Path(path).name, re.I):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                continue


@functools.cache
def find_cjk_font() -> str | None:
    """The first installed font family that has Chinese glyphs; warns once when there is none."""
    for attempt in range(2):
        installed = {f.name for f in font_manager.fontManager.ttflist}
        for name in CJK_FONTS:
            if name in installed:
                return name
        if attempt == 0:
            add_system_cjk_fonts()
    print("paperpress: no CJK font found; Chinese chart labels will show as boxes "
          "(install one, e.g. apt-get install fonts-wqy-microhei)", file=sys.stderr)
    return None


@functools.cache
def apply_style() -> None:
    """Set the shared chart style once per process."""
    cjk = find_cjk_font()
    plt.rcParams.update({
        "font.family": "sans-serif",
        "font.sans-serif": ([cjk] if cjk else []) + ["DejaVu Sans"],
        "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.titleweight": "normal",  # CJK fonts often have one weight only
        "axes.titlesize": 12,
        "font.size": 11,
        "axes.labelsize": SMALL,
        "xtick.labelsize": SMALL,
        "ytick.labelsize": SMALL,
        "legend.fontsize": SMALL,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "figure.dpi": 100,
        "savefig.dpi": 110,
        "savefig.bbox": "tight",
        "svg.hashsalt": "paperpress",
    })


@dataclass(frozen=True)
class Chart:
    """A rendered chart: PNG bytes, its alt text and file name; displays itself in a notebook."""

    name: str
    png: bytes
    alt: str
    series: tuple[str, ...] = ()  # what was plotted (rows of a heatmap, bars), for tests and alt text
    file: str = ""  # charts/<name>.png once saved beside the page (relative to it), else ''

    def markdown(self) -> str:
        """The saved chart as a Markdown image whose alt text Quarto uses: `![](charts/x.png){fig-alt="…"}`."""
        # Quarto ignores an output's metadata alt and gives a notebook image only the cell's fig-alt
        # (quarto-cli src/core/jupyter/jupyter.ts, mdImageOutput: `![${caption}](file){fig-alt=…}`); an image
        # with a caption becomes a figure whose <img> loses it (src/resources/filters/layout/html.lua,
        # htmlImageFigure clears image.caption). So: no caption, and our alt in `fig-alt`, which Quarto's
        # src/resources/filters/quarto-post/html.lua (Image) turns into the alt attribute.
        assert self.file, "save the chart first (save_chart with an output folder)"
        return f"![]({self.file}){{fig-alt={quote_attribute(self.alt)}}}"

    def _repr_mimebundle_(self, include=None, exclude=None):
        if self.file:  # a page being built: a Markdown image of the file beside it (one output for `output: asis`)
            return {"text/markdown": self.markdown(), "text/plain": self.alt}, {}
        data = {"image/png": base64.b64encode(self.png).decode("ascii"), "text/plain": self.alt}
        return data, {"image/png": {"alt": self.alt}}  # interactive use: the PNG itself, inline

    def save(self, folder: str | Path) -> Path:
        """Write the PNG as charts/<name>.png under folder."""
        path = Path(folder) / "charts" / f"{self.name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.png)
        return path


def smallest_text(fig) -> float:
    """The smallest font size (points) of the text a figure shows: what a phone's reader has to read."""
    sizes = [t.get_fontsize() for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text().strip()]
    return min(sizes, default=0.0)


def render_png(fig) -> bytes:
    """PNG bytes of a figure, without the metadata that would change between versions.

    The PNG carries its smallest font size (`paperpress:min-font-pt`) beside its dpi (pHYs): a browser test
    turns them into CSS pixels at the width a page shows the image.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None, "paperpress:min-font-pt": f"{smallest_text(fig):g}"})
    plt.close(fig)
    return buffer.getvalue()


def put_title(ax, title: str) -> None:
    """A chart title, left-aligned above the axes."""
    # A fixed y skips matplotlib's automatic title placement, which measures every tick label again
    # (a third of a trends page's chart time); nothing is drawn above the axes that it would avoid.
    ax.set_title(title, loc="left", y=1.0)


def plot_bars(table: pd.DataFrame, label: str, title: str, xlabel: str, colors: list[str] | None = None,
              legend: dict[str, str] | None = None):
    """A horizontal bar chart of a (label, papers) table, largest on top; legend maps names to colours."""
    apply_style()
    fig, ax = plt.subplots(figsize=(WIDTH, 1.2 + 0.35 * max(len(table), 1)), layout="constrained")
    draw_bars(ax, table, label, title, xlabel, colors, legend)
    return fig


def draw_bars(ax, table: pd.DataFrame, label: str, title: str, xlabel: str, colors: list[str] | None = None,
              legend: dict[str, str] | None = None) -> None:
    """Draw the bars of plot_bars on an existing axes (xlabel is the message when the table is empty)."""
    if table.empty:
        ax.text(0.5, 0.5, xlabel, ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    else:
        rows = table.iloc[::-1]
        ax.barh(range(len(rows)), rows["papers"], color=(colors[::-1] if colors else PALETTE[0]))
        ax.set_yticks(range(len(rows)), [cut_label(name) for name in rows[label]])
        ax.set_xlabel(xlabel)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(axis="y", visible=False)
        if legend:  # right of the axes: inside, it covered the shortest bars
            handles = [matplotlib.patches.Patch(color=c, label=name) for name, c in legend.items()]
            ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)
    put_title(ax, title)


def save_chart(chart: Chart, output_dir: str) -> Chart:
    """Save the chart beside the page when there is an output folder; return it for display (linked once saved)."""
    if not output_dir:
        return chart
    chart.save(output_dir)
    return dataclasses.replace(chart, file=f"charts/{chart.name}.png")


def family_colours(families) -> dict[str, str]:
    """Colour of each family present, fixed by vocabulary order so a family keeps its colour in every post."""
    order = [*trends.family_order(), "other"]
    present = set(families)
    return {f: PALETTE[i % len(PALETTE)] for i, f in enumerate(order) if f in present}


# --- trends over time -----------------------------------------------------------------------------


def cut_label(label, limit: int = 28) -> str:
    """A row label short enough to leave the bars room on a phone (the alt text keeps it whole)."""
    text = str(label)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def pick_rotation(labels, ax) -> int:
    """Upright period labels when they fit side by side at 10 pt, else turned 90°."""
    width = 0.75 * ax.figure.get_figwidth()  # inches of the axes, about (the layout places them at draw time)
    return 0 if sum(len(str(label)) + 1.5 for label in labels) * 0.09 < width else 90


QUIET = {"facecolor": "#f4f4f4", "edgecolor": "#b0b0b0", "hatch": "///", "linewidth": 0}  # a period without posts


def mark_quiet(ax, table: pd.DataFrame, quiet, words: dict, low: float, high: float) -> None:
    """Hatch the periods in which the topic has no post at all, with a legend: "no posts", not a count of 0."""
    columns = [i for i, c in enumerate(table.columns) if c in set(quiet)]
    for c in columns:
        ax.fill_between([c - 0.5, c + 0.5], low, high, zorder=3, **QUIET)
    if columns:  # right of the title line: the title is left-aligned
        handle = matplotlib.patches.Patch(label=words["no_posts"], **QUIET)
        ax.legend(handles=[handle], loc="lower right", bbox_to_anchor=(1, 1.0), frameon=False, fontsize=9,
                  borderaxespad=0.2)


class CellText(matplotlib.text.Text):
    """The number in a heatmap's cell: no part of the layout, so not laid out by savefig's layout-only pass."""

    def draw(self, renderer):
        # savefig first draws the figure with the renderer's draw_* methods swapped for no-ops on the instance
        # (matplotlib RendererBase._draw_disabled) to lay it out and measure it; a text with in_layout=False
        # counts for neither, and laying out a heatmap's numbers there cost a tenth of its charts' time. Should
        # matplotlib mark that pass differently, the numbers are laid out there again: slower, never wrong.
        if "draw_text" in vars(renderer):
            return
        super().draw(renderer)


def plot_heatmap(table: pd.DataFrame, title: str, xlabel: str, ylabel: str, words: dict, quiet=()):
    """Rows × periods as a heatmap with the count in each non-empty cell; quiet periods hatched as "no posts"."""
    apply_style()
    rows, cols = table.shape if not table.empty else (1, 1)
    fig, ax = plt.subplots(figsize=(WIDTH, 1.4 + 0.42 * rows), layout="constrained")
    put_title(ax, title)
    if table.empty or not table.to_numpy().any():
        ax.text(0.5, 0.5, words["empty"], ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    values = table.to_numpy()
    image = ax.imshow(values, aspect="auto", cmap=HEATMAP, vmin=0)
    ax.set_xticks(range(cols), table.columns, rotation=pick_rotation(table.columns, ax))
    ax.set_yticks(range(rows), [cut_label(label) for label in table.index])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(False)
    if cols > MAX_ANNOTATED:  # no numbers in the cells: the colour scale has to say what a colour means
        mark_quiet(ax, table, quiet, words, -0.5, rows - 0.5)
        bar = fig.colorbar(image, ax=ax, fraction=0.03, pad=0.02)
        bar.set_label(words["papers"])
        bar.locator = matplotlib.ticker.MaxNLocator(integer=True)  # counts of papers: no 0.5 ticks
        bar.update_ticks()
        return fig
    mark_quiet(ax, table, quiet, words, -0.5, rows - 0.5)
    for (r, c), value in np.ndenumerate(values):
        if value:  # dark cells get light text: the scale runs from dark blue to yellow
            colour = "white" if value < values.max() * 0.6 else "black"
            ax.add_artist(CellText(c, r, str(value), ha="center", va="center", fontsize=SMALL, color=colour,
                                   in_layout=False, clip_on=False, transform=ax.transData))
    return fig


def plot_columns(table: pd.DataFrame, title: str, xlabel: str, ylabel: str, empty: str, words: dict | None = None,
                 quiet=()):
    """One row of counts per period as vertical bars; quiet periods hatched as "no posts"."""
    apply_style()
    cols = table.shape[1] if not table.empty else 1
    fig, ax = plt.subplots(figsize=(WIDTH, 3.2), layout="constrained")
    put_title(ax, title)
    if table.empty:
        ax.text(0.5, 0.5, empty, ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    ax.bar(range(cols), table.iloc[0].to_numpy(), color=PALETTE[0])
    ax.set_xticks(range(cols), table.columns, rotation=pick_rotation(table.columns, ax))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.grid(axis="x", visible=False)
    if words:
        mark_quiet(ax, table, quiet, words, 0, ax.get_ylim()[1])
    return fig


def plot_changes(changes: list[dict], needed: float | None, title: str, words: dict):
    """Rising (blue, right) and fading (orange, left) terms as horizontal bars of their z, the threshold dashed."""
    apply_style()
    fig, ax = plt.subplots(figsize=(WIDTH, 1.6 + 0.34 * max(len(changes), 1)), layout="constrained")
    put_title(ax, title)
    if not changes:
        ax.text(0.5, 0.5, words["no_change"], ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    rows = changes[::-1]  # barh draws bottom up: the strongest rise ends on top
    labels = [f"{cut_label(c['term'], 24)} · {words['k_' + c['kind']]} ({c['now']} {words['vs']} {c['before']})" for c in rows]
    scores = [c["score"] for c in rows]
    ax.barh(range(len(rows)), scores, color=[PALETTE[0] if z > 0 else PALETTE[1] for z in scores])
    ax.set_yticks(range(len(rows)), labels)
    ax.axvline(0, color="#444", linewidth=0.8)
    if needed:
        for x in (-needed, needed):
            ax.axvline(x, color="#444", linewidth=0.8, linestyle="--")
    ax.set_xlabel(words["change"])
    ax.grid(axis="y", visible=False)
    drawn = (("rising", PALETTE[0], max(scores) > 0), ("fading", PALETTE[1], min(scores) < 0))
    handles = [matplotlib.patches.Patch(color=colour, label=words[f"{name}_legend"]) for name, colour, shown in drawn if shown]
    # Below the axes: inside, it would cover a bar whichever corner it took; beside them, it narrowed the bars.
    fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False)
    return fig


def describe_rows(table: pd.DataFrame, quiet=(), no_posts: str = "") -> str:
    """Alt text of a rows × periods table: each row's counts, period by period ("no posts" for quiet periods)."""
    if table.empty:
        return ""
    span = f"{table.columns[0]} – {table.columns[-1]}"
    shown = [no_posts if c in set(quiet) and no_posts else None for c in table.columns]

    def cells(values) -> str:
        return ", ".join(q or str(v) for q, v in zip(shown, values))

    rows = "; ".join(f"{name}: {cells(values)}" for name, values in zip(table.index, table.to_numpy()))
    return f" ({span}) {rows}"


def period_words(table: pd.DataFrame, words: dict) -> tuple[str, str]:
    """The period's name and axis label of an over-time table (weeks have full dates as labels)."""
    freq = "W" if len(table.columns) and len(str(table.columns[0])) == 10 else "M"
    return words[freq], words[f"{freq}_axis"]


def named_families(t: trends.Trends, recent: bool = False) -> pd.DataFrame:
    """The families-over-time table with each family named in the topic's language."""
    table = trends.family_over_time(t, recent=recent)
    return table.rename(index=lambda family: family_name(family, t.language))


def describe_families(t: trends.Trends, recent: bool = False) -> str:
    """Alt text of the families heatmap: its title and each family's counts (also the trends page's thumbnail's)."""
    words = LABELS[t.language]
    table = named_families(t, recent)
    quiet = trends.quiet_periods(t, table)
    return words["families"].format(period=period_words(table, words)[0]) + describe_rows(table, quiet, words["no_posts"])


def plot_families(t: trends.Trends, output_dir: str = "", recent: bool = False) -> Chart:
    """Heatmap of papers per method family and period (the post's window, or the whole archive)."""
    words = LABELS[t.language]
    table = named_families(t, recent)
    period, axis = period_words(table, words)
    fig = plot_heatmap(table, words["families"].format(period=period), axis, words["family"], words,
                       trends.quiet_periods(t, table))
    alt = describe_families(t, recent)
    return save_chart(Chart("families", render_png(fig), alt, tuple(table.index)), output_dir)


def plot_papers(t: trends.Trends, output_dir: str = "", recent: bool = False) -> Chart:
    """Bars of papers per period; a period without any post is drawn as "no posts", not as 0."""
    words = LABELS[t.language]
    table = trends.papers_over_time(t, recent=recent)
    period, axis = period_words(table, words)
    title = words["papers_over"].format(period=period)
    quiet = trends.quiet_periods(t, table)
    fig = plot_columns(table, title, axis, words["papers"], words["empty"], words, quiet)
    alt = title + describe_rows(table.rename(index={"papers": words["papers"]}), quiet, words["no_posts"])
    return save_chart(Chart("papers", render_png(fig), alt, tuple(table.index)), output_dir)


def plot_keyword_trend(t: trends.Trends, output_dir: str = "", top: int = 10) -> Chart:
    """Heatmap of the archive's most frequent keywords per period."""
    words = LABELS[t.language]
    table = trends.top_keywords_over_time(t, top)
    period, axis = period_words(table, words)
    title = words["keywords_over"].format(period=period)
    quiet = trends.quiet_periods(t, table)
    fig = plot_heatmap(table, title, axis, words["keyword"], words, quiet)
    alt = title + describe_rows(table, quiet, words["no_posts"])
    return save_chart(Chart("keywords-over-time", render_png(fig), alt, tuple(table.index)), output_dir)


def plot_rising(t: trends.Trends, output_dir: str = "", top: int = 8) -> Chart:
    """Diverging bars of the rising and fading terms of trends.json (every kind), strongest at the ends."""
    words = LABELS[t.language]
    data = trends.changes_data(t)
    changes = [*data["rising"][:top], *data["fading"][:top][::-1]]
    changes = [{**c, "term": family_name(c["term"], t.language)} if c["kind"] == "family" else c for c in changes]
    title = words["rising"].format(days=t.window_days)
    fig = plot_changes(changes, data["statistic"]["needed"], title, words)
    alt = title + ": " + (", ".join(f"{c['term']} ({words['k_' + c['kind']]}) z {c['score']:+.1f} "
                                    f"({c['now']} {words['vs']} {c['before']})" for c in changes) or words["no_change"])
    return save_chart(Chart("rising", render_png(fig), alt, tuple(c["term"] for c in changes)), output_dir)


def plot_affiliations(t: trends.Trends, output_dir: str = "", recent: bool = False, top: int = 10) -> Chart:
    """Bars of the most frequent institutions and, below (whole archive only), of their countries."""
    apply_style()
    words = LABELS[t.language]
    tables = [(trends.top_affiliations(t, top, recent=recent)[["affiliation", "papers"]], "affiliation", "affiliations")]
    if not recent:
        tables.append((trends.top_countries(t, top), "country", "countries"))
    heights = [1.0 + 0.35 * max(len(table), 1) for table, _l, _w in tables]
    # One figure for both: a figure costs a layout pass whatever it holds.
    gap = 1.0  # inches between the panels: the upper x label and the lower title
    fig, axes = plt.subplots(len(tables), 1, figsize=(WIDTH, sum(heights) + gap * (len(tables) - 1)),
                             height_ratios=heights, squeeze=False, layout="constrained")
    for ax, (table, label, key) in zip(axes[:, 0], tables):
        draw_bars(ax, table, label, words[key], words["papers"] if len(table) else words["empty"])
    alt = ". ".join(f"{words[key]}: " + ", ".join(f"{name} ({n})" for name, n in table.itertuples(index=False))
                    for table, _label, key in tables)
    series = tuple(name for table, label, _key in tables for name in table[label])
    return save_chart(Chart("affiliations", render_png(fig), alt, series), output_dir)
