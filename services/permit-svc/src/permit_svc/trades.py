"""Amending permits for an emission-rights trade (排污权交易) settled in
quota-svc: 国办发〔2014〕38号 records the rights in the permit, so a trade
changes both the seller's and the buyer's permit."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common import outbox
from svc_common.audit import SYSTEM, record_audit
from svc_common.db import dialect_insert
from svc_common.events.envelope import Envelope
from svc_common.events.schemas import permit as ev
from svc_common.events.schemas.common import PollutantChange
from svc_common.events.schemas.quota import QuotaTradeSettled
from svc_common.types import kg_to_tonnes, tonnes_to_kg, utcnow

from permit_svc.enterprises.models import Enterprise
from permit_svc.permits import rules
from permit_svc.permits.models import Permit
from permit_svc.permits.service import step
from permit_svc.quota_backing.models import QuotaAllocation


async def record_trade_backing(s: AsyncSession, e: QuotaTradeSettled, env: Envelope) -> bool:
    """The trade in the quota read model: the buyer's bought rights back its
    increase, the seller's sold rights no longer back anything. Keyed by the
    trade, so a re-published event does nothing (False)."""
    stmt = dialect_insert(s, QuotaAllocation.__table__)
    now = utcnow()
    rows = [
        (
            f"trade:{e.trade_id}:buyer",
            e.buyer_uscc,
            e.buyer_district,
            tonnes_to_kg(e.buyer_rights_t),
        ),
        (f"trade:{e.trade_id}:seller", e.seller_uscc, e.district, -tonnes_to_kg(e.seller_rights_t)),
    ]
    new = False
    for key, uscc, district, increment in rows:
        result = await s.execute(
            stmt.values(
                reservation_id=key,
                project_ref=f"trade:{e.trade_id}",
                uscc=uscc,
                district=district,
                pollutant=e.pollutant,
                amount_kg=tonnes_to_kg(e.amount_t) * (1 if increment > 0 else -1),
                increment_kg=increment,
                source_event_id=env.id,
                received_at=now,
            ).on_conflict_do_nothing(index_elements=["reservation_id"])
        )
        new = new or bool(result.rowcount)  # type: ignore[attr-defined]
    return new


async def amend_for_trade(
    s: AsyncSession,
    uscc: str,
    district: str,
    pollutant: str,
    delta_kg: int,
    e: QuotaTradeSettled,
) -> None:
    """Change the enterprise's issued permit by `delta_kg` of `pollutant`; an
    enterprise with no permit in force is audited (the rights stay recorded
    in the read model and back its next application). `district`: where
    the trade says the enterprise is (the buyer's district, or the
    trade's for the seller); a permit of another district is not changed
    but audited: that district's officers took no part in the trade, and
    its pool's ratio did not price the rights."""
    p = (
        await s.scalars(
            select(Permit)
            .where(Permit.uscc == uscc, Permit.status == "issued")
            .order_by(Permit.updated_at.desc())
            .limit(1)
            .with_for_update()
        )
    ).one_or_none()
    if p is not None and delta_kg and p.district != district:
        record_audit(
            s,
            SYSTEM,
            "permit.trade.other_district",
            "permit",
            p.id,
            {
                "trade_id": e.trade_id,
                "pollutant": pollutant,
                "delta_kg": delta_kg,
                "trade_district": district,
                "permit_district": p.district,
            },
        )
        return
    if p is None or not delta_kg:
        record_audit(
            s,
            SYSTEM,
            "permit.trade.no_permit_in_force",
            "enterprise",
            uscc,
            {"trade_id": e.trade_id, "pollutant": pollutant, "delta_kg": delta_kg},
        )
        return
    enterprise = await s.get(Enterprise, uscc)
    before = dict(p.pollutants)
    after = dict(before)
    after[pollutant] = max(0, before.get(pollutant, 0) + delta_kg)
    changes = rules.amount_changes(before, after)
    p.pollutants = after
    if pollutant == rules.VOCS:
        p.vocs_kg = after[pollutant]
        if delta_kg > 0:
            p.quota_drawn_kg += delta_kg  # drawn on the bought rights just recorded
    now = utcnow()
    reason = f"排污权交易 trade {e.trade_id} ({e.contract_ref})"
    p.status_reason = reason
    step(
        s,
        SYSTEM,
        p,
        "change",
        rules.next_status(p.status, "change"),
        now,
        {"trade_id": e.trade_id, "pollutant": pollutant, "delta_kg": delta_kg},
    )
    assert p.permit_no
    outbox.emit(
        s,
        ev.PermitChanged(
            permit_id=p.id,
            permit_no=p.permit_no,
            uscc=p.uscc,
            enterprise_name=enterprise.name if enterprise else "",
            district=p.district,
            pollutant_changes=[
                PollutantChange(
                    pollutant=c.pollutant,
                    before_t=kg_to_tonnes(c.before_kg),
                    after_t=kg_to_tonnes(c.after_kg),
                    delta_t=kg_to_tonnes(c.delta_kg),
                )
                for c in changes
            ],
            vocs_delta_t=kg_to_tonnes(after.get(rules.VOCS, 0) - before.get(rules.VOCS, 0)),
            reason=reason,
            trade_id=e.trade_id,
        ),
    )
