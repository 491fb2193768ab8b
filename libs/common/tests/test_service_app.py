"""A service app's shared plumbing, on SQLite and real PostgreSQL: probes,
migrations, problem+json, auth and Idempotency-Key."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jwt
import pytest
from fastapi import APIRouter, Depends, Query, Response
from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel, Field
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Message
from svc_common import testing, tracing
from svc_common.audit import record_audit
from svc_common.auth import Principal, require
from svc_common.batching import GroupCommit
from svc_common.db import Database
from svc_common.errors import Conflict
from svc_common.service import ServiceSpec, create_app, get_db
from svc_common.settings import DEV_JWT_SECRET, ServiceSettings
from svc_common.tables import AuditEntry, InboxRow
from svc_common.types import utcnow

QUOTA_MIGRATIONS = Path(__file__).parents[3] / "services/quota-svc/src/quota_svc/migrations"

router = APIRouter()


class Note(BaseModel):
    text: str = Field(min_length=1, max_length=50)
    district: str = Field(pattern=r"^\d{6}$")


@router.post("/demo/notes", status_code=201)
async def add_note(
    note: Note,
    principal: Principal = Depends(require("officer", "admin")),
    db: Database = Depends(get_db),
) -> dict[str, object]:
    principal.require_district(note.district)
    if note.text == "conflict":
        raise Conflict("the note says so", reason="demo")
    async with db.transaction() as s:
        record_audit(s, principal, "note.add", "note", note.text, {"district": note.district})
    async with db.session() as s:
        n = await s.scalar(select(func.count()).select_from(AuditEntry))
    return {"text": note.text, "audit_rows": n}


#: An answer that is not text, as an upload's `.xlsx` error report is: a zip
#: with NUL bytes and bytes that are not UTF-8.
REPORT_BYTES = b"PK\x03\x04\x14\x00\x00\x00\x08\x00\xff\xfe\x00report"


@router.post("/demo/reports")
async def add_report(
    note: Note,
    principal: Principal = Depends(require("officer", "admin")),
    db: Database = Depends(get_db),
) -> Response:
    async with db.transaction() as s:
        record_audit(s, principal, "report.add", "report", note.text, {})
    return Response(
        REPORT_BYTES + note.text.encode(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": 'attachment; filename="notes-errors.xlsx"'},
    )


@router.post("/demo/claims", status_code=201)
async def add_claim(
    note: Note,
    principal: Principal = Depends(require("officer", "admin")),
    db: Database = Depends(get_db),
) -> dict[str, object]:
    """A record with a business key (the note's text; the inbox table serves
    as one), written without looking first: a second claim of the same text
    is refused by the unique index, as a twin slipping between a route's
    check and its write is. The pause lets concurrent twins all pass the
    Idempotency-Key lookup before the first commits."""
    await asyncio.sleep(0.05)
    async with db.transaction() as s:
        s.add(
            InboxRow(
                consumer_group="demo",
                event_id=note.text,
                event_type="claim",
                source_topic="demo",
                processed_at=utcnow(),
            )
        )
        record_audit(s, principal, "claim.add", "claim", note.text, {"district": note.district})
    return {"text": note.text}


@router.get("/demo/session-lost")
async def session_lost() -> None:
    """An error of SQLAlchemy's own raised while a lost connection was being
    handled (not a DBAPI error itself, but caused by one)."""
    try:
        raise ConnectionResetError("connection reset by peer")
    except ConnectionResetError:
        raise sa_exc.PendingRollbackError(
            "Can't reconnect until invalid transaction is rolled back"
        ) from None


@router.get("/demo/odd-after-reset")
async def odd_after_reset() -> None:
    """Any other error raised while a lost connection was being handled."""
    try:
        raise ConnectionResetError("connection reset by peer")
    except ConnectionResetError:
        raise RuntimeError("cleaning up after the reset failed") from None


@router.get("/demo/bug")
async def bug() -> None:
    """A fault of ours: no handler names it, the last one answers a 500."""
    raise RuntimeError("a bug")


@router.get("/demo/driver-lost")
async def driver_lost() -> None:
    """What a read on the driver itself raises when PostgreSQL went away."""
    raise asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")


_BATCHES: dict[int, GroupCommit] = {}


@router.post("/demo/grouped-notes", status_code=201)
async def add_grouped_note(
    note: Note,
    principal: Principal = Depends(require("officer", "admin")),
    db: Database = Depends(get_db),
) -> dict[str, object]:
    """A write committed in a group commit of its own, as quota-svc's hot
    pools are: the request's unit of work holds no transaction after it, so
    its Idempotency-Key answer is stored by one autocommit statement (on
    PostgreSQL, on the driver itself). The note's text is its business key."""
    batches = _BATCHES.setdefault(id(db), GroupCommit(db))

    async def op(s: AsyncSession) -> bool:
        seen = await s.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.target_id == note.text)
        )
        if seen:
            return False
        record_audit(s, principal, "note.add", "note", note.text, {"district": note.district})
        return True

    return {"text": note.text, "new": await batches.run(note.text, op)}


@router.get("/demo/pages")
async def list_pages(limit: int = 10, tag: str | None = None) -> dict[str, object]:
    return {"limit": limit, "tag": tag}


@router.get("/demo/moments")
async def list_moments(at: list[str] = Query([]), tag: list[str] = Query([])) -> dict[str, object]:
    """`at` and `tag` read as lists: `tag` is one value on /demo/pages and a
    list here, so it is refused for coming twice there alone."""
    return {"at": at, "tag": tag}


def demo_app(url: str):
    spec = ServiceSpec(
        name="demo-svc",
        prefix="/demo",
        title="demo",
        description="demo",
        migrations_dir=QUOTA_MIGRATIONS,
        routers=[router],
    )
    return create_app(spec, ServiceSettings(database_url=url, log_json=False))


