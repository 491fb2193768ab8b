"""Trades settled at the same moment on PostgreSQL, where they really run
side by side: a settlement locks every pool it moves quota in, in sorted id
order, before the seller's holdings (the ledger's one lock order), even
when the seller's holdings gained a pool since it looked (it used to lock
that pool last, after the holdings: with another settlement holding it and
waiting for one of its pools, the two deadlocked and one answered 503)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from quota_svc.app import create
from quota_svc.settings import Settings
from svc_common import testing

from .conftest import ADMIN, ADMIN2, BAODI, JIZHOU, Quota
from .test_ledger_beyond import post, reconciled, uscc
from .test_trade_pools import PARK, PARK_POOL, allocate, holdings, park_of_ten, trade

pytestmark = pytest.mark.pg


@pytest.fixture
async def quota(pg_url: str) -> AsyncIterator[Quota]:
    app = create(Settings(database_url=pg_url, log_json=False, hold_sweep_seconds=3600))
    async with testing.running(app) as client:
        yield Quota(app, client)


def approve(q: Quota, t: dict[str, Any]) -> Any:
    return q.client.post(f"/quota/trades/{t['id']}/approve", headers=ADMIN2)


async def test_a_seller_s_new_pool_is_locked_in_order(quota: Quota, pg_url: str) -> None:
    """The interleaving that deadlocked, made certain by a side transaction
    holding the park's pool: two sales of one seller (the first takes most
    of its park holding) wait for the park's pool; the seller is allocated
    quota in the district pool meanwhile, so the second sale takes from it
    too; a third sale, of a seller with holdings in both pools, has locked
    the district pool (first in sorted order) and waits for the park's."""
    q = quota
    seller, other = uscc("LOCKSEL"), uscc("LOCKOTH")
    await park_of_ten(q)
    await allocate(q, "sel-park", "1", seller, park_id=PARK)  # 2 t in the park
    await allocate(q, "oth-park", "0.5", other, park_id=PARK)
    await allocate(q, "oth-district", "0.5", other)  # 1 t in each pool
    first = await post(q, "/quota/trades", trade(seller, uscc("LOCKB1"), "1.5"), ADMIN, 201)
    second = await post(q, "/quota/trades", trade(seller, uscc("LOCKB2"), "1"), ADMIN, 201)
    third = await post(q, "/quota/trades", trade(other, uscc("LOCKB3"), "0.5"), ADMIN, 201)
    side = await asyncpg.connect(pg_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:

        async def waiting(n: int, what: str) -> None:
            for _ in range(1000):
                if await side.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted") >= n:
                    return
                await asyncio.sleep(0.01)
            raise AssertionError(f"{what} never waited for a lock")

        holding = side.transaction()
        await holding.start()
        await side.execute("SELECT 1 FROM pools WHERE id = $1 FOR UPDATE", PARK_POOL)
        sales = [asyncio.create_task(approve(q, first))]
        await waiting(1, "the first sale")
        sales.append(asyncio.create_task(approve(q, second)))
        await waiting(2, "the second sale")
        await allocate(q, "sel-district", "0.5", seller)  # 1 t in the district pool
        sales.append(asyncio.create_task(approve(q, third)))
        await waiting(3, "the third sale")
        await holding.rollback()
        answers = await asyncio.wait_for(asyncio.gather(*sales), 60)
    finally:
        await side.close()
    assert [r.status_code for r in answers] == [200] * 3, [r.text for r in answers]
    assert all(r.json()["status"] == "settled" for r in answers)
    left = {h["pool_id"]: h["amount_t"] for h in await holdings(q, seller)}
    assert left == {f"{JIZHOU}:VOCs": "0.500"}, left
    await reconciled(q)


async def test_settlements_across_two_districts_both_ways_at_once(quota: Quota) -> None:
    """From 蓟州 to 宝坻 and from 宝坻 to 蓟州, side by side, several times."""
    q = quota
    await q.baseline(JIZHOU, "100")
    await q.baseline(BAODI, "100")
    sellers = {JIZHOU: uscc("XSELJ"), BAODI: uscc("XSELB")}
    for district, seller in sellers.items():
        r = await q.client.post(
            "/quota/reservations",
            json={"district": district, "increment_t": "10", "project_ref": seller, "uscc": seller},
            headers=testing.auth("officer", [district]),
        )
        assert r.status_code == 201, r.text
        await post(
            q,
            f"/quota/reservations/{r.json()['id']}/allocate",
            None,
            testing.auth("officer", [district]),
        )
    for i in range(8):
        trades = []
        for district, seller in sellers.items():
            to = BAODI if district == JIZHOU else JIZHOU
            body = {
                **trade(seller, uscc(f"XB{district[-1]}{i}"), "0.5", buyer_district=to),
                "district": district,
                "contract_ref": f"X-{district}-{i}",
            }
            trades.append(await post(q, "/quota/trades", body, ADMIN, 201))
        answers = await asyncio.gather(*(approve(q, t) for t in trades))
        assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
    await reconciled(q)
