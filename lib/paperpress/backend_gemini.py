"""Gemini backend: a Request as one generateContent call (google-genai, v1beta), its answer or error as a Reply."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

from .config import Endpoint, Settings
from .llm import PaperFailed, Reply, Request, RetryLater, StopRun, blot_key
from .records import Usage

# google-genai sends the Developer API to v1 by default, where systemInstruction and structured output
# are unknown fields (400 INVALID_ARGUMENT; googleapis/python-genai#1837, googleapis/js-genai#1746).
API_VERSION = "v1beta"
# Thought tokens count toward maxOutputTokens: room for them on top of the answer's, for a model that thinks.
THINKING_ROOM = 2048
BLOCKED_REASONS = {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION", "IMAGE_SAFETY", "OTHER"}
# 400s that every request would repeat: a field this API version does not know, an unsupported location,
# a thinking setting or schema the model refuses (the config is the same for every paper).
FATAL_400 = re.compile(r"Invalid JSON payload|location is not supported|thinking|not supported|schema", re.I)


# -- thinking ------------------------------------------------------------------------------------
# gemini-3.5-flash-lite, gemini-2.5-pro, gemini-3.1-pro-preview, gemini-flash-latest, models/gemini-2.5-flash-lite-...
FAMILY = re.compile(r"^(?:models/)?gemini-(?:(?P<major>\d+)(?:\.(?P<minor>\d+))?-)?(?P<kind>pro|flash-lite|flash)\b")


@dataclass(frozen=True)
class Thinking:
    """How a request asks the model to think: a level (Gemini 3.x) or a token budget (Gemini 2.5)."""

    level: str = ""  # MINIMAL, LOW, MEDIUM, HIGH
    budget: int | None = None

    def room(self) -> int:
        """Output tokens to leave for thoughts on top of the answer's."""
        return self.budget if self.budget is not None else THINKING_ROOM


def pick_thinking(model: str, setting: str = "auto") -> Thinking | None:
    """The lowest thinking the model accepts (or the setting's choice); None sends no thinking config.

    https://ai.google.dev/gemini-api/docs/thinking: Gemini 3.x takes thinking_level (Pro: low and up,
    Flash and Flash-Lite: minimal and up) and rejects a budget of 0 (googleapis/python-genai#2936);
    2.5 takes thinking_budget, where 0 turns thinking off on Flash and Flash-Lite but not on Pro
    (minimum 128: "Budget 0 is invalid. This model only works in thinking mode."); older models do not think.
    """
    if setting == "off":
        return None
    if setting.isdigit():
        return Thinking(budget=int(setting))
    if setting not in ("auto", ""):
        return Thinking(level=setting.upper())
    found = FAMILY.match(model.lower())
    if not found:
        return None
    if found["major"]:
        version = (int(found["major"]), int(found["minor"] or 0))
    else:
        version = (3, 0) if model.endswith("-latest") else (0, 0)  # gemini-flash-latest and kin point at 3.x
    if version >= (3, 0):
        return Thinking(level="LOW" if found["kind"] == "pro" else "MINIMAL")
    if version >= (2, 5):
        return Thinking(budget=128 if found["kind"] == "pro" else 0)
    return None


# -- request and answer --------------------------------------------------------------------------


def make_client(settings: Settings, endpoint: Endpoint | None = None) -> Any:
    """A google-genai client for the key and endpoint, on v1beta, with the SDK's own retries off (we retry)."""
    from google import genai
    from google.genai import types

    base_url = endpoint.base_url if endpoint else settings.gemini_base_url
    options = types.HttpOptions(base_url=base_url or None, api_version=API_VERSION,
                                timeout=int(settings.gemini_timeout_s * 1000),
                                retry_options=None)  # the SDK ignores the server's retryDelay: ours honours it
    return genai.Client(api_key=endpoint.api_key if endpoint else settings.api_key, http_options=options)


