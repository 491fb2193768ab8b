"""Two ledger rules kept on SQLite and PostgreSQL: a closed plant's holdings
cannot be sold while its reclaim waits for an officer (收回注销), and an
advance (先用后补) goes with the hold it was granted for when that hold is
released, in whole or in part, by hand or at expiry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from quota_svc.app import create
from quota_svc.settings import Settings
from svc_common import clock, testing

from .conftest import JIZHOU, OFFICER, OFFICER2, Quota
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
