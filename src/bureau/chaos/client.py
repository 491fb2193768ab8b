"""The load's HTTP client, as a real one behaves behind a load balancer:
requests go round the replicas of a service; a refused or dropped
connection, a timeout or a 503 is retried on the next replica after a short
back-off (a 503's Retry-After, capped), with the same Idempotency-Key, until
an answer comes or the deadline passes. Every answer is counted."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from bureau.stack import Stack

#: Longest pause between two tries of one request.
MAX_BACKOFF_SECONDS = 2.0


class GaveUp(Exception):
    """A request had no answer other than 503 or a failed connection before
    its deadline."""


@dataclass
class Stats:
    """What the load saw. `phase` is the fault under way when an answer came."""

    phase: str = "steady"
    statuses: Counter[int] = field(default_factory=Counter)
    by_phase: dict[str, Counter[int]] = field(default_factory=dict)
    by_service: dict[str, Counter[int]] = field(default_factory=dict)
    #: Requests that got no answer at all, by why (then retried), and by phase.
    no_answer: Counter[str] = field(default_factory=Counter)
    no_answer_by_phase: dict[str, Counter[str]] = field(default_factory=dict)
    #: Each request with no answer: (time.monotonic(), replica's base URL, why).
    failures: list[tuple[float, str, str]] = field(default_factory=list)
    #: 503 answers with no Retry-After, by phase.
    bare_503: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    #: Retried writes answered from their Idempotency-Key: the first try was
    #: applied but its answer lost (a replica killed, a connection dropped).
    replays: int = 0
    #: 5xx answers other than 503, with what was asked.
    server_errors: list[dict[str, Any]] = field(default_factory=list)
    gave_up: list[dict[str, Any]] = field(default_factory=list)

    def record(self, service: str, status: int) -> None:
        self.statuses[status] += 1
        self.by_phase.setdefault(self.phase, Counter())[status] += 1
        self.by_service.setdefault(service, Counter())[status] += 1

    @property
    def answers(self) -> int:
        return sum(self.statuses.values())


class Api:
    def __init__(
        self,
        stack: Stack,
        stats: Stats,
        *,
        concurrency: int,
        deadline: float,
        timeout: float = 5.0,
    ) -> None:
        self.stack = stack
        self.stats = stats
        self.deadline = deadline
        self.http = httpx.AsyncClient(
            # A client that waits no longer than this for an answer, then
            # asks another replica with the same key: its first try may
            # still be running (a paused replica), and the two race.
            timeout=httpx.Timeout(timeout, connect=3.0),
            limits=httpx.Limits(max_connections=concurrency * 4, max_keepalive_connections=32),
            headers={"Accept-Language": "en"},
        )
        self._slots = asyncio.Semaphore(concurrency)
        self._turn = itertools.count()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def request(
        self,
        service: str,
        method: str,
        path: str,
        *,
        headers: dict[str, str],
        key: str | None = None,
        **kw: Any,
    ) -> httpx.Response:
        """One logical request: tried until it is answered (other than 503)."""
        if key is not None:
            headers = {**headers, "Idempotency-Key": key}
        give_up_at = time.monotonic() + self.deadline
        tries = 0
        while True:
            tries += 1
            wait = min(MAX_BACKOFF_SECONDS, 0.1 * 2 ** min(tries, 5)) * random.uniform(0.5, 1.0)
            base = ""
            try:
                async with self._slots:
                    # The replica is chosen once the request can go, as a
                    # balancer chooses one when it connects: chosen before
                    # waiting for a slot (seconds on a busy machine), it
                    # could be one taken out of rotation meanwhile, and
                    # stopped since.
                    urls = self.stack.urls(service)
                    base = urls[next(self._turn) % len(urls)]
                    r = await self.http.request(method, base + path, headers=headers, **kw)
            except httpx.TransportError as exc:
                why = type(exc).__name__
                self.stats.no_answer[why] += 1
                self.stats.no_answer_by_phase.setdefault(self.stats.phase, Counter())[why] += 1
                self.stats.failures.append((time.monotonic(), base, why))
            else:
                self.stats.record(service, r.status_code)
                if r.status_code != 503:
                    if r.status_code >= 500:
                        self.stats.server_errors.append(
                            {
                                "service": service,
                                "method": method,
                                "path": path,
                                "status": r.status_code,
                                "body": r.text[:500],
                                "phase": self.stats.phase,
                                "request_id": _request_id(r),
                            }
                        )
                    elif tries > 1 and r.headers.get("idempotent-replayed") == "true":
                        self.stats.replays += 1
                    return r
                after = r.headers.get("retry-after", "")
                if not after:
                    self.stats.bare_503[self.stats.phase] += 1
                if after.isdigit():
                    wait = min(MAX_BACKOFF_SECONDS, float(after)) * random.uniform(0.5, 1.0)
            if time.monotonic() + wait > give_up_at:
                self.stats.gave_up.append({"service": service, "method": method, "path": path})
                raise GaveUp(f"{method} {path}: no answer in {self.deadline:.0f} s")
            self.stats.retries += 1
            await asyncio.sleep(wait)

    async def get(self, service: str, path: str, headers: dict[str, str], **kw: Any) -> Any:
        return await self.request(service, "GET", path, headers=headers, **kw)

    async def post(
        self, service: str, path: str, headers: dict[str, str], key: str, **kw: Any
    ) -> httpx.Response:
        return await self.request(service, "POST", path, headers=headers, key=key, **kw)


def _request_id(r: httpx.Response) -> str | None:
    """The request id a problem answer carries (the server logs it with the
    error), so the report can say what failed inside."""
    try:
        body = r.json()
    except ValueError:
        return None
    found = body.get("request_id") if isinstance(body, dict) else None
    return found if isinstance(found, str) else None
