"""Bad input is a 4xx problem naming the field, never a 5xx, never a write:
oversized strings, bad USCCs and districts, another district's data, unknown
ids, bad cursors, malformed bodies."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import httpx
from sqlalchemy import func, select
from supervision_svc.complaints.models import Complaint
from svc_common import testing
from svc_common.tables import AuditEntry, OutboxRow

from .conftest import ADMIN, AUDITOR, DONGLI, NINGHE, T0, Service, officer

BAD_USCC = "91120110MA05L8XK1X"  # wrong check character


def base() -> dict[str, Any]:
    return {
        "channel": "hotline",
        "received_at": T0.isoformat(),
        "district": DONGLI,
        "address": "东丽区某路",
        "category": "air",
        "description": "工厂冒黑烟",
    }


async def expect(r: Any, status: int, field: str | None = None) -> None:
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/problem+json")
    if field:
        assert field in [e["field"] for e in r.json().get("errors", [])], r.json()


async def test_hostile_requests_are_refused_cleanly(svc: Service) -> None:
    uscc = await svc.enterprise(1, NINGHE, vocs="1")
    post = svc.http.post
    for over, field in (
        ({"description": "臭" * 2001}, "description"),
        ({"address": "路" * 301}, "address"),
        ({"district": "999999"}, "district"),
        ({"district": "12011"}, "district"),
        ({"uscc": BAD_USCC}, "uscc"),
        ({"uscc": "X" * 5000}, "uscc"),
        ({"received_at": "2026-06-01T10:00:00"}, "received_at"),
        ({"received_at": "2999-01-01T00:00:00+08:00"}, "received_at"),
        ({"lat": "90", "lng": "117"}, "lat"),
        ({"lat": "39.1"}, "lng"),
        ({"category": "smell"}, "category"),
        ({"complainant": {"phone": "call me"}}, "complainant.phone"),
        ({"complainant": {"name": "名" * 51}}, "complainant.name"),
        ({"extra": 1}, "extra"),
    ):
        r = await post("/supervision/complaints", json={**base(), **over}, headers=officer())
        await expect(r, 422, field)
    r = await post(
        "/supervision/complaints", json={**base(), "district": NINGHE}, headers=officer()
    )
    await expect(r, 403)
    r = await post(
        "/supervision/complaints",
        content=b"{not json",
        headers={**officer(), "content-type": "application/json"},
    )
    await expect(r, 422)
    # Without a JSON Content-Type the body is not read as JSON at all.
    r = await post("/supervision/complaints", content=b"{not json", headers=officer())
    await expect(r, 415)
    r = await post("/supervision/complaints", json=base(), headers=AUDITOR)
    await expect(r, 403)
    r = await post("/supervision/complaints", json=base())
    await expect(r, 401)
    async with svc.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Complaint)) == 0

    unknown = "00000000-0000-0000-0000-000000000000"
    for path in (
        f"/supervision/complaints/{unknown}",
        f"/supervision/cases/{unknown}",
        f"/supervision/inspections/{unknown}",
        f"/supervision/inspection-plans/{unknown}",
        f"/supervision/alerts/{unknown}/measures",
    ):
        await expect(await svc.http.get(path, headers=ADMIN), 404)
    # An id longer than any this API gives out is refused by its documented shape.
    long_id = f"/supervision/complaints/{'x' * 3000}"
    await expect(await svc.http.get(long_id, headers=ADMIN), 422)
    r = await post(f"/supervision/complaints/{unknown}/accept", headers=officer())
    await expect(r, 404)
    # Each action is a route of its own: an action there is none of is no route.
    r = await post(f"/supervision/complaints/{unknown}/explode", headers=officer())
    await expect(r, 404)
    await expect(
        await svc.http.get(f"/supervision/enterprises/{BAD_USCC}", headers=ADMIN), 422, "uscc"
    )
    await expect(await svc.http.get(f"/supervision/enterprises/{uscc}", headers=officer()), 404)
    await expect(await svc.http.get(f"/supervision/grades/{uscc}", headers=officer()), 404)

    for cursor in ("garbage!!", base64.urlsafe_b64encode(b'["x", 1]').decode(), "W10", "e30"):
        paths = ("complaints", "demands", "cases", "inspections", "enterprises", "grades", "audit")
        for path in paths:
            r = await svc.http.get(f"/supervision/{path}?cursor={cursor}", headers=ADMIN)
            await expect(r, 422, "cursor")
    for q in (
        "reports/complaints?district=120",
        "reports/complaints?district=abc",
        "complaints?limit=0",
        "complaints?limit=100000",
        "reports/complaints?from=2026-13-01",
        "complaints/clusters?limit=501",
    ):
        r = await svc.http.get(f"/supervision/{q}", headers=ADMIN)
        assert r.status_code == 422, (q, r.text)
    r = await svc.http.get(
        "/supervision/reports/complaints?from=2026-06-02&to=2026-06-01", headers=ADMIN
    )
    await expect(r, 422, "from")
    r = await svc.http.get(f"/supervision/reports/enforcement?district={NINGHE}", headers=officer())
    await expect(r, 403)

    bad_inspection = {
        "uscc": uscc,
        "inspected_at": T0.isoformat(),
        "inspectors": ["a", "a"],
        "items": [{"item": "ledger", "result": "problem", "findings": []}],
    }
    r = await post("/supervision/inspections", json=bad_inspection, headers=officer(NINGHE))
    await expect(r, 422)
    r = await post(
        "/supervision/inspections",
        json={**bad_inspection, "uscc": BAD_USCC},
        headers=officer(NINGHE),
    )
    await expect(r, 422, "uscc")
    r = await post(
        "/supervision/cases",
        json={"finding_id": unknown, "legal_basis": "依据", "measure": {"kind": "fine"}},
        headers=officer(),
    )
    # A rule across fields names the field to mend, not the whole measure.
    await expect(r, 422, "measure.fine_cny")
    r = await post(
        "/supervision/cases",
        json={"finding_id": unknown, "legal_basis": "依据", "measure": {"kind": "warning"}},
        headers=officer(),
    )
    await expect(r, 422, "finding_id")
    r = await post(
        "/supervision/inspection-plans",
        json={"district": DONGLI, "period": "someday", "count": 5, "share_percent": "10"},
        headers=officer(),
    )
    await expect(r, 422)
    r = await post(
        "/supervision/alerts",
        json={"level": "purple", "districts": ["120110", "120110"], "from": "x", "to": "y"},
        headers=ADMIN,
    )
    await expect(r, 422)
    r = await post(
        "/supervision/alerts",
        json={
            "level": "red",
            "districts": [NINGHE],
            "from": "2026-11-01T00:00:00+08:00",
            "to": "2026-11-02T00:00:00+08:00",
        },
        headers=officer(),
    )
    await expect(r, 403)
    r = await svc.http.put(
        f"/supervision/grades/{uscc}",
        json={"grade": "E", "industry": "x", "valid_from": "2026-02-01", "valid_to": "2026-01-01"},
        headers=officer(NINGHE),
    )
    await expect(r, 422)
    r = await post(
        "/supervision/complaints:import",
        content=b"a,b\n1,2\n",
        headers={**ADMIN, "content-type": "text/plain"},
    )
    await expect(r, 415)
    r = await post(
        "/supervision/complaints:import",
        content="\xff\xfe".encode("latin-1"),
        headers={**ADMIN, "content-type": "text/csv"},
    )
    await expect(r, 422)
    # Chinese by default.
    r = await svc.http.get(
        "/supervision/reports/complaints?district=999999",
        headers={"Authorization": f"Bearer {testing.token('admin')}", "Accept-Language": "zh-CN"},
    )
    assert r.status_code == 422 and r.json()["title"] == "请求内容无效"


async def test_times_of_recorded_facts_stay_in_the_bureau_span(svc: Service) -> None:
    """A complaint, an import row, an inspection or an alert at the calendar's
    edge (or as a bare Unix number) is a 422 naming the field: the working-day
    and look-back rules never see a time they cannot count from."""
    uscc = await svc.enterprise(1, NINGHE, vocs="1")
    post = svc.http.post
    edges = (
        "0001-01-01T00:00:00+00:00",
        "0001-01-01T05:00:00+14:00",
        "1999-12-31T23:59:59+08:00",
        "9999-12-31T23:59:59+00:00",
        0,
        1767225600,
    )
    for at in edges:
        r = await post(
            "/supervision/complaints", json={**base(), "received_at": at}, headers=officer()
        )
        await expect(r, 422, "received_at")
        r = await post(
            "/supervision/inspections",
            json={
                "uscc": uscc,
                "inspected_at": at,
                "inspectors": ["a", "b"],
                "items": [{"item": "ledger", "result": "ok"}],
            },
            headers=officer(NINGHE),
        )
        await expect(r, 422, "inspected_at")
        r = await post(
            "/supervision/alerts",
            json={"level": "red", "districts": [DONGLI], "from": at, "to": at},
            headers=ADMIN,
        )
        await expect(r, 422, "from")
    row = "channel,received_at,district,address,category,description\n"
    row += f"hotline,0001-01-01T00:00:00Z,{DONGLI},东丽区某路,air,工厂冒黑烟\n"
    r = await post(
        "/supervision/complaints:import",
        content=row.encode(),
        headers={**ADMIN, "content-type": "text/csv"},
    )
    assert r.status_code in (200, 207, 422), r.text[:300]
    assert "received_at" in r.text
    async with svc.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Complaint)) == 0
    # The span's first moment is accepted.
    r = await post(
        "/supervision/complaints",
        json={**base(), "received_at": "2000-01-01T00:00:00+08:00"},
        headers=officer(),
    )
    assert r.status_code == 201, r.text[:300]


async def test_a_recorded_time_is_in_the_span_in_beijing_time_as_its_case_number(
    svc: Service,
) -> None:
    """`2000-01-01T00:00:00+14:00` is written in 2000 but is 1999-12-31 18:00
    in Beijing: it was stored and numbered `12369-…-1999-000001`, outside
    the span. The span is checked on the instant in Beijing time (the year a
    case number carries), at both ends: a 422 naming the field, in the
    caller's language."""
    post = svc.http.post
    outside = (
        ("2000-01-01T00:00:00+14:00", "1999-12-31 18:00"),
        ("2099-12-31T23:00:00-10:00", "2100-01-01 17:00"),
        ("2099-12-31T16:00:00Z", "2100-01-01 00:00"),
    )
    for at, there in outside:
        r = await post(
            "/supervision/complaints",
            json={**base(), "received_at": at},
            headers={**officer(), "Accept-Language": "zh-CN"},
        )
        await expect(r, 422, "received_at")
        assert r.headers["content-language"] == "zh-CN"
        (error,) = [e for e in r.json()["errors"] if e["field"] == "received_at"]
        assert error["message"] == f"按北京时间须在 2000–2099 年之间（该时间为北京时间 {there}）"
        r = await post(
            "/supervision/complaints",
            json={**base(), "received_at": at},
            headers={**officer(), "Accept-Language": "en"},
        )
        (error,) = [e for e in r.json()["errors"] if e["field"] == "received_at"]
        assert error["message"] == (
            f"must be in the years 2000–2099 in Beijing time (it is {there} there)"
        )
    # An alert may be set ahead of time: its end is checked the same way.
    r = await post(
        "/supervision/alerts",
        json={
            "level": "red",
            "districts": [DONGLI],
            "from": "2099-12-31T20:00:00+08:00",
            "to": "2099-12-31T23:00:00-10:00",
        },
        headers=ADMIN,
    )
    await expect(r, 422, "to")
    # So is an imported row.
    row = "channel,received_at,district,address,category,description\n"
    row += f"hotline,2000-01-01T00:00:00+14:00,{DONGLI},东丽区某路,air,工厂冒黑烟\n"
    r = await post(
        "/supervision/complaints:import",
        content=row.encode(),
        headers={**ADMIN, "content-type": "text/csv"},
    )
    assert r.status_code in (200, 207, 422) and "received_at" in r.text, r.text[:300]
    async with svc.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Complaint)) == 0
    # The span's first moment in Beijing (1999-12-31 16:00 in UTC) is
    # accepted and numbered in 2000.
    r = await post(
        "/supervision/complaints",
        json={**base(), "received_at": "2000-01-01T00:00:00+08:00"},
        headers=officer(),
    )
    assert r.status_code == 201, r.text[:300]
    assert r.json()["complaint"]["case_no"] == f"12369-{DONGLI}-2000-000001"


