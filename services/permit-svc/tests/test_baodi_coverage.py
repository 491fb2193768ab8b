"""Seed 002, 宝坻区: 274 enterprises hold permits, 4,275 are registered, 100%
coverage; over 80% of permit holders audited (220 of 274 = 80.29…%, shown
truncated: 80.2). Then three sources without either, listed by name.
Generated through the bulk endpoints."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import time

from permit_svc.calendar import local_today
from svc_common import testing
from svc_common.types import utcnow
from svc_common.uscc import make_uscc

from .conftest import BAODI, JIZHOU, Service

ADMIN = testing.auth("admin")
OFFICER = testing.auth("officer", [BAODI])
PERMIT_INDUSTRIES = ["2641", "2614", "2110", "2319", "3130"]
REGISTRATION_INDUSTRIES = ["3311", "2921", "3670", "1320"]
HOLDERS, REGISTERED, AUDITED = 274, 4275, 220


def ndjson(rows: list[dict[str, object]]) -> bytes:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode()


def enterprise_rows() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for i in range(HOLDERS + REGISTERED):
        industries = PERMIT_INDUSTRIES if i < HOLDERS else REGISTRATION_INDUSTRIES
        rows.append(
            {
                "uscc": make_uscc(BAODI, i),
                "name": f"天津市宝坻区企业{i:05d}",
                "district": BAODI,
                "industry_code": industries[i % len(industries)],
                "address": f"宝坻区工业园{i}号",
            }
        )
    return rows


async def post(svc: Service, path: str, body: bytes, ctype: str) -> dict[str, object]:
    r = await svc.http.post(path, content=body, headers={**OFFICER, "content-type": ctype})
    assert r.status_code == 200, r.text[:500]
    report: dict[str, object] = r.json()
    assert report["totals"]["error"] == 0, [  # type: ignore[index]
        row
        for row in report["results"]  # type: ignore[attr-defined]
        if row["result"] == "error"
    ][:3]
    return report


async def test_baodi_full_coverage_then_three_uncovered(svc: Service) -> None:
    started = time.perf_counter()
    today = local_today(utcnow())
    rows = enterprise_rows()
    report = await post(svc, "/permit/enterprises:import", ndjson(rows), "application/x-ndjson")
    assert report["totals"]["created"] == HOLDERS + REGISTERED  # type: ignore[index]
    # A neighbouring district's sources must not leak into 宝坻's figures.
    await svc.enterprise(1, district=JIZHOU)

    permits = [
        {
            "uscc": r["uscc"],
            "pollutants": [{"pollutant": "VOCs", "amount_t": f"{1 + i % 7}.{i % 1000:03d}"}],
            "valid_from": (today - dt.timedelta(days=400)).isoformat(),
            "valid_to": (today + dt.timedelta(days=1425)).isoformat(),
        }
        for i, r in enumerate(rows[:HOLDERS])
    ]
    imported = await post(svc, "/permit/permits:import", ndjson(permits), "application/x-ndjson")
    permit_ids = [row["id"] for row in imported["results"]]  # type: ignore[attr-defined]

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["uscc"])
    writer.writerows([r["uscc"]] for r in rows[HOLDERS:])
    filed = await post(svc, "/permit/registrations:import", out.getvalue().encode(), "text/csv")
    assert filed["totals"]["created"] == REGISTERED  # type: ignore[index]

    async def audit(n: int, pid: object) -> None:
        body: dict[str, object] = {"result": "pass"}
        if n % 10 == 0:
            deadline = (today + dt.timedelta(days=30)).isoformat()
            body = {
                "result": "findings",
                "findings": [
                    {
                        "description": "VOCs 无组织排放管控要求缺失",
                        "rectification_deadline": deadline,
                    }
                ],
            }
        r = await svc.http.post(f"/permit/permits/{pid}/audits", json=body, headers=OFFICER)
        assert r.status_code == 201, r.text

    # Officers audit side by side: ten requests in flight at a time.
    todo = list(enumerate(permit_ids[:AUDITED]))
    for i in range(0, len(todo), 10):
        await asyncio.gather(*(audit(n, pid) for n, pid in todo[i : i + 10]))
    # A second audit of an audited permit does not count it twice.
    r = await svc.http.post(
        f"/permit/permits/{permit_ids[0]}/audits", json={"result": "pass"}, headers=OFFICER
    )
    assert r.status_code == 201

    # A 275th holder, audited, closes (关停) with its permit still in force: it
    # is no fixed source any more, so neither report counts it.
    closer = make_uscc(BAODI, 80001)
    await post(
        svc,
        "/permit/enterprises:import",
        ndjson(
            [
                {
                    "uscc": closer,
                    "name": "宝坻某已关停涂料厂",
                    "district": BAODI,
                    "industry_code": "2641",
                }
            ]
        ),
        "application/x-ndjson",
    )
    closer_permit = {**permits[0], "uscc": closer}
    (closer_row,) = (
        await post(svc, "/permit/permits:import", ndjson([closer_permit]), "application/x-ndjson")
    )["results"]  # type: ignore[misc]
    await audit(1, closer_row["id"])
    r = await svc.http.patch(
        f"/permit/enterprises/{closer}",
        json={"operating_status": "closed", "reason": "关停"},
        headers=OFFICER,
    )
    assert r.status_code == 200, r.text

    coverage = (
        await svc.http.get(f"/permit/reports/coverage?district={BAODI}", headers=OFFICER)
    ).json()
    assert coverage["fixed_sources"] == HOLDERS + REGISTERED == 4549
    assert coverage["closed_sources"] == 1
    assert coverage["with_valid_permit"] == 274
    assert coverage["with_valid_registration"] == 4275
    assert coverage["covered"] == 4549 and coverage["uncovered"] == 0
    assert coverage["coverage_percent"] == "100.0"
    assert coverage["uncovered_sources"] == []
    progress = (
        await svc.http.get(f"/permit/reports/audit-progress?district={BAODI}", headers=OFFICER)
    ).json()
    assert (progress["valid_permits"], progress["audited"], progress["not_audited"]) == (
        274,
        220,
        54,
    )
    assert progress["audited_percent"] == "80.2"
    assert progress["valid_permits"] == coverage["with_valid_permit"]
    assert progress["permits_of_closed_sources"] == 1

    # Three sources come to light that hold neither a permit nor a registration.
    newcomers = [
        {
            "uscc": make_uscc(BAODI, 90001),
            "name": "天津某喷涂加工厂",
            "district": BAODI,
            "industry_code": "2641",
        },
        {
            "uscc": make_uscc(BAODI, 90002),
            "name": "宝坻某家具厂",
            "district": BAODI,
            "industry_code": "2110",
        },
        {
            "uscc": make_uscc(BAODI, 90003),
            "name": "宝坻某钢结构厂",
            "district": BAODI,
            "industry_code": "3311",
        },
    ]
    await post(svc, "/permit/enterprises:import", ndjson(newcomers), "application/x-ndjson")
    coverage = (
        await svc.http.get(f"/permit/reports/coverage?district={BAODI}", headers=ADMIN)
    ).json()
    assert (coverage["fixed_sources"], coverage["covered"], coverage["uncovered"]) == (
        4552,
        4549,
        3,
    )
    assert coverage["coverage_percent"] == "99.9"
    listed = [(u["name"], u["needs"]) for u in coverage["uncovered_sources"]]
    assert listed == sorted(
        [
            ("天津某喷涂加工厂", "permit"),
            ("宝坻某家具厂", "permit"),
            ("宝坻某钢结构厂", "registration"),
        ]
    )
    # Citywide, the 蓟州区 source without a permit shows too.
    city = (await svc.http.get("/permit/reports/coverage", headers=ADMIN)).json()
    assert city["fixed_sources"] == 4553 and city["uncovered"] == 4
    # Valid means within the term: judged a day after the permits end, none is valid.
    later = (today + dt.timedelta(days=1426)).isoformat()
    progress = (
        await svc.http.get(
            f"/permit/reports/audit-progress?district={BAODI}&as_of={later}", headers=ADMIN
        )
    ).json()
    assert progress["valid_permits"] == 0 and progress["audited_percent"] is None
    assert time.perf_counter() - started < 30
