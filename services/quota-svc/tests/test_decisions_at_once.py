"""Decisions sent at the same moment on PostgreSQL, where they really run side
by side, end as one after the other: of confirmations, rejections,
approvals and cancellations of one reclaim, trade, swap or adjustment,
under keys of their own, one decides and the others are refused with 409
(the four-eyes refusal too); each effect is credited, posted, published and
audited once, and the ledger reconciles. No answer is a 5xx."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from quota_svc.app import create
from quota_svc.settings import Settings
from sqlalchemy import func, select
from svc_common import testing
from svc_common.tables import AuditEntry, OutboxRow

from .conftest import ADMIN, ADMIN2, BAODI, JIZHOU, OFFICER, OFFICER2, Quota
from .test_ledger_beyond import uscc

pytestmark = pytest.mark.pg

OFFICER3 = testing.auth("officer", [JIZHOU], sub="officer.qian")
BAODI_OFFICER = testing.auth("officer", [BAODI], sub="officer.bao")


@pytest.fixture
async def quota(pg_url: str) -> AsyncIterator[Quota]:
    app = create(Settings(database_url=pg_url, log_json=False, hold_sweep_seconds=3600))
    async with testing.running(app) as client:
        yield Quota(app, client)


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


def outcomes(answers: list[httpx.Response]) -> Counter[int]:
    assert all(r.status_code < 500 for r in answers), [r.text for r in answers]
    return Counter(r.status_code for r in answers)


async def counts(quota: Quota, table: Any, column: Any) -> dict[str, int]:
    async with quota.app.state.runtime.db.session() as s:
        rows = await s.execute(select(column, func.count()).select_from(table).group_by(column))
        return {str(name): int(n) for name, n in rows}


async def reconciles(quota: Quota) -> None:
    rec = (await quota.client.get("/quota/reconciliation", headers=ADMIN)).json()
    assert rec["ok"], [c for c in rec["checks"] if not c["ok"]]


async def test_a_reclaim_decided_at_once_is_credited_once(quota: Quota) -> None:
    """Its creator (four eyes), two other officers confirming and one
    rejecting, several times each: one decision."""
    await quota.baseline(JIZHOU, "10")
    r = await quota.client.post(
        "/quota/reclaims",
        json={"district": JIZHOU, "amount_t": "5", "note": "关停企业核查"},
        headers=OFFICER,
    )
    assert r.status_code == 201, r.text
    url = f"/quota/reclaims/{r.json()['id']}"
    answers = await asyncio.gather(
        *(
            quota.client.post(f"{url}/confirm", headers=keyed(OFFICER, f"own-{i}"))
            for i in range(4)
        ),
        *(
            quota.client.post(f"{url}/confirm", headers=keyed(who, f"c-{n}-{i}"))
            for n, who in enumerate((OFFICER2, OFFICER3))
            for i in range(4)
        ),
        *(
            quota.client.post(
                f"{url}/reject", json={"reason": "核查不实"}, headers=keyed(OFFICER2, f"r-{i}")
            )
            for i in range(4)
        ),
    )
    assert outcomes(answers) == {200: 1, 409: 15}, [r.text for r in answers]
    # The creator is refused: four eyes, or (once decided) the state.
    assert all(r.status_code == 409 for r in answers[:4]), [r.text for r in answers[:4]]
    (won,) = [r for r in answers if r.status_code == 200]
    a = await quota.availability(JIZHOU)
    assert won.json()["decided_by"] in ("officer.zhao", "officer.qian"), won.text
    if won.json()["status"] == "confirmed":
        assert (a["credited_t"], a["reclaimed_t"]) == ("15.000", "5.000")
        assert len(await quota.events("quota.reclaim_confirmed.v1")) == 1
    else:
        assert won.json()["status"] == "rejected"
        assert (a["credited_t"], a["reclaimed_t"]) == ("10.000", "0.000")
        assert await quota.events("quota.reclaim_confirmed.v1") == []
    audits = await counts(quota, AuditEntry, AuditEntry.action)
    assert audits.get("quota.reclaim.confirm", 0) + audits.get("quota.reclaim.reject", 0) == 1
    await reconciles(quota)


async def test_a_trade_approved_and_cancelled_at_once_settles_at_most_once(
    quota: Quota,
) -> None:
    seller = uscc("DECSELL")
    await quota.baseline(JIZHOU, "20")
    held = await quota.client.post(
        "/quota/reservations",
        json={"district": JIZHOU, "increment_t": "2", "project_ref": "seller", "uscc": seller},
        headers=OFFICER,
    )
    assert held.status_code == 201, held.text
    r = await quota.client.post(
        f"/quota/reservations/{held.json()['id']}/allocate", headers=OFFICER
    )
    assert r.status_code == 200, r.text
    for round_ in range(3):
        body = {
            "seller": seller,
            "buyer": uscc(f"DECB{round_}"),
            "district": JIZHOU,
            "buyer_district": BAODI if round_ % 2 else JIZHOU,
            "amount_t": "1",
            "price_cny_per_t": "9000",
            "contract_ref": f"DEC-{round_}",
        }
        r = await quota.client.post("/quota/trades", json=body, headers=ADMIN)
        assert r.status_code == 201, r.text
        url = f"/quota/trades/{r.json()['id']}"
        answers = await asyncio.gather(
            *(
                quota.client.post(f"{url}/approve", headers=keyed(ADMIN2, f"a{round_}-{i}"))
                for i in range(6)
            ),
            *(
                quota.client.post(
                    f"{url}/cancel",
                    json={"reason": "撤回"},
                    headers=keyed(ADMIN2, f"c{round_}-{i}"),
                )
                for i in range(3)
            ),
        )
        assert outcomes(answers) == {200: 1, 409: 8}, [r.text for r in answers]
    settled = len(await quota.events("quota.trade.settled.v1"))
    audits = await counts(quota, AuditEntry, AuditEntry.action)
    assert audits.get("quota.trade.settle", 0) == settled
    assert settled + audits.get("quota.trade.cancel", 0) == 3
    holdings = (await quota.client.get("/quota/holdings?limit=100", headers=ADMIN)).json()["items"]
    bought = [h for h in holdings if h["source"] == "trade"]
    assert len(bought) == settled
    await reconciles(quota)


async def test_a_swap_approved_by_both_districts_and_cancelled_at_once(quota: Quota) -> None:
    """Each district's officers approve (one approval each counts), the
    other side cancels: the swap ends approved once by each, or cancelled;
    the source pool holds its tonnes once."""
    await quota.baseline(JIZHOU, "10")
    await quota.baseline(BAODI, "10")
    for round_ in range(3):
        r = await quota.client.post(
            "/quota/swaps",
            json={"from": JIZHOU, "to": BAODI, "amount_t": "2", "reason": "调剂"},
            headers=OFFICER,
        )
        assert r.status_code == 201, r.text
        url = f"/quota/swaps/{r.json()['id']}"
        answers = await asyncio.gather(
            *(
                quota.client.post(f"{url}/approve", headers=keyed(who, f"a{round_}-{n}-{i}"))
                for n, who in enumerate((OFFICER2, BAODI_OFFICER))
                for i in range(3)
            ),
            *(
                quota.client.post(
                    f"{url}/cancel", json={"reason": "取消"}, headers=keyed(ADMIN, f"c{round_}-{i}")
                )
                for i in range(2)
            ),
        )
        assert outcomes(answers) <= Counter({200: 3, 409: 8}), [r.text for r in answers]
        # One approval of each district counts; a cancel once at most.
        jizhou, baodi, cancels = (
            sum(r.status_code == 200 for r in part)
            for part in (answers[:3], answers[3:6], answers[6:])
        )
        assert jizhou <= 1 and baodi <= 1 and cancels <= 1, [r.text for r in answers]
        final = (await quota.client.get(url, headers=ADMIN)).json()
        if final["status"] == "approved":
            assert (jizhou, baodi, cancels) == (1, 1, 0), [r.text for r in answers]
        else:
            assert final["status"] == "cancelled" and cancels == 1, final
    audits = await counts(quota, AuditEntry, AuditEntry.action)
    swaps = (await quota.client.get("/quota/swaps?limit=10", headers=ADMIN)).json()["items"]
    approved = sum(s["status"] == "approved" for s in swaps)
    cancelled = sum(s["status"] == "cancelled" for s in swaps)
    assert approved + cancelled == 3
    assert audits.get("quota.swap.cancel", 0) == cancelled
    a = await quota.availability(JIZHOU)
    assert a["reserved_t"] == f"{2 * approved}.000", a
    await reconciles(quota)


async def test_an_adjustment_approved_and_rejected_at_once_posts_at_most_once(
    quota: Quota,
) -> None:
    await quota.baseline(JIZHOU, "10")
    url = f"/quota/pools/{JIZHOU}/VOCs/adjustments"
    r = await quota.client.post(url, json={"amount_t": "-3", "note": "核减"}, headers=ADMIN)
    assert r.status_code == 201, r.text
    one = f"{url}/{r.json()['id']}"
    answers = await asyncio.gather(
        *(quota.client.post(f"{one}/approve", headers=keyed(ADMIN2, f"a-{i}")) for i in range(6)),
        *(quota.client.post(f"{one}/reject", headers=keyed(ADMIN2, f"r-{i}")) for i in range(3)),
    )
    assert outcomes(answers) == {200: 1, 409: 8}, [r.text for r in answers]
    (won,) = [r for r in answers if r.status_code == 200]
    a = await quota.availability(JIZHOU)
    expected = "7.000" if won.json()["status"] == "approved" else "10.000"
    assert a["credited_t"] == expected, (won.text, a)
    events = await counts(quota, OutboxRow, OutboxRow.event_type)
    # The baseline's balance change, and the adjustment's if approved.
    assert events["quota.balance_changed.v1"] == (2 if expected == "7.000" else 1)
    await reconciles(quota)
