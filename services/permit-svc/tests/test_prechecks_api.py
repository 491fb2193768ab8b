"""Pre-acceptance checks of applications (许可申请受理前自动校验) through
the HTTP API, on SQLite and PostgreSQL: the advisory checks an application
keeps when it is accepted, judged again on request, and a dry run of a body
that writes nothing and reports apply's refusals as failed checks."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from svc_common import clock, testing
from svc_common.events.schemas.eia import FilingApproved
from svc_common.uscc import make_uscc

from .conftest import BAODI, JIZHOU, Service
from .test_permit_or_registration import _reclassify
from .test_quota_and_consumed_events import allocation

#: 10:00 in Beijing on 10 March 2026.
NOW = dt.datetime(2026, 3, 10, 2, 0, tzinfo=dt.UTC)
OFFICER = testing.auth("officer", [BAODI])
ZH = {"Accept-Language": "zh-CN"}


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    with clock.using(clock.ManualClock(NOW)):
        yield


def _body(uscc: str, project: str | None = None, **amounts: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uscc": uscc,
        "pollutants": [{"pollutant": p, "amount_t": t} for p, t in amounts.items()],
    }
    if project is not None:
        body["project_ref"] = project
    return body


def _failed(checks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["code"]: c for c in checks if not c["passed"]}


async def _import(svc: Service, uscc: str, vocs: str = "3") -> str:
    row = {
        "uscc": uscc,
        "pollutants": [{"pollutant": "VOCs", "amount_t": vocs}],
        "valid_from": "2024-05-10",
        "valid_to": "2029-05-09",
    }
    r = await svc.http.post(
        "/permit/permits:import",
        content=json.dumps(row).encode(),
        headers={**OFFICER, "content-type": "application/x-ndjson"},
    )
    assert r.status_code == 200 and r.json()["totals"]["created"] == 1, r.text
    return str(r.json()["results"][0]["id"])


async def test_a_permit_with_no_checks_kept_is_not_listed_as_one_whose_checks_found_nothing(
    svc: Service,
) -> None:
    """`attention=false` lists the permits whose kept checks found nothing:
    an imported permit (or one applied for before checks were kept) has
    none (`prechecks` null, `attention` 0), and was listed with them, as if
    checked and clean; it is in neither list."""
    imported = await _import(svc, await svc.enterprise(6705))
    checked = await svc.enterprise(6706)
    r = await svc.http.post("/permit/permits", json=_body(checked, NOx="1"), headers=OFFICER)
    assert r.status_code == 201 and r.json()["attention"] == 0, r.text
    r = await svc.http.get(f"/permit/permits/{imported}", headers=OFFICER)
    assert r.json()["prechecks"] is None and r.json()["attention"] == 0, r.text
    r = await svc.http.get("/permit/permits?attention=false", headers=OFFICER)
    assert [p["uscc"] for p in r.json()["items"]] == [checked], r.text
    r = await svc.http.get("/permit/permits?attention=true", headers=OFFICER)
    assert r.json()["items"] == [], r.text
    # Unfiltered, it is listed as ever.
    r = await svc.http.get("/permit/permits", headers=OFFICER)
    assert imported in [p["id"] for p in r.json()["items"]]


async def test_an_application_keeps_the_checks_judged_when_accepted(svc: Service) -> None:
    uscc = await svc.enterprise(6701)
    r = await svc.http.post(
        "/permit/permits", json=_body(uscc, "P-6701", NOx="1", VOCs="5"), headers=OFFICER
    )
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    checks = r.json()["prechecks"]
    assert [c["code"] for c in checks] == [
        "vocs_quota_backing",
        "permit_in_force",
        "pending_application",
        "open_rectification",
        "missed_execution_reports",
        "no_project_eia",
        "zero_amount",
    ]
    failed = _failed(checks)
    assert set(failed) == {"vocs_quota_backing", "no_project_eia"}
    assert r.json()["attention"] == 2
    # The field indexes the permit's pollutants as it shows them (VOCs
    # first), whatever order the request listed them in: judged again, the
    # same field. A dry run's indexes the body it was given (VOCs second).
    assert [x["pollutant"] for x in r.json()["pollutants"]] == ["VOCs", "NOx"]
    assert failed["vocs_quota_backing"]["field"] == "pollutants.0.amount_t"
    live = await svc.http.get(f"/permit/permits/{pid}/prechecks", headers=OFFICER)
    assert _failed(live.json()["prechecks"])["vocs_quota_backing"]["field"] == (
        "pollutants.0.amount_t"
    )
    dry = await svc.http.post(
        "/permit/prechecks", json=_body(uscc, "P-6701", NOx="1", VOCs="5"), headers=OFFICER
    )
    assert _failed(dry.json()["prechecks"])["vocs_quota_backing"]["field"] == (
        "pollutants.1.amount_t"
    )
    assert "5.000 t/a is missing" in failed["vocs_quota_backing"]["message"]
    assert failed["no_project_eia"]["field"] == "project_ref"
    # Kept, and said in the reader's language when read.
    r = await svc.http.get(f"/permit/permits/{pid}", headers={**OFFICER, **ZH})
    zh = _failed(r.json()["prechecks"])
    assert "尚缺 5.000 吨/年" in zh["vocs_quota_backing"]["message"]
    assert r.json()["attention"] == 2
    # The list finds the applications needing attention.
    other = await svc.enterprise(6702)
    r = await svc.http.post("/permit/permits", json=_body(other, NOx="1"), headers=OFFICER)
    assert r.status_code == 201 and r.json()["attention"] == 0, r.text
    r = await svc.http.get("/permit/permits?attention=true", headers=OFFICER)
    assert [p["id"] for p in r.json()["items"]] == [pid]
    r = await svc.http.get("/permit/permits?attention=false", headers=OFFICER)
    assert [p["uscc"] for p in r.json()["items"]] == [other]

    # Judged again now: quota-svc has allocated the project's quota since.
    await testing.deliver(svc.app, allocation("res-6701", "P-6701", None, "5"))
    r = await svc.http.get(f"/permit/permits/{pid}/prechecks", headers=OFFICER)
    assert r.status_code == 200, r.text
    assert r.json()["attention"] == 0 and r.json()["accepted"] is True
    # The kept checks were judged again when the allocation was learned.
    r = await svc.http.get(f"/permit/permits/{pid}", headers=OFFICER)
    assert r.json()["attention"] == 0 and _failed(r.json()["prechecks"]) == {}
    r = await svc.http.get("/permit/permits?attention=true", headers=OFFICER)
    assert r.json()["items"] == []
    # Only an application is judged again; another district's is not found.
    r = await svc.http.post(f"/permit/permits/{pid}/issue", headers=OFFICER)
    assert r.status_code == 200, r.text
    r = await svc.http.get(f"/permit/permits/{pid}/prechecks", headers=OFFICER)
    assert r.status_code == 409 and r.json()["state"] == "issued", r.text
    r = await svc.http.get(
        f"/permit/permits/{pid}/prechecks", headers=testing.auth("officer", [JIZHOU])
    )
    assert r.status_code == 404


async def test_what_the_enterprise_has_under_way_is_said(svc: Service) -> None:
    """A permit in force with overdue reports and an audit finding open, an
    application pending, a pollutant at 0: each said, none refusing."""
    uscc = await svc.enterprise(6703)
    held = await _import(svc, uscc)
    r = await svc.http.post(
        f"/permit/permits/{held}/audits",
        json={
            "result": "findings",
            "findings": [
                {"description": "自行监测方案缺失", "rectification_deadline": "2026-05-01"},
                {"description": "排放口信息不全", "rectification_deadline": "2026-04-01"},
            ],
        },
        headers=OFFICER,
    )
    assert r.status_code == 201, r.text
    r = await svc.http.post("/permit/permits", json=_body(uscc, NOx="1"), headers=OFFICER)
    assert r.status_code == 201, r.text
    first = r.json()["id"]
    r = await svc.http.post("/permit/permits", json=_body(uscc, VOCs="4", NOx="0"), headers=OFFICER)
    assert r.status_code == 201, r.text
    failed = _failed(r.json()["prechecks"])
    permit_no = f"{uscc}001P"
    missed = await svc.http.get(
        f"/permit/execution-reports/missed?district={BAODI}&limit=100", headers=OFFICER
    )
    owed = len(missed.json()["items"])
    assert owed > 0
    assert {k: (v["field"], v["passed"]) for k, v in failed.items()} == {
        "vocs_quota_backing": ("pollutants.0.amount_t", False),
        "permit_in_force": (None, False),
        "pending_application": (None, False),
        "open_rectification": (None, False),
        "missed_execution_reports": (None, False),
        "zero_amount": ("pollutants.1.amount_t", False),
    }
    # 1 t above the 3 t in force; an expansion of a permit in force needs no project here.
    assert "1.000 t/a is missing" in failed["vocs_quota_backing"]["message"]
    assert permit_no in failed["permit_in_force"]["message"]
    assert first in failed["pending_application"]["message"]
    assert "2 audit finding(s)" in failed["open_rectification"]["message"]
    assert "2026-04-01" in failed["open_rectification"]["message"]
    assert f"{owed} overdue" in failed["missed_execution_reports"]["message"]
    assert r.json()["attention"] == 6


async def test_a_dry_run_writes_nothing_and_reports_refusals_as_checks(svc: Service) -> None:
    uscc = await svc.enterprise(6704)
    r = await svc.http.post(
        "/permit/prechecks", json=_body(uscc, VOCs="2", NOx="0"), headers={**OFFICER, **ZH}
    )
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] is True
    codes = [c["code"] for c in r.json()["prechecks"]]
    assert codes[:4] == [
        "enterprise_unknown",
        "enterprise_closed",
        "registration_management",
        "holds_registration",
    ]
    failed = _failed(r.json()["prechecks"])
    assert set(failed) == {"vocs_quota_backing", "no_project_eia", "zero_amount"}
    assert r.json()["attention"] == 3
    assert failed["no_project_eia"]["message"].startswith("申请 VOCs 许可量但未填建设项目")
    assert failed["zero_amount"]["message"] == "NOx 的许可量为 0 吨/年：不许可的污染物无需列出"
    r = await svc.http.post("/permit/prechecks", json=_body(uscc, VOCs="2"), headers=OFFICER)
    assert _failed(r.json()["prechecks"])["no_project_eia"]["message"].startswith(
        "VOCs is applied for with no project"
    )
    assert (await svc.http.get("/permit/permits", headers=OFFICER)).json()["items"] == []

    # What apply refuses is a failed check, not an error: unknown here
    # (another district's enterprise alike), closed, registration management.
    unknown = _body(make_uscc(BAODI, 6799), NOx="1")
    elsewhere = testing.auth("officer", [JIZHOU])
    for body, headers in ((unknown, OFFICER), (_body(uscc, NOx="1"), elsewhere)):
        r = await svc.http.post("/permit/prechecks", json=body, headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["accepted"] is False
        assert [(c["code"], c["passed"], c["field"]) for c in r.json()["prechecks"]] == [
            ("enterprise_unknown", False, "uscc"),
            ("zero_amount", True, "pollutants"),
        ]
        assert r.json()["prechecks"][0]["message"].startswith("no enterprise has this code here")
        assert "district" not in r.text
    closed = await svc.enterprise(6705, operating_status="closed")
    registration = await svc.enterprise(6706, industry="2921")
    for who, code in ((closed, "enterprise_closed"), (registration, "registration_management")):
        r = await svc.http.post("/permit/prechecks", json=_body(who, NOx="1"), headers=OFFICER)
        assert r.json()["accepted"] is False and set(_failed(r.json()["prechecks"])) == {code}
        applied = await svc.http.post("/permit/permits", json=_body(who, NOx="1"), headers=OFFICER)
        assert applied.status_code in (409, 422)
        assert (
            applied.json()["errors"][0]["message"]
            == _failed(r.json()["prechecks"])[code]["message"]
        )
    # Apply's roles.
    r = await svc.http.post(
        "/permit/prechecks", json=_body(uscc, NOx="1"), headers=testing.auth("auditor")
    )
    assert r.status_code == 403
    # A body apply refuses as malformed is refused alike.
    r = await svc.http.post("/permit/prechecks", json={"uscc": uscc}, headers=OFFICER)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "pollutants"


async def test_a_dry_run_names_the_registration_held(svc: Service) -> None:
    uscc = await svc.enterprise(6707, industry="2641")
    await _reclassify(svc, "C2641", "registration")
    r = await svc.http.post("/permit/registrations", json={"uscc": uscc}, headers=OFFICER)
    assert r.status_code == 201, r.text
    number = r.json()["registration_no"]
    await _reclassify(svc, "C2641", "key")
    r = await svc.http.post("/permit/prechecks", json=_body(uscc, NOx="1"), headers=OFFICER)
    failed = _failed(r.json()["prechecks"])
    assert r.json()["accepted"] is False and set(failed) == {"holds_registration"}
    assert number in failed["holds_registration"]["message"]


async def test_a_drafted_application_keeps_its_checks(svc: Service) -> None:
    approved = FilingApproved(
        filing_id="EIA-2026-6708",
        project_ref="P-6708",
        project_name="扩建项目",
        uscc=make_uscc(BAODI, 6708),
        enterprise_name="企业6708",
        district=BAODI,
        industry_code="2641",
        category="report_form",
        vocs_increment_t=Decimal("2.5"),
    )
    await testing.deliver(svc.app, approved)
    r = await svc.http.get("/permit/permits?status=applied", headers=OFFICER)
    (draft,) = r.json()["items"]
    failed = _failed(draft["prechecks"])
    assert set(failed) == {"vocs_quota_backing", "no_project_eia"}, failed
    assert failed["no_project_eia"]["field"] == "project_ref"
    assert "P-6708" in failed["no_project_eia"]["message"]


async def test_a_draft_s_kept_checks_are_judged_again_when_its_quota_is_learned(
    svc: Service,
) -> None:
    """Drafted from an approved filing before quota-svc's allocation
    arrives, an application keeps "not backed"; each allocation learned for
    the enterprise judges its kept checks again, in the handler's
    transaction, so the list of those needing attention follows."""
    uscc = make_uscc(BAODI, 6709)
    approved = FilingApproved(
        filing_id="EIA-2026-6709",
        project_ref="P-6709",
        project_name="扩建项目",
        uscc=uscc,
        enterprise_name="企业6709",
        district=BAODI,
        industry_code="2641",
        category="report_form",
        vocs_increment_t=Decimal("2.5"),
    )
    await testing.deliver(svc.app, approved)
    r = await svc.http.get("/permit/permits?attention=true", headers=OFFICER)
    (draft,) = r.json()["items"]
    assert set(_failed(draft["prechecks"])) == {"vocs_quota_backing", "no_project_eia"}
    # Another enterprise's application, of another project, is left alone.
    other = await svc.enterprise(6710)
    r = await svc.http.post("/permit/permits", json=_body(other, VOCs="1"), headers=OFFICER)
    assert r.status_code == 201 and r.json()["attention"] == 2, r.text

    # Part of the quota: the project is known now, 1.5 t/a still missing.
    env = await testing.deliver(svc.app, allocation("res-6709-1", "P-6709", uscc, "1"))
    await testing.redeliver(svc.app, env, "quota.events")
    r = await svc.http.get(f"/permit/permits/{draft['id']}", headers=OFFICER)
    failed = _failed(r.json()["prechecks"])
    assert set(failed) == {"vocs_quota_backing"} and r.json()["attention"] == 1
    assert "1.500 t/a is missing" in failed["vocs_quota_backing"]["message"]
    # All of it, allocated naming no enterprise: the project's applications.
    await testing.deliver(svc.app, allocation("res-6709-2", "P-6709", None, "1.5"))
    r = await svc.http.get(f"/permit/permits/{draft['id']}", headers=OFFICER)
    assert r.json()["attention"] == 0 and _failed(r.json()["prechecks"]) == {}
    r = await svc.http.get("/permit/permits?attention=true", headers=OFFICER)
    assert [p["uscc"] for p in r.json()["items"]] == [other]
    r = await svc.http.get("/permit/permits?attention=false", headers=OFFICER)
    assert [p["id"] for p in r.json()["items"]] == [draft["id"]]