async def test_a_phone_number_is_accepted_exactly_when_the_document_says_so(
    svc: Service,
) -> None:
    """The complainant's phone: the document's pattern and the API agree on
    every case, spaces around the number included (the model strips them
    before it checks; "+5907 " once stripped is too short)."""
    doc = (await svc.http.get("/supervision/openapi.json")).json()
    phone = doc["components"]["schemas"]["ContactIn"]["properties"]["phone"]
    pattern = re.compile(next(s["pattern"] for s in phone["anyOf"] if "pattern" in s))
    cases = (
        "13900000000",
        "022-2345 6789",
        " 022-2345 6789 ",
        "+86 139 0000 0000",
        "12345",
        "+5907 ",
        "+5907",
        "1234",
        "1234-",
        "-12345",
        "+ 12345",
        "12345\n",
        "１２３４５",
        "1" * 25,
        "1" * 26,
    )
    for i, number in enumerate(cases):
        body = {**base(), "description": f"工厂冒黑烟 {i}", "complainant": {"phone": number}}
        r = await svc.http.post("/supervision/complaints", json=body, headers=officer())
        documented = pattern.search(number) is not None
        assert (r.status_code == 201) == documented, (number, r.status_code, r.text[:200])
        if not documented:
            await expect(r, 422, "complainant.phone")


