"""Two ledger rules kept on SQLite and PostgreSQL: a closed plant's holdings
cannot be sold while its reclaim waits for an officer (收回注销), and an
advance (先用后补) goes with the hold it was granted for when that hold is
released, in whole or in part, by hand or at expiry."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from quota_svc.app import create
from quota_svc.reservations.service import expire_due
from quota_svc.settings import Settings
from svc_common import clock, testing
from svc_common.types import utcnow

from .conftest import ADMIN, AUDITOR, INVESTMENT, JIZHOU, OFFICER, OFFICER2, Quota
from .test_events import cancelled
from .test_ledger_beyond import T0, allocate_to, holdings_of, post, reconciled, uscc


@pytest.fixture
async def q(db_url: str) -> AsyncIterator[Quota]:
    with clock.using(clock.ManualClock(T0, flowing=True)):
        settings = Settings(database_url=db_url, log_json=False, hold_sweep_seconds=3600)
        app = create(settings)
        async with testing.running(app) as client:
            yield Quota(app, client)


async def pending_reclaims(q: Quota) -> list[dict[str, Any]]:
    r = await q.client.get(f"/quota/reclaims?district={JIZHOU}&status=pending", headers=OFFICER)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def close_plant(q: Quota, permit: str, plant: str, freed: str = "2") -> dict[str, Any]:
    """permit-svc cancels the plant's permit (closure): a pending candidate."""
    await testing.deliver(q.app, cancelled(permit, freed).model_copy(update={"uscc": plant}))
    (candidate,) = [c for c in await pending_reclaims(q) if c["permit_id"] == permit]
    return candidate


async def test_a_closed_plants_holdings_are_not_sold_while_its_reclaim_is_pending(
    q: Quota,
) -> None:
    plant, buyer = uscc("CLOSED1"), uscc("BUYER12")
    await q.baseline(JIZHOU, "20")
    await allocate_to(q, "proj-closed", "3", plant)  # 6 t of quota, 3 t of rights
    trade = {
        "seller": plant,
        "buyer": buyer,
        "district": JIZHOU,
        "amount_t": "1.000",
        "price_cny_per_t": "12000",
        "contract_ref": "TJ-EX-2026-301",
    }
    early = await post(q, "/quota/trades", trade, OFFICER, 201)

    candidate = await close_plant(q, "PM-CL1", plant)
    # From now on nothing the plant holds here may be sold: not proposed ...
    zh = {**OFFICER, "Accept-Language": "zh-CN"}
    r = await q.client.post("/quota/trades", json={**trade, "amount_t": "5.000"}, headers=zh)
    assert r.status_code == 409, r.text
    assert r.json()["reason"] == "seller_reclaim_pending"
    assert r.json()["reclaim_id"] == candidate["id"]
    assert candidate["id"] in r.json()["detail"] and "收回" in r.json()["detail"]
    r = await q.client.post(
        "/quota/trades", json=trade, headers={**OFFICER, "Accept-Language": "en"}
    )
    assert r.status_code == 409 and "pending" in r.json()["detail"], r.text
    # ... nor settled when proposed before: refused, recorded, nothing moved.
    r = await q.client.post(f"/quota/trades/{early['id']}/approve", headers=OFFICER2)
    assert r.status_code == 409 and r.json()["reason"] == "seller_reclaim_pending", r.text
    refused = (await q.client.get(f"/quota/trades/{early['id']}", headers=OFFICER)).json()
    assert (refused["status"], refused["refusal"]) == ("refused", "seller_reclaim_pending")
    assert await holdings_of(q, buyer) == []
    (held,) = await holdings_of(q, plant)
    assert (held["amount_t"], held["tradable"]) == ("6.000", True)

    # Rejected (the permit was not a closure after all): sellable again.
    await post(q, f"/quota/reclaims/{candidate['id']}/reject", {"reason": "误注销"}, OFFICER)
    again = await post(q, "/quota/trades", trade, OFFICER, 201)
    settled = await post(q, f"/quota/trades/{again['id']}/approve", None, OFFICER2)
    assert settled["status"] == "settled"
    assert [h["amount_t"] for h in await holdings_of(q, buyer)] == ["1.000"]

    # Cancelled for good this time: blocked while pending, then everything
    # the plant still holds is retired on confirmation.
    closing = await close_plant(q, "PM-CL2", plant)
    r = await q.client.post("/quota/trades", json=trade, headers=OFFICER)
    assert r.status_code == 409 and r.json()["reason"] == "seller_reclaim_pending"
    await post(q, f"/quota/reclaims/{closing['id']}/confirm", None, OFFICER)
    retired = await holdings_of(q, plant)
    assert [h["tradable"] for h in retired] == [False]
    assert sum(int(h["amount_t"].replace(".", "")) for h in retired) == 5000
    assert {h["reclaim_id"] for h in retired} == {closing["id"]}
    r = await q.client.post("/quota/trades", json=trade, headers=OFFICER)
    assert r.status_code == 409 and r.json()["reason"] == "seller_holds_too_little"
    a = await q.availability(JIZHOU)
    assert (a["credited_t"], a["allocated_t"], a["available_t"]) == ("22.000", "6.000", "16.000")
    await reconciled(q)


