"""supervision-svc end to end: permit-svc and supervision-svc as separate
processes, each with its own PostgreSQL database, talking only through a
real Kafka broker.

A permit issued in permit-svc becomes known to supervision-svc; an
inspection finding becomes a case, decided with four eyes, and the permit is
suspended in permit-svc with the case as its reason; the seed's figures come
out of the API: 1197 accepted, 1165 closed, 97.3 %; 318 demands, 271 done, 47
in progress; 宁河区 174 enterprises inspected, 28 problems, 10 cases.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from svc_common import testing
from svc_common.uscc import make_uscc

from bureau.stack import Stack

sys.path.insert(0, str(Path(__file__).parent))
from test_saga_e2e_kafka import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.pg, pytest.mark.slow]

BAODI, NINGHE = "120115", "120117"
# The distributed mode refuses the development secret: the stack and these
# tokens share the tests' own.
SECRET = testing.DISTRIBUTED_SECRET
ADMIN = testing.auth("admin", sub="admin.city", secret=SECRET)
AUDITOR = testing.auth("auditor", sub="auditor.city", secret=SECRET)


def officer(district: str, sub: str) -> dict[str, str]:
    return testing.auth("officer", [district], sub=sub, secret=SECRET)


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    s = Stack(
        pg_admin_url=testing.pg_admin_url(),
        kafka_bootstrap=testing.kafka_bootstrap(),
        log_dir=tmp_path / "logs",
        db_prefix=f"sv{uuid.uuid4().hex[:6]}",
        services=("permit", "supervision"),
        jwt_secret=SECRET,
    )
    try:
        await s.start()
        yield s
    finally:
        s.stop()


async def test_supervision_across_permit_and_supervision_on_kafka(stack: Stack) -> None:
    async with (
        httpx.AsyncClient(base_url=stack.url("permit"), timeout=30) as permit,
        httpx.AsyncClient(base_url=stack.url("supervision"), timeout=60) as sup,
    ):
        await _suspension_story(permit, sup)
        await _seed_figures(permit, sup)


async def _suspension_story(permit: httpx.AsyncClient, sup: httpx.AsyncClient) -> None:
    li, zhao = officer(BAODI, "li.hua"), officer(BAODI, "zhao.lei")
    code = make_uscc(BAODI, 4242)
    r = await permit.post(
        "/permit/enterprises",
        json={
            "uscc": code,
            "name": "天津宝坻某涂装有限公司",
            "district": BAODI,
            "industry_code": "2641",
        },
        headers=li,
    )
    assert r.status_code == 201, r.text
    line = {
        "uscc": code,
        "pollutants": [
            {"pollutant": "VOCs", "amount_t": "80"},
            {"pollutant": "NOx", "amount_t": "4"},
        ],
        "valid_from": "2024-01-01",
        "valid_to": "2028-12-31",
    }
    r = await permit.post(
        "/permit/permits:import",
        content=json.dumps(line).encode(),
        headers={**li, "content-type": "application/x-ndjson"},
    )
    assert r.status_code == 200 and r.json()["totals"]["created"] == 1, r.text
    permit_id = r.json()["results"][0]["id"]

    async def known() -> dict[str, Any]:
        r = await sup.get(f"/supervision/enterprises/{code}", headers=li)
        return dict(r.json()) if r.status_code == 200 else {}

    e = await eventually(known, lambda e: bool(e.get("permits")), "the permit in supervision-svc")
    assert e["name"] == "天津宝坻某涂装有限公司"
    assert (e["permits"][0]["permit_id"], e["permits"][0]["vocs_t"]) == (permit_id, "80.000")

    now = dt.datetime.now(dt.UTC)
    r = await sup.post(
        "/supervision/inspections",
        json={
            "uscc": code,
            "inspected_at": (now - dt.timedelta(hours=2)).isoformat(),
            "inspectors": ["li.hua", "wang.fang"],
            "items": [
                {"item": "online_monitoring", "result": "compliant"},
                {
                    "item": "treatment_facilities",
                    "result": "problem",
                    "findings": [
                        {"description": "RTO焚烧炉未运行，废气直排", "severity": "serious"}
                    ],
                },
            ],
        },
        headers=li,
    )
    assert r.status_code == 201, r.text
    (finding,) = r.json()["findings"]
    r = await sup.post(
        "/supervision/cases",
        json={
            "finding_id": finding["id"],
            "legal_basis": "《排污许可管理条例》第三十四条",
            "facts": "治污设施未运行，超标排放",
            "measure": {"kind": "permit_suspension"},
        },
        headers=li,
    )
    assert r.status_code == 201, r.text
    case = r.json()
    r = await sup.post(
        f"/supervision/cases/{case['id']}/decide", json={"approve": True}, headers=li
    )
    assert r.status_code == 409 and r.json()["reason"] == "proposer_decides"  # four eyes
    r = await sup.post(
        f"/supervision/cases/{case['id']}/decide", json={"approve": True}, headers=zhao
    )
    assert r.status_code == 200, r.text

    async def permit_status() -> dict[str, Any]:
        return dict((await permit.get(f"/permit/permits/{permit_id}", headers=li)).json())

    p = await eventually(permit_status, lambda p: p["status"] == "suspended", "the suspension")
    assert case["case_no"] in p["status_reason"]
    r = await permit.get(
        f"/permit/audit?target_id={permit_id}&action=permit.suspend", headers=ADMIN
    )
    (entry,) = r.json()["items"]  # audited, naming the case and who decided it
    assert entry["detail"]["case_no"] == case["case_no"]
    assert entry["detail"]["decided_by"] == "zhao.lei"
    # And supervision-svc learns the suspension back from permit-svc's event.
    e = await eventually(known, lambda e: e["permits"][0]["status"] == "suspended", "round trip")
    assert case["case_no"] in e["permits"][0]["status_reason"]


def _complaint(i: int, status: str) -> dict[str, Any]:
    received = dt.datetime(2026, 1, 5, 1, 0, tzinfo=dt.UTC) + dt.timedelta(hours=6 * i)
    row: dict[str, Any] = {
        "channel": ("hotline", "wechat")[i % 2],
        "received_at": received.isoformat(),
        "district": ("120101", "120110", "120114", "120116")[i % 4],
        "address": f"第{i}号",
        "category": ("air", "odor", "noise", "water")[(i // 4) % 4],
        "description": f"群众反映第{i}号问题，编号{i * 7919 % 10007}",
        "status": status,
    }
    if status != "rejected":
        row["accepted_at"] = (received + dt.timedelta(hours=3)).isoformat()
    if status == "closed":
        row["closed_at"] = (received + dt.timedelta(days=2)).isoformat()
        row["outcome"] = "substantiated"
    if status == "rejected":
        row["rejected_reason"] = "不属于受理范围"
    return row


async def _upload(client: httpx.AsyncClient, path: str, rows: list[dict[str, Any]]) -> Any:
    r = await client.post(
        path,
        content="\n".join(json.dumps(x, ensure_ascii=False) for x in rows).encode(),
        headers={**ADMIN, "content-type": "application/x-ndjson"},
    )
    assert r.status_code == 200, r.text[:1000]
    return r.json()


async def _seed_figures(permit: httpx.AsyncClient, sup: httpx.AsyncClient) -> None:
    # 12369: 1197 valid complaints accepted, 1165 closed (and 30 rejected as invalid).
    rows = [_complaint(i, "closed" if i < 1165 else "accepted") for i in range(1197)]
    rows += [_complaint(1197 + i, "rejected") for i in range(30)]
    assert (await _upload(sup, "/supervision/complaints:import", rows))["totals"]["created"] == 1227
    r = await sup.get(
        "/supervision/reports/complaints?from=2026-01-01&to=2026-12-31", headers=AUDITOR
    )
    report = r.json()
    assert (report["accepted"], report["closed"], report["closure_rate_percent"]) == (
        1197,
        1165,
        "97.3",
    )

    # 诉求清单: 318 items, 271 done, 47 in progress.
    demands = [
        {
            "district": NINGHE,
            "title": f"诉求{i}",
            "source": "visit",
            "owner": "责任处室",
            "deadline": "2026-12-31",
            "status": "done" if i < 271 else "open",
        }
        for i in range(318)
    ]
    assert (await _upload(sup, "/supervision/demands:import", demands))["totals"]["created"] == 318
    r = await sup.get("/supervision/reports/demands", headers=AUDITOR)
    assert (r.json()["total"], r.json()["done"], r.json()["in_progress"]) == (318, 271, 47)

    # 宁河区: 174 enterprises, registered in permit-svc in one bulk import.
    ninghe = officer(NINGHE, "ninghe.li")
    codes = [make_uscc(NINGHE, 1000 + i) for i in range(174)]
    lines = [
        {"uscc": c, "name": f"宁河企业{i}", "district": NINGHE, "industry_code": "2641"}
        for i, c in enumerate(codes)
    ]
    r = await permit.post(
        "/permit/enterprises:import",
        content="\n".join(json.dumps(x, ensure_ascii=False) for x in lines).encode(),
        headers={**ninghe, "content-type": "application/x-ndjson"},
    )
    assert r.status_code == 200 and r.json()["totals"]["created"] == 174, r.text[:500]

    async def registered() -> int:
        r = await sup.get(f"/supervision/enterprises?district={NINGHE}&limit=1000", headers=ninghe)
        return len(r.json()["items"])

    await eventually(registered, lambda n: n == 174, "174 enterprises in supervision-svc")

    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    gate = asyncio.Semaphore(8)

    async def inspect(i: int, code: str) -> list[dict[str, Any]]:
        problem = i < 28  # 发现问题28个
        body = {
            "uscc": code,
            "inspected_at": (since + dt.timedelta(minutes=i)).isoformat(),
            "inspectors": ["ninghe.li", "ninghe.wang"],
            "items": [
                {"item": "ledger", "result": "compliant"},
                {
                    "item": "treatment_facilities",
                    "result": "problem" if problem else "compliant",
                    "findings": [{"description": "VOCs无组织排放"}] if problem else [],
                },
            ],
        }
        async with gate:
            r = await sup.post("/supervision/inspections", json=body, headers=ninghe)
        assert r.status_code == 201, r.text
        return list(r.json()["findings"])

    found = [f for fs in await asyncio.gather(*map(inspect, range(174), codes)) for f in fs]
    assert len(found) == 28
    for k, f in enumerate(found[:10]):  # 立案查处10件
        measure: dict[str, Any] = (
            {"kind": "fine", "fine_cny": 50000 + k} if k % 2 else {"kind": "warning"}
        )
        r = await sup.post(
            "/supervision/cases",
            json={"finding_id": f["id"], "legal_basis": "《大气污染防治法》", "measure": measure},
            headers=ninghe,
        )
        assert r.status_code == 201, r.text
    start = (since + dt.timedelta(hours=8)).date() - dt.timedelta(days=1)
    r = await sup.get(
        f"/supervision/reports/enforcement?district={NINGHE}&from={start}", headers=AUDITOR
    )
    rep = r.json()
    assert (rep["enterprises_inspected"], rep["problems_found"], rep["cases_filed"]) == (
        174,
        28,
        10,
    )