async def test_a_refusal_is_written_in_the_callers_language(svc: Service) -> None:
    """An illegal transition said "complaint当前为 received" and a lone
    surrogate "无效：Input should be a valid string…" to a Chinese reader."""
    zh = {**officer(DONGLI), "accept-language": "zh-CN"}
    r = await svc.http.post("/supervision/complaints", json=base(), headers=zh)
    assert r.status_code == 201, r.text
    cid = r.json()["complaint"]["id"]
    r = await svc.http.post(
        f"/supervision/complaints/{cid}/close", json={"outcome": "referred"}, headers=zh
    )
    await expect(r, 409)
    assert r.json()["detail"].startswith("投诉当前为"), r.json()["detail"]
    r = await svc.http.post(
        f"/supervision/complaints/{cid}/reject",
        content=b'{"reason": "\\ud800"}',
        headers={**zh, "content-type": "application/json"},
    )
    await expect(r, 422, "reason")
    assert "Input should" not in r.text and "Unicode" in r.json()["detail"], r.text
    assert r.json()["detail"].startswith("reason: 不是有效的 Unicode 文本"), r.text


#: Each complaint action in lifecycle order (reject on a second complaint):
#: a body it takes, a field it does not take (one another action takes), and
#: the field it requires.
ACTIONS: list[tuple[str, dict[str, Any], dict[str, Any], str | None]] = [
    ("reject", {"reason": "不属于受理范围"}, {"officer": "zhang.wei"}, "reason"),
    ("accept", {}, {"reason": "已受理"}, None),
    ("assign", {"officer": "li.hua"}, {"reason": "改派"}, "officer"),
    ("reply", {"reply": "已责令整改"}, {"officer": "zhang.wei"}, "reply"),
    ("close", {"outcome": "substantiated", "note": "企业已整改"}, {"reply": "已办结"}, "outcome"),
    ("reopen", {"reason": "群众再次反映"}, {"outcome": "referred"}, "reason"),
]


