"""A loopback fake of the Gemini Developer API's generateContent, for offline tests and benchmarks.

The real google-genai SDK talks to it (POST /{version}/models/{model}:generateContent, key in x-goog-api-key).
It answers as a model would: from the facts of the papers it is told about, never by copying text out
of paperpress's prompt. It only reads the prompt the way a model does: which paper it is about (the
arXiv id), whether the first page's affiliations were shown to it, which language the instruction asks for::

    with FakeGemini() as fake:
        for name, value in fake.env().items():   # base URL, a dummy GEMINI_API_KEY, no client rate limit,
            monkeypatch.setenv(name, value)      # fast retries; a papermill kernel inherits these
        fake.add_paper("2403.16510", title=..., abstract=..., affiliations=("Institute of ...",),
                       invented={"code_url": "https://github.com/made-up/repo"})   # what a careless model makes up
        fake.script("2403.16510", FakeGemini.error(429), FakeGemini.text("{bad"))  # the next replies for a paper
        fake.queue(FakeGemini.error(503))        # the next request, whatever the paper
        ...
        fake.requests, fake.count(429), fake.max_in_flight

What it models, each from the service's documentation or issue tracker (cited where it is built):
- the API version: v1 refuses systemInstruction and structured-output fields with the real 400;
- thinking: per model family, the thinking config each accepts (400 otherwise), thought tokens that
  count toward maxOutputTokens, an empty MAX_TOKENS answer when thinking uses them all, thought
  summaries as parts with "thought": true when includeThoughts is set, thoughtsTokenCount;
- quotas: a per-minute window (rpm=), a per-day count (rpd=), models without free tier ("limit: 0"),
  with QuotaFailure, RetryInfo and Help details;
- refusals: a wrong key (API_KEY_INVALID), no key, an unknown model (models=), a disabled API (403
  SERVICE_DISABLED), an unsupported location (400 FAILED_PRECONDITION), blocked prompts and answers.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterable

FAKE_KEY = "FAKE-GEMINI-KEY-0000-do-not-leak"
ROUTE = re.compile(r"^/(?P<version>v1\w*)/models/(?P<model>[^/:]+):generateContent$")
# Finish reasons that mean a filter stopped the answer (https://ai.google.dev/api/generate-content#FinishReason).
BLOCKING = {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION", "OTHER"}
RATE_LIMITS_DOC = "https://ai.google.dev/gemini-api/docs/rate-limits"
STATUS_NAMES = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED",
                500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
# Thought tokens per level. Not documented as numbers (levels are "relative allowances rather than strict
# token guarantees"); what is documented is that thoughts count toward maxOutputTokens
# (https://ai.google.dev/gemini-api/docs/thinking, google/adk-python#1357).
THOUGHTS = {"MINIMAL": 40, "LOW": 900, "MEDIUM": 3500, "HIGH": 9000, "DYNAMIC": 3000}


@dataclass(frozen=True)
class FakePaper:
    """What the fake model knows of one paper, and how it answers about it."""

    arxiv_id: str
    title: str
    abstract: str
    affiliations: tuple[str, ...] = ()  # the first author's institutions as printed on the first page
    code_url: str = ""  # the code link the paper gives ('' : the first link in the abstract, if any)
    invented: dict = field(default_factory=dict)  # fields a careless model makes up, e.g. {"affiliations": [...]}
    answer: dict | None = None  # exactly the JSON this model answers (e.g. one that fails validation)
    thinks: int | None = None  # thought tokens this paper costs at any level (levels are allowances, not caps)


@dataclass(frozen=True)
class Reply:
    """One scripted reply: an HTTP error, or a model answer of some kind."""

    status: int = 200
    answer: dict | None = None  # the model's JSON answer (None: the paper's usual answer)
    text: str | None = None  # raw answer text (e.g. broken JSON)
    finish_reason: str = "STOP"
    prompt_block: str = ""  # promptFeedback.blockReason: the prompt itself was refused
    thinks: int | None = None  # thought tokens for this reply
    body: dict | None = None  # an error body, used as is
    delay: float = 0.0  # extra seconds before answering (e.g. to trip a client timeout)


@dataclass
class FakeRequest:
    """What the fake saw of one request (the key is kept only to check it was sent)."""

    path: str
    version: str
    model: str
    api_key: str
    body: dict
    prompt: str
    system: str
    arxiv_id: str
    started: float
    ended: float = 0.0
    status: int = 0
    thoughts: int = 0  # thought tokens the answer reported

    @property
    def config(self) -> dict:
        """The request's generationConfig, field names in lowerCamelCase.

        The API's JSON parser takes lowerCamelCase and the proto's snake_case names alike
        (https://protobuf.dev/programming-guides/json/), and google-genai sends thinkingConfig's fields snake_case.
        """
        config = camel_keys(self.body.get("generationConfig") or self.body.get("generation_config") or {})
        if isinstance(config.get("thinkingConfig"), dict):
            config["thinkingConfig"] = camel_keys(config["thinkingConfig"])
        return config


@dataclass
class State:
    """Mutable state shared by the handler threads (guarded by lock)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: list[FakeRequest] = field(default_factory=list)
    scripts: dict[str, deque[Reply]] = field(default_factory=lambda: defaultdict(deque))
    queued: deque[Reply] = field(default_factory=deque)
    arrivals: deque[float] = field(default_factory=deque)
    served_today: int = 0
    in_flight: int = 0
    max_in_flight: int = 0


class Scripted:
    """Scripting and inspection shared by the model fakes (FakeGemini, FakeOpenAI): their `state` holds a lock,
    per-paper scripts, a queue, the request log and the in-flight high-water mark; `papers` what the model knows."""

    state: Any
    papers: dict[str, FakePaper]

    def add_paper(self, arxiv_id: str, title: str, abstract: str, **facts: Any) -> FakePaper:
        """Tell the model about a paper (bare id, no version); see FakePaper for the facts it takes."""
        paper = FakePaper(arxiv_id, title, abstract, **facts)
        with self.state.lock:
            self.papers[arxiv_id] = paper
        return paper

    def script(self, arxiv_id: str, *replies: Any) -> None:
        """Replies for the next requests about this paper (bare id, no version), in order."""
        with self.state.lock:
            self.state.scripts[arxiv_id].extend(replies)

    def queue(self, *replies: Any) -> None:
        """Replies for the next requests, whatever the paper (used before per-paper scripts)."""
        with self.state.lock:
            self.state.queued.extend(replies)

    @property
    def requests(self) -> list:
        """A copy of the request log, in arrival order."""
        with self.state.lock:
            return list(self.state.requests)

    @property
    def max_in_flight(self) -> int:
        """The most requests the fake was holding at once."""
        return self.state.max_in_flight

    def count(self, status: int | None = None) -> int:
        """How many requests were answered (with this status)."""
        return sum(1 for r in self.requests if status is None or r.status == status)


class FakeGemini(Scripted):
    """A threaded HTTP server on 127.0.0.1 answering POST /v1*/models/{model}:generateContent."""

    def __init__(self, latency: float = 0.0, rpm: int | None = None, window: float = 60.0, rpd: int | None = None,
                 api_key: str | None = None, models: Iterable[str] | None = None, no_free_tier: Iterable[str] = (),
                 papers: Iterable[FakePaper] = ()):
        self.latency = latency  # seconds each answer takes (the server holds the request)
        self.rpm = rpm  # at most this many requests per `window` seconds, else 429 (per-minute quota)
        self.window = window
        self.rpd = rpd  # at most this many answered requests in the fake's "day", else 429 (per-day quota)
        self.api_key = api_key  # when set, any other key gets the API's "API key not valid" 400
        self.models = set(models) if models is not None else None  # when set, other models are 404
        self.no_free_tier = set(no_free_tier)  # models whose free-tier quota is 0 for this key
        self.papers = {p.arxiv_id: p for p in papers}
        self.state = State()
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> "FakeGemini":
        handler = type("Handler", (GeminiHandler,), {"fake": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), name="fake-gemini", daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        """The base URL to give the SDK (GOOGLE_GEMINI_BASE_URL)."""
        assert self.server is not None, "use FakeGemini as a context manager"
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def env(self, api_key: str = FAKE_KEY, fast: bool = True) -> dict[str, str]:
        """Environment variables that point paperpress (or a papermill kernel) at this fake.

        fast: no client-side rate limit and waits/backoffs scaled down, for quick tests.
        """
        env = {"GOOGLE_GEMINI_BASE_URL": self.url, "GEMINI_API_KEY": api_key, "NO_PROXY": "127.0.0.1,localhost"}
        if fast:
            env |= {"PAPERPRESS_GEMINI_RPM": "0", "PAPERPRESS_GEMINI_TPM": "0", "PAPERPRESS_GEMINI_BACKOFF": "0.01",
                    "PAPERPRESS_GEMINI_RETRY_SCALE": "0.01"}
        return env

    # -- scripting ---------------------------------------------------------------------------

    @staticmethod
    def answer(data: dict | None = None, finish_reason: str = "STOP") -> Reply:
        """A model answer: this JSON object (None: the paper's usual answer)."""
        return Reply(answer=data, finish_reason=finish_reason)

    @staticmethod
    def text(raw: str, finish_reason: str = "STOP") -> Reply:
        """A model answer with this raw text (e.g. broken JSON)."""
        return Reply(text=raw, finish_reason=finish_reason)

    @staticmethod
    def blocked(reason: str = "SAFETY") -> Reply:
        """A candidate stopped by a filter: no text, finishReason=reason."""
        return Reply(text="", finish_reason=reason)

    @staticmethod
    def prompt_blocked(reason: str = "SAFETY") -> Reply:
        """The prompt refused before any answer: no candidates, promptFeedback.blockReason=reason."""
        return Reply(prompt_block=reason)

    @staticmethod
    def thinking(tokens: int) -> Reply:
        """The paper's usual answer after `tokens` thought tokens (more than maxOutputTokens: an empty answer)."""
        return Reply(thinks=tokens)

    @staticmethod
    def slow(seconds: float) -> Reply:
        """The usual answer, after `seconds` more than the usual latency."""
        return Reply(delay=seconds)

    @staticmethod
    def error(status: int, message: str | None = None) -> Reply:
        """An HTTP error in the API's shape (google.rpc.Status); a 429 is a per-minute quota with RetryInfo."""
        if status == 429:
            return FakeGemini.quota("minute")
        name = STATUS_NAMES.get(status, "UNKNOWN")
        return Reply(status=status, body=error_body(status, name, message or default_message(status)))

    @staticmethod
    def quota(kind: str = "minute", limit: int = 15, retry_delay: str = "1s", model: str = "gemini") -> Reply:
        """A 429 naming a quota: 'minute' (requests), 'tokens' (input tokens per minute) or 'day' (requests)."""
        return Reply(status=429, body=quota_body(kind, limit, retry_delay, model))

    @staticmethod
    def service_disabled(project: str = "123456789012") -> Reply:
        """403 SERVICE_DISABLED: the key's project has not enabled the Generative Language API.

        Shape: google/generative-ai-docs#74, google-gemini/gemini-cli#1343 (Help link, ErrorInfo with reason
        SERVICE_DISABLED and metadata service, consumer, activationUrl).
        """
        url = f"https://console.developers.google.com/apis/api/generativelanguage.googleapis.com/overview?project={project}"
        message = (f"Generative Language API has not been used in project {project} before or it is disabled. Enable it "
                   f"by visiting {url} then retry. If you enabled this API recently, wait a few minutes for the action "
                   f"to propagate to our systems and retry.")
        details = [
            {"@type": "type.googleapis.com/google.rpc.Help",
             "links": [{"description": "Google developers console API activation", "url": url}]},
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SERVICE_DISABLED", "domain": "googleapis.com",
             "metadata": {"service": "generativelanguage.googleapis.com", "consumer": f"projects/{project}",
                          "serviceTitle": "Generative Language API", "containerInfo": project, "activationUrl": url}},
        ]
        return Reply(status=403, body=error_body(403, "PERMISSION_DENIED", message, details))

    @staticmethod
    def location_unsupported() -> Reply:
        """400 FAILED_PRECONDITION from a region the API does not serve (no details).

        Shape: gemini-api-php/client#32, google-gemini/gemini-cli#24641.
        """
        return Reply(status=400, body=error_body(400, "FAILED_PRECONDITION", "User location is not supported for the API use."))

    # -- inspection --------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget requests, scripts, the rate window and the day's count (not the papers)."""
        with self.state.lock:
            self.state.requests.clear()
            self.state.scripts.clear()
            self.state.queued.clear()
            self.state.arrivals.clear()
            self.state.served_today = 0
            self.state.max_in_flight = 0

    # -- serving (called from handler threads) -------------------------------------------------

    def admit(self, request: FakeRequest) -> Reply | None:
        """Log the request; a refusal, a quota 429 or the next scripted reply (None: the usual answer)."""
        state = self.state
        with state.lock:
            state.requests.append(request)
            refusal = refuse_request(request, self.models)
            if refusal:
                return refusal
            if request.model in self.no_free_tier:
                # "limit: 0": the model has no free-tier quota for this project (continuedev/continue#10280).
                return Reply(status=429, body=quota_body("minute", 0, "7s", request.model))
            now = request.started
            if self.rpm is not None:
                while state.arrivals and state.arrivals[0] <= now - self.window:
                    state.arrivals.popleft()
                if len(state.arrivals) >= self.rpm:
                    wait = state.arrivals[0] + self.window - now
                    return Reply(status=429, body=quota_body("minute", self.rpm, f"{max(wait, 0.001):.3f}s", request.model))
                state.arrivals.append(now)
            if self.rpd is not None:
                if state.served_today >= self.rpd:
                    # A per-day 429 still carries a short RetryInfo: waiting it out does not help.
                    return Reply(status=429, body=quota_body("day", self.rpd, "26s", request.model))
                state.served_today += 1
            if state.queued:
                return state.queued.popleft()
            script = state.scripts.get(request.arxiv_id)
            return script.popleft() if script else None

    def enter(self) -> None:
        """Count a request being held."""
        with self.state.lock:
            self.state.in_flight += 1
            self.state.max_in_flight = max(self.state.max_in_flight, self.state.in_flight)

    def leave(self, request: FakeRequest, status: int) -> None:
        """Count a request answered."""
        with self.state.lock:
            self.state.in_flight -= 1
            request.ended, request.status = time.monotonic(), status


class GeminiHandler(BaseHTTPRequestHandler):
    """Speaks just enough of generateContent for the google-genai SDK."""

    fake: FakeGemini
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: Nagle + delayed ACK adds 40 ms

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Stay quiet: tests read the request log instead."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        """Answer one generateContent call (after the configured latency)."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        route = ROUTE.match(self.path.split("?")[0])
        if not route:
            return self.send_json(404, error_body(404, "NOT_FOUND", f"no route {self.path}"))
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return self.send_json(400, error_body(400, "INVALID_ARGUMENT", "Invalid JSON payload received."))
        prompt, system = read_texts(body)
        request = FakeRequest(
            path=self.path, version=route["version"], model=route["model"],
            api_key=self.headers.get("x-goog-api-key", ""), body=body, prompt=prompt, system=system,
            arxiv_id=find_arxiv_id(prompt), started=time.monotonic(),
        )
        fake = self.fake
        fake.enter()
        reply = Reply(status=500)
        try:
            reply = self.check_key(request) or fake.admit(request) or Reply()
            if reply.status != 429 and fake.latency + reply.delay > 0:
                time.sleep(fake.latency + reply.delay)
            out = reply.body if reply.body is not None else build_answer(reply, request, fake.papers.get(request.arxiv_id))
        finally:
            # Recorded before the answer goes out: once the client has it, the log must already show it.
            fake.leave(request, reply.status)
        try:
            self.send_json(reply.status, out)
        except (BrokenPipeError, ConnectionResetError):
            request.status = 499  # the client gave up (timeout) before the answer: nginx's "client closed request"

    def check_key(self, request: FakeRequest) -> Reply | None:
        """The API's answers to a missing or wrong key."""
        expected = self.fake.api_key
        if not request.api_key:
            return Reply(status=403, body=error_body(403, "PERMISSION_DENIED", (
                "Method doesn't allow unregistered callers (callers without established identity). Please use API Key "
                "or other form of API consumer identity to call this API.")))
        if expected is not None and request.api_key != expected:
            # continuedev/continue#8516; the DebugInfo detail echoes the key (google/timesketch#3703): a
            # client must show the message, never the whole body.
            message = "API key not valid. Please pass a valid API key."
            details = [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com",
                 "metadata": {"service": "generativelanguage.googleapis.com"}},
                {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": message},
                {"@type": "type.googleapis.com/google.rpc.DebugInfo", "detail": f"Invalid API key: {request.api_key}"},
            ]
            return Reply(status=400, body=error_body(400, "INVALID_ARGUMENT", message, details))
        return None

    def send_json(self, status: int, body: dict) -> None:
        """Write one JSON response."""
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


# -- refusals ------------------------------------------------------------------------------------


def camel_keys(fields: dict) -> dict:
    """An object's field names in lowerCamelCase (thinking_level -> thinkingLevel); values untouched."""
    return {re.sub(r"_([a-z])", lambda m: m.group(1).upper(), k): v for k, v in fields.items()}


def error_body(code: int, status: str, message: str, details: list | None = None) -> dict:
    """An error in the API's shape: google.rpc.Status under "error"."""
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}


