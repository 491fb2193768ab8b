"""Every time-dependent feature, tried as a user of the embedded default would:
started with CLOCK=manual, driven through the HTTP API, with time moved by an
administrator through POST /admin/clock (which runs every sweeper).

Statutory clocks of each EIA channel and the overdue list; permit and
registration expiry; renewal reminders; a hold's expiry lapsing its filing
across services and the retry that secures it again; audit rectification
deadlines and the overdue findings list; the 12369 complaint clocks; a
cross-district swap's cancellable delay."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from svc_common import clock, testing
from svc_common.uscc import make_uscc

from bureau.embedded import Embedded

JIZHOU = "120119"
BAODI = "120115"
ADMIN = testing.auth("admin", sub="admin.zhang")
OFFICER = testing.auth("officer", [JIZHOU, BAODI], sub="officer.wang")
FILER = testing.auth("filer", sub="filer.machine-1")
#: Who decides the filings OFFICER entered for their applicants (four eyes).
DECIDER = testing.auth("officer", [JIZHOU, BAODI], sub="officer.chen")
#: 2026-03-02 09:00 in Beijing.
START = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
CST = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture
async def bureau(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The embedded default as `CLOCK=manual make run` starts it: a flowing
    manual clock from START, moved only through /admin/clock."""
    previous = clock.current()
    embedded = Embedded(
        tmp_path,
        log_json=False,
        clock="manual",
        clock_start=START,
        registration_term_years=1,
    )
    try:
        async with embedded.lifespan():
            transport = httpx.ASGITransport(app=embedded)
            async with httpx.AsyncClient(
                transport=transport,
                base_url="http://bureau",
                headers={"Accept-Language": "en"},
            ) as c:
                r = await c.get("/admin/clock", headers=ADMIN)
                assert r.json()["mode"] == "manual" and r.json()["flowing"] is True
                yield c
    finally:
        clock.install(previous)


async def move(c: httpx.AsyncClient, **body: str) -> dt.datetime:
    r = await c.post("/admin/clock", json=body, headers=ADMIN)
    assert r.status_code == 200, r.text
    return dt.datetime.fromisoformat(r.json()["now"])


async def eventually(
    read: Callable[[], Any], ok: Callable[[Any], bool], what: str = "state"
) -> Any:
    """What `read` returns once `ok` holds: events travel after the commit."""
    got: Any = None
    for _ in range(250):
        got = await read()
        if ok(got):
            return got
        await asyncio.sleep(0.02)
    raise AssertionError(f"{what} never reached the expected state: {got}")


def company(district: str, serial: int) -> str:
    return make_uscc(district, 7_000_000 + serial)


def filing(n: int, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "project_name": f"项目{n}",
        "uscc": company(JIZHOU, n),
        "enterprise_name": f"天津某企业{n}有限公司",
        "district": JIZHOU,
        "project_type": "C3670",
        "category": "report_form",
        "vocs_increment_t": "0",
    }
    body.update(over)
    return body


