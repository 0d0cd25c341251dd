"""Figures of a PDF: found by their captions, the page region above each rendered with PDFium, cached by PDF bytes."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Sequence

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image, ImageChops, ImageDraw

from .records import Figure
from .text import cut_text

log = logging.getLogger(__name__)

FIGURES_DIR = "figures"  # under the post folder; Figure.path is relative to that folder
MAX_FIGURES = 6
FIGURE_PAGES = 10  # the main figures sit early in a paper
MIN_FIGURE_SIDE = 120  # px: smaller images are logos, icons and bits of equations
MIN_FIGURE_AREA = 40_000
MAX_FIGURE_WIDTH = 1200  # px: the blog shows figures at most this wide
MAX_FIGURE_HEIGHT = 1600
WEBP_QUALITY = 82
FLAT_COLOURS = 4096
FIGURE_SECONDS = 4.0  # per paper, finding and rendering together
FIGURES_VERSION = 1  # bump when the figures found for the same bytes change: the cache is keyed by it
RENDER_SCALE = 2.0  # 144 dpi: a 6 pt label is 12 px high
HEADER_BAND = 0.06  # top share of a page that holds the running head
LONG_LINE = 0.25  # of the page width: lines that tell the layout
LAYOUT_LINES = 3
BODY_WIDTH = 0.6  # of its column: a line of running text
LEADING = 0.6  # of a line's height: the widest gap between two lines of one block
SPAN_PAD = 6.0  # pt: figures may reach a little past the text area
MAX_LINE_HEIGHT = 24.0  # pt: taller, narrow text boxes are vertical text
MIN_REGION = 24.0  # pt: a flatter area above a caption holds no figure
MAX_CAPTION_LINES = 12
MAX_CAPTION = 1000
INK_LEVEL = 245  # grey level below which a rendered pixel counts as ink
MAX_TEXT_INK = 0.85  # a crop with this share of its ink on text lines is text, not a figure
CROP_PAD = 3.0  # pt of white kept around a trimmed crop
MIN_CROP = 16.0  # pt: a thinner crop is a rule or a stray mark
SCAN_SHARE = 0.7  # of a page's area: an image this large is a scanned page

FIGURE_CAPTION = re.compile(r"^(?:Figure|FIGURE|Fig\.|FIG\.)\s*(\d+)\s*[:.|]")  # IEEE writes "Fig. 1."
TABLE_CAPTION = re.compile(r"^(?:Table|TABLE)\s*(?:\d+|[IVX]+)\s*[:.|]")


Box = tuple[float, float, float, float]  # left, bottom, right, top in PDF points (origin at the bottom left)


class Line(NamedTuple):
    """A line of text on a page: its box and its text."""

    left: float
    bottom: float
    right: float
    top: float
    text: str


@dataclass(frozen=True)
class Layout:
    """A page's text area and, for two columns, the x where they split."""

    left: float
    right: float
    split: float | None = None
    leading: float = 0.0  # pt: the usual gap between two lines of running text


class Region(NamedTuple):
    """The area of a captioned figure on a page (0-based), its number and caption, and the text lines inside it."""

    page: int
    number: int
    caption: str
    box: Box
    lines: tuple[Box, ...]


@dataclass(frozen=True)
class Rendered:
    """An encoded figure, ready to be saved beside a post or in the cache."""

    ext: str
    data: bytes
    alt: str
    caption: str
    width: int
    height: int


