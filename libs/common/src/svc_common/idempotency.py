"""Idempotency-Key for POST/PUT/PATCH: the first answer is stored and replayed.

The key is scoped to the caller (the token's `sub`). The record is claimed
before the request runs (a primary-key clash means another request with the
key exists): a finished one is replayed, one still running gets 409 with
Retry-After, and one with a different body gets 409 because the key was
reused for another request. 5xx answers are not stored so a retry can succeed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from svc_common.db import Database
from svc_common.errors import PROBLEM_JSON, TYPE_BASE, Unauthorized
from svc_common.tables import IdempotencyRecord
from svc_common.types import utcnow

HEADER = b"idempotency-key"
METHODS = {"POST", "PUT", "PATCH"}
#: A claim older than this with no answer is taken as abandoned (crashed worker).
STALE_AFTER = dt.timedelta(minutes=5)


def _problem(status: int, detail: str, code: str) -> tuple[int, bytes]:
    body = {"type": TYPE_BASE + code, "title": "Conflict", "status": status, "detail": detail}
    return status, json.dumps(body).encode()


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in METHODS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        key = headers.get(HEADER)
        if not key:
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        owner = self._owner(state, headers)
        if owner is None:  # no valid token: let the route answer 401
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        digest = hashlib.sha256(
            b"\0".join(
                [
                    scope["method"].encode(),
                    scope["path"].encode(),
                    scope.get("query_string", b""),
                    body,
                ]
            )
        ).hexdigest()
        db: Database = state.db
        decision = await self._claim(db, owner, key.decode()[:200], scope, digest)
        if decision is not None:
            status, payload, ctype, replayed = decision
            extra = [(b"idempotent-replayed", b"true")] if replayed else []
            if status == 409 and not replayed:
                extra.append((b"retry-after", b"1"))
            await _respond(send, status, payload, ctype, extra)
            return

        captured: dict[str, Any] = {"status": 500, "headers": [], "body": bytearray()}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = message.get("headers", [])
            elif message["type"] == "http.response.body":
                captured["body"].extend(message.get("body", b""))
            await send(message)

        sent = False

        async def replay_receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        try:
            await self.app(scope, replay_receive, capture)
        finally:
            await self._finish(db, owner, key.decode()[:200], captured)

    @staticmethod
    def _owner(state: Any, headers: dict[bytes, bytes]) -> str | None:
        auth = headers.get(b"authorization", b"").decode()
        if not auth.lower().startswith("bearer "):
            return None
        try:
            return str(state.token_verifier.verify(auth[7:].strip()).sub)
        except Unauthorized:
            return None

    @staticmethod
    async def _claim(
        db: Database, owner: str, key: str, scope: Scope, digest: str
    ) -> tuple[int, bytes, str, bool] | None:
        async with db.transaction() as s:
            ins = (postgresql.insert if db.is_postgres else sqlite.insert)(IdempotencyRecord)
            res = await s.execute(
                ins.values(
                    owner=owner,
                    key=key,
                    method=scope["method"],
                    path=scope["path"][:500],
                    request_hash=digest,
                    created_at=utcnow(),
                ).on_conflict_do_nothing()
            )
            if res.rowcount:  # type: ignore[attr-defined]
                return None
            rec = await s.scalar(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.owner == owner, IdempotencyRecord.key == key
                )
            )
            if rec is None:
                return None
            if rec.request_hash != digest:
                status, body = _problem(
                    409,
                    "this Idempotency-Key was already used for a different request",
                    "idempotency-key-reused",
                )
                return status, body, PROBLEM_JSON, False
            if rec.status_code is None:
                if utcnow() - rec.created_at > STALE_AFTER:
                    rec.created_at = utcnow()  # abandoned by a crashed worker: take it over
                    return None
                status, body = _problem(
                    409,
                    "a request with this Idempotency-Key is still being processed",
                    "idempotency-in-progress",
                )
                return status, body, PROBLEM_JSON, False
            return (
                rec.status_code,
                (rec.response_body or "").encode(),
                rec.content_type or "application/json",
                True,
            )

    @staticmethod
    async def _finish(db: Database, owner: str, key: str, captured: dict[str, Any]) -> None:
        where = (IdempotencyRecord.owner == owner, IdempotencyRecord.key == key)
        async with db.transaction() as s:
            if captured["status"] >= 500:
                await s.execute(delete(IdempotencyRecord).where(*where))
                return
            ctype = next(
                (v.decode() for k, v in captured["headers"] if k.lower() == b"content-type"),
                "application/json",
            )
            await s.execute(
                update(IdempotencyRecord)
                .where(*where)
                .values(
                    status_code=captured["status"],
                    response_body=bytes(captured["body"]).decode("utf-8", "replace"),
                    content_type=ctype,
                )
            )


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _respond(
    send: Send, status: int, body: bytes, ctype: str, extra: list[tuple[bytes, bytes]]
) -> None:
    headers = [(b"content-type", ctype.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + extra})
    await send({"type": "http.response.body", "body": body})