def default_message(status: int) -> str:
    """A server message for a bare error of this status."""
    return {400: "Request contains an invalid argument.", 500: "An internal error has occurred. Please retry or report "
            "in https://developers.generativeai.google/guide/troubleshooting", 503: "The model is overloaded. Please "
            "try again later.", 504: "The request timed out. Please try again."}.get(status, f"HTTP {status}")


def quota_body(kind: str, limit: int, retry_delay: str, model: str) -> dict:
    """A 429 as the API sends it: the quota named in the message and in QuotaFailure, with Help and RetryInfo.

    Shape: google-gemini/gemini-cli#8437 and continuedev/continue#10280 (quotaMetric, quotaId,
    quotaDimensions, quotaValue; "* Quota exceeded for metric: …, limit: N, model: M" and "Please retry in …").
    """
    metric, quota_id = {
        "minute": ("generate_content_free_tier_requests", "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"),
        "day": ("generate_content_free_tier_requests", "GenerateRequestsPerDayPerProjectPerModel-FreeTier"),
        "tokens": ("generate_content_free_tier_input_token_count", "GenerateContentInputTokensPerModelPerMinute-FreeTier"),
    }[kind]
    metric = f"generativelanguage.googleapis.com/{metric}"
    seconds = float(retry_delay.rstrip("s"))
    message = (f"You exceeded your current quota, please check your plan and billing details. For more information on "
               f"this error, head to: {RATE_LIMITS_DOC}. To monitor your current usage, head to: "
               f"https://ai.dev/rate-limit. \n* Quota exceeded for metric: {metric}, limit: {limit}, model: {model}\n"
               f"Please retry in {seconds:.6f}s.")
    details = [
        {"@type": "type.googleapis.com/google.rpc.Help",
         "links": [{"description": "Learn more about Gemini API quotas", "url": RATE_LIMITS_DOC}]},
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
         "violations": [{"quotaMetric": metric, "quotaId": quota_id,
                         "quotaDimensions": {"location": "global", "model": model}, "quotaValue": str(limit)}]},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{math.ceil(seconds)}s"
         if seconds >= 1 else retry_delay},
    ]
    return error_body(429, "RESOURCE_EXHAUSTED", message, details)