def flatten(image: Image.Image) -> Image.Image:
    """An RGB or greyscale image, transparency composited on white."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        base = Image.new("RGB", rgba.size, "white")
        base.paste(rgba, mask=rgba.getchannel("A"))
        return base
    return image if image.mode in ("L", "RGB") else image.convert("RGB")


def write_if_changed(path: Path, data: bytes) -> None:
    """Write bytes unless the file already holds them (reruns leave files untouched)."""
    if path.is_file() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def encode_image(image: Image.Image, alt: str, caption: str = "") -> Rendered:
    """WebP sized for the blog: lossless for few colours (diagrams, plots stay crisp), lossy for photographs."""
    image = flatten(image)
    if image.width > MAX_FIGURE_WIDTH:
        image = image.resize((MAX_FIGURE_WIDTH, round(image.height * MAX_FIGURE_WIDTH / image.width)), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    flat = image.getcolors(FLAT_COLOURS) is not None  # anti-aliased vector art has hundreds of colours, photos far more
    # No metadata is written and libwebp is deterministic: the same image gives the same bytes. A low lossless
    # effort costs a few per cent of size and saves most of the time.
    options = {"lossless": True, "quality": 50, "method": 2} if flat else {"quality": WEBP_QUALITY, "method": 4}
    image.save(buffer, "WEBP", **options)
    return Rendered("webp", buffer.getvalue(), alt, caption, image.width, image.height)


def save_rendered(figure: Rendered, post_dir: Path, stem: str) -> Figure:
    """Write an encoded figure under post_dir/figures and describe it as a Figure."""
    name = f"{stem}.{figure.ext}"
    write_if_changed(post_dir / FIGURES_DIR / name, figure.data)
    return Figure(path=f"{FIGURES_DIR}/{name}", alt=figure.alt, caption=figure.caption, width=figure.width, height=figure.height)


def joins(line: list[float], rect: Box) -> bool:
    """Whether a text rectangle continues a line: the same baseline, less than a letter's height away."""
    height = min(line[3] - line[1], rect[3] - rect[1])
    overlap = min(line[3], rect[3]) - max(line[1], rect[1])
    gap = max(rect[0] - line[2], line[0] - rect[2])
    return overlap >= 0.5 * height and gap <= height


def find_heads(textpage: pdfium.PdfTextPage, boxes: Sequence[Box]) -> set[int]:
    """The lines (indices into boxes) that start with 'fig' or 'table' in any case: the only ones read as text."""
    heads = set()
    for word in ("fig", "table"):
        searcher = textpage.search(word, match_case=False)
        while (hit := searcher.get_next()) is not None:
            left, bottom, _, top = textpage.get_charbox(hit[0])
            middle = (bottom + top) / 2
            heads.update(i for i, box in enumerate(boxes) if box[1] <= middle <= box[3] and abs(left - box[0]) < 2)
    return heads


def read_lines(textpage: pdfium.PdfTextPage) -> list[Line]:
    """A page's horizontal lines of text, top to bottom, from PDFium's text rectangles joined along baselines;
    only lines that may open a caption carry their text (reading text by area scans the whole page each time)."""
    boxes: list[list[float]] = []
    for index in range(textpage.count_rects()):
        rect = textpage.get_rect(index)
        if rect[3] - rect[1] > max(rect[2] - rect[0], MAX_LINE_HEIGHT):
            continue  # vertical text: arXiv's side stamp, rotated axis labels
        if boxes and joins(boxes[-1], rect):
            last = boxes[-1]
            last[:] = [min(last[0], rect[0]), min(last[1], rect[1]), max(last[2], rect[2]), max(last[3], rect[3])]
        else:
            boxes.append(list(rect))
    boxes.sort(key=lambda b: (-b[3], b[0]))
    heads = find_heads(textpage, boxes)
    return [Line(*b, read_text_in(textpage, b) if i in heads else "") for i, b in enumerate(boxes)]


def read_text_in(textpage: pdfium.PdfTextPage, box: Sequence[float]) -> str:
    """The text inside a box, on one line, with the hyphens PDFium marks at line ends joined or restored."""
    text = " ".join(textpage.get_text_bounded(*box).split())
    return re.sub(r"[\x02\ufffe] ", "", text).replace("\x02", "-").replace("\ufffe", "-")


def measure_leading(long: Sequence[Line]) -> float:
    """The usual gap between a line of running text and the next (median of gaps under two line heights)."""
    gaps = []
    for index, upper in enumerate(long):
        lower = next((line for line in long[index + 1 :] if overlaps(line, (upper.left, upper.right))), None)
        if lower is not None and 0 <= upper.bottom - lower.top <= 2 * (lower.top - lower.bottom):
            gaps.append(upper.bottom - lower.top)
    return statistics.median(gaps) if gaps else 0.0


def find_layout(lines: Sequence[Line], edges: tuple[float, float], previous: Layout | None) -> Layout:
    """A page's text area, column split and leading, from its long lines (a page of floats keeps the last layout)."""
    width = edges[1] - edges[0]
    long = [line for line in lines if line.right - line.left >= LONG_LINE * width]
    if len(long) < LAYOUT_LINES:
        return previous or Layout(edges[0] + 0.08 * width, edges[1] - 0.08 * width)
    left, right = min(line.left for line in long), max(line.right for line in long)
    left, right = min(left, sum(edges) - right), max(right, sum(edges) - left)  # margins are even: ragged text is not
    middle, leading = (left + right) / 2, measure_leading(long)
    first = [line for line in long if line.right <= middle]
    second = [line for line in long if line.left >= middle]
    if len(first) < LAYOUT_LINES or len(second) < LAYOUT_LINES:
        return Layout(left, right, None, leading)
    return Layout(left, right, (max(line.right for line in first) + min(line.left for line in second)) / 2, leading)