async def _trace(svc: Service, cid: str) -> tuple[Any, ...]:
    """What an action changes: the complaint's row, its audit entries, the events."""
    async with svc.db.session() as s:
        c = await s.get(Complaint, cid)
        assert c is not None
        row = tuple(getattr(c, col.key) for col in Complaint.__table__.columns)
        audit = await s.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.target_id == cid)
        )
        events = await s.scalar(select(func.count()).select_from(OutboxRow))
    return row, audit, events


async def test_a_complaint_action_takes_exactly_its_own_fields(svc: Service) -> None:
    """One body schema for every action let `reply` with an `officer` answer
    200 and drop the officer unseen, as if the complaint had been
    reassigned. Each action now has its own body: a field it does not take
    is refused naming it, as is a required field missing, in Chinese or in
    English (Accept-Language), and nothing changes; then the same step with
    its own body goes through."""
    ids = []
    for _ in range(2):
        r = await svc.http.post("/supervision/complaints", json=base(), headers=officer())
        assert r.status_code == 201, r.text
        ids.append(r.json()["complaint"]["id"])
    en = {**officer(), "accept-language": "en"}
    # A client that sends no Accept-Language (the tests' client asks for English).
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=svc.app), base_url="http://testserver"
    ) as zh:
        await _each_action_refuses(svc, zh, ids, en)
    r = await svc.http.get(f"/supervision/complaints/{ids[1]}", headers=officer())
    assert (r.json()["status"], r.json()["assigned_to"]) == ("assigned", "li.hua"), r.json()
    assert r.json()["reopen_count"] == 1


