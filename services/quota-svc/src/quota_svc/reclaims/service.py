"""Reclaim orchestration: candidates from permit events or entered by hand,
confirmed (credited to the district pool) or rejected by an officer."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.audit import SYSTEM, record_audit
from svc_common.auth import Principal
from svc_common.context import new_id
from svc_common.districts import other_district_problem
from svc_common.events.schemas.quota import QuotaReclaimConfirmed
from svc_common.outbox import emit
from svc_common.types import kg_to_tonnes, utcnow

from quota_svc.credits import Provenance, credit
from quota_svc.ledger.rules import EntryCode
from quota_svc.ledger.service import PoolRef, emit_balance_changed, lock_pools
from quota_svc.reclaims import rules
from quota_svc.reclaims.models import PermitBacking, Reclaim
from quota_svc.reclaims.rules import ReclaimStatus
from quota_svc.register import service as register
from quota_svc.trading import service as trading
from quota_svc.trading.rules import Retirement


@dataclass(frozen=True)
class Candidate:
    district: str
    pollutant: str
    amount_kg: int
    source: rules.ReclaimSource
    uscc: str | None = None
    permit_id: str | None = None
    source_event_id: str | None = None
    note: str | None = None
    #: Why, for a cancelled permit's candidate (`rules.ReclaimReason`).
    reason: rules.ReclaimReason | None = None
    #: Who gave rise to it, when not `actor`: the person who cancelled or
    #: cut the permit whose event made it (four eyes: someone else decides).
    entered_by: str | None = None


async def add_candidate(s: AsyncSession, c: Candidate, actor: Principal) -> tuple[Reclaim, bool]:
    """A pending candidate, and whether this call made it; one per source
    event and pollutant (a re-sent event finds the first: made False). Its
    creator is `c.entered_by`, else `actor`. The flag, not the session's
    `new`, says it: a flush (any query's autoflush) empties `new`."""
    if c.source_event_id is not None:
        existing = await s.scalar(
            select(Reclaim).where(
                Reclaim.source_event_id == c.source_event_id, Reclaim.pollutant == c.pollutant
            )
        )
        if existing is not None:
            return existing, False
    r = Reclaim(
        id=new_id(),
        district=c.district,
        pollutant=c.pollutant,
        pool_id=PoolRef.district_pool(c.district, c.pollutant).id,
        amount_kg=c.amount_kg,
        source=c.source.value,
        status=ReclaimStatus.PENDING.value,
        uscc=c.uscc,
        permit_id=c.permit_id,
        source_event_id=c.source_event_id,
        note=c.note,
        reason=c.reason.value if c.reason is not None else None,
        created_by=c.entered_by or actor.sub,
        created_at=utcnow(),
    )
    s.add(r)
    detail: dict[str, object] = {
        "source": r.source,
        "amount_kg": r.amount_kg,
        "source_event_id": c.source_event_id,
    }
    if r.created_by != actor.sub:
        detail["entered_by"] = r.created_by
    record_audit(s, actor, "quota.reclaim.candidate", "reclaim", r.id, detail)
    return r, True


async def permit_problem(
    s: AsyncSession, principal: Principal, permit_id: str, district: str
) -> str | None:
    """Why a candidate of `district` entered by hand may not name `permit_id`,
    or None: the ledger knows the permit (from permit-svc's events) to be
    another district's, whose closure credits that district's pool, not
    this one's (quota moves between districts only by a swap or a trade).
    A permit the ledger never heard of is taken as named (the field was
    always free: a permit issued before the ledger kept them, a number).
    The other district is named only to a caller who may act there."""
    known = await s.scalar(
        select(PermitBacking.district).where(PermitBacking.permit_id == permit_id).limit(1)
    )
    if known is None:
        return None
    return other_district_problem(
        ("permit", "许可证"), permit_id, known, district, name_theirs=principal.may_act_in(known)
    )


async def lock_reclaim(s: AsyncSession, reclaim_id: str) -> Reclaim | None:
    return await s.scalar(
        select(Reclaim)
        .where(Reclaim.id == reclaim_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def confirm(s: AsyncSession, r: Reclaim, actor: Principal) -> Reclaim:
    """Credit the candidate to its district pool (收回入库), provenance kept."""
    rules.check_decision(r.status, "confirm")
    rules.check_four_eyes(r.source, r.created_by, actor.sub)
    ref = PoolRef.district_pool(r.district, r.pollutant)
    pool = (await lock_pools(s, ref))[ref.id]
    code = rules.entry_code(r.source)
    officers = (
        actor.sub if r.created_by in (actor.sub, SYSTEM.sub) else f"{r.created_by},{actor.sub}"
    )
    await credit(
        s,
        pool,
        code,
        r.amount_kg,
        Provenance(
            "reduction" if code is EntryCode.REDUCTION_CREDIT else "reclaim",
            uscc=r.uscc,
            permit_id=r.permit_id,
            source_event_id=r.source_event_id,
            reclaim_id=r.id,
            confirmed_by=officers,
            note=r.note,
        ),
        idempotency_id=f"reclaim:{r.id}",
        actor=actor,
        reason=r.source,
        note=f"uscc={r.uscc} permit={r.permit_id} event={r.source_event_id}",
    )
    retired = await _retire_plant_holdings(s, r)
    r.status = ReclaimStatus.CONFIRMED.value
    r.decided_by, r.decided_at = actor.sub, utcnow()
    emit(
        s,
        QuotaReclaimConfirmed(
            reclaim_id=r.id,
            district=r.district,
            pollutant=r.pollutant,
            pool_id=ref.id,
            amount_t=kg_to_tonnes(r.amount_kg),
            source=r.source,
            uscc=r.uscc,
            permit_id=r.permit_id,
            source_event_id=r.source_event_id,
            confirmed_by=actor.sub,
        ),
    )
    emit_balance_changed(s, pool, code)
    record_audit(
        s,
        actor,
        "quota.reclaim.confirm",
        "reclaim",
        r.id,
        {
            "amount_kg": r.amount_kg,
            "retired_holdings_kg": retired.amount_kg,
            "retired_rights_kg": retired.rights_kg,
        },
    )
    register.record(
        s,
        "reclaim_confirmed",
        district=r.district,
        pollutant=r.pollutant,
        amount_kg=r.amount_kg,
        reclaim=r.id,
        uscc=r.uscc,
        permit=r.permit_id,
        source=r.source,
    )
    return r


async def _retire_plant_holdings(s: AsyncSession, r: Reclaim) -> Retirement:
    """What the reclaimed permit's enterprise holds here stops being
    tradable: the same tonnes must not come back to the pool and stay for
    sale (rules.retired_rights)."""
    rights = rules.retired_rights(r.source, r.amount_kg)
    if r.uscc is None or rights == 0:
        return Retirement(0, 0)
    return await trading.retire_holdings(
        s,
        uscc=r.uscc,
        district=r.district,
        pollutant=r.pollutant,
        rights_kg=rights,
        reclaim_id=r.id,
    )


def reject(s: AsyncSession, r: Reclaim, reason: str, actor: Principal) -> Reclaim:
    rules.check_decision(r.status, "reject")
    rules.check_four_eyes(r.source, r.created_by, actor.sub)
    r.status = ReclaimStatus.REJECTED.value
    r.reject_reason = reason
    r.decided_by, r.decided_at = actor.sub, utcnow()
    record_audit(s, actor, "quota.reclaim.reject", "reclaim", r.id, {"reason": reason})
    register.record(
        s,
        "reclaim_rejected",
        district=r.district,
        pollutant=r.pollutant,
        amount_kg=r.amount_kg,
        reclaim=r.id,
        uscc=r.uscc,
        permit=r.permit_id,
    )
    return r
