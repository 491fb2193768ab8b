"""Reading registrations."""

from __future__ import annotations

from sqlalchemy import select
from svc_common.db import Database
from svc_common.errors import NotFound
from svc_common.pagination import Page, decode_cursor, keyset_after, keyset_page

from permit_svc.enterprises.models import Enterprise
from permit_svc.missing import no_registration
from permit_svc.registrations.models import Registration
from permit_svc.registrations.schemas import RegistrationOut
from permit_svc.registrations.service import to_out


async def get(db: Database, registration_id: str) -> RegistrationOut:
    async with db.session() as s:
        row = (
            await s.execute(
                select(Registration, Enterprise.name)
                .join(Enterprise, Enterprise.uscc == Registration.uscc)
                .where(Registration.id == registration_id)
            )
        ).one_or_none()
    if row is None:
        raise NotFound(no_registration(registration_id))
    return to_out(row[0], row[1])


async def list_registrations(
    db: Database,
    districts: list[str] | None,
    status: str | None,
    cursor: str | None,
    limit: int,
    uscc: str | None = None,
) -> Page[RegistrationOut]:
    after = decode_cursor(cursor, "str")
    q = (
        select(Registration, Enterprise.name)
        .join(Enterprise, Enterprise.uscc == Registration.uscc)
        .order_by(Registration.registration_no)
        .limit(limit + 1)
    )
    if districts is not None:
        q = q.where(Registration.district.in_(districts))
    if status is not None:
        q = q.where(Registration.status == status)
    if uscc is not None:
        q = q.where(Registration.uscc == uscc.upper())
    if after is not None:
        q = q.where(keyset_after(after, Registration.registration_no))
    async with db.session() as s:
        rows = list((await s.execute(q)).all())
    return keyset_page(rows, limit, lambda r: r[0].registration_no, lambda r: to_out(r[0], r[1]))
