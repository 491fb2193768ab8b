"""Trades of holdings allocated from a park's sub-pool (园区子池), on SQLite and
PostgreSQL: every part of a sale moves in the pool its holding and its lots
belong to — within the district the buyer holds the same lots in that pool;
across districts each pool sold from gives its `trade_out` — and the
numbered reconciliation checks keep passing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text
from svc_common import testing
from svc_common.events.schemas.eia import ParkRegistered

from .conftest import ADMIN, ADMIN2, AUDITOR, BAODI, INVESTMENT, JIZHOU, OFFICER, OFFICER2, Quota
from .test_ledger_beyond import post, reconciled, reserve, uscc

PARK = "jz-park"
DISTRICT_POOL = f"{JIZHOU}:VOCs"
PARK_POOL = f"{JIZHOU}:VOCs:park:{PARK}"
BAODI_POOL = f"{BAODI}:VOCs"


@pytest.fixture
def q(quota: Quota) -> Quota:
    return quota


async def balance(q: Quota, district: str, pool: str = "district") -> tuple[str, str, str]:
    """(credited, reserved, allocated) of a pool, in tonnes."""
    r = await q.client.get(
        f"/quota/balances/{district}/VOCs", params={"pool": pool}, headers=INVESTMENT
    )
    assert r.status_code == 200, r.text
    b = r.json()
    return b["credited_t"], b["reserved_t"], b["allocated_t"]


async def holdings(q: Quota, owner: str) -> list[dict[str, Any]]:
    r = await q.client.get(f"/quota/holdings?uscc={owner}", headers=INVESTMENT)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def lot(q: Quota, lot_id: int) -> dict[str, Any]:
    r = await q.client.get(f"/quota/lots/{lot_id}", headers=AUDITOR)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def park_of_ten(q: Quota) -> None:
    """蓟州区: 20 t, 10 t of them carved into the park's sub-pool when the park
    is registered (only a registered park has one)."""
    await q.baseline(JIZHOU, "20")
    park = ParkRegistered(
        park_id=PARK,
        district=JIZHOU,
        name="蓟州经济开发区",
        vocs_subpool_t=Decimal("10"),
        covered_project_types=["furniture"],
    )
    await testing.deliver(q.app, park)
    assert await balance(q, JIZHOU) == ("10.000", "0.000", "0.000")
    assert await balance(q, JIZHOU, f"park:{PARK}") == ("10.000", "0.000", "0.000")


async def allocate(q: Quota, project: str, increment: str, owner: str, **extra: Any) -> Any:
    held = await reserve(q, project, increment, uscc=owner, **extra)
    return await post(q, f"/quota/reservations/{held['id']}/allocate", {}, OFFICER)


def trade(seller: str, buyer: str, amount: str, **extra: str) -> dict[str, str]:
    return {
        "seller": seller,
        "buyer": buyer,
        "district": JIZHOU,
        "amount_t": amount,
        "price_cny_per_t": "1.00",
        "contract_ref": "C-park",
        **extra,
    }


async def test_a_park_holding_sold_within_the_district_stays_in_the_park(q: Quota) -> None:
    seller, buyer = uscc("PARKSEL1"), uscc("PARKBUY1")
    await park_of_ten(q)
    await allocate(q, "proj-park", "2", seller, park_id=PARK)  # 4 t of quota in the park
    (sh,) = await holdings(q, seller)
    assert (sh["pool_id"], sh["amount_t"]) == (PARK_POOL, "4.000")
    [[park_lot, _]] = sh["lots"]
    t = await post(q, "/quota/trades", trade(seller, buyer, "1"), OFFICER, 201)
    done = await post(q, f"/quota/trades/{t['id']}/approve", None, OFFICER2)
    assert (done["status"], done["seller_rights_t"], done["buyer_rights_t"]) == (
        "settled",
        "0.500",
        "0.500",
    )
    # Only the holder changed: the park still has the 4 t allocated, in the same lot.
    assert await balance(q, JIZHOU, f"park:{PARK}") == ("10.000", "0.000", "4.000")
    assert await balance(q, JIZHOU) == ("10.000", "0.000", "0.000")
    (bh,) = await holdings(q, buyer)
    assert (bh["pool_id"], bh["amount_t"], bh["lots"]) == (PARK_POOL, "1.000", [[park_lot, 1000]])
    (sh,) = await holdings(q, seller)
    assert (sh["pool_id"], sh["amount_t"], sh["lots"]) == (PARK_POOL, "3.000", [[park_lot, 3000]])
    moved = [m for m in (await lot(q, park_lot))["movements"] if m["code"] == "trade"]
    assert [(m["ref"], m["amount_t"]) for m in moved] == [(f"trade:{t['id']}", "1.000")]
    await reconciled(q)


async def test_a_park_holding_sold_to_another_district_leaves_the_park(q: Quota) -> None:
    """The district pool has nothing allocated: the sale comes out of the
    park's pool (before, `trade_out` hit the district pool: a 500)."""
    seller, buyer = uscc("PARKSEL2"), uscc("PARKBUY2")
    await park_of_ten(q)
    await allocate(q, "proj-park", "2", seller, park_id=PARK)
    (sh,) = await holdings(q, seller)
    [[park_lot, _]] = sh["lots"]
    await q.client.put(f"/quota/air-quality/{BAODI}", json={"status": "attained"}, headers=ADMIN)
    t = await post(q, "/quota/trades", trade(seller, buyer, "1", buyer_district=BAODI), ADMIN, 201)
    done = await post(q, f"/quota/trades/{t['id']}/approve", None, ADMIN2)
    assert (done["status"], done["buyer_rights_t"]) == ("settled", "1.000")
    assert await balance(q, JIZHOU, f"park:{PARK}") == ("9.000", "0.000", "3.000")
    assert await balance(q, JIZHOU) == ("10.000", "0.000", "0.000")
    assert await balance(q, BAODI) == ("1.000", "0.000", "1.000")
    (sh,) = await holdings(q, seller)
    assert (sh["pool_id"], sh["amount_t"], sh["lots"]) == (PARK_POOL, "3.000", [[park_lot, 3000]])
    (bh,) = await holdings(q, buyer)
    assert (bh["pool_id"], bh["district"], bh["amount_t"]) == (BAODI_POOL, BAODI, "1.000")
    [[child, kg]] = bh["lots"]
    bought = await lot(q, child)
    assert (kg, bought["lot"]["pool_id"], bought["lot"]["parent_lot_id"]) == (
        1000,
        BAODI_POOL,
        park_lot,
    )
    assert bought["lot"]["allocated_t"] == "1.000"
    sold = await lot(q, park_lot)
    assert (sold["lot"]["allocated_t"], sold["lot"]["out_t"]) == ("3.000", "1.000")
    r = await q.client.get("/quota/journal", params={"district": JIZHOU}, headers=AUDITOR)
    assert r.status_code == 200, r.text
    outs = [e for e in r.json()["items"] if e["code"] == "trade_out"]
    assert [(e["pool_id"], e["amount_t"]) for e in outs] == [(PARK_POOL, "1.000")]
    await reconciled(q)