def make_config(request: Request, thinking: Thinking | None = None) -> Any:
    """Generation settings: JSON answer following the schema, modest temperature, room for thoughts and answer."""
    from google.genai import types

    room = request.max_tokens + (thinking.room() if thinking else THINKING_ROOM)
    think = types.ThinkingConfig(thinking_level=thinking.level or None, thinking_budget=thinking.budget) if thinking else None
    return types.GenerateContentConfig(
        system_instruction=request.system, response_mime_type="application/json", response_json_schema=request.schema,
        temperature=0.2, max_output_tokens=2 * room if request.grown else room, thinking_config=think,
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),  # no tools here
    )


def read_usage(response: Any) -> Usage:
    """Tokens a response reports: candidatesTokenCount excludes thoughts, which thoughtsTokenCount counts apart."""
    meta = getattr(response, "usage_metadata", None)
    if meta is None:
        return Usage()
    prompt, output = meta.prompt_token_count or 0, meta.candidates_token_count or 0
    thoughts = getattr(meta, "thoughts_token_count", None) or 0
    return Usage(prompt_tokens=prompt, output_tokens=output, thought_tokens=thoughts,
                 total_tokens=meta.total_token_count or prompt + output + thoughts)


def read_reply(response: Any) -> Reply:
    """A response as a Reply: the answer parts (thought summaries left out), why it stopped, what it cost."""
    usage = read_usage(response)
    feedback = getattr(response, "prompt_feedback", None)
    if feedback is not None and getattr(feedback, "block_reason", None):
        return Reply("", usage=usage, blocked=f"prompt blocked by Gemini ({enum_name(feedback.block_reason)})")
    candidates = response.candidates or []
    if not candidates:
        return Reply("", usage=usage)
    reason = enum_name(candidates[0].finish_reason)
    if reason in BLOCKED_REASONS:
        return Reply("", usage=usage, blocked=f"answer blocked by Gemini (finish reason {reason})")
    content = candidates[0].content
    parts = content.parts if content and content.parts else []
    text = "".join(p.text or "" for p in parts if not getattr(p, "thought", False))  # thought summaries are no answer
    return Reply(text, "length" if reason == "MAX_TOKENS" else "stop", usage)


def enum_name(value: Any) -> str:
    """The name of an SDK enum value (or a plain string)."""
    return str(getattr(value, "value", value) or "")


# -- what the server said ------------------------------------------------------------------------
# Error bodies are google.rpc.Status: {"error": {"code", "message", "status", "details": [...]}}, the
# details typed by "@type": QuotaFailure (violations with quotaId), RetryInfo (retryDelay), ErrorInfo (reason).


def detail_items(details: Any, kind: str) -> list[dict]:
    """The error's details of one type (e.g. 'QuotaFailure')."""
    error = details.get("error", details) if isinstance(details, dict) else {}
    items = (error if isinstance(error, dict) else {}).get("details") or []
    return [i for i in items if isinstance(i, dict) and str(i.get("@type", "")).endswith(f".{kind}")]


def server_message(exc: Any, key: str = "") -> str:
    """The server's own message, on one line, clipped, with anything like a key blotted out."""
    error = exc.details.get("error", {}) if isinstance(getattr(exc, "details", None), dict) else {}
    return blot_key(getattr(exc, "message", None) or (error.get("message") if isinstance(error, dict) else "") or "", key)


def read_retry_delay(details: Any) -> float | None:
    """Seconds from a 429's RetryInfo (e.g. '17s', '0.5s'), or None if absent."""
    for item in detail_items(details, "RetryInfo"):
        found = re.match(r"^\s*([\d.]+)s\s*$", str(item.get("retryDelay", "")))
        if found:
            return float(found.group(1))
    return None


def read_quota(exc: Any) -> tuple[str, str, bool, str]:
    """(kind, quota id, no free tier, the server's line) of the quota a 429 names; a per-day one first."""
    violations = [v for item in detail_items(exc.details, "QuotaFailure") for v in item.get("violations") or []
                  if isinstance(v, dict)]
    ids = [str(v.get("quotaId") or v.get("quotaMetric") or "") for v in violations]
    message = str(exc.message or "")
    zero = bool(re.search(r"\blimit: 0\b", message)) or any(str(v.get("quotaValue")) == "0" for v in violations)
    line = re.search(r"Quota exceeded for metric: [^\n]*", message)
    said = blot_key(line.group(0).strip() if line else message[:200])
    for kind, mark in (("requests per day", "PerDay"), ("input tokens per minute", "Token"), ("requests per minute", "PerMinute")):
        named = [q for q in ids if mark in q]
        if named:
            return kind, named[0], zero, said
    return "", ids[0] if ids else "", zero, said


