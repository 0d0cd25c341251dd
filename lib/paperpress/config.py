"""Settings and topics: read once (environment, .env, topics.yml) and passed explicitly."""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import os
import re
import sys
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


DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"  # the openai package's own default
PROVIDERS = ("gemini", "openai")
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
    model: str | None = None  # "gemini:<model>", "openai:<model>" or a bare Gemini model name
    # An OpenAI-compatible endpoint of this topic's own (e.g. https://api.deepseek.com), and the name of the
    # environment variable that holds its key (e.g. DEEPSEEK_API_KEY): never the key itself.
    base_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*_KEY$")  # ends in _KEY
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
    # OpenAlex's key (OPENALEX_API_KEY), sent as its `api_key` query parameter; never shown (see blot_secrets).
    openalex_api_key: str = field(default="", repr=False)
    # OpenAI-compatible servers: the openai package's own variables (an empty value counts as unset).
    openai_base_url: str = ""
    openai_api_key: str = field(default="", repr=False)
    openai_rpm: int = 0  # client-side requests per minute; 0 = what the server's x-ratelimit-* headers say
    openai_tpm: int = 0  # client-side tokens per minute; 0 = what the server's headers say
    openai_reasoning: str = ""  # reasoning_effort sent to reasoning models ('' = none sent)
    # Variables whose name ends in _KEY, for a topic's api_key_env (repr=False, compare=False: never shown).
    env_keys: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def has_key(self) -> bool:
        """Whether a Gemini key is configured (never the key itself)."""
        return bool(self.api_key)


# OpenAlex wants a free key since 2026-02-13 (https://developers.openalex.org/guides/authentication): without
# one the day's allowance is tiny, and affiliations then come from the PDFs' first pages.
NO_OPENALEX_KEY_MESSAGE = (
    "no OpenAlex API key: set OPENALEX_API_KEY (free at https://openalex.org/settings/api) in the environment or "
    "in .env; without it OpenAlex allows few requests a day and affiliations come from the PDFs' first pages"
)
OPENALEX_WARNED = "PAPERPRESS_OPENALEX_WARNED"  # set once warned: the runs a command starts say nothing again


def warn_openalex_key(settings: Settings) -> None:
    """Say once per command (its child runs included) that OpenAlex has no key; the command goes on."""
    if settings.openalex_api_key or os.environ.get(OPENALEX_WARNED):
        return
    os.environ[OPENALEX_WARNED] = "1"
    print(f"paperpress: warning: {NO_OPENALEX_KEY_MESSAGE}", file=sys.stderr)


def blot_secrets(text: str, settings: Settings) -> str:
    """Text with every key of the settings blotted out, as written and as a URL's query holds it (an HTTP
    library's error message repeats the URL, query included)."""
    from urllib.parse import quote, quote_plus

    for secret in (settings.api_key, settings.openalex_api_key, settings.openai_api_key, *settings.env_keys.values()):
        if len(secret) >= 8:  # a real key is long; a short one would blot out ordinary words
            for form in dict.fromkeys((secret, quote_plus(secret), quote(secret, safe=""))):
                text = text.replace(form, "[key]")
    return text


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
        openalex_api_key=env.get("OPENALEX_API_KEY", "").strip(),
        pending_dir=env.get("PAPERPRESS_PENDING_DIR", ""),
        site_url=env.get("PAPERPRESS_SITE_URL", "").strip(),
        gemini_thinking=read_thinking(env),
        arxiv_cache=env.get("PAPERPRESS_ARXIV_CACHE", ""),
        openai_base_url=(env.get("OPENAI_BASE_URL") or "").strip(),
        openai_api_key=(env.get("OPENAI_API_KEY") or "").strip(),
        openai_rpm=read_count(env, "PAPERPRESS_OPENAI_RPM"),
        openai_tpm=read_count(env, "PAPERPRESS_OPENAI_TPM"),
        openai_reasoning=read_reasoning(env),
        env_keys={k: v for k, v in env.items() if k.endswith("_KEY") and v},
        **read_gemini_numbers(env),
    )