def column_of(line: Line, layout: Layout) -> tuple[float, float]:
    """The column a line sits in; the whole text area for a one-column page or a line across the split."""
    if layout.split is None or line.left < layout.split < line.right:
        return layout.left, layout.right
    return (layout.left, layout.split) if line.right <= layout.split else (layout.split, layout.right)


def is_body(line: Line, layout: Layout) -> bool:
    """Whether a line is running text: it fills most of its column (labels in figures are short)."""
    left, right = column_of(line, layout)
    return line.right - line.left >= BODY_WIDTH * (right - left)


def overlaps(line: Line, span: tuple[float, float]) -> bool:
    """Whether a line reaches into a horizontal span."""
    return min(line.right, span[1]) - max(line.left, span[0]) > 1


def follows(upper: Line, lower: Line, layout: Layout) -> bool:
    """Whether `lower` is the next line of `upper`'s text block (no more than the page's line gap below it)."""
    gap = upper.bottom - lower.top
    return -1 <= gap <= max(LEADING * (lower.top - lower.bottom), layout.leading + 1.5)


def split_between(first: Line, second: Line, layout: Layout) -> float:
    """Where two captions side by side part their figures: before the second when they are set flush left
    (each starts its own box), else half-way between their centres (each sits in the middle of its box)."""
    if abs(first.left - column_of(first, layout)[0]) < SPAN_PAD:
        return second.left - SPAN_PAD
    return (first.left + first.right + second.left + second.right) / 4


def caption_spans(starts: Sequence[Line], layout: Layout) -> list[tuple[float, float]]:
    """Each caption's figure span: its column (both for one across the split), shared with captions beside it."""
    spans = []
    for line in starts:
        left, right = column_of(line, layout)
        for other in starts:
            beside = (other.left + other.right) / 2
            if other is line or min(line.top, other.top) <= max(line.bottom, other.bottom) or not left < beside < right:
                continue  # not on the same row of the same column
            if other.left > line.left:
                right = min(right, split_between(line, other, layout))
            else:
                left = max(left, split_between(other, line, layout))
        spans.append((left - SPAN_PAD, right + SPAN_PAD))
    return spans


def is_caption(line: Line) -> bool:
    """Whether a line opens a figure or a table caption."""
    return bool(FIGURE_CAPTION.match(line.text) or TABLE_CAPTION.match(line.text))


def is_boundary(line: Line, layout: Layout) -> bool:
    """Whether a line ends the area of a figure above a caption: running text or another caption."""
    return is_body(line, layout) or is_caption(line)


def find_top(lines: Sequence[Line], index: int, span: tuple[float, float], layout: Layout, limit: float) -> float:
    """Where the area above a caption ends: the bottom of the text block above it in its span, else `limit`."""
    caption = lines[index]
    above = [line for line in lines[:index] if overlaps(line, span) and line.bottom >= caption.top]
    block = min((line for line in above if is_boundary(line, layout)), key=lambda line: line.bottom, default=None)
    top = limit
    while block is not None:  # down the block: a paragraph's short last line is text too
        top = min(top, block.bottom)
        block = next((line for line in above if line.bottom < block.bottom and follows(block, line, layout)), None)
    return top


def read_caption(textpage: pdfium.PdfTextPage, lines: Sequence[Line], index: int, span: tuple[float, float], layout: Layout) -> str:
    """A caption's text: its first line and the lines of the same block under it, within its span."""
    block = [lines[index]]
    for line in lines[index + 1 :]:
        if len(block) == MAX_CAPTION_LINES or line.top < block[-1].bottom - 3 * (line.top - line.bottom):
            break
        if overlaps(line, span) and follows(block[-1], line, layout) and not is_caption(line):
            block.append(line)
    box = (min(line.left for line in block), block[-1].bottom, max(line.right for line in block), block[0].top)
    return cut_text(read_text_in(textpage, box), MAX_CAPTION)


