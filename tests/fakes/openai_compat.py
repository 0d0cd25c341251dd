"""A loopback fake of an OpenAI-compatible Chat Completions server, for offline tests and benchmarks.

The real `openai` package talks to it (POST {base}/chat/completions, `Authorization: Bearer <key>`), in the
wire format of the API reference (https://platform.openai.com/docs/api-reference/chat/create and
…/chat/object): `choices[0].message.content`, `finish_reason`, `usage` with `prompt_tokens`,
`completion_tokens` (reasoning included), `total_tokens` and `completion_tokens_details.reasoning_tokens`;
errors as `{"error": {"message", "type", "param", "code"}}`. Like the Gemini fake it answers from the facts
of the papers it is told about (tests.fakes.gemini.compose_answer), never by copying the prompt::

    with FakeOpenAI(mode="deepseek", papers=[...]) as fake:
        env = fake.env()                           # OPENAI_BASE_URL, OPENAI_API_KEY, PAPERPRESS_MODEL=openai:…
        fake.script("2403.16510", FakeOpenAI.error(503), FakeOpenAI.text("{bad"))
        fake.queue(FakeOpenAI.error(429))          # the next request, whatever the paper
        fake.requests, fake.count(429), fake.max_in_flight

Modes, chosen by the test (never by magic model names), each from its server's documentation:
- "openai": response_format json_schema with strict schemas, refusing keywords strict mode does not take
  (https://platform.openai.com/docs/guides/structured-outputs#supported-schemas: strings take pattern and
  format; no minLength/maxLength); x-ratelimit-* headers on every answer
  (https://platform.openai.com/docs/guides/rate-limits#rate-limits-in-headers); reasoning_effort makes
  reasoning tokens, counted in completion_tokens and in max_completion_tokens, an empty answer with
  finish_reason "length" when they use it all (https://platform.openai.com/docs/guides/reasoning).
- "deepseek": json_schema refused with 400 "This response_format type is unavailable now" (llm-exe/llm-exe#662);
  json_object needs the word "json" in the prompt, else 400 (browserbase/stagehand#1204); every
  `blank_every`-th answer is blank content with finish_reason "stop" (https://api-docs.deepseek.com/guides/json_mode:
  "the returned content may contain only spaces … handle blank content in your code (e.g., retry)");
  `reasoning=True` adds reasoning_content beside content (https://api-docs.deepseek.com/guides/reasoning_model).
- "local": a self-hosted server (Ollama, vLLM) with a Qwen3-style model: no key needed unless api_key is set
  (vLLM's --api-key), json_schema taken, the reasoning written inline as <think>…</think> before the answer
  (no reasoning parser: vLLM docs, "Reasoning Outputs"), no rate-limit headers.
A 429 carries Retry-After (the openai package reads retry-after-ms, then retry-after: openai-python
src/openai/_base_client.py, _parse_retry_after_header).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterable

from tests.fakes.gemini import FakePaper, Scripted, compose_answer, count_tokens, cut_to_tokens, find_arxiv_id

FAKE_OPENAI_KEY = "sk-fake-openai-key-0000-do-not-leak"
MODES = ("openai", "deepseek", "local")
# Keywords strict mode accepts besides structure (https://platform.openai.com/docs/guides/structured-outputs#supported-schemas).
STRICT_KEYWORDS = {"type", "properties", "required", "additionalProperties", "items", "description", "enum", "const",
                   "anyOf", "$defs", "$ref", "pattern", "format", "minItems", "maxItems", "minimum", "maximum",
                   "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "title"}
REASONING = {"none": 0, "minimal": 60, "low": 700, "medium": 2500, "high": 8000}


@dataclass(frozen=True)
class Reply:
    """One scripted reply: an HTTP error, or a model answer of some kind."""

    status: int = 200
    answer: dict | None = None  # the model's JSON answer (None: the paper's usual answer)
    text: str | None = None  # raw content (e.g. broken JSON, or blank)
    finish_reason: str = "stop"
    body: dict | None = None  # an error body, used as is
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    reasoning: int | None = None  # reasoning tokens for this reply


@dataclass
class FakeRequest:
    """What the fake saw of one request (the key is kept only to check it was sent)."""

    path: str
    model: str
    api_key: str
    body: dict
    prompt: str
    system: str
    arxiv_id: str
    started: float
    ended: float = 0.0
    status: int = 0
    reasoning: int = 0

    @property
    def response_format(self) -> dict:
        """The request's response_format ({} when absent)."""
        return self.body.get("response_format") or {}