def unknown_fields(body: dict) -> Reply | None:
    """The v1 API's 400 for fields only v1beta has (googleapis/python-genai#1837, googleapis/js-genai#1746).

    Shape: googleapis/python-genai#425 (top-level "systemInstruction", a fieldViolation without "field"),
    fields under generationConfig named "at 'generation_config'" with field "generation_config".
    """
    config = body.get("generationConfig") or body.get("generation_config") or {}
    found = [(None, name) for name in ("systemInstruction", "system_instruction") if name in body]
    found += [("generation_config", name) for name in config
              if camel_keys({name: 0}).popitem()[0] in ("responseMimeType", "responseJsonSchema", "responseSchema")]
    if not found:
        return None
    lines = [f"Invalid JSON payload received. Unknown name \"{name}\"" + (f" at '{at}'" if at else "") + ": Cannot find field."
             for at, name in found]
    violations = [({"field": at} if at else {}) | {"description": line} for (at, _), line in zip(found, lines)]
    details = [{"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": violations}]
    return Reply(status=400, body=error_body(400, "INVALID_ARGUMENT", "\n".join(lines), details))


def model_family(model: str) -> tuple[tuple[int, int], str]:
    """(version, kind) of a Gemini model name: ((3, 5), 'flash-lite'); ((0, 0), '') for models that do not think."""
    found = re.match(r"^gemini-(?:(\d+)(?:\.(\d+))?-)?(pro|flash-lite|flash)\b", model)
    if not found:
        return (0, 0), ""
    if found.group(1):
        return (int(found.group(1)), int(found.group(2) or 0)), found.group(3)
    return ((3, 0) if model.endswith("-latest") else (0, 0)), found.group(3)