async def advance_hold(q: Quota, project: str = "ADV-1") -> dict[str, Any]:
    """10.5 t in the pool; an admin holds 9.25 t × 2 = 18.5 t: 8 t advanced."""
    await q.client.put(
        f"/quota/advance-limits/{JIZHOU}/VOCs",
        json={"limit_t": "10.000", "term_days": 30},
        headers=ADMIN,
    )
    body = {
        "district": JIZHOU,
        "increment_t": "9.250",
        "project_ref": project,
        "uscc": uscc("ADVANCE9"),
        "advance": True,
    }
    held = await post(q, "/quota/reservations", body, ADMIN, 201)
    assert (held["status"], held["required_t"]) == ("held", "18.500")
    (debt,) = await debts(q)
    assert (debt["amount_t"], debt["outstanding_t"], debt["reservation_id"]) == (
        "8.000",
        "8.000",
        held["id"],
    )
    return dict(held)


async def debts(q: Quota) -> list[dict[str, Any]]:
    r = await q.client.get(f"/quota/debts?district={JIZHOU}", headers=AUDITOR)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def advance_lot(q: Quota, lot_id: int) -> dict[str, Any]:
    r = await q.client.get(f"/quota/lots/{lot_id}", headers=AUDITOR)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def journal_codes(q: Quota) -> list[tuple[str, str]]:
    r = await q.client.get(f"/quota/journal?district={JIZHOU}&limit=200", headers=AUDITOR)
    assert r.status_code == 200, r.text
    return [(e["code"], e["amount_t"]) for e in r.json()["items"]]


async def test_a_released_hold_takes_its_advance_with_it(q: Quota) -> None:
    await q.baseline(JIZHOU, "10.5")
    held = await advance_hold(q)
    r = await q.client.post(
        f"/quota/reservations/{held['id']}/release", json={"reason": "项目撤回"}, headers=ADMIN
    )
    assert r.status_code == 200 and r.json()["status"] == "released", r.text
    a = await q.availability(JIZHOU)
    assert (a["credited_t"], a["available_t"], a["debt_t"]) == ("10.500", "10.500", "0.000")
    (debt,) = await debts(q)
    assert (debt["status"], debt["withdrawn_t"], debt["repaid_t"], debt["outstanding_t"]) == (
        "withdrawn",
        "8.000",
        "0.000",
        "0.000",
    )
    lot = await advance_lot(q, debt["lot_id"])
    assert (lot["lot"]["original_t"], lot["lot"]["available_t"], lot["lot"]["out_t"]) == (
        "8.000",
        "0.000",
        "8.000",
    )
    assert [m["amount_t"] for m in lot["movements"] if m["code"] == "withdraw"] == ["8.000"]
    assert ("advance_withdrawn", "8.000") in await journal_codes(q)
    # An officer never advances: what the pool really has is all there is.
    body = {"district": JIZHOU, "increment_t": "8.250", "project_ref": "OFF-1"}
    r = await q.client.post("/quota/reservations", json=body, headers=OFFICER)
    assert r.status_code == 409, r.text
    # A later reclaim repays nothing of a withdrawn debt: all of it is credit.
    await close_plant(q, "PM-AD1", uscc("PLANTAD1"), "3")
    (c,) = await pending_reclaims(q)
    await post(q, f"/quota/reclaims/{c['id']}/confirm", None, OFFICER)
    a = await q.availability(JIZHOU)
    assert (a["credited_t"], a["available_t"], a["debt_t"]) == ("13.500", "13.500", "0.000")
    (debt,) = await debts(q)
    assert (debt["status"], debt["repaid_t"]) == ("withdrawn", "0.000")
    assert "repay" not in {code for code, _ in await journal_codes(q)}
    await reconciled(q)


