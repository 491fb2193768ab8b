"""Parking an approved filing, drafting parked ones, listing and re-driving."""

from __future__ import annotations

import datetime as dt

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.audit import SYSTEM, record_audit
from svc_common.auth import Principal
from svc_common.db import Database
from svc_common.errors import Conflict
from svc_common.pagination import Page, decode_cursor, keyset_after, keyset_page
from svc_common.types import kg_to_tonnes

from permit_svc.missing import no_parked_filing
from permit_svc.parked import rules
from permit_svc.parked.drafting import ApprovedFiling, Drafted, draft_application
from permit_svc.parked.models import ParkedFiling
from permit_svc.parked.schemas import ParkedFilingOut

log = structlog.get_logger(__name__)


async def park(
    s: AsyncSession, f: ApprovedFiling, reason: rules.ParkReason, now: dt.datetime
) -> None:
    """Keep `f` as waiting, with its reason, in the handler's transaction
    (with its inbox record); once per filing."""
    if await s.get(ParkedFiling, f.filing_id) is not None:
        return
    s.add(
        ParkedFiling(
            filing_id=f.filing_id,
            uscc=f.uscc,
            enterprise_name=f.enterprise_name,
            district=f.district,
            industry_code=f.industry_code,
            project_ref=f.project_ref,
            vocs_kg=f.vocs_kg,
            received_at=now,
            reason=reason,
            state=rules.WAITING,
        )
    )
    detail = {"reason": reason, "industry_code": f.industry_code, "uscc": f.uscc}
    record_audit(s, SYSTEM, "parked_filing.park", "parked_filing", f.filing_id, detail)
    log.warning(
        "approved filing parked: no application drafted until its cause is fixed",
        filing_id=f.filing_id,
        district=f.district,
        **detail,
    )


def _filing(row: ParkedFiling) -> ApprovedFiling:
    return ApprovedFiling(
        filing_id=row.filing_id,
        uscc=row.uscc,
        enterprise_name=row.enterprise_name,
        district=row.district,
        industry_code=row.industry_code,
        project_ref=row.project_ref,
        vocs_kg=row.vocs_kg,
    )


async def draft_parked(
    s: AsyncSession,
    row: ParkedFiling,
    actor: Principal,
    now: dt.datetime,
    via: str,
    owed_from: dt.date | None,
) -> Drafted:
    """Draft a waiting filing by the handler's code path; when that is done,
    it is marked drafted, audited."""
    outcome = await draft_application(s, _filing(row), actor, now, via, owed_from)
    if outcome.parked is None:
        _mark_drafted(s, row, outcome.permit_id, actor, now, via)
    return outcome


def _mark_drafted(
    s: AsyncSession,
    row: ParkedFiling,
    permit_id: str | None,
    actor: Principal,
    now: dt.datetime,
    via: str,
) -> None:
    row.state, row.drafted_at, row.permit_id = rules.DRAFTED, now, permit_id
    record_audit(
        s,
        actor,
        "parked_filing.draft",
        "parked_filing",
        row.filing_id,
        {"via": via, "industry_code": row.industry_code, "permit_id": permit_id},
    )


# The lock order of drafting a filing's application, whoever drafts it (the
# approval's handler, a re-drive, a table's replacement): the classification
# table's lock when taken (a replacement; a filing about to be parked), then
# the filing's parked row, then what drafting writes (its enterprise and its
# application, whose unique keys a concurrent twin waits on). The handler
# used to lock the parked row after drafting: with a re-drive of the same
# filing holding the row and waiting on the handler's application, the two
# deadlocked.


async def lock_parked(s: AsyncSession, filing_id: str) -> ParkedFiling | None:
    """The filing's parked row, locked until `s`'s transaction ends (before
    drafting: the lock order above); None if it was never parked."""
    return await s.get(ParkedFiling, filing_id, with_for_update=True, populate_existing=True)