async def submit(c: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    r = await c.post("/eia/filings", json=body, headers=OFFICER)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def act(
    c: httpx.AsyncClient,
    fid: str,
    action: str,
    status: int = 200,
    json: dict[str, Any] | None = None,
) -> dict[str, Any]:
    who = DECIDER if action in ("approve", "reject") else OFFICER
    r = await c.post(f"/eia/filings/{fid}/{action}", headers=who, json=json)
    assert r.status_code == status, r.text
    return dict(r.json())


async def overdue_ids(c: httpx.AsyncClient) -> set[str]:
    r = await c.get("/eia/filings", params={"overdue": "true", "limit": 200}, headers=OFFICER)
    assert r.status_code == 200, r.text
    return {f["id"] for f in r.json()["items"]}


async def test_statutory_clocks_of_every_channel_and_the_overdue_list(
    bureau: httpx.AsyncClient,
) -> None:
    c = bureau
    r = await c.post(
        "/eia/parks",
        json={
            "id": "JZ-PARK",
            "name": "蓟州区某工业园",
            "district": JIZHOU,
            "covered_project_types": ["C2319"],
            "vocs_subpool_t": "0",
        },
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text
    normal_report = await submit(c, filing(1, project_type="C2614", category="report"))
    normal_form = await submit(c, filing(2))
    never_accepted = await submit(c, filing(3))
    green_report = await submit(
        c,
        filing(
            4,
            project_type="E4813",
            category="report",
            major_project=True,
            major_kind="infrastructure",
        ),
    )
    green_form = await submit(
        c, filing(5, major_project=True, major_kind="livelihood", project_type="C2319")
    )
    bundled = await submit(c, filing(6, project_type="C2319", park_id="JZ-PARK"))
    decided = await submit(c, filing(7, project_type="C2319", park_id="JZ-PARK"))
    # A major project's claim and a park wait for an officer: accepted on
    # arrival (即到即受理), the claims confirmed (green channel).
    green_report, green_form = [
        await act(c, f["id"], "accept", json={"green_channel": True})
        for f in (green_report, green_form)
    ]
    bundled = await act(c, bundled["id"], "accept")
    await act(c, decided["id"], "accept")
    assert [f["channel"] for f in (green_report, green_form, bundled)] == [
        "green",
        "green",
        "bundled",
    ]
    # The normal channel's clock starts at acceptance, a day after arrival.
    await move(c, advance="P1D")
    for f in (normal_report, normal_form):
        await act(c, f["id"], "accept")
    await act(c, decided["id"], "approve")

    limits = {  # days from acceptance to decision
        normal_report["id"]: 61,  # 60 + the day before acceptance
        normal_form["id"]: 31,
        green_report["id"]: 20,
        green_form["id"]: 10,
        bundled["id"]: 10,
    }
    # Each runs to the end of its last Beijing day, a day off moved on to
    # the next working day: accepted 3 March, the report's 60 days end on
    # 2 May (Labour Day, off to 5 May), so 6 May; the green report's 20 from
    # 2 March on Sunday 22 March, so 23 March.
    last_days = {
        normal_report["id"]: "2026-05-06",
        normal_form["id"]: "2026-04-02",
        green_report["id"]: "2026-03-23",
        green_form["id"]: "2026-03-12",
        bundled["id"]: "2026-03-12",
    }
    for fid, days in limits.items():
        f = (await c.get(f"/eia/filings/{fid}", headers=OFFICER)).json()
        assert dt.datetime.fromisoformat(f["due_at"]) - START >= dt.timedelta(days=days - 1)
        assert f["due_on"] == last_days[fid]
        end = dt.date.fromisoformat(last_days[fid]) + dt.timedelta(days=1)
        beijing = dt.timezone(dt.timedelta(hours=8))
        assert dt.datetime.fromisoformat(f["due_at"]) == dt.datetime.combine(
            end, dt.time(), beijing
        )
    assert await overdue_ids(c) == set()

    # Walk the calendar: each filing appears on the list just after its deadline.
    dues = {
        fid: dt.datetime.fromisoformat(
            (await c.get(f"/eia/filings/{fid}", headers=OFFICER)).json()["due_at"]
        )
        for fid in limits
    }
    now = START
    for fid, due in sorted(dues.items(), key=lambda kv: kv[1]):
        if due - dt.timedelta(seconds=2) > now:
            now = await move(c, to=(due - dt.timedelta(seconds=2)).isoformat())
            assert fid not in await overdue_ids(c)
        after = max(due + dt.timedelta(seconds=2), now + dt.timedelta(seconds=1))
        now = await move(c, to=after.isoformat())
        expected = {f for f, d in dues.items() if d < now}
        assert fid in expected
        assert await overdue_ids(c) == expected
        assert (await c.get(f"/eia/filings/{fid}", headers=OFFICER)).json()["overdue"] is True
    assert expected == set(limits)
    assert never_accepted["id"] not in expected and decided["id"] not in expected

    # A decision takes a filing off the list, however late it came.
    await act(c, green_form["id"], "evaluation-done")
    await act(c, green_form["id"], "review-done")
    await act(c, green_form["id"], "reject", json={"reason": "不符合审批条件"})
    assert await overdue_ids(c) == expected - {green_form["id"]}


def ndjson(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "content": "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode(),
        "headers": {**ADMIN, "Content-Type": "application/x-ndjson"},
    }


async def enterprises(c: httpx.AsyncClient, rows: list[tuple[str, str, str]]) -> None:
    body = [
        {"uscc": u, "name": f"企业{u[-4:]}", "district": d, "industry_code": ind}
        for u, d, ind in rows
    ]
    r = await c.post("/permit/enterprises:import", **ndjson(body))
    assert r.status_code == 200, r.text
    totals = r.json()["totals"]
    assert totals["error"] == totals["conflict"] == 0, r.text


async def import_permit(c: httpx.AsyncClient, uscc: str, valid_to: dt.date) -> dict[str, Any]:
    row = {
        "uscc": uscc,
        "pollutants": [{"pollutant": "VOCs", "amount_t": "3.5"}],
        "valid_from": (valid_to - dt.timedelta(days=5 * 365)).isoformat(),
        "valid_to": valid_to.isoformat(),
    }
    r = await c.post("/permit/permits:import", **ndjson([row]))
    assert r.status_code == 200 and r.json()["totals"]["created"] == 1, r.text
    pid = r.json()["results"][0]["id"]
    return dict((await c.get(f"/permit/permits/{pid}", headers=OFFICER)).json())


async def permit_status(c: httpx.AsyncClient, pid: str) -> str:
    return str((await c.get(f"/permit/permits/{pid}", headers=OFFICER)).json()["status"])


async def test_permit_expiry_renewal_reminders_and_registration_expiry(
    bureau: httpx.AsyncClient,
) -> None:
    c = bureau
    today = START.astimezone(CST).date()
    soon, later, far = company(BAODI, 1), company(BAODI, 2), company(BAODI, 3)
    registered = company(BAODI, 4)
    await enterprises(
        c,
        [
            (soon, BAODI, "C2641"),
            (later, BAODI, "C2641"),
            (far, BAODI, "C3011"),
            (registered, BAODI, "C2921"),
        ],
    )
    expiring = await import_permit(c, soon, today + dt.timedelta(days=10))
    reminded = await import_permit(c, later, today + dt.timedelta(days=90))
    steady = await import_permit(c, far, today + dt.timedelta(days=1000))
    assert expiring["renewal_due"] == (today + dt.timedelta(days=10 - 60)).isoformat()
    r = await c.post("/permit/registrations", json={"uscc": registered}, headers=OFFICER)
    assert r.status_code == 201, r.text
    reg = r.json()
    assert (
        reg["valid_to"] == (today.replace(year=today.year + 1) - dt.timedelta(days=1)).isoformat()
    )

    async def reminders() -> set[str]:
        r = await c.get("/permit/permits", params={"expiring_within_days": 60}, headers=OFFICER)
        assert r.status_code == 200, r.text
        return {p["id"] for p in r.json()["items"]}

    async def valid_permits() -> int:
        r = await c.get("/permit/reports/coverage", params={"district": BAODI}, headers=OFFICER)
        assert r.status_code == 200, r.text
        return int(r.json()["with_valid_permit"])

    assert await reminders() == {expiring["id"]}
    assert await valid_permits() == 3
    # Thirty-one days on: the first has expired, the second is now due for renewal.
    await move(c, advance="P31D")
    assert await permit_status(c, expiring["id"]) == "expired"
    assert await reminders() == {reminded["id"]}
    assert await valid_permits() == 2
    expired = await c.get("/permit/permits", params={"status": "expired"}, headers=OFFICER)
    assert [p["id"] for p in expired.json()["items"]] == [expiring["id"]]
    trail = await c.get("/permit/audit", params={"target_id": expiring["id"]}, headers=ADMIN)
    expiry = [e for e in trail.json()["items"] if e["action"] == "permit.expire"]
    assert [e["actor"] for e in expiry] == ["system"], trail.text
    # Renewing a permit due for renewal takes it off the reminder list.
    r = await c.post(f"/permit/permits/{reminded['id']}/renew", headers=OFFICER)
    assert r.status_code == 200, r.text
    assert r.json()["valid_to"] > reminded["valid_to"]
    assert await reminders() == set()
    # Renewal is refused while expiry is more than a year away.
    r = await c.post(f"/permit/permits/{steady['id']}/renew", headers=OFFICER)
    assert r.status_code == 409, r.text

    # The one-year registration expires on the day after its valid_to.
    valid_to = dt.date.fromisoformat(reg["valid_to"])
    last_day = dt.datetime.combine(valid_to, dt.time(23, 59), tzinfo=CST)
    await move(c, to=last_day.isoformat())
    r = await c.get(f"/permit/registrations/{reg['id']}", headers=OFFICER)
    assert r.json()["status"] == "active", r.text
    await move(c, advance="PT2M")
    r = await c.get(f"/permit/registrations/{reg['id']}", headers=OFFICER)
    assert r.json()["status"] == "expired", r.text
    assert await permit_status(c, steady["id"]) == "issued"


async def _green_filing_on_ten_tonnes(
    c: httpx.AsyncClient, serial: int, increment_t: str
) -> dict[str, Any]:
    """Jizhou's VOCs pool at ratio 2.0 and 30-day holds with a 10 t
    baseline, and a green-channel filing (accepted by the officer) asking for
    `increment_t` × 2.0."""
    r = await c.put(
        f"/quota/settings/{JIZHOU}/VOCs",
        json={"offset_ratio": "2.0", "hold_days": 30},
        headers=ADMIN,
    )
    assert r.status_code == 200, r.text
    r = await c.post(f"/quota/pools/{JIZHOU}/VOCs/baseline", json={"amount_t": "10"}, headers=ADMIN)
    assert r.status_code == 201, r.text
    f = await submit(
        c,
        filing(
            serial,
            project_type="C2641",
            industry_code="C2641",
            vocs_increment_t=increment_t,
            major_project=True,
            major_kind="industrial_layout",
        ),
    )
    # The officer accepts it, confirming the claim: its quota is asked.
    return await act(c, f["id"], "accept", json={"green_channel": True})


async def test_a_hold_expires_the_filing_lapses_and_a_retry_secures_it_again(
    bureau: httpx.AsyncClient,
) -> None:
    c = bureau
    # A green-channel filing, once accepted, asks for 1.5 × 2.0 = 3 t.
    f = await _green_filing_on_ten_tonnes(c, 11, "1.5")

    async def read() -> dict[str, Any]:
        return dict((await c.get(f"/eia/filings/{f['id']}", headers=OFFICER)).json())

    async def balance() -> dict[str, Any]:
        return dict((await c.get(f"/quota/balances/{JIZHOU}/VOCs", headers=ADMIN)).json())

    secured = await eventually(read, lambda x: x["quota_status"] == "secured", "filing")
    hold = (await c.get(f"/quota/reservations/{secured['reservation_id']}", headers=OFFICER)).json()
    assert (await balance())["reserved_t"] == "3.000"
    await act(c, f["id"], "evaluation-done")
    await act(c, f["id"], "review-done")

    # A day before the hold's expiry nothing happens; a day after, quota-svc
    # releases it and the filing shows its quota lapsed.
    expires = dt.datetime.fromisoformat(hold["expires_at"])
    await move(c, to=(expires - dt.timedelta(days=1)).isoformat())
    assert (await read())["quota_status"] == "secured"
    await move(c, advance="P2D")
    lapsed = await eventually(read, lambda x: x["quota_status"] == "lapsed", "filing")
    r = await c.get(f"/quota/reservations/{hold['id']}", headers=OFFICER)
    assert r.json()["status"] == "expired"
    assert (await balance())["reserved_t"] == "0.000"
    refused = await act(c, f["id"], "approve", status=409)
    assert refused["quota_status"] == "lapsed" and refused["allowed"] == ["quota-retry"]

    # The retry asks again (attempt 2), is held at once, and approval allocates.
    await act(c, f["id"], "quota-retry")
    again = await eventually(read, lambda x: x["quota_status"] == "secured", "filing")
    assert again["quota_attempt"] == 2 and again["reservation_id"] != lapsed["reservation_id"]
    await act(c, f["id"], "approve")
    done = await eventually(read, lambda x: x["quota_status"] == "allocated", "filing")
    assert done["quota_allocated_t"] == "3.000"
    assert (await balance())["allocated_t"] == "3.000"
    # The approved project became a permit application in permit-svc.
    drafts = await eventually(
        lambda: c.get("/permit/permits", params={"status": "applied"}, headers=OFFICER),
        lambda r: any(p["source_filing_id"] == f["id"] for p in r.json()["items"]),
        "permit draft",
    )
    assert drafts.status_code == 200


async def test_rectification_deadlines_and_the_overdue_findings(
    bureau: httpx.AsyncClient,
) -> None:
    c = bureau
    today = START.astimezone(CST).date()
    uscc = company(BAODI, 21)
    await enterprises(c, [(uscc, BAODI, "C2641")])
    permit = await import_permit(c, uscc, today + dt.timedelta(days=800))
    findings = [
        {"description": "排放口信息不全", "rectification_deadline": str(today + dt.timedelta(10))},
        {
            "description": "自行监测方案缺项",
            "rectification_deadline": str(today + dt.timedelta(30)),
        },
    ]
    r = await c.post(
        f"/permit/permits/{permit['id']}/audits",
        json={"result": "findings", "findings": findings},
        headers=OFFICER,
    )
    assert r.status_code == 201, r.text
    audit = r.json()
    # A deadline already past is refused: "today" is the clock's.
    late = await c.post(
        f"/permit/permits/{permit['id']}/audits",
        json={
            "result": "findings",
            "findings": [
                {"description": "x", "rectification_deadline": str(today - dt.timedelta(1))}
            ],
        },
        headers=OFFICER,
    )
    assert late.status_code == 422, late.text

    async def overdue() -> list[dict[str, Any]]:
        r = await c.get("/permit/audits", params={"overdue": "true"}, headers=OFFICER)
        assert r.status_code == 200, r.text
        return list(r.json()["items"])

    assert await overdue() == []
    # The deadline day itself is in time; the day after, the finding is overdue.
    last_day = dt.datetime.combine(today + dt.timedelta(10), dt.time(23, 0), tzinfo=CST)
    await move(c, to=last_day.isoformat())
    assert await overdue() == []
    await move(c, advance="PT2H")
    (listed,) = await overdue()
    assert listed["id"] == audit["id"]
    assert [f["overdue"] for f in listed["findings"]] == [True, False]
    # Rectified late, it leaves the list; the second finding runs out later.
    first = listed["findings"][0]["id"]
    r = await c.post(
        f"/permit/audits/{audit['id']}/findings/{first}/rectify",
        json={"note": "已补充"},
        headers=OFFICER,
    )
    assert r.status_code == 200, r.text
    assert await overdue() == []
    await move(c, advance="P21D")
    (listed,) = await overdue()
    assert [f["overdue"] for f in listed["findings"]] == [False, True]
    progress = await c.get("/permit/reports/audit-progress", headers=OFFICER)
    assert progress.status_code == 200, progress.text
    moved = (await c.get("/admin/clock", headers=ADMIN)).json()["now"]
    local_day = dt.datetime.fromisoformat(moved).astimezone(CST).date()
    assert progress.json()["as_of"] == local_day.isoformat()
    assert progress.json()["audited"] == 1 and progress.json()["valid_permits"] == 1


async def test_the_12369_statutory_clocks_of_a_complaint(bureau: httpx.AsyncClient) -> None:
    """A complaint is accepted within its working days and closed within its
    own; past either deadline it is on the overdue list until acted on."""
    c = bureau
    now = dt.datetime.fromisoformat((await c.get("/admin/clock", headers=ADMIN)).json()["now"])
    body = {
        "channel": "hotline",
        "received_at": now.isoformat(),
        "district": BAODI,
        "address": "宝坻区某镇某村",
        "category": "odor",
        "description": "夜间有刺鼻气味",
    }
    r = await c.post("/supervision/complaints", json=body, headers=OFFICER)
    assert r.status_code == 201, r.text
    complaint = r.json()["complaint"]
    accept_due = dt.datetime.fromisoformat(complaint["accept_due"])
    assert accept_due > now + dt.timedelta(days=2)  # three working days

    async def overdue() -> set[str]:
        r = await c.get("/supervision/complaints", params={"overdue": "true"}, headers=OFFICER)
        assert r.status_code == 200, r.text
        return {x["id"] for x in r.json()["items"]}

    await move(c, to=(accept_due - dt.timedelta(minutes=1)).isoformat())
    assert await overdue() == set()
    await move(c, advance="PT2M")
    assert await overdue() == {complaint["id"]}
    r = await c.get(f"/supervision/complaints/{complaint['id']}", headers=OFFICER)
    assert r.json()["overdue"] is True, r.text

    # Accepted late, it leaves the list; its closing clock runs from acceptance.
    r = await c.post(f"/supervision/complaints/{complaint['id']}/accept", json={}, headers=OFFICER)
    assert r.status_code == 200, r.text
    close_due = dt.datetime.fromisoformat(r.json()["close_due"])
    assert await overdue() == set()
    await move(c, to=(close_due + dt.timedelta(minutes=1)).isoformat())
    assert await overdue() == {complaint["id"]}


async def test_a_swap_takes_effect_after_its_delay_unless_cancelled(
    bureau: httpx.AsyncClient,
) -> None:
    """Cross-district swaps (跨区调剂): held from the second approval, moved
    when the delay has passed (the sweeper runs on the clock's move)."""
    c = bureau
    from_officer = testing.auth("officer", [JIZHOU], sub="officer.jizhou")
    to_officer = testing.auth("officer", [BAODI], sub="officer.baodi")
    r = await c.post(f"/quota/pools/{JIZHOU}/VOCs/baseline", json={"amount_t": "10"}, headers=ADMIN)
    assert r.status_code == 201, r.text

    async def balance(district: str) -> dict[str, Any]:
        return dict((await c.get(f"/quota/balances/{district}/VOCs", headers=ADMIN)).json())

    swaps = []
    for amount in ("4", "1"):
        body = {"from": JIZHOU, "to": BAODI, "amount_t": amount, "reason": "重点项目落地调剂"}
        r = await c.post("/quota/swaps", json=body, headers=OFFICER)
        assert r.status_code == 201, r.text
        for who in (from_officer, to_officer):
            r = await c.post(f"/quota/swaps/{r.json()['id']}/approve", headers=who)
            assert r.status_code == 200, r.text
        swaps.append(r.json())
    kept, cancelled = swaps
    assert kept["status"] == "approved" and kept["effective_at"], kept
    assert (await balance(JIZHOU))["reserved_t"] == "5.000"
    r = await c.post(
        f"/quota/swaps/{cancelled['id']}/cancel", json={"reason": "项目取消"}, headers=to_officer
    )
    assert r.status_code == 200, r.text

    effective = dt.datetime.fromisoformat(kept["effective_at"])
    await move(c, to=(effective - dt.timedelta(minutes=1)).isoformat())
    r = await c.get(f"/quota/swaps/{kept['id']}", headers=ADMIN)
    assert r.json()["status"] == "approved", r.text
    assert (await balance(BAODI))["credited_t"] == "0.000"
    await move(c, advance="PT2M")
    r = await c.get(f"/quota/swaps/{kept['id']}", headers=ADMIN)
    assert r.json()["status"] == "settled", r.text
    assert (await balance(JIZHOU))["credited_t"] == "6.000"
    assert (await balance(JIZHOU))["reserved_t"] == "0.000"
    assert (await balance(BAODI))["credited_t"] == "4.000"


async def test_a_path_no_service_answers_is_a_404_in_the_callers_language(
    tmp_path: Path,
) -> None:
    from bureau.embedded import Embedded

    embedded = Embedded(tmp_path, log_json=False)
    async with embedded.lifespan():
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=embedded), base_url="http://b")
        for lang, words in (("en", "no service answers this path"), (None, "没有服务提供此路径")):
            headers = {"Accept-Language": lang} if lang else {}
            r = await c.get("/nonexistent", headers=headers)
            assert r.status_code == 404
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["detail"] == words
        await c.aclose()


