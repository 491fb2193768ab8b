"""The 蓟州区 story end to end: the three services as separate processes,
each with its own PostgreSQL database, talking only through a real Kafka.

Baseline set; a plant closes in permit-svc and its VOCs are reclaimed and
confirmed in quota-svc; two EIA filings are accepted and approved with quota
allocated at ratio 2.0 and permit drafts created; a third is blocked with the
exact shortfall, then unblocked after another plant closes. At the end every
service's state agrees.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from svc_common import testing
from svc_common.uscc import check_character

from bureau.stack import Stack

pytestmark = [pytest.mark.kafka, pytest.mark.pg, pytest.mark.slow]

JIZHOU = "120119"
# The distributed mode refuses the development secret: the stack and these
# tokens share the tests' own.
SECRET = testing.DISTRIBUTED_SECRET
ADMIN = testing.auth("admin", sub="admin.city", secret=SECRET)
OFFICER = testing.auth("officer", [JIZHOU], sub="zhang.wei", secret=SECRET)  # 蓟州区 officer
#: A second 蓟州区 officer: the reclaim of a permit zhang.wei cancelled is his,
#: as are the decisions on the filings zhang.wei entered (four eyes).
CHECKER = testing.auth("officer", [JIZHOU], sub="chen.jing", secret=SECRET)
INVESTMENT = testing.auth("investment", sub="zhao.investment", secret=SECRET)


def uscc(seed: str) -> str:
    body = ("91120225" + seed.upper().replace("I", "J").replace("O", "P"))[:17].ljust(17, "7")
    for bad, good in (("S", "T"), ("V", "W"), ("Z", "Y")):
        body = body.replace(bad, good)
    return body + check_character(body)


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    s = Stack(
        pg_admin_url=testing.pg_admin_url(),
        kafka_bootstrap=testing.kafka_bootstrap(),
        log_dir=tmp_path / "logs",
        db_prefix=f"e2e{uuid.uuid4().hex[:6]}",
        jwt_secret=SECRET,
        services=("permit", "quota", "eia"),
        extra_env={"METRICS_REFRESH_SECONDS": "0.5"},
    )
    try:
        await s.start()
        yield s
    finally:
        s.stop()


async def eventually(
    probe: Callable[[], Awaitable[Any]], ok: Callable[[Any], bool], what: str, within: float = 60
) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = await probe()
        if ok(last):
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last seen: {last}")


async def test_jizhou_story_across_three_services_on_kafka(stack: Stack) -> None:
    permit = httpx.AsyncClient(base_url=stack.url("permit"), timeout=30)
    quota = httpx.AsyncClient(base_url=stack.url("quota"), timeout=30)
    eia = httpx.AsyncClient(base_url=stack.url("eia"), timeout=30)
    try:
        await _story(stack, permit, quota, eia)
        await _operators_see(stack, permit, quota, eia)
        _check_logs(stack)
    finally:
        for c in (permit, quota, eia):
            await c.aclose()


async def _close_plant(
    permit: httpx.AsyncClient, quota: httpx.AsyncClient, name: str, code: str, vocs: str
) -> dict[str, Any]:
    """A plant with a permit closes (注销, closure); its VOCs become a reclaim
    candidate in quota-svc, which another officer of the district confirms
    (four eyes: the one who cancelled the permit may not)."""
    r = await permit.post(
        "/permit/enterprises",
        json={"uscc": code, "name": name, "district": JIZHOU, "industry_code": "2641"},
        headers=OFFICER,
    )
    assert r.status_code == 201, r.text
    line = {
        "uscc": code,
        "pollutants": [{"pollutant": "VOCs", "amount_t": vocs}],
        "valid_from": "2023-01-01",
        "valid_to": "2027-12-31",
    }
    r = await permit.post(
        "/permit/permits:import",
        content=json.dumps(line).encode(),
        headers={**OFFICER, "content-type": "application/x-ndjson"},
    )
    assert r.status_code == 200 and r.json()["totals"]["created"] == 1, r.text
    permit_id = r.json()["results"][0]["id"]
    r = await permit.post(
        f"/permit/permits/{permit_id}/cancel",
        json={"reason": "closure", "note": "企业关停"},
        headers=OFFICER,
    )
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text

    async def candidates() -> list[dict[str, Any]]:
        r = await quota.get(f"/quota/reclaims?district={JIZHOU}", headers=OFFICER)
        return [c for c in r.json()["items"] if c["permit_id"] == permit_id]

    (candidate,) = await eventually(candidates, lambda cs: len(cs) == 1, f"{name}'s reclaim")
    assert candidate["amount_t"] == Decimal(vocs).quantize(Decimal("0.001")).to_eng_string()
    assert candidate["uscc"] == code and candidate["status"] == "pending"
    assert candidate["created_by"] == "zhang.wei"
    r = await quota.post(f"/quota/reclaims/{candidate['id']}/confirm", headers=OFFICER)
    assert r.status_code == 409, r.text
    r = await quota.post(f"/quota/reclaims/{candidate['id']}/confirm", headers=CHECKER)
    assert r.status_code == 200 and r.json()["status"] == "confirmed", r.text
    return dict(r.json())


async def _story(
    stack: Stack, permit: httpx.AsyncClient, quota: httpx.AsyncClient, eia: httpx.AsyncClient
) -> None:
    r = await quota.put(
        f"/quota/settings/{JIZHOU}/VOCs",
        json={"offset_ratio": "2.0", "hold_days": 180},
        headers=ADMIN,
    )
    assert r.status_code == 200, r.text
    r = await quota.post(
        f"/quota/pools/{JIZHOU}/VOCs/baseline",
        json={"amount_t": "10", "note": "蓟州区VOCs存量基数"},
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text

    # 开源做加法: a closed coatings plant's 8 t come back to the district.
    await _close_plant(permit, quota, "天津蓟州某涂料厂", uscc("CLOSEDA01"), "8")

    async def availability() -> dict[str, Any]:
        r = await quota.get(
            f"/quota/availability?district={JIZHOU}&pollutant=VOCs", headers=INVESTMENT
        )
        assert r.status_code == 200, r.text
        body = r.json()
        pools = body["items"] if isinstance(body, dict) and "items" in body else body
        (pool,) = [p for p in pools if p["pool_id"] == f"{JIZHOU}:VOCs"]
        return dict(pool)

    pool = await availability()
    assert (pool["credited_t"], pool["available_t"]) == ("18.000", "18.000")
    assert pool["max_project_increment_t"] == "9.000"

    # 节流做减法: three projects need increment × 2.0 each.
    projects = [
        ("蓟州区涂料扩建项目", "C2641", "3", uscc("NEWPROJA1")),
        ("蓟州区金属表面处理项目", "C3360", "2", uscc("NEWPROJB2")),
        ("蓟州区包装印刷项目", "C2319", "5", uscc("NEWPROJC3")),
    ]
    filings = []
    for n, (name, ptype, inc, code) in enumerate(projects):
        body = {
            "project_name": name,
            "uscc": code,
            "enterprise_name": name + "有限公司",
            "district": JIZHOU,
            "project_type": ptype,
            "category": "report_form",
            "vocs_increment_t": inc,
            "major_project": False,
        }
        r = await eia.post("/eia/filings", json=body, headers=OFFICER)
        assert r.status_code == 201, r.text
        fid = r.json()["id"]
        r = await eia.post(
            f"/eia/filings/{fid}/accept", headers={**OFFICER, "X-Correlation-ID": f"story-{n}"}
        )
        assert r.status_code == 200, r.text
        # One at a time, so which project gets the last quota is deterministic.
        f = await _wait_quota(eia, fid, lambda s: s != "pending")
        filings.append(f)

    first, second, third = filings
    assert first["quota_status"] == "secured" and second["quota_status"] == "secured"
    # 18 − 6 − 4 = 8 left; the third needs 10: blocked, 2 t short.
    assert third["quota_status"] == "blocked"
    assert third["quota_shortfall_t"] == "2.000"
    for f in (first, second, third):
        for step in ("evaluation-done", "review-done"):
            r = await eia.post(f"/eia/filings/{f['id']}/{step}", headers=OFFICER)
            assert r.status_code == 200, r.text
    r = await eia.post(f"/eia/filings/{third['id']}/approve", headers=CHECKER)
    assert r.status_code == 409, "a blocked filing must not be approved"

    for f in (first, second):
        r = await eia.post(f"/eia/filings/{f['id']}/approve", headers=CHECKER)
        assert r.status_code == 200, r.text

    # Another closure brings 2.5 t; the officer retries the blocked filing.
    await _close_plant(permit, quota, "天津蓟州某印刷厂", uscc("CLOSEDB02"), "2.5")
    r = await eia.post(f"/eia/filings/{third['id']}/quota-retry", headers=OFFICER)
    assert r.status_code == 200, r.text
    third = await _wait_quota(eia, third["id"], lambda s: s not in ("pending", "blocked"))
    assert third["quota_status"] == "secured", third
    r = await eia.post(f"/eia/filings/{third['id']}/approve", headers=CHECKER)
    assert r.status_code == 200, r.text

    # Every service agrees.
    done = [await _wait_quota(eia, f["id"], lambda s: s == "allocated") for f in filings]
    assert [f["quota_allocated_t"] for f in done] == ["6.000", "4.000", "10.000"]
    pool = await availability()
    assert (pool["credited_t"], pool["reserved_t"], pool["allocated_t"], pool["available_t"]) == (
        "20.500",
        "0.000",
        "20.000",
        "0.500",
    )
    r = await quota.get(f"/quota/reconciliation?district={JIZHOU}&pollutant=VOCs", headers=ADMIN)
    assert r.status_code == 200 and all(p["ok"] for p in _as_list(r.json())), r.text

    async def drafts() -> dict[str, dict[str, Any]]:
        r = await permit.get(f"/permit/permits?district={JIZHOU}&status=applied", headers=OFFICER)
        assert r.status_code == 200, r.text
        return {p["source_filing_id"]: p for p in r.json()["items"] if p["source_filing_id"]}

    by_filing = await eventually(drafts, lambda d: len(d) == 3, "three permit drafts")
    for f, (_, _, inc, code) in zip(done, projects, strict=True):
        draft = by_filing[f["id"]]
        assert draft["uscc"] == code
        assert draft["vocs_t"] == Decimal(inc).quantize(Decimal("0.001")).to_eng_string()
        assert draft["project_ref"] == f["project_ref"]

    # permit-svc learned the allocations: the first draft can be issued
    # because quota backs its VOCs (总量控制).
    first_draft = by_filing[first["id"]]

    async def issue() -> httpx.Response:
        return await permit.post(f"/permit/permits/{first_draft['id']}/issue", headers=OFFICER)

    r = await eventually(issue, lambda r: r.status_code == 200, "the first permit to issue")
    assert r.json()["status"] == "issued"


def _as_list(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, list):
        return body
    if "items" in body:
        return list(body["items"])
    return [body]


async def _wait_quota(
    eia: httpx.AsyncClient, fid: str, ok: Callable[[str], bool]
) -> dict[str, Any]:
    async def get() -> dict[str, Any]:
        r = await eia.get(f"/eia/filings/{fid}", headers=OFFICER)
        assert r.status_code == 200, r.text
        return dict(r.json())

    return dict(await eventually(get, lambda f: ok(f["quota_status"]), f"filing {fid} quota"))


async def _operators_see(stack: Stack, *clients: httpx.AsyncClient) -> None:
    """Once the story is over, each service's /metrics says nothing is stuck:
    its consumer holds partitions with no lag, its outbox is empty, no dead
    letter waits, no filing waits for quota."""

    async def figures(c: httpx.AsyncClient) -> dict[tuple[str, frozenset[Any]], float]:
        from prometheus_client.parser import text_string_to_metric_families

        text = (await c.get("/metrics")).text
        return {
            (s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(text)
            for s in fam.samples
        }

    def total(samples: dict[tuple[str, frozenset[Any]], float], name: str) -> float:
        return sum(v for (n, _), v in samples.items() if n == name)

    for c in clients:

        async def settled(c: httpx.AsyncClient = c) -> dict[tuple[str, frozenset[Any]], float]:
            return await figures(c)

        samples = await eventually(
            settled,
            lambda f: (
                total(f, "events_consumer_assigned_partitions") > 0
                and total(f, "events_consumer_lag_messages") == 0
                and any(n == "events_consumer_lag_messages" for n, _ in f)
                and total(f, "outbox_backlog_rows") == 0
            ),
            f"{c.base_url} settled",
        )
        assert total(samples, "dead_letters") == 0
        assert total(samples, "database_up") == 1

    # The gauges are a snapshot refreshed every METRICS_REFRESH_SECONDS: one
    # taken while the last saga was still in flight (its lag and backlog
    # already 0) shows that filing waiting, so wait for a later one, as an
    # operator watching the panel would.
    async def waited() -> float:
        return total(await figures(clients[2]), "eia_quota_pending_oldest_age_seconds")

    await eventually(
        waited, lambda age: age == 0, "no filing waiting for quota on eia-svc's /metrics", 10
    )


#: Lines written while an event is handled.
EVENT_LINES = {
    "event",
    "handler failed",
    "handler failed on infrastructure; will retry",
    "dead-lettered message",
}


def _check_logs(stack: Stack) -> None:
    """Every line is JSON; every request and event line carries its ids; the
    story's correlation id, set on the accept request in eia-svc, is on the
    lines of quota-svc and eia-svc handling its events."""
    by_service = {
        svc: [
            json.loads(line)
            for line in (stack.log_dir / f"{svc}-svc.log").read_text().splitlines()
            if line.strip()
        ]
        for svc in ("permit", "quota", "eia")
    }
    for lines in by_service.values():
        for line in lines:
            if line.get("event") == "request":
                assert line.get("request_id") and line.get("correlation_id"), line
            if line.get("event") in EVENT_LINES:
                assert line.get("correlation_id"), line
    handled = {
        (svc, line["type"])
        for svc, lines in by_service.items()
        for line in lines
        if line.get("event") == "event" and line.get("correlation_id") == "story-0"
    }
    assert ("quota", "eia.filing.accepted.v1") in handled
    assert ("eia", "quota.reserved.v1") in handled
