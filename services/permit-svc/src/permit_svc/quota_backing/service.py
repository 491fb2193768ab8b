"""Recording allocations from quota.allocated and reading an enterprise's backing."""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.db import dialect_insert
from svc_common.events.envelope import Envelope
from svc_common.events.schemas.quota import QuotaAllocated
from svc_common.guard import fold_width
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
            # As a permit's ref is taken (types.ProjectRef): an allocation of
            # "Ｐ-9" announced before quota-svc folded refs backs "P-9".
            project_ref=fold_width(payload.project_ref),
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


async def backing_kg(
    s: AsyncSession, uscc: str, district: str, project_ref: str | None, increase_kg: int
) -> tuple[int, int, list[str]]:
    """(allocated, drawn, claimed) VOCs for enterprise `uscc` of `district`,
    at a draw (the enterprise's row locked by the caller).

    An allocation backs one enterprise, once (一个指标只能支撑一家企业):
    the one it names, or, naming none (quota.allocated may leave the uscc
    out), the first enterprise of its district to draw on it through a
    permit for its project (`project_ref`: the permit drawing `increase_kg`;
    a draw of nothing claims nothing). That draw claims it here (its uscc set, in the
    caller's transaction: undone if the draw is refused), so a permit of
    another enterprise citing the same project finds it taken; two draws
    claiming at once are ordered by the allocation's row (the second finds
    it named). `claimed`: the reservation ids claimed now.

    Allocated: the increments of the allocations of its district that name
    it: a district's pool backs its own enterprises only (quota moves
    between districts by a swap of pools in quota-svc, or by a trade, whose
    buyer's row here names the buyer's district).
    Drawn: what all its permits, whatever their status, have ever drawn."""
    claimed: list[str] = []
    if project_ref is not None and increase_kg > 0:
        claimed = list(
            await s.scalars(
                update(QuotaAllocation)
                .where(
                    QuotaAllocation.uscc.is_(None),
                    QuotaAllocation.district == district,
                    QuotaAllocation.pollutant == CONTROLLED_POLLUTANT,
                    # A permit kept with its ref as typed before refs were folded.
                    QuotaAllocation.project_ref == fold_width(project_ref),
                )
                .values(uscc=uscc)
                .returning(QuotaAllocation.reservation_id)
                .execution_options(synchronize_session=False)
            )
        )
    allocated = await s.scalar(
        select(func.coalesce(func.sum(QuotaAllocation.increment_kg), 0)).where(
            QuotaAllocation.pollutant == CONTROLLED_POLLUTANT,
            QuotaAllocation.uscc == uscc,
            QuotaAllocation.district == district,
        )
    )
    return int(allocated or 0), await _drawn_kg(s, uscc), sorted(claimed)


async def _drawn_kg(s: AsyncSession, uscc: str) -> int:
    drawn = await s.scalar(
        select(func.coalesce(func.sum(Permit.quota_drawn_kg), 0)).where(Permit.uscc == uscc)
    )
    return int(drawn or 0)


def _of(uscc: str, district: str, project_ref: str | None) -> ColumnElement[bool]:
    """The VOCs allocations a draw of `uscc` through `project_ref` would
    count (`backing_kg`): those naming it, and its project's unclaimed ones."""
    mine = QuotaAllocation.uscc == uscc
    if project_ref is not None:
        mine = mine | (
            QuotaAllocation.uscc.is_(None)
            & (QuotaAllocation.project_ref == fold_width(project_ref))
        )
    return (
        (QuotaAllocation.pollutant == CONTROLLED_POLLUTANT)
        & (QuotaAllocation.district == district)
        & mine
    )


async def backing_preview(
    s: AsyncSession, uscc: str, district: str, project_ref: str | None
) -> tuple[int, int, bool]:
    """(allocated, drawn, project_known) as a draw through `project_ref` now
    would find them, claiming nothing (a read: the pre-acceptance checks).
    `project_known`: an allocation of the project backs the enterprise or is
    unclaimed in its district."""
    allocated = await s.scalar(
        select(func.coalesce(func.sum(QuotaAllocation.increment_kg), 0)).where(
            _of(uscc, district, project_ref)
        )
    )
    known = False
    if project_ref is not None:
        known = bool(
            await s.scalar(
                select(func.count())
                .select_from(QuotaAllocation)
                .where(
                    _of(uscc, district, project_ref),
                    QuotaAllocation.project_ref == fold_width(project_ref),
                )
            )
        )
    return int(allocated or 0), await _drawn_kg(s, uscc), known