def find_regions(page: pdfium.PdfPage, number: int, previous: Layout | None) -> tuple[list[Region], Layout | None]:
    """The captioned figure areas of a page, and its layout (for the next page)."""
    if page.get_rotation():
        return [], previous  # a landscape page: text boxes and rendering disagree on orientation
    left, bottom, right, top = page.get_cropbox()
    limit = top - (top - bottom) * HEADER_BAND  # the running head is never part of a figure
    textpage = page.get_textpage()
    lines = [line for line in read_lines(textpage) if line.bottom < limit]
    layout = find_layout(lines, (left, right), previous)
    # Body text that wraps at "Figure 3:" passes too: the text block right above leaves it no area.
    starts = [i for i, line in enumerate(lines) if FIGURE_CAPTION.match(line.text)]
    regions = []
    for index, span in zip(starts, caption_spans([lines[i] for i in starts], layout)):
        box = (span[0], lines[index].top + 1, span[1], find_top(lines, index, span, layout, limit) - 1)
        if box[3] - box[1] >= MIN_REGION:
            inside = tuple(line[:4] for line in lines if line.top > box[1] and line.bottom < box[3] and overlaps(line, span))
            caption = read_caption(textpage, lines, index, span, layout)
            regions.append(Region(number, int(FIGURE_CAPTION.match(caption).group(1)), caption, box, inside))
    return regions, layout


def collect_regions(doc: pdfium.PdfDocument, deadline: float) -> list[Region]:
    """Captioned figure areas of the first pages, one per figure number (its first), in figure order."""
    regions: dict[int, Region] = {}
    layout = None
    for number in range(min(FIGURE_PAGES, len(doc))):
        if time.monotonic() > deadline:
            break
        try:
            found, layout = find_regions(doc[number], number, layout)
        except Exception as exc:  # noqa: BLE001 - a page PDFium cannot read gives no figures
            log.info("no figure areas on page %d: %s", number + 1, type(exc).__name__)
            continue
        for region in found:
            regions.setdefault(region.number, region)
    return [regions[n] for n in sorted(regions)]


def ink_mask(image: Image.Image) -> Image.Image:
    """A 1-bit mask of a rendered area's ink (anything darker than near-white)."""
    return image.convert("L").point(lambda v: 255 if v < INK_LEVEL else 0).convert("1")


def text_share(ink: Image.Image, region: Region, scale: float) -> float:
    """The share of an area's ink that lies on its text lines."""
    left, _, _, top = region.box
    text = Image.new("1", ink.size, 0)
    draw = ImageDraw.Draw(text)
    for l, b, r, t in region.lines:
        draw.rectangle(((l - left - 1) * scale, (top - t - 1) * scale, (r - left + 1) * scale, (top - b + 1) * scale), fill=1)
    total = ink.histogram()[-1]
    return ImageChops.logical_and(ink, text).histogram()[-1] / total if total else 1.0


def render_region(page: pdfium.PdfPage, region: Region) -> Image.Image | None:
    """A captioned area rendered by PDFium and trimmed to its ink; None when blank, too small or mostly text."""
    cl, cb, cr, ct = page.get_cropbox()
    left, bottom, right, top = max(region.box[0], cl), max(region.box[1], cb), min(region.box[2], cr), min(region.box[3], ct)
    scale = min(RENDER_SCALE, MAX_FIGURE_WIDTH / (right - left), MAX_FIGURE_HEIGHT / (top - bottom))
    image = page.render(scale=scale, crop=(left - cl, bottom - cb, cr - right, ct - top), draw_annots=False).to_pil()
    ink = ink_mask(image)
    box = ink.getbbox()
    if box is None or text_share(ink, region._replace(box=(left, bottom, right, top)), scale) >= MAX_TEXT_INK:
        return None  # a crop of body text (or of nothing) is no figure
    if min(box[2] - box[0], box[3] - box[1]) < MIN_CROP * scale:
        return None
    pad = round(CROP_PAD * scale)
    return image.crop((max(box[0] - pad, 0), max(box[1] - pad, 0), min(box[2] + pad, image.width), min(box[3] + pad, image.height)))


def is_figure(size: tuple[int, int]) -> bool:
    """Whether an embedded image of this pixel size is big enough to be a figure."""
    width, height = size
    return min(width, height) >= MIN_FIGURE_SIDE and width * height >= MIN_FIGURE_AREA


def is_loose_image(obj: pdfium.PdfObject, page: pdfium.PdfPage, regions: Sequence[Region]) -> bool:
    """Whether an image is a figure of its own: big, outside every captioned area, and no page scan."""
    if not is_figure(obj.get_px_size()):
        return False
    left, bottom, right, top = obj.get_bounds()
    width, height = page.get_size()
    if (right - left) * (top - bottom) >= SCAN_SHARE * width * height:
        return False  # one image over the whole page is a scan, not a figure
    x, y = (left + right) / 2, (bottom + top) / 2
    return not any(r.box[0] <= x <= r.box[2] and r.box[1] <= y <= r.box[3] for r in regions)


