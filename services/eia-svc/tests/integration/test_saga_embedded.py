"""eia-svc's side of the quota saga against the real quota-svc, both running
in one process on the local transport (outbox → transport → inbox), as in the
embedded default. The Kafka end-to-end run of all three services is separate."""

from __future__ import annotations

import asyncio
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
    r = await c.post(f"/eia/filings/{second['id']}/approve", headers=officer())
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
        assert (
            await c.post(f"/eia/filings/{f['id']}/approve", headers=officer())
        ).status_code == 200
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
