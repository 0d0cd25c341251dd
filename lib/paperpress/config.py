"""Settings and topics: read once (environment, .env, topics.yml) and passed explicitly."""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal, Mapping

import yaml
from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from . import __version__

ARXIV_FIRST_DAY = dt.date(1991, 8, 14)
DEFAULT_ARXIV_API_URL = "https://export.arxiv.org/api/query"
DEFAULT_OPENALEX_URL = "https://api.openalex.org"
DEFAULT_MODEL = "gemini-3.5-flash-lite"
# _quarto.yml's site-url until the user sets theirs (doctor warns while it is there).
PLACEHOLDER_SITE_URL = "https://example.github.io/paperpress"
# Named in every request to arXiv and OpenAlex: both ask clients to identify themselves.
USER_AGENT = f"paperpress/{__version__} (daily arXiv digest)"
# Days of the trailing window of a post's archive section and of rising/fading terms (trends pages too).
TRENDS_WINDOW_DAYS = 90


NO_KEY_MESSAGE = (
    "no Gemini API key: set GEMINI_API_KEY (or GOOGLE_API_KEY) in the environment or in .env, "
    "or use --offline (the offline summariser)"
)


class PaperpressError(Exception):
    """A bad input or environment: reported as one line, exit code 2, nothing written."""


class Topic(BaseModel):
    """One topic of topics.yml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,40}$")
    name: str = Field(min_length=1, max_length=80)
    language: Literal["zh", "en"] = "en"
    query: str = Field(min_length=1)
    categories: tuple[str, ...] = ()
    max_papers: int = Field(default=20, ge=1, le=200)  # papers summarised per post; the others are listed briefly
    lookback_days: int = Field(default=7, ge=0, le=31)  # days before a mailing's window searched for late papers
    model: str | None = None
    window_days: None = None  # removed: refused with a message that says what replaced it

    @field_validator("window_days", mode="before")
    @classmethod
    def _no_window_days(cls, value: object) -> None:
        # A silent no-op would leave users believing their posts cover N days.
        raise ValueError("removed: a post now covers one arXiv mailing (see README, 'Posts and mailings'); "
                         "delete it, and set lookback_days for late papers")

    @field_validator("query")
    @classmethod
    def _ascii_query(cls, query: str) -> str:
        # arXiv's search index is ASCII: a non-ASCII query silently matches nothing.
        if not query.isascii():
            raise ValueError("arXiv queries must be ASCII (write the English terms)")
        return query


class TopicsFile(BaseModel):
    """The whole topics.yml: a list of topics under `topics:`."""

    model_config = ConfigDict(extra="forbid")

    topics: list[Topic] = Field(min_length=1)

    @field_validator("topics")
    @classmethod
    def _unique_slugs(cls, topics: list[Topic]) -> list[Topic]:
        slugs = [t.slug for t in topics]
        dupes = sorted({s for s in slugs if slugs.count(s) > 1})
        if dupes:
            raise ValueError(f"duplicate slug(s): {', '.join(dupes)}")
        return topics


def describe_error(path: Path, data: object, err: ValidationError) -> str:
    """One line naming the file, the topic and the field of the first validation error."""
    # An unknown key is most often a typo of the missing one: name it first.
    first = sorted(err.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
    loc = list(first["loc"])
    where = ""
    if len(loc) >= 2 and loc[0] == "topics" and isinstance(loc[1], int):
        try:
            slug = data["topics"][loc[1]].get("slug")  # type: ignore[index]
        except (AttributeError, IndexError, KeyError, TypeError):
            slug = None
        where = f"topic '{slug}'" if slug else f"topic #{loc[1] + 1}"
        loc = loc[2:]
    field_name = ".".join(str(p) for p in loc) or "topics"
    parts = [str(path)] + ([where] if where else []) + [f"field '{field_name}': {first['msg']}"]
    return ": ".join(parts)


def load_topics(path: str | Path) -> dict[str, Topic]:
    """Read and validate a topics file into {slug: Topic}; raise PaperpressError on any problem."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PaperpressError(f"{path}: cannot read topics file ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise PaperpressError(f"{path}: not valid YAML{at}") from exc
    if not isinstance(data, dict):
        raise PaperpressError(f"{path}: expected a mapping with a 'topics:' list")
    try:
        parsed = TopicsFile.model_validate(data)
    except ValidationError as exc:
        raise PaperpressError(describe_error(path, data, exc)) from exc
    return {t.slug: t for t in parsed.topics}


def read_data(name: str) -> dict:
    """A YAML file shipped in paperpress/data (vocabularies, aliases, labels)."""
    text = resources.files("paperpress.data").joinpath(name).read_text(encoding="utf-8")
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # the C loader when built


