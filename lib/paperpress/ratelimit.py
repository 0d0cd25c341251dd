"""Client-side pacing shared by every run that uses one cache folder: requests and tokens per minute, requests per day.

`paperpress backfill --jobs N` runs N processes against one key, and the Gemini API's quotas are per
project and model (an OpenAI-compatible server's per key and model, as its x-ratelimit-* headers say, which
`learn` adopts), not per process: so the limiter's state (when the next request may go, the tokens
of the last minute, a server-requested pause, today's request count) lives in a small JSON file under
a file lock, as arxiv_api shares arXiv's pause. Without a file (tests) the same state lives in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

from filelock import FileLock

log = logging.getLogger(__name__)
RATE_PERIOD = 60.0
# Aim a little under the limits: network jitter can bunch evenly sent requests up at the server.
RATE_MARGIN = 0.95
# The Gemini API's per-day quotas reset at midnight Pacific time
# (https://ai.google.dev/gemini-api/docs/rate-limits: "Requests per day (RPD) quotas reset at midnight Pacific time").
PACIFIC = ZoneInfo("America/Los_Angeles")
MAX_PAUSE = 600.0  # a pause further away than this is a clock that jumped, not a server's request


class BudgetSpent(Exception):
    """Today's requests are used up (our daily budget, or the server's per-day quota) until midnight Pacific."""


def pacific_day(when: float) -> str:
    """The Pacific-time date of a wall-clock time, e.g. '2024-04-01'."""
    return dt.datetime.fromtimestamp(when, PACIFIC).date().isoformat()


def new_state() -> dict:
    """The limiter's state before any request."""
    return {"next_at": 0.0, "pause_until": 0.0, "spent": [], "day": "", "requests": 0, "day_spent": False}


def token_wait(spent: list, now: float, tokens: int, tpm: int, period: float) -> float:
    """Seconds until `tokens` more fit in the sliding window of [time, tokens, id] records (0 if they fit now)."""
    recent = [r for r in spent if r[0] > now - period]
    if not tpm:
        return 0.0
    used, wait = sum(r[1] for r in recent), 0.0
    # Oldest first: how long until enough of the recent requests leave the window.
    for at, amount, *_ in sorted(recent):
        if used + tokens <= tpm:
            break
        used, wait = used - amount, at + period - now
    return min(max(0.0, wait), period)


