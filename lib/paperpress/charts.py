"""Charts: one matplotlib style (colour-blind safe, CJK-capable), PNG bytes with alt text."""

from __future__ import annotations

import base64
import functools
import io
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # charts are files and notebook outputs; never a window
import matplotlib.patches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import font_manager  # noqa: E402

import pandas as pd  # noqa: E402

from .records import Digest  # noqa: E402
from . import trends  # noqa: E402

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
CJK_FONTS = ["Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei",
             "WenQuanYi Zen Hei", "Droid Sans Fallback", "SimHei", "Microsoft YaHei", "PingFang SC"]
LABELS = {
    "en": {"keywords": "Top keywords today", "methods": "Method tags today", "papers": "papers",
           "none": "nothing to show today"},
    "zh": {"keywords": "今日高频关键词", "methods": "今日方法标签", "papers": "论文数", "none": "今日暂无数据"},
}


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

    def _repr_mimebundle_(self, include=None, exclude=None):
        data = {"image/png": base64.b64encode(self.png).decode("ascii"), "text/plain": self.alt}
        return data, {"image/png": {"alt": self.alt}}

    def save(self, folder: str | Path) -> Path:
        """Write the PNG as charts/<name>.png under folder."""
        path = Path(folder) / "charts" / f"{self.name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.png)
        return path


def render_png(fig) -> bytes:
    """PNG bytes of a figure, without the metadata that would change between versions."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def plot_bars(table: pd.DataFrame, label: str, title: str, xlabel: str, colors: list[str] | None = None,
              legend: dict[str, str] | None = None):
    """A horizontal bar chart of a (label, papers) table, largest on top; legend maps names to colours."""
    apply_style()
    height = 1.2 + 0.35 * max(len(table), 1)
    fig, ax = plt.subplots(figsize=(7, height))
    if table.empty:
        ax.text(0.5, 0.5, xlabel, ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    else:
        rows = table.iloc[::-1]
        ax.barh(rows[label], rows["papers"], color=(colors[::-1] if colors else PALETTE[0]))
        ax.set_xlabel(xlabel)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(axis="y", visible=False)
        if legend:
            handles = [matplotlib.patches.Patch(color=c, label=name) for name, c in legend.items()]
            ax.legend(handles=handles, loc="lower right", frameon=False, fontsize=9)
    ax.set_title(title, loc="left")
    return fig


def save_chart(chart: Chart, output_dir: str) -> Chart:
    """Save the chart beside the post when there is an output folder; return it for display."""
    if output_dir:
        chart.save(output_dir)
    return chart


def plot_keywords(digest: Digest, output_dir: str = "") -> Chart:
    """Bar chart of today's most frequent keywords."""
    words = LABELS[digest.language]
    table = trends.keyword_table(digest)
    fig = plot_bars(table, "keyword", words["keywords"], words["papers"] if len(table) else words["none"])
    alt = f"{words['keywords']}: " + ", ".join(f"{k} ({n})" for k, n in table.itertuples(index=False))
    return save_chart(Chart("keywords", render_png(fig), alt), output_dir)


def plot_methods(digest: Digest, output_dir: str = "") -> Chart:
    """Bar chart of today's method tags, coloured by family."""
    words = LABELS[digest.language]
    table = trends.method_table(digest)
    families = sorted(set(table["family"]))
    legend = {f: PALETTE[i % len(PALETTE)] for i, f in enumerate(families)}
    colors = [legend[f] for f in table["family"]]
    fig = plot_bars(table, "method", words["methods"], words["papers"] if len(table) else words["none"], colors, legend)
    alt = f"{words['methods']}: " + ", ".join(f"{m} ({n})" for m, _f, n in table.itertuples(index=False))
    return save_chart(Chart("methods", render_png(fig), alt), output_dir)