async def _each_action_refuses(
    svc: Service, zh: httpx.AsyncClient, ids: list[str], en: dict[str, str]
) -> None:
    for action, body, other, required in ACTIONS:
        cid = ids[0] if action == "reject" else ids[1]
        url = f"/supervision/complaints/{cid}/{action}"
        before = await _trace(svc, cid)
        (field,) = other
        r = await zh.post(url, json={**body, **other}, headers=officer())
        await expect(r, 422, field)
        assert r.json()["detail"] == f"{field}: 不接受此字段", (action, r.json())
        r = await svc.http.post(url, json={**body, **other}, headers=en)
        await expect(r, 422, field)
        assert r.json()["detail"] == f"{field}: unknown field", (action, r.json())
        # A field given null is a field all the same.
        r = await svc.http.post(url, json={**body, field: None}, headers=officer())
        await expect(r, 422, field)
        if required is not None:
            rest = {k: v for k, v in body.items() if k != required}
            r = await zh.post(url, json=rest, headers=officer())
            await expect(r, 422, required)
            assert r.json()["detail"] == f"{required}: 必填项缺失", (action, r.json())
            r = await svc.http.post(url, json=rest, headers=en)
            await expect(r, 422, required)
            assert r.json()["detail"] == f"{required}: field required", (action, r.json())
            r = await svc.http.post(url, json={**body, required: " "}, headers=officer())
            await expect(r, 422, required)
        assert await _trace(svc, cid) == before, action
        r = await svc.http.post(url, json=body, headers=officer())
        assert r.status_code == 200, (action, r.text)
        assert await _trace(svc, cid) != before, action


async def test_accept_takes_no_body_or_an_empty_one(svc: Service) -> None:
    """accept takes nothing: a call with no body, an empty object or JSON
    null works as it always did; any field is refused."""
    for body in (None, {}, b"null"):
        r = await svc.http.post("/supervision/complaints", json=base(), headers=officer())
        url = f"/supervision/complaints/{r.json()['complaint']['id']}/accept"
        if isinstance(body, bytes):
            h = {**officer(), "content-type": "application/json"}
            r = await svc.http.post(url, content=body, headers=h)
        else:
            r = await svc.http.post(url, json=body, headers=officer())
        assert r.status_code == 200 and r.json()["status"] == "accepted", (body, r.text)