def check_thinking(model: str, thinking: dict) -> str:
    """The API's 400 message for a thinking config this model refuses ('' when accepted).

    https://ai.google.dev/gemini-api/docs/thinking: Gemini 3.x takes thinkingLevel (Pro: LOW and up; Flash,
    Flash-Lite: MINIMAL and up); 2.5 takes thinkingBudget (Pro 128-32768, Flash 0-24576, Flash-Lite 0 or 512-24576).
    Messages: "Thinking level is not supported for this model." (RooCodeInc/Roo-Code#10700, 2.5 Flash),
    "Thinking level MINIMAL is not supported for this model." (vellum-ai/vellum-assistant#32687, 3.x Pro),
    "Budget 0 is invalid. This model only works in thinking mode." (snailyp/gemini-balance#206, 2.5 Pro),
    "The thinking budget 128 is invalid. Please choose a value between 512 and 24576." (earendil-works/pi#2838).
    3.5 Flash-Lite refuses a budget of 0 (googleapis/python-genai#2936, message not quoted: Pro's wording here).
    """
    version, kind = model_family(model)
    level, budget = thinking.get("thinkingLevel"), thinking.get("thinkingBudget")
    if not kind or version < (2, 5):
        return f"Thinking is not enabled for models/{model}" if level or budget is not None else ""
    if version < (3, 0):
        if level:
            return "Thinking level is not supported for this model."
        if budget == 0 and kind == "pro":
            return "Budget 0 is invalid. This model only works in thinking mode."
        if kind == "flash-lite" and budget is not None and 0 < budget < 512:
            return f"The thinking budget {budget} is invalid. Please choose a value between 512 and 24576."
        return ""
    if budget == 0:
        return "Budget 0 is invalid. This model only works in thinking mode."
    if level and (level not in THOUGHTS or (kind == "pro" and level == "MINIMAL")):
        return f"Thinking level {level} is not supported for this model."
    return ""


