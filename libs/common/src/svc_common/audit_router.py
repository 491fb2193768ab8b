"""`GET /<prefix>/audit`: the audit trail, for auditors and administrators
citywide; and, in a service that says where its records are (`AuditScope`),
one record's trail for a reader of its district (an officer reading a
permit's steps on the console's enterprise page)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, BeforeValidator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from svc_common.auth import Principal, require, require_citywide
from svc_common.db import Database
from svc_common.errors import Forbidden
from svc_common.i18n import msg
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
from svc_common.types import uuid_as_given_out


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


#: Where a service's records are, for its audit trail: the district of each
#: record with id `target_id`, by the target type its entries name
#: (`{"permit": "120115"}`); nothing for an id no record has.
AuditScope = Callable[[AsyncSession, str], Awaitable[Mapping[str, str]]]

#: The roles that read one record's trail in their districts (`AuditScope`).
SCOPED_READERS = ("officer", "auditor", "admin")


def _no_record(target_id: str) -> str:
    return msg(f"no record {target_id}", f"没有记录 {target_id}")


async def _visible_types(
    s: AsyncSession, scope: AuditScope, principal: Principal, target_id: str
) -> list[str]:
    """The target types of `target_id`'s records in the caller's districts,
    or 404: another district's record is not found, as one no record has
    (`Principal.require_found`)."""
    where = await scope(s, target_id)
    principal.require_found(_no_record(target_id), *where.values())
    return sorted(t for t, d in where.items() if principal.may_act_in(d))


def audit_router(prefix: str, scope: AuditScope | None = None) -> APIRouter:
    """The trail's route. Without `scope`, for citywide auditors and
    administrators alone; with it, a token scoped to districts (an officer,
    a district's auditor or administrator) reads the trail of one record
    of its districts, by `target_id`."""
    router = APIRouter(tags=["audit trail"])
    readers = require(*SCOPED_READERS) if scope else require_citywide("auditor", "admin")

    # With a scope, a `target_id` of no record the caller's districts hold
    # is not found (404), as the record itself would be: the document says so.
    found: dict[int | str, dict[str, Any]] = {
        404: {"description": "no record `target_id` in the caller's districts"}
    }

    @router.get(
        f"{prefix}/audit", response_model=Page[AuditEntryOut], responses=found if scope else {}
    )
    async def list_audit(
        # A UUID in upper case is the record its lower case is, as in a path.
        target_id: Annotated[
            str | None, Query(max_length=200), BeforeValidator(uuid_as_given_out)
        ] = None,
        action: str | None = Query(None, max_length=100),
        actor: str | None = Query(None, max_length=200),
        cursor: Cursor = None,
        limit: Limit = DEFAULT_LIMIT,
        principal: Principal = Depends(readers),
        db: Database = Depends(get_db),
    ) -> Page[AuditEntryOut]:
        """The service's audit trail, newest first; filter by target, action or actor.

        The whole trail spans every district: it needs a citywide auditor's
        or administrator's token. Where the service says where its records
        are, a token scoped to districts (an officer's) reads one record's
        trail, by `target_id`, of a record in its districts; another
        district's record is not found (404), as one that does not exist."""
        q = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit + 1)
        whole = principal.role in ("auditor", "admin") and principal.district_scope() is None
        if not whole:
            if not target_id or scope is None:
                raise Forbidden(
                    msg(
                        "the whole audit trail needs a citywide auditor's or administrator's "
                        "token; a token scoped to districts reads one record's (target_id)",
                        "查看全部审计日志需要不限辖区的审计人员或管理员令牌；"
                        "限定辖区的令牌只能按 target_id 查看单个记录的审计日志",
                    ),
                    required="citywide",
                )
            async with db.session() as s:
                types = await _visible_types(s, scope, principal, target_id)
            q = q.where(AuditEntry.target_type.in_(types))
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
