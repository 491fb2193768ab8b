"""Holdings, swaps and debts are paged like every other list, on SQLite and
PostgreSQL: `items` and `next_cursor` (a signed cursor, svc_common.pagination),
in a stable order (ties broken by id), until the last page, so a client that
follows the cursor reads every row: 1,005 holdings are 1,005, not 1,000."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from quota_svc.debts.models import Debt
from quota_svc.swaps.models import Swap
from quota_svc.trading.models import Holding

from .conftest import AUDITOR, BAODI, JIZHOU, Quota

T0 = dt.datetime(2026, 3, 1, 1, 0, tzinfo=dt.UTC)


async def every_page(q: Quota, path: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Every item of a list, following `next_cursor`; and how many pages."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        r = await q.client.get(path, params=query, headers=AUDITOR)
        assert r.status_code == 200, r.text
        body = r.json()
        items += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return items, pages
        assert pages < 1000


async def test_holdings_beyond_a_thousand_are_all_read(quota: Quota) -> None:
    async with quota.app.state.runtime.db.transaction() as s:
        for i in range(1005):
            # Ten at each moment: the order is kept by id within a moment.
            at = T0 + dt.timedelta(minutes=i // 10)
            s.add(
                Holding(
                    id=str(uuid.uuid4()),
                    uscc=None,
                    district=JIZHOU,
                    pollutant="VOCs",
                    pool_id=f"{JIZHOU}:VOCs",
                    source="allocation",
                    original_kg=1000 + i,
                    amount_kg=1000 + i,
                    rights_kg=500,
                    offset_ratio_hundredths=200,
                    lots=[],
                    acquired_at=at,
                    valid_until=at + dt.timedelta(days=5 * 365),
                )
            )
    items, pages = await every_page(quota, "/quota/holdings", district=JIZHOU, limit=1000)
    assert (len(items), pages) == (1005, 2)
    assert len({h["id"] for h in items}) == 1005
    assert sum(Decimal(h["amount_t"]) for h in items) == Decimal(sum(range(1000, 2005))) / 1000
    first = (await quota.client.get("/quota/holdings", headers=AUDITOR)).json()
    assert len(first["items"]) == 100 and first["next_cursor"]  # the default page
    items, pages = await every_page(quota, "/quota/holdings", district=JIZHOU, limit=7)
    assert (len({h["id"] for h in items}), pages) == (1005, 144)
    stamps = [h["acquired_at"] for h in items]
    assert stamps == sorted(stamps)


async def test_swaps_and_debts_are_paged(quota: Quota) -> None:
    async with quota.app.state.runtime.db.transaction() as s:
        for i in range(5):
            at = T0 + dt.timedelta(hours=i // 2)
            s.add(
                Swap(
                    id=str(uuid.uuid4()),
                    from_district=JIZHOU,
                    to_district=BAODI,
                    pollutant="VOCs",
                    amount_kg=1000,
                    reason="调剂",
                    status="proposed",
                    proposed_by="officer.wang",
                    proposed_at=at,
                )
            )
            s.add(
                Debt(
                    id=str(uuid.uuid4()),
                    district=JIZHOU,
                    pollutant="VOCs",
                    pool_id=f"{JIZHOU}:VOCs",
                    lot_id=1,
                    amount_kg=1000,
                    repaid_kg=0,
                    withdrawn_kg=0,
                    status="open",
                    due_at=T0 + dt.timedelta(days=365 * 10),
                    approved_by="admin.zhang",
                    created_at=at,
                )
            )
    swaps, pages = await every_page(quota, "/quota/swaps", limit=2)
    assert (len({sw["id"] for sw in swaps}), pages) == (5, 3)
    debts, pages = await every_page(quota, "/quota/debts", district=JIZHOU, limit=2)
    assert (len({d["id"] for d in debts}), pages) == (5, 3)
    debts, _ = await every_page(quota, "/quota/debts", district=JIZHOU, overdue="false", limit=2)
    assert len(debts) == 5
    overdue, _ = await every_page(quota, "/quota/debts", overdue="true")
    assert overdue == []
