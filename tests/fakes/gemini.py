"""A loopback fake of the Gemini REST API (generateContent) for offline tests and benchmarks.

The real google-genai SDK talks to it (POST /v1/models/{model}:generateContent, key in x-goog-api-key)::

    with FakeGemini(latency=0.0) as fake:
        for name, value in fake.env().items():   # base URL, a dummy GEMINI_API_KEY, no client rate limit,
            monkeypatch.setenv(name, value)      # fast retries; a papermill kernel inherits these
        fake.script("2403.16510", FakeGemini.error(429, retry_delay="0.05s"), FakeGemini.text("{bad"))
        fake.queue(FakeGemini.error(503))        # the next request, whatever the paper
        ...
        fake.requests, fake.count(429), fake.max_in_flight

By default every request gets a schema-valid answer derived from the prompt (title, abstract and
first page as paperpress writes them), in Chinese when the system instruction asks for Chinese.
Replies: answer(dict), text(raw), blocked(reason), slow(seconds), error(status, retry_delay, daily).
FakeGemini(rpm=N, window=W) answers 429 (with RetryInfo) above N requests in any W seconds;
FakeGemini(api_key=K) answers 400 "API key not valid" to any other key.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAKE_KEY = "FAKE-GEMINI-KEY-0000-do-not-leak"
ROUTE = re.compile(r"^/(?P<version>v1\w*)/models/(?P<model>[^/:]+):generateContent$")
BLOCKING = {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION", "OTHER"}


@dataclass(frozen=True)
class Reply:
    """One scripted reply: an HTTP status with a JSON body, or a model answer."""

    status: int = 200
    text: str | None = None  # the model's answer text (None: derive one from the prompt)
    finish_reason: str = "STOP"
    retry_delay: str | None = None  # for 429s
    quota_id: str = "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"  # for 429s
    body: dict | None = None  # a raw response body, used as is
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


@dataclass
class State:
    """Mutable state shared by the handler threads (guarded by lock)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: list[FakeRequest] = field(default_factory=list)
    scripts: dict[str, deque[Reply]] = field(default_factory=lambda: defaultdict(deque))
    queued: deque[Reply] = field(default_factory=deque)
    arrivals: deque[float] = field(default_factory=deque)
    in_flight: int = 0
    max_in_flight: int = 0


