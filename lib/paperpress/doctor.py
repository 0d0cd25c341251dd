"""`paperpress doctor`: check the machine and the project, and say what to fix; `--live` calls each service once."""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import re
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import redirect_stderr
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from .config import (DEFAULT_ARXIV_API_URL, DEFAULT_OPENAI_BASE_URL, NO_OPENALEX_KEY_MESSAGE, PLACEHOLDER_SITE_URL, USER_AGENT,
                     PaperpressError, Settings, blot_secrets, load_settings, load_topics, parse_model, resolve_endpoint)

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
    """Which renderer `paperpress render` will use: Quarto (PATH, or pip's quarto-cli), else the pandoc preview."""
    from .site import find_quarto

    quarto = find_quarto()
    if quarto:
        return ("ok", "renderer", f"quarto at {quarto}: `paperpress render` runs `quarto render`")
    try:
        import pypandoc

        version = pypandoc.get_pandoc_version()
    except (ImportError, OSError) as exc:
        return ("fail", "renderer", f"neither quarto nor pandoc ({exc}): pip install pypandoc-binary")
    return ("warn", "renderer", f"no quarto: `paperpress render` builds the pandoc {version} preview; for the full "
            "site install Quarto (pip install -e '.[quarto]' fetches it from GitHub, or quarto.org)")


def check_site_url(root: str = ".") -> Check:
    """The site's address (the RSS feed needs it) is set, not _quarto.yml's placeholder."""
    from .site import read_config

    setting = load_settings().site_url
    if setting:
        return ("ok", "site-url", f"{setting} (PAPERPRESS_SITE_URL; the publish workflow writes it over _quarto.yml's)")
    url = read_config(Path(root)).get("site-url", "")
    if url and url.rstrip("/") != PLACEHOLDER_SITE_URL:
        return ("ok", "site-url", f"{url} (_quarto.yml)")
    found = f"has the placeholder {url}" if url else "has no site-url"
    return ("warn", "site-url", f"_quarto.yml {found}: the RSS feed's links need the site's address; set site-url "
            "in _quarto.yml (in GitHub Actions: the repository variable SITE_URL)")


def check_font() -> Check:
    """A CJK font, so Chinese chart labels are not boxes."""
    from . import charts

    with redirect_stderr(io.StringIO()):  # find_cjk_font warns itself; doctor says it its own way
        font = charts.find_cjk_font()
    if font:
        return ("ok", "CJK font", font)
    return ("warn", "CJK font", "none: Chinese chart labels show as boxes (apt-get install fonts-wqy-microhei)")


def check_key() -> Check:
    """The configured model's provider has the key it needs (never shown)."""
    settings = load_settings()
    try:
        provider, _model = parse_model(settings.gemini_model)
    except PaperpressError as exc:
        return ("fail", "model", f"PAPERPRESS_MODEL: {exc}")
    if provider == "openai":
        url = settings.openai_base_url or DEFAULT_OPENAI_BASE_URL
        if settings.openai_api_key:
            return ("ok", "model key", f"OPENAI_API_KEY set (not shown), for {url}")
        return ("warn" if url == DEFAULT_OPENAI_BASE_URL else "ok", "model key",
                f"OPENAI_API_KEY not set: fine for a server that needs none ({url}); OpenAI's own needs it")
    if settings.has_key:
        return ("ok", "Gemini key", "set (not shown)")
    return ("warn", "Gemini key", "not set: live runs need GEMINI_API_KEY in the environment or .env; --offline works")


def check_openalex_key() -> Check:
    """An OpenAlex key is configured (never shown)."""
    if load_settings().openalex_api_key:
        return ("ok", "OpenAlex key", "set (not shown)")
    return ("warn", "OpenAlex key", "not set: " + NO_OPENALEX_KEY_MESSAGE.split(": ", 1)[1])


def check_holidays() -> Check:
    """data/holidays.yml has arXiv's holidays of this year, and of the next one from 60 days before it (by read_now)."""
    from . import mailings
    from .config import read_now

    today = read_now().date()
    missing = mailings.missing_holiday_years(today)
    if missing:
        years = " and ".join(map(str, missing))
        return ("warn", "holidays", f"lib/paperpress/data/holidays.yml lacks arXiv's holidays of {years}: copy "
                "them from https://info.arxiv.org/help/availability.html once arXiv publishes them (until then "
                "the weekday rule alone plans mailings)")
    known = [y for y in (today.year, today.year + 1) if mailings.holidays_known(y)]
    return ("ok", "holidays", f"arXiv's holidays of {' and '.join(map(str, known))} known")


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


# --- one real call to each service (--live) -------------------------------------------------------

