"""Report / report-form filings through the API: channels, clocks and the
eia side of the quota saga, with quota-svc's replies pushed through the inbox."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from svc_common import clock, testing
from svc_common.calendar import is_working_day
from svc_common.events.schemas.quota import (
    QuotaAllocated,
    QuotaReleased,
    QuotaReservationRejected,
    QuotaReserved,
)
from svc_common.tables import AuditEntry
from svc_common.types import utcnow

from ..conftest import BAODI, JIZHOU, admin, clerk, events_of, filer, filing, officer

BEIJING = dt.timezone(dt.timedelta(hours=8))


def last_day(accepted_at: str, days: int) -> dt.date:
    """The statutory clock's last day: `days` after the Beijing day of
    acceptance, moved on past days off."""
    day = dt.datetime.fromisoformat(accepted_at).astimezone(BEIJING).date()
    day += dt.timedelta(days=days)
    while not is_working_day(day):
        day += dt.timedelta(days=1)
    return day


def reserved(f: dict[str, Any], attempt: int = 1, rid: str = "res-1") -> QuotaReserved:
    return QuotaReserved(
        reservation_id=rid,
        project_ref=f["project_ref"],
        uscc=f["uscc"],
        district=f["district"],
        pollutant="VOCs",
        pool_id=f"{f['district']}:VOCs",
        increment_t=Decimal(f["vocs_increment_t"]),
        offset_ratio=Decimal("2.0"),
        required_t=Decimal(f["vocs_increment_t"]) * 2,
        expires_at=utcnow() + dt.timedelta(days=90),
        attempt=attempt,
    )


def allocated(f: dict[str, Any], rid: str = "res-1") -> QuotaAllocated:
    """Jizhou's 3 t for the filing's 1.5 t at ratio 2.0, allocated."""
    return QuotaAllocated(
        reservation_id=rid,
        project_ref=f["project_ref"],
        district=JIZHOU,
        pollutant="VOCs",
        pool_id="p",
        amount_t=Decimal("3.000"),
        increment_t=Decimal("1.5"),
        offset_ratio=Decimal("2.0"),
    )


def rejected(f: dict[str, Any], shortfall: str, attempt: int = 1) -> QuotaReservationRejected:
    need = Decimal(f["vocs_increment_t"]) * 2
    return QuotaReservationRejected(
        project_ref=f["project_ref"],
        district=f["district"],
        pollutant="VOCs",
        pool_id=f"{f['district']}:VOCs",
        increment_t=Decimal(f["vocs_increment_t"]),
        offset_ratio=Decimal("2.0"),
        required_t=need,
        available_t=need - Decimal(shortfall),
        shortfall_t=Decimal(shortfall),
        attempt=attempt,
    )


async def act(c: httpx.AsyncClient, fid: str, action: str, **kw: Any) -> httpx.Response:
    return await c.post(f"/eia/filings/{fid}/{action}", headers=kw.pop("headers", officer()), **kw)


async def get(c: httpx.AsyncClient, fid: str) -> dict[str, Any]:
    r = await c.get(f"/eia/filings/{fid}", headers=officer())
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_normal_channel_with_quota_secured_and_allocated(client: httpx.AsyncClient) -> None:
    app: FastAPI = client.app  # type: ignore[attr-defined]
    f = (await client.post("/eia/filings", json=filing(), headers=filer())).json()
    assert f["status"] == "submitted" and f["channel"] == "normal"
    assert await events_of(app, "eia.filing.accepted.v1") == []
    r = await act(client, f["id"], "approve")
    # What the officer may do: withdraw is the filer's (an officer gets 403).
    assert r.status_code == 409 and r.json()["allowed"] == ["accept"]
    assert "withdraw" not in r.json()["detail"]
    # Another district's filing is not found, for writes as for reads: a
    # 403 naming its district would tell that it exists.
    other = officer(BAODI)
    hidden = await client.get(f"/eia/filings/{f['id']}", headers=other)
    for action, body in (("accept", None), ("reject", {"reason": "x"}), ("withdraw", None)):
        r = await act(client, f["id"], action, headers=other, json=body)
        assert (r.status_code, r.json()["detail"]) == (404, hidden.json()["detail"]), r.text

    f = (await act(client, f["id"], "accept")).json()
    assert f["quota_status"] == "pending" and f["quota_attempt"] == 1
    # A report form's 30 days: to the end of the 30th Beijing day after acceptance.
    last = last_day(f["accepted_at"], 30)
    assert f["due_on"] == last.isoformat()
    assert dt.datetime.fromisoformat(f["due_at"]) == dt.datetime.combine(
        last + dt.timedelta(days=1), dt.time(), BEIJING
    )
    (req,) = await events_of(app, "eia.filing.accepted.v1")
    assert req["project_ref"] == f"eia:{f['id']}" and req["vocs_increment_t"] == "1.500"
    assert req["attempt"] == 1 and req["channel"] == "normal" and req["park_id"] is None

    env = await testing.deliver(app, reserved(f))
    assert (await get(client, f["id"]))["quota_status"] == "secured"
    await testing.redeliver(app, env, QuotaReserved.topic)  # duplicate: harmless
    for step in ("evaluation-done", "review-done"):
        assert (await act(client, f["id"], step)).status_code == 200
    done = (await act(client, f["id"], "approve", json={"reason": "同意"})).json()
    assert done["status"] == "approved" and done["allowed_actions"] == []
    (approved,) = await events_of(app, "eia.filing.approved.v1")
    assert approved["project_ref"] == f["project_ref"] and approved["vocs_increment_t"] == "1.500"

    await testing.deliver(
        app,
        allocated(f, rid="res-1"),
    )
    final = await get(client, f["id"])
    assert final["quota_status"] == "allocated" and final["quota_allocated_t"] == "3.000"


async def test_blocked_filing_waits_for_a_retry(client: httpx.AsyncClient) -> None:
    app: FastAPI = client.app  # type: ignore[attr-defined]
    f = (await client.post("/eia/filings", json=filing(), headers=clerk())).json()
    await act(client, f["id"], "accept")
    await testing.deliver(app, rejected(f, "1.2"))
    blocked = await get(client, f["id"])
    assert blocked["quota_status"] == "blocked" and blocked["quota_shortfall_t"] == "1.200"
    await act(client, f["id"], "evaluation-done")
    await act(client, f["id"], "review-done")
    r = await act(client, f["id"], "approve")
    assert r.status_code == 409 and r.json()["quota_status"] == "blocked"
    assert "quota-retry" in r.json()["detail"]

    retried = (await act(client, f["id"], "quota-retry")).json()
    assert retried["quota_status"] == "pending" and retried["quota_attempt"] == 2
    (retry_event,) = await events_of(app, "eia.filing.quota_retry.v1")
    assert retry_event["attempt"] == 2
    # Still no answer: the officer may ask again from pending (attempt 3).
    again = (await act(client, f["id"], "quota-retry")).json()
    assert again["quota_status"] == "pending" and again["quota_attempt"] == 3
    # Late answers to older attempts are ignored; attempt 3's answer counts.
    await testing.deliver(app, rejected(f, "0.5", attempt=1))
    await testing.deliver(app, reserved(f, attempt=2, rid="res-2"))
    assert (await get(client, f["id"]))["quota_status"] == "pending"
    await testing.deliver(app, reserved(f, attempt=3, rid="res-2"))
    assert (await get(client, f["id"]))["reservation_id"] == "res-2"
    assert (await act(client, f["id"], "approve")).status_code == 200
    r = await act(client, f["id"], "quota-retry")
    assert r.status_code == 409 and r.json()["allowed"] == []


async def test_expired_hold_lapses_the_quota(client: httpx.AsyncClient) -> None:
    app: FastAPI = client.app  # type: ignore[attr-defined]
    f = (await client.post("/eia/filings", json=filing(), headers=clerk())).json()
    await act(client, f["id"], "accept")
    await testing.deliver(app, reserved(f))
    expired = QuotaReleased(
        reservation_id="res-1",
        project_ref=f["project_ref"],
        district=JIZHOU,
        pollutant="VOCs",
        pool_id="p",
        amount_t=Decimal("3"),
        reason="expired",
    )
    await testing.deliver(app, expired)
    assert (await get(client, f["id"]))["quota_status"] == "lapsed"
    await act(client, f["id"], "evaluation-done")
    await act(client, f["id"], "review-done")
    assert (await act(client, f["id"], "approve")).json()["quota_status"] == "lapsed"
    # A rejection states its reason: none, or only spaces, is refused and
    # changes nothing.
    for body in ({}, {"reason": None}, {"reason": "  "}):
        r = await act(client, f["id"], "reject", json=body)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason", r.text
    assert (await get(client, f["id"]))["status"] == "reviewed"
    assert await events_of(app, "eia.filing.rejected.v1") == []
    r = await act(client, f["id"], "reject", json={"reason": "不符合规划"})
    assert r.json()["status"] == "rejected"
    (rej,) = await events_of(app, "eia.filing.rejected.v1")
    assert rej["reason"] == "不符合规划" and rej["project_ref"] == f["project_ref"]


async def test_green_channel_once_an_officer_confirms_the_claim(client: httpx.AsyncClient) -> None:
    app: FastAPI = client.app  # type: ignore[attr-defined]
    body = filing(major_project=True, major_kind="livelihood", category="report_form")
    f = (await client.post("/eia/filings", json=body, headers=clerk())).json()
    assert f["status"] == "submitted" and f["green_channel"] == "requested"
    f = (await act(client, f["id"], "accept", json={"green_channel": True})).json()
    assert f["channel"] == "green" and f["status"] == "accepted"
    assert f["due_on"] == last_day(f["accepted_at"], 10).isoformat()  # green: 10 days
    (req,) = await events_of(app, "eia.filing.accepted.v1")
    assert req["channel"] == "green"
    await testing.deliver(app, reserved(f))
    assert (await act(client, f["id"], "review-done")).status_code == 200  # review first
    r = await act(client, f["id"], "approve")
    assert r.status_code == 409 and r.json()["allowed"] == ["evaluation-done"]
    assert (await act(client, f["id"], "evaluation-done")).json()["status"] == "reviewed"
    assert (await act(client, f["id"], "approve")).json()["status"] == "approved"

    r = await client.post("/eia/filings", json=filing(major_project=True), headers=officer())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "major_kind"


async def test_bundled_eia_files_against_the_park(client: httpx.AsyncClient) -> None:
    app: FastAPI = client.app  # type: ignore[attr-defined]
    park = {
        "id": "JZ-IND-01",
        "name": "蓟州经济开发区",
        "district": JIZHOU,
        "covered_project_types": ["C3670", "C2641"],
        "vocs_subpool_t": "12.5",
    }
    assert (await client.post("/eia/parks", json=park, headers=officer())).status_code == 403
    # A misspelt field is refused, not registered as its default.
    r = await client.post("/eia/parks", json={**park, "vocs_subpool": "1"}, headers=admin())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "vocs_subpool", r.text
    r = await client.post("/eia/parks", json=park, headers=admin())
    assert r.status_code == 201, r.text
    (registered,) = await events_of(app, "eia.park.registered.v1")
    assert registered["vocs_subpool_t"] == "12.500" and registered["park_id"] == "JZ-IND-01"
    assert (await client.post("/eia/parks", json=park, headers=admin())).status_code == 409
    # Its name is public (the public quota register names its sub-pool by it):
    # id, name and district, without a token, nothing of its funding.
    r = await client.get("/eia/public/parks")
    assert r.status_code == 200, r.text
    assert r.json() == [{"id": "JZ-IND-01", "name": "蓟州经济开发区", "district": JIZHOU}]

    f = (
        await client.post("/eia/filings", json=filing(park_id="JZ-IND-01"), headers=clerk())
    ).json()
    assert f["channel"] == "bundled" and f["status"] == "submitted"
    f = (await act(client, f["id"], "accept")).json()
    assert f["status"] == "accepted"
    # Its quota is asked: not approvable until secured, and may be asked again.
    # (Withdraw is its submitter's, the clerk's; this officer decides it.)
    assert f["allowed_actions"] == ["reject", "quota-retry"]
    (req,) = await events_of(app, "eia.filing.accepted.v1")
    assert req["park_id"] == "JZ-IND-01" and req["channel"] == "bundled"
    await testing.deliver(app, reserved(f))
    assert (await get(client, f["id"]))["allowed_actions"] == ["approve", "reject"]
    assert (await act(client, f["id"], "approve")).status_code == 200
    (approved,) = await events_of(app, "eia.filing.approved.v1")
    assert approved["park_id"] == "JZ-IND-01"

    # A type the park's report does not cover goes the normal way.
    other = filing(park_id="JZ-IND-01", project_type="C2319")
    assert (await client.post("/eia/filings", json=other, headers=officer())).json()[
        "channel"
    ] == "normal"
    wrong = filing(park_id="JZ-IND-01", district=BAODI)
    r = await client.post("/eia/filings", json=wrong, headers=officer(BAODI))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "park_id"


async def test_overdue_list_follows_the_clock(make_app: Callable[..., FastAPI]) -> None:
    app = make_app()
    now = clock.ManualClock(utcnow())
    with clock.using(now):
        await _overdue_story(app, now)


async def _overdue_story(app: FastAPI, now: clock.ManualClock) -> None:
    async with testing.running(app) as c:
        late = (await c.post("/eia/filings", json=filing(), headers=officer())).json()
        await act(c, late["id"], "accept")
        report = filing(project_type="C2614", category="report", vocs_increment_t="0")
        slow = (await c.post("/eia/filings", json=report, headers=officer())).json()
        slow = (await act(c, slow["id"], "accept")).json()
        assert slow["quota_status"] == "not_required"
        await c.post("/eia/filings", json=filing(), headers=officer())  # never accepted
        decided = (await c.post("/eia/filings", json=filing(), headers=officer())).json()
        await act(c, decided["id"], "accept")
        await act(c, decided["id"], "withdraw")

        # Past the report form's 30 days (and the days off that may end
        # them), not the report's 60.
        now.advance_now(dt.timedelta(days=40))
        r = await c.get(f"/eia/filings?district={JIZHOU}&overdue=true", headers=officer())
        assert [x["id"] for x in r.json()["items"]] == [late["id"]]
        assert r.json()["items"][0]["overdue"] is True
        now.advance_now(dt.timedelta(days=30))
        r = await c.get("/eia/filings?overdue=true", headers=officer())
        assert {x["id"] for x in r.json()["items"]} == {late["id"], slow["id"]}
        assert (await c.get("/eia/filings?overdue=true", headers=officer(BAODI))).json()[
            "items"
        ] == []
        page = await c.get("/eia/filings?limit=2", headers=officer())
        rest = await c.get(
            f"/eia/filings?limit=2&cursor={page.json()['next_cursor']}", headers=officer()
        )
        ids = [x["id"] for x in page.json()["items"] + rest.json()["items"]]
        assert len(ids) == len(set(ids)) == 4
        bad = await c.get(f"/eia/filings?district={BAODI}", headers=officer())
        assert bad.status_code == 403


async def test_submission_checks(client: httpx.AsyncClient) -> None:
    r = await client.post("/eia/filings", json=filing(category="report"), headers=officer())
    assert r.status_code == 422 and r.json()["category_needed"] == "report_form"
    assert r.json()["errors"][0]["field"] == "category"
    unit = {
        "name": "潮白河生态保护红线",
        "district": JIZHOU,
        "kind": "priority_protection",
        "banned_industries": ["C36"],
        "rule": "优先保护单元内禁止新建工业项目",
    }
    misspelt = {**unit, "banned_industry": unit.pop("banned_industries")}
    r = await client.put("/eia/control-units/JZ-P-01", json=misspelt, headers=admin())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "banned_industry", r.text
    unit["banned_industries"] = misspelt["banned_industry"]
    assert (
        await client.put("/eia/control-units/JZ-P-01", json=unit, headers=admin())
    ).status_code == 200
    r = await client.post("/eia/filings", json=filing(control_unit="JZ-P-01"), headers=officer())
    assert r.status_code == 422 and r.json()["reason"] == "banned"
    assert "JZ-P-01" in r.json()["detail"] and "禁止新建工业项目" in r.json()["detail"]
    r = await client.post("/eia/filings", json=filing(), headers=officer(BAODI))
    assert r.status_code == 403
    r = await client.post("/eia/filings", json=filing(vocs_increment_t="1.2345"), headers=officer())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "vocs_increment_t"
    # The filer may withdraw its own filing, nothing else; others do not see it.
    f = (await client.post("/eia/filings", json=filing(), headers=filer())).json()
    zh = {**filer(), "Accept-Language": "zh-CN"}
    refused = await act(client, f["id"], "accept", headers=zh)
    assert refused.status_code == 403
    # Only withdraw admits a filer: the roles named in Chinese.
    assert "无权执行此操作" in refused.json()["detail"], refused.json()
    assert (await act(client, f["id"], "withdraw", headers=filer("filer.b"))).status_code == 404
    assert (
        await client.get(f"/eia/filings/{f['id']}", headers=filer("filer.b"))
    ).status_code == 404
    # Withdrawal is the applicant's: an officer (or admin) who will not
    # approve rejects, with the reason (行政许可法 §38); nothing changes.
    # Submitted, it cannot be rejected yet either: the 403 says so, and
    # lists what this caller may do now (accept), not reject.
    for who in (officer(), admin()):
        r = await act(client, f["id"], "withdraw", headers={**who, "Accept-Language": "zh-CN"})
        assert r.status_code == 403 and r.json()["allowed"] == ["accept"], r.text
        assert "申请人" in r.json()["detail"] and "不能不予批准" in r.json()["detail"]
    # Each caller is told what it may do: the reviewer accept, the applicant
    # withdraw, an auditor nothing.
    assert (await get(client, f["id"]))["allowed_actions"] == ["accept"]
    mine = await client.get(f"/eia/filings/{f['id']}", headers=filer())
    assert mine.json()["allowed_actions"] == ["withdraw"], mine.text
    audit = await client.get(f"/eia/filings/{f['id']}", headers=testing.auth("auditor"))
    assert audit.json()["allowed_actions"] == [], audit.text
    assert (await get(client, f["id"]))["status"] == "submitted"
    w = await act(client, f["id"], "withdraw", headers=filer(), json={"reason": "项目取消"})
    assert w.json()["status"] == "withdrawn"
    app: FastAPI = client.app  # type: ignore[attr-defined]
    (withdrawn,) = await events_of(app, "eia.filing.withdrawn.v1")
    assert withdrawn["reason"] == "项目取消"


async def test_replies_are_idempotent_by_business_key(client: httpx.AsyncClient) -> None:
    """The same reply published twice (two event ids) has one effect and one audit entry."""
    from sqlalchemy import func, select
    from svc_common.tables import AuditEntry

    app: FastAPI = client.app  # type: ignore[attr-defined]
    f = (await client.post("/eia/filings", json=filing(), headers=officer())).json()
    await act(client, f["id"], "accept")
    await testing.deliver(app, rejected(f, "0.8"))
    await testing.deliver(app, rejected(f, "0.8"))  # a new envelope, same reply
    async with app.state.runtime.db.session() as s:
        n = await s.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.target_id == f["id"], AuditEntry.action == "filing.quota_blocked")
        )
        actions = list(
            (
                await s.execute(
                    select(AuditEntry.action)
                    .where(AuditEntry.target_id == f["id"])
                    .order_by(AuditEntry.id)
                )
            ).scalars()
        )
    assert n == 1
    assert actions == ["filing.create", "filing.accept", "filing.quota_blocked"]
    # A reply about another project's ref is not this service's business.
    other = {**f, "project_ref": "permit:123"}
    await testing.deliver(app, rejected(other, "0.5"))
    assert (await get(client, f["id"]))["quota_shortfall_t"] == "0.800"


async def test_bad_list_queries_are_422(client: httpx.AsyncClient) -> None:
    import base64
    import json

    for forged in (["not-a-time", "x"], [1, 2], {"a": 1}, "x"):
        cursor = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
        r = await client.get(f"/eia/filings?cursor={cursor}", headers=officer())
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cursor", forged
    r = await client.get("/eia/filings?status=lost", headers=officer())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "status"
    r = await client.get("/eia/registrations?cursor=e30", headers=filer())  # "{}"
    assert r.status_code == 422


async def test_a_misspelt_field_is_refused_not_dropped(client: httpx.AsyncClient) -> None:
    """`vocs_increment` for `vocs_increment_t` was ignored: the filing was made
    with an increment of 0, so its acceptance asked no quota."""
    body = filing()
    body["vocs_increment"] = body.pop("vocs_increment_t")
    r = await client.post("/eia/filings", json=body, headers=officer())
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "vocs_increment"
    listed = await client.get("/eia/filings", headers=officer())
    assert listed.json()["items"] == []
    f = (await client.post("/eia/filings", json=filing(), headers=officer())).json()
    r = await act(client, f["id"], "withdraw", headers=officer(), json={"reson": "笔误"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reson"
    assert (await get(client, f["id"]))["status"] == "submitted"


async def test_an_approved_filing_whose_quota_lapsed_short_is_redriven(
    client: httpx.AsyncClient,
) -> None:
    """quota-svc refused to hold an approved filing's need again (its hold
    had lapsed and the district was short): the refusal was dropped, the
    filing said "lapsed" with no shortfall, and quota-retry was refused for
    an approved filing. Now it is lapsed short with the shortfall and a
    note; the retry asks quota-svc to hold and allocate at once."""
    app: FastAPI = client.app  # type: ignore[attr-defined]
    f = (await client.post("/eia/filings", json=filing(), headers=clerk())).json()
    await act(client, f["id"], "accept")
    await testing.deliver(app, reserved(f))
    for step in ("evaluation-done", "review-done", "approve"):
        assert (await act(client, f["id"], step)).status_code == 200
    # Before: a retry of an approved, secured filing is refused.
    r = await act(client, f["id"], "quota-retry")
    assert r.status_code == 409 and r.json()["allowed"] == []
    expired = QuotaReleased(
        reservation_id="res-1",
        project_ref=f["project_ref"],
        district=JIZHOU,
        pollutant="VOCs",
        pool_id="p",
        amount_t=Decimal("3"),
        reason="expired",
    )
    await testing.deliver(app, expired)
    assert (await get(client, f["id"]))["quota_status"] == "lapsed"
    assert (await act(client, f["id"], "quota-retry")).status_code == 409  # approval on its way
    await testing.deliver(app, rejected(f, "2.5"))
    short = await get(client, f["id"])
    assert (short["status"], short["quota_status"], short["quota_shortfall_t"]) == (
        "approved",
        "lapsed_short",
        "2.500",
    )
    assert "quota-retry" in short["quota_note"] and "2.500" in short["quota_note"]
    zh = await client.get(
        f"/eia/filings/{f['id']}", headers={**officer(), "Accept-Language": "zh-CN"}
    )
    assert "缺口 2.500 吨" in zh.json()["quota_note"]
    listed = await client.get("/eia/filings?quota_status=lapsed_short", headers=officer())
    assert [x["id"] for x in listed.json()["items"]] == [f["id"]]
    # Another district's officer may not re-drive it (nor learn that it exists).
    assert (await act(client, f["id"], "quota-retry", headers=officer(BAODI))).status_code == 404

    retried = (await act(client, f["id"], "quota-retry")).json()
    assert (retried["status"], retried["quota_status"], retried["quota_attempt"]) == (
        "approved",
        "pending",
        2,
    )
    assert "attempt 2" in retried["quota_note"]
    (ask,) = await events_of(app, "eia.filing.quota_retry.v1")
    assert ask["allocate_on_hold"] is True and ask["attempt"] == 2
    # Still short: lapsed short again, with the new shortfall.
    await testing.deliver(app, rejected(f, "1.1", attempt=2))
    again = await get(client, f["id"])
    assert (again["quota_status"], again["quota_shortfall_t"]) == ("lapsed_short", "1.100")
    await act(client, f["id"], "quota-retry")
    # Held and allocated in one step: the hold on the way changes nothing.
    await testing.deliver(app, reserved(f, attempt=3, rid="res-3"))
    assert (await get(client, f["id"]))["quota_status"] == "pending"
    await testing.deliver(
        app,
        allocated(f, rid="res-3"),
    )
    done = await get(client, f["id"])
    assert (done["quota_status"], done["quota_allocated_t"], done["reservation_id"]) == (
        "allocated",
        "3.000",
        "res-3",
    )
    assert done["quota_note"] is None
    assert (await act(client, f["id"], "quota-retry")).status_code == 409


async def test_an_undecided_filings_retry_only_asks_for_a_hold(client: httpx.AsyncClient) -> None:
    app: FastAPI = client.app  # type: ignore[attr-defined]
    f = (await client.post("/eia/filings", json=filing(), headers=officer())).json()
    await act(client, f["id"], "accept")
    await testing.deliver(app, rejected(f, "1.2"))
    await act(client, f["id"], "quota-retry")
    (ask,) = await events_of(app, "eia.filing.quota_retry.v1")
    assert ask["allocate_on_hold"] is False


async def test_an_unanswered_redrive_of_an_approved_filing_is_asked_again(
    client: httpx.AsyncClient,
) -> None:
    """The re-asking sweeper asked only undecided filings: an approved
    filing's re-drive whose answer was lost would have stayed pending."""
    from eia_svc.quota_saga.service import reask_unanswered

    app: FastAPI = client.app  # type: ignore[attr-defined]
    f = (await client.post("/eia/filings", json=filing(), headers=clerk())).json()
    await act(client, f["id"], "accept")
    await testing.deliver(app, reserved(f))
    for step in ("evaluation-done", "review-done", "approve"):
        assert (await act(client, f["id"], step)).status_code == 200
    await testing.deliver(app, rejected(f, "2.5"))
    await act(client, f["id"], "quota-retry")
    later = utcnow() + dt.timedelta(minutes=10)
    async with app.state.runtime.db.transaction() as s:
        assert await reask_unanswered(s, later, dt.timedelta(minutes=2)) == 1
    first, again = await events_of(app, "eia.filing.quota_retry.v1")
    assert (again["attempt"], again["allocate_on_hold"]) == (2, True) and first == again
    assert (await get(client, f["id"]))["quota_asks"] == 1


