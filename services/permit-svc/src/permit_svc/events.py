"""What permit-svc handles from other services' topics. What it publishes is
declared in svc_common.events.schemas.permit and written with outbox.emit.
Every handler is idempotent by its own business key as well as by the inbox."""

from __future__ import annotations

import datetime as dt

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.audit import SYSTEM, record_audit
from svc_common.events.envelope import Envelope
from svc_common.events.schemas.eia import FilingApproved
from svc_common.events.schemas.quota import QuotaAllocated, QuotaTradeSettled
from svc_common.events.schemas.supervision import PermitSuspensionDecided
from svc_common.inbox import EventHandlers
from svc_common.types import tonnes_to_kg, utcnow

from permit_svc.enterprises.service import hold_industry_table
from permit_svc.parked.drafting import ApprovedFiling, draft_application
from permit_svc.parked.service import lock_parked, park, settle_parked
from permit_svc.permits.models import Permit
from permit_svc.permits.service import status_step
from permit_svc.prechecks import service as prechecks
from permit_svc.quota_backing.service import record_allocation
from permit_svc.settings import Settings
from permit_svc.trades import amend_for_trade, record_trade_backing

log = structlog.get_logger(__name__)


async def draft_application_for_approved_filing(
    s: AsyncSession, payload: FilingApproved, env: Envelope, owed_from: dt.date | None
) -> None:
    """An approved EIA becomes a permit application (申请) carrying the
    project's approved VOCs increment; one per filing. One that cannot be
    drafted now (a new enterprise of an industry not in the classification
    table) is parked, with its reason, in this transaction: drafted when the
    table gains its code, listed and re-driven meanwhile (permit_svc.parked)."""
    f = ApprovedFiling.of_event(payload)
    now = utcnow()
    # Locks in the one order (see permit_svc.parked.service): the
    # parked row of a filing parked before (this approval sent again) comes
    # before what drafting writes, as a re-drive of it takes them.
    parked_row = await lock_parked(s, f.filing_id)
    outcome = await draft_application(s, f, SYSTEM, now, env.type, owed_from)
    if outcome.parked is None:
        settle_parked(s, parked_row, outcome.permit_id, now, env.type)
        return
    if parked_row is not None:
        # Parked already: a table gaining its code drafts it (its replacement
        # waits for this row's lock), a re-drive too.
        return
    # A table replaced at this moment drafts the waiting filings of its
    # codes: take its turn and look again, so that this filing is not parked
    # just after the table gained its code, left waiting for nothing.
    await hold_industry_table(s)
    outcome = await draft_application(s, f, SYSTEM, now, env.type, owed_from)
    if outcome.parked is not None:
        await park(s, f, outcome.parked, now)


async def learn_allocation(
    s: AsyncSession, payload: QuotaAllocated, env: Envelope, owed_from: dt.date | None
) -> None:
    """Remember allocated quota: it backs VOCs on this enterprise's permits.
    The applications it may back keep their checks judged again with it,
    in this transaction (`owed_from`: as for the checks of a draft)."""
    if await record_allocation(s, payload, env):
        await prechecks.judge_again_for_allocation(
            s, payload.uscc, payload.project_ref, utcnow(), owed_from
        )
        record_audit(
            s,
            SYSTEM,
            "quota.allocation_learned",
            "quota_allocation",
            payload.reservation_id,
            {"project_ref": payload.project_ref, "uscc": payload.uscc},
        )


async def suspend_for_enforcement_case(
    s: AsyncSession, payload: PermitSuspensionDecided, env: Envelope
) -> None:
    """An enforcement case decided in supervision-svc (立案查处) suspends the
    permit, with the case as the reason, audited. Idempotent by the permit's
    state: an already suspended permit stays as it is; a permit no longer in
    force is left alone and the refusal is audited."""
    p = (
        await s.scalars(select(Permit).where(Permit.id == payload.permit_id).with_for_update())
    ).one_or_none()
    detail = {
        "case_id": payload.case_id,
        "case_no": payload.case_no,
        "decided_by": payload.decided_by,
        "legal_basis": payload.legal_basis,
    }
    if p is None or p.uscc != payload.uscc:
        log.warning("suspension decided for an unknown permit", **detail)
        return
    if p.status != "issued":
        record_audit(
            s, SYSTEM, "permit.suspend_not_applied", "permit", p.id, {**detail, "status": p.status}
        )
        return
    reason = f"立案查处 {payload.case_no}: {payload.reason}"[:500]
    status_step(s, SYSTEM, p, "suspend", "suspended", reason, utcnow(), **detail)


async def amend_permits_for_trade(
    s: AsyncSession, payload: QuotaTradeSettled, env: Envelope
) -> None:
    """排污权交易: the seller's permitted amount goes down by the rights it
    sold, the buyer's up by the rights it bought (each a change 变更 of the
    permit in force, audited and announced); the buyer's increase is backed
    by the traded quota. Once per trade."""
    if not await record_trade_backing(s, payload, env):
        return
    await amend_for_trade(
        s,
        payload.seller_uscc,
        payload.district,
        payload.pollutant,
        -tonnes_to_kg(payload.seller_rights_t),
        payload,
    )
    await amend_for_trade(
        s,
        payload.buyer_uscc,
        payload.buyer_district,
        payload.pollutant,
        tonnes_to_kg(payload.buyer_rights_t),
        payload,
    )


def build_handlers(settings: Settings) -> EventHandlers:
    """The handlers of one app, given what they need of its settings as
    quota-svc's are (`quota_svc.events.build_handlers`): a handler gets no
    request to read them from, and the environment is not the app's
    settings (a test's app, the embedded runner's)."""
    owed_from = settings.execution_reports_owed_from
    handlers = EventHandlers()

    async def on_approved(s: AsyncSession, payload: FilingApproved, env: Envelope) -> None:
        await draft_application_for_approved_filing(s, payload, env, owed_from)

    async def on_allocated(s: AsyncSession, payload: QuotaAllocated, env: Envelope) -> None:
        await learn_allocation(s, payload, env, owed_from)

    handlers.on(FilingApproved)(on_approved)
    handlers.on(QuotaAllocated)(on_allocated)
    handlers.on(PermitSuspensionDecided)(suspend_for_enforcement_case)
    handlers.on(QuotaTradeSettled)(amend_permits_for_trade)
    return handlers
