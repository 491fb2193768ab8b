"""Request and event context carried in contextvars: the request id, the
correlation id that follows one business story across services, the id of the
event being handled (the causation of what it emits) and W3C trace context.

Binding a context also binds its ids to structlog's context, so every log line
written while a request or an event is handled carries them."""

from __future__ import annotations

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
    return str(uuid.uuid4())


def safe_id(raw: bytes | str | None) -> str | None:
    """`raw` if it is a safe id (letters, digits, `._:-`, at most 64), else None."""
    if not raw:
        return None
    data = raw.encode("latin-1", "replace") if isinstance(raw, str) else raw
    return data.decode("ascii") if _SAFE_ID.fullmatch(data) else None


def is_traceparent(value: str | None) -> bool:
    return bool(value) and _TRACEPARENT.fullmatch(value or "") is not None


def new_traceparent(parent: str | None = None) -> str:
    """A W3C traceparent: keep the caller's trace id, new span id."""
    trace_id = secrets.token_hex(16)
    if parent and (m := _TRACEPARENT.fullmatch(parent)):
        trace_id = m.group(1)
    return f"00-{trace_id}-{secrets.token_hex(8)}-01"


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