async def test_a_park_short_of_quota_is_named_not_the_district(client: httpx.AsyncClient) -> None:
    """A bundled filing draws on its park's sub-pool: when that is short,
    the note and approve's 409 say so, naming the park (they blamed the
    district, whose pool may have had plenty)."""
    app: FastAPI = client.app  # type: ignore[attr-defined]
    park = {
        "id": "nangang",
        "name": "南港工业区",
        "district": JIZHOU,
        "covered_project_types": ["C3670"],
        "vocs_subpool_t": "1",
    }
    assert (await client.post("/eia/parks", json=park, headers=admin())).status_code == 201
    zh = {**officer(), "Accept-Language": "zh-CN"}
    f = (
        await client.post("/eia/filings", json=filing(park_id="nangang"), headers={**zh, **clerk()})
    ).json()
    assert f["channel"] == "bundled"
    f = (await act(client, f["id"], "accept")).json()
    await testing.deliver(app, rejected(f, "2.000"))
    got = (await client.get(f"/eia/filings/{f['id']}", headers=zh)).json()
    assert got["quota_status"] == "blocked"
    assert "南港工业区" in got["quota_note"] and "该区" not in got["quota_note"]
    listed = (await client.get("/eia/filings?quota_status=blocked", headers=zh)).json()
    assert "南港工业区" in listed["items"][0]["quota_note"]
    r = await act(client, f["id"], "approve", headers=zh)
    assert r.status_code == 409 and "南港工业区" in r.json()["detail"], r.text
    en = (await client.get(f"/eia/filings/{f['id']}", headers=officer())).json()
    assert "park 南港工业区" in en["quota_note"]
    # A filing of the district pool still says the district.
    other = (await client.post("/eia/filings", json=filing(), headers=officer())).json()
    other = (await act(client, other["id"], "accept")).json()
    await testing.deliver(app, rejected(other, "2.000"))
    assert (
        "该区总量指标不足"
        in (await client.get(f"/eia/filings/{other['id']}", headers=zh)).json()["quota_note"]
    )


