"""Recording allocations from quota.allocated and reading an enterprise's backing."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.db import dialect_insert
from svc_common.events.envelope import Envelope
from svc_common.events.schemas.quota import QuotaAllocated
from svc_common.types import tonnes_to_kg, utcnow

from permit_svc.permits.models import Permit
from permit_svc.quota_backing.models import QuotaAllocation
from permit_svc.quota_backing.rules import CONTROLLED_POLLUTANT


async def record_allocation(s: AsyncSession, payload: QuotaAllocated, env: Envelope) -> bool:
    """Add an allocation to the read model; idempotent by its reservation id
    (quota-svc allocates a reservation once). True if it was new."""
    stmt = dialect_insert(s, QuotaAllocation.__table__)
    result = await s.execute(
        stmt.values(
            reservation_id=payload.reservation_id,
            project_ref=payload.project_ref,
            uscc=payload.uscc,
            district=payload.district,
            pollutant=payload.pollutant,
            amount_kg=tonnes_to_kg(payload.amount_t),
            increment_kg=tonnes_to_kg(payload.increment_t),
            source_event_id=env.id,
            received_at=utcnow(),
        ).on_conflict_do_nothing(index_elements=["reservation_id"])
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def backing_kg(s: AsyncSession, uscc: str) -> tuple[int, int]:
    """(allocated, drawn) VOCs kg for an enterprise. Allocated: the increments
    of allocations naming the enterprise, or naming a project one of its
    permits is for (quota.allocated may omit the uscc). Drawn: what all its
    permits, whatever their status, have ever drawn."""
    projects = select(Permit.project_ref).where(
        Permit.uscc == uscc, Permit.project_ref.is_not(None)
    )
    allocated = await s.scalar(
        select(func.coalesce(func.sum(QuotaAllocation.increment_kg), 0)).where(
            QuotaAllocation.pollutant == CONTROLLED_POLLUTANT,
            or_(QuotaAllocation.uscc == uscc, QuotaAllocation.project_ref.in_(projects)),
        )
    )
    drawn = await s.scalar(
        select(func.coalesce(func.sum(Permit.quota_drawn_kg), 0)).where(Permit.uscc == uscc)
    )
    return int(allocated or 0), int(drawn or 0)
