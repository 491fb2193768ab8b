"""Registering and finding parks."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.audit import SYSTEM, record_audit
from svc_common.events.envelope import Envelope
from svc_common.events.schemas.quota import QuotaSubpoolFunded, QuotaTransferRejected
from svc_common.types import tonnes_to_kg

from eia_svc.parks.models import ParkRow
from eia_svc.parks.rules import Park


def as_rule(row: ParkRow) -> Park:
    return Park(
        row.id, row.name, row.district, tuple(row.covered_project_types), row.vocs_subpool_kg
    )


async def find_park(s: AsyncSession, park_id: str) -> Park | None:
    row = await s.get(ParkRow, park_id)
    return as_rule(row) if row else None


async def all_parks(s: AsyncSession) -> dict[str, Park]:
    rows = (await s.execute(select(ParkRow).order_by(ParkRow.id))).scalars()
    return {r.id: as_rule(r) for r in rows}


async def _funding(
    s: AsyncSession, park_id: str | None, status: str, shortfall_kg: int | None, env: Envelope
) -> None:
    row = await s.get(ParkRow, park_id, with_for_update=True) if park_id else None
    if row is None or (row.funding_status, row.funding_shortfall_kg) == (status, shortfall_kg):
        return
    old = row.funding_status
    row.funding_status, row.funding_shortfall_kg = status, shortfall_kg
    record_audit(
        s,
        SYSTEM,
        f"park.subpool_{status}",
        "park",
        row.id,
        {"from": old, "shortfall_kg": shortfall_kg, "event_id": env.id},
    )


async def on_subpool_funded(s: AsyncSession, p: QuotaSubpoolFunded, env: Envelope) -> None:
    """quota.subpool_funded → the park's sub-pool exists: its projects may draw on it."""
    await _funding(s, p.park_id, "funded", None, env)


async def on_subpool_refused(s: AsyncSession, p: QuotaTransferRejected, env: Envelope) -> None:
    """quota.transfer_rejected for a park → the district pool lacked the
    sub-pool: the park shows it unfunded with the shortfall (an admin can
    transfer quota later; a funded answer then follows)."""
    await _funding(s, p.park_id, "unfunded", tonnes_to_kg(p.shortfall_t), env)