def refuse_request(request: FakeRequest, models: set[str] | None) -> Reply | None:
    """A 400 or 404 the request earns whatever the model would answer."""
    if request.version == "v1":
        refusal = unknown_fields(request.body)
        if refusal:
            return refusal
    if models is not None and request.model not in models:
        # google/adk-python#200
        return Reply(status=404, body=error_body(404, "NOT_FOUND", (
            f"models/{request.model} is not found for API version {request.version}, or is not supported for "
            f"generateContent. Call ListModels to see the list of available models and their supported methods.")))
    problem = check_thinking(request.model, request.config.get("thinkingConfig") or {})
    return Reply(status=400, body=error_body(400, "INVALID_ARGUMENT", problem)) if problem else None


# -- answers -------------------------------------------------------------------------------------


def count_tokens(text: str) -> int:
    """Roughly what the tokenizer counts: a token per 4 Latin characters, about one per CJK character."""
    wide = sum(1 for ch in text if ord(ch) > 0x2E7F)
    return math.ceil((len(text) - wide) / 4) + wide


def plan_thoughts(model: str, thinking: dict, reply: Reply, paper: FakePaper | None) -> int:
    """Thought tokens the model spends before answering (capped by a thinking budget, not by a level)."""
    version, kind = model_family(model)
    level, budget = thinking.get("thinkingLevel"), thinking.get("thinkingBudget")
    if not kind or version < (2, 5):
        return 0
    if version >= (3, 0):  # unset: Pro thinks high, Flash medium, Flash-Lite minimal (gemini-3 guide)
        level = level or {"pro": "HIGH", "flash": "MEDIUM", "flash-lite": "MINIMAL"}[kind]
    elif budget is None:  # 2.5 Pro and Flash think dynamically by default; Flash-Lite does not think unless asked
        budget = 0 if kind == "flash-lite" else -1
    wanted = reply.thinks if reply.thinks is not None else paper.thinks if paper and paper.thinks is not None else None
    amount = wanted if wanted is not None else THOUGHTS[level or "DYNAMIC"]
    return amount if budget is None or budget < 0 else min(amount, budget)


