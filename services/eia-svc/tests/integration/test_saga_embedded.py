"""eia-svc's side of the quota saga against the real quota-svc, both running
in one process on the local transport (outbox → transport → inbox), as in the
embedded default. The Kafka end-to-end run of all three services is separate."""

from __future__ import annotations

import asyncio
import datetime as dt
import pathlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from svc_common import testing

from bureau.embedded import Embedded

from ..conftest import JIZHOU, admin, filing, officer

QUOTA_OFFICER = testing.auth("officer", [JIZHOU], sub="officer.quota.a")
QUOTA_CHECKER = testing.auth("officer", [JIZHOU], sub="officer.quota.b")
#: Who decides a filing `officer()` entered for its applicant (four eyes).
DECIDER = testing.auth("officer", [JIZHOU], sub="officer.decider")


@pytest.fixture
async def bureau(tmp_path: pathlib.Path) -> AsyncIterator[httpx.AsyncClient]:
    embedded = Embedded(tmp_path, log_json=False)
    async with embedded.lifespan():
        transport = httpx.ASGITransport(app=embedded)
        async with httpx.AsyncClient(transport=transport, base_url="http://bureau") as c:
            yield c


async def eventually(
    c: httpx.AsyncClient, fid: str, ok: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The filing once `ok` holds; the events travel after the request commits."""
    f: dict[str, Any] = {}
    for _ in range(200):
        f = (await c.get(f"/eia/filings/{fid}", headers=officer())).json()
        if ok(f):
            return f
        await asyncio.sleep(0.02)
    raise AssertionError(f"filing never reached the expected state: {f}")


async def accepted(c: httpx.AsyncClient, increment: str) -> dict[str, Any]:
    f = (
        await c.post("/eia/filings", json=filing(vocs_increment_t=increment), headers=officer())
    ).json()
    r = await c.post(f"/eia/filings/{f['id']}/accept", headers=officer())
    assert r.status_code == 200, r.text
    return dict(r.json())


async def reviewed(c: httpx.AsyncClient, fid: str) -> None:
    for step in ("evaluation-done", "review-done"):
        assert (await c.post(f"/eia/filings/{fid}/{step}", headers=officer())).status_code == 200


async def test_secured_blocked_retried_and_allocated(bureau: httpx.AsyncClient) -> None:
    c = bureau
    r = await c.put(
        f"/quota/settings/{JIZHOU}/VOCs",
        json={"offset_ratio": "2.0", "hold_days": 90},
        headers=admin(),
    )
    assert r.status_code == 200, r.text
    r = await c.post(
        f"/quota/pools/{JIZHOU}/VOCs/baseline", json={"amount_t": "5"}, headers=admin()
    )
    assert r.status_code == 201, r.text

    first = await accepted(c, "1.5")  # needs 3.0 of 5.0
    first = await eventually(c, first["id"], lambda f: f["quota_status"] != "pending")
    assert first["quota_status"] == "secured" and first["reservation_id"]

    second = await accepted(c, "1.5")  # needs 3.0, 2.0 left
    second = await eventually(c, second["id"], lambda f: f["quota_status"] != "pending")
    assert second["quota_status"] == "blocked" and second["quota_shortfall_t"] == "1.000"
    await reviewed(c, second["id"])
    r = await c.post(f"/eia/filings/{second['id']}/approve", headers=DECIDER)
    assert r.status_code == 409 and r.json()["quota_status"] == "blocked"

    # A closed plant's VOCs are reclaimed and confirmed (four eyes): 3.2 t available.
    body = {"district": JIZHOU, "amount_t": "1.2", "note": "某涂装企业关停"}
    rec = (await c.post("/quota/reclaims", json=body, headers=QUOTA_OFFICER)).json()
    r = await c.post(f"/quota/reclaims/{rec['id']}/confirm", headers=QUOTA_CHECKER)
    assert r.status_code == 200, r.text
    assert (
        await c.post(f"/eia/filings/{second['id']}/quota-retry", headers=officer())
    ).status_code == 200
    second = await eventually(c, second["id"], lambda f: f["quota_status"] != "pending")
    assert second["quota_status"] == "secured" and second["quota_attempt"] == 2

    await reviewed(c, first["id"])
    for f in (first, second):
        assert (await c.post(f"/eia/filings/{f['id']}/approve", headers=DECIDER)).status_code == 200
        done = await eventually(c, f["id"], lambda x: x["quota_status"] == "allocated")
        assert done["quota_allocated_t"] == "3.000"
    balance = (await c.get(f"/quota/balances/{JIZHOU}/VOCs", headers=admin())).json()
    assert balance["available_t"] == "0.200", balance


async def test_withdrawal_releases_the_hold(bureau: httpx.AsyncClient) -> None:
    c = bureau
    r = await c.post(
        f"/quota/pools/{JIZHOU}/VOCs/baseline", json={"amount_t": "10"}, headers=admin()
    )
    assert r.status_code == 201, r.text
    f = await accepted(c, "2")
    await eventually(c, f["id"], lambda x: x["quota_status"] == "secured")
    r = await c.post(
        f"/eia/filings/{f['id']}/withdraw", json={"reason": "项目取消"}, headers=officer()
    )
    assert r.json()["status"] == "withdrawn"
    f = await eventually(c, f["id"], lambda x: x["quota_status"] == "released")
    balance = (await c.get(f"/quota/balances/{JIZHOU}/VOCs", headers=admin())).json()
    assert balance["available_t"] == "10.000", balance


# --- every saga converges, whatever the order or loss of events ---------------------


async def _baseline(c: httpx.AsyncClient, amount: str) -> None:
    r = await c.post(
        f"/quota/pools/{JIZHOU}/VOCs/baseline", json={"amount_t": amount}, headers=admin()
    )
    assert r.status_code == 201, r.text


async def test_withdrawal_racing_a_refusal_settles_the_filing(tmp_path: pathlib.Path) -> None:
    embedded = Embedded(tmp_path, log_json=False)
    async with embedded.lifespan():
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=embedded), base_url="http://b")
        await _baseline(c, "1")
        # The events wait while the officer accepts and then withdraws: quota-svc
        # refuses the request (no quota) only after the withdrawal was recorded.
        embedded.transport.hold()
        f = await c.post("/eia/filings", json=filing(vocs_increment_t="5"), headers=officer())
        fid = f.json()["id"]
        assert (await c.post(f"/eia/filings/{fid}/accept", headers=officer())).status_code == 200
        r = await c.post(f"/eia/filings/{fid}/withdraw", json={"reason": "撤回"}, headers=officer())
        assert r.json()["status"] == "withdrawn" and r.json()["quota_status"] == "pending"
        embedded.transport.release()
        done = await eventually(c, fid, lambda x: x["quota_status"] != "pending")
        assert done["quota_status"] == "released" and done["quota_shortfall_t"] == "9.000"
        stuck = await c.get("/eia/filings?quota_status=pending&older_than=PT0S", headers=officer())
        assert stuck.json()["items"] == []
        await c.aclose()


async def test_a_lost_reply_is_asked_again_and_the_saga_converges(tmp_path: pathlib.Path) -> None:
    from svc_common import clock
    from svc_common.failures import PermanentFailure

    start = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
    with clock.using(clock.ManualClock(start)):
        embedded = Embedded(tmp_path, log_json=False, quota_reask_after_seconds=120)
        async with embedded.lifespan():
            c = httpx.AsyncClient(transport=httpx.ASGITransport(app=embedded), base_url="http://b")
            await _baseline(c, "10")
            # eia-svc cannot apply quota-svc's answer (dead-lettered): the hold
            # exists in quota-svc, the filing heard nothing.
            eia = embedded.apps["/eia"]
            handlers = eia.state.runtime.consumer.handlers
            real = handlers.get("quota.reserved.v1")
            lost = {"n": 0}

            async def drop_first(s: Any, p: Any, env: Any) -> None:
                if lost["n"] == 0:
                    lost["n"] += 1
                    raise PermanentFailure("reply lost")
                await real(s, p, env)

            handlers._by_type["quota.reserved.v1"] = drop_first
            f = await accepted(c, "2")
            await asyncio.sleep(0.3)
            f = (await c.get(f"/eia/filings/{f['id']}", headers=officer())).json()
            assert f["quota_status"] == "pending"
            stuck = await c.get(
                "/eia/filings?quota_status=pending&older_than=PT1M", headers=officer()
            )
            assert stuck.json()["items"] == []  # not long enough yet
            r = await c.post("/admin/clock", json={"advance": "PT3M"}, headers=admin())
            assert r.status_code == 200, r.text
            done = await eventually(c, f["id"], lambda x: x["quota_status"] != "pending")
            assert done["quota_status"] == "secured" and done["quota_asks"] == 1
            balance = (await c.get(f"/quota/balances/{JIZHOU}/VOCs", headers=admin())).json()
            assert balance["reserved_t"] == "4.000"  # one hold, not two
            await c.aclose()


async def test_a_dead_lettered_request_asked_again_stays_one_dead_letter(
    tmp_path: pathlib.Path,
) -> None:
    """quota-svc cannot apply a filing's request (a poison message): eia-svc
    asks again every two minutes, and each copy is dead-lettered too. The
    copies are counted on one dead letter instead of one row each, and
    re-driving it once the cause is fixed settles the filing."""
    from svc_common import clock
    from svc_common.failures import PermanentFailure

    start = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
    with clock.using(clock.ManualClock(start)):
        embedded = Embedded(tmp_path, log_json=False, quota_reask_after_seconds=120)
        async with embedded.lifespan():
            c = httpx.AsyncClient(transport=httpx.ASGITransport(app=embedded), base_url="http://b")
            await _baseline(c, "10")
            handlers = embedded.apps["/quota"].state.runtime.consumer.handlers
            real = handlers.get("eia.filing.quota_retry.v1")
            broken = {"on": True}

            async def poisoned(s: Any, p: Any, env: Any) -> None:
                if broken["on"]:
                    raise PermanentFailure("cannot apply this request")
                await real(s, p, env)

            for t in ("eia.filing.accepted.v1", "eia.filing.quota_retry.v1"):
                handlers._by_type[t] = poisoned
            f = await accepted(c, "2")
            for _ in range(4):
                r = await c.post("/admin/clock", json={"advance": "PT3M"}, headers=admin())
                assert r.status_code == 200, r.text
                await asyncio.sleep(0.1)
            # Each re-ask travels after its commit: until the request and its
            # four re-asks have reached quota-svc (a loaded machine may take
            # longer than the pause above), then exactly what arrived.
            for _ in range(200):
                dead = (await c.get("/quota/admin/dead-letters", headers=admin())).json()["items"]
                if sum(d["occurrences"] for d in dead) >= 5:
                    break
                await asyncio.sleep(0.02)
            f = (await c.get(f"/eia/filings/{f['id']}", headers=officer())).json()
            assert f["quota_status"] == "pending" and f["quota_asks"] == 4
            by_type = {d["event_type"]: d for d in dead}
            assert len(dead) == 2, dead  # the request, and its four re-asks as one
            again = by_type["eia.filing.quota_retry.v1"]
            assert (
                again["occurrences"] == 4 and by_type["eia.filing.accepted.v1"]["occurrences"] == 1
            )
            assert again["last_seen_at"] > again["created_at"]
            broken["on"] = False  # the cause is fixed
            r = await c.post(f"/quota/admin/dead-letters/{again['id']}/redrive", headers=admin())
            assert r.status_code == 200 and r.json()["status"] == "redriven", r.text
            done = await eventually(c, f["id"], lambda x: x["quota_status"] != "pending")
            assert done["quota_status"] == "secured"
            balance = (await c.get(f"/quota/balances/{JIZHOU}/VOCs", headers=admin())).json()
            assert balance["reserved_t"] == "4.000"  # one hold
            await c.aclose()


async def test_bounds_are_the_same_everywhere(bureau: httpx.AsyncClient) -> None:
    c = bureau
    r = await c.post("/eia/filings", json=filing(vocs_increment_t="900000"), headers=officer())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "vocs_increment_t"
    r = await c.put(
        f"/quota/settings/{JIZHOU}/VOCs",
        json={"offset_ratio": "11", "hold_days": 90},
        headers=admin(),
    )
    assert r.status_code == 422
    # The largest project at the largest ratio can be stated in every answer.
    r = await c.put(
        f"/quota/settings/{JIZHOU}/VOCs",
        json={"offset_ratio": "10", "hold_days": 90},
        headers=admin(),
    )
    assert r.status_code == 200, r.text
    f = await accepted(c, "100000")
    done = await eventually(c, f["id"], lambda x: x["quota_status"] != "pending")
    assert done["quota_status"] == "blocked" and done["quota_shortfall_t"] == "1000000.000"


async def test_park_subpool_funding_is_reported(bureau: httpx.AsyncClient) -> None:
    c = bureau
    await _baseline(c, "3")
    park = {
        "id": "JZ-PARK-1",
        "name": "蓟州区工业园",
        "district": JIZHOU,
        "covered_project_types": ["C2641"],
        "vocs_subpool_t": "5",
    }
    assert (await c.post("/eia/parks", json=park, headers=admin())).status_code == 201
    free = {**park, "id": "JZ-PARK-0", "vocs_subpool_t": "0"}
    assert (await c.post("/eia/parks", json=free, headers=admin())).status_code == 201
    for _ in range(200):
        parks = {p["id"]: p for p in (await c.get("/eia/parks", headers=admin())).json()}
        if all(p["funding_status"] != "pending" for p in parks.values()):
            break
        await asyncio.sleep(0.02)
    assert parks["JZ-PARK-1"]["funding_status"] == "unfunded"
    assert parks["JZ-PARK-1"]["funding_shortfall_t"] == "2.000"
    assert parks["JZ-PARK-0"]["funding_status"] == "funded"
    journal = (await c.get("/quota/journal", headers=admin())).json()["items"]
    assert all(e["amount_t"] != "0.000" for e in journal)  # no zero transfers


async def test_a_saga_asked_again_and_again_is_listed_stuck_with_its_dead_letter(
    tmp_path: pathlib.Path,
) -> None:
    """The stuck list (`older_than`, `bureau sagas stuck`) measures how long
    the saga has waited since it first asked, not since the last re-ask:
    eia-svc asks again every two minutes, so a filing measured from its
    last ask was never five minutes old, and the QuotaSagaStuck alert's
    list stayed empty while its filing waited. Once listed, `why_stuck`
    names the dead letter that holds its request."""
    from svc_common import clock
    from svc_common.failures import PermanentFailure

    from bureau.ops import SagaHold, why_stuck

    start = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
    with clock.using(clock.ManualClock(start)):
        embedded = Embedded(tmp_path, log_json=False, quota_reask_after_seconds=120)
        async with embedded.lifespan():
            c = httpx.AsyncClient(transport=httpx.ASGITransport(app=embedded), base_url="http://b")
            await _baseline(c, "10")
            handlers = embedded.apps["/quota"].state.runtime.consumer.handlers

            async def poisoned(s: Any, p: Any, env: Any) -> None:
                raise PermanentFailure("cannot apply this request")

            for t in ("eia.filing.accepted.v1", "eia.filing.quota_retry.v1"):
                handlers._by_type[t] = poisoned
            f = await accepted(c, "2")
            stuck_url = "/eia/filings?quota_status=pending&older_than=PT5M"
            for _ in range(3):
                r = await c.post("/admin/clock", json={"advance": "PT3M"}, headers=admin())
                assert r.status_code == 200, r.text
                await asyncio.sleep(0.1)
            f = await eventually(c, f["id"], lambda x: x["quota_asks"] == 3)
            listed = (await c.get(stuck_url, headers=officer())).json()["items"]
            assert [x["id"] for x in listed] == [f["id"]], f
            # Asked again a moment ago, first asked nine minutes ago.
            assert f["quota_asked_at"] > f["quota_first_asked_at"]
            assert f["quota_first_asked_at"] == "2026-03-02T01:00:00+00:00"
            longer = await c.get(stuck_url.replace("PT5M", "PT10M"), headers=officer())
            assert longer.json()["items"] == []
            for _ in range(200):
                dead = (await c.get("/quota/admin/dead-letters", headers=admin())).json()["items"]
                if sum(d["occurrences"] for d in dead) >= 4:
                    break
                await asyncio.sleep(0.02)
            why = why_stuck(listed[0], SagaHold(dead={"quota": dead}))
            assert {d["event_type"] for d in dead} == {
                "eia.filing.accepted.v1",
                "eia.filing.quota_retry.v1",
            }
            for d in dead:
                assert any(f"死信 #{d['id']}" in line for line in why), why
            await c.aclose()