def settle_parked(
    s: AsyncSession,
    row: ParkedFiling | None,
    permit_id: str | None,
    now: dt.datetime,
    via: str,
) -> None:
    """The approval, sent again, was drafted by its handler (its enterprise
    registered meanwhile): a parked filing of it (`row`, locked by
    `lock_parked` before drafting) waits no more."""
    if row is not None and row.state == rules.WAITING:
        _mark_drafted(s, row, permit_id, SYSTEM, now, via)


async def draft_waiting(
    s: AsyncSession,
    actor: Principal,
    codes: set[str],
    now: dt.datetime,
    via: str,
    owed_from: dt.date | None,
) -> int:
    """Draft the waiting filings of `codes` (the codes a replaced
    classification table holds), in the caller's transaction; how many."""
    rows = (
        await s.scalars(
            select(ParkedFiling)
            .where(ParkedFiling.state == rules.WAITING, ParkedFiling.industry_code.in_(codes))
            .order_by(ParkedFiling.received_at, ParkedFiling.filing_id)
            .with_for_update()
        )
    ).all()
    drafted = 0
    for row in rows:
        if (await draft_parked(s, row, actor, now, via, owed_from)).parked is None:
            drafted += 1
    return drafted


def to_out(row: ParkedFiling) -> ParkedFilingOut:
    return ParkedFilingOut(
        filing_id=row.filing_id,
        uscc=row.uscc,
        enterprise_name=row.enterprise_name,
        district=row.district,
        industry_code=row.industry_code,
        project_ref=row.project_ref,
        vocs_increment_t=kg_to_tonnes(row.vocs_kg),
        received_at=row.received_at,
        reason=row.reason,
        reason_text=rules.reason_text(row.reason, row.industry_code),
        state=row.state,
        drafted_at=row.drafted_at,
        permit_id=row.permit_id,
    )


async def list_parked(
    db: Database,
    districts: list[str] | None,
    state: str | None,
    industry_code: str | None,
    cursor: str | None,
    limit: int,
) -> Page[ParkedFilingOut]:
    """Oldest first (the longest waiting), then by filing id."""
    after = decode_cursor(cursor, "time", "str")
    q = (
        select(ParkedFiling)
        .order_by(ParkedFiling.received_at, ParkedFiling.filing_id)
        .limit(limit + 1)
    )
    if districts is not None:
        q = q.where(ParkedFiling.district.in_(districts))
    if state is not None:
        q = q.where(ParkedFiling.state == state)
    if industry_code is not None:
        q = q.where(ParkedFiling.industry_code == industry_code)
    if after is not None:
        q = q.where(keyset_after(after, ParkedFiling.received_at, ParkedFiling.filing_id))
    async with db.session() as s:
        rows = list((await s.scalars(q)).all())
    return keyset_page(rows, limit, lambda r: [r.received_at.isoformat(), r.filing_id], to_out)


async def redrive(
    db: Database,
    principal: Principal,
    filing_id: str,
    now: dt.datetime,
    owed_from: dt.date | None,
) -> ParkedFilingOut:
    """Draft a waiting filing now (after its cause was fixed): 409 with the
    reason when it still cannot be drafted, or when it is drafted already."""
    async with db.transaction() as s:
        # The parked row, then drafting's writes (the lock order above).
        row = (
            await s.scalars(
                select(ParkedFiling).where(ParkedFiling.filing_id == filing_id).with_for_update()
            )
        ).one_or_none()
        row = principal.found(row, no_parked_filing(filing_id))
        if row.state == rules.DRAFTED:
            raise Conflict(
                rules.redrive_refusal(row.state, None, row.industry_code) or "",
                state=row.state,
                permit_id=row.permit_id,
            )
        outcome = await draft_parked(s, row, principal, now, "parked_filing.redrive", owed_from)
        if outcome.parked is not None:
            raise Conflict(
                rules.redrive_refusal(row.state, outcome.parked, row.industry_code) or "",
                reason=outcome.parked,
                industry_code=row.industry_code,
            )
        return to_out(row)