async def test_an_import_row_whose_history_does_not_hold_names_its_field(svc: Service) -> None:
    """A row of a complaints import "received" but with accepted_at and a
    rejected_reason was created as a received complaint that showed both; a
    rejected row without its reason, or an open one with an outcome, was an
    error of "body"; an accepted_at in the future was blamed on received_at."""
    received = T0.isoformat()
    rows: list[tuple[dict[str, Any], str]] = [
        ({"status": "received", "accepted_at": received}, "accepted_at"),
        ({"status": "rejected", "accepted_at": received, "rejected_reason": "r"}, "accepted_at"),
        ({"status": "received", "rejected_reason": "不属于受理范围"}, "rejected_reason"),
        ({"status": "rejected"}, "rejected_reason"),
        ({"status": "received", "outcome": "referred"}, "outcome"),
        ({"status": "accepted", "accepted_at": received, "closed_at": received}, "closed_at"),
        ({"status": "accepted", "accepted_at": "2099-01-01T00:00:00+08:00"}, "accepted_at"),
        (
            {
                "status": "closed",
                "accepted_at": received,
                "closed_at": "2099-01-01T00:00:00+08:00",
                "outcome": "referred",
            },
            "closed_at",
        ),
    ]
    lines = [
        {**base(), "description": f"工厂冒黑烟 {i}", **extra} for i, (extra, _) in enumerate(rows)
    ]
    body = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines)
    r = await svc.http.post(
        "/supervision/complaints:import",
        content=body.encode(),
        headers={**ADMIN, "content-type": "application/x-ndjson"},
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["result"] for x in results] == ["error"] * len(rows), results
    for (extra, field), result in zip(rows, results, strict=True):
        assert [e["field"] for e in result["errors"]] == [field], (extra, result)
    async with svc.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Complaint)) == 0


async def test_a_control_character_is_refused_at_the_field_that_holds_it(svc: Service) -> None:
    """A right-to-left override in the complainant's name was refused as an
    error of the whole "body", in a single complaint and in an import row
    ("row"): the caller had every text of the request to search."""
    body = {**base(), "complainant": {"name": "张\u202e三"}}
    zh = {**officer(), "accept-language": "zh-CN"}
    r = await svc.http.post("/supervision/complaints", json=body, headers=zh)
    await expect(r, 422, "complainant.name")
    assert r.json()["detail"].startswith("complainant.name: 不允许包含控制字符"), r.text
    line = {**base(), "description": "夜间\u0007排气"}
    r = await svc.http.post(
        "/supervision/complaints:import",
        content=json.dumps(line, ensure_ascii=False).encode(),
        headers={**ADMIN, "content-type": "application/x-ndjson"},
    )
    assert r.status_code == 200, r.text
    assert [e["field"] for e in r.json()["results"][0]["errors"]] == ["description"], r.text
    async with svc.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Complaint)) == 0


async def test_a_report_given_only_its_last_day_runs_from_1_january_of_that_year(
    svc: Service,
) -> None:
    """`?to=2020-01-01` alone was refused, "from must not be after to", for
    a `from` the caller never gave (1 January of this year). `from` now
    defaults to 1 January of `to`'s year; neither given: this year to today."""
    for path in ("/supervision/reports/complaints", "/supervision/reports/enforcement"):
        r = await svc.http.get(f"{path}?to=2020-06-30", headers=officer())
        assert r.status_code == 200, r.text
        assert (r.json()["from"], r.json()["to"]) == ("2020-01-01", "2020-06-30")
        r = await svc.http.get(f"{path}?from=2021-01-02&to=2021-01-01", headers=officer())
        await expect(r, 422, "from")