def describe_error(endpoint: Endpoint, exc: Any) -> Exception:
    """A Gemini ClientError as what the core does next: stop the run, fail the paper, or try again later."""
    status, message, model = exc.status or "", server_message(exc, endpoint.api_key), endpoint.model
    said = f"HTTP {exc.code} {status}".strip() + (f": {message}" if message else "")
    if exc.code == 429:
        kind, quota_id, zero, line = read_quota(exc)
        if zero:
            return StopRun(f"Gemini model '{model}' has no free-tier quota for this key (limit: 0, {quota_id or 'HTTP 429'}): "
                           f"enable billing for the key's project or choose another model (PAPERPRESS_MODEL) (HTTP 429: {line})")
        if kind == "requests per day":
            return StopRun(f"Gemini's per-day quota for '{model}' is used up ({quota_id}); it resets at midnight Pacific "
                           f"time, then a rerun fills the missing summaries (HTTP 429: {line})", spend_day=True)
        last = f"HTTP 429, {kind or 'rate limit'}" + (f" ({quota_id})" if quota_id else "")
        return RetryLater(last, read_retry_delay(exc.details), line)
    reasons = {str(i.get("reason")) for i in detail_items(exc.details, "ErrorInfo")}
    if "API_KEY_INVALID" in reasons or "API key not valid" in message or exc.code == 401:
        return StopRun(f"Gemini rejected the API key ({said})")
    if exc.code == 403:  # SERVICE_DISABLED, PERMISSION_DENIED: the key's project, the same for every call
        reason = next(iter(sorted(reasons - {"None"})), "")
        return StopRun(f"Gemini refused the key's project{f' ({reason})' if reason else ''} ({said})")
    if exc.code == 404:
        return StopRun(f"Gemini model '{model}' not found ({said})")
    if status == "FAILED_PRECONDITION" or (exc.code == 400 and FATAL_400.search(message)):
        return StopRun(f"Gemini refused the request, as it would every request ({said})")
    return PaperFailed(f"Gemini refused the request ({said})")


@dataclass
class GeminiBackend:
    """One run's Gemini client: sends Requests, returns Replies, raises what the core acts on."""

    endpoint: Endpoint
    settings: Settings
    client: Any = None
    label: str = "Gemini"
    learns_limits: bool = False  # quotas are per project and model, set in settings; no headers to read

    def __post_init__(self) -> None:
        self.client = make_client(self.settings, self.endpoint)
        self.thinking = pick_thinking(self.endpoint.model, self.settings.gemini_thinking)

    def estimate(self, request: Request) -> int:
        """Tokens the per-minute quota will count for this request: Gemini's counts input tokens."""
        return (len(request.system) + len(request.prompt)) // 4

    def spent(self, reply: Reply, estimate: int) -> int:
        """Tokens the per-minute quota counted."""
        return reply.usage.prompt_tokens or estimate

    async def send(self, request: Request) -> Reply:
        """One generateContent call; errors become StopRun, PaperFailed or RetryLater."""
        import httpx2
        from google.genai import errors

        # Asked again after running out of room: the lowest thinking the model accepts (a setting may have asked for more).
        thinking = pick_thinking(self.endpoint.model) if request.grown and self.settings.gemini_thinking != "off" else self.thinking
        try:
            response = await self.client.aio.models.generate_content(
                model=self.endpoint.model, contents=request.prompt, config=make_config(request, thinking))
        except errors.ClientError as exc:
            raise describe_error(self.endpoint, exc) from None
        except errors.ServerError as exc:
            raise RetryLater(f"HTTP {exc.code}") from None
        except (httpx2.TransportError, asyncio.TimeoutError) as exc:
            raise RetryLater(type(exc).__name__) from None
        return read_reply(response)

    async def close(self) -> None:
        """Release the client's connections."""
        await self.client.aio.aclose()