def build_answer(reply: Reply, request: FakeRequest, paper: FakePaper | None) -> dict:
    """A 200 body (https://ai.google.dev/api/generate-content#generatecontentresponse): candidates, usage, model."""
    prompt_tokens = count_tokens(request.system + request.prompt)
    config = request.config
    if reply.prompt_block:
        # A refused prompt: no candidates at all, only promptFeedback (…#PromptFeedback).
        return {"promptFeedback": {"blockReason": reply.prompt_block, "safetyRatings": [
                    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}]},
                "usageMetadata": {"promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens},
                "modelVersion": request.model}
    thinking = config.get("thinkingConfig") or {}
    limit = int(config.get("maxOutputTokens") or 65536)
    thoughts = min(plan_thoughts(request.model, thinking, reply, paper), limit)
    if reply.text is not None:
        text = reply.text
    else:
        data = reply.answer if reply.answer is not None else compose_answer(paper, request)
        text = json.dumps(data, ensure_ascii=False)
    finish = reply.finish_reason
    if thoughts + count_tokens(text) > limit and finish not in BLOCKING:
        # Thoughts count toward maxOutputTokens: what is left is cut, or nothing is left at all
        # (google/adk-python#1357: content {"role": "model"} without parts, finishReason MAX_TOKENS).
        text, finish = cut_to_tokens(text, limit - thoughts), "MAX_TOKENS"
    parts: list[dict] = []
    if thoughts and thinking.get("includeThoughts"):
        # Thought summaries come back only when asked for (…/docs/thinking#summaries), as parts marked thought.
        parts.append({"text": "**Reading the abstract**\nThe paper's claim and its evidence come first.", "thought": True})
    if text:
        parts.append({"text": text})
    candidate: dict[str, Any] = {"content": {"role": "model"} | ({"parts": parts} if parts else {}),
                                 "finishReason": finish, "index": 0}
    if finish in BLOCKING:
        if not text:  # a blocked candidate carries no content at all
            del candidate["content"]
        candidate["safetyRatings"] = [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}]
    output = count_tokens(text)
    usage = {"promptTokenCount": prompt_tokens} | ({"candidatesTokenCount": output} if output else {}) \
        | ({"thoughtsTokenCount": thoughts} if thoughts else {}) | {"totalTokenCount": prompt_tokens + output + thoughts}
    request.thoughts = thoughts
    return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": request.model,
            "responseId": f"fake-{len(request.prompt)}-{request.started:.6f}"}


