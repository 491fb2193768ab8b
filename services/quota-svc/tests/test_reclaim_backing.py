"""A reclaim never credits more than the plant held or quota backed (可收回上限),
on SQLite and PostgreSQL. permit-svc checks quota only for a VOCs increase,
so a permit's COD (NOx, NH3-N) can be raised for nothing; before, cutting it
back (or cancelling the permit) gave a reclaim candidate of the whole
decrease, and a second officer's confirmation credited the district pool
with tonnes no plant ever held: 1 t of COD raised to 100 t and cut to 0
made 100 t, again and again."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from svc_common import testing
from svc_common.events.schemas.common import PollutantAmount, PollutantChange
from svc_common.events.schemas.permit import PermitCancelled, PermitChanged, PermitIssued

from .conftest import ADMIN, BAODI, INVESTMENT, JIZHOU, OFFICER, Quota

USCC = "91120225MA05XXXX0X"
CUT_BY = "officer.zhao"  # who changes the permit; officer.wang confirms


def issued(permit: str, **amounts: str) -> PermitIssued:
    return PermitIssued(
        permit_id=permit,
        permit_no=f"91120225X-{permit}",
        uscc=USCC,
        enterprise_name="蓟州某化工厂",
        district=JIZHOU,
        industry_code="2614",
        category="key",
        pollutants=[
            PollutantAmount(pollutant=p.replace("_", "-"), amount_t=Decimal(a))
            for p, a in amounts.items()
        ],
        valid_from=dt.date(2026, 1, 1),
        valid_to=dt.date(2030, 12, 31),
    )


def changed(
    permit: str, pollutant: str, before: str, after: str, trade_id: str | None = None
) -> PermitChanged:
    """A change of one pollutant, as permit-svc sends it."""
    delta = Decimal(after) - Decimal(before)
    return PermitChanged(
        permit_id=permit,
        permit_no=f"91120225X-{permit}",
        uscc=USCC,
        enterprise_name="蓟州某化工厂",
        district=JIZHOU,
        pollutant_changes=[
            PollutantChange(
                pollutant=pollutant,
                before_t=Decimal(before),
                after_t=Decimal(after),
                delta_t=delta,
            )
        ],
        vocs_delta_t=delta if pollutant == "VOCs" else Decimal(0),
        trade_id=trade_id,
        actor=None if trade_id else CUT_BY,
    )


def cancelled(permit: str, reason: str = "closure", **amounts: str) -> PermitCancelled:
    freed = [
        PollutantAmount(pollutant=p.replace("_", "-"), amount_t=Decimal(a))
        for p, a in amounts.items()
    ]
    return PermitCancelled(
        permit_id=permit,
        permit_no=f"91120225X-{permit}",
        uscc=USCC,
        enterprise_name="蓟州某化工厂",
        district=JIZHOU,
        reason=reason,  # type: ignore[arg-type]
        pollutants_freed=freed,
        vocs_freed_t=Decimal(amounts.get("VOCs", "0")),
        actor=CUT_BY,
    )


async def pending(q: Quota) -> list[tuple[str, str, str]]:
    r = await q.client.get(
        "/quota/reclaims", params={"district": JIZHOU, "status": "pending"}, headers=OFFICER
    )
    assert r.status_code == 200, r.text
    return sorted((c["source"], c["pollutant"], c["amount_t"]) for c in r.json()["items"])


async def deliver_all(q: Quota, events: Sequence[Any]) -> None:
    for e in events:
        await testing.deliver(q.app, e)


async def credited(q: Quota, pollutant: str) -> str:
    r = await q.client.get(
        "/quota/availability",
        params={"district": JIZHOU, "pollutant": pollutant},
        headers=INVESTMENT,
    )
    assert r.status_code == 200, r.text
    (pool,) = [p for p in r.json() if p["pool_id"] == f"{JIZHOU}:{pollutant}"]
    return str(pool["available_t"])


async def test_raising_cod_without_quota_and_cutting_it_back_makes_nothing(
    quota: Quota,
) -> None:
    """The tester's case: imported with VOCs 0.1 t and COD 1 t, COD raised to
    100 t (no quota asked: permit-svc checks only VOCs), then cut to 0. The
    reclaim is the 1 t the plant held, not 100 t; confirmed, the pool gets 1 t."""
    await deliver_all(
        quota,
        [
            issued("PM-COD", VOCs="0.1", COD="1"),
            changed("PM-COD", "COD", "1", "100"),
            changed("PM-COD", "COD", "100", "0"),
        ],
    )
    assert await pending(quota) == [("permit_changed", "COD", "1.000")]
    r = await quota.client.get(
        "/quota/reclaims", params={"district": JIZHOU, "status": "pending"}, headers=OFFICER
    )
    (c,) = r.json()["items"]
    r = await quota.client.post(f"/quota/reclaims/{c['id']}/confirm", headers=OFFICER)
    assert r.status_code == 200, r.text
    assert await credited(quota, "COD") == "1.000"
    # Again: nothing is left to take back.
    await deliver_all(
        quota, [changed("PM-COD", "COD", "0", "100"), changed("PM-COD", "COD", "100", "0")]
    )
    assert await pending(quota) == []
    assert await credited(quota, "COD") == "1.000"


async def test_the_unbacked_tonnes_go_first(quota: Quota) -> None:
    """Cut from 100 t to 50 t, the plant still has more than the 1 t it held:
    nothing is freed; cut to 0.4 t, 0.6 t of what it held is."""
    await deliver_all(
        quota,
        [
            issued("PM-HALF", COD="1"),
            changed("PM-HALF", "COD", "1", "100"),
            changed("PM-HALF", "COD", "100", "50"),
        ],
    )
    assert await pending(quota) == []
    await testing.deliver(quota.app, changed("PM-HALF", "COD", "50", "0.4"))
    assert await pending(quota) == [("permit_changed", "COD", "0.600")]


async def test_cancelling_after_an_unbacked_raise_frees_what_was_held(quota: Quota) -> None:
    await deliver_all(
        quota,
        [
            issued("PM-CAN", VOCs="0.1", COD="1", NOx="2"),
            changed("PM-CAN", "COD", "1", "100"),
            cancelled("PM-CAN", VOCs="0.1", COD="100", NOx="2"),
        ],
    )
    assert await pending(quota) == [
        ("permit_cancelled", "COD", "1.000"),
        ("permit_cancelled", "NOx", "2.000"),
        ("permit_cancelled", "VOCs", "0.100"),
    ]


async def test_a_backed_vocs_increase_is_reclaimed_whole(quota: Quota) -> None:
    """permit-svc draws a VOCs increase on allocated quota: cut, it comes back."""
    await deliver_all(
        quota,
        [
            issued("PM-VOC", VOCs="1"),
            changed("PM-VOC", "VOCs", "1", "3"),
            changed("PM-VOC", "VOCs", "3", "0"),
        ],
    )
    assert await pending(quota) == [("permit_changed", "VOCs", "3.000")]


async def test_trades_move_the_ceiling(quota: Quota) -> None:
    """The seller's sold rights are no longer its to give back; the buyer's
    bought rights are."""
    await deliver_all(
        quota,
        [
            issued("PM-SELL", COD="5"),
            changed("PM-SELL", "COD", "5", "4", trade_id="T-1"),
            issued("PM-BUY", COD="2"),
            changed("PM-BUY", "COD", "2", "3", trade_id="T-1"),
        ],
    )
    assert await pending(quota) == []  # a trade's decrease frees nothing
    await deliver_all(
        quota,
        [
            changed("PM-SELL", "COD", "4", "40"),  # unbacked
            cancelled("PM-SELL", COD="40"),
            changed("PM-BUY", "COD", "3", "0"),
        ],
    )
    assert await pending(quota) == [
        ("permit_cancelled", "COD", "4.000"),
        ("permit_changed", "COD", "3.000"),
    ]


async def test_a_redelivered_or_repeated_cut_frees_once(quota: Quota) -> None:
    await testing.deliver(quota.app, issued("PM-RE", COD="3"))
    env = await testing.deliver(quota.app, changed("PM-RE", "COD", "3", "1"))
    await testing.redeliver(quota.app, env, "permit.events")
    await testing.deliver(quota.app, changed("PM-RE", "COD", "3", "1"))  # sent again, new id
    assert await pending(quota) == [("permit_changed", "COD", "2.000")]


async def test_a_permit_from_before_the_ceiling_is_trusted_as_it_stood(quota: Quota) -> None:
    """A permit the ledger has no record of (issued before it kept
    ceilings) is taken as backed at its amount when first seen; an
    unbacked raise after that still makes nothing."""
    await deliver_all(
        quota,
        [changed("PM-OLD", "COD", "10", "110"), changed("PM-OLD", "COD", "110", "0")],
    )
    assert await pending(quota) == [("permit_changed", "COD", "10.000")]


def test_the_ceiling_rule_without_a_database() -> None:
    from quota_svc.reclaims.rules import Backing, after_change, freed_on_cancel

    b, freed = after_change(Backing(1000, 1000), 1000, 100_000, pollutant="COD", trade=False)
    assert (b, freed) == (Backing(100_000, 1000), 0)
    assert after_change(b, 100_000, 0, pollutant="COD", trade=False) == (Backing(0, 0), 1000)
    assert after_change(b, 100_000, 400, pollutant="COD", trade=False) == (Backing(400, 400), 600)
    assert after_change(b, 100_000, 200_000, pollutant="VOCs", trade=False)[0].backed_kg == 101_000
    assert after_change(b, 100_000, 99_000, pollutant="COD", trade=True) == (Backing(99_000, 0), 0)
    assert after_change(None, 5000, 0, pollutant="NOx", trade=False) == (Backing(0, 0), 5000)
    assert freed_on_cancel(b, 100_000) == 1000
    assert freed_on_cancel(None, 7) == 7


async def test_a_change_replayed_after_later_ones_changes_nothing(quota: Quota) -> None:
    """A change whose starting amount is not the permit's as the ledger
    keeps it was applied already, before later changes (a replay after the
    inbox forgot it: a consumer reset to an old offset, say). Applied again
    it moved the ceiling back and freed 2 t the plant still holds."""
    cut = changed("PM-REPLAY", "VOCs", "10", "6")
    await deliver_all(
        quota,
        [issued("PM-REPLAY", VOCs="10"), cut, changed("PM-REPLAY", "VOCs", "6", "8")],
    )
    await testing.deliver(quota.app, cut)  # the same change, again, later
    assert await pending(quota) == [("permit_changed", "VOCs", "4.000")]
    await testing.deliver(quota.app, changed("PM-REPLAY", "VOCs", "8", "0"))
    assert await pending(quota) == [
        ("permit_changed", "VOCs", "4.000"),
        ("permit_changed", "VOCs", "8.000"),
    ]


async def test_a_candidate_by_hand_names_a_permit_of_its_own_district(quota: Quota) -> None:
    """A candidate entered by hand (POST /quota/reclaims) in one district
    could name a permit the ledger knows to be another district's: one
    district's closure credited to another's pool, past the two approvals a
    swap needs. Now a 422 naming permit_id and both districts, for an
    administrator and an officer of both districts alike; a permit the
    ledger never heard of is taken as before."""
    await testing.deliver(quota.app, issued("PM-J", VOCs="5"))
    body = {"district": BAODI, "amount_t": "1", "note": "现场检查发现关停", "permit_id": "PM-J"}
    both = testing.auth("officer", [JIZHOU, BAODI], sub="officer.two")
    for who in (ADMIN, both):
        for language, words in (("en", "district"), ("zh-CN", "所在区")):
            r = await quota.client.post(
                "/quota/reclaims", json=body, headers={**who, "Accept-Language": language}
            )
            assert r.status_code == 422, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            (error,) = r.json()["errors"]
            assert error["field"] == "permit_id" and words in error["message"], error
            assert "PM-J" in error["message"] and JIZHOU in error["message"], error
            assert BAODI in error["message"], error
    # An officer of the candidate's district alone is refused too, told
    # only that the permit is not of it.
    baodi = testing.auth("officer", [BAODI], sub="officer.baodi")
    r = await quota.client.post("/quota/reclaims", json=body, headers=baodi)
    assert r.status_code == 422, r.text
    (error,) = r.json()["errors"]
    assert error["field"] == "permit_id" and "PM-J" in error["message"], error
    assert JIZHOU not in error["message"] and BAODI in error["message"], error
    r = await quota.client.get("/quota/reclaims", params={"district": BAODI}, headers=ADMIN)
    assert r.json()["items"] == []  # nothing written
    for district, permit in ((JIZHOU, "PM-J"), (BAODI, "PM-NEVER-ANNOUNCED")):
        r = await quota.client.post(
            "/quota/reclaims",
            json={**body, "district": district, "permit_id": permit},
            headers=ADMIN,
        )
        assert r.status_code == 201, r.text
