"""Balances at past moments, reconciliation, the hold-expiry sweeper, four-eyes
adjustments and priority-reserve transfers, the journal's pages."""

from __future__ import annotations

import asyncio
import datetime as dt
import re

from quota_svc.reservations.service import expire_due
from svc_common import testing

from .conftest import ADMIN, ADMIN2, AUDITOR, BAODI, INVESTMENT, JIZHOU, OFFICER, Quota


async def test_balance_at_a_past_moment_is_what_it_was_then(quota: Quota) -> None:
    jan1 = "2026-01-01T00:00:00+08:00"
    await quota.baseline(JIZHOU, "30", effective_at=jan1)
    await asyncio.sleep(0.01)
    t1 = dt.datetime.now(dt.UTC)
    await asyncio.sleep(0.01)
    r = await quota.client.post(
        "/quota/reservations",
        json={"district": JIZHOU, "increment_t": "4", "project_ref": "P1"},
        headers=OFFICER,
    )
    assert r.status_code == 201

    async def at(when: str) -> dict:
        r = await quota.client.get(
            f"/quota/balances/{JIZHOU}/VOCs", params={"at": when}, headers=INVESTMENT
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    before = await at("2025-12-31T23:00:00+08:00")
    assert before["credited_t"] == "0.000"
    then = await at(t1.isoformat())
    assert (then["credited_t"], then["reserved_t"], then["available_t"]) == (
        "30.000",
        "0.000",
        "30.000",
    )
    now = await at(dt.datetime.now(dt.UTC).isoformat())
    assert (now["reserved_t"], now["available_t"]) == ("8.000", "22.000")
    # Back-dating before the pool's latest entry would rewrite history: refused.
    r = await quota.client.post(
        f"/quota/pools/{JIZHOU}/VOCs/baseline",
        json={"amount_t": "1", "effective_at": "2026-02-01T00:00:00+08:00"},
        headers=ADMIN,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "effective_at"
    r = await quota.client.get(
        f"/quota/balances/{JIZHOU}/VOCs?at=2026-01-01T00:00:00", headers=INVESTMENT
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "at"
    # One moment asked twice: the last was answered, as if the first was not sent.
    r = await quota.client.get(
        f"/quota/balances/{JIZHOU}/VOCs?at=2026-06-01T00:00:00Z&at=2025-12-31T23:00:00%2B08:00",
        headers={**INVESTMENT, "accept-language": "en"},
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == [
        {"field": "at", "message": "may be given once", "type": "repeated_parameter"}
    ]


async def test_balance_history_agrees_with_each_balance_at_its_moment(quota: Quota) -> None:
    await quota.baseline(JIZHOU, "30", effective_at="2026-01-01T00:00:00+08:00")
    await quota.baseline(BAODI, "12", effective_at="2026-03-01T00:00:00+08:00")
    r = await quota.client.post(
        "/quota/reservations",
        json={"district": JIZHOU, "increment_t": "4", "project_ref": "P1"},
        headers=OFFICER,
    )
    assert r.status_code == 201, r.text
    moments = [
        "2025-12-01T00:00:00+08:00",
        "2026-02-01T00:00:00+08:00",
        "2026-04-01T00:00:00+08:00",
        (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)).isoformat(),
    ]
    r = await quota.client.get(
        "/quota/balances", params={"pollutant": "VOCs", "at": moments}, headers=INVESTMENT
    )
    assert r.status_code == 200, r.text
    history = r.json()
    assert len(history) == 16 * len(moments)
    for row in history:
        one = await quota.client.get(
            f"/quota/balances/{row['district']}/VOCs", params={"at": row["at"]}, headers=INVESTMENT
        )
        assert one.status_code == 200, one.text
        assert {k: v for k, v in one.json().items() if k != "at"} == {
            k: v for k, v in row.items() if k not in ("at", "district")
        }
    jizhou = [row["available_t"] for row in history if row["district"] == JIZHOU]
    baodi = [row["credited_t"] for row in history if row["district"] == BAODI]
    assert jizhou == ["0.000", "30.000", "30.000", "22.000"]
    assert baodi == ["0.000", "0.000", "12.000", "12.000"]

    # A reader scoped to one district sees only it; the asked moments are bounded.
    r = await quota.client.get("/quota/balances", params={"pollutant": "VOCs"}, headers=OFFICER)
    assert r.status_code == 200 and {row["district"] for row in r.json()} == {JIZHOU}
    r = await quota.client.get(
        "/quota/balances", params={"pollutant": "VOCs", "district": BAODI}, headers=OFFICER
    )
    assert r.status_code == 403
    r = await quota.client.get(
        "/quota/balances",
        params={"pollutant": "VOCs", "at": [f"2026-01-{d:02d}T00:00:00Z" for d in range(1, 27)]},
        headers=INVESTMENT,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "at"
    r = await quota.client.get(
        "/quota/balances",
        params={"pollutant": "VOCs", "at": "2026-01-01T00:00:00"},
        headers=INVESTMENT,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"].startswith("at")


async def test_sweeper_expires_overdue_holds_once_and_reconciles(quota: Quota) -> None:
    await quota.baseline(JIZHOU, "30")
    r = await quota.client.put(
        f"/quota/settings/{JIZHOU}/VOCs",
        json={"offset_ratio": "1.5", "hold_days": 30},
        headers=ADMIN,
    )
    assert r.status_code == 200, r.text
    first = await quota.client.post(
        "/quota/reservations",
        json={"district": JIZHOU, "increment_t": "2", "project_ref": "P1"},
        headers=OFFICER,
    )
    assert first.json()["required_t"] == "3.000"  # at ratio 1.5
    await quota.client.put(
        f"/quota/settings/{JIZHOU}/VOCs",
        json={"offset_ratio": "2", "hold_days": 90},
        headers=ADMIN,
    )
    second = await quota.client.post(
        "/quota/reservations",
        json={"district": JIZHOU, "increment_t": "2", "project_ref": "P2"},
        headers=OFFICER,
    )
    assert second.json()["required_t"] == "4.000"
    # The first hold kept its ratio when the setting changed.
    got = await quota.client.get(f"/quota/reservations/{first.json()['id']}", headers=OFFICER)
    assert got.json()["offset_ratio"] == "1.50"

    db = quota.app.state.runtime.db
    in_31_days = dt.datetime.now(dt.UTC) + dt.timedelta(days=31)
    assert await expire_due(db, in_31_days) == 1
    assert await expire_due(db, in_31_days) == 0
    got = await quota.client.get(f"/quota/reservations/{first.json()['id']}", headers=OFFICER)
    assert got.json()["status"] == "expired"
    [expired] = await quota.events("quota.released.v1")
    assert (expired["reason"], expired["amount_t"]) == ("expired", "3.000")
    assert (await quota.availability(JIZHOU))["available_t"] == "26.000"
    alloc = await quota.client.post(
        f"/quota/reservations/{first.json()['id']}/allocate", json={}, headers=OFFICER
    )
    assert alloc.status_code == 409

    rec = await quota.client.get(f"/quota/reconciliation?district={JIZHOU}", headers=AUDITOR)
    assert rec.status_code == 200
    assert [(p["pool_id"], p["ok"], p["entries"]) for p in rec.json()["pools"]] == [
        ("120119:VOCs", True, 4)
    ]
    assert rec.json()["ok"] and [c["number"] for c in rec.json()["checks"]] == [1, 2, 3, 4, 5, 6]


async def test_reconciliation_says_what_each_check_verifies_in_the_callers_language(
    quota: Quota,
) -> None:
    """Each check's description was English only, under a zh-CN answer too:
    it is in the caller's language now (Chinese by default), its code as it
    was."""
    await quota.baseline(JIZHOU, "30")
    url = f"/quota/reconciliation?district={JIZHOU}"
    zh = await quota.client.get(url, headers={**AUDITOR, "Accept-Language": "zh-CN"})
    en = await quota.client.get(url, headers={**AUDITOR, "Accept-Language": "en"})
    assert (zh.status_code, en.status_code) == (200, 200), zh.text
    assert zh.headers["content-language"] == "zh-CN"
    zh_checks, en_checks = zh.json()["checks"], en.json()["checks"]
    assert (
        [c["code"] for c in zh_checks]
        == [c["code"] for c in en_checks]
        == [
            "journal_replays_to_balances",
            "lots_sum_to_pools",
            "lineage_sums_to_allocations",
            "holdings_sum_to_allocations",
            "debts_consistent",
            "register_chain_intact",
        ]
    )
    cjk = re.compile("[\u4e00-\u9fff]")
    for c in zh_checks:
        assert cjk.search(c["description"]) and not re.search("[a-z]{3}", c["description"]), c
    assert zh_checks[0]["description"] == "各总量池的流水重放结果与其存储余额一致"
    for c in en_checks:
        assert not cjk.search(c["description"]), c
    assert en_checks[0]["description"] == "each pool's journal replays to its stored balance"


async def test_reconciliation_finds_a_hold_its_lots_do_not_hold(quota: Quota) -> None:
    """R3 ties each held reservation to its lots' movements: a hold whose
    lots were never moved for it (a write cut short) fails the check, though
    the pool, its lots and the reservation row each still add up."""
    from quota_svc.lots.models import LotMovement
    from sqlalchemy import update

    await quota.baseline(JIZHOU, "30")
    made = await quota.client.post(
        "/quota/reservations",
        json={"district": JIZHOU, "increment_t": "1", "project_ref": "R3-1"},
        headers=OFFICER,
    )
    assert made.status_code == 201, made.text
    rid = made.json()["id"]
    rec = await quota.client.get(f"/quota/reconciliation?district={JIZHOU}", headers=AUDITOR)
    assert rec.json()["ok"], rec.json()
    async with quota.app.state.runtime.db.transaction() as s:
        await s.execute(
            update(LotMovement)
            .where(LotMovement.reservation_id == rid)
            .values(reservation_id="another-hold")
        )
    rec = await quota.client.get(f"/quota/reconciliation?district={JIZHOU}", headers=AUDITOR)
    (r3,) = [c for c in rec.json()["checks"] if c["number"] == 3]
    assert not r3["ok"] and any(rid in f for f in r3["failures"]), r3
    assert [c["number"] for c in rec.json()["checks"] if not c["ok"]] == [3]


async def test_adjustments_need_a_second_person(quota: Quota) -> None:
    await quota.baseline(JIZHOU, "10")
    base = f"/quota/pools/{JIZHOU}/VOCs/adjustments"
    r = await quota.client.post(
        base, json={"amount_t": "-2.5", "note": "double count"}, headers=ADMIN
    )
    assert r.status_code == 201 and r.json()["status"] == "proposed"
    adj = r.json()["id"]
    same = await quota.client.post(f"{base}/{adj}/approve", headers=ADMIN)
    assert same.status_code == 409 and "four eyes" in same.json()["detail"]
    assert (await quota.availability(JIZHOU))["credited_t"] == "10.000"
    ok = await quota.client.post(f"{base}/{adj}/approve", headers=ADMIN2)
    assert ok.status_code == 200 and ok.json()["status"] == "approved"
    again = await quota.client.post(f"{base}/{adj}/approve", headers=testing.auth("admin", sub="c"))
    assert again.status_code == 409
    assert (await quota.availability(JIZHOU))["credited_t"] == "7.500"
    # A decrease beyond what is available is refused on approval.
    r = await quota.client.post(base, json={"amount_t": "-8", "note": "x"}, headers=ADMIN)
    big = await quota.client.post(f"{base}/{r.json()['id']}/approve", headers=ADMIN2)
    assert big.status_code == 409 and big.json()["shortfall_t"] == "0.500"


async def test_manual_reclaim_needs_a_second_officer(quota: Quota) -> None:
    body = {"district": JIZHOU, "amount_t": "1.2", "source": "reduction", "note": "活性炭+RTO"}
    r = await quota.client.post("/quota/reclaims", json=body, headers=OFFICER)
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    same = await quota.client.post(f"/quota/reclaims/{rid}/confirm", headers=OFFICER)
    assert same.status_code == 409
    other = testing.auth("officer", [JIZHOU], sub="officer.zhao")
    ok = await quota.client.post(f"/quota/reclaims/{rid}/confirm", headers=other)
    assert ok.status_code == 200 and ok.json()["status"] == "confirmed"
    rej = await quota.client.post(
        f"/quota/reclaims/{rid}/reject", json={"reason": "late"}, headers=other
    )
    assert rej.status_code == 409
    a = await quota.availability(JIZHOU)
    assert (a["credited_t"], a["reclaimed_t"]) == ("1.200", "1.200")
    [confirmed] = await quota.events("quota.reclaim_confirmed.v1")
    assert (confirmed["source"], confirmed["confirmed_by"]) == ("reduction", "officer.zhao")


async def test_the_proposer_under_another_case_of_their_sub_is_the_proposer(
    quota: Quota,
) -> None:
    """Four eyes compared subs as exact strings: `Admin.Zhang` approved
    what `admin.zhang` proposed, `Officer.Wang` confirmed what
    `officer.wang` entered. A sub is one person's in any case
    (svc_common.auth.same_person); nothing is written."""
    await quota.baseline(JIZHOU, "10")
    base = f"/quota/pools/{JIZHOU}/VOCs/adjustments"
    r = await quota.client.post(base, json={"amount_t": "-2", "note": "double"}, headers=ADMIN)
    adj = r.json()["id"]
    for sub in ("Admin.Zhang", "ADMIN.ZHANG"):
        h = testing.auth("admin", sub=sub)
        for action in ("approve", "reject"):
            same = await quota.client.post(f"{base}/{adj}/{action}", headers=h)
            assert same.status_code == 409 and "four eyes" in same.json()["detail"], same.text
    assert (await quota.availability(JIZHOU))["credited_t"] == "10.000"
    body = {"district": JIZHOU, "amount_t": "1.2", "source": "manual", "note": "关停"}
    rid = (await quota.client.post("/quota/reclaims", json=body, headers=OFFICER)).json()["id"]
    h = testing.auth("officer", [JIZHOU], sub="Officer.Wang")
    same = await quota.client.post(f"/quota/reclaims/{rid}/confirm", headers=h)
    assert same.status_code == 409 and "four eyes" in same.json()["detail"], same.text
    assert (await quota.availability(JIZHOU))["reclaimed_t"] == "0.000"


async def test_priority_reserve_moves_are_admin_only(quota: Quota) -> None:
    await quota.baseline(JIZHOU, "10")
    url = f"/quota/pools/{JIZHOU}/VOCs/transfers"
    body = {"source": "district", "target": "reserve", "amount_t": "3", "note": "政府储备"}
    assert (await quota.client.post(url, json=body, headers=OFFICER)).status_code == 403
    r = await quota.client.post(url, json=body, headers=ADMIN)
    assert r.status_code == 201, r.text
    assert [e["amount_t"] for e in r.json()] == ["-3.000", "3.000"]
    too_much = await quota.client.post(url, json={**body, "amount_t": "7.001"}, headers=ADMIN)
    assert too_much.status_code == 409
    # Officers cannot draw on the reserve; an admin can.
    res = {
        "district": JIZHOU,
        "increment_t": "1",
        "project_ref": "school",
        "priority_reserve": True,
    }
    assert (
        await quota.client.post("/quota/reservations", json=res, headers=OFFICER)
    ).status_code == 403
    r = await quota.client.post("/quota/reservations", json=res, headers=ADMIN)
    assert r.status_code == 201 and r.json()["pool_id"] == "120119:VOCs:reserve"
    assert (await quota.availability(JIZHOU))["available_t"] == "7.000"


async def test_journal_pages_with_a_cursor(quota: Quota) -> None:
    for _ in range(5):
        await quota.baseline(JIZHOU, "1")
    seen: list[int] = []
    cursor = None
    while True:
        params = {"district": JIZHOU, "limit": 2, **({"cursor": cursor} if cursor else {})}
        r = await quota.client.get("/quota/journal", params=params, headers=AUDITOR)
        assert r.status_code == 200, r.text
        seen += [e["id"] for e in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 5 and seen == sorted(seen)
    assert (await quota.client.get("/quota/journal?cursor=zzz", headers=AUDITOR)).status_code == 422


async def test_two_sweepers_never_expire_one_hold_twice(pg_url: str) -> None:
    """Two replicas' sweepers race on PostgreSQL (FOR UPDATE SKIP LOCKED)."""
    from quota_svc.app import create
    from quota_svc.settings import Settings
    from svc_common.db import Database
    from svc_common.settings import ServiceSettings

    app = create(Settings(database_url=pg_url, log_json=False, hold_sweep_seconds=3600))
    async with testing.running(app) as client:
        await client.post(
            f"/quota/pools/{JIZHOU}/VOCs/baseline", json={"amount_t": "100"}, headers=ADMIN
        )
        for i in range(40):
            r = await client.post(
                "/quota/reservations",
                json={"district": JIZHOU, "increment_t": "1", "project_ref": f"P{i}"},
                headers=OFFICER,
            )
            assert r.status_code == 201
        url = ServiceSettings(database_url=pg_url).database_url
        replicas = [Database(url), Database(url)]
        later = dt.datetime.now(dt.UTC) + dt.timedelta(days=181)
        try:
            counts = await asyncio.gather(*(expire_due(db, later, batch=7) for db in replicas))
        finally:
            for db in replicas:
                await db.dispose()
        assert sum(counts) == 40
        quota = Quota(app, client)
        assert len(await quota.events("quota.released.v1")) == 40
        assert (await quota.availability(JIZHOU))["available_t"] == "100.000"


async def test_a_misspelt_field_is_refused_not_defaulted(quota: Quota) -> None:
    """`polutant` reserved VOCs, and a baseline's `efective_at` was credited
    now: an unknown field is a 422 naming it, and nothing is written."""
    await quota.baseline(JIZHOU, "30", effective_at="2026-01-01T00:00:00+08:00")
    zh = {"accept-language": "zh-CN"}
    r = await quota.client.post(
        "/quota/reservations",
        json={
            "district": JIZHOU,
            "increment_t": "0.001",
            "project_ref": "typo-1",
            "polutant": "NOx",
        },
        headers={**OFFICER, **zh},
    )
    assert r.status_code == 422, r.text
    assert [(e["field"], e["message"]) for e in r.json()["errors"]] == [
        ("polutant", "不接受此字段")
    ]
    r = await quota.client.post(
        f"/quota/pools/{JIZHOU}/VOCs/baseline",
        json={"amount_t": "5", "efective_at": "2026-02-01T00:00:00+08:00"},
        headers={**ADMIN, **zh},
    )
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["efective_at"]
    # The pool is as it was: no hold, no second credit.
    pool = await quota.availability(JIZHOU)
    assert (pool["credited_t"], pool["reserved_t"]) == ("30.000", "0.000")
    # Every other quota write refuses one too (a sample, one per model).
    for method, path, body in (
        ("POST", "/quota/checks", {"district": JIZHOU, "increment_t": "1", "x": 1}),
        (
            "POST",
            f"/quota/pools/{JIZHOU}/VOCs/transfers",
            {"source": "district", "target": "reserve", "amount_t": "1", "x": 1},
        ),
        ("POST", f"/quota/pools/{JIZHOU}/VOCs/adjustments", {"amount_t": "1", "note": "n", "x": 1}),
        ("PUT", f"/quota/settings/{JIZHOU}/VOCs", {"hold_days": 30, "x": 1}),
        (
            "POST",
            "/quota/swaps",
            {"from": JIZHOU, "to": BAODI, "amount_t": "1", "reason": "r", "x": 1},
        ),
    ):
        r = await quota.client.request(method, path, json=body, headers=ADMIN)
        assert r.status_code == 422, (path, r.text)
        assert [e["field"] for e in r.json()["errors"]] == ["x"], (path, r.text)


async def test_a_pool_or_park_of_no_such_form_is_said_in_words_not_as_a_pattern(
    quota: Quota,
) -> None:
    """A pool (`?pool=`, a transfer's `source`), a park id, a cursor that is
    of no form this API takes was refused with the regex itself ("格式不符合
    ^(district|reserve|park:[A-Za-z0-9_.\\-]{1,64})$"): each is said in words,
    in the caller's language, and nothing is written."""
    await quota.baseline(JIZHOU, "30", effective_at="2026-01-01T00:00:00+08:00")
    refused = (
        ("GET", f"/quota/balances/{JIZHOU}/VOCs?pool=park:a%20b", None, "pool", "park:园区编号"),
        ("GET", "/quota/balances?pollutant=VOCs&pool=park:P1", None, "pool", "district 或 reserve"),
        ("GET", "/quota/journal?cursor=a%20b", None, "cursor", "不是本接口返回的翻页游标"),
        (
            "POST",
            f"/quota/pools/{JIZHOU}/VOCs/transfers",
            {"source": "the district", "target": "reserve", "amount_t": "1"},
            "source",
            "必须是 district、reserve 或 park:园区编号",
        ),
        (
            "POST",
            "/quota/checks",
            {"district": JIZHOU, "increment_t": "1", "park_id": "园区一"},
            "park_id",
            "不是园区编号",
        ),
        (
            "POST",
            "/quota/reservations",
            {"district": JIZHOU, "increment_t": "1", "project_ref": "P-1", "park_id": "a b"},
            "park_id",
            "不是园区编号",
        ),
    )
    for method, path, body, field, words in refused:
        for lang in ("zh-CN", "en"):
            r = await quota.client.request(
                method, path, json=body, headers={**ADMIN, "accept-language": lang}
            )
            assert r.status_code == 422, (path, r.text)
            (error,) = r.json()["errors"]
            assert error["field"] == field
            assert "^" not in error["message"] and "[A-Za-z" not in error["message"], error
            if lang == "zh-CN":
                assert words in error["message"], error
            else:
                assert error["message"].isascii(), error
    pool = await quota.availability(JIZHOU)
    assert (pool["credited_t"], pool["reserved_t"]) == ("30.000", "0.000")


async def test_a_moment_in_a_query_is_read_as_clients_write_it(quota: Quota) -> None:
    """`?at=` written by .NET ("o" format: seven decimals of a second) or
    Java's Instant (nine) was refused as "必须是带时区偏移的 ISO 8601
    日期时间", which it is: it is read to the microsecond. One whose '+'
    the URL made a space (`?at=…T09:30:00+08:00` unencoded) was refused in
    the same words, naming the form it was written in; it is now said how
    to write the offset, as for a record's time."""
    await quota.baseline(JIZHOU, "30", effective_at="2026-01-01T00:00:00+08:00")
    path = f"/quota/balances/{JIZHOU}/VOCs"
    for at, moment in (
        ("2026-06-01T09:30:00.1234567+08:00", "2026-06-01T01:30:00.123456Z"),
        ("2026-06-01T01:30:00.123456789Z", "2026-06-01T01:30:00.123456Z"),
    ):
        r = await quota.client.get(path, params={"at": at}, headers=INVESTMENT)
        assert r.status_code == 200, r.text
        assert r.json()["credited_t"] == "30.000"
        assert dt.datetime.fromisoformat(r.json()["at"]) == dt.datetime.fromisoformat(moment)
    for lang, said in (("zh-CN", "请将偏移写作 %2B08:00"), ("en", "write the offset as %2B08:00")):
        r = await quota.client.get(
            f"{path}?at=2026-06-01T09:30:00+08:00",
            headers={**INVESTMENT, "accept-language": lang},
        )
        assert r.status_code == 422, r.text
        (error,) = r.json()["errors"]
        assert error["field"] == "at" and said in error["message"], error