def cut_to_tokens(text: str, tokens: int) -> str:
    """The start of a text that fits in `tokens` (empty when none are left)."""
    while text and count_tokens(text) > max(tokens, 0):
        text = text[: max(0, min(len(text) - 1, int(len(text) * 0.9)))]
    return text


def read_texts(body: dict) -> tuple[str, str]:
    """The user text and the system instruction of a generateContent body."""
    def join(content: dict | None) -> str:
        return "\n".join(p.get("text", "") for p in (content or {}).get("parts", []) if isinstance(p, dict))

    prompt = "\n".join(join(c) for c in body.get("contents", []) if isinstance(c, dict))
    system = join(body.get("systemInstruction") or body.get("system_instruction"))
    return prompt, system


def find_arxiv_id(prompt: str) -> str:
    """The bare arXiv id the prompt is about ('' if none): which paper the model is asked about."""
    found = re.search(r"arXiv(?: id)?:\s*(\d{4}\.\d{4,5}|[a-z\-]+(?:\.[A-Z]{2})?/\d{7})", prompt)
    return found.group(1) if found else ""


def squash(text: str) -> str:
    """Text compared loosely (case and spacing ignored)."""
    return " ".join(text.casefold().split())


def compose_answer(paper: FakePaper | None, request: FakeRequest) -> dict:
    """What the model answers about a paper it knows, in the language its instruction asks for.

    Affiliations come from the paper's facts, and only when the prompt showed them to the model (a model
    cannot read a first page it was not given); then whatever the model invents is laid over the answer.
    """
    zh = "Chinese" in request.system
    if paper is None:  # a paper the fake knows nothing of: a vague answer that names nothing
        paper = FakePaper("", "this paper", "The paper proposes a method. It reports experiments. The results are positive.")
    if paper.answer is not None:
        return paper.answer
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", " ".join(paper.abstract.split())) if s] or [paper.title]
    seen = squash(request.prompt)
    affiliations = [a for a in paper.affiliations if squash(a) in seen]
    links = re.findall(r"https?://[^\s{}<>\"'\\]+", paper.abstract)
    code_url = paper.code_url or (links[0].rstrip(".,;:)]") if links else "")
    if zh:
        takeaways = [f"要点{i + 1}：论文第{i + 1}句指出了关键发现。" for i in range(min(5, max(3, len(sentences))))]
        answer = {
            "tldr": f"本文提出了《{paper.title}》中的方法，并通过实验验证了其有效性。", "key_takeaways": takeaways,
            "title_translation": f"{paper.title}（中文译名）", "background": "该领域需要更好的方法。",
            "method": "作者提出了一种新方法。", "results": "实验结果表明该方法有效。",
            "conclusion": {"significance": "本工作具有一定意义。", "innovation": "提出了新方法。",
                           "performance": "性能良好。", "workload": "工作量适中。"},
        }
    else:
        answer = {
            "tldr": sentences[0][:200], "key_takeaways": [s[:200] for s in (sentences * 3)[: max(3, min(5, len(sentences)))]],
            "title_translation": "", "background": sentences[0][:300], "method": sentences[min(1, len(sentences) - 1)][:300],
            "results": sentences[-1][:300],
            "conclusion": {"significance": "A useful contribution.", "innovation": "A new method.",
                           "performance": "Good results.", "workload": "Moderate."},
        }
    answer |= {"keywords": re.findall(r"(?<![\w-])[A-Za-z][A-Za-z-]{4,}", paper.title)[:5], "affiliations": affiliations,
               "code_url": code_url, "prior_work": "", "methods": []}
    plant_figures(answer, zh, paper.abstract, request.prompt)
    return answer | paper.invented