@dataclass
class State:
    """Mutable state shared by the handler threads (guarded by lock)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: list[FakeRequest] = field(default_factory=list)
    scripts: dict[str, deque[Reply]] = field(default_factory=lambda: defaultdict(deque))
    queued: deque[Reply] = field(default_factory=deque)
    arrivals: deque[float] = field(default_factory=deque)
    answered: int = 0
    in_flight: int = 0
    max_in_flight: int = 0


class FakeOpenAI(Scripted):
    """A threaded HTTP server on 127.0.0.1 answering POST /v1/chat/completions."""

    def __init__(self, mode: str = "openai", latency: float = 0.0, rpm: int | None = None, window: float = 60.0,
                 tpm: int = 0, api_key: str | None = "", models: Iterable[str] | None = None, papers: Iterable[FakePaper] = (),
                 blank_every: int = 0, reasoning: bool = False):
        assert mode in MODES, mode
        self.mode = mode
        self.latency = latency
        self.rpm, self.window, self.tpm = rpm, window, tpm  # at most rpm requests per window seconds, else 429
        # "" : the mode's default (a key required except on a local server); None: no key needed; else this key only.
        self.api_key = (None if mode == "local" else FAKE_OPENAI_KEY) if api_key == "" else api_key
        self.models = set(models) if models is not None else None
        self.papers = {p.arxiv_id: p for p in papers}
        self.blank_every = blank_every  # deepseek mode: every n-th answer blank (0: none)
        self.reasoning = reasoning
        self.state = State()
        self.server: ThreadingHTTPServer | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> "FakeOpenAI":
        handler = type("Handler", (ChatHandler,), {"fake": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.02,), name="fake-openai", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        """The base URL to give the SDK (OPENAI_BASE_URL): it ends in /v1, as real ones do."""
        assert self.server is not None, "use FakeOpenAI as a context manager"
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def env(self, model: str = "fake-model", fast: bool = True) -> dict[str, str]:
        """Environment variables that point paperpress (or a papermill kernel) at this fake."""
        env = {"OPENAI_BASE_URL": self.url, "OPENAI_API_KEY": self.api_key or "", "PAPERPRESS_MODEL": f"openai:{model}",
               "NO_PROXY": "127.0.0.1,localhost"}
        if fast:
            env |= {"PAPERPRESS_GEMINI_BACKOFF": "0.01", "PAPERPRESS_GEMINI_RETRY_SCALE": "0.01"}
        return env

    # -- scripting ---------------------------------------------------------------------------

    @staticmethod
    def answer(data: dict | None = None, finish_reason: str = "stop") -> Reply:
        """A model answer: this JSON object (None: the paper's usual answer)."""
        return Reply(answer=data, finish_reason=finish_reason)

    @staticmethod
    def text(raw: str, finish_reason: str = "stop") -> Reply:
        """A model answer with this raw content (e.g. broken JSON, or blank)."""
        return Reply(text=raw, finish_reason=finish_reason)

    @staticmethod
    def thinking(tokens: int) -> Reply:
        """The usual answer after `tokens` reasoning tokens (more than the limit: an empty 'length' answer)."""
        return Reply(reasoning=tokens)

    @staticmethod
    def slow(seconds: float) -> Reply:
        """The usual answer, after `seconds` more than the usual latency."""
        return Reply(delay=seconds)

    @staticmethod
    def error(status: int, message: str | None = None, retry_after: float = 1.0) -> Reply:
        """An HTTP error in the API's shape; a 429 is a requests-per-minute limit with Retry-After."""
        if status == 429:
            return rate_limited("fake-model", 3, retry_after)
        kind = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error"}.get(status, "server_error")
        return Reply(status=status, body=error_body(message or DEFAULT_MESSAGES.get(status, f"HTTP {status}"), kind))

    # -- inspection --------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget requests, scripts, the rate window and counters (not the papers)."""
        with self.state.lock:
            self.state.requests.clear()
            self.state.scripts.clear()
            self.state.queued.clear()
            self.state.arrivals.clear()
            self.state.answered = self.state.max_in_flight = 0

    # -- serving (called from handler threads) -------------------------------------------------

    def admit(self, request: FakeRequest) -> Reply | None:
        """A refusal, a 429 or the next scripted reply (None: the usual answer)."""
        state = self.state
        with state.lock:
            refusal = self.refuse(request)
            if refusal:
                return refusal
            if self.rpm is not None:
                while state.arrivals and state.arrivals[0] <= request.started - self.window:
                    state.arrivals.popleft()
                if len(state.arrivals) >= self.rpm:
                    wait = state.arrivals[0] + self.window - request.started
                    return rate_limited(request.model, self.rpm, max(wait, 0.001))
                state.arrivals.append(request.started)
            if state.queued:
                return state.queued.popleft()
            script = state.scripts.get(request.arxiv_id)
            if script:
                return script.popleft()
            state.answered += 1
            if self.blank_every and state.answered % self.blank_every == 0:
                return Reply(text=" " * 12)  # DeepSeek's JSON mode: non-JSON content replaced by spaces, finish "stop"
            return None

    def refuse(self, request: FakeRequest) -> Reply | None:
        """A 400 or 404 the request earns whatever the model would answer."""
        if self.models is not None and request.model not in self.models:
            if self.mode == "local":  # Ollama's wording
                return Reply(status=404, body=error_body(f'model "{request.model}" not found, try pulling it first', "api_error"))
            return Reply(status=404, body=error_body(f"The model `{request.model}` does not exist or you do not have access "
                                                     "to it.", "invalid_request_error", "model_not_found"))
        kind = request.response_format.get("type")
        if self.mode == "deepseek":
            if kind == "json_schema":
                return Reply(status=400, body=error_body("This response_format type is unavailable now", "invalid_request_error",
                                                         "invalid_request_error"))
            if kind == "json_object" and "json" not in (request.system + request.prompt).lower():
                return Reply(status=400, body=error_body("Prompt must contain the word 'json' in some form to use "
                                                         "'response_format' of type 'json_object'.", "invalid_request_error"))
        if self.mode == "openai" and kind == "json_schema":
            problem = check_strict((request.response_format.get("json_schema") or {}).get("schema") or {})
            if problem:
                return Reply(status=400, body=error_body(f"Invalid schema for response_format 'summary': {problem}",
                                                         "invalid_request_error", None, "response_format"))
        return None

    def headers_for(self, request: FakeRequest) -> list[tuple[str, str]]:
        """x-ratelimit-* headers as OpenAI sends them (per minute; this fake's window scaled to a minute)."""
        if self.mode != "openai":
            return []
        per_minute = round(self.rpm * 60 / self.window) if self.rpm else 10_000
        with self.state.lock:
            used = len(self.state.arrivals)
        return [("x-ratelimit-limit-requests", str(per_minute)),
                ("x-ratelimit-remaining-requests", str(max(0, (self.rpm or per_minute) - used))),
                ("x-ratelimit-reset-requests", f"{self.window / max(1, self.rpm or per_minute):.3f}s"),
                ("x-ratelimit-limit-tokens", str(self.tpm or 2_000_000)),
                ("x-ratelimit-remaining-tokens", str(self.tpm or 2_000_000)),
                ("x-ratelimit-reset-tokens", "0s")]

    def enter(self, request: FakeRequest) -> None:
        """Log a request and count it as held."""
        with self.state.lock:
            self.state.requests.append(request)
            self.state.in_flight += 1
            self.state.max_in_flight = max(self.state.max_in_flight, self.state.in_flight)

    def leave(self, request: FakeRequest, status: int) -> None:
        """Count a request answered."""
        with self.state.lock:
            self.state.in_flight -= 1
            request.ended, request.status = time.monotonic(), status


class ChatHandler(BaseHTTPRequestHandler):
    """Speaks just enough of Chat Completions for the openai package."""

    fake: FakeOpenAI
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Stay quiet: tests read the request log instead."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        """Answer one chat completion (after the configured latency)."""
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.split("?")[0] != "/v1/chat/completions":
            return self.send_json(404, error_body(f"Invalid URL (POST {self.path})", "invalid_request_error"))
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return self.send_json(400, error_body("We could not parse the JSON body of your request.", "invalid_request_error"))
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        system = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") in ("system", "developer"))
        prompt = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "user")
        auth = self.headers.get("Authorization", "")
        request = FakeRequest(path=self.path, model=str(body.get("model", "")), api_key=auth.removeprefix("Bearer ").strip(),
                              body=body, prompt=prompt, system=system, arxiv_id=find_arxiv_id(prompt), started=time.monotonic())
        fake = self.fake
        fake.enter(request)
        reply = Reply(status=500)
        try:
            reply = self.check_key(request) or fake.admit(request) or Reply()
            if reply.status != 429 and fake.latency + reply.delay > 0:
                time.sleep(fake.latency + reply.delay)
            out = reply.body if reply.body is not None else build_completion(fake, reply, request,
                                                                              fake.papers.get(request.arxiv_id))
        finally:
            fake.leave(request, reply.status)
        headers = list(reply.headers) + (fake.headers_for(request) if reply.status in (200, 429) else [])
        try:
            self.send_json(reply.status, out, headers)
        except (BrokenPipeError, ConnectionResetError):
            request.status = 499  # the client gave up (timeout) before the answer

    def check_key(self, request: FakeRequest) -> Reply | None:
        """401 without the key, or with another (OpenAI's and vLLM's wording)."""
        expected = self.fake.api_key
        if expected is None:
            return None
        if not request.api_key:
            return Reply(status=401, body=error_body(
                "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer "
                "auth (i.e. Authorization: Bearer YOUR_KEY).", "invalid_request_error"))
        if request.api_key != expected:
            # OpenAI echoes the key masked; DeepSeek "Authentication Fails, Your api key: ****abcd is invalid".
            masked = f"{request.api_key[:3]}***{request.api_key[-4:]}"
            return Reply(status=401, body=error_body(f"Incorrect API key provided: {masked}. You can find your API key at "
                                                     "https://platform.openai.com/account/api-keys.", "invalid_request_error",
                                                     "invalid_api_key"))
        return None

    def send_json(self, status: int, body: dict, headers: Iterable[tuple[str, str]] = ()) -> None:
        """Write one JSON response."""
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


# -- bodies --------------------------------------------------------------------------------------

DEFAULT_MESSAGES = {400: "Invalid request.", 500: "The server had an error while processing your request. Sorry about that!",
                    502: "Bad gateway.", 503: "The engine is currently overloaded, please try again later."}


def error_body(message: str, kind: str, code: str | None = None, param: str | None = None) -> dict:
    """An error in the API's shape (https://platform.openai.com/docs/guides/error-codes)."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def rate_limited(model: str, limit: int, wait: float) -> Reply:
    """A 429 as OpenAI words it, with Retry-After (seconds, rounded up) and retry-after-ms."""
    message = (f"Rate limit reached for {model} in organization org-fake on requests per min (RPM): Limit {limit}, Used "
               f"{limit}, Requested 1. Please try again in {wait:.3f}s. Visit https://platform.openai.com/account/rate-limits "
               "to learn more.")
    return Reply(status=429, body=error_body(message, "requests", "rate_limit_exceeded"),
                 headers=(("retry-after", str(math.ceil(wait))), ("retry-after-ms", str(max(1, round(wait * 1000))))))


def check_strict(schema: Any, where: tuple = ()) -> str:
    """Why strict mode refuses a schema ('' when it takes it): an unsupported keyword, an object not closed or not all required."""
    if isinstance(schema, dict):
        for key in schema:
            if key not in STRICT_KEYWORDS:
                return f"In context={where}, '{key}' is not permitted."
        if schema.get("type") == "object":
            if schema.get("additionalProperties") is not False:
                return f"In context={where}, 'additionalProperties' is required to be supplied and to be false."
            missing = sorted(set(schema.get("properties", {})) - set(schema.get("required", [])))
            if missing:
                return f"In context={where}, 'required' is required to be supplied and to be an array including every key " \
                       f"in properties. Missing '{missing[0]}'."
        for name, value in (schema.get("properties") or {}).items():
            found = check_strict(value, where + ("properties", name))
            if found:
                return found
        if isinstance(schema.get("items"), dict):
            return check_strict(schema["items"], where + ("items",))
    return ""


def build_completion(fake: FakeOpenAI, reply: Reply, request: FakeRequest, paper: FakePaper | None) -> dict:
    """A 200 chat.completion object (https://platform.openai.com/docs/api-reference/chat/object)."""
    body = request.body
    limit = int(body.get("max_completion_tokens") or body.get("max_tokens") or 65536)
    effort = body.get("reasoning_effort")
    reasoning = reply.reasoning if reply.reasoning is not None else (REASONING.get(effort, 0) if effort else 0)
    if fake.mode == "deepseek" and fake.reasoning and reply.reasoning is None:
        reasoning = 300
    if reply.text is not None:
        text = reply.text
    else:
        text = json.dumps(reply.answer if reply.answer is not None else compose_answer(paper, request), ensure_ascii=False)
    finish = reply.finish_reason
    inline = ""
    if fake.mode == "local":  # reasoning written into content, before the answer
        inline = "<think>\nThe user wants a JSON summary of the paper. I will read the abstract first.\n</think>\n\n"
        reasoning = 0
    if reasoning + count_tokens(inline + text) > limit:  # reasoning counts toward the limit: what is left is cut
        text, finish = cut_to_tokens(text, limit - reasoning - count_tokens(inline)), "length"
    message: dict[str, Any] = {"role": "assistant", "content": inline + text, "refusal": None}
    if fake.mode == "deepseek" and fake.reasoning:
        message["reasoning_content"] = "The paper proposes a method; its abstract gives the results."
    prompt_tokens = count_tokens(request.system + request.prompt)
    completion = count_tokens(inline + text) + reasoning
    usage: dict[str, Any] = {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
                             "total_tokens": prompt_tokens + completion}
    if fake.mode != "local":
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    if fake.mode == "deepseek":  # https://api-docs.deepseek.com/api/create-chat-completion (context caching counts)
        usage |= {"prompt_cache_hit_tokens": 0, "prompt_cache_miss_tokens": prompt_tokens}
    request.reasoning = reasoning
    return {"id": f"chatcmpl-fake-{request.started:.6f}", "object": "chat.completion", "created": int(time.time()),
            "model": request.model, "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": usage}