def read_count(env: Mapping[str, str], name: str) -> int:
    """A whole number >= 0 from env (0 when unset)."""
    text = (env.get(name) or "0").strip()
    if not text.isdigit():
        raise PaperpressError(f"{name} must be a whole number >= 0 (got '{text}')")
    return int(text)


REASONING_CHOICES = ("", "none", "minimal", "low", "medium", "high")


def read_reasoning(env: Mapping[str, str]) -> str:
    """PAPERPRESS_OPENAI_REASONING: the reasoning_effort for reasoning models ('' sends none)."""
    value = (env.get("PAPERPRESS_OPENAI_REASONING") or "").strip().lower()
    if value not in REASONING_CHOICES:
        raise PaperpressError(f"PAPERPRESS_OPENAI_REASONING must be one of {', '.join(REASONING_CHOICES[1:])} (got '{value}')")
    return value


@dataclass(frozen=True)
class Endpoint:
    """Which model answers, where, with which key: one model setting resolved against a topic and the settings."""

    provider: str  # "gemini" or "openai"
    model: str
    base_url: str = ""  # '' : the SDK's default (Gemini); the OpenAI default is written out
    api_key: str = field(default="", repr=False)
    key_name: str = ""  # where the key came from (OPENAI_API_KEY, DEEPSEEK_API_KEY …), for messages

    @property
    def spec(self) -> str:
        """The model setting as a post records it: provider:model, and the endpoint's host for OpenAI-compatible ones."""
        host = re.sub(r"^https?://", "", self.base_url).split("/")[0]
        return f"{self.provider}:{self.model}" + (f"@{host}" if self.provider == "openai" and host else "")


def parse_model(text: str) -> tuple[str, str]:
    """(provider, model) of a model setting: 'gemini:<m>', 'openai:<m>', or a bare Gemini name.

    Only the first colon separates: 'openai:qwen3:8b' is Ollama's qwen3:8b.
    """
    text = text.strip()
    head, sep, rest = text.partition(":")
    if sep and head in PROVIDERS:
        if not rest.strip():
            raise PaperpressError(f"model '{text}' names no model after '{head}:'")
        return head, rest.strip()
    if sep and re.fullmatch(r"[a-z][a-z0-9_-]*", head):
        raise PaperpressError(f"model '{text}': unknown provider '{head}' (write gemini:<model> or openai:<model>)")
    return "gemini", text


def resolve_endpoint(settings: Settings, setting: str, topic: "Topic | None" = None) -> Endpoint:
    """The endpoint a model setting names, with its key; a one-line error when a key it needs is missing."""
    provider, model = parse_model(setting)
    if provider == "gemini":
        if not settings.has_key:
            raise PaperpressError(NO_KEY_MESSAGE)
        return Endpoint("gemini", model, settings.gemini_base_url, settings.api_key, "GEMINI_API_KEY")
    base_url = ((topic.base_url if topic else None) or settings.openai_base_url or DEFAULT_OPENAI_BASE_URL).rstrip("/")
    key_name = (topic.api_key_env if topic else None) or "OPENAI_API_KEY"
    key = settings.openai_api_key if key_name == "OPENAI_API_KEY" else settings.env_keys.get(key_name, "")
    if topic and topic.api_key_env and not key:
        raise PaperpressError(f"topic '{topic.slug}': api_key_env names {key_name}, which is not set (environment or .env)")
    if not key and base_url == DEFAULT_OPENAI_BASE_URL:
        # Any other server may need no key (Ollama, vLLM on loopback); it says so with a 401 if it does.
        raise PaperpressError("no OpenAI API key: set OPENAI_API_KEY in the environment or in .env, or set OPENAI_BASE_URL "
                              "(or a topic's base_url) to a server that needs none; or use --offline")
    return Endpoint("openai", model, base_url, key, key_name)


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


# The e-mail digest's transport security: SMTP_TLS, with the port each one takes when SMTP_PORT is not set.
SMTP_TLS_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