async def test_a_partial_allocation_keeps_the_debt_for_what_was_allocated(q: Quota) -> None:
    await q.baseline(JIZHOU, "10.5")
    held = await advance_hold(q)
    done = await post(
        q, f"/quota/reservations/{held['id']}/allocate", {"amount_t": "14.000"}, ADMIN
    )
    assert (done["allocated_t"], done["status"]) == ("14.000", "allocated")
    # The 4.5 t remainder was the advance's: withdrawn; 3.5 t stays owed.
    a = await q.availability(JIZHOU)
    assert (a["credited_t"], a["allocated_t"], a["available_t"], a["debt_t"]) == (
        "14.000",
        "14.000",
        "0.000",
        "3.500",
    )
    (debt,) = await debts(q)
    assert (debt["status"], debt["withdrawn_t"], debt["outstanding_t"]) == (
        "open",
        "4.500",
        "3.500",
    )
    await reconciled(q)
    # A later reclaim of 5 t repays the 3.5 t still owed, never the withdrawn part.
    await close_plant(q, "PM-AD2", uscc("PLANTAD2"), "5")
    (c,) = await pending_reclaims(q)
    await post(q, f"/quota/reclaims/{c['id']}/confirm", None, OFFICER)
    (debt,) = await debts(q)
    assert (debt["status"], debt["repaid_t"], debt["withdrawn_t"]) == ("repaid", "3.500", "4.500")
    a = await q.availability(JIZHOU)
    assert (a["credited_t"], a["available_t"], a["debt_t"]) == ("15.500", "1.500", "0.000")
    lot = await advance_lot(q, debt["lot_id"])
    assert (lot["lot"]["allocated_t"], lot["lot"]["out_t"], lot["lot"]["repaid_t"]) == (
        "3.500",
        "4.500",
        "3.500",
    )
    await reconciled(q)


async def test_an_expired_hold_withdraws_what_its_advance_still_owes(q: Quota) -> None:
    await q.baseline(JIZHOU, "10.5")
    await advance_hold(q)
    # A reclaim of 3 t repays 3 t of the 8 t advanced first.
    await close_plant(q, "PM-AD3", uscc("PLANTAD3"), "3")
    (c,) = await pending_reclaims(q)
    await post(q, f"/quota/reclaims/{c['id']}/confirm", None, OFFICER)
    (debt,) = await debts(q)
    assert (debt["repaid_t"], debt["outstanding_t"]) == ("3.000", "5.000")
    # The hold lapses: the 5 t still owed go with it, the 3 t repaid stay credited.
    assert await expire_due(q.app.state.runtime.db, utcnow() + dt.timedelta(days=400)) == 1
    (debt,) = await debts(q)
    assert (debt["status"], debt["repaid_t"], debt["withdrawn_t"], debt["outstanding_t"]) == (
        "withdrawn",
        "3.000",
        "5.000",
        "0.000",
    )
    a = await q.availability(JIZHOU)
    assert (a["credited_t"], a["reserved_t"], a["available_t"], a["debt_t"]) == (
        "13.500",
        "0.000",
        "13.500",
        "0.000",
    )
    r = await q.client.get(f"/quota/debts?district={JIZHOU}&status=withdrawn", headers=INVESTMENT)
    assert [d["id"] for d in r.json()["items"]] == [debt["id"]]
    await reconciled(q)