class RateLimiter:
    """Requests spaced evenly to `rpm`, tokens within `tpm` over a sliding minute, at most `rpd` a Pacific day."""

    def __init__(self, rpm: int, tpm: int, rpd: int = 0, *, period: float = RATE_PERIOD,
                 clock: Callable[[], float] = time.time, shared: Path | None = None):
        # Even spacing (not a burst of rpm then a pause) never trips a server's window, however aligned.
        self.interval = period / (rpm * RATE_MARGIN) if rpm else 0.0
        self.tpm, self.rpd, self.period, self.clock = int(tpm * RATE_MARGIN), rpd, period, clock
        self.shared = Path(shared) if shared else None
        if self.shared:
            try:
                self.shared.parent.mkdir(parents=True, exist_ok=True)
                self.shared.with_suffix(".lock").touch()
            except OSError as exc:  # an unwritable cache folder costs the sharing, never the run
                log.warning("cannot share Gemini limits under %s (%s): this run paces alone", self.shared.parent,
                            exc.strerror or type(exc).__name__)
                self.shared = None
        # Held only around one read and one write of the state, never across a request or a sleep.
        self.file_lock = FileLock(str(self.shared.with_suffix(".lock"))) if self.shared else contextlib.nullcontext()
        self.memory = new_state()
        self.turn = asyncio.Lock()  # this process's requests queue here first (FIFO), then meet other processes'

    # -- state -----------------------------------------------------------------------------------

    def load(self) -> dict:
        """The shared state (a missing or broken file is a fresh start, never an error)."""
        if not self.shared:
            return self.memory
        try:
            state = json.loads(self.shared.read_text(encoding="utf-8"))
            return state if isinstance(state, dict) and set(new_state()) <= set(state) else new_state()
        except (OSError, ValueError):
            return new_state()

    def save(self, state: dict) -> None:
        """Write the shared state atomically (a run killed mid-write leaves the old state)."""
        if not self.shared:
            return
        tmp = self.shared.with_name(f".{self.shared.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state), encoding="utf-8")
        os.replace(tmp, self.shared)

    def roll(self, state: dict, now: float) -> None:
        """Forget requests older than the window, and the day's count once the Pacific day changes."""
        state["spent"] = [r for r in state["spent"] if r[0] > now - self.period]
        today = pacific_day(now)
        if state["day"] != today:
            state.update(day=today, requests=0, day_spent=False)

    # -- pacing ----------------------------------------------------------------------------------

    def limits_of(self, state: dict) -> tuple[float, int]:
        """(interval between requests, tokens per window): the settings', or the server's (learn) where lower or unset."""
        interval, tpm = self.interval, self.tpm
        learnt_rpm, learnt_tpm = state.get("learnt_rpm", 0), state.get("learnt_tpm", 0)
        if learnt_rpm:
            interval = max(interval, self.period / (learnt_rpm * RATE_MARGIN))
        if learnt_tpm:
            tpm = min(tpm, int(learnt_tpm * RATE_MARGIN)) if tpm else int(learnt_tpm * RATE_MARGIN)
        return interval, tpm

    def wait_for(self, state: dict, now: float, tokens: int) -> float:
        """Seconds until the next request may go (capped, so a wall clock that jumped back cannot park a run)."""
        pause = state["pause_until"] - now
        interval, tpm = self.limits_of(state)
        waits = [min(state["next_at"] - now, interval), token_wait(state["spent"], now, tokens, tpm, self.period),
                 pause if pause <= MAX_PAUSE else 0.0]
        return max(waits)

    async def acquire(self, tokens: int) -> str:
        """Wait for a request slot; returns the request's id for settle(). BudgetSpent when today's budget is gone."""
        async with self.turn:
            while True:
                with self.file_lock:
                    state, now = self.load(), self.clock()
                    self.roll(state, now)
                    if state["day_spent"]:
                        raise BudgetSpent("the Gemini per-day quota is used up (the server said so)")
                    if self.rpd and state["requests"] >= self.rpd:
                        raise BudgetSpent(f"the daily budget of {self.rpd} Gemini requests (PAPERPRESS_GEMINI_RPD) is spent")
                    wait = self.wait_for(state, now, tokens)
                    if wait <= 0:
                        record = secrets.token_hex(6)
                        state["next_at"] = max(now, state["next_at"]) + self.limits_of(state)[0]
                        state["spent"].append([now, float(tokens), record])
                        state["requests"] += 1
                        self.save(state)
                        return record
                await asyncio.sleep(wait)

    def update(self, change: Callable[[dict, float], None]) -> None:
        """Apply a change to the shared state under the lock."""
        with self.file_lock:
            state, now = self.load(), self.clock()
            self.roll(state, now)
            change(state, now)
            self.save(state)

    def settle(self, record: str, tokens: int) -> None:
        """Replace a request's token estimate with what it really used."""
        def set_tokens(state: dict, _now: float) -> None:
            for r in state["spent"]:
                if r[2] == record:
                    r[1] = float(tokens)
        self.update(set_tokens)

    def pause(self, seconds: float) -> None:
        """Send nothing for a while, in any run (the server asked: its quota is shared by all requests)."""
        self.update(lambda state, now: state.update(pause_until=max(state["pause_until"], now + seconds)))

    def learn(self, rpm: int, tpm: int) -> None:
        """Adopt the limits a server reported (OpenAI's x-ratelimit-limit-requests and -tokens, per minute), for every run."""
        def store(state: dict, now: float) -> None:
            state.update(learnt_rpm=rpm, learnt_tpm=tpm, learnt=True)
            # The requests granted before the limit was known were not spaced: the next one keeps its distance.
            last = max((r[0] for r in state["spent"]), default=now)
            state["next_at"] = max(state["next_at"], last + self.limits_of(state)[0])
        self.update(store)

    def knows_rate(self) -> bool:
        """Whether a request rate is set, or the server's limits (or that it reports none) known (else the first
        request goes alone, to learn them)."""
        with self.file_lock:
            return bool(self.interval or self.load().get("learnt"))

    def spend_day(self) -> None:
        """Mark today's quota as used up for every run (the server answered a per-day 429)."""
        self.update(lambda state, _now: state.update(day_spent=True))