KNOWN_PAPER = "1706.03762"  # "Attention Is All You Need": indexed by OpenAlex, a 2 MB PDF
KNOWN_VERSION = "v7"
ARXIV_QUERY = 'ti:"Attention Is All You Need" AND au:Vaswani'
LIVE_TIMEOUT = (5.0, 15.0)  # connect, read (s): four calls at once stay well under a minute
PDF_DEADLINE = 30.0
GEMINI_TIMEOUT_S = 30.0
PROBE_ABSTRACT = ("The dominant sequence transduction models are based on complex recurrent or convolutional neural "
                  "networks. We propose a new simple network architecture, the Transformer, based solely on attention "
                  "mechanisms, dispensing with recurrence and convolutions entirely.")


ERRNO = re.compile(r"\[Errno -?\d+\] [^'\")\]]+")


def root_cause(exc: BaseException) -> BaseException:
    """The exception at the bottom of a chain of wrappers (a refused connection under three layers of HTTP)."""
    while True:
        below = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
        if below is None:
            return exc
        exc = below


def network_error(exc: BaseException) -> str:
    """A network exception as a short line: its type and the root reason ('[Errno 111] Connection refused')."""
    root = root_cause(exc)
    errno = ERRNO.search(str(root))
    reason = errno.group(0).strip() if errno else " ".join(str(root).split())[:160] or type(root).__name__
    return f"{type(exc).__name__}: {reason}"


def describe_error(exc: BaseException) -> str:
    """A failed check as one line: our message (with the reason a retry wrapper hid), else the exception's."""
    if not isinstance(exc, PaperpressError):
        return network_error(exc)
    text = " ".join(str(exc).split())
    root = root_cause(exc)
    return text if root is exc else f"{text} ({network_error(root)})"


def timed(what: str, check: Callable[[], str]) -> Check:
    """Run one live check: ok with what it found and how long it took, or fail with the exact error."""
    started = time.monotonic()
    try:
        detail = check()
    except Exception as exc:  # noqa: BLE001 - any failure is the finding, said as it is
        return ("fail", what, describe_error(exc))
    return ("ok", what, f"{detail} ({time.monotonic() - started:.1f} s)")


def live_arxiv(settings: Settings) -> str:
    """A one-result query for a known paper through the arXiv client paperpress uses."""
    from .arxiv_api import ArxivClient

    client = ArxivClient(settings.arxiv_api_url, delay=0.0, tries=2, timeout=LIVE_TIMEOUT, backoff=1.0)
    papers, total = client.fetch_page(ARXIV_QUERY, 0, 1)
    if not papers:
        raise PaperpressError(f"{settings.arxiv_api_url} answered with no paper for {ARXIV_QUERY} ({total} in total)")
    return f"{papers[0].versioned_id} “{papers[0].title}” from {settings.arxiv_api_url}"


def known_pdf_url(settings: Settings) -> str:
    """The known paper's PDF: on arxiv.org, or beside a custom API (a mirror, a test's fake) on its host."""
    if settings.arxiv_api_url == DEFAULT_ARXIV_API_URL:
        return f"https://arxiv.org/pdf/{KNOWN_PAPER}{KNOWN_VERSION}"
    parts = urlsplit(settings.arxiv_api_url)
    return f"{parts.scheme}://{parts.netloc}/pdf/{KNOWN_PAPER}{KNOWN_VERSION}"


class RecordingClient:
    """The arXiv client as pdf.download_pdf uses it, keeping the HTTP status or error it hides behind a status."""

    def __init__(self, client):
        self.client, self.found = client, ""

    def get(self, url: str, **kwargs):
        """client.get, noting what came back."""
        try:
            response = self.client.get(url, **kwargs)
        except Exception as exc:
            self.found = network_error(exc)
            raise
        self.found = f"HTTP {response.status_code} {response.reason or ''}".strip()
        return response


def live_pdf(settings: Settings) -> str:
    """One PDF download through pdf.download_pdf."""
    from .arxiv_api import ArxivClient
    from .pdf import download_pdf

    url = known_pdf_url(settings)
    client = RecordingClient(ArxivClient(settings.arxiv_api_url, delay=0.0))
    status, data = download_pdf(url, client, timeout=LIVE_TIMEOUT, deadline=PDF_DEADLINE)
    if status != "ok":
        raise PaperpressError(f"{url}: {status} ({client.found or 'no answer'})")
    size = f"{len(data) / 2**20:.1f} MB" if len(data) >= 2**20 else f"{len(data) / 1024:.0f} kB"
    return f"{size} from {url}"


