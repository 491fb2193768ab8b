"""`GET /<prefix>/audit`: the audit trail, for auditors and administrators."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import select

from svc_common.auth import Principal, require_citywide
from svc_common.db import Database
from svc_common.pagination import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    Page,
    decode_int_cursor,
    keyset_after,
    keyset_page,
)
from svc_common.service_deps import get_db
from svc_common.tables import AuditEntry


class AuditEntryOut(BaseModel):
    id: int
    at: dt.datetime
    actor: str
    role: str
    action: str
    target_type: str
    target_id: str
    request_id: str | None
    correlation_id: str | None
    detail: dict[str, Any] | None


def audit_router(prefix: str) -> APIRouter:
    router = APIRouter(tags=["audit trail"])

    @router.get(f"{prefix}/audit", response_model=Page[AuditEntryOut])
    async def list_audit(
        target_id: str | None = Query(None, max_length=200),
        action: str | None = Query(None, max_length=100),
        actor: str | None = Query(None, max_length=200),
        cursor: Cursor = None,
        limit: Limit = DEFAULT_LIMIT,
        _: Principal = Depends(require_citywide("auditor", "admin")),
        db: Database = Depends(get_db),
    ) -> Page[AuditEntryOut]:
        """The service's audit trail, newest first; filter by target, action or actor.

        It spans every district, so it needs a citywide token."""
        q = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit + 1)
        if target_id:
            q = q.where(AuditEntry.target_id == target_id)
        if action:
            q = q.where(AuditEntry.action == action)
        if actor:
            q = q.where(AuditEntry.actor == actor)
        after = decode_int_cursor(cursor)
        if after is not None:
            q = q.where(keyset_after(after, AuditEntry.id, descending=True))
        async with db.session() as s:
            rows = list((await s.execute(q)).scalars())
        return keyset_page(
            rows,
            limit,
            lambda r: r.id,
            lambda r: AuditEntryOut.model_validate(r, from_attributes=True),
        )

    return router
