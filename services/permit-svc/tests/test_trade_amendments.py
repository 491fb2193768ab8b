"""quota.trade.settled (排污权交易) amends both permits: the seller's down,
the buyer's up and backed by the bought rights; once per trade; an
enterprise with no issued permit is audited."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from svc_common import testing
from svc_common.events.schemas.quota import QuotaTradeSettled
from svc_common.tables import AuditEntry

from .conftest import BAODI, Service
from .test_quota_and_consumed_events import allocation, apply

OFFICER = testing.auth("officer", [BAODI])


def settled(trade: str, seller: str, buyer: str, sold: str, bought: str) -> QuotaTradeSettled:
    return QuotaTradeSettled(
        trade_id=trade,
        seller_uscc=seller,
        buyer_uscc=buyer,
        district=BAODI,
        buyer_district=BAODI,
        pollutant="VOCs",
        amount_t=Decimal(sold) * 2,
        seller_rights_t=Decimal(sold),
        buyer_rights_t=Decimal(bought),
        offset_ratio=Decimal("2.00"),
        contract_ref="BD-2026-7",
    )


async def issued(svc: Service, uscc: str, vocs: str, reservation: str) -> str:
    await testing.deliver(svc.app, allocation(reservation, f"P-{reservation}", uscc, vocs))
    pid = await apply(svc, uscc, vocs, project=f"P-{reservation}")
    r = await svc.http.post(f"/permit/permits/{pid}/issue", headers=OFFICER)
    assert r.status_code == 200, r.text
    return pid


async def test_a_trade_amends_both_permits_once(svc: Service) -> None:
    s_uscc, b_uscc, lone = [await svc.enterprise(n) for n in (71, 72, 73)]
    seller_pid = await issued(svc, s_uscc, "5", "r-71")
    buyer_pid = await issued(svc, b_uscc, "2", "r-72")
    env = await testing.deliver(svc.app, settled("t-1", s_uscc, b_uscc, "1.5", "1.5"))
    await testing.redeliver(svc.app, env, "quota.events")
    await testing.deliver(svc.app, settled("t-1", s_uscc, b_uscc, "1.5", "1.5"))  # new id
    got = {
        pid: (await svc.http.get(f"/permit/permits/{pid}", headers=OFFICER)).json()
        for pid in (seller_pid, buyer_pid)
    }
    assert (got[seller_pid]["vocs_t"], got[buyer_pid]["vocs_t"]) == ("3.500", "3.500")
    assert all(p["last_action"] == "change" and p["version"] == 3 for p in got.values())
    changes = [e["data"] for e in await svc.events("permit.changed.v1")]
    assert sorted((c["uscc"], c["vocs_delta_t"], c["trade_id"]) for c in changes) == sorted(
        [(s_uscc, "-1.500", "t-1"), (b_uscc, "1.500", "t-1")]
    )
    # No person made these changes: nobody's four eyes are at stake.
    assert [c.get("actor") for c in changes] == [None, None]
    # The buyer's increase was drawn on the bought rights: nothing more is left.
    r = await svc.http.post(
        f"/permit/permits/{buyer_pid}/change",
        json={"pollutants": [{"pollutant": "VOCs", "amount_t": "3.6"}], "reason": "扩产"},
        headers=OFFICER,
    )
    assert r.status_code == 409 and r.json()["missing_t"] == "0.100", r.text
    # An enterprise without an issued permit: audited, nothing amended.
    await testing.deliver(svc.app, settled("t-2", s_uscc, lone, "0.5", "0.5"))
    async with svc.db.session() as s:
        actions = (
            await s.scalars(select(AuditEntry.action).where(AuditEntry.target_id == lone))
        ).all()
    assert "permit.trade.no_permit_in_force" in actions


async def test_a_trade_naming_another_district_amends_no_permit_there(svc: Service) -> None:
    """A trade of 宝坻区 whose buyer_district says 宝坻区 for a buyer whose
    permit is in 南开区: that permit is not raised (no 南开区 officer took
    part, and 南开区's ratio did not price the rights), and it is audited."""
    elsewhere = "120104"
    there = testing.auth("officer", [elsewhere])
    seller = await svc.enterprise(74)
    await issued(svc, seller, "5", "r-74")
    buyer = await svc.enterprise(75, district=elsewhere)
    await testing.deliver(
        svc.app, allocation("r-75", "P-r-75", buyer, "1").model_copy(update={"district": elsewhere})
    )
    body = {"uscc": buyer, "pollutants": [{"pollutant": "VOCs", "amount_t": "1"}]}
    r = await svc.http.post(
        "/permit/permits", json={**body, "project_ref": "P-r-75"}, headers=there
    )
    assert r.status_code == 201, r.text
    buyer_pid = r.json()["id"]
    r = await svc.http.post(f"/permit/permits/{buyer_pid}/issue", headers=there)
    assert r.status_code == 200, r.text
    await testing.deliver(svc.app, settled("t-3", seller, buyer, "1", "1"))
    r = await svc.http.get(f"/permit/permits/{buyer_pid}", headers=there)
    assert r.json()["vocs_t"] == "1.000", r.text
    async with svc.db.session() as s:
        actions = (
            await s.scalars(select(AuditEntry.action).where(AuditEntry.target_id == buyer_pid))
        ).all()
    assert "permit.trade.other_district" in actions
