"""JSON logs (structlog) with request and correlation ids, Prometheus metrics,
and the middleware that gives each request its ids and trace context."""

from __future__ import annotations

import logging
import sys
import time

import structlog
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from svc_common import context, i18n

REQUESTS = Counter("http_requests_total", "HTTP requests", ["service", "method", "route", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds", "HTTP request latency", ["service", "method", "route"]
)

_configured = False


def configure_logging(level: str = "INFO", *, json_logs: bool = True) -> None:
    global _configured
    if _configured:
        return
    _configured = True
    logging.basicConfig(format="%(message)s", stream=sys.stdout, level=level.upper())
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json_logs
        else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(),
        cache_logger_on_first_use=True,
    )


class RequestContextMiddleware:
    """Gives every request a request id (X-Request-ID, or a new one), a
    correlation id (X-Correlation-ID, or the request id) and a traceparent,
    echoes them in the response, and counts and times the request."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        request_id = (headers.get(b"x-request-id") or b"").decode()[:64] or context.new_id()
        correlation_id = (headers.get(b"x-correlation-id") or b"").decode()[:64] or request_id
        traceparent = context.new_traceparent((headers.get(b"traceparent") or b"").decode() or None)
        ctx = context.TraceContext(
            request_id=request_id, correlation_id=correlation_id, traceparent=traceparent
        )
        language = i18n.negotiate((headers.get(b"accept-language") or b"").decode("latin-1"))
        status_holder = {"status": 500}

        async def send_with_ids(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode()),
                    (b"x-correlation-id", correlation_id.encode()),
                    (b"content-language", b"zh-CN" if language == "zh" else b"en"),
                ]
            await send(message)

        start = time.perf_counter()
        with context.use(ctx), i18n.use(language):
            try:
                await self.app(scope, receive, send_with_ids)
            finally:
                route = scope.get("route")
                path = getattr(route, "path", None) or "unmatched"
                LATENCY.labels(self.service, scope["method"], path).observe(
                    time.perf_counter() - start
                )
                REQUESTS.labels(self.service, scope["method"], path, status_holder["status"]).inc()
