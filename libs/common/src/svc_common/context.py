"""Request and event context carried in contextvars: the request id, the
correlation id that follows one business story across services, the id of the
event being handled (the causation of what it emits) and W3C trace context."""

from __future__ import annotations

import secrets
import uuid
from contextvars import ContextVar
from dataclasses import dataclass

import structlog


@dataclass(frozen=True)
class TraceContext:
    request_id: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    traceparent: str | None = None


_current: ContextVar[TraceContext] = ContextVar("trace_context", default=TraceContext())  # noqa: B039 - frozen


def current() -> TraceContext:
    return _current.get()


def bind(ctx: TraceContext) -> None:
    _current.set(ctx)
    structlog.contextvars.bind_contextvars(
        request_id=ctx.request_id, correlation_id=ctx.correlation_id
    )


def new_id() -> str:
    return str(uuid.uuid4())


def new_traceparent(parent: str | None = None) -> str:
    """A W3C traceparent: keep the caller's trace id, new span id."""
    trace_id = secrets.token_hex(16)
    if parent:
        parts = parent.split("-")
        if len(parts) == 4 and len(parts[1]) == 32:
            trace_id = parts[1]
    return f"00-{trace_id}-{secrets.token_hex(8)}-01"


class use:
    """Bind a context for the duration of a block (an event being handled)."""

    def __init__(self, ctx: TraceContext) -> None:
        self.ctx = ctx

    def __enter__(self) -> TraceContext:
        self._token = _current.set(self.ctx)
        structlog.contextvars.bind_contextvars(
            request_id=self.ctx.request_id, correlation_id=self.ctx.correlation_id
        )
        return self.ctx

    def __exit__(self, *exc: object) -> None:
        _current.reset(self._token)