@functools.cache
def load_labels(section: str) -> dict[str, dict[str, str]]:
    """The labels of one part of the site ('post', 'trends' or 'charts'), keyed by language (data/labels.yml)."""
    return read_data("labels.yml")[section]


def check_overrides(max_papers: int | None, lookback_days: int | None) -> None:
    """A command's --max-papers and --lookback-days within the ranges topics.yml allows (None: the topic's)."""
    fields = Topic.model_fields
    for option, value, field in (("--max-papers", max_papers, "max_papers"), ("--lookback-days", lookback_days, "lookback_days")):
        low, high = (next(m for m in fields[field].metadata if hasattr(m, name)) for name in ("ge", "le"))
        if value is not None and not low.ge <= value <= high.le:
            raise PaperpressError(f"{option} must be between {low.ge} and {high.le} (got {value})")


def find_topic(topics: Mapping[str, Topic], slug: str, path: str | Path = "topics.yml") -> Topic:
    """The topic with this slug, or an error that suggests the nearest one."""
    if slug in topics:
        return topics[slug]
    near = difflib.get_close_matches(slug, list(topics), n=1)
    hint = f" (did you mean '{near[0]}'?)" if near else f" (known: {', '.join(sorted(topics))})"
    raise PaperpressError(f"{path}: unknown topic '{slug}'{hint}")