async def test_the_officer_who_submitted_a_filing_does_not_decide_it(
    client: httpx.AsyncClient,
) -> None:
    """One officer alone submitted a filing for its applicant, accepted it,
    took it through evaluation and review and approved it, allocating the
    district's quota. Four eyes: whoever submitted it (by any spelling of
    their sub) may take it to the decision but not decide it (409, in the
    caller's language, nothing written); another officer decides it. A
    filing its applicant (a filer) submitted is decided as before."""
    app: FastAPI = client.app  # type: ignore[attr-defined]
    f = (await client.post("/eia/filings", json=filing(), headers=officer())).json()
    for step in ("accept", "evaluation-done", "review-done"):
        r = await act(client, f["id"], step)
        assert r.status_code == 200, r.text
    await testing.deliver(app, reserved(f))
    mine = await get(client, f["id"])
    assert mine["status"] == "reviewed" and mine["quota_status"] == "secured"
    # Not offered to the submitter (the console shows what is offered)…
    assert mine["allowed_actions"] == ["withdraw"]
    # …and refused if asked, by any spelling of the same sub.
    same = testing.auth("officer", [JIZHOU], sub=f"Officer.{JIZHOU}")
    async with app.state.runtime.db.session() as s:
        before = await s.scalar(select(func.count()).select_from(AuditEntry))
    for headers, lang in ((officer(), "zh-CN"), (same, "en")):
        for action, body in (("approve", {"reason": "同意"}), ("reject", {"reason": "不符合"})):
            r = await act(
                client, f["id"], action, headers={**headers, "Accept-Language": lang}, json=body
            )
            assert r.status_code == 409, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            p = r.json()
            assert p["reason"] == "submitter_decides" and p["submitted_by"] == f"officer.{JIZHOU}"
            if lang == "zh-CN":
                assert p["detail"].startswith("四眼原则："), p
            else:
                assert p["detail"].startswith("four eyes:"), p
    async with app.state.runtime.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(AuditEntry)) == before
    assert await events_of(app, "eia.filing.approved.v1") == []
    assert (await get(client, f["id"]))["status"] == "reviewed"
    # Another officer of the district decides it.
    other = clerk()
    seen = (await client.get(f"/eia/filings/{f['id']}", headers=other)).json()
    assert seen["allowed_actions"] == ["approve", "reject"]
    r = await act(client, f["id"], "approve", headers=other, json={"reason": "同意"})
    assert r.status_code == 200 and r.json()["status"] == "approved", r.text
    # A filer's filing: the officer who accepted and reviewed it decides it.
    g = (await client.post("/eia/filings", json=filing(), headers=filer())).json()
    for step in ("accept", "evaluation-done", "review-done"):
        assert (await act(client, g["id"], step)).status_code == 200
    await testing.deliver(app, reserved(g))
    r = await act(client, g["id"], "reject", json={"reason": "不符合规划"})
    assert r.status_code == 200 and r.json()["status"] == "rejected", r.text
