"""One business story is one trace: a filing accepted over HTTP in eia-svc,
the reservation request handled by quota-svc, and quota-svc's reply handled
back in eia-svc, collected with the SDK's in-memory exporter.

This runs the embedded default (three services in one process, in-process
transport). The envelope goes through the same binary-mode CloudEvents
headers (`ce_traceparent`) as on Kafka: the local transport passes the
`Message` that `Envelope.to_message` builds and `Envelope.from_message` reads.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from svc_common import testing, tracing
from svc_common.uscc import check_character

from bureau.embedded import Embedded

JIZHOU = "120119"
ADMIN = testing.auth("admin", sub="admin.zhang")
OFFICER = testing.auth("officer", [JIZHOU], sub="officer.wang")


def _uscc(body: str = "91120225MA05JY8X4") -> str:
    return body + check_character(body)


def _service(span: ReadableSpan) -> Any:
    return span.resource.attributes.get("service.name")


async def test_filing_accept_through_quota_and_back_is_one_trace(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    with tracing.use_exporter(exporter):
        embedded = Embedded(tmp_path, log_json=False)
    async with (
        embedded.lifespan(),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=embedded),
            base_url="http://testserver",
            headers={"Accept-Language": "en"},
        ) as c,
    ):
        r = await c.post(
            f"/quota/pools/{JIZHOU}/VOCs/baseline", json={"amount_t": "10"}, headers=ADMIN
        )
        assert r.status_code == 201, r.text
        r = await c.post(
            "/eia/filings",
            json={
                "project_name": "蓟州区涂料扩建项目",
                "uscc": _uscc(),
                "enterprise_name": "天津某涂料有限公司",
                "district": JIZHOU,
                "project_type": "C2641",
                "category": "report_form",
                "vocs_increment_t": "1",
                "major_project": False,
            },
            headers=OFFICER,
        )
        assert r.status_code == 201, r.text
        fid = r.json()["id"]
        exporter.clear()
        r = await c.post(f"/eia/filings/{fid}/accept", headers=OFFICER)
        assert r.status_code == 200, r.text
        # Delivery is synchronous in-process, but the relay runs after the
        # commit: wait for the reply to settle the filing.
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            f = (await c.get(f"/eia/filings/{fid}", headers=OFFICER)).json()
            if f["quota_status"] != "pending" or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.02)
        assert f["quota_status"] == "secured", f

    spans = exporter.get_finished_spans()
    by_id = {s.context.span_id: s for s in spans}
    (accept,) = [
        s
        for s in spans
        if s.kind == SpanKind.SERVER
        and s.attributes is not None
        and s.attributes.get("http.route") == "/eia/filings/{filing_id}/accept"
    ]
    assert _service(accept) == "eia-svc"
    trace_id = accept.context.trace_id

    consumers = [s for s in spans if s.kind == SpanKind.CONSUMER]
    (in_quota,) = [
        s
        for s in consumers
        if _service(s) == "quota-svc" and s.name == "process eia.filing.accepted.v1"
    ]
    (back_in_eia,) = [
        s for s in consumers if _service(s) == "eia-svc" and s.name == "process quota.reserved.v1"
    ]
    # One trace, and each hop is the child of the span that emitted its event.
    for s in (in_quota, back_in_eia):
        assert s.context.trace_id == trace_id
    assert in_quota.parent is not None and in_quota.parent.span_id == accept.context.span_id
    assert back_in_eia.parent is not None
    assert back_in_eia.parent.span_id == in_quota.context.span_id

    # Each service's statements are spans of its own, under its own spans.
    def ancestors(s: ReadableSpan) -> list[ReadableSpan]:
        out = []
        while s.parent is not None and s.parent.span_id in by_id:
            s = by_id[s.parent.span_id]
            out.append(s)
        return out

    quota_sql = [s for s in spans if _service(s) == "quota-svc" and in_quota in ancestors(s)]
    assert any(s.kind == SpanKind.CLIENT for s in quota_sql), "quota-svc's SQL is traced"
    # The relay's producer spans hang under the span that emitted the event.
    producers = [s for s in spans if s.kind == SpanKind.PRODUCER and s.parent is not None]
    published = {
        (p.name, p.parent.span_id)  # type: ignore[union-attr]
        for p in producers
        if p.context.trace_id == trace_id
    }
    assert ("publish eia.filing.accepted.v1", accept.context.span_id) in published
    assert ("publish quota.reserved.v1", in_quota.context.span_id) in published
    # Statements outside any trace (relay sweeps, metrics refresh) start none.
    assert all(s.parent is not None for s in spans if s.kind == SpanKind.CLIENT)