class FakeGemini:
    """A threaded HTTP server on 127.0.0.1 answering POST /v1*/models/{model}:generateContent."""

    def __init__(self, latency: float = 0.0, rpm: int | None = None, window: float = 60.0, api_key: str | None = None):
        self.latency = latency  # seconds each answer takes (the server holds the request)
        self.rpm = rpm  # at most this many requests per `window` seconds, else 429 with retryDelay
        self.window = window
        self.api_key = api_key  # when set, any other key gets the API's "API key not valid" 400
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
        """A model answer: this JSON object (None: derived from the prompt)."""
        return Reply(text=None if data is None else json.dumps(data, ensure_ascii=False), finish_reason=finish_reason)

    @staticmethod
    def text(raw: str, finish_reason: str = "STOP") -> Reply:
        """A model answer with this raw text (e.g. broken JSON)."""
        return Reply(text=raw, finish_reason=finish_reason)

    @staticmethod
    def blocked(reason: str = "SAFETY") -> Reply:
        """A candidate stopped by a filter: no text, finishReason=reason."""
        return Reply(text="", finish_reason=reason)

    @staticmethod
    def slow(seconds: float) -> Reply:
        """The default answer, after `seconds` more than the usual latency."""
        return Reply(delay=seconds)

    @staticmethod
    def error(status: int, retry_delay: str | None = None, daily: bool = False) -> Reply:
        """An HTTP error in the API's shape (a 429 carries RetryInfo with retry_delay, e.g. '0.05s')."""
        reply = Reply(status=status, retry_delay=retry_delay or ("1s" if status == 429 else None))
        return replace(reply, quota_id="GenerateRequestsPerDayPerProjectPerModel-FreeTier") if daily else reply

    def script(self, arxiv_id: str, *replies: Reply) -> None:
        """Replies for the next requests about this paper (bare id, no version), in order."""
        with self.state.lock:
            self.state.scripts[arxiv_id].extend(replies)

    def queue(self, *replies: Reply) -> None:
        """Replies for the next requests, whatever the paper (used before per-paper scripts)."""
        with self.state.lock:
            self.state.queued.extend(replies)

    # -- inspection --------------------------------------------------------------------------

    @property
    def requests(self) -> list[FakeRequest]:
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

    def reset(self) -> None:
        """Forget requests, scripts and the rate window."""
        with self.state.lock:
            self.state.requests.clear()
            self.state.scripts.clear()
            self.state.queued.clear()
            self.state.arrivals.clear()
            self.state.max_in_flight = 0

    # -- serving (called from handler threads) -------------------------------------------------

    def admit(self, request: FakeRequest) -> Reply | None:
        """Log the request; a rate-limit 429 or the next scripted reply (None: default answer)."""
        state = self.state
        with state.lock:
            state.requests.append(request)
            now = request.started
            if self.rpm is not None:
                while state.arrivals and state.arrivals[0] <= now - self.window:
                    state.arrivals.popleft()
                if len(state.arrivals) >= self.rpm:
                    wait = state.arrivals[0] + self.window - now
                    return Reply(status=429, retry_delay=f"{max(wait, 0.001):.3f}s")
                state.arrivals.append(now)
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
            return self.send_json(400, error_body(400, "INVALID_ARGUMENT", "body is not JSON"))
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
            body = build_body(reply, request)
        finally:
            # Recorded before the answer goes out: once the client has it, the log must already show it.
            fake.leave(request, reply.status)
        try:
            self.send_json(reply.status, body)
        except (BrokenPipeError, ConnectionResetError):
            request.status = 499  # the client gave up (timeout) before the answer: nginx's "client closed request"

    def check_key(self, request: FakeRequest) -> Reply | None:
        """The API's answers to a missing or wrong key."""
        expected = self.fake.api_key
        if not request.api_key:
            return Reply(status=403, body=error_body(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers."))
        if expected is not None and request.api_key != expected:
            return Reply(status=400, body=error_body(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key."))
        return None

    def send_json(self, status: int, body: dict) -> None:
        """Write one JSON response."""
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def error_body(code: int, status: str, message: str, retry_delay: str | None = None,
               quota_id: str = Reply.quota_id) -> dict:
    """An error in the API's shape, with QuotaFailure and RetryInfo when a delay is given."""
    error: dict[str, Any] = {"code": code, "status": status, "message": message}
    if retry_delay:
        error["details"] = [
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
             "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                             "quotaId": quota_id}]},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay},
        ]
    return {"error": error}


STATUS_NAMES = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED",
                500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


def build_body(reply: Reply, request: FakeRequest) -> dict:
    """The response body for a reply: an error, a blocked candidate or an answer with usage."""
    if reply.body is not None:
        return reply.body
    if reply.status != 200:
        name = STATUS_NAMES.get(reply.status, "UNKNOWN")
        message = "You exceeded your current quota." if reply.status == 429 else f"fake {name}"
        return error_body(reply.status, name, message, reply.retry_delay if reply.status == 429 else None, reply.quota_id)
    text = reply.text
    if text is None:
        text = json.dumps(derive_answer(request.prompt, request.system), ensure_ascii=False)
    candidate: dict[str, Any] = {"finishReason": reply.finish_reason, "index": 0}
    if text or reply.finish_reason not in BLOCKING:
        candidate["content"] = {"role": "model", "parts": [{"text": text}]}
    if reply.finish_reason in BLOCKING:
        candidate["safetyRatings"] = [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}]
    prompt_tokens = max(1, len(request.system + request.prompt) // 4)
    output_tokens = len(text) // 4
    return {
        "candidates": [candidate],
        "usageMetadata": {"promptTokenCount": prompt_tokens, "candidatesTokenCount": output_tokens,
                          "totalTokenCount": prompt_tokens + output_tokens},
        "modelVersion": request.model,
    }


def read_texts(body: dict) -> tuple[str, str]:
    """The user text and the system instruction of a generateContent body."""
    def join(content: dict | None) -> str:
        return "\n".join(p.get("text", "") for p in (content or {}).get("parts", []) if isinstance(p, dict))

    prompt = "\n".join(join(c) for c in body.get("contents", []) if isinstance(c, dict))
    system = join(body.get("systemInstruction") or body.get("system_instruction"))
    return prompt, system


def find_arxiv_id(prompt: str) -> str:
    """The bare arXiv id named in the prompt ('' if none)."""
    found = re.search(r"arXiv(?: id)?:\s*(\d{4}\.\d{4,5}|[a-z\-]+(?:\.[A-Z]{2})?/\d{7})", prompt)
    return found.group(1) if found else ""


def find_field(prompt: str, name: str) -> str:
    """The text after 'Name:' up to the next blank line (paperpress's prompt layout)."""
    found = re.search(rf"^{name}:[ \t]*(.*?)(?:\n\s*\n|\Z)", prompt, re.M | re.S)
    return found.group(1).strip() if found else ""


def derive_answer(prompt: str, system: str) -> dict:
    """A plausible, schema-valid summary of the paper in the prompt."""
    title = " ".join(find_field(prompt, "Title").split()) or "an untitled paper"
    abstract = " ".join(find_field(prompt, "Abstract").split()) or title
    first_page = find_field(prompt, "First page")
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", abstract) if s] or [abstract]
    zh = "Chinese" in system or "中文" in system or "Chinese" in prompt.split("Title:")[0]
    urls = re.findall(r"https?://[^\s{}<>\"'\\]+", abstract)
    affiliations = [line.strip() for line in re.split(r"[\n;]", first_page)
                    if re.search(r"Universit|Institut|Laborator|Academy", line) and len(line) < 120][:2]
    if zh:
        takeaways = [f"要点{i + 1}：{s[:120]}" for i, s in enumerate(sentences[:5])]
        while len(takeaways) < 3:
            takeaways.append(f"要点{len(takeaways) + 1}：本文研究《{title[:60]}》。")
        tldr = f"本文提出了《{title}》中的方法，并通过实验验证了其有效性。"
        background, method, results = f"研究背景：{sentences[0][:200]}", f"方法：{title}", "实验结果表明该方法有效。"
        conclusion = {"significance": "本工作具有一定意义。", "innovation": "提出了新方法。",
                      "performance": "性能良好。", "workload": "工作量适中。"}
        translation = f"{title}（译）"
    else:
        takeaways = [s[:200] for s in sentences[:5]]
        while len(takeaways) < 3:
            takeaways.append(f"The paper studies {title[:80]}.")
        tldr = f"The paper presents {title}."
        background, method, results = sentences[0][:300], f"The method of {title}.", "Experiments show it works."
        conclusion = {"significance": "A useful contribution.", "innovation": "A new method.",
                      "performance": "Good results.", "workload": "Moderate."}
        translation = ""
    return {
        "tldr": tldr, "key_takeaways": takeaways, "title_translation": translation,
        "keywords": [w for w in re.findall(r"[A-Za-z][A-Za-z-]{4,}", title)][:5],
        "affiliations": affiliations, "code_url": urls[0].rstrip(".,;:)]") if urls else "",
        "background": background, "prior_work": "", "method": method, "results": results,
        "methods": [], "conclusion": conclusion,
    }
