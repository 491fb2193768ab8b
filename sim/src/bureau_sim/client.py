"""The bureau's users as HTTP clients: every write carries an Idempotency-Key
and an X-Request-ID that stay the same over its retries, so the audit trail
shows how many times each request took effect. A request that got no answer
(the service was down, died, or answered 5xx or "still in progress") is
sent again later, as a careful client would."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from svc_common.auth import mint_token
from svc_common.settings import DEV_JWT_SECRET

from bureau_sim.world import Response, Sim

#: A request is given up after this many attempts (hours of trying).
MAX_ATTEMPTS = 14
WRITES = ("POST", "PUT", "PATCH", "DELETE")


@dataclass
class Actor:
    sub: str
    role: str
    districts: tuple[str, ...] = ()
    token: str = ""

    def __post_init__(self) -> None:
        self.token = mint_token(
            DEV_JWT_SECRET, sub=self.sub, role=self.role, districts=self.districts
        )


@dataclass
class Op:
    """One request as its user means it, over all its attempts."""

    id: str
    node: str
    method: str
    path: str
    actor: Actor
    json_body: Any = None
    content: bytes | None = None
    content_type: str | None = None
    query: str = ""
    #: The audit action a success records (None: a read, or no state change).
    effect: str | None = None
    attempts: int = 0
    response: Response | None = None
    gave_up: bool = False
    answers: list[int] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.response is not None or self.gave_up

    @property
    def status(self) -> int | None:
        return self.response.status if self.response else None


def _in_progress(r: Response) -> bool:
    return (
        r.status == 409
        and isinstance(r.body, dict)
        and str(r.body.get("type", "")).endswith("idempotency-in-progress")
    )


class Client:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.ops: list[Op] = []
        self._n = 0

    def op(
        self,
        node: str,
        method: str,
        path: str,
        actor: Actor,
        *,
        json_body: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
        query: str = "",
        effect: str | None = None,
    ) -> Op:
        self._n += 1
        op = Op(
            f"op-{self._n:05d}",
            node,
            method,
            path,
            actor,
            json_body=json_body,
            content=content,
            content_type=content_type,
            query=query,
            effect=effect,
        )
        if method in WRITES:
            self.ops.append(op)
        return op

    async def attempt(self, op: Op) -> Response | None:
        """Send `op` once; its final answer, or None if it must be sent again
        later (see `backoff`) or was given up (`op.gave_up`)."""
        op.attempts += 1
        headers = {"Authorization": f"Bearer {op.actor.token}"}
        if op.method in WRITES:
            headers["Idempotency-Key"] = op.id
            headers["X-Request-ID"] = op.id
        else:
            headers["X-Request-ID"] = f"{op.id}.{op.attempts}"
        if op.content_type:
            headers["Content-Type"] = op.content_type
        r = await self.sim.http(
            op.node,
            op.method,
            op.path,
            headers=headers,
            json_body=op.json_body,
            content=op.content,
            query=op.query,
        )
        self.sim.trace_line(
            f"  {op.id} {op.method} {op.path} #{op.attempts} -> {r.status if r else 'no answer'}"
        )
        if r is not None:
            op.answers.append(r.status)
        if r is None or r.status >= 500 or _in_progress(r):
            if r is not None and r.status >= 500 and r.status != 503:
                self.sim.count(f"answers {r.status}")
            if op.attempts >= MAX_ATTEMPTS:
                op.gave_up = True
                self.sim.count("requests given up")
            return None
        op.response = r
        return r

    def backoff(self, op: Op) -> float:
        """Seconds before the next attempt: doubling from 1 s, at most 30 min."""
        return min(1800.0, 2.0 ** min(op.attempts, 11)) * self.sim.wrng.uniform(0.5, 1.0)
