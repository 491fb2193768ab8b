"""A swap larger than what the source district has available is refused at
proposal (409 naming the pool, what it has and the shortfall; nothing is
written), and still at approval if the pool has shrunk since: never an
overdraft of the source pool."""

from __future__ import annotations

from sqlalchemy import func, select
from svc_common import testing
from svc_common.tables import AuditEntry

from .conftest import ADMIN, BAODI, JIZHOU, OFFICER, OFFICER2, Quota

BAODI_OFFICER = testing.auth("officer", [BAODI], sub="officer.bao")


def swap(amount_t: str, source: str = JIZHOU, target: str = BAODI) -> dict[str, str]:
    return {"from": source, "to": target, "amount_t": amount_t, "reason": "重点项目调剂"}


async def swaps_written(quota: Quota) -> int:
    async with quota.app.state.runtime.db.session() as s:
        n = await s.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "quota.swap.propose")
        )
    listed = await quota.client.get("/quota/swaps", headers=ADMIN)
    assert listed.status_code == 200, listed.text
    assert int(n or 0) == len(listed.json()["items"])
    return int(n or 0)


async def test_a_swap_beyond_the_source_pool_is_refused_at_proposal(quota: Quota) -> None:
    await quota.baseline(JIZHOU, "100")
    r = await quota.client.post("/quota/swaps", json=swap("1000000"), headers=OFFICER)
    assert r.status_code == 409, r.text
    problem = r.json()
    assert r.headers["content-type"].startswith("application/problem+json")
    assert (problem["pool_id"], problem["available_t"], problem["shortfall_t"]) == (
        f"{JIZHOU}:VOCs",
        "100.000",
        "999900.000",
    )
    assert problem["reason"] == "exceeds_available"
    zh = await quota.client.post(
        "/quota/swaps", json=swap("1000000"), headers={**OFFICER, "Accept-Language": "zh-CN"}
    )
    assert "可用" in zh.json()["detail"], zh.text
    # A district with no pool at all has nothing to give.
    r = await quota.client.post("/quota/swaps", json=swap("5", BAODI, JIZHOU), headers=OFFICER)
    assert r.status_code == 409, r.text
    assert r.json()["available_t"] == "0.000"
    assert await swaps_written(quota) == 0
    a = await quota.availability(JIZHOU)
    assert (a["credited_t"], a["reserved_t"], a["available_t"]) == ("100.000", "0.000", "100.000")
    # Exactly what is available may be proposed.
    r = await quota.client.post("/quota/swaps", json=swap("100"), headers=OFFICER)
    assert r.status_code == 201, r.text


async def test_a_swap_the_pool_no_longer_covers_is_refused_at_approval(quota: Quota) -> None:
    await quota.baseline(JIZHOU, "100")
    first = await quota.client.post("/quota/swaps", json=swap("80"), headers=OFFICER)
    second = await quota.client.post("/quota/swaps", json=swap("80"), headers=OFFICER)
    assert (first.status_code, second.status_code) == (201, 201), second.text
    for sw in (first.json(), second.json()):
        r = await quota.client.post(f"/quota/swaps/{sw['id']}/approve", headers=OFFICER2)
        assert r.status_code == 200, r.text
    r = await quota.client.post(f"/quota/swaps/{first.json()['id']}/approve", headers=BAODI_OFFICER)
    assert r.status_code == 200, r.text
    r = await quota.client.post(
        f"/quota/swaps/{second.json()['id']}/approve", headers=BAODI_OFFICER
    )
    assert r.status_code == 409, r.text
    assert r.json()["shortfall_t"] == "60.000"
    left = (await quota.client.get(f"/quota/swaps/{second.json()['id']}", headers=OFFICER)).json()
    assert (left["status"], left["to_approved_by"], left["lots"]) == ("proposed", None, None)
    a = await quota.availability(JIZHOU)
    assert (a["reserved_t"], a["available_t"]) == ("80.000", "20.000")
    rec = (await quota.client.get("/quota/reconciliation", headers=ADMIN)).json()
    assert rec["ok"], rec
