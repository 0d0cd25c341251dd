"""Publishing: an executed notebook in a staging folder becomes a post, moved into place atomically."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import shutil
import sys
from pathlib import Path

import nbformat
import yaml
from nbformat.v4 import new_raw_cell

from .archive import FRONT_MATTER, list_post_dates
from .config import TRENDS_WINDOW_DAYS, PaperpressError, find_topic, load_topics

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3
EXIT_MAIL = 4  # posts published, but some e-mail was not acknowledged by the server: the next run sends it
SEVERITY = [EXIT_OK, EXIT_PARTIAL, EXIT_MAIL, EXIT_FAILED, EXIT_USAGE]  # least to most serious


class RunFailed(Exception):
    """A notebook cell failed: which cell, and the error it raised."""

    def __init__(self, cell_index: int, ename: str, evalue: str):
        super().__init__(f"cell {cell_index}: {ename}: {evalue}")
        self.cell_index, self.ename, self.evalue = cell_index, ename, evalue


KERNEL_LOG = Path(".paperpress/kernel.log")


def make_kernel_manager_class():
    """A kernel manager whose kernel logs to KERNEL_LOG: its start-up chatter never mixes with our one-line errors."""
    from jupyter_client.manager import AsyncKernelManager

    class QuietKernelManager(AsyncKernelManager):
        """Starts the kernel with its stderr (its own log, not cell output) appended to a file."""

        async def start_kernel(self, **kw):
            KERNEL_LOG.parent.mkdir(parents=True, exist_ok=True)
            with open(KERNEL_LOG, "ab") as log:  # the child keeps its own copy of the descriptor
                kw.setdefault("stderr", log)
                return await super().start_kernel(**kw)

    return QuietKernelManager


# What every template imports, loaded by a fresh kernel while the driver still loads papermill. Not
# pyplot: importing it in a kernel would pick the inline backend before charts chooses Agg.
WARM_UP = "import pandas, matplotlib, matplotlib.font_manager, pydantic, paperpress.records"


@contextlib.contextmanager
def open_kernel():
    """A kernel for the pages one command builds (a post, then its trends page), started before papermill loads.

    The pages run one after another in it, so the second one pays no kernel start and no imports; each
    template defines every name it uses, and finalise_notebook numbers cells as a fresh kernel would.
    """
    from jupyter_client import BlockingKernelClient
    from jupyter_core.utils import run_sync

    km = make_kernel_manager_class()(kernel_name="python3")
    run_sync(km.start_kernel)()
    warm = BlockingKernelClient()  # blocking: a send of the async client is not made until its loop runs
    warm.load_connection_info(km.get_connection_info())
    warm.start_channels()
    warm.execute(WARM_UP, silent=True, store_history=False)  # not awaited: papermill's first request queues behind it
    try:
        yield km
    finally:
        warm.stop_channels()
        run_sync(km.shutdown_kernel)(now=True)


def execute_template(template: str | Path, staging: Path, parameters: dict, km=None) -> Path:
    """Run a template with papermill into staging/index.ipynb (in km's kernel if given); raise RunFailed naming the failing cell."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    output = staging / "index.ipynb"
    kernel = {"km": km} if km is not None else {"kernel_manager_class": make_kernel_manager_class()}
    try:
        papermill.execute_notebook(str(template), str(output), parameters=parameters, kernel_name="python3",
                                   progress_bar=False, log_output=False, request_save_on_cell_execute=False, **kernel)
    except PapermillExecutionError as exc:
        raise RunFailed(exc.cell_index, exc.ename, exc.evalue) from None
    return output


def dump_front_matter(matter: dict) -> str:
    """The raw-cell text of front matter: YAML between --- lines."""
    body = yaml.safe_dump(matter, allow_unicode=True, sort_keys=False, width=10_000)
    return f"---\n{body}---"


def finalise_notebook(nb, matter: dict, output_path: str) -> list[str]:
    """Turn an executed notebook into a post: front matter in cell 0, no volatile metadata.

    Returns the stderr text the kernel printed (warnings), which is moved out of the post.
    """
    front = new_raw_cell(dump_front_matter(matter))
    if nb.cells and nb.cells[0].cell_type == "raw":
        nb.cells[0] = front
    else:
        nb.cells.insert(0, front)
    warnings = []
    count = 0
    for index, cell in enumerate(nb.cells):
        cell.id = f"cell-{index}"  # papermill's injected cell gets a random id: make reruns identical
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
        for key in ("execution", "papermill"):  # timings
            cell.metadata.pop(key, None)
        if cell.cell_type == "code" and cell.get("execution_count") is not None:
            count += 1  # a shared kernel counts on from the previous page: number the cells as a fresh one would
            cell.execution_count = count
            for output in cell.outputs:
                if "execution_count" in output:
                    output.execution_count = count
        if not cell.metadata.get("tags", True):
            # papermill gives every cell `tags: []`; Quarto copies such metadata onto a div around the
            # cell, even with `output: asis` (quarto-cli src/core/jupyter/jupyter.ts, mdFromCodeCell:
            # forwardedAttrs → needCell), and a div holding several headings hides them from the TOC.
            del cell.metadata["tags"]
        if cell.cell_type == "code":
            warnings += [o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"]
            cell.outputs = [o for o in cell.outputs if not (o.output_type == "stream" and o.name == "stderr")]
    meta = nb.metadata.get("papermill", {})
    for key in ("start_time", "end_time", "duration"):
        meta.pop(key, None)
    meta["output_path"] = output_path
    return warnings


RENAME_EXCHANGE = 2  # linux/fs.h: renameat2 swaps two paths in one step
AT_FDCWD = -100


def exchange_folders(a: Path, b: Path) -> bool:
    """Swap two folders in one atomic step (Linux renameat2); False where the system or file system cannot."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None) if sys.platform == "linux" else None
    if renameat2 is None:
        return False
    if renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):  # an old kernel or a file system without it
        return False
    raise OSError(code, os.strerror(code), str(a), None, str(b))


def aside_name(final: Path) -> Path:
    """Where the fallback of publish_folder keeps the old folder while the new one moves in."""
    return final.with_name(f".{final.name}.old")


def restore_folder(final: Path) -> None:
    """Put back an old folder that a publish killed between its two renames left aside (final missing)."""
    old = aside_name(final)
    if old.is_dir() and not final.exists():
        old.rename(final)


def publish_folder(staging: Path, final: Path) -> None:
    """Move the finished folder into place, replacing an older one of the same name: final is always old or new, whole.

    Where renameat2 can, staging and final swap in one step and the old folder, now in staging, is
    removed: a kill at any moment leaves the old post or the new one in place. Elsewhere final moves
    aside to .<name>.old, then staging moves in: a kill between the two renames leaves the old post
    whole in .<name>.old, and the next publish of that name puts it back before anything else.
    """
    restore_folder(final)
    old = aside_name(final)
    shutil.rmtree(old, ignore_errors=True)
    if final.exists() and exchange_folders(staging, final):
        shutil.rmtree(staging)  # the old folder
        return
    if final.exists():
        final.rename(old)
    staging.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def finish_post(staging: Path, final: Path, front_matter_file: str = FRONT_MATTER) -> None:
    """Put the kernel's front matter in cell 0, clean the notebook, publish; pass the kernel's warnings on."""
    path = staging / front_matter_file
    if not path.is_file():
        raise PaperpressError(f"the template wrote no {front_matter_file}: its last cell must call "
                              "post.save_front_matter(d, output_dir)")
    matter = json.loads(path.read_text(encoding="utf-8"))
    path.unlink()
    nb = nbformat.read(staging / "index.ipynb", as_version=4)
    warnings = finalise_notebook(nb, matter, (final / "index.ipynb").as_posix())
    nbformat.write(nb, staging / "index.ipynb")
    final.parent.mkdir(parents=True, exist_ok=True)
    publish_folder(staging, final)
    for text in dict.fromkeys(warnings):  # moved out of the page, but the user still sees them
        print(text.rstrip(), file=sys.stderr)


@contextlib.contextmanager
def staging_folder(work: Path, name: str):
    """A fresh work/staging/<name>, locked against a second build of the same name, removed afterwards."""
    from filelock import FileLock

    (work / "locks").mkdir(parents=True, exist_ok=True)
    staging = work / "staging" / name
    with FileLock(work / "locks" / f"{name}.lock"):  # two builds of one page never interleave
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            yield staging
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def report_failure(exc: RunFailed, what: str) -> int:
    """A failed notebook cell: a PaperpressError in the kernel is bad input (exit 2), anything else exit 1."""
    if exc.ename == "PaperpressError":
        raise PaperpressError(exc.evalue) from None
    print(f"paperpress: error: {what} failed at {exc}", file=sys.stderr)
    return EXIT_FAILED


def build_trends_page(topic_slug: str, topics_file: str = "topics.yml", posts_dir: str = "posts",
                      trends_dir: str = "trends", template: str = "notebooks/trends.ipynb",
                      window_days: int = TRENDS_WINDOW_DAYS, end_date: str = "", km=None) -> Path | None:
    """Execute the trends template for a topic into trends_dir/<slug>/index.ipynb; None when it has no posts.

    Written only when the whole notebook succeeded (staging folder, then a swap), like a post; a
    failing cell raises RunFailed (cell index, error name and value) and leaves the old page.
    """
    topic = find_topic(load_topics(topics_file), topic_slug, topics_file)
    if not list_post_dates(posts_dir, topic.slug, end_date):
        return None  # checked before a kernel starts: a topic without posts has no page
    if not Path(template).is_file():
        raise PaperpressError(f"{template}: trends template not found (run from the project folder)")
    final = Path(trends_dir) / topic.slug
    work = Path(trends_dir).parent / ".paperpress"  # beside trends/, so the final rename stays on one disk
    with staging_folder(work, f"trends-{topic.slug}") as staging:
        parameters = {"topic": topic.slug, "topics_file": str(topics_file), "posts_dir": str(posts_dir),
                      "output_dir": staging.as_posix(), "window_days": window_days, "end_date": end_date}
        execute_template(template, staging, parameters, km)
        finish_post(staging, final)
    return final / "index.ipynb"


def rebuild_trends(slug: str, topics_file: str, posts_dir: str, trends_dir: str, km=None) -> int:
    """Rebuild one topic's trends page from its posts (in km's kernel if given); a failure is reported, never hides a post."""
    try:
        page = build_trends_page(slug, topics_file, posts_dir, trends_dir, km=km)
    except RunFailed as exc:
        return report_failure(exc, f"trends page of {slug}")
    if page:
        print(f"paperpress: wrote {page}")
    return EXIT_OK
