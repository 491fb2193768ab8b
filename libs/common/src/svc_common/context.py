"""Request and event context carried in contextvars: the request id, the
correlation id that follows one business story across services, the id of the
event being handled (the causation of what it emits) and W3C trace context.

Binding a context also binds its ids to structlog's context, so every log line
written while a request or an event is handled carries them."""

from __future__ import annotations

import os
import re
import secrets
import uuid
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any

import structlog

#: What a client-supplied id may look like before it reaches a log line, a
#: response header or the audit table (String(64)): a UUID, a ULID, a
#: gateway's request id. Anything else is replaced by a new id.
_SAFE_ID = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")


@dataclass(frozen=True)
class TraceContext:
    request_id: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    traceparent: str | None = None
    #: The request's path: a list's cursors are bound to the path that
    #: returned them (svc_common.pagination). None while an event is handled.
    path: str | None = None


_current: ContextVar[TraceContext] = ContextVar("trace_context", default=TraceContext())  # noqa: B039 - frozen


def current() -> TraceContext:
    return _current.get()


def _log_fields(ctx: TraceContext) -> dict[str, Any]:
    fields = {"request_id": ctx.request_id, "correlation_id": ctx.correlation_id}
    if ctx.traceparent and (m := _TRACEPARENT.fullmatch(ctx.traceparent)):
        fields["trace_id"] = m.group(1)
    return {k: v for k, v in fields.items() if v is not None}


def bind(ctx: TraceContext) -> None:
    """Bind a context for the rest of the current task."""
    _current.set(ctx)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(**_log_fields(ctx))


def new_id() -> str:
    """A fresh uuid4 as text. Taken from a store of ids made together
    (`new_ids`, one os.urandom call for `_ID_STORE` of them): a write request
    makes five or six (its request id, its events', its rows'), about 2 µs
    each alone, 2 % of a quota write's CPU (bench/RESULTS.md). The store is
    emptied in a forked child, which must not hand out its parent's ids; while
    uuid.uuid4 is replaced (the simulator's seeded ids), it makes each id."""
    if uuid.uuid4 is not _STDLIB_UUID4:
        return str(uuid.uuid4())
    if not _store:
        _store.extend(new_ids(_ID_STORE))
        _store.reverse()  # handed out in the order they were made
    return _store.pop()


#: The standard library's uuid4: while it is in place, `new_ids` draws the
#: same random bytes in one call.
_STDLIB_UUID4 = uuid.uuid4
#: A byte with its high nibble made the version (4), and one with its two
#: high bits made the variant (RFC 4122): uuid.UUID(version=4) sets both so.
_VERSION_4 = bytes((b & 0x0F) | 0x40 for b in range(256))
_VARIANT_RFC = bytes((b & 0x3F) | 0x80 for b in range(256))
#: How many ids `new_id` makes at once, and those not yet handed out.
_ID_STORE = 256
_store: list[str] = []
os.register_at_fork(after_in_child=_store.clear)


def new_ids(n: int) -> list[str]:
    """`[new_id() for _ in range(n)]`, made at once (a bulk upload files
    10,000 rows; one by one they cost 2.6 µs each, at once 0.6): the 16
    random bytes of each id as uuid4 draws them (os.urandom), the version
    and variant bits set by translating every 16th byte, the whole hex
    text cut into ids. While uuid.uuid4 is replaced (the simulator's seeded
    ids) it is called once an id, as before. Tests (test_new_ids) hold the
    ids to `str(uuid.UUID(bytes=…, version=4))` of the same bytes."""
    if uuid.uuid4 is not _STDLIB_UUID4:
        uuid4 = uuid.uuid4
        return [str(uuid4()) for _ in range(n)]
    raw = bytearray(os.urandom(16 * n))
    raw[6::16] = raw[6::16].translate(_VERSION_4)
    raw[8::16] = raw[8::16].translate(_VARIANT_RFC)
    h = raw.hex()
    return [
        f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-{h[i + 12 : i + 16]}-"
        f"{h[i + 16 : i + 20]}-{h[i + 20 : i + 32]}"
        for i in range(0, 32 * n, 32)
    ]


def safe_id(raw: bytes | str | None) -> str | None:
    """`raw` if it is a safe id (letters, digits, `._:-`, at most 64), else None."""
    if not raw:
        return None
    data = raw.encode("latin-1", "replace") if isinstance(raw, str) else raw
    return data.decode("ascii") if _SAFE_ID.fullmatch(data) else None


def is_traceparent(value: str | None) -> bool:
    return bool(value) and _TRACEPARENT.fullmatch(value or "") is not None


def new_traceparent(parent: str | None = None) -> str:
    """A W3C traceparent: keep the caller's trace id, new span id. Its
    random hex comes from a store made by one os.urandom call (`_random_hex`):
    every request makes one, and two calls of their own were 2.6 % of a
    request's CPU before its database work (bench/RESULTS.md). While the
    simulator replaces `secrets`, its seeded draws are taken as before."""
    if secrets is not _STDLIB_SECRETS:
        trace_id = secrets.token_hex(16)
        if parent and (m := _TRACEPARENT.fullmatch(parent)):
            trace_id = m.group(1)
        return f"00-{trace_id}-{secrets.token_hex(8)}-01"
    if parent and (m := _TRACEPARENT.fullmatch(parent)):
        return f"00-{m.group(1)}-{_random_hex(16)}-01"
    drawn = _random_hex(48)
    return f"00-{drawn[:32]}-{drawn[32:]}-01"


_STDLIB_SECRETS = secrets
#: Random hex text not yet handed out (`_random_hex`), refilled 4 KiB of
#: random bytes at a time; emptied in a forked child, which must not hand
#: out its parent's.
_HEX_STORE_BYTES = 4096
_hex_store: list[str] = []
os.register_at_fork(after_in_child=_hex_store.clear)


def _random_hex(chars: int) -> str:
    """`chars` hex digits of fresh random bytes (os.urandom, as `secrets`)."""
    have = _hex_store[0] if _hex_store else ""
    if len(have) < chars:
        have = os.urandom(_HEX_STORE_BYTES).hex()
    _hex_store[:] = [have[chars:]]
    return have[:chars]


class use:
    """Bind a context for the duration of a block (a request, an event being
    handled); the previous context and log fields are restored after it."""

    def __init__(self, ctx: TraceContext) -> None:
        self.ctx = ctx

    def __enter__(self) -> TraceContext:
        self._token: Token[TraceContext] = _current.set(self.ctx)
        # Unset fields are bound as None-less: a request id of an earlier
        # request must not leak into an event's lines.
        fields = _log_fields(self.ctx)
        self._log_tokens = structlog.contextvars.bind_contextvars(
            **{k: fields.get(k) for k in ("request_id", "correlation_id", "trace_id")}
        )
        return self.ctx

    def __exit__(self, *exc: object) -> None:
        structlog.contextvars.reset_contextvars(**self._log_tokens)
        _current.reset(self._token)
