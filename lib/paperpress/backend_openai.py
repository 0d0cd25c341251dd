"""OpenAI-compatible backend: a Request as one Chat Completions call (the openai package), its answer or error as a Reply.

Any server that speaks Chat Completions: OpenAI, DeepSeek, Qwen (DashScope), Kimi, GLM, vLLM, Ollama,
llama.cpp's server. API reference: https://platform.openai.com/docs/api-reference/chat/create.
"""

from __future__ import annotations

import email.utils
import re
import time
from dataclasses import dataclass
from typing import Any, Mapping

from .config import Endpoint, Settings
from .llm import PaperFailed, Reply, Request, RetryLater, StopRun, blot_key, describe_schema, split_reasoning, strict_schema
from .records import Usage

# Room for reasoning on top of the answer's: reasoning tokens count toward max_completion_tokens
# (https://platform.openai.com/docs/guides/reasoning#allocating-space-for-reasoning).
REASONING_ROOM = 4096
# OpenAI's reasoning models refuse a temperature other than the default (HTTP 400 "Unsupported value").
REASONING_MODEL = re.compile(r"^(o\d|gpt-5)")
# A server that takes no json_schema response_format: DeepSeek answers 400 "This response_format type is
# unavailable now" (llm-exe/llm-exe#662; 422 "response_format.type `json_schema` is unavailable now" in
# dzhng/deep-research#22); others say "json_schema" is not supported.
NO_JSON_SCHEMA = re.compile(r"response_format|json_schema", re.I)


def host_of(base_url: str) -> str:
    """The host[:port] of a base URL."""
    return re.sub(r"^https?://", "", base_url).split("/")[0]


def read_usage(usage: Any, answer: str, reasoning_text: str) -> Usage:
    """Usage with Gemini's meaning: completion_tokens includes reasoning tokens, which go apart.

    Servers that write reasoning inline (<think>…</think>) report no reasoning_tokens: their share of the
    completion is estimated by characters.
    """
    if usage is None:
        return Usage()
    prompt, completion = usage.prompt_tokens or 0, usage.completion_tokens or 0
    details = getattr(usage, "completion_tokens_details", None)
    reasoning = (getattr(details, "reasoning_tokens", None) or 0) if details else 0
    if not reasoning and reasoning_text:
        reasoning = round(completion * len(reasoning_text) / max(1, len(reasoning_text) + len(answer)))
    return Usage(prompt_tokens=prompt, output_tokens=max(0, completion - reasoning), thought_tokens=reasoning,
                 total_tokens=usage.total_tokens or prompt + completion)


def read_limits(headers: Mapping[str, str]) -> tuple[int, int] | None:
    """(requests, tokens) per minute from x-ratelimit-limit-* headers (https://platform.openai.com/docs/guides/rate-limits)."""
    def number(name: str) -> int:
        value = str(headers.get(name) or "").strip()
        return int(value) if value.isdigit() else 0

    found = number("x-ratelimit-limit-requests"), number("x-ratelimit-limit-tokens")
    return found if any(found) else None


def read_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds a 429 or 503 asks us to wait: retry-after-ms, or retry-after in seconds or as an HTTP date (as the SDK reads them)."""
    for name, divisor in (("retry-after-ms", 1000), ("retry-after", 1)):
        try:
            return float(headers.get(name) or "") / divisor
        except ValueError:
            pass
    when = email.utils.parsedate_tz(str(headers.get("retry-after") or ""))
    return max(0.0, email.utils.mktime_tz(when) - time.time()) if when else None


def error_text(exc: Any, key: str) -> str:
    """The server's own message of an APIStatusError, on one line, key blotted out."""
    body = exc.body if isinstance(exc.body, dict) else {}
    body = body.get("error", body) if isinstance(body.get("error", body), dict) else body
    return blot_key(str(body.get("message") or getattr(exc.response, "text", "") or ""), key)


