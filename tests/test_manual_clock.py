"""The manual clock of the embedded default: an administrator moves it with
POST /admin/clock, every service's sweepers run at the new time, and the
system clock can never be moved."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest
from svc_common import clock, testing
from svc_common.settings import ServiceSettings

from bureau.embedded import Embedded

JIZHOU = "120119"
ADMIN = testing.auth("admin", sub="admin.zhang")
OFFICER = testing.auth("officer", [JIZHOU], sub="officer.wang")
START = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)


async def _client(app: Embedded) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        headers={"Accept-Language": "en"},
    )


async def test_advancing_the_clock_expires_holds(tmp_path: Path) -> None:
    with clock.using(clock.ManualClock(START)):
        embedded = Embedded(tmp_path, log_json=False, hold_sweep_seconds=3600)
        async with embedded.lifespan(), await _client(embedded) as c:
            r = await c.post(
                f"/quota/pools/{JIZHOU}/VOCs/baseline", json={"amount_t": "10"}, headers=ADMIN
            )
            assert r.status_code == 201, r.text
            r = await c.post(
                "/quota/reservations",
                json={"district": JIZHOU, "increment_t": "2", "project_ref": "JZ-1"},
                headers=OFFICER,
            )
            hold = r.json()
            assert hold["status"] == "held", r.text
            expires = dt.datetime.fromisoformat(hold["expires_at"])

            r = await c.get("/admin/clock", headers=ADMIN)
            assert r.json() == {
                "now": START.isoformat().replace("+00:00", "Z"),
                "mode": "manual",
                "flowing": False,
            }
            assert (
                await c.post("/admin/clock", json={"advance": "P1D"}, headers=OFFICER)
            ).status_code == 403
            r = await c.post("/admin/clock", json={"to": expires.isoformat()}, headers=ADMIN)
            assert r.status_code == 200, r.text
            r = await c.post("/admin/clock", json={"advance": "PT1S"}, headers=ADMIN)
            assert dt.datetime.fromisoformat(r.json()["now"]) == expires + dt.timedelta(seconds=1)
            # The sweeper ran on the move: the hold is released as expired.
            r = await c.get(f"/quota/reservations/{hold['id']}", headers=OFFICER)
            assert r.json()["status"] == "expired", r.text

            back = await c.post("/admin/clock", json={"to": START.isoformat()}, headers=ADMIN)
            # The clock's state refuses it (it never goes back): a conflict.
            assert back.status_code == 409, back.text
            both = await c.post(
                "/admin/clock", json={"advance": "P1D", "to": START.isoformat()}, headers=ADMIN
            )
            assert both.status_code == 422
            bad = await c.post("/admin/clock", json={"advance": "P1Y"}, headers=ADMIN)
            assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "advance"


async def test_the_system_clock_cannot_be_moved(tmp_path: Path) -> None:
    embedded = Embedded(tmp_path, log_json=False)
    async with embedded.lifespan(), await _client(embedded) as c:
        r = await c.post("/admin/clock", json={"advance": "P1D"}, headers=ADMIN)
        assert r.status_code == 409
        assert (await c.get("/admin/clock", headers=ADMIN)).json()["mode"] == "system"


def test_manual_clock_refused_for_deployments() -> None:
    kafka = ServiceSettings(clock="manual", event_transport="kafka://127.0.0.1:9092")
    with pytest.raises(ValueError, match="CLOCK_FORCE"):
        kafka.check_clock()
    pg = ServiceSettings(clock="manual", database_url="postgresql://u@h/db")
    with pytest.raises(ValueError, match="CLOCK_FORCE"):
        pg.check_clock()
    ServiceSettings(
        clock="manual", database_url="postgresql://u@h/db", clock_force=True
    ).check_clock()
    ServiceSettings(clock="manual").check_clock()
