"""`paperpress doctor`: check the machine and the project, and say what to fix."""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
from contextlib import redirect_stderr
from pathlib import Path
from typing import Callable

from .config import PaperpressError, load_settings, load_topics

Check = tuple[str, str, str]  # (status: ok/warn/fail, what, detail or what to do)


def check_python() -> Check:
    """Python 3.11 or newer."""
    version = ".".join(map(str, sys.version_info[:3]))
    return ("ok" if sys.version_info >= (3, 11) else "fail", "Python", version if sys.version_info >= (3, 11)
            else f"{version}: paperpress needs Python 3.11+")


def check_kernel() -> Check:
    """The Jupyter kernel papermill starts ('python3') exists and can import paperpress."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        return ("fail", "kernel", "no 'python3' kernel: run `python -m ipykernel install --sys-prefix`")
    python = spec.argv[0]
    if python in ("python", "python3", "{python}"):
        python = sys.executable
    return ("ok", "kernel", f"python3 → {python}")


def check_renderer() -> Check:
    """Quarto, or the pandoc preview when Quarto is missing."""
    quarto = shutil.which("quarto")
    if quarto:
        return ("ok", "renderer", f"quarto at {quarto}")
    try:
        import pypandoc

        version = pypandoc.get_pandoc_version()
    except (ImportError, OSError) as exc:
        return ("fail", "renderer", f"neither quarto nor pandoc ({exc}): pip install pypandoc-binary")
    return ("warn", "renderer", f"no quarto: `paperpress render` builds a pandoc {version} preview; "
            "install Quarto to render and publish the full site")


def check_font() -> Check:
    """A CJK font, so Chinese chart labels are not boxes."""
    from . import charts

    with redirect_stderr(io.StringIO()):  # find_cjk_font warns itself; doctor says it its own way
        font = charts.find_cjk_font()
    if font:
        return ("ok", "CJK font", font)
    return ("warn", "CJK font", "none: Chinese chart labels show as boxes (apt-get install fonts-wqy-microhei)")


def check_key() -> Check:
    """A Gemini key is configured (never shown)."""
    settings = load_settings()
    if settings.has_key:
        return ("ok", "Gemini key", "set (not shown)")
    return ("warn", "Gemini key", "not set: live runs need GEMINI_API_KEY in the environment or .env; --offline works")


def check_topics(path: str) -> Check:
    """The topics file is valid."""
    try:
        topics = load_topics(path)
    except PaperpressError as exc:
        return ("fail", "topics", str(exc))
    return ("ok", "topics", f"{path}: {len(topics)} topics ({', '.join(topics)})")


def check_writable(posts_dir: str) -> Check:
    """Posts and the work folder can be written."""
    for folder in (Path(posts_dir), Path(".paperpress")):
        probe = folder if folder.exists() else folder.parent
        if not os.access(probe, os.W_OK):
            return ("fail", "write access", f"{probe} is not writable")
    return ("ok", "write access", f"{posts_dir}/ and .paperpress/")


def check_template() -> Check:
    """The post template is where `paperpress run` looks for it."""
    path = Path("notebooks/digest.ipynb")
    if path.is_file():
        return ("ok", "template", str(path))
    return ("fail", "template", f"{path} not found: run paperpress from the project folder")


def check_browser() -> Check:
    """Chromium for the browser tests (optional)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return ("ok", "browser", found)
    return ("warn", "browser", "no chromium: browser tests are skipped (apt-get install chromium)")


def run_doctor(args: argparse.Namespace) -> int:
    """Run every check, print one line each; exit 1 when any check fails."""
    checks: list[Callable[[], Check]] = [
        check_python, check_kernel, check_template, lambda: check_topics(args.topics_file),
        lambda: check_writable(args.posts_dir), check_key, check_renderer, check_font, check_browser,
    ]
    results = [check() for check in checks]
    for status, what, detail in results:
        print(f"{status:>4}  {what:13} {detail}")
    failed = [r for r in results if r[0] == "fail"]
    print(f"paperpress doctor: {len(failed)} problem(s)" if failed else "paperpress doctor: ready")
    return 1 if failed else 0
