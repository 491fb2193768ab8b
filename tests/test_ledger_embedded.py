"""The ledger beyond the registries in the embedded default (one process,
SQLite, in-process events): a trade amends both permits in permit-svc, and a
swap takes effect when an administrator moves the manual clock past its
delay (the sweeper runs on the move)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import httpx
from svc_common import clock, testing

from bureau.embedded import Embedded

from .test_saga_e2e_kafka import uscc

JIZHOU, BINHAI = "120119", "120116"
ADMIN = testing.auth("admin", sub="admin.zhang")
OFFICER = testing.auth("officer", [JIZHOU], sub="officer.wang")
OFFICER2 = testing.auth("officer", [JIZHOU], sub="officer.zhao")
BINHAI_OFFICER = testing.auth("officer", [BINHAI], sub="officer.chen")
START = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)


async def _eventually(probe: Any, ok: Any, what: str) -> Any:
    for _ in range(200):
        last = await probe()
        if ok(last):
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}: {last}")


async def _permit(c: httpx.AsyncClient, code: str, name: str, vocs: str) -> str:
    r = await c.post(
        "/permit/enterprises",
        json={"uscc": code, "name": name, "district": JIZHOU, "industry_code": "2641"},
        headers=OFFICER,
    )
    assert r.status_code == 201, r.text
    line = {
        "uscc": code,
        "pollutants": [{"pollutant": "VOCs", "amount_t": vocs}],
        "valid_from": "2024-01-01",
        "valid_to": "2028-12-31",
    }
    r = await c.post(
        "/permit/permits:import",
        content=json.dumps(line).encode(),
        headers={**OFFICER, "content-type": "application/x-ndjson"},
    )
    assert r.status_code == 200 and r.json()["totals"]["created"] == 1, r.text
    return str(r.json()["results"][0]["id"])


async def test_trade_and_swap_in_the_embedded_default(tmp_path: Path) -> None:
    with clock.using(clock.ManualClock(START)):
        embedded = Embedded(tmp_path, log_json=False, hold_sweep_seconds=3600, swap_delay="P2D")
        async with (
            embedded.lifespan(),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=embedded),
                base_url="http://testserver",
                headers={"Accept-Language": "en"},
            ) as c,
        ):
            seller, buyer = uscc("EMBSELL01"), uscc("EMBBUY002")
            seller_permit = await _permit(c, seller, "蓟州某化工厂", "5")
            buyer_permit = await _permit(c, buyer, "蓟州某家具厂", "2")
            r = await c.post(
                f"/quota/pools/{JIZHOU}/VOCs/baseline", json={"amount_t": "10"}, headers=ADMIN
            )
            assert r.status_code == 201, r.text
            r = await c.post(
                "/quota/reservations",
                json={"district": JIZHOU, "increment_t": "3", "project_ref": "S-1", "uscc": seller},
                headers=OFFICER,
            )
            r = await c.post(f"/quota/reservations/{r.json()['id']}/allocate", headers=OFFICER)
            assert r.status_code == 200, r.text
            body = {
                "seller": seller,
                "buyer": buyer,
                "district": JIZHOU,
                "amount_t": "2",
                "price_cny_per_t": "15000",
                "contract_ref": "EMB-1",
            }
            t = (await c.post("/quota/trades", json=body, headers=OFFICER)).json()
            r = await c.post(f"/quota/trades/{t['id']}/approve", headers=OFFICER2)
            assert r.json()["status"] == "settled", r.text

            async def vocs() -> tuple[str, str]:
                got = [
                    (await c.get(f"/permit/permits/{p}", headers=OFFICER)).json()["vocs_t"]
                    for p in (seller_permit, buyer_permit)
                ]
                return got[0], got[1]

            assert await _eventually(vocs, lambda v: v == ("4.000", "3.000"), "permits") == (
                "4.000",
                "3.000",
            )

            # A swap 滨海新区 → 蓟州区 takes effect when the clock passes its delay.
            r = await c.post(
                f"/quota/pools/{BINHAI}/VOCs/baseline", json={"amount_t": "20"}, headers=ADMIN
            )
            s = (
                await c.post(
                    "/quota/swaps",
                    json={"from": BINHAI, "to": JIZHOU, "amount_t": "5", "reason": "调剂"},
                    headers=ADMIN,
                )
            ).json()
            for who in (BINHAI_OFFICER, OFFICER):
                r = await c.post(f"/quota/swaps/{s['id']}/approve", headers=who)
                assert r.status_code == 200, r.text
            assert r.json()["status"] == "approved"
            r = await c.post("/admin/clock", json={"advance": "P2DT1S"}, headers=ADMIN)
            assert r.status_code == 200, r.text
            got = (await c.get(f"/quota/swaps/{s['id']}", headers=OFFICER)).json()
            assert got["status"] == "settled", got
            r = await c.get(f"/quota/availability?district={JIZHOU}", headers=OFFICER)
            (pool,) = [p for p in r.json() if p["pool_id"] == f"{JIZHOU}:VOCs"]
            assert (pool["credited_t"], pool["available_t"]) == ("15.000", "9.000")
