"""Handlers of quota-svc's replies. Each is idempotent by its business key as
well as by the inbox: the filing's quota state only moves forward, a reply to
an older attempt is ignored, and a repeated reply changes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.audit import SYSTEM, audit_row, record_audit
from svc_common.events.envelope import Envelope
from svc_common.events.schemas.eia import FilingQuotaRetry
from svc_common.events.schemas.quota import (
    QuotaAllocated,
    QuotaReleased,
    QuotaReservationRejected,
    QuotaReserved,
)
from svc_common.outbox import emit
from svc_common.types import tonnes_to_kg, utcnow
from svc_common.writes import Writes

from eia_svc.filings.models import FilingRow
from eia_svc.filings.rules import DECIDED
from eia_svc.filings.service import (
    FILINGS,
    lock_filing,
    quota_request,
    quota_state,
    release_request,
    set_quota,
)
from eia_svc.quota_saga import rules


async def _filing(s: AsyncSession, ref: str) -> tuple[FilingRow, dict[str, Any]] | None:
    """The filing a project ref names, locked (see `lock_filing`); None for
    refs of other projects."""
    filing_id = rules.filing_id_of(ref)
    if filing_id is None:
        return None
    return await lock_filing(s, filing_id, missing_ok=True)


async def _save(
    s: AsyncSession,
    f: FilingRow,
    loaded: dict[str, Any],
    new: rules.QuotaState,
    env: Envelope,
) -> None:
    """The filing's new quota state and its audit entry: on PostgreSQL one
    statement (`Writes`); nothing if the state is unchanged."""
    old = quota_state(f)
    if new == old:
        return
    set_quota(f, new)
    f.updated_at = utcnow()
    writes = Writes()
    writes.save(FILINGS, "id", f, loaded)
    detail = {
        "from": old.status,
        "event_id": env.id,
        "event_type": env.type,
        "attempt": new.attempt,
    }
    writes.audit([audit_row(SYSTEM, f"filing.quota_{new.status}", "filing", f.id, detail)])
    await writes.execute(await s.connection())


async def on_quota_reserved(s: AsyncSession, p: QuotaReserved, env: Envelope) -> None:
    """quota.reserved → the filing shows quota secured (已落实). A hold that
    arrives after the filing was withdrawn or rejected is released at once."""
    if found := await _filing(s, p.project_ref):
        f, loaded = found
        undecided = f.status not in DECIDED
        if rules.needs_release(quota_state(f), undecided) and f.status in ("withdrawn", "rejected"):
            writes = Writes()
            writes.events(s, [release_request(f)])
            detail = {"event_id": env.id}
            writes.audit(
                [audit_row(SYSTEM, "filing.quota_late_hold_released", "filing", f.id, detail)]
            )
            await writes.execute(await s.connection())
            return
        st = rules.on_reserved(quota_state(f), p.attempt, p.reservation_id, undecided)
        await _save(s, f, loaded, st, env)


async def on_quota_rejected(s: AsyncSession, p: QuotaReservationRejected, env: Envelope) -> None:
    """quota.reservation_rejected → blocked with the exact shortfall (or, for
    a filing decided meanwhile, settled: nothing is held). An approved
    filing's is lapsed short: its hold lapsed and the district could not
    hold the need again (on the approval, or on an officer's re-drive)."""
    if found := await _filing(s, p.project_ref):
        f, loaded = found
        shortfall = tonnes_to_kg(p.shortfall_t)
        st = rules.on_rejected(
            quota_state(f),
            p.attempt,
            shortfall,
            f.status not in DECIDED,
            approved=f.status == "approved",
        )
        await _save(s, f, loaded, st, env)


async def reask_unanswered(s: AsyncSession, now: dt.datetime, after: dt.timedelta) -> int:
    """Ask quota-svc again for every undecided filing whose request has had
    no answer for `after` (same attempt: the answer is idempotent), and for
    every approved filing whose re-drive has had none (it asks to allocate
    on hold again). Returns how many were asked; rows are locked and
    skipped when another replica has them."""
    cutoff = now - after
    rows = (
        await s.scalars(
            select(FilingRow)
            .where(
                FilingRow.quota_status == "pending",
                FilingRow.status.not_in(DECIDED) | (FilingRow.status == "approved"),
                (FilingRow.quota_asked_at.is_(None)) | (FilingRow.quota_asked_at <= cutoff),
            )
            .order_by(FilingRow.quota_asked_at)
            .limit(200)
            .with_for_update(skip_locked=True)
        )
    ).all()
    for f in rows:
        undecided = f.status not in DECIDED
        if not rules.reask_due(
            quota_state(f), undecided, f.quota_asked_at, now, after, approved=f.status == "approved"
        ):
            continue
        emit(s, quota_request(f, FilingQuotaRetry))
        # The request's first ask stays (the stuck list counts from it); a
        # row from before it was recorded starts from its last known ask.
        if f.quota_first_asked_at is None:
            f.quota_first_asked_at = f.quota_asked_at or f.accepted_at or now
        f.quota_asked_at = now
        f.quota_asks = (f.quota_asks or 0) + 1
        record_audit(
            s, SYSTEM, "filing.quota_reasked", "filing", f.id, {"attempt": f.quota_attempt}
        )
    return len(rows)


async def on_quota_released(s: AsyncSession, p: QuotaReleased, env: Envelope) -> None:
    """quota.released (expired) → the filing's quota lapsed."""
    if found := await _filing(s, p.project_ref):
        f, loaded = found
        st = rules.on_released(quota_state(f), p.reservation_id, p.reason)
        await _save(s, f, loaded, st, env)


async def on_quota_allocated(s: AsyncSession, p: QuotaAllocated, env: Envelope) -> None:
    """quota.allocated → the approved filing's quota is recorded as allocated."""
    if found := await _filing(s, p.project_ref):
        f, loaded = found
        st = rules.on_allocated(quota_state(f), tonnes_to_kg(p.amount_t), p.reservation_id)
        await _save(s, f, loaded, st, env)