@pytest.mark.parametrize("cross", [False, True], ids=["same-district", "cross-district"])
async def test_a_sale_of_park_and_district_holdings_moves_each_in_its_pool(
    q: Quota, cross: bool
) -> None:
    """Oldest first: the park holding (4 t) whole, then 1 t of the district
    holding (6 t)."""
    seller, buyer = uscc("MIXSEL01"), uscc("MIXBUY01")
    await park_of_ten(q)
    await allocate(q, "proj-park", "2", seller, park_id=PARK)  # 4 t, 2 t of rights
    await allocate(q, "proj-district", "3", seller)  # 6 t, 3 t of rights
    by_pool = {h["pool_id"]: h for h in await holdings(q, seller)}
    [[park_lot, _]] = by_pool[PARK_POOL]["lots"]
    [[district_lot, _]] = by_pool[DISTRICT_POOL]["lots"]
    await q.client.put(f"/quota/air-quality/{BAODI}", json={"status": "attained"}, headers=ADMIN)
    body = trade(seller, buyer, "5", **({"buyer_district": BAODI} if cross else {}))
    t = await post(q, "/quota/trades", body, ADMIN, 201)
    done = await post(q, f"/quota/trades/{t['id']}/approve", None, ADMIN2)
    assert (done["status"], done["seller_rights_t"]) == ("settled", "2.500")
    # The park holding is sold out; 5 t of the district's are left.
    (left,) = await holdings(q, seller)
    assert (left["pool_id"], left["amount_t"], left["rights_t"], left["lots"]) == (
        DISTRICT_POOL,
        "5.000",
        "2.500",
        [[district_lot, 5000]],
    )
    bought = await holdings(q, buyer)
    if not cross:
        # One holding in each pool sold from, with that pool's lot; the
        # buyer's rights (5 t ÷ 2.0) shared in proportion.
        assert done["buyer_rights_t"] == "2.500"
        assert sorted((h["pool_id"], h["amount_t"], h["rights_t"], h["lots"]) for h in bought) == [
            (DISTRICT_POOL, "1.000", "0.500", [[district_lot, 1000]]),
            (PARK_POOL, "4.000", "2.000", [[park_lot, 4000]]),
        ]
        assert await balance(q, JIZHOU, f"park:{PARK}") == ("10.000", "0.000", "4.000")
        assert await balance(q, JIZHOU) == ("10.000", "0.000", "6.000")
    else:
        # `trade_out` from each pool for what it gave; bought in 宝坻区, one
        # holding per validity sold (the two allocations' terms differ).
        assert done["buyer_rights_t"] == "5.000"
        assert await balance(q, JIZHOU, f"park:{PARK}") == ("6.000", "0.000", "0.000")
        assert await balance(q, JIZHOU) == ("9.000", "0.000", "5.000")
        assert await balance(q, BAODI) == ("5.000", "0.000", "5.000")
        bought.sort(key=lambda h: str(h["valid_until"]))
        assert [(h["pool_id"], h["amount_t"], h["rights_t"]) for h in bought] == [
            (BAODI_POOL, "4.000", "4.000"),
            (BAODI_POOL, "1.000", "1.000"),
        ]
        children = [(await lot(q, c))["lot"] for h in bought for c, _ in h["lots"]]
        assert [(c["pool_id"], c["parent_lot_id"], c["allocated_t"]) for c in children] == [
            (BAODI_POOL, park_lot, "4.000"),
            (BAODI_POOL, district_lot, "1.000"),
        ]
        r = await q.client.get("/quota/journal", params={"district": JIZHOU}, headers=AUDITOR)
        outs = {e["pool_id"]: e["amount_t"] for e in r.json()["items"] if e["code"] == "trade_out"}
        assert outs == {PARK_POOL: "4.000", DISTRICT_POOL: "1.000"}
    await reconciled(q)


