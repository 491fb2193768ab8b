"""No overdraft under any concurrency: 200 reservations race for a pool that
fits exactly 37 of them, through the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter

from quota_svc.ledger.models import JournalEntry, Pool
from quota_svc.ledger.service import reconcile
from sqlalchemy import func, select

from .conftest import JIZHOU, OFFICER, Quota


async def test_200_concurrent_reservations_exactly_37_fit(quota: Quota) -> None:
    # Each project of 1.5 t/a needs 3 t at ratio 2.0; 111 t fits exactly 37.
    await quota.baseline(JIZHOU, "111")

    async def reserve(i: int) -> int:
        r = await quota.client.post(
            "/quota/reservations",
            json={"district": JIZHOU, "increment_t": "1.5", "project_ref": f"P-{i:03d}"},
            headers=OFFICER,
        )
        if r.status_code == 409:
            assert r.json()["shortfall_t"] == "3.000"
        return r.status_code

    codes = Counter(await asyncio.gather(*(reserve(i) for i in range(200))))
    assert codes == {201: 37, 409: 163}

    a = await quota.availability(JIZHOU)
    assert a["available_t"] == "0.000"
    assert a["reserved_t"] == "111.000"
    async with quota.app.state.runtime.db.session() as s:
        pool = await s.get(Pool, f"{JIZHOU}:VOCs")
        assert pool is not None
        assert pool.credited_kg - pool.reserved_kg - pool.allocated_kg == 0
        # The balance never went below zero at any entry.
        lowest = await s.scalar(
            select(
                func.min(
                    JournalEntry.credited_after_kg
                    - JournalEntry.reserved_after_kg
                    - JournalEntry.allocated_after_kg
                )
            )
        )
        assert lowest == 0
        rec = await reconcile(s, pool.id)
    assert rec.ok, rec
    assert rec.entries == 38  # the baseline and 37 holds