async def test_a_demand_s_owner_deadline_or_progress_cannot_be_cleared(svc: Service) -> None:
    """PATCH {"deadline": null} was answered "body: names nothing to change",
    and beside another change the null was dropped in silence."""
    item = {
        "district": DONGLI,
        "title": "道路扬尘",
        "source": "visit",
        "owner": "张敏",
        "deadline": "2099-12-31",
    }
    r = await svc.http.post("/supervision/demands", json=item, headers=officer())
    assert r.status_code == 201, r.text
    path = f"/supervision/demands/{r.json()['id']}"
    for name in ("deadline", "owner", "progress_percent"):
        for body in ({name: None}, {name: None, "progress_note": "进展"}):
            r = await svc.http.patch(path, json=body, headers=officer())
            await expect(r, 422, name)
    r = await svc.http.get("/supervision/demands", headers=officer())
    (kept,) = r.json()["items"]
    assert (kept["owner"], kept["deadline"], kept["progress_note"]) == ("张敏", "2099-12-31", None)
    # As the published schema says: these may be left out, never null.
    schema = (await svc.http.get("/supervision/openapi.json")).json()
    props = schema["components"]["schemas"]["ProgressIn"]["properties"]
    assert "null" not in json.dumps([props[n] for n in ("deadline", "owner", "progress_percent")])
    assert "null" in json.dumps(props["progress_note"])


async def test_a_report_to_the_calendar_s_first_days_runs_from_its_first_day(
    svc: Service,
) -> None:
    """`?to=0001-01-02` alone was a 500: `from` defaulted to 1 January of
    that year, 0001-01-01, whose start in Beijing is before the first
    moment a time can hold. `from` defaults to that day only as far back as
    a date may be given (0001-01-02); the report answers, empty."""
    for path in ("/supervision/reports/complaints", "/supervision/reports/enforcement"):
        for to in ("0001-01-02", "0001-12-31"):
            r = await svc.http.get(f"{path}?to={to}", headers=officer())
            assert r.status_code == 200, r.text
            assert (r.json()["from"], r.json()["to"]) == ("0001-01-02", to)
        r = await svc.http.get(f"{path}?from=0001-01-02&to=0001-01-02", headers=officer())
        assert r.status_code == 200, r.text
        r = await svc.http.get(f"{path}?to=9999-12-30", headers=officer())
        assert r.status_code == 200 and r.json()["from"] == "9999-01-01", r.text


async def test_a_day_of_a_record_is_in_the_bureau_s_years(svc: Service) -> None:
    """A grading valid in the year 1 or 9999, a guarantee entry so, the
    emergency policy effective from 0001-01-02 or 9999-01-01, a demand due
    in 9999 or a rectification order due in 2100 were recorded: every day
    the product keeps is of a year from 2000 to 2099, as the times of what
    it records are (a typing error otherwise). Each is a 422 naming the
    field, in the caller's language, and nothing is written."""
    uscc = await svc.enterprise(41, DONGLI)
    grade = {
        "grade": "B",
        "industry": "工业涂装",
        "basis": "绩效分级评定文件",
        "valid_from": "2026-01-01",
        "valid_to": "2026-12-31",
    }
    guarantee = {
        "reason": "livelihood",
        "valid_from": "2026-06-01",
        "valid_to": "2026-12-31",
        "allowed_measure": {"kind": "reduce", "percent": 10},
    }
    demand = {
        "district": DONGLI,
        "title": "道路扬尘",
        "source": "visit",
        "owner": "张敏",
        "deadline": "2099-12-31",
    }
    policy = (await svc.http.get("/supervision/emergency-policy", headers=ADMIN)).json()
    # What the requests write (the overdue sweep's entries and the import's
    # own, which lists its refused rows, aside).
    _written = (
        select(func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.action.not_in(("demand.mark_overdue", "demand.import")))
    )
    put, post = svc.http.put, svc.http.post
    writes = [
        (put, f"/supervision/grades/{uscc}", grade, ("valid_from", "valid_to")),
        (put, f"/supervision/guarantee-list/{uscc}", guarantee, ("valid_from", "valid_to")),
        (put, "/supervision/emergency-policy", {"rules": policy["rules"]}, ("effective_from",)),
        (post, "/supervision/demands", demand, ("deadline",)),
    ]
    async with svc.db.session() as s:
        before = await s.scalar(_written)
    for send, path, body, fields in writes:
        for day in ("0001-01-02", "1999-12-31", "2100-01-01", "9999-12-30"):
            for lang, words in (("zh-CN", "须在 2000–2099 年之间"), ("en", "2000–2099")):
                r = await send(
                    path,
                    json={**body, **dict.fromkeys(fields, day)},
                    headers={**ADMIN, "Accept-Language": lang},
                )
                for field in fields:
                    await expect(r, 422, field)
                    (error,) = [e for e in r.json()["errors"] if e["field"] == field]
                    assert words in error["message"], (path, field, day, r.text)
    r = await post(
        "/supervision/demands:import",
        content=json.dumps({**demand, "deadline": "9999-12-30"}, ensure_ascii=False).encode(),
        headers={**ADMIN, "content-type": "application/x-ndjson"},
    )
    assert [e["field"] for e in r.json()["results"][0]["errors"]] == ["deadline"], r.text
    async with svc.db.session() as s:
        assert await s.scalar(_written) == before
    # The years' first and last days are taken (a policy table's, not
    # before today, its last).
    r = await put(
        f"/supervision/grades/{uscc}",
        json={**grade, "valid_from": "2099-01-01", "valid_to": "2099-12-31"},
        headers=ADMIN,
    )
    assert r.status_code == 200, r.text
    r = await put(
        "/supervision/emergency-policy",
        json={"rules": policy["rules"], "effective_from": "2099-12-31"},
        headers=ADMIN,
    )
    assert r.status_code == 200, r.text


