"""JSON logs (structlog) with request and correlation ids, the HTTP metrics,
and the one middleware that gives each request its ids, language and trace
context, counts and times it, and writes its log line."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import MutableMapping
from typing import Any

import structlog
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from svc_common import context, i18n, tracing

REQUESTS = Counter("http_requests_total", "HTTP requests", ["service", "method", "route", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds", "HTTP request latency", ["service", "method", "route"]
)

log = structlog.get_logger("svc_common.request")

#: Loggers of libraries that configure their own handlers; they are made to
#: write through the one structlog handler instead.
_LIBRARY_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "alembic", "aiokafka")
#: Probes and scrapes are logged at debug level: at info they would be most
#: of the log of an idle service.
_PROBES = ("health", "ready", "metrics")

_configured = False


def _drop_unset_ids(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    # context.use binds absent ids as None so they reset cleanly; keep them out
    # of the line.
    for key in ("request_id", "correlation_id", "trace_id"):
        if key in event and event[key] is None:
            del event[key]
    return event


def configure_logging(level: str = "INFO", *, json_logs: bool = True, force: bool = False) -> None:
    """One format for every line of the process: structlog's own loggers and
    the standard library's (uvicorn, Alembic, aiokafka) alike. JSON by
    default; LOG_JSON=false gives a coloured console for a person."""
    global _configured
    if _configured and not force:
        return
    _configured = True
    level_no = logging.getLevelName(level.upper())
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        _drop_unset_ids,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(serializer=json.dumps, ensure_ascii=False)
        if json_logs
        else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level_no),
        logger_factory=structlog.WriteLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level_no)
    for name in _LIBRARY_LOGGERS:
        lib = logging.getLogger(name)
        lib.handlers = []
        lib.propagate = True
    # The request line below replaces uvicorn's access line; were the access
    # logger left on (a server started by hand) it still writes through here.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


class RequestContextMiddleware:
    """Gives every request a request id (a safe X-Request-ID, or a new one), a
    correlation id (a safe X-Correlation-ID, or the request id) and a
    traceparent (the tracing span's, or one continuing the caller's trace),
    echoes the ids in the response, counts and times the request and writes
    one log line for it."""

    def __init__(self, app: ASGIApp, service: str, prefix: str = "") -> None:
        self.app = app
        self.service = service
        self.quiet = frozenset(f"{base}/{p}" for base in ("", prefix) for p in _PROBES)
        #: The latency and request series of each (method, route, status),
        #: looked up once: `labels()` builds and locks its key on every call.
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        headers = dict(scope["headers"])
        request_id = context.safe_id(headers.get(b"x-request-id")) or context.new_id()
        correlation_id = context.safe_id(headers.get(b"x-correlation-id")) or request_id
        traceparent = tracing.current_traceparent() or context.new_traceparent(
            (headers.get(b"traceparent") or b"").decode("latin-1") or None
        )
        ctx = context.TraceContext(
            request_id=request_id,
            correlation_id=correlation_id,
            traceparent=traceparent,
            path=scope.get("path"),
        )
        language = i18n.negotiate((headers.get(b"accept-language") or b"").decode("latin-1"))
        status = 500

        async def send_with_ids(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    *message.get("headers", ()),
                    (b"x-request-id", request_id.encode()),
                    (b"x-correlation-id", correlation_id.encode()),
                ]
                # A replayed answer says the language it was first given in
                # (svc_common.idempotency); any other is in this request's.
                if not any(k == b"content-language" for k, _ in headers):
                    headers.append((b"content-language", i18n.CONTENT_LANGUAGE[language]))
                message["headers"] = headers
            await send(message)

        with context.use(ctx), i18n.use(language):
            try:
                await self.app(scope, receive, send_with_ids)
            finally:
                elapsed = time.perf_counter() - start
                route = getattr(scope.get("route"), "path", None) or "unmatched"
                method = scope["method"]
                series = self._series.get((method, route, status))
                if series is None:
                    series = self._series[(method, route, status)] = (
                        LATENCY.labels(self.service, method, route),
                        REQUESTS.labels(self.service, method, route, status),
                    )
                series[0].observe(elapsed)
                series[1].inc()
                principal = (scope.get("state") or {}).get("principal")
                (log.debug if route in self.quiet else log.info)(
                    "request",
                    service=self.service,
                    method=method,
                    route=route,
                    status=status,
                    latency_ms=round(elapsed * 1000, 2),
                    sub=getattr(principal, "sub", None),
                )