def live_openalex(settings: Settings) -> str:
    """The known paper's work, looked up by its arXiv DOI as paperpress does."""
    import requests

    from .affiliations import ARXIV_DOI, openalex_params, parse_openalex

    url = f"{settings.openalex_url.rstrip('/')}/works/doi:{ARXIV_DOI.format(KNOWN_PAPER)}"
    try:
        response = requests.get(url, params=openalex_params(settings), timeout=LIVE_TIMEOUT,
                                headers={"User-Agent": USER_AGENT})
    except requests.RequestException as exc:  # its text may repeat the URL with the key: blotted out
        where = settings.openalex_url.rstrip("/")
        raise PaperpressError(blot_secrets(f"OpenAlex unreachable at {where}: {network_error(exc)}", settings)) from None
    if response.status_code != 200:  # the server's message may repeat what it was sent, the key too
        body = " ".join(blot_secrets(response.text, settings).split())[:200]
        raise PaperpressError(f"{url}: HTTP {response.status_code} {body}")
    work = response.json()
    return f"{work.get('id', '?')} with {len(parse_openalex(work))} institution(s), from {settings.openalex_url}"


def live_model(settings: Settings) -> str:
    """One small structured call to the configured provider, with the backend, schema and checks a run uses."""
    from .llm import AnswerError, PaperFailed, RetryLater, StopRun, build_prompt
    from .llm_run import ask_once
    from .records import Extras, Paper

    endpoint = resolve_endpoint(settings, settings.gemini_model)  # no key: the run's own one-line error
    name = endpoint.model if endpoint.provider == "gemini" else f"{endpoint.model} at {endpoint.base_url}"
    probe = Paper(arxiv_id=KNOWN_PAPER, version=KNOWN_VERSION, title="Attention Is All You Need",
                  authors=("Ashish Vaswani",), abstract=PROBE_ABSTRACT)
    try:
        outcome = ask_once(endpoint, dataclasses.replace(settings, gemini_timeout_s=GEMINI_TIMEOUT_S),
                           build_prompt(probe, Extras(), 500))
    except AnswerError as exc:
        raise PaperpressError(f"{name} answered, but not usably: {exc}") from None
    except (StopRun, PaperFailed, RetryLater) as exc:  # the server's own message: what to fix
        raise PaperpressError(f"{name}: {exc}") from None
    return f"{name}: a valid structured answer, {outcome.usage.total_tokens} tokens"


def model_check_name(settings: Settings) -> str:
    """The live model check's name: the configured provider's."""
    try:
        return "Gemini" if parse_model(settings.gemini_model)[0] == "gemini" else "OpenAI-compatible"
    except PaperpressError:
        return "model"


def run_live(settings: Settings) -> list[Check]:
    """Each service once, at the same time (the slowest sets the time); secrets never printed."""
    checks = {"arXiv": live_arxiv, model_check_name(settings): live_model, "OpenAlex": live_openalex, "PDF": live_pdf}
    with ThreadPoolExecutor(len(checks)) as pool:
        futures = {what: pool.submit(timed, what, lambda check=check: check(settings)) for what, check in checks.items()}
        results = [futures[what].result() for what in checks]
    return [(status, what, scrub(detail, settings)) for status, what, detail in results]


def check_mail(topics_file: str = "topics.yml") -> Check:
    """The e-mail digest: off, or its server and which topics have recipients (never an address or the password)."""
    from .config import load_mail_settings

    try:
        mail = load_mail_settings()
        slugs = list(load_topics(topics_file))
    except PaperpressError as exc:
        return ("fail", "mail", str(exc))
    if not mail.host:
        return ("ok", "mail", "off (opt-in: set SMTP_HOST, SMTP_FROM and PAPERPRESS_MAIL_TO; see README, E-mail digest)")
    counts = {slug: len(mail.recipients(slug)) for slug in slugs if mail.recipients(slug)}
    where = f"{mail.host}:{mail.port} ({mail.tls}{', login' if mail.user else ''})"
    if not counts:
        return ("warn", "mail", f"{where}, but no recipients: set PAPERPRESS_MAIL_TO or PAPERPRESS_MAIL_TO_<SLUG>")
    return ("ok", "mail", f"{where}; recipients: " + ", ".join(f"{slug} {n}" for slug, n in counts.items()))


def scrub(text: str, settings: Settings) -> str:
    """Text without the API key, should a service or library ever echo it."""
    return blot_secrets(text, settings)


def run_doctor(args: argparse.Namespace) -> int:
    """Run every check, print one line each (with --live, one call to each service too); exit 1 when any fails."""
    checks: list[Callable[[], Check]] = [
        check_python, check_kernel, check_template, lambda: check_topics(args.topics_file),
        lambda: check_writable(args.posts_dir), check_key, check_renderer, check_site_url, check_font, check_browser,
        check_openalex_key, check_holidays,
    ]
    checks.append(lambda: check_mail(args.topics_file))
    results = [check() for check in checks]
    if getattr(args, "live", False):
        results += run_live(load_settings())
    for status, what, detail in results:
        print(f"{status:>4}  {what:13} {detail}")
    failed = [r for r in results if r[0] == "fail"]
    print(f"paperpress doctor: {len(failed)} problem(s)" if failed else "paperpress doctor: ready")
    return 1 if failed else 0