# A figure the way abstracts write one (800,000; 50+ FPS; 3.733x; 21.4%), not glued to a name (3D, GPT-4, H36M)
# nor list numbering (1) a model).
ABSTRACT_FIGURE = re.compile(r"(?<![\w.\-])(?:\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?:\+?\s?(?:%|x|×|dB|FPS|fps)(?![\w])|(?![\w).]))")
INVENTED = ("93.7%", "41.9%", "12.6 dB", "88.4%")


def plant_figures(answer: dict, zh: bool, abstract: str, prompt: str) -> None:
    """Put into the result-like fields a figure copied from the abstract and one that nothing sent holds.

    Models state figures their source lacks: grounding exists because a model "generates content that
    isn't factual" (https://cloud.google.com/vertex-ai/generative-ai/docs/grounding/overview), current
    models invent content in roughly 3-6% of summaries (Vectara's hallucination leaderboard,
    https://github.com/vectara/hallucination-leaderboard). The made-up figure is one the prompt does not
    hold, so a test knows it must go; the copied one must stay.
    """
    copied = next((m[0] for m in ABSTRACT_FIGURE.finditer(abstract)), "")
    invented = next(f for f in INVENTED if f.split()[0].rstrip("%") not in prompt)
    if zh:
        real, made_up = f"论文报告的结果为 {copied}。", f"在主要基准上准确率提升 {invented}。"
    else:
        real, made_up = f"The paper reports {copied}.", f"Accuracy improves by {invented} on the main benchmark."
    joiner = "" if zh else " "
    for field in ("results",):
        answer[field] = joiner.join(part for part in (answer[field], real if copied else "", made_up) if part)
    conclusion = answer["conclusion"]
    conclusion["performance"] = joiner.join(p for p in (conclusion["performance"], real if copied else "", made_up) if p)
    answer["key_takeaways"] = answer["key_takeaways"] + ([real] if copied else []) + [made_up]
