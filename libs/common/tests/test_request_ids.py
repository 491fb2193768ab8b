"""Client-supplied request and correlation ids: kept when safe, replaced
otherwise, before they reach a response, a log line or the audit table."""

from __future__ import annotations

import re

import pytest
from fastapi import APIRouter, Depends
from svc_common import testing
from svc_common.audit import record_audit
from svc_common.auth import Principal, require
from svc_common.context import safe_id
from svc_common.db import Database
from svc_common.service import ServiceSpec, create_app, get_db
from svc_common.settings import ServiceSettings

from .test_service_app import QUOTA_MIGRATIONS

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
router = APIRouter()


@router.post("/ids/mark", status_code=201)
async def mark(
    principal: Principal = Depends(require("admin")), db: Database = Depends(get_db)
) -> dict[str, str]:
    async with db.transaction() as s:
        record_audit(s, principal, "mark", "thing", "1")
    return {}


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("req-42", True),
        ("0f3c2a5e-9b1d-4c7a-8e6f-1a2b3c4d5e6f", True),
        ("gw:1700000000.123_abc", True),
        ("a" * 64, True),
        ("a" * 65, False),
        ("has space", False),
        ('quote"', False),
        ("new\nline", False),
        ("中文", False),
        ("-leading-dash", False),
        ("", False),
    ],
)
def test_safe_id(raw: str, kept: bool) -> None:
    assert (safe_id(raw) == raw) is kept


async def test_unsafe_ids_are_replaced_before_the_audit_table(db_url: str) -> None:
    spec = ServiceSpec(
        name="ids-svc",
        prefix="/ids",
        title="ids",
        description="ids",
        migrations_dir=QUOTA_MIGRATIONS,
        routers=[router],
    )
    app = create_app(spec, ServiceSettings(database_url=db_url, log_json=False))
    async with testing.running(app) as c:
        good = await c.post(
            "/ids/mark",
            headers=testing.auth("admin", **{"X-Request-ID": "req-1", "X-Correlation-ID": "c-1"}),
        )
        assert good.status_code == 201
        assert (good.headers["x-request-id"], good.headers["x-correlation-id"]) == ("req-1", "c-1")
        bad = await c.post(
            "/ids/mark",
            headers=testing.auth(
                "admin", **{"X-Request-ID": "x" * 300, "X-Correlation-ID": "drop table;"}
            ),
        )
        assert bad.status_code == 201
        new_id = bad.headers["x-request-id"]
        assert UUID.match(new_id) and bad.headers["x-correlation-id"] == new_id
        r = await c.get("/ids/audit", headers=testing.auth("auditor"))
        entries = {(e["request_id"], e["correlation_id"]) for e in r.json()["items"]}
        assert entries == {("req-1", "c-1"), (new_id, new_id)}