def find_topics_file(start: Path | None = None) -> Path:
    """The project's topics.yml: in this folder or the nearest parent (notebooks run from notebooks/)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "topics.yml").is_file():
            return folder / "topics.yml"
    raise PaperpressError(f"no topics.yml in {here} or its parents (pass topics_file)")


def parse_date(text: str, today: dt.date | None = None) -> dt.date:
    """A digest day: YYYY-MM-DD, not in the future, not before arXiv existed."""
    try:
        day = dt.date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise PaperpressError(f"bad date '{text}': expected YYYY-MM-DD, e.g. 2024-04-01")
    today = today or read_now().date()
    if day > today:
        raise PaperpressError(f"bad date '{text}': it is in the future (today is {today})")
    if day < ARXIV_FIRST_DAY:
        raise PaperpressError(f"bad date '{text}': arXiv starts on {ARXIV_FIRST_DAY}")
    return day


@dataclass(frozen=True)
class Settings:
    """Everything read from the environment (and .env), in one place."""

    arxiv_api_url: str = DEFAULT_ARXIV_API_URL
    arxiv_delay_seconds: float = 3.0
    openalex_url: str = DEFAULT_OPENALEX_URL
    openalex_mailto: str = ""
    gemini_base_url: str = ""
    gemini_model: str = DEFAULT_MODEL
    cache_dir: Path = Path(".paperpress/cache")
    # Gemini pacing and retries: client-side limits keep a free-tier key under its quota (no 429s).
    gemini_rpm: int = 15  # requests per minute, 0 = no client-side limit
    gemini_tpm: int = 250_000  # tokens per minute, 0 = no client-side limit
    gemini_concurrency: int = 10  # papers in flight at once (only matters when rpm allows it)
    gemini_timeout_s: float = 60.0  # one request
    gemini_retries: int = 4  # extra tries after a 429, a 5xx or a timeout
    gemini_backoff_s: float = 2.0  # first wait after a 5xx (doubles each time)
    gemini_max_wait_s: float = 90.0  # a longer server retryDelay means a spent quota: give up
    gemini_retry_scale: float = 1.0  # multiplies the server's retryDelay (tests shrink it)
    gemini_input_tokens: int = 6000  # prompt budget for PDF text (approx. chars / 4)
    # The published site's address (repository variable SITE_URL in Actions), else _quarto.yml's site-url.
    site_url: str = ""
    gemini_rpd: int = 0  # requests per day for all runs sharing cache_dir (Pacific day), 0 = no client-side budget
    gemini_thinking: str = "auto"  # auto (lowest the model accepts), off, minimal|low|medium|high, or a token budget
    # Set by `paperpress backfill` for its runs: days in flight and their claims (see digest.wait_for_claims).
    pending_dir: str = ""
    # Set by `paperpress backfill` and catch-up runs: the span's papers, fetched once (JSONL), read instead of the API.
    arxiv_cache: str = ""
    # The key is held here only to be handed to the client; repr=False keeps it out of logs.
    api_key: str = field(default="", repr=False)

    @property
    def has_key(self) -> bool:
        """Whether a Gemini key is configured (never the key itself)."""
        return bool(self.api_key)


def load_settings(environ: Mapping[str, str] | None = None, dotenv: str | Path = ".env") -> Settings:
    """Settings from the environment, falling back to a .env file; the environment wins."""
    env = {k: v for k, v in dotenv_values(dotenv).items() if v is not None} if Path(dotenv).is_file() else {}
    env.update(os.environ if environ is None else environ)
    try:
        delay = float(env.get("PAPERPRESS_ARXIV_DELAY", "3.0"))
    except ValueError as exc:
        raise PaperpressError("PAPERPRESS_ARXIV_DELAY must be a number of seconds") from exc
    return Settings(
        arxiv_api_url=env.get("PAPERPRESS_ARXIV_API_URL") or DEFAULT_ARXIV_API_URL,
        arxiv_delay_seconds=delay,
        openalex_url=env.get("PAPERPRESS_OPENALEX_URL") or DEFAULT_OPENALEX_URL,
        openalex_mailto=env.get("PAPERPRESS_OPENALEX_MAILTO", ""),
        gemini_base_url=env.get("GOOGLE_GEMINI_BASE_URL", ""),
        gemini_model=env.get("PAPERPRESS_MODEL") or DEFAULT_MODEL,
        cache_dir=Path(env.get("PAPERPRESS_CACHE_DIR") or ".paperpress/cache"),
        api_key=env.get("GEMINI_API_KEY") or env.get("GOOGLE_API_KEY") or "",
        pending_dir=env.get("PAPERPRESS_PENDING_DIR", ""),
        site_url=env.get("PAPERPRESS_SITE_URL", "").strip(),
        gemini_thinking=read_thinking(env),
        arxiv_cache=env.get("PAPERPRESS_ARXIV_CACHE", ""),
        **read_gemini_numbers(env),
    )


# Settings field <- PAPERPRESS_GEMINI_<NAME> environment variable, with its type.
GEMINI_NUMBERS = {
    "gemini_rpm": ("RPM", int), "gemini_tpm": ("TPM", int), "gemini_concurrency": ("CONCURRENCY", int),
    "gemini_timeout_s": ("TIMEOUT", float), "gemini_retries": ("RETRIES", int),
    "gemini_backoff_s": ("BACKOFF", float), "gemini_max_wait_s": ("MAX_WAIT", float),
    "gemini_retry_scale": ("RETRY_SCALE", float), "gemini_input_tokens": ("INPUT_TOKENS", int),
    "gemini_rpd": ("RPD", int),
}
THINKING_CHOICES = ("auto", "off", "minimal", "low", "medium", "high")


def read_thinking(env: Mapping[str, str]) -> str:
    """PAPERPRESS_GEMINI_THINKING: a thinking level, 'auto', 'off' or a whole number of tokens."""
    value = (env.get("PAPERPRESS_GEMINI_THINKING") or "auto").strip().lower()
    if value not in THINKING_CHOICES and not value.isdigit():
        raise PaperpressError(f"PAPERPRESS_GEMINI_THINKING must be one of {', '.join(THINKING_CHOICES)} "
                              f"or a number of tokens (got '{value}')")
    return value


def read_gemini_numbers(env: Mapping[str, str]) -> dict[str, int | float]:
    """The Gemini pacing settings present in env (PAPERPRESS_GEMINI_RPM etc.); each must be >= 0."""
    found: dict[str, int | float] = {}
    for field_name, (suffix, kind) in GEMINI_NUMBERS.items():
        name = f"PAPERPRESS_GEMINI_{suffix}"
        if not env.get(name):
            continue
        least = 1 if field_name == "gemini_concurrency" else 0
        try:
            value = kind(env[name])
        except ValueError:
            value = -1
        if not least <= value < float("inf"):
            raise PaperpressError(f"{name} must be a {'whole ' if kind is int else ''}number >= {least} (got '{env[name]}')")
        found[field_name] = value
    return found


def require_key(settings: Settings) -> None:
    """Raise the one-line 'how to set the key' error when no Gemini key is configured."""
    if not settings.has_key:
        raise PaperpressError(NO_KEY_MESSAGE)


def read_now(environ: Mapping[str, str] | None = None) -> dt.datetime:
    """The current time (UTC): PAPERPRESS_NOW when set (tests, replays; the notebook kernel inherits it), else the clock."""
    text = (os.environ if environ is None else environ).get("PAPERPRESS_NOW", "")
    if not text:
        return dt.datetime.now(dt.timezone.utc)
    try:
        now = dt.datetime.fromisoformat(text)
    except ValueError:
        now = None
    if now is None or now.tzinfo is None:
        raise PaperpressError(f"PAPERPRESS_NOW must be an ISO 8601 time with a zone, e.g. 2026-03-09T01:00:00Z (got '{text}')")
    return now.astimezone(dt.timezone.utc)
