"""Permit execution reports (执行报告) through the HTTP API, on SQLite and
PostgreSQL: filing with plausibility findings, corrections that supersede,
refusals naming the field, and the missed-report list (逾期未报)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from permit_svc.app import create
from permit_svc.settings import Settings
from svc_common import clock, testing
from svc_common.events.schemas.eia import FilingApproved
from svc_common.uscc import make_uscc

from .conftest import BAODI, JIZHOU, Service

#: 10:00 in Beijing on 10 March 2026.
NOW = dt.datetime(2026, 3, 10, 2, 0, tzinfo=dt.UTC)
OFFICER = testing.auth("officer", [BAODI])
ZH = {"Accept-Language": "zh-CN"}


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    with clock.using(clock.ManualClock(NOW)):
        yield


async def _permit(
    svc: Service,
    serial: int,
    industry: str = "2641",
    district: str = BAODI,
    valid_from: str = "2025-05-10",
    **amounts: str,
) -> str:
    uscc = await svc.enterprise(serial, industry=industry, district=district)
    row = {
        "uscc": uscc,
        "pollutants": [
            {"pollutant": p.replace("_", "-"), "amount_t": t}
            for p, t in (amounts or {"VOCs": "10"}).items()
        ],
        "valid_from": valid_from,
        "valid_to": "2030-05-09",
    }
    r = await svc.http.post(
        "/permit/permits:import",
        content=json.dumps(row).encode(),
        headers={**testing.auth("officer", [district]), "content-type": "application/x-ndjson"},
    )
    assert r.status_code == 200, r.text
    (result,) = r.json()["results"]
    assert result["result"] == "created", result
    permit_id: str = result["id"]
    return permit_id


async def _file(
    svc: Service,
    permit_id: str,
    period: str,
    headers: dict[str, str] | None = None,
    **emissions: str,
) -> Any:
    body = {
        "period": period,
        "emissions": [{"pollutant": p, "amount_t": t} for p, t in emissions.items()],
    }
    return await svc.http.post(
        f"/permit/permits/{permit_id}/execution-reports", json=body, headers=headers or OFFICER
    )


async def test_a_report_filed_flagged_and_corrected_keeps_its_versions(svc: Service) -> None:
    permit_id = await _permit(svc, 8101)
    r = await _file(svc, permit_id, "2025", VOCs="12.5")
    assert r.status_code == 201, r.text
    first = r.json()
    assert (first["version"], first["current"], first["supersedes"]) == (1, True, None)
    assert (first["period_start"], first["period_end"], first["due_date"]) == (
        "2025-01-01",
        "2025-12-31",
        "2026-01-15",
    )
    assert first["late"] is True  # filed on 10 March, due 15 January
    assert first["emissions"] == [{"pollutant": "VOCs", "amount_t": "12.500"}]
    (finding,) = first["findings"]
    assert finding["code"] == "over_permitted"
    assert (finding["reported_t"], finding["permitted_t"]) == ("12.500", "10.000")
    assert "above the permitted 10.000 t/a" in finding["message"]
    # A second filing for the year is a correction: version 2, the first kept.
    r = await _file(svc, permit_id, "2025", VOCs="9.75")
    assert r.status_code == 201, r.text
    second = r.json()
    assert (second["version"], second["supersedes"], second["findings"]) == (2, first["id"], [])
    path = f"/permit/permits/{permit_id}/execution-reports"
    current = (await svc.http.get(path, headers=OFFICER)).json()["items"]
    assert [(x["id"], x["current"]) for x in current] == [(second["id"], True)]
    every = (await svc.http.get(path, params={"superseded": "true"}, headers=OFFICER)).json()
    assert [(x["version"], x["current"]) for x in every["items"]] == [(1, False), (2, True)]
    filed = await svc.events("permit.execution_report.filed.v1")
    assert [e["data"]["version"] for e in filed] == [1, 2]
    assert filed[0]["data"]["findings"] == [
        {
            "code": "over_permitted",
            "pollutant": "VOCs",
            "reported_t": "12.500",
            "permitted_t": "10.000",
        }
    ]
    assert filed[1]["data"]["supersedes"] == first["id"] and filed[1]["data"]["findings"] == []
    # In Chinese when asked: the finding says 超许可排放量.
    zh = await svc.http.get(path, params={"superseded": "true"}, headers={**OFFICER, **ZH})
    assert "超许可排放量" in zh.json()["items"][0]["findings"][0]["message"]


async def test_quarters_summed_above_the_year_are_flagged(svc: Service) -> None:
    permit_id = await _permit(svc, 8102)
    for quarter, amount in (("2025-Q2", "4"), ("2025-Q3", "4")):
        r = await _file(svc, permit_id, quarter, VOCs=amount)
        assert r.status_code == 201 and r.json()["findings"] == [], r.text
    r = await _file(svc, permit_id, "2025-Q4", VOCs="3.001")
    assert r.status_code == 201, r.text
    (finding,) = r.json()["findings"]
    assert finding["code"] == "quarters_over_permitted"
    assert (finding["reported_t"], finding["permitted_t"]) == ("11.001", "10.000")
    # The corrected quarter replaces its old amount in the sum.
    r = await _file(svc, permit_id, "2025-Q4", VOCs="2")
    assert r.status_code == 201 and r.json()["findings"] == [], r.text


async def test_refusals_name_the_field(svc: Service) -> None:
    key = await _permit(svc, 8103)
    simple = await _permit(svc, 8104, industry="2110")

    async def refused(permit_id: str, period: str, field: str, **emissions: str) -> str:
        r = await _file(svc, permit_id, period, **(emissions or {"VOCs": "1"}))
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        (error,) = r.json()["errors"]
        assert error["field"] == field, error
        message: str = error["message"]
        return message

    assert "has not ended" in await refused(key, "2026-Q1", "period")
    assert "before the permit's validity" in await refused(key, "2025-Q1", "period")
    assert "before the permit's validity" in await refused(key, "2024", "period")
    assert "no quarterly reports" in await refused(simple, "2025-Q3", "period")
    assert "no monthly reports" in await refused(key, "2025-07", "period")
    assert "is not a period" in await refused(key, "2025-Q5", "period")
    assert "is not a period" in await refused(key, "0000", "period")
    # The last year the calendar holds: its last period ends on its last
    # day (counted without the day after it, year 10000: a 500).
    for period in ("9999", "9999-Q4"):
        assert "ends on 9999-12-31" in await refused(key, period, "period")
    await refused(key, "2025", "emissions.0.pollutant", CO2="1")
    assert "sets no permitted amount for NOx" in await refused(
        key, "2025", "emissions.1.pollutant", VOCs="1", NOx="1"
    )
    await refused(key, "2025", "emissions.0.amount_t", VOCs="-1")
    await refused(key, "2025", "emissions.0.amount_t", VOCs="1.0001")
    # In Chinese when the client asks for it.
    r = await _file(svc, key, "2026-Q1", headers={**OFFICER, **ZH}, VOCs="1")
    assert r.status_code == 422 and "尚未结束" in r.json()["errors"][0]["message"]
    r = await _file(svc, key, "2025", headers={**OFFICER, **ZH}, NOx="1")
    assert "许可证未许可 NOx" in r.json()["errors"][0]["message"]
    # Nothing was filed by any of them.
    assert await svc.events("permit.execution_report.filed.v1") == []


async def test_other_districts_applications_and_replays(svc: Service) -> None:
    other = await _permit(svc, 8105, district=JIZHOU)
    r = await _file(svc, other, "2025", VOCs="1")
    assert r.status_code == 404, r.text
    r = await svc.http.get(f"/permit/permits/{other}/execution-reports", headers=OFFICER)
    assert r.status_code == 404
    uscc = await svc.enterprise(8106)
    r = await svc.http.post(
        "/permit/permits",
        json={"uscc": uscc, "pollutants": [{"pollutant": "VOCs", "amount_t": "0"}]},
        headers=OFFICER,
    )
    assert r.status_code == 201, r.text
    r = await _file(svc, r.json()["id"], "2025", VOCs="0")
    assert r.status_code == 409 and r.json()["state"] == "applied", r.text
    # A write with an Idempotency-Key, sent twice, files once.
    permit_id = await _permit(svc, 8107)
    keyed = testing.auth("officer", [BAODI], sub="officer.k", idem="er-8107")
    first = await _file(svc, permit_id, "2025", headers=keyed, VOCs="1")
    again = await _file(svc, permit_id, "2025", headers=keyed, VOCs="1")
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert len(await svc.events("permit.execution_report.filed.v1")) == 1


async def test_missed_reports_by_district_paged(svc: Service) -> None:
    key = await _permit(svc, 8108)
    simple = await _permit(svc, 8109, industry="2110")
    await _permit(svc, 8110, district=JIZHOU)
    # Valid from 10 March 2026 (today): nothing ended since, nothing owed.
    await _permit(svc, 8111, valid_from="2026-03-10")
    r = await _file(svc, key, "2025-Q3", VOCs="1")
    assert r.status_code == 201, r.text
    path = "/permit/execution-reports/missed"
    seen: list[tuple[str, str]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await svc.http.get(path, params=params, headers=OFFICER)).json()
        seen += [(x["permit_id"], x["period"]) for x in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    expected = {
        key: ["2025", "2025-Q2", "2025-Q4"],  # Q3 filed; Q2 due 15 July, Q4 and 2025 15 Jan
        simple: ["2025"],
    }
    assert seen == sorted((p, c) for p, codes in expected.items() for c in codes)
    page = (await svc.http.get(path, params={"limit": 10}, headers=OFFICER)).json()
    row = next(x for x in page["items"] if x["period"] == "2025-Q4")
    assert (row["due_date"], row["days_overdue"], row["category"]) == ("2026-01-15", 54, "key")
    # Judged on 15 January 2026, the year and the fourth quarter are still in time.
    page = (await svc.http.get(path, params={"as_of": "2026-01-15"}, headers=OFFICER)).json()
    assert sorted(x["period"] for x in page["items"]) == ["2025-Q2"]
    # Another district: refused when asked for, left out otherwise.
    r = await svc.http.get(path, params={"district": JIZHOU}, headers=OFFICER)
    assert r.status_code == 403
    admin = (await svc.http.get(path, headers=testing.auth("admin"))).json()
    assert {x["district"] for x in admin["items"]} == {BAODI, JIZHOU}
    # A cancelled permit leaves the list.
    r = await svc.http.post(
        f"/permit/permits/{simple}/cancel", json={"reason": "closure"}, headers=OFFICER
    )
    assert r.status_code == 200, r.text
    page = (await svc.http.get(path, params={"limit": 10}, headers=OFFICER)).json()
    assert {x["permit_id"] for x in page["items"]} == {key}


async def test_the_missed_list_is_judged_at_most_a_year_ahead(svc: Service) -> None:
    """`as_of` far ahead (9999-12-30) made the list walk every period of
    every permit up to that day, 500 permits at a time: a cheap request
    costing the service much. More than a year after today (by the
    service's clock) is a 422 at `as_of`; a year ahead is still judged."""
    key = await _permit(svc, 8113)
    path = "/permit/execution-reports/missed"
    for as_of, lang, said in (
        ("9999-12-30", "zh-CN", "不得晚于今天起 1 年（最晚 2027-03-10；给出的是 9999-12-30）"),
        ("2027-03-11", "en", "must be at most 1 year after today (2027-03-10 at the latest"),
    ):
        r = await svc.http.get(
            path, params={"as_of": as_of}, headers={**OFFICER, "Accept-Language": lang}
        )
        assert r.status_code == 422, r.text
        (error,) = r.json()["errors"]
        assert error["field"] == "as_of" and said in error["message"], error
        assert r.json()["detail"].startswith("as_of: "), r.text
    r = await svc.http.get(path, params={"as_of": "2027-03-10", "limit": 50}, headers=OFFICER)
    assert r.status_code == 200, r.text
    owed = sorted(x["period"] for x in r.json()["items"] if x["permit_id"] == key)
    assert owed == ["2025", "2025-Q2", "2025-Q3", "2025-Q4", "2026"] + [
        f"2026-Q{q}" for q in range(1, 5)
    ]


async def test_filings_of_one_period_at_once_are_numbered_in_turn(svc: Service) -> None:
    permit_id = await _permit(svc, 8112)
    answers = await asyncio.gather(
        *(_file(svc, permit_id, "2025-Q3", VOCs=str(n)) for n in range(1, 5))
    )
    assert [r.status_code for r in answers] == [201] * 4, [r.text for r in answers]
    path = f"/permit/permits/{permit_id}/execution-reports"
    every = (await svc.http.get(path, params={"superseded": "true"}, headers=OFFICER)).json()
    versions = every["items"]
    assert [x["version"] for x in versions] == [1, 2, 3, 4]
    assert [x["current"] for x in versions] == [False, False, False, True]
    assert [x["supersedes"] for x in versions] == [None] + [x["id"] for x in versions[:3]]


async def test_periods_before_the_register_followed_them_are_not_missed(db_url: str) -> None:
    """EXECUTION_REPORTS_OWED_FROM: a permit brought in with years behind it
    owes this register no report of a period that ended before that day
    (filed where the bureau kept them then); those after it are missed."""
    settings = Settings(
        database_url=db_url,
        log_json=False,
        log_level="WARNING",
        execution_reports_owed_from=dt.date(2025, 10, 1),
    )
    app = create(settings)
    async with testing.running(app) as http:
        svc = Service(app, http)
        key = await _permit(svc, 8120)  # valid from 10 May 2025: Q2 and Q3 before the day
        page = (
            await http.get(
                "/permit/execution-reports/missed", params={"limit": 50}, headers=OFFICER
            )
        ).json()
    assert sorted(x["period"] for x in page["items"] if x["permit_id"] == key) == [
        "2025",
        "2025-Q4",
    ]


async def test_an_application_drafted_from_an_event_follows_the_app_s_owed_from(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The precheck stamped on an application drafted from an approved EIA
    (an event handler, which gets no request) counts missed reports from
    the app's EXECUTION_REPORTS_OWED_FROM: it read the setting from the
    environment instead, so an app built with another setting was not
    followed. So does a parked filing re-driven by an administrator."""
    monkeypatch.delenv("EXECUTION_REPORTS_OWED_FROM", raising=False)
    settings = Settings(
        database_url=db_url,
        log_json=False,
        log_level="WARNING",
        execution_reports_owed_from=dt.date(2025, 10, 1),
    )
    app = create(settings)

    def approved(serial: int, code: str) -> FilingApproved:
        return FilingApproved(
            filing_id=f"EIA-2026-{serial}",
            project_ref=f"P-{serial}",
            project_name="扩建项目",
            uscc=make_uscc(BAODI, serial),
            enterprise_name=f"企业{serial}",
            district=BAODI,
            industry_code=code,
            category="report",
            vocs_increment_t=Decimal("1"),
        )

    async def missed_check(uscc: str) -> str:
        r = await http.get("/permit/permits", params={"uscc": uscc}, headers=OFFICER)
        (drafted,) = [p for p in r.json()["items"] if p["status"] == "applied"]
        (check,) = [c for c in drafted["prechecks"] if c["code"] == "missed_execution_reports"]
        message: str = check["message"]
        return message

    async with testing.running(app) as http:
        svc = Service(app, http)
        # Valid from 10 May 2025: Q2 and Q3 ended before the day, 2025 and Q4 after.
        await _permit(svc, 8125)
        await testing.deliver(app, approved(8125, "C2641"))
        assert "2 overdue" in await missed_check(make_uscc(BAODI, 8125))
        # An approval of an enterprise not known, of a code not classified:
        # parked; re-driven once the enterprise and its permit are entered.
        await testing.deliver(app, approved(8126, "C2631"))
        await _permit(svc, 8126)
        r = await http.post(
            "/permit/parked-filings/EIA-2026-8126/redrive", headers=testing.auth("admin")
        )
        assert r.status_code == 200 and r.json()["state"] == "drafted", r.text
        assert "2 overdue" in await missed_check(make_uscc(BAODI, 8126))


async def test_a_filer_is_not_shown_which_officer_filed_a_report(svc: Service) -> None:
    """`filed_by` is the filer's login (`sub`): an officer's is the
    bureau's own business, not the enterprise's. A filer reading its
    permit's reports sees `filed_by` of the versions it filed itself (its
    exact `sub`) and null for the others (an officer's, another system's);
    every other reader sees every `filed_by`."""
    own = await _permit(svc, 8132)
    officer = testing.auth("officer", [BAODI], sub="wang.officer")
    assert (await _file(svc, own, "2025", headers=officer, VOCs="1")).status_code == 201
    filer = testing.auth("filer", sub="erp.8132", uscc=make_uscc(BAODI, 8132))
    r = await _file(svc, own, "2025", headers=filer, VOCs="2")  # a correction of the officer's
    assert r.status_code == 201 and r.json()["filed_by"] == "erp.8132", r.text
    other = testing.auth("filer", sub="erp2.8132", uscc=make_uscc(BAODI, 8132))
    assert (await _file(svc, own, "2025-Q3", headers=other, VOCs="1")).status_code == 201
    path = f"/permit/permits/{own}/execution-reports"
    params = {"superseded": "true"}

    async def shown(headers: dict[str, str]) -> list[tuple[str, int, str | None]]:
        r = await svc.http.get(path, params=params, headers=headers)
        assert r.status_code == 200, r.text
        return [(x["period"], x["version"], x["filed_by"]) for x in r.json()["items"]]

    assert await shown(filer) == [("2025", 1, None), ("2025", 2, "erp.8132"), ("2025-Q3", 1, None)]
    assert "wang.officer" not in (await svc.http.get(path, params=params, headers=filer)).text
    everyone = [("2025", 1, "wang.officer"), ("2025", 2, "erp.8132"), ("2025-Q3", 1, "erp2.8132")]
    for reader in (OFFICER, testing.auth("auditor"), testing.auth("admin")):
        assert await shown(reader) == everyone


async def test_a_filer_files_and_reads_for_its_own_enterprise_only(svc: Service) -> None:
    """An enterprise's own reporting system (申报单位, role filer) acts for
    the enterprise its token names (`uscc`): its permits' reports are
    filed and read; another enterprise's permit, in its district or not,
    is answered as one that does not exist; with no enterprise named the
    token is refused, and the missed-report list is not a filer's."""
    own = await _permit(svc, 8130)
    other = await _permit(svc, 8131)
    headers = testing.auth("filer", sub="erp.8130", uscc=make_uscc(BAODI, 8130))
    r = await _file(svc, own, "2025", headers=headers, VOCs="1")
    assert r.status_code == 201, r.text
    assert r.json()["filed_by"] == "erp.8130"
    r = await svc.http.get(f"/permit/permits/{own}/execution-reports", headers=headers)
    assert r.status_code == 200 and [x["period"] for x in r.json()["items"]] == ["2025"], r.text
    # Audited under the filer's sub, as any filing is.
    audit = (
        await svc.http.get(
            "/permit/audit",
            params={"target_id": own, "action": "execution_report.file"},
            headers=testing.auth("admin"),
        )
    ).json()
    assert [e["actor"] for e in audit["items"]] == ["erp.8130"], audit
    # Another enterprise's permit reads as a permit that does not exist.
    missing = "00000000-0000-4000-8000-000000000000"
    for path in (other, missing):
        r = await _file(svc, path, "2025", headers=headers, VOCs="1")
        assert r.status_code == 404, r.text
    foreign = await _file(svc, other, "2025", headers=headers, VOCs="1")
    nothing = await _file(svc, missing, "2025", headers=headers, VOCs="1")
    assert testing.as_not_found(foreign, (other, "X")) == testing.as_not_found(
        nothing, (missing, "X")
    )
    listed = await svc.http.get(f"/permit/permits/{other}/execution-reports", headers=headers)
    absent = await svc.http.get(f"/permit/permits/{missing}/execution-reports", headers=headers)
    assert testing.as_not_found(listed, (other, "X")) == testing.as_not_found(
        absent, (missing, "X")
    )
    # A filer's token that names no enterprise: 403, saying so.
    bare = testing.auth("filer", sub="erp.8130")
    for r in (
        await _file(svc, own, "2025-Q3", headers=bare, VOCs="1"),
        await svc.http.get(f"/permit/permits/{own}/execution-reports", headers=bare),
    ):
        assert r.status_code == 403, r.text
        assert "names no enterprise" in r.json()["detail"], r.text
    r = await _file(svc, own, "2025-Q3", headers={**bare, **ZH}, VOCs="1")
    assert "令牌未指明企业" in r.json()["detail"], r.text
    # The missed-report list is the bureau's.
    for h in (headers, bare):
        r = await svc.http.get("/permit/execution-reports/missed", headers=h)
        assert r.status_code == 403, r.text
    # An answer kept for a key is replayed to a token for the same
    # enterprise only: the same sub acting for another is not given it.
    keyed = testing.auth("filer", sub="erp.8130", uscc=make_uscc(BAODI, 8130), idem="er-8130")
    first = await _file(svc, own, "2025-Q3", headers=keyed, VOCs="1")
    assert first.status_code == 201, first.text
    keyed = testing.auth("filer", sub="erp.8130", uscc=make_uscc(BAODI, 8131), idem="er-8130")
    again = await _file(svc, own, "2025-Q3", headers=keyed, VOCs="1")
    assert again.status_code == 422 and first.json()["id"] not in again.text, again.text
    # Only the two filings were made.
    assert len(await svc.events("permit.execution_report.filed.v1")) == 2
