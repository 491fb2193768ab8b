"""Registrations (filed at once, changed, cancelled) and quality audits
(findings, rectification, overdue lists) through the HTTP API."""

from __future__ import annotations

import datetime as dt
import json

from permit_svc.calendar import local_today
from svc_common import testing
from svc_common.types import utcnow
from svc_common.uscc import make_uscc

from .conftest import BAODI, JIZHOU, Service

OFFICER = testing.auth("officer", [BAODI])


async def test_registration_filed_at_once_changed_and_cancelled(svc: Service) -> None:
    uscc = await svc.enterprise(21, industry="2921")
    r = await svc.http.post(
        "/permit/registrations",
        json={"uscc": uscc, "details": {"outlets": 1, "pollutants": ["颗粒物"]}},
        headers=OFFICER,
    )
    assert r.status_code == 201, r.text
    reg = r.json()
    today = local_today(utcnow())
    assert reg["registration_no"] == uscc + "001W" and reg["status"] == "active"
    assert reg["valid_from"] == today.isoformat()
    assert reg["allowed_actions"] == ["change", "cancel"]
    (filed,) = await svc.events("registration.filed.v1")
    assert filed["data"]["registration_no"] == uscc + "001W"
    # One registration in force per enterprise.
    again = await svc.http.post("/permit/registrations", json={"uscc": uscc}, headers=OFFICER)
    assert again.status_code == 409 and again.json()["registration_no"] == uscc + "001W"
    r = await svc.http.post(
        f"/permit/registrations/{reg['id']}/change",
        json={"details": {"outlets": 2}, "reason": "second line"},
        headers=OFFICER,
    )
    assert r.status_code == 200 and r.json()["details"] == {"outlets": 2}
    r = await svc.http.post(
        f"/permit/registrations/{reg['id']}/cancel", json={"reason": "停产"}, headers=OFFICER
    )
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    (cancelled,) = await svc.events("registration.cancelled.v1")
    assert cancelled["data"]["reason"] == "停产"
    for action, body in (("change", {"details": {}, "reason": "x"}), ("cancel", {"reason": "x"})):
        r = await svc.http.post(
            f"/permit/registrations/{reg['id']}/{action}", json=body, headers=OFFICER
        )
        assert r.status_code == 409 and r.json()["allowed"] == []
    # After cancelling, a new registration takes the next number.
    r = await svc.http.post("/permit/registrations", json={"uscc": uscc}, headers=OFFICER)
    assert r.status_code == 201 and r.json()["registration_no"] == uscc + "002W"
    listed = (await svc.http.get(f"/permit/registrations?district={BAODI}", headers=OFFICER)).json()
    assert [x["registration_no"] for x in listed["items"]] == [uscc + "001W", uscc + "002W"]


async def test_registration_refused_for_permit_industries_and_other_districts(svc: Service) -> None:
    key = await svc.enterprise(22, industry="2614")
    r = await svc.http.post("/permit/registrations", json={"uscc": key}, headers=OFFICER)
    assert r.status_code == 422 and "needs a permit" in r.json()["errors"][0]["message"]
    other = await svc.enterprise(23, industry="2921", district=JIZHOU)
    r = await svc.http.post("/permit/registrations", json={"uscc": other}, headers=OFFICER)
    assert (
        r.status_code == 422
        and r.json()["errors"][0]["message"] == "no enterprise has this code here"
    )
    permit_applied = await svc.http.post(
        "/permit/permits",
        json={
            "uscc": await svc.enterprise(24, industry="3311"),
            "pollutants": [{"pollutant": "PM", "amount_t": "1"}],
        },
        headers=OFFICER,
    )
    assert permit_applied.status_code == 422
    assert "registration management" in permit_applied.json()["errors"][0]["message"]


async def test_bulk_filings_report_each_row(svc: Service) -> None:
    ok = await svc.enterprise(25, industry="2921")
    taken = await svc.enterprise(26, industry="2921")
    key = await svc.enterprise(27, industry="2614")
    assert (
        await svc.http.post("/permit/registrations", json={"uscc": taken}, headers=OFFICER)
    ).status_code == 201
    upload = "\n".join(
        json.dumps(row)
        for row in (
            {"uscc": ok, "details": {"outlets": 1}},
            {"uscc": taken},
            {"uscc": key},
            {"uscc": make_uscc(BAODI, 28)},
            {"uscc": ok[:17] + "0" if ok[17] != "0" else ok[:17] + "1"},
        )
    )
    r = await svc.http.post(
        "/permit/registrations:import",
        content=upload.encode(),
        headers={**OFFICER, "content-type": "application/x-ndjson"},
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["rows"], report["totals"]["created"], report["totals"]["error"]) == (5, 1, 4)
    rows = report["results"]
    assert rows[0]["number"] == ok + "001W" and rows[0]["row_key"] == ok
    assert "already has registration" in rows[1]["errors"][0]["message"]
    assert "needs a permit" in rows[2]["errors"][0]["message"]
    assert "no enterprise" in rows[3]["errors"][0]["message"]
    assert "check character" in rows[4]["errors"][0]["message"]
    assert len(await svc.events("registration.filed.v1")) == 2
    # Existing certificates: the same per-row reporting, JSON lines only.
    r = await svc.http.post(
        "/permit/permits:import",
        content=json.dumps(
            {
                "uscc": key,
                "pollutants": [{"pollutant": "VOCs", "amount_t": "1"}],
                "valid_from": "2020-01-01",
                "valid_to": "2021-01-01",
            }
        ).encode(),
        headers={**OFFICER, "content-type": "application/x-ndjson"},
    )
    assert r.json()["totals"]["error"] == 1
    assert r.json()["results"][0]["errors"][0]["field"] == "valid_to"
    r = await svc.http.post(
        "/permit/permits:import", content=b"uscc\n", headers={**OFFICER, "content-type": "text/csv"}
    )
    assert r.status_code == 415