async def test_a_holding_whose_lots_are_elsewhere_is_a_409_not_a_500(q: Quota) -> None:
    """A holding recorded in the district pool with the park's lots (what a
    park holding's sale used to give its buyer): its sale across districts
    is refused with a 409 naming the pool, and nothing moves."""
    seller, buyer = uscc("PARKSEL3"), uscc("PARKBUY3")
    await park_of_ten(q)
    await allocate(q, "proj-park", "2", seller, park_id=PARK)
    async with q.app.state.runtime.db.transaction() as s:
        await s.execute(
            text("UPDATE holdings SET pool_id = :pool WHERE uscc = :uscc"),
            {"pool": DISTRICT_POOL, "uscc": seller},
        )
    t = await post(q, "/quota/trades", trade(seller, buyer, "1", buyer_district=BAODI), ADMIN, 201)
    zh = {"Accept-Language": "zh-CN"}
    r = await q.client.post(f"/quota/trades/{t['id']}/approve", headers={**ADMIN2, **zh})
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert (r.json()["reason"], r.json()["pool_id"]) == ("ledger_disagrees", DISTRICT_POOL)
    assert "台账" in r.json()["detail"]
    r = await q.client.post(
        f"/quota/trades/{t['id']}/approve", headers={**ADMIN2, "Accept-Language": "en"}
    )
    assert r.status_code == 409 and "ledger" in r.json()["detail"], r.text
    r = await q.client.get(f"/quota/trades/{t['id']}", headers=ADMIN)
    assert r.json()["status"] == "proposed"
    assert await balance(q, JIZHOU, f"park:{PARK}") == ("10.000", "0.000", "4.000")
    assert await balance(q, BAODI) == ("0.000", "0.000", "0.000")