def collect_images(doc: pdfium.PdfDocument, regions: Sequence[Region], title: str, room: int, deadline: float) -> list[Rendered]:
    """Up to `room` large raster images outside the captioned areas, in page order (as before captions were read)."""
    figures: list[Rendered] = []
    seen: set[str] = set()
    for number in range(min(FIGURE_PAGES, len(doc)) if room > 0 else 0):
        page = doc[number]
        on_page = [r for r in regions if r.page == number]
        # Objects drawn on the page (not the page's resources, which PDFs may share across pages).
        for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=3):
            if len(figures) == room or time.monotonic() > deadline:
                return figures
            try:
                if not is_loose_image(obj, page, on_page):
                    continue
                image = obj.get_bitmap(render=True).to_pil()  # rendered: the PDF's flips and masks applied
                digest = hashlib.blake2b(image.tobytes(), digest_size=16).hexdigest()  # a logo repeated on every page counts once
                if digest not in seen:
                    seen.add(digest)
                    figures.append(encode_image(image, f"{title}: figure on page {number + 1}"))
            except Exception as exc:  # noqa: BLE001 - an image PDFium cannot decode is skipped
                log.info("skipping an image on page %d: %s", number + 1, type(exc).__name__)
    return figures


def make_figures(doc: pdfium.PdfDocument, title: str) -> list[Rendered]:
    """Up to six figures: the captioned areas in figure order (the teaser first), then loose raster images."""
    deadline = time.monotonic() + FIGURE_SECONDS  # a safety net: the page and figure caps keep the usual cost far lower
    regions = collect_regions(doc, deadline)
    figures: list[Rendered] = []
    for region in regions:
        if len(figures) == MAX_FIGURES or time.monotonic() > deadline:
            break
        try:
            image = render_region(doc[region.page], region)
        except Exception as exc:  # noqa: BLE001 - a page PDFium cannot render is skipped
            log.info("cannot render figure %d: %s", region.number, type(exc).__name__)
            continue
        if image is not None:
            figures.append(encode_image(image, region.caption, region.caption))
    return figures + collect_images(doc, regions, title, MAX_FIGURES - len(figures), deadline)


def cache_folder(data: bytes, cache_dir: Path) -> Path:
    """Where the figures of these PDF bytes are cached (keyed by content and by the figure finder's version)."""
    return Path(cache_dir) / "figures" / f"v{FIGURES_VERSION}" / hashlib.sha256(data).hexdigest()[:40]


def read_cached(folder: Path) -> list[Rendered] | None:
    """Figures cached in a folder, or None when there are none (or they cannot be read)."""
    manifest = folder / "figures.json"
    if not manifest.is_file():
        return None
    try:
        items = json.loads(manifest.read_text(encoding="utf-8"))
        return [Rendered(data=(folder / item.pop("file")).read_bytes(), **item) for item in items]
    except (OSError, ValueError, TypeError, KeyError) as exc:
        log.info("unreadable figure cache %s: %s", folder, type(exc).__name__)
        return None


def write_cached(folder: Path, figures: Sequence[Rendered]) -> None:
    """Cache figures (their files first, the list last, so a half-written cache is never read)."""
    try:
        items = []
        for number, figure in enumerate(figures, 1):
            write_if_changed(folder / f"{number}.{figure.ext}", figure.data)
            items.append({"file": f"{number}.{figure.ext}", "ext": figure.ext, "alt": figure.alt,
                          "caption": figure.caption, "width": figure.width, "height": figure.height})
        folder.mkdir(parents=True, exist_ok=True)
        part = folder / f"figures.json.{os.getpid()}.part"
        part.write_text(json.dumps(items, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(part, folder / "figures.json")
    except OSError as exc:
        log.warning("cannot write the figure cache under %s (%s)", folder, exc.strerror or type(exc).__name__)


def extract_figures(doc: pdfium.PdfDocument, stem: str, title: str, post_dir: Path, cache: Path | None = None) -> list[Figure]:
    """Up to six figures saved under post_dir/figures; taken from the `cache` folder when it holds them."""
    figures = read_cached(cache) if cache else None
    if figures is None:
        figures = make_figures(doc, title)
        if cache:
            write_cached(cache, figures)
    return [save_rendered(figure, post_dir, f"{stem}-{n}") for n, figure in enumerate(figures, 1)]