async def _issued_permit(svc: Service, serial: int) -> str:
    uscc = await svc.enterprise(serial)
    r = await svc.http.post(
        "/permit/permits",
        json={"uscc": uscc, "pollutants": [{"pollutant": "NOx", "amount_t": "2"}]},
        headers=OFFICER,
    )
    pid = str(r.json()["id"])
    assert (await svc.http.post(f"/permit/permits/{pid}/issue", headers=OFFICER)).status_code == 200
    return pid


async def test_audit_findings_rectified_and_overdue(svc: Service) -> None:
    pid = await _issued_permit(svc, 31)
    today = local_today(utcnow())
    r = await svc.http.post(
        f"/permit/permits/{pid}/audits",
        json={
            "result": "findings",
            "findings": [
                {
                    "description": "许可排放量核算依据不足",
                    "rectification_deadline": (today + dt.timedelta(days=10)).isoformat(),
                },
                {
                    "description": "自行监测方案缺少VOCs",
                    "rectification_deadline": (today + dt.timedelta(days=40)).isoformat(),
                },
            ],
        },
        headers=OFFICER,
    )
    assert r.status_code == 201, r.text
    audit = r.json()
    first, second = audit["findings"]
    assert first["status"] == second["status"] == "open" and not first["overdue"]
    # Judged 20 days on, the first finding is overdue; the second is not.
    as_of = (today + dt.timedelta(days=20)).isoformat()
    overdue = (
        await svc.http.get(f"/permit/audits?overdue=true&as_of={as_of}", headers=OFFICER)
    ).json()
    (listed,) = overdue["items"]
    assert [f["overdue"] for f in listed["findings"]] == [True, False]
    assert (await svc.http.get("/permit/audits?overdue=true", headers=OFFICER)).json()[
        "items"
    ] == []
    r = await svc.http.post(
        f"/permit/audits/{audit['id']}/findings/{first['id']}/rectify",
        json={"note": "补充核算依据"},
        headers=OFFICER,
    )
    assert r.status_code == 200
    assert r.json()["findings"][0]["status"] == "rectified"
    assert r.json()["findings"][0]["rectified_by"] == "officer.test"
    again = await svc.http.post(
        f"/permit/audits/{audit['id']}/findings/{first['id']}/rectify", json={}, headers=OFFICER
    )
    assert again.status_code == 409 and again.json()["allowed"] == []
    overdue = (
        await svc.http.get(f"/permit/audits?overdue=true&as_of={as_of}", headers=OFFICER)
    ).json()
    assert overdue["items"] == []
    missing = await svc.http.post(
        f"/permit/audits/{audit['id']}/findings/nope/rectify", json={}, headers=OFFICER
    )
    assert missing.status_code == 404


async def test_audit_input_rules(svc: Service) -> None:
    pid = await _issued_permit(svc, 32)
    today = local_today(utcnow())
    finding = {
        "description": "x",
        "rectification_deadline": (today + dt.timedelta(days=5)).isoformat(),
    }
    cases = [
        ({"result": "pass", "findings": [finding]}, "findings"),
        ({"result": "findings", "findings": []}, "findings"),
        (
            {
                "result": "findings",
                "findings": [{**finding, "rectification_deadline": "2000-01-01"}],
            },
            "findings.0.rectification_deadline",
        ),
        ({"result": "excellent"}, "result"),
    ]
    for body, field in cases:
        r = await svc.http.post(f"/permit/permits/{pid}/audits", json=body, headers=OFFICER)
        assert r.status_code == 422, (body, r.text)
        assert field in {e["field"] for e in r.json()["errors"]}
    # A result that does not fit its findings is told in the caller's
    # language (it was English under a zh-CN answer).
    zh = {**OFFICER, "Accept-Language": "zh-CN"}
    for body, said in (
        ({"result": "pass", "findings": [finding]}, "审核通过（result 'pass'）时不得列出问题"),
        ({"result": "findings", "findings": []}, "发现问题（result 'findings'）时至少列出一个问题"),
    ):
        r = await svc.http.post(f"/permit/permits/{pid}/audits", json=body, headers=zh)
        assert r.status_code == 422 and r.headers["content-language"] == "zh-CN", r.text
        (error,) = [e for e in r.json()["errors"] if e["field"] == "findings"]
        assert error["message"].startswith(said) and said in r.json()["detail"], r.json()
    # An application (not in force) cannot be audited.
    uscc = await svc.enterprise(33)
    app = await svc.http.post(
        "/permit/permits",
        json={"uscc": uscc, "pollutants": [{"pollutant": "NOx", "amount_t": "2"}]},
        headers=OFFICER,
    )
    r = await svc.http.post(
        f"/permit/permits/{app.json()['id']}/audits", json={"result": "pass"}, headers=OFFICER
    )
    assert r.status_code == 409
    r = await svc.http.post(
        f"/permit/permits/{pid}/audits",
        json={"result": "pass"},
        headers=testing.auth("officer", [JIZHOU]),
    )
    assert r.status_code == 404  # another district's permit: not found
