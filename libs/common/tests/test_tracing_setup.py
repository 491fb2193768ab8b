"""Tracing is configured by the standard OTEL_* variables only: off without
an endpoint, OTLP over HTTP to the endpoint when set, no connection at
start-up, queued spans flushed at shutdown."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from svc_common import testing, tracing
from svc_common.service import ServiceSpec, create_app
from svc_common.settings import ServiceSettings

from .test_service_app import QUOTA_MIGRATIONS

OTEL_VARS = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_TRACES_EXPORTER",
    "OTEL_SDK_DISABLED",
)


@pytest.fixture(autouse=True)
def no_otel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OTEL_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("env", "exporters"),
    [
        ({}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}, ["OTLPSpanExporter"]),
        (
            {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:9/v1/traces"},
            ["OTLPSpanExporter"],
        ),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["ConsoleSpanExporter"]),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_TRACES_EXPORTER": "none"}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_SDK_DISABLED": "true"}, []),
    ],
)
def test_exporters_follow_the_standard_variables(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], exporters: list[str]
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    t = tracing.setup("demo-svc")
    try:
        assert t.enabled is bool(exporters)
        if t.provider is not None:
            processors = t.provider._active_span_processor._span_processors
            names = [type(p.span_exporter).__name__ for p in processors]  # type: ignore[attr-defined]
            assert names == exporters
            assert t.provider.resource.attributes["service.name"] == "demo-svc"
    finally:
        t.shutdown()


async def test_spans_reach_the_otlp_endpoint_and_nothing_connects_at_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    connections: list[str] = []
    posts: list[tuple[bytes, bytes]] = []

    async def collector(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append("open")
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                m = re.search(rb"content-length: *(\d+)", head, re.I)
                body = await reader.readexactly(int(m.group(1))) if m else b""
                posts.append((head, body))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(collector, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    spec = ServiceSpec(
        name="otlp-svc",
        prefix="/otlp",
        title="otlp",
        description="otlp",
        migrations_dir=QUOTA_MIGRATIONS,
        routers=[],
    )
    app = create_app(
        spec, ServiceSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/o.db", log_json=False)
    )
    try:
        async with testing.running(app) as c:
            assert connections == [], "nothing connects to the collector at start-up"
            r = await c.get("/otlp/openapi.json")
            assert r.status_code == 200
        # The lifespan's end flushed the queued spans to the collector.
        assert posts, "the request's span was exported"
        head, body = posts[0]
        assert head.startswith(b"POST /v1/traces ")
        assert b"application/x-protobuf" in head.lower()
        assert b"otlp-svc" in body and b"/otlp/openapi.json" in body
    finally:
        server.close()
        await server.wait_closed()