async def test_a_number_of_too_many_digits_is_refused_at_its_field(svc: Service) -> None:
    """A number of more than 30 digits is refused before the body is read
    (Python would spend itself on a 100 000-digit one), and the refusal
    named the whole "body" (an import's "row"), leaving the caller every
    value of the request to search. It now names the field holding it, in
    the caller's language; nothing is written."""
    long = "1" * 31
    for raw, field in (
        (f'{{"channel": {long}}}', "channel"),
        (f'{{"complainant": {{"wants_reply": {long}}}}}', "complainant.wants_reply"),
        (f'{{"lat": 0.{"0" * 40}1}}', "lat"),
        (f'{{"lng": {"9" * 5000}}}', "lng"),
        (f'{{"description": "{"1" * 40}", "district": -{long}e5}}', "district"),
        (f'{{"complainant": {{"name": "张三"}}, "x": [1, {long}]}}', "x.1"),
    ):
        for lang, words in (("zh-CN", "数字位数超过 30 位"), ("en", "more than 30 digits")):
            r = await svc.http.post(
                "/supervision/complaints",
                content=raw.encode(),
                headers={**officer(), "content-type": "application/json", "Accept-Language": lang},
            )
            await expect(r, 422, field)
            detail = r.json()["detail"]
            assert detail.startswith(f"{field}: ") and words in detail, r.text
    line = json.dumps({**base(), "description": "工厂冒黑烟"}, ensure_ascii=False)
    line = line[:-1] + f', "lat": {long}}}'
    r = await svc.http.post(
        "/supervision/complaints:import",
        content=line.encode(),
        headers={**ADMIN, "content-type": "application/x-ndjson"},
    )
    assert r.status_code == 200, r.text
    assert [e["field"] for e in r.json()["results"][0]["errors"]] == ["lat"], r.text
    async with svc.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Complaint)) == 0
    # Too deep as well, the body is refused for its depth, as the whole body.
    deep = "[" * 40 + "]" * 40
    r = await svc.http.post(
        "/supervision/complaints",
        content=f'{{"lat": {long}, "x": {deep}}}'.encode(),
        headers={**officer(), "content-type": "application/json", "Accept-Language": "en"},
    )
    await expect(r, 422, "body")
    assert "nested more than" in r.json()["detail"], r.text
