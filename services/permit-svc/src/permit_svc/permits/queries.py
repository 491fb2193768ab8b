"""Reading permits: one by id, and lists (the renewal reminder list among them)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Select, and_, select
from sqlalchemy.orm import aliased
from svc_common.db import Database
from svc_common.errors import NotFound
from svc_common.pagination import Page, decode_cursor, keyset_page

from permit_svc.enterprises.models import Enterprise
from permit_svc.missing import no_permit
from permit_svc.permits import rules
from permit_svc.permits.models import Permit
from permit_svc.permits.schemas import PermitOut
from permit_svc.permits.service import to_out
from permit_svc.settings import Settings

#: The permit a change application changes: its number is read with it.
Changed = aliased(Permit)


def _with_names() -> Select[Permit, str, str | None]:
    """Permits with their enterprise's name and the number of the permit each
    change application changes."""
    return (
        select(Permit, Enterprise.name, Changed.permit_no)
        .join(Enterprise, Enterprise.uscc == Permit.uscc)
        .outerjoin(Changed, Changed.id == Permit.changes_permit_id)
    )


async def get(db: Database, permit_id: str, settings: Settings) -> PermitOut:
    async with db.session() as s:
        row = (await s.execute(_with_names().where(Permit.id == permit_id))).one_or_none()
    if row is None:
        raise NotFound(no_permit(permit_id))
    return to_out(row[0], row[1], settings.renewal_lead_days, row[2])


async def list_permits(
    db: Database,
    *,
    districts: list[str] | None,
    status: str | None,
    expiring_within_days: int | None,
    today: dt.date,
    cursor: str | None,
    limit: int,
    settings: Settings,
    uscc: str | None = None,
    permit_no: str | None = None,
    attention: bool | None = None,
) -> Page[PermitOut]:
    """Ordered by valid-to date (soonest first, applications last), then id."""
    after = decode_cursor(cursor, "date?", "str")
    q = (
        _with_names()
        .order_by(Permit.valid_to.is_(None), Permit.valid_to, Permit.id)
        .limit(limit + 1)
    )
    if districts is not None:
        q = q.where(Permit.district.in_(districts))
    if status is not None:
        q = q.where(Permit.status == status)
    if uscc is not None:
        q = q.where(Permit.uscc == uscc.upper())
    if permit_no is not None:
        q = q.where(Permit.permit_no == permit_no)
    if attention is not None:
        # Of the permits that kept their checks: one imported, or applied for
        # before checks were kept, has none (and `attention` 0), which is not
        # checks that found nothing. None is written as JSON null (the ORM
        # writes an unset JSON attribute so), or is SQL NULL (the migration's
        # rows): neither is a list of checks.
        q = q.where(
            Permit.attention > 0
            if attention
            else and_(
                Permit.attention == 0,
                Permit.prechecks.is_not(None),
                Permit.prechecks != JSON.NULL,
            )
        )
    if expiring_within_days is not None:
        # The renewal reminder list (延续提醒): in force and ending soon.
        q = q.where(
            Permit.status.in_(rules.IN_FORCE),
            Permit.valid_to <= today + dt.timedelta(days=expiring_within_days),
        )
    if after is not None:
        day, last_id = after
        if day is not None:
            q = q.where(
                (Permit.valid_to > day)
                | ((Permit.valid_to == day) & (Permit.id > last_id))
                | Permit.valid_to.is_(None)
            )
        else:
            q = q.where(Permit.valid_to.is_(None), Permit.id > last_id)
    async with db.session() as s:
        rows = list((await s.execute(q)).all())
    return keyset_page(
        rows,
        limit,
        lambda r: [r[0].valid_to.isoformat() if r[0].valid_to else None, r[0].id],
        lambda r: to_out(r[0], r[1], settings.renewal_lead_days, r[2]),
    )