@dataclass(frozen=True)
class MailSettings:
    """The e-mail digest's settings, from the environment only (the workflow reads them from secrets)."""

    host: str = ""
    port: int = 587
    tls: str = "starttls"  # starttls (submission, 587), ssl (implicit TLS, 465) or none (a local relay)
    user: str = ""
    sender: str = ""
    default_to: tuple[str, ...] = ()  # PAPERPRESS_MAIL_TO: every topic
    topic_to: tuple[tuple[str, tuple[str, ...]], ...] = ()  # PAPERPRESS_MAIL_TO_<SLUG>, by SLUG
    # Held only to be handed to smtplib's login; repr=False keeps it out of logs and tracebacks.
    password: str = field(default="", repr=False)

    def recipients(self, slug: str) -> tuple[str, ...]:
        """A topic's recipients: PAPERPRESS_MAIL_TO_<SLUG> (upper case, '-' as '_'), else PAPERPRESS_MAIL_TO."""
        own = dict(self.topic_to).get(slug.upper().replace("-", "_"))
        return self.default_to if own is None else own

    def is_configured(self, slug: str) -> bool:
        """Whether mail is set up for a topic: a server and at least one recipient."""
        return bool(self.host and self.recipients(slug))


def read_addresses(name: str, value: str) -> tuple[str, ...]:
    """A comma-separated list of e-mail addresses (an entry holding no @ or a line break is refused)."""
    from email.utils import getaddresses

    if "\n" in value or "\r" in value:
        raise PaperpressError(f"{name}: a line break is not allowed in a list of addresses")
    found = tuple(address for _, address in getaddresses([value]) if address)
    bad = [a for a in found if a.count("@") != 1 or a.startswith("@") or a.endswith("@")]
    if bad or (value.strip() and not found):
        raise PaperpressError(f"{name}: not an e-mail address: {(bad or [value.strip()])[0]}")
    return tuple(dict.fromkeys(found))


def load_mail_settings(environ: Mapping[str, str] | None = None, dotenv: str | Path = ".env") -> MailSettings:
    """Mail settings from the environment (or the git-ignored .env): SMTP_* and PAPERPRESS_MAIL_TO[_<SLUG>]."""
    env = {k: v for k, v in dotenv_values(dotenv).items() if v is not None} if Path(dotenv).is_file() else {}
    env.update(os.environ if environ is None else environ)
    tls = (env.get("SMTP_TLS") or "starttls").strip().lower()
    if tls not in SMTP_TLS_PORTS:
        raise PaperpressError(f"SMTP_TLS must be one of {', '.join(SMTP_TLS_PORTS)} (got '{tls}')")
    port_text = (env.get("SMTP_PORT") or "").strip()
    if port_text and not (port_text.isdigit() and 0 < int(port_text) < 65536):
        raise PaperpressError(f"SMTP_PORT must be a port number (got '{port_text}')")
    prefix = "PAPERPRESS_MAIL_TO_"
    topic_to = tuple(sorted((name[len(prefix):], read_addresses(name, value))
                            for name, value in env.items() if name.startswith(prefix) and value.strip()))
    host = (env.get("SMTP_HOST") or "").strip()
    user, password = env.get("SMTP_USER") or "", env.get("SMTP_PASSWORD") or ""
    sender = read_addresses("SMTP_FROM", env.get("SMTP_FROM") or "")
    if host and not sender:
        raise PaperpressError("SMTP_FROM must be set to the sender's address when SMTP_HOST is")
    if bool(user) != bool(password):
        raise PaperpressError("SMTP_USER and SMTP_PASSWORD go together: set both (or neither, for a server without login)")
    return MailSettings(host=host, port=int(port_text) if port_text else SMTP_TLS_PORTS[tls], tls=tls, user=user,
                        sender=(env.get("SMTP_FROM") or "").strip(), password=password,
                        default_to=read_addresses("PAPERPRESS_MAIL_TO", env.get("PAPERPRESS_MAIL_TO") or ""),
                        topic_to=topic_to)
