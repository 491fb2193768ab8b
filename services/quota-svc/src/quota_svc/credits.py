"""A credit to a pool (入账), whatever its source: the journal entry, the lot
carrying its provenance, and — for a district pool — the repayment of open
advance debts, oldest first, all in the caller's transaction."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.auth import Principal

from quota_svc.debts import service as debts
from quota_svc.ledger.models import JournalEntry, Pool
from quota_svc.ledger.rules import EntryCode
from quota_svc.ledger.service import post_entry
from quota_svc.lots import service as lots


@dataclass(frozen=True)
class Provenance:
    """Where a credit's tonnes come from (来源)."""

    source: str  # baseline | reclaim | reduction | adjustment | swap | transfer
    uscc: str | None = None
    permit_id: str | None = None
    source_event_id: str | None = None
    reclaim_id: str | None = None
    ref: str | None = None
    confirmed_by: str | None = None
    note: str | None = None


async def credit(
    s: AsyncSession,
    pool: Pool,
    code: EntryCode,
    amount_kg: int,
    provenance: Provenance,
    *,
    idempotency_id: str,
    actor: Principal,
    effective_at: dt.datetime | None = None,
    reason: str | None = None,
    note: str | None = None,
) -> tuple[JournalEntry, int]:
    """Credit a locked pool; returns the journal entry and the new lot's id."""
    entry = post_entry(
        s,
        pool,
        code,
        amount_kg,
        idempotency_id=idempotency_id,
        actor=actor.sub,
        effective_at=effective_at,
        reclaim_id=provenance.reclaim_id,
        reason=reason,
        note=note,
        ref=provenance.ref,
    )
    lot_id = await lots.create_lot(
        s,
        pool_id=pool.id,
        district=pool.district,
        pollutant=pool.pollutant,
        source=provenance.source,
        amount_kg=amount_kg,
        uscc=provenance.uscc,
        permit_id=provenance.permit_id,
        source_event_id=provenance.source_event_id,
        reclaim_id=provenance.reclaim_id,
        ref=provenance.ref,
        confirmed_by=provenance.confirmed_by,
        note=provenance.note,
    )
    await debts.repay(s, pool, lot_id, amount_kg, actor)
    return entry, lot_id