async def test_an_approval_whose_quota_lapsed_short_is_redriven_by_the_officer(
    tmp_path: Path,
) -> None:
    """The approval reached the ledger late (dead-lettered, re-driven by an
    operator after the hold had expired) and the lapsed tonnes had gone to
    another project: the filing stayed approved with its quota neither
    allocated nor retryable. Now it is lapsed short with the shortfall, the
    district's officer re-drives it (refused again while still short), and
    once quota is back quota-svc holds and allocates it in one step."""
    from svc_common.failures import PermanentFailure

    previous = clock.current()
    embedded = Embedded(tmp_path, log_json=False, clock="manual", clock_start=START)
    try:
        async with embedded.lifespan():
            transport = httpx.ASGITransport(app=embedded)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://bureau", headers={"Accept-Language": "en"}
            ) as c:
                await _lapsed_short_story(embedded, c, PermanentFailure)
    finally:
        clock.install(previous)


async def _lapsed_short_story(embedded: Embedded, c: httpx.AsyncClient, failure: type) -> None:
    f = await _green_filing_on_ten_tonnes(c, 12, "3")

    async def read() -> dict[str, Any]:
        return dict((await c.get(f"/eia/filings/{f['id']}", headers=OFFICER)).json())

    async def balance() -> dict[str, Any]:
        return dict((await c.get(f"/quota/balances/{JIZHOU}/VOCs", headers=ADMIN)).json())

    await eventually(read, lambda x: x["quota_status"] == "secured", "filing")
    await act(c, f["id"], "evaluation-done")
    await act(c, f["id"], "review-done")

    # quota-svc cannot apply the approval: it is dead-lettered.
    handlers = embedded.apps["/quota"].state.runtime.consumer.handlers
    real = handlers.get("eia.filing.approved.v1")

    async def failing(s: Any, p: Any, env: Any) -> None:
        raise failure("ledger busy")

    handlers._by_type["eia.filing.approved.v1"] = failing
    await act(c, f["id"], "approve")

    async def dead() -> list[dict[str, Any]]:
        r = await c.get("/quota/admin/dead-letters", headers=ADMIN)
        return list(r.json()["items"])

    (letter,) = await eventually(dead, lambda d: len(d) == 1, "dead letter")
    handlers._by_type["eia.filing.approved.v1"] = real
    # The hold expires meanwhile, and another project takes 9 of the 10 t.
    await move(c, advance="P31D")
    await eventually(read, lambda x: x["quota_status"] == "lapsed", "filing")
    r = await c.post(
        "/quota/reservations",
        json={"district": JIZHOU, "increment_t": "4.5", "project_ref": "P-9"},
        headers={**OFFICER, "Idempotency-Key": "p9-hold-1"},
    )
    assert r.status_code == 201, r.text
    other = r.json()["id"]
    r = await c.post(f"/quota/admin/dead-letters/{letter['id']}/redrive", headers=ADMIN)
    assert r.status_code == 200, r.text

    short = await eventually(read, lambda x: x["quota_status"] == "lapsed_short", "filing")
    assert (short["status"], short["quota_shortfall_t"]) == ("approved", "5.000")
    assert "quota-retry" in short["quota_note"] and "5.000 t" in short["quota_note"]
    listed = await c.get("/eia/filings", params={"quota_status": "lapsed_short"}, headers=OFFICER)
    assert [x["id"] for x in listed.json()["items"]] == [f["id"]]

    # Re-driven while still short: answered with the shortfall again.
    retried = await act(c, f["id"], "quota-retry")
    assert (retried["quota_status"], retried["quota_attempt"]) == ("pending", 2)
    again = await eventually(read, lambda x: x["quota_status"] != "pending", "filing")
    assert (again["quota_status"], again["quota_shortfall_t"]) == ("lapsed_short", "5.000")
    assert (await balance())["allocated_t"] == "0.000"

    # The other project's hold is released: the re-drive is held and allocated.
    r = await c.post(
        f"/quota/reservations/{other}/release", json={"reason": "项目取消"}, headers=OFFICER
    )
    assert r.status_code == 200, r.text
    await act(c, f["id"], "quota-retry")
    done = await eventually(read, lambda x: x["quota_status"] == "allocated", "filing")
    assert (done["quota_allocated_t"], done["quota_attempt"], done["quota_note"]) == (
        "6.000",
        3,
        None,
    )
    b = await balance()
    assert (b["allocated_t"], b["reserved_t"], b["available_t"]) == ("6.000", "0.000", "4.000")
    r = await c.get("/quota/reconciliation", headers=ADMIN)
    assert r.status_code == 200 and r.json()["ok"] is True, r.text
    # Allocated: no more retries.
    refused = await act(c, f["id"], "quota-retry", status=409)
    assert refused["allowed"] == []