async def test_probes_and_openapi(db_url: str) -> None:
    async with testing.running(demo_app(db_url)) as c:
        assert (await c.get("/demo/health")).json()["status"] == "ok"
        ready = await c.get("/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["database"] is True
        assert "http_requests_total" in (await c.get("/demo/metrics")).text
        # Every request is counted and timed under its route and status.
        from svc_common.observability import LATENCY, REQUESTS

        ok = ("demo-svc", "GET", "/demo/health", "200")
        counted = REQUESTS.labels(*ok)._value.get()
        timed = LATENCY.labels(*ok[:3])._sum.get()
        for _ in range(3):
            await c.get("/demo/health")
        await c.get("/demo/nowhere")
        assert REQUESTS.labels(*ok)._value.get() == counted + 3
        # One route, two outcomes: each counted under its own status.
        pages = [("demo-svc", "GET", "/demo/pages", s) for s in ("200", "422")]
        before = [REQUESTS.labels(*p)._value.get() for p in pages]
        assert (await c.get("/demo/pages?limit=1")).status_code == 200
        assert (await c.get("/demo/pages?limit=x")).status_code == 422
        assert [REQUESTS.labels(*p)._value.get() for p in pages] == [n + 1 for n in before]
        assert LATENCY.labels(*ok[:3])._sum.get() > timed
        assert REQUESTS.labels("demo-svc", "GET", "unmatched", "404")._value.get() >= 1
        doc = (await c.get("/demo/openapi.json")).json()
        assert doc["paths"]["/demo/notes"]["post"]["security"] == [{"HTTPBearer": []}]
        scheme = doc["components"]["securitySchemes"]["HTTPBearer"]
        assert [scheme["type"], scheme["scheme"], scheme["bearerFormat"]] == [
            "http",
            "bearer",
            "JWT",
        ]
        assert "security" not in doc["paths"]["/demo/health"]["get"]


async def test_every_answer_forbids_framing_and_sniffing(db_url: str) -> None:
    """The services' pages (the API docs, eia-svc's receipt) share the
    console's origin in the embedded default: no other site may frame them,
    and no answer is sniffed into another type."""
    async with testing.running(demo_app(db_url)) as c:
        for r in (
            await c.get("/demo/health"),
            await c.get("/demo/docs"),
            await c.get("/demo/nowhere"),
            await c.post("/demo/notes", json={}),
        ):
            assert r.headers["x-frame-options"] == "DENY", r.url
            assert r.headers["x-content-type-options"] == "nosniff", r.url
            assert "frame-ancestors 'none'" in r.headers["content-security-policy"], r.url
            assert r.headers["referrer-policy"] == "same-origin", r.url


async def test_an_answer_to_a_request_with_a_token_is_not_stored(db_url: str) -> None:
    """An answer to a request with `Authorization` (a record, a list, a
    refusal) carried no Cache-Control: a browser could keep it on disk and
    show it again to the next user of the machine. It is `no-store`, as the
    console's pages are; an answer to a request without a token (a probe,
    the document) is left to HTTP's rules."""
    async with testing.running(demo_app(db_url)) as c:
        officer = testing.auth("officer", ["120119"])
        for r in (
            await c.post("/demo/notes", json={"text": "x", "district": "120119"}, headers=officer),
            await c.get("/demo/audit", headers=testing.auth("auditor")),
            await c.head("/demo/audit", headers=testing.auth("auditor")),
            await c.get("/demo/audit", headers={"Authorization": "Bearer nope"}),
            await c.get("/demo/pages?limit=x", headers=officer),
            await c.get("/demo/nowhere", headers=officer),
        ):
            assert r.headers.get("cache-control") == "no-store", (r.request.url, r.status_code)
        for r in (await c.get("/demo/health"), await c.get("/demo/openapi.json")):
            assert "cache-control" not in r.headers, r.request.url


def _carries_security_headers(r: httpx.Response) -> None:
    assert r.headers.get("x-frame-options") == "DENY", (r.status_code, r.headers)
    assert r.headers.get("x-content-type-options") == "nosniff", r.headers
    assert "frame-ancestors 'none'" in r.headers.get("content-security-policy", ""), r.headers
    assert r.headers.get("referrer-policy") == "same-origin", r.headers


async def test_a_500_and_a_503_carry_the_security_headers_too(tmp_path: Path) -> None:
    """The answer to an unexpected exception was sent by Starlette's
    ServerErrorMiddleware, outside every middleware an app adds: it went out
    without the headers every other answer carries. So did the 503 sent
    there for an error no handler names caused by a lost connection. (Both
    are answered inside the request's context now, `errors.UnexpectedErrors`;
    an answer already begun still fails there.)"""
    exporter = InMemorySpanExporter()
    for traced in (False, True):
        with contextlib.ExitStack() as stack:
            if traced:  # the tracing instrumentation wraps the same stack
                stack.enter_context(tracing.use_exporter(exporter))
            app = demo_app(f"sqlite+aiosqlite:///{tmp_path}/h{traced}.db")
        async with testing.running(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://demo") as raw:
                r = await raw.get("/demo/bug", headers=testing.auth("officer"))
                assert r.status_code == 500, r.text
                assert r.headers["content-type"] == "application/problem+json"
                _carries_security_headers(r)
                r = await raw.get("/demo/odd-after-reset", headers=testing.auth("officer"))
                assert r.status_code == 503, r.text
                _carries_security_headers(r)
                r = await raw.get("/demo/driver-lost", headers=testing.auth("officer"))
                assert r.status_code == 503, r.text
                _carries_security_headers(r)

    (bug,) = [
        s
        for s in exporter.get_finished_spans()
        if s.name.startswith("GET /demo/bug") and s.kind == trace.SpanKind.SERVER
    ]
    # The exception is on the request's span, answered inside it.
    assert [e.attributes["exception.type"] for e in bug.events if e.name == "exception"] == [
        "RuntimeError"
    ]
    assert bug.status.status_code == trace.StatusCode.ERROR


async def test_a_500_carries_the_request_id_of_its_log_line_and_ends_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception no handler answers was answered by Starlette's
    ServerErrorMiddleware, outside the request's context: the 500 had no
    `request_id` nor `X-Request-ID` (nothing to match its log line
    `unhandled error` by, which had none either), was in Chinese when
    English was asked for, and the exception went on to the server (uvicorn
    closed the connection; the embedded console, calling in process, got
    the exception instead of the answer and showed its own 500 page). It is
    answered inside the request's context and ends there."""
    import structlog
    from svc_common import errors

    logged: list[tuple[str, Any]] = []

    class Log:
        def exception(self, event: str, **kw: Any) -> None:
            logged.append((event, structlog.contextvars.get_contextvars().get("request_id")))

    monkeypatch.setattr(errors, "log", Log())
    app = demo_app(f"sqlite+aiosqlite:///{tmp_path}/ids.db")
    async with testing.running(app):
        # The exceptions an app raises are raised to the client here: none is.
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as raw:
            r = await raw.get(
                "/demo/bug",
                headers=testing.auth(
                    "officer", **{"X-Request-ID": "req-500", "Accept-Language": "en"}
                ),
            )
    assert r.status_code == 500 and r.headers["content-type"] == "application/problem+json"
    assert r.headers["x-request-id"] == "req-500" and r.json()["request_id"] == "req-500"
    assert r.headers["content-language"] == "en"
    assert r.json()["detail"] == "an unexpected error occurred; it has been logged"
    assert "a bug" not in r.text
    _carries_security_headers(r)
    assert logged == [("unhandled error", "req-500")]


async def test_a_500_and_a_503_answered_last_carry_the_request_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception no handler names was answered by the last handler from
    Starlette's ServerErrorMiddleware, outside the request-context
    middleware: the 500 (and the 503 of a lost connection seen there) went
    out without X-Request-ID or `request_id`, in zh-CN whatever was asked,
    and its "unhandled error" line, the one with the traceback, carried no
    request id to find it by. They are answered inside the request's
    context now, as every other problem is."""
    import sys

    import structlog
    from svc_common import errors

    logged: list[tuple[str, dict[str, Any], BaseException | None, Any]] = []

    class Log:
        def _line(self, event: str, **kw: Any) -> None:
            ids = structlog.contextvars.get_contextvars().get("request_id")
            logged.append((event, kw, sys.exc_info()[1], ids))

        exception = warning = _line

    monkeypatch.setattr(errors, "log", Log())
    app = demo_app(f"sqlite+aiosqlite:///{tmp_path}/ids.db")
    async with testing.running(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as raw:
            headers = {**testing.auth("officer"), "X-Request-ID": "req-bug-1"}
            r = await raw.get("/demo/bug", headers={**headers, "Accept-Language": "en"})
            assert r.status_code == 500, r.text
            assert r.headers["content-type"] == "application/problem+json"
            assert r.headers.get("x-request-id") == "req-bug-1"
            body = r.json()
            assert body["request_id"] == "req-bug-1" and body["instance"] == "/demo/bug"
            assert body["detail"] == "an unexpected error occurred; it has been logged"
            assert "a bug" not in r.text and "Traceback" not in r.text
            ((event, kw, exc, request_id),) = logged
            assert event == "unhandled error" and kw == {"path": "/demo/bug"}
            assert isinstance(exc, RuntimeError) and request_id == "req-bug-1"

            logged.clear()
            headers["X-Request-ID"] = "req-reset-1"
            r = await raw.get("/demo/odd-after-reset", headers=headers)
            assert r.status_code == 503, r.text
            assert r.headers.get("retry-after")
            assert r.headers.get("x-request-id") == "req-reset-1"
            assert r.json()["request_id"] == "req-reset-1"
            assert r.json()["detail"] == "本次请求所需的服务暂不可用，请稍后重试"
            ((event, _kw, _exc, request_id),) = logged
            assert event == "request failed: dependency unavailable"
            assert request_id == "req-reset-1"

            # A 503 for a database the handlers name was in the context already.
            headers["X-Request-ID"] = "req-lost-1"
            r = await raw.get("/demo/driver-lost", headers=headers)
            assert r.status_code == 503 and r.json()["request_id"] == "req-lost-1"
            assert r.headers.get("x-request-id") == "req-lost-1"


async def test_validation_problem_names_each_field(db_url: str) -> None:
    async with testing.running(demo_app(db_url)) as c:
        r = await c.post(
            "/demo/notes", json={"text": "", "district": "12"}, headers=testing.auth("officer")
        )
        assert r.status_code == 422
        assert r.headers["content-type"].startswith("application/problem+json")
        fields = {e["field"] for e in r.json()["errors"]}
        assert fields == {"text", "district"}
        # Malformed JSON is a 422 too, never a 500.
        r = await c.post(
            "/demo/notes",
            content=b"{not json",
            headers={**testing.auth("officer"), "content-type": "application/json"},
        )
        assert r.status_code == 422


async def test_malformed_json_names_the_body_and_says_where(db_url: str) -> None:
    """A body cut short was answered with the decoder's offset as the field
    (`"field": "21"`): the field is the body, the offset is in the message."""
    json_headers = {**testing.auth("officer"), "content-type": "application/json"}
    async with testing.running(demo_app(db_url)) as c:
        for lang, where in (("zh-CN", "第 21 个字符之后"), ("en", "after 21 characters")):
            r = await c.post(
                "/demo/notes",
                content=b'{"district":"120119",',
                headers={**json_headers, "accept-language": lang},
            )
            assert r.status_code == 422, r.text
            problem = r.json()
            assert [(e["field"], e["type"]) for e in problem["errors"]] == [
                ("body", "json_invalid")
            ]
            message = problem["errors"][0]["message"]
            assert where in message, message
            assert message.startswith("不是有效的 JSON" if lang == "zh-CN" else "is not valid JSON")
            assert problem["detail"] == f"body: {message}"


async def test_a_json_body_sent_as_another_media_type_is_a_415(db_url: str) -> None:
    body = b'{"text": "hello", "district": "120119"}'
    officer = testing.auth("officer", ["120119"])
    async with testing.running(demo_app(db_url)) as c:
        for media in ("text/plain", "application/x-www-form-urlencoded", "application/xml", ""):
            typed = {"content-type": media} if media else {}
            r = await c.post("/demo/notes", content=body, headers={**officer, **typed})
            assert r.status_code == 415, (media, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert "application/json" in r.json()["detail"]
        zh = await c.post(
            "/demo/notes",
            content=body,
            headers={**officer, "content-type": "text/plain", "accept-language": "zh-CN"},
        )
        assert (zh.status_code, zh.json()["detail"].startswith("此操作只接受 JSON")) == (415, True)
        # JSON by any of its names is read.
        for headers in (
            {"content-type": "application/json; charset=utf-8"},
            {"content-type": "application/merge-patch+json"},
        ):
            r = await c.post("/demo/notes", content=body, headers={**officer, **headers})
            assert r.status_code == 201, (headers, r.text)
        # A JSON body with wrong fields stays a 422 naming them, and so does
        # no body at all, whatever its type says.
        r = await c.post(
            "/demo/notes",
            content=b'{"text": ""}',
            headers={**officer, "content-type": "application/json"},
        )
        assert r.status_code == 422
        r = await c.post("/demo/notes", headers={**officer, "content-type": "text/plain"})
        assert (r.status_code, r.json()["errors"][0]["field"]) == (422, "body")
        doc = (await c.get("/demo/openapi.json")).json()
        assert "415" in doc["paths"]["/demo/notes"]["post"]["responses"]


async def test_a_trailing_slash_is_a_404_not_a_redirect_to_the_host_given(db_url: str) -> None:
    async with testing.running(demo_app(db_url)) as c:
        r = await c.post(
            "/demo/notes/",
            json={"text": "hello", "district": "120119"},
            headers={**testing.auth("admin"), "host": "evil.example", "accept-language": "en"},
        )
        assert r.status_code == 404 and "location" not in r.headers
        assert r.json()["detail"] == "no such resource"
        assert (await c.get("/demo/health/")).status_code == 404


async def test_a_json_body_cannot_slip_past_the_front_door(db_url: str) -> None:
    """A second Content-Type once made the guard read "text/plain" while
    FastAPI parsed the JSON: NUL reached the database (a 500 on PostgreSQL).
    A body that is not UTF-8 was an English 400 naming no field."""
    async with testing.running(demo_app(db_url)) as c:
        twice = [
            *testing.auth("admin").items(),
            ("content-type", "application/json"),
            ("content-type", "text/plain"),
        ]
        r = await c.post(
            "/demo/notes", content=b'{"text": "a\\u0000b", "district": "120119"}', headers=twice
        )
        assert r.status_code == 400, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "Content-Type" in r.json()["detail"]
        latin = {
            **testing.auth("admin"),
            "content-type": "application/json",
            "accept-language": "zh-CN",
        }
        r = await c.post(
            "/demo/notes",
            content='{"text": "café", "district": "120119"}'.encode("latin-1"),
            headers=latin,
        )
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == "body"
        assert r.json()["detail"] == "JSON 请求内容不是 UTF-8 编码"
        r = await c.post(
            "/demo/notes",
            content='{"text": "café", "district": "120119"}'.encode(),
            headers={**latin, "accept-language": "en"},
        )
        assert r.status_code == 201, r.text


async def test_a_name_written_twice_in_a_json_object_is_a_422_naming_it(db_url: str) -> None:
    """{"text": "a", "text": "b"} was taken as "b" (Python keeps the last;
    other parsers, and a reader upstream, the first)."""
    async with testing.running(demo_app(db_url)) as c:
        h = {**testing.auth("officer", ["120119"]), "content-type": "application/json"}
        twice = b'{"text": "first", "district": "120119", "text": "second"}'
        r = await c.post("/demo/notes", content=twice, headers={**h, "accept-language": "zh-CN"})
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        (error,) = r.json()["errors"]
        assert (error["field"], error["type"]) == ("text", "duplicate_key")
        assert error["message"] == "同一 JSON 对象中此字段出现了两次"
        r = await c.post("/demo/notes", content=twice, headers={**h, "accept-language": "en"})
        assert r.json()["errors"][0]["message"] == "this name appears twice in one JSON object"
        nested = b'{"text": "x", "district": "120119", "more": [{}, {"a": 1, "a": 1}]}'
        r = await c.post("/demo/notes", content=nested, headers=h)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "more.1.a", r.text
        once = b'{"text": "first", "district": "120119"}'
        r = await c.post("/demo/notes", content=once, headers=h)
        assert r.status_code == 201 and r.json()["audit_rows"] == 1, r.text  # none before


async def test_a_compressed_body_is_a_415_not_a_nul(db_url: str) -> None:
    """A gzip'd JSON body was checked as its compressed bytes: a 422 saying
    the body held NUL characters."""
    async with testing.running(demo_app(db_url)) as c:
        body = json.dumps({"text": "zipped", "district": "120119"}).encode()
        h = {**testing.auth("officer", ["120119"]), "content-type": "application/json"}
        for coding in ("gzip", "deflate, gzip", "br"):
            r = await c.post(
                "/demo/notes",
                content=gzip.compress(body),
                headers={**h, "content-encoding": coding, "accept-language": "zh-CN"},
            )
            assert r.status_code == 415, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            assert "Content-Encoding" in r.json()["detail"] and "压缩" in r.json()["detail"]
        r = await c.post("/demo/notes", content=body, headers={**h, "content-encoding": "identity"})
        assert r.status_code == 201 and r.json()["audit_rows"] == 1, r.text


async def test_a_body_in_a_transfer_coding_but_chunked_is_a_415_not_a_nul(db_url: str) -> None:
    """`Transfer-Encoding: gzip, chunked`: uvicorn's HTTP server takes the
    chunks apart and hands the gzip'd bytes on as they are, which were
    checked as the JSON body: a 422 saying the body held NUL characters. It
    is refused as a compressed body is, naming Transfer-Encoding; chunked
    alone is read as before."""
    async with testing.running(demo_app(db_url)) as c:
        body = json.dumps({"text": "zipped", "district": "120119"}).encode()
        h = {**testing.auth("officer", ["120119"]), "content-type": "application/json"}
        for coding in ("gzip, chunked", "x-gzip,chunked", "deflate , chunked", "br"):
            r = await c.post(
                "/demo/notes",
                content=gzip.compress(body),
                headers={**h, "transfer-encoding": coding, "accept-language": "zh-CN"},
            )
            assert r.status_code == 415, (coding, r.text)
            problem = r.json()
            assert "Transfer-Encoding" in problem["detail"] and "压缩" in problem["detail"]
            assert problem["errors"][0]["field"] == "Transfer-Encoding", r.text
        r = await c.post("/demo/notes", content=body, headers={**h, "transfer-encoding": "chunked"})
        assert r.status_code == 201 and r.json()["audit_rows"] == 1, r.text


async def test_a_json_body_declared_in_another_charset_is_a_415_not_a_nul(db_url: str) -> None:
    """A JSON body declared `charset=utf-16` (and sent so) was read as UTF-8
    bytes: a 422 saying the body held NUL characters. JSON is UTF-8: another
    declared charset is a 415 saying so; UTF-8, by any spelling of its
    name, or no charset, is read as before."""
    async with testing.running(demo_app(db_url)) as c:
        note = {"text": "宁河", "district": "120119"}
        h = testing.auth("officer", ["120119"])
        for charset, body in (
            ("utf-16", json.dumps(note).encode("utf-16")),
            ("UTF-16LE", json.dumps(note).encode("utf-16-le")),
            ('"utf-32"', json.dumps(note).encode("utf-32")),
            ("gb18030", json.dumps(note, ensure_ascii=False).encode("gb18030")),
            ("iso-8859-1", json.dumps(note).encode("latin-1")),
        ):
            media = f"application/json; charset={charset}"
            r = await c.post(
                "/demo/notes",
                content=body,
                headers={**h, "content-type": media, "accept-language": "zh-CN"},
            )
            assert r.status_code == 415, (charset, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            problem = r.json()
            assert problem["detail"].startswith("JSON 正文必须是 UTF-8 编码"), problem
            assert charset.strip('"') in problem["detail"] and "NUL" not in problem["detail"]
            assert problem["instance"] == "/demo/notes"
        r = await c.post(
            "/demo/notes",
            content=json.dumps(note).encode("utf-16"),
            headers={**h, "content-type": "application/merge-patch+json;charset=utf-16"},
        )
        assert r.status_code == 415
        assert r.json()["detail"].startswith("a JSON body must be UTF-8"), r.text
        # Sent in UTF-16 or UTF-32 with no charset: a 415 saying UTF-8, not
        # a 422 about NUL characters (its zero bytes).
        for encoding in ("utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le"):
            r = await c.post(
                "/demo/notes",
                content=json.dumps(note).encode(encoding),
                headers={**h, "content-type": "application/json", "accept-language": "zh-CN"},
            )
            assert r.status_code == 415, (encoding, r.text)
            assert r.json()["detail"].startswith("JSON 正文必须是 UTF-8 编码"), r.text
        for media in (
            "application/json",
            "application/json; charset=utf-8",
            "application/json;charset=UTF-8",
            'application/json; charset="utf-8"',
            "application/json; charset=utf8",
            "application/json; charset=US-ASCII",
        ):
            r = await c.post(
                "/demo/notes",
                content=json.dumps({**note, "text": media[-12:]}).encode(),
                headers={**h, "content-type": media},
            )
            assert r.status_code == 201, (media, r.text)
        # Other bytes that are not UTF-8, with no charset declared, stay a 422 on `body`.
        r = await c.post(
            "/demo/notes",
            content=json.dumps(note, ensure_ascii=False).encode("gb18030"),
            headers={**h, "content-type": "application/json", "accept-language": "zh-CN"},
        )
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body", r.text


async def test_a_parameter_taking_one_value_is_given_once(db_url: str) -> None:
    """The framework kept the last of two values silently (`?limit=1&limit=2`
    listed two): a caller would not know which one was acted on."""
    async with testing.running(demo_app(db_url)) as c:
        r = await c.get("/demo/pages?limit=1&limit=2", headers={"accept-language": "zh-CN"})
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["errors"] == [
            {"field": "limit", "message": "只能给出一次", "type": "repeated_parameter"}
        ]
        r = await c.get("/demo/pages?limit=1&limit=1", headers={"accept-language": "en"})
        assert r.status_code == 422 and r.json()["errors"][0]["message"] == "may be given once"
        assert (await c.get("/demo/pages?limit=1&tag=a")).json() == {"limit": 1, "tag": "a"}
        # Lists take many; a name some route reads as a list repeats there only.
        r = await c.get("/demo/moments?at=a&at=b&tag=x&tag=y")
        assert r.json() == {"at": ["a", "b"], "tag": ["x", "y"]}
        assert (await c.head("/demo/moments?tag=x&tag=y")).status_code == 200
        # `tag` is one value on /demo/pages: the last of two was answered
        # (quota-svc's `?at=A&at=B` on a pool's balance answered for B).
        r = await c.get("/demo/pages?tag=a&tag=b", headers={"accept-language": "zh-CN"})
        assert r.status_code == 422, r.text
        assert r.json()["errors"] == [
            {"field": "tag", "message": "只能给出一次", "type": "repeated_parameter"}
        ]


async def test_a_key_and_a_token_are_sent_once(db_url: str) -> None:
    """The key was read from the last Authorization header, the route's
    caller from the first: with a bad token last, the key was dropped and a
    retry wrote twice; two Idempotency-Keys were one silently ignored."""
    async with testing.running(demo_app(db_url)) as c:
        officer = testing.auth("officer", ["120119"], idem="k-once")
        body = {"text": "once", "district": "120119"}
        twice = [
            *officer.items(),
            ("authorization", "Bearer not.a.token"),
            ("content-type", "application/json"),
            ("accept-language", "zh-CN"),
        ]
        for _ in range(2):
            r = await c.post("/demo/notes", content=json.dumps(body), headers=twice)
            assert r.status_code == 400, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["detail"] == "请求只能有一个 Authorization 头"
        two_keys = [*officer.items(), ("idempotency-key", "k-other")]
        r = await c.post("/demo/notes", json=body, headers=two_keys)
        assert r.status_code == 400, r.text
        assert "Idempotency-Key" in r.json()["detail"]
        r = await c.post("/demo/notes", json=body, headers=officer)
        assert r.status_code == 201 and r.json()["audit_rows"] == 1  # nothing written before


async def _sent_raw(app: Any, scope: dict[str, Any]) -> list[Message]:
    """What the app sends for a bodiless request given as a server passes
    it (raw bytes no URL can hold)."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def test_the_guards_own_problems_name_the_path_and_the_request(db_url: str) -> None:
    """The front door's refusals (svc_common.guard) carry `instance` and
    `request_id` like every other problem, in the caller's language."""
    auth = testing.auth("officer")
    big = b'{"text": "' + b"x" * (1024 * 1024) + b'"}'
    deep = b'{"text": ' + b"[" * 40 + b"]" * 40 + b"}"
    refused = [
        ("GET", "/demo/health?q=%ff", {}, b"", 400, "bad-query"),
        ("GET", "/demo/notes%00", {}, b"", 400, "bad-path"),
        ("POST", "/demo/notes", {"content-length": "many"}, b"", 400, "bad-request"),
        (
            "POST",
            "/demo/notes",
            {"content-type": "application/json"},
            big,
            413,
            "payload-too-large",
        ),
        (
            "POST",
            "/demo/notes?x=1",
            {"content-type": "application/json"},
            deep,
            422,
            "validation-error",
        ),
        (
            "POST",
            "/demo/notes",
            {"content-type": "application/json"},
            b'{"text": "a\\u0000"}',
            422,
            "validation-error",
        ),
    ]
    app = demo_app(db_url)
    async with testing.running(app) as c:
        # What a problem answered by the app (errors.py) carries.
        r = await c.get("/demo/nothing-here", headers={"X-Request-Id": "req-app"})
        assert r.status_code == 404
        members = set(r.json())
        assert {"instance", "request_id"} <= members
        for n, (method, url, headers, body, status, code) in enumerate(refused):
            request_id = f"req-guard-{n}"
            r = await c.request(
                method,
                url,
                content=body,
                headers={**auth, **headers, "X-Request-Id": request_id},
            )
            assert r.status_code == status, (url, r.text[:300])
            assert r.headers["content-type"] == "application/problem+json", url
            problem = r.json()
            assert problem["type"] == "urn:envbureau:problem:" + code
            assert problem["instance"] == url.split("?")[0].replace("%00", "\x00"), url
            assert problem["request_id"] == request_id == r.headers["x-request-id"], url
            assert members <= set(problem), url
        # In Chinese when asked, and for a query of raw bytes no URL can hold
        # (sent to the app as a server would pass it).
        scope = {
            "type": "http",
            "method": "GET",
            "scheme": "http",
            "path": "/demo/health",
            "query_string": b"q=\xff\xfe",
            "headers": [(b"accept-language", b"zh-CN"), (b"x-request-id", b"req-raw")],
            "server": ("testserver", 80),
            "app": app,
        }
        sent = await _sent_raw(app, scope)
        assert sent[0]["status"] == 400
        assert json.loads(sent[1]["body"]) == {
            "type": "urn:envbureau:problem:bad-query",
            "title": "请求有误",
            "status": 400,
            "detail": "q: 不是 UTF-8 编码",
            "instance": "/demo/health",
            "errors": [{"field": "q", "message": "不是 UTF-8 编码", "type": "bad_query"}],
            "request_id": "req-raw",
        }


async def test_a_body_refused_for_how_it_was_sent_names_the_header(db_url: str) -> None:
    """415, 413 and the 400s about a request's headers name what was
    refused in `errors` (the header, or `body`), with why in the caller's
    language, as every other refused input: they said it only in `detail`."""
    auth = testing.auth("officer", ["120119"])
    note = json.dumps({"text": "x", "district": "120119"}).encode()
    cases = [
        ({"content-type": "text/plain"}, note, 415, "Content-Type"),
        ({"content-type": "application/json; charset=latin-1"}, note, 415, "Content-Type"),
        (
            {"content-type": "application/json", "content-encoding": "gzip"},
            note,
            415,
            "Content-Encoding",
        ),
        ({"content-type": "application/json"}, b"{" + b" " * 2**20 + b"}", 413, "body"),
        (
            {"content-type": "application/json", "content-length": "many"},
            b"",
            400,
            "Content-Length",
        ),
    ]
    async with testing.running(demo_app(db_url)) as c:
        for headers, body, status, field in cases:
            r = await c.post(
                "/demo/notes",
                content=body,
                headers={**auth, **headers, "Accept-Language": "zh-CN"},
            )
            assert r.status_code == status, (headers, r.text[:300])
            (error,) = r.json()["errors"]
            assert error["field"] == field and error["message"] == r.json()["detail"], r.text
            assert any("\u4e00" <= ch <= "\u9fff" for ch in error["message"]), r.text
        r = await c.post(
            "/demo/notes",
            content=note,
            headers=[
                *auth.items(),
                ("content-type", "application/json"),
                ("content-type", "application/json"),
            ],
        )
        assert r.status_code == 400 and r.json()["errors"][0]["field"] == "Content-Type", r.text


async def test_a_query_parameter_that_is_no_text_is_named(db_url: str) -> None:
    """A query value (or name) that is not UTF-8, holds a NUL or a control
    or text-direction character is a 400 naming the parameter in `errors`
    and in `detail`, with why, in the caller's language: it said only what
    was wrong somewhere in the query."""
    async with testing.running(demo_app(db_url)) as c:
        for query, field, why in (
            ("limit=5&district=%FF", "district", "不是 UTF-8 编码"),
            ("status=a%00", "status", "不允许包含 NUL 字符"),
            ("q=%E2%80%AEabc", "q", "不允许包含控制字符或文字方向控制字符"),
            ("a=1&b+c=x%01", "b c", "不允许包含控制字符或文字方向控制字符"),
            ("%FF=1", "query", "不是 UTF-8 编码"),
        ):
            r = await c.get(f"/demo/health?{query}", headers={"Accept-Language": "zh-CN"})
            assert r.status_code == 400, (query, r.text)
            problem = r.json()
            assert problem["type"].endswith("bad-query")
            assert problem["errors"] == [{"field": field, "message": why, "type": "bad_query"}]
            assert problem["detail"] == f"{field}: {why}", r.text
        r = await c.get("/demo/health?district=%FF", headers={"Accept-Language": "en"})
        assert r.json()["detail"] == "district: is not UTF-8", r.text


async def test_a_path_of_bytes_that_are_not_utf8_is_a_400(db_url: str) -> None:
    """`%FF` or `%C0%AF` (an overlong "/") in a path was decoded to U+FFFD and
    refused by the route's id pattern (422 "格式不符合…"); the contract says
    non-UTF-8 bytes in the path are a 400, as in the query."""
    app = demo_app(db_url)
    async with testing.running(app) as c:
        for url in ("/demo/notes/%FF", "/demo/notes/%C0%AF", "/demo/%E4%B8notes?q=1"):
            r = await c.get(url, headers={**testing.auth("officer"), "accept-language": "zh-CN"})
            assert r.status_code == 400, (url, r.text)
            problem = r.json()
            assert problem["type"] == "urn:envbureau:problem:bad-path", url
            assert problem["detail"] == "路径不是 UTF-8 编码", url
        # Escapes of UTF-8 are read as before: a route answers.
        r = await c.get("/demo/%E5%81%A5health")
        assert r.status_code == 404, r.text
        assert r.json()["type"] == "urn:envbureau:problem:http-404"
        # As a server passes it: raw_path without the query.
        scope = {
            "type": "http",
            "method": "GET",
            "scheme": "http",
            "path": "/demo/notes/\ufffd",
            "raw_path": b"/demo/notes/%ff",
            "query_string": b"",
            "headers": [(b"accept-language", b"en")],
            "server": ("testserver", 80),
            "app": app,
        }
        sent = await _sent_raw(app, scope)
        assert sent[0]["status"] == 400
        assert json.loads(sent[1]["body"])["detail"] == "the path is not UTF-8"


async def test_a_name_cannot_hide_a_control_or_a_direction_override(db_url: str) -> None:
    """A right-to-left override makes a name read as another in a register;
    a control character has no place in text people read. The refusal names
    the field that holds it (it named the whole "body", leaving the caller to
    search every text of the request)."""
    admin = {**testing.auth("admin"), "accept-language": "en"}
    async with testing.running(demo_app(db_url)) as c:
        for text in ("甲\u202e乙", "bell\u0007", "del\u007f", "c1\u0085", "iso\u2066", "n\u0000"):
            r = await c.post(
                "/demo/notes", json={"text": text, "district": "120119"}, headers=admin
            )
            assert r.status_code == 422, (text, r.text)
            assert r.json()["errors"][0]["field"] == "text", r.text
            assert r.json()["detail"].startswith("text: "), r.text
            assert "control characters" in r.json()["detail"] or "NUL" in r.json()["detail"]
        for raw, field in (
            (b'{"text": "form\\ffeed", "district": "120119"}', "text"),
            (b'{"text": "raw \x07 bell", "district": "120119"}', "text"),
            (b'{"text": "x", "district": "120119", "b\\u0007d": 1}', "b\\x07d"),
            (b'{"text": "x\x07", "district": ', "body"),
        ):
            r = await c.post(
                "/demo/notes", content=raw, headers={**admin, "content-type": "application/json"}
            )
            assert r.status_code == 422, (raw, r.text)
            assert r.json()["errors"][0]["field"] == field, (raw, r.text)
        # Tabs, line breaks and an escaped backslash before b or f are text.
        for text in ("tab\tline\nend", "C:\\build", "中文名称"):
            r = await c.post(
                "/demo/notes", json={"text": text, "district": "120119"}, headers=admin
            )
            assert r.status_code == 201, (text, r.text)
        doc = (await c.get("/demo/openapi.json")).json()
        assert (
            "\\u202a-\\u202e"
            in doc["components"]["schemas"]["Note"]["properties"]["text"]["pattern"]
        )
        # In a query as well (its parameters' patterns say so too).
        r = await c.get("/demo/audit?target_id=%C2%84", headers=admin)
        assert r.status_code == 400 and "control characters" in r.json()["detail"]
        assert (await c.get("/demo/audit?target_id=a%09b", headers=admin)).status_code == 200


async def test_auth_roles_and_districts(db_url: str) -> None:
    async with testing.running(demo_app(db_url)) as c:
        body = {"text": "x", "district": "120119"}
        assert (await c.post("/demo/notes", json=body)).status_code == 401
        bad = {"Authorization": "Bearer not-a-jwt"}
        assert (await c.post("/demo/notes", json=body, headers=bad)).status_code == 401
        r = await c.post("/demo/notes", json=body, headers=testing.auth("investment"))
        assert r.status_code == 403
        r = await c.post("/demo/notes", json=body, headers=testing.auth("officer", ["120115"]))
        assert r.status_code == 403 and r.json()["district"] == "120119"
        r = await c.post("/demo/notes", json=body, headers=testing.auth("officer", ["120119"]))
        assert r.status_code == 201
        # The header as RFC 6750 and HTTPBearer read it: the scheme in any
        # case, spaces around the token ignored; anything else is a 401
        # with the challenge.
        token = testing.auth("officer", ["120119"])["Authorization"].split(" ", 1)[1]
        for header, status in [
            (f"bearer {token}", 201),
            (f"BEARER   {token}  ", 201),
            (f"Basic {token}", 401),
            ("Bearer", 401),
            ("Bearer    ", 401),
            (token, 401),
            ("", 401),
        ]:
            r = await c.post("/demo/notes", json=body, headers={"Authorization": header})
            assert r.status_code == status, (header, r.text)
            if status == 401:
                assert r.headers["www-authenticate"].startswith("Bearer"), header


async def test_a_token_with_a_huge_exp_or_an_unkeepable_sub_is_a_401_writing_nothing(
    db_url: str,
) -> None:
    """A validly signed token whose `exp` no clock can hold was a 500 on
    every route (a write with an Idempotency-Key too); one whose `sub` held
    a lone surrogate was let in, its writes 500s and its reads' log lines
    lost, and a `sub` with a text-direction override became an actor's name
    in the audit trail. Each is a 401 in the caller's language, and nothing
    is written: neither the effect nor the key's answer."""
    soon = int(time.time()) + 600
    invalid = ("令牌无效", "the token is not valid")
    bad_sub = ("令牌的主体（sub）无效", "subject (sub) is not valid")
    cases = [
        ({"sub": "li.hua", "exp": int("9" * 400)}, *invalid),
        ({"sub": "li.hua", "exp": "9" * 400}, *invalid),
        ({"sub": "\ud800", "exp": soon}, *bad_sub),
        ({"sub": "li\u202ehua", "exp": soon}, *bad_sub),
        ({"sub": "li\x85hua", "exp": soon}, *bad_sub),
    ]
    body = {"text": "x", "district": "120119"}
    async with testing.running(demo_app(db_url)) as c:
        for i, (claims, zh, en) in enumerate(cases):
            for role in ("officer", "auditor"):
                token = jwt.encode(
                    {"role": role, "districts": ["120119"], **claims}, DEV_JWT_SECRET
                )
                h = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"k-{i}"}
                r = await c.post("/demo/notes", json=body, headers={**h, "Accept-Language": "zh"})
                assert r.status_code == 401, (claims, r.text)
                assert r.headers["content-type"].startswith("application/problem+json")
                assert r.json()["detail"] == zh
                assert 'error="invalid_token"' in r.headers["www-authenticate"]
                read = await c.get("/demo/audit", headers={**h, "Accept-Language": "en"})
                assert read.status_code == 401 and en in read.json()["detail"], read.text
        r = await c.get("/demo/audit", headers=testing.auth("auditor"))
        assert r.json()["items"] == []
        # No key's answer was kept: the same key with a good token runs the write.
        good = testing.auth("officer", ["120119"], "li.hua", idem="k-0")
        r = await c.post("/demo/notes", json=body, headers=good)
        assert r.status_code == 201 and "idempotent-replayed" not in r.headers


LOOK_ALIKE_SUBS = [
    "zhao.qiang ",
    " zhao.qiang",
    "li.hua\u00a0",
    "li.hua\u200b",
    "li\u2060.hua",
    "li.hua\u3164",
    "li.hua\u1160",
    "li.hua\ufe0f",
    "\uff4c\uff49.\uff48\uff55\uff41",  # ｌｉ.ｈｕａ, full width
    "l\u0456.hua",  # a Cyrillic і among Latin letters
    "\u03bffficer",  # a Greek omicron among Latin letters
    "li hua",
    "li.hu\u0061\u0301",  # á decomposed: not NFKC
    # Letters beyond ASCII that read as ASCII ones, each a second spelling
    # a four-eyes rule read as another officer.
    "li\u0307.hua",  # i with a combining dot above: li̇.hua
    "l\u0131.hua",  # a dotless ı
    "t.adm\u0131n2",
    "\u0441\u0430\u043e.\u0443\u0435",  # all Cyrillic, reads as cao.ye
    "officer\u0661",  # an Arabic-Indic digit one
    "li.hu\u00e1",  # á composed, NFKC yet not ASCII
    "li\u00b7hua",  # a middle dot between Latin letters reads as li.hua
    "\u00b7\u5f20\u4e09",  # a middle dot not between two letters
    "\u5f20\u4e09\u30fb",
    "\u5f20\u00b7\u00b7\u4e09",
    "\u5f20\u4e09\u0301",  # a mark on a Han letter
    "\u0627\u0644\u064a",  # Arabic letters
]


#: Subs let in: printable ASCII with no space, or Han, kana, Hangul and
#: Bopomofo letters (the name dots between them), beside ASCII or not.
ACCEPTED_SUBS = (
    "li.hua",
    "Li.Hua",
    "张三",
    "user-张",
    "李华.li-hua",
    "o'brien",
    "wu_lei+x@example.org",
    "阿卜杜拉·买买提",
    "阿卜杜拉・买买提",
    "さとう",
    "タナカ",
    "김민준",
    "ㄅㄆ",
    "officer1",
)


async def test_a_token_with_a_second_spelling_of_a_name_is_a_401(db_url: str) -> None:
    """One person with a second, slightly different `sub` (a trailing
    space, a no-break or zero-width space, full-width letters, a Cyrillic
    і among Latin letters) approved their own request: the four-eyes rules
    compared subs as exact strings. A sub not in its one canonical form is
    refused at the door, as any bad sub is; names in one alphabet, with Han
    characters beside or not, and any case, are let in."""
    soon = int(time.time()) + 600
    body = {"text": "x", "district": "120119"}
    async with testing.running(demo_app(db_url)) as c:
        for sub in LOOK_ALIKE_SUBS:
            token = jwt.encode(
                {"sub": sub, "role": "officer", "districts": ["120119"], "exp": soon},
                DEV_JWT_SECRET,
            )
            h = {"Authorization": f"Bearer {token}", "Accept-Language": "zh"}
            r = await c.post("/demo/notes", json=body, headers=h)
            assert r.status_code == 401, (sub, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["detail"] == "令牌的主体（sub）无效", r.text
        for sub in ACCEPTED_SUBS:
            h = testing.auth("officer", ["120119"], sub=sub)
            r = await c.post("/demo/notes", json=body, headers=h)
            assert r.status_code == 201, (sub, r.text)


def test_same_person_reads_a_name_in_any_case_and_form() -> None:
    from svc_common.auth import same_person, subject_ok

    assert same_person("li.hua", "Li.Hua") and same_person("LI.HUA", "li.hua")
    assert same_person("li.hua", "\uff4c\uff49.\uff48\uff55\uff41")
    assert same_person("li.hua ", "li.hua\u200b")
    assert same_person("straße", "STRASSE")
    assert not same_person("li.hua", "li.hu")
    assert not same_person("li.hua", "chen.jing")
    assert not same_person(None, "li.hua") and not same_person(None, None)
    assert all(not subject_ok(s) for s in LOOK_ALIKE_SUBS)
    assert all(subject_ok(s) for s in ACCEPTED_SUBS)
    # The two name dots draw alike: one name with either is one person.
    assert same_person("阿卜杜拉·买买提", "阿卜杜拉・买买提")


def test_a_four_eyes_refusal_is_one_409_with_its_reason() -> None:
    from svc_common.auth import refuse_same_person
    from svc_common.errors import Conflict

    words = {"en": "four eyes: another officer decides", "zh": "四眼原则：须由他人决定"}
    with pytest.raises(Conflict) as refused:
        refuse_same_person("li.hua", "Li.Hua", reason="proposer_decides", by="li.hua", **words)
    body = refused.value.body()
    assert body["status"] == 409 and body["reason"] == "proposer_decides"
    assert body["by"] == "li.hua" and "four eyes" in body["detail"]
    refuse_same_person("li.hua", "chen.jing", reason="proposer_decides", **words)
    refuse_same_person(None, None, reason="proposer_decides", **words)


def test_a_sub_is_ascii_or_han_kana_hangul_bopomofo_letters() -> None:
    """Each look-alike sub the re-test signed in with (li̇.hua, lı.hua, an
    all-Cyrillic сао.уе, officer١, t.admın2) is refused with a reason the
    CLI can show; Chinese names are let in."""
    from svc_common.auth import subject_problem

    for sub in LOOK_ALIKE_SUBS:
        assert subject_problem(sub) is not None, sub
    for sub in ACCEPTED_SUBS:
        assert subject_problem(sub) is None, sub
    assert "U+0131" in (subject_problem("l\u0131.hua") or "")


async def test_a_token_for_a_district_not_of_the_city_is_a_401(db_url: str) -> None:
    """`districts: ["110101"]` (Beijing's) or `["999999"]` was let in, every
    list answered empty: the claim is refused as any bad districts claim is."""
    soon = int(time.time()) + 600
    async with testing.running(demo_app(db_url)) as c:
        for districts in (["110101"], ["999999"], ["120119", "999999"]):
            for role in ("officer", "auditor"):
                token = jwt.encode(
                    {"sub": "li.hua", "role": role, "districts": districts, "exp": soon},
                    DEV_JWT_SECRET,
                )
                h = {"Authorization": f"Bearer {token}", "Accept-Language": "zh"}
                r = await c.get("/demo/audit", headers=h)
                assert r.status_code == 401, (districts, r.text)
                assert r.headers["content-type"].startswith("application/problem+json")
                assert r.json()["detail"] == "districts 声明必须是 GB/T 2260 区划代码的列表"
        h = testing.auth("officer", ["120119"])
        r = await c.post("/demo/notes", json={"text": "x", "district": "120119"}, headers=h)
        assert r.status_code == 201, r.text


async def test_a_token_with_a_string_moment_or_a_key_given_twice_is_a_401(
    db_url: str,
) -> None:
    """`exp` as a string of digits was read as a moment (PyJWT's int()),
    and a payload giving `role` twice was read as its last (`admin`):
    each is a 401 "the token is not valid", nothing written."""
    soon = int(time.time()) + 600
    base = {"sub": "li.hua", "role": "officer", "districts": ["120119"], "exp": soon}
    tokens = [
        jwt.encode({**base, "exp": str(soon)}, DEV_JWT_SECRET),
        jwt.encode({**base, "nbf": "0"}, DEV_JWT_SECRET),
        jwt.encode({**base, "iat": str(soon - 10)}, DEV_JWT_SECRET),
        jwt.encode({**base, "exp": True}, DEV_JWT_SECRET),
    ]
    for payload in (
        f'{{"sub":"li.hua","role":"officer","role":"admin","exp":{soon}}}',
        f'{{"sub":"li.hua","role":"admin","districts":["120119"],"districts":[],"exp":{soon}}}',
        '{"sub":"li.hua","role":"officer","districts":["120119"],"exp":NaN}',
    ):
        tokens.append(jwt.api_jws.encode(payload.encode(), DEV_JWT_SECRET, algorithm="HS256"))
    body = {"text": "x", "district": "120119"}
    async with testing.running(demo_app(db_url)) as c:
        for i, token in enumerate(tokens):
            h = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"t-{i}"}
            r = await c.post("/demo/notes", json=body, headers={**h, "Accept-Language": "zh"})
            assert r.status_code == 401, (i, r.text)
            assert r.json()["detail"] == "令牌无效", r.text
            r = await c.get("/demo/audit", headers={**h, "Accept-Language": "en"})
            assert r.status_code == 401 and "not valid" in r.json()["detail"], r.text
        r = await c.get("/demo/audit", headers=testing.auth("auditor"))
        assert r.json()["items"] == []
        # The same, with numbers and each key once, is let in.
        ok = jwt.encode({**base, "nbf": soon - 600, "iat": soon - 600.5}, DEV_JWT_SECRET)
        r = await c.post("/demo/notes", json=body, headers={"Authorization": f"Bearer {ok}"})
        assert r.status_code == 201, r.text


async def test_idempotency_key_replays_and_rejects_reuse(db_url: str) -> None:
    async with testing.running(demo_app(db_url)) as c:
        h = testing.auth("officer", ["120119"], idem="k-1")
        body = {"text": "once", "district": "120119"}
        first = await c.post("/demo/notes", json=body, headers=h)
        again = await c.post("/demo/notes", json=body, headers=h)
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()  # replayed, not re-run
        assert again.headers.get("idempotent-replayed") == "true"
        other = await c.post(
            "/demo/notes", json={**body, "text": "twice"}, headers={**h, "x-request-id": "rq-9"}
        )
        assert other.status_code == 422 and "retry-after" not in other.headers
        assert "different request" in other.json()["detail"]
        # Like every problem: where, and which request.
        assert (other.json()["instance"], other.json()["request_id"]) == ("/demo/notes", "rq-9")
        assert other.json()["type"].endswith("idempotency-key-reused")
        # The same key from another caller is another key.
        h2 = testing.auth("officer", ["120119"], sub="someone.else", idem="k-1")
        r = await c.post("/demo/notes", json={**body, "text": "twice"}, headers=h2)
        assert r.status_code == 201 and r.json()["audit_rows"] == 2


async def test_an_unusable_idempotency_key_is_named_as_the_field_refused(db_url: str) -> None:
    """A key reused for another request (422) or one that cannot be a key
    (400) names `Idempotency-Key` in `errors`, why in the caller's language,
    as every refused field is named: a client showing the errors of a 4xx
    had nothing to show but the detail."""
    async with testing.running(demo_app(db_url)) as c:
        h = testing.auth("officer", ["120119"], idem="k-named")
        body = {"text": "once", "district": "120119"}
        assert (await c.post("/demo/notes", json=body, headers=h)).status_code == 201
        for lang, words in (("zh-CN", "已用于另一个不同的请求"), ("en", "different request")):
            r = await c.post(
                "/demo/notes",
                json={**body, "text": "twice"},
                headers={**h, "Accept-Language": lang},
            )
            assert r.status_code == 422, r.text
            (error,) = r.json()["errors"]
            assert error["field"] == "Idempotency-Key" and words in error["message"], r.text
            assert error["type"] == "idempotency_key_reused"
        r = await c.post(
            "/demo/notes",
            json=body,
            headers={**h, "Idempotency-Key": "a b", "Accept-Language": "zh-CN"},
        )
        assert r.status_code == 400, r.text
        (error,) = r.json()["errors"]
        assert error["field"] == "Idempotency-Key" and "不含空格" in error["message"], r.text


async def test_a_replayed_answer_says_the_language_it_was_given_in(db_url: str) -> None:
    """A retry asked in another language is the first answer, body and
    `Content-Language` both: the header describes the body replayed."""
    async with testing.running(demo_app(db_url)) as c:
        for i, (first_lang, header) in enumerate((("en", "en"), ("zh-CN", "zh-CN"))):
            other = "zh-CN" if first_lang == "en" else "en"
            h = testing.auth("officer", ["120119"], idem=f"lang-{i}")
            # Refused (another district's note): a body in the caller's language.
            bad = {"text": "x", "district": "120115"}
            first = await c.post(
                "/demo/notes", json=bad, headers={**h, "Accept-Language": first_lang}
            )
            assert first.status_code == 403, first.text
            assert first.headers["content-language"] == header
            again = await c.post("/demo/notes", json=bad, headers={**h, "Accept-Language": other})
            assert again.headers.get("idempotent-replayed") == "true", again.text
            assert again.json()["detail"] == first.json()["detail"]
            assert again.headers.get_list("content-language") == [header]
        # A request answered afresh is in its own language.
        h = testing.auth("officer", ["120119"], idem="lang-new")
        r = await c.post(
            "/demo/notes",
            json={"text": "x", "district": "120119"},
            headers={**h, "Accept-Language": "en"},
        )
        assert r.status_code == 201 and r.headers.get_list("content-language") == ["en"]


async def test_concurrent_retries_are_each_replayed_their_own_answer(db_url: str) -> None:
    """Keys looked up together (PostgreSQL: one statement for the lookups of
    the moment, svc_common.batching.LookupsTogether) still answer each
    request with its own key's record: twelve notes, then all twelve retried
    at once with a thirteenth new one and a reused key, all concurrent."""

    async with testing.running(demo_app(db_url)) as c:

        def post(i: int, text: str, sub: str = "li.hua") -> Awaitable[httpx.Response]:
            h = testing.auth("officer", ["120119"], sub=sub, idem=f"k-{i}")
            return c.post("/demo/notes", json={"text": text, "district": "120119"}, headers=h)

        first = await asyncio.gather(*(post(i, f"note {i}") for i in range(12)))
        assert [r.status_code for r in first] == [201] * 12
        again = await asyncio.gather(
            *(post(i, f"note {i}") for i in range(12)),
            post(12, "note 12"),
            post(3, "not note 3"),
            post(5, "note 5", sub="someone.else"),
        )
        for i, r in enumerate(again[:12]):
            assert r.status_code == 201 and r.headers.get("idempotent-replayed") == "true", i
            assert r.json() == first[i].json(), i
        new, reused, other_caller = again[12:]
        assert new.status_code == 201 and "idempotent-replayed" not in new.headers
        assert reused.status_code == 422, reused.text
        assert other_caller.status_code == 201 and "idempotent-replayed" not in other_caller.headers


async def test_an_answer_is_not_replayed_to_a_token_with_other_rights(db_url: str) -> None:
    """The key was scoped to `sub` alone: the same person's token as an
    auditor, or as an officer of another district, was replayed the 201 and
    the record of an operation it may not do, in a district it may not see."""
    async with testing.running(demo_app(db_url)) as c:
        body = {"text": "mine", "district": "120119"}
        first = await c.post(
            "/demo/notes",
            json=body,
            headers=testing.auth("officer", ["120119"], "li.hua", idem="k"),
        )
        assert first.status_code == 201
        for role, districts in (("auditor", ["120119"]), ("officer", ["120101"])):
            h = testing.auth(role, districts, "li.hua", idem="k")
            r = await c.post("/demo/notes", json=body, headers=h)
            assert r.status_code != 201 and "idempotent-replayed" not in r.headers, (role, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
        same = testing.auth("officer", ["120119"], "li.hua", idem="k")
        again = await c.post("/demo/notes", json=body, headers=same)
        assert again.status_code == 201 and again.json() == first.json()
        assert again.headers.get("idempotent-replayed") == "true"


async def test_a_binary_answer_is_stored_and_replayed_byte_for_byte(db_url: str) -> None:
    """An upload's `.xlsx` error report under an Idempotency-Key: PostgreSQL
    refused the answer's NUL bytes in the text column (a 500, the connection
    dropped) and SQLite kept it mangled by UTF-8 replacement; its
    Content-Disposition was not replayed. Now every twin, and every retry,
    gets the first answer's bytes and headers, and the effect is once."""
    async with testing.running(demo_app(db_url)) as c:
        h = testing.auth("officer", ["120119"], idem="report-1")
        body = {"text": "r1", "district": "120119"}
        twins = (c.post("/demo/reports", json=body, headers=h) for _ in range(3))
        answers = list(await asyncio.gather(*twins))
        answers.append(await c.post("/demo/reports", json=body, headers=h))
        for r in answers:
            assert r.status_code == 200, r.text
            assert r.content == REPORT_BYTES + b"r1"
            assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
            assert r.headers["content-disposition"] == 'attachment; filename="notes-errors.xlsx"'
        assert answers[-1].headers["idempotent-replayed"] == "true"
        r = await c.get("/demo/audit", headers=testing.auth("auditor"))
        assert [e["action"] for e in r.json()["items"]] == ["report.add"]


@pytest.mark.parametrize("text", ["conflict"])
async def test_domain_problem(db_url: str, text: str) -> None:
    async with testing.running(demo_app(db_url)) as c:
        r = await c.post(
            "/demo/notes",
            json={"text": text, "district": "120119"},
            headers=testing.auth("admin"),
        )
        assert r.status_code == 409
        assert r.json()["reason"] == "demo"
        assert r.json()["type"].endswith(":conflict")


async def test_audit_trail_is_written_with_the_change_and_readable_by_auditors(db_url: str) -> None:
    async with testing.running(demo_app(db_url)) as c:
        h = testing.auth("officer", ["120119"], sub="li.hua", **{"X-Request-ID": "req-42"})
        assert (
            await c.post("/demo/notes", json={"text": "a", "district": "120119"}, headers=h)
        ).status_code == 201
        assert (await c.get("/demo/audit", headers=testing.auth("officer"))).status_code == 403
        r = await c.get("/demo/audit", headers=testing.auth("auditor"))
        assert r.status_code == 200
        (entry,) = r.json()["items"]
        assert (entry["actor"], entry["role"], entry["action"], entry["target_id"]) == (
            "li.hua",
            "officer",
            "note.add",
            "a",
        )
        assert entry["request_id"] == "req-42"
        assert entry["detail"] == {"district": "120119"}


async def test_idempotency_keys_are_whole_and_bounded(db_url: str) -> None:
    async with testing.running(demo_app(db_url)) as c:
        body = {"text": "long", "district": "120119"}
        stem = "k" * 240
        a = await c.post("/demo/notes", json=body, headers=testing.auth("officer", idem=stem + "a"))
        b = await c.post(
            "/demo/notes",
            json={**body, "text": "other"},
            headers=testing.auth("officer", ["120119"], idem=stem + "b"),
        )
        assert a.status_code == 403  # no district: refused, and the refusal is stored
        assert b.status_code == 201 and b.json()["text"] == "other"  # not a's answer
        too_long = testing.auth("officer", ["120119"], idem="k" * 256)
        r = await c.post("/demo/notes", json=body, headers=too_long)
        assert r.status_code == 400 and r.json()["type"].endswith("idempotency-key-invalid")
        assert r.json()["instance"] == "/demo/notes" and r.json()["request_id"]
        # A query the operation does not take is refused first; the problem's
        # instance is the path, never the query.
        r = await c.post("/demo/notes?x=1", json=body, headers=too_long)
        assert r.status_code == 422 and r.json()["instance"] == "/demo/notes"
        spaced = testing.auth("officer", ["120119"], idem="a key")
        assert (await c.post("/demo/notes", json=body, headers=spaced)).status_code == 400


@pytest.mark.parametrize(
    "route",
    [
        "/demo/notes",  # the effect commits with the stored answer
        "/demo/grouped-notes",  # the effect commits in a group commit before it
    ],
)
async def test_concurrent_twins_with_one_key_have_one_effect(db_url: str, route: str) -> None:
    async with testing.running(demo_app(db_url)) as c:
        h = testing.auth("officer", ["120119"], idem="twin")
        body = {"text": "twin", "district": "120119"}
        answers = await asyncio.gather(*(c.post(route, json=body, headers=h) for _ in range(8)))
        assert {r.status_code for r in answers} == {201}
        assert len({r.text for r in answers}) == 1  # every twin got the first answer
        again = await c.post(route, json=body, headers=h)
        assert again.text == answers[0].text
        assert again.headers["idempotent-replayed"] == "true"
        other = await c.post(route, json={**body, "text": "different"}, headers=h)
        assert other.status_code == 422
        assert other.json()["type"].endswith("idempotency-key-reused")
        r = await c.get("/demo/audit", headers=testing.auth("auditor"))
        assert [e["target_id"] for e in r.json()["items"]] == ["twin"]


async def test_a_unique_index_refusing_a_write_is_a_conflict_or_the_twins_answer(
    db_url: str,
) -> None:
    async with testing.running(demo_app(db_url)) as c:
        body = {"text": "claim", "district": "120119"}
        first = await c.post("/demo/claims", json=body, headers=testing.auth("officer", ["120119"]))
        assert first.status_code == 201, first.text
        # Another request for the same record: the index refuses it, a 409.
        again = await c.post(
            "/demo/claims",
            json=body,
            headers=testing.auth("officer", ["120119"], idem="second", **{"Accept-Language": "en"}),
        )
        assert again.status_code == 409, again.text
        assert again.json()["type"].endswith("concurrent-write")
        assert "concurrent request" in again.json()["detail"]
        # Twins with one key: every one gets the first answer, none a 500.
        h = testing.auth("officer", ["120119"], idem="claim-twin")
        twin = {"text": "twin claim", "district": "120119"}
        answers = await asyncio.gather(
            *(c.post("/demo/claims", json=twin, headers=h) for _ in range(6))
        )
        assert [r.status_code for r in answers] == [201] * 6, [r.text for r in answers]
        assert len({r.text for r in answers}) == 1
        r = await c.get("/demo/audit", headers=testing.auth("auditor"))
        claimed = [e["target_id"] for e in r.json()["items"] if e["action"] == "claim.add"]
        assert sorted(claimed) == ["claim", "twin claim"]


async def test_a_lost_driver_connection_is_a_503(tmp_path: Path) -> None:
    async with testing.running(demo_app(f"sqlite+aiosqlite:///{tmp_path}/d.db")) as c:
        r = await c.get("/demo/driver-lost", headers=testing.auth("officer"))
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"]
        r = await c.get("/demo/session-lost", headers=testing.auth("officer"))
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"]

    # An error no handler names reaches the last one (which answers, then
    # lets the server log it): caused by a lost connection, still a 503.
    app = demo_app(f"sqlite+aiosqlite:///{tmp_path}/e.db")
    async with testing.running(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as raw:
            r = await raw.get("/demo/odd-after-reset", headers=testing.auth("officer"))
            assert r.status_code == 503, r.text


def test_the_distributed_mode_refuses_the_development_secret() -> None:
    from svc_common.service import ServiceSpec, create_app
    from svc_common.settings import ServiceSettings

    spec = ServiceSpec(
        name="x-svc", prefix="/x", title="x", description="x", migrations_dir=Path("."), routers=[]
    )
    with pytest.raises(ValueError, match="development secret"):
        create_app(spec, ServiceSettings(event_transport="kafka://127.0.0.1:9092"))
    create_app(
        spec,
        ServiceSettings(event_transport="kafka://127.0.0.1:9092", jwt_secret="s" * 40),
    )
    create_app(spec, ServiceSettings())  # the embedded default may use it
    # Tokens checked against an identity provider's keys leave JWT_SECRET
    # unused, but the pagination cursors' key would come from it.
    jwks = {"event_transport": "kafka://127.0.0.1:9092", "jwt_jwks_url": "https://idp/certs"}
    with pytest.raises(ValueError, match="CURSOR_SECRET"):
        create_app(spec, ServiceSettings(**jwks))
    create_app(spec, ServiceSettings(**jwks, cursor_secret="c" * 32))


async def test_fastapis_own_telemetry_stays_off(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Left on, FastAPI asks OpenTelemetry for its providers on every request
    # (svc_common.tracing.FASTAPI_TELEMETRY says why it is off).
    asked: list[str] = []

    def counted(module: object, name: str) -> None:
        real = getattr(module, name)

        def ask() -> object:
            asked.append(name)
            return real()

        monkeypatch.setattr(module, name, ask)

    async with testing.running(demo_app(db_url)) as c:
        counted(trace, "get_tracer_provider")
        counted(metrics, "get_meter_provider")
        counted(_logs, "get_logger_provider")
        for _ in range(3):
            assert (await c.get("/demo/health")).status_code == 200
    assert asked == []