@dataclass
class OpenAIBackend:
    """One run's client for an OpenAI-compatible server: sends Requests, returns Replies, raises what the core acts on."""

    endpoint: Endpoint
    settings: Settings
    client: Any = None
    mode: str = "json_schema"  # becomes "json_object" once the server refuses json_schema
    learns_limits: bool = True  # per key and model, as the server's x-ratelimit-* headers say

    def __post_init__(self) -> None:
        from openai import AsyncOpenAI

        host = host_of(self.endpoint.base_url)
        self.label = "OpenAI" if host == "api.openai.com" else f"the server at {host}"
        # max_retries=0: one retry policy, ours (it honours Retry-After across processes through the shared limiter).
        # The client insists on a key: without one it gets a placeholder that send() never sends (a local server,
        # Ollama or vLLM, may need none).
        self.client = AsyncOpenAI(api_key=self.endpoint.api_key or "none", base_url=self.endpoint.base_url, max_retries=0,
                                  timeout=self.settings.gemini_timeout_s)

    def estimate(self, request: Request) -> int:
        """Tokens the per-minute limit counts for a request: its input and max_tokens (OpenAI's rate-limit guide)."""
        return (len(request.system) + len(request.prompt)) // 4 + request.max_tokens

    def spent(self, reply: Reply, estimate: int) -> int:
        """Tokens the per-minute limit counted."""
        return reply.usage.total_tokens or estimate

    def make_body(self, request: Request) -> dict:
        """The create() arguments: messages, response_format in the mode the server takes, room, reasoning effort."""
        system = request.system
        if self.mode == "json_schema":
            response_format = {"type": "json_schema",
                               "json_schema": {"name": "summary", "strict": True, "schema": strict_schema(request.schema)}}
        else:  # JSON mode: the schema goes into the prompt, which must name "json" (DeepSeek's JSON Output guide)
            response_format, system = {"type": "json_object"}, f"{system}\n\n{describe_schema(request.schema)}"
        effort = "low" if request.grown and self.settings.openai_reasoning else self.settings.openai_reasoning
        room = request.max_tokens + (REASONING_ROOM if effort or REASONING_MODEL.match(self.endpoint.model) else 0)
        body: dict = {"model": self.endpoint.model, "response_format": response_format,
                      "messages": [{"role": "system", "content": system}, {"role": "user", "content": request.prompt}]}
        # max_tokens is deprecated at OpenAI (reasoning models refuse it); other servers know max_tokens.
        body["max_completion_tokens" if self.label == "OpenAI" else "max_tokens"] = 2 * room if request.grown else room
        if effort:
            body["reasoning_effort"] = effort
        if not effort and not REASONING_MODEL.match(self.endpoint.model):
            body["temperature"] = 0.2
        return body

    async def send(self, request: Request) -> Reply:
        """One Chat Completions call; errors become StopRun, PaperFailed or RetryLater."""
        import openai

        no_key = {} if self.endpoint.api_key else {"extra_headers": {"Authorization": openai.Omit()}}
        try:
            raw = await self.client.chat.completions.with_raw_response.create(**self.make_body(request), **no_key)
        except openai.APIStatusError as exc:
            raise self.describe_error(exc) from None
        except openai.APIConnectionError as exc:  # timeouts included
            raise RetryLater(type(exc).__name__) from None
        completion = raw.parse()
        limits = read_limits(raw.headers) or (0, 0)  # (0, 0): the server reports none (DeepSeek, Ollama, vLLM)
        if not completion.choices:
            return Reply("", usage=read_usage(completion.usage, "", ""), limits=limits)
        choice = completion.choices[0]
        # DeepSeek-R1's reasoning_content (and vLLM's reasoning) come apart from content: never read as the answer.
        answer, inline = split_reasoning(choice.message.content or "")
        usage = read_usage(completion.usage, answer, inline)
        if getattr(choice.message, "refusal", None):
            return Reply("", usage=usage, blocked=f"the model refused ({blot_key(choice.message.refusal)[:200]})", limits=limits)
        if choice.finish_reason == "content_filter":
            return Reply("", usage=usage, blocked=f"answer blocked by {self.label}'s content filter", limits=limits)
        return Reply(choice.message.content or "", "length" if choice.finish_reason == "length" else "stop", usage,
                     limits=limits)

    def describe_error(self, exc: Any) -> Exception:
        """An HTTP error as what the core does next: stop the run, fail the paper, or try again later."""
        code, message, where = exc.status_code, error_text(exc, self.endpoint.api_key), self.label
        said = f"HTTP {code}" + (f": {message}" if message else "")
        body = exc.body if isinstance(exc.body, dict) else {}
        kind = str(body.get("code") or body.get("type") or "")
        if code in (400, 422) and self.mode == "json_schema" and NO_JSON_SCHEMA.search(message):
            self.mode = "json_object"  # every later request of this run, too
            return RetryLater(f"{said}; asking in JSON mode", 0.0)
        if code == 401:
            if not self.endpoint.api_key:
                return StopRun(f"{where} wants an API key ({said}): set {self.endpoint.key_name} (or a topic's api_key_env)")
            return StopRun(f"{where} rejected the API key in {self.endpoint.key_name} ({said})")
        if code == 403:
            return StopRun(f"{where} refused the key ({said}): check the key's project, region and model access")
        if code == 404:
            return StopRun(f"model '{self.endpoint.model}' not found at {self.endpoint.base_url} ({said}): check the "
                           "model name and that the base URL ends in /v1 (or the server's own path)")
        if code == 429 and kind == "insufficient_quota":
            return StopRun(f"{where}: the key's quota or balance is used up ({said}): add credit or choose another provider")
        if code == 429 or code >= 500:
            return RetryLater(said[:200], read_retry_after(exc.response.headers))
        if code == 400 and re.search(r"response_format|reasoning_effort|temperature|max_(completion_)?tokens", message):
            return StopRun(f"{where} refused the request, as it would every request ({said})")
        return PaperFailed(f"{where} refused the request ({said})")

    async def close(self) -> None:
        """Release the client's connections."""
        await self.client.close()
