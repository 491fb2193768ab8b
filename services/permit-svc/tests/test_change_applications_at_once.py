"""Change applications approved at the same moment on PostgreSQL, with a
change of the permit they go into and with each other: each lands once, in
some order, the amounts and the quota drawn adding up; no answer is a 5xx
(the locks are taken in one order: permits, then their enterprise)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from permit_svc.app import create
from permit_svc.settings import Settings
from svc_common import testing

from .conftest import Service
from .test_change_applications import OFFICER, allocation, drafted, get, in_force

pytestmark = pytest.mark.pg


@pytest.fixture
async def svc(pg_url: str) -> AsyncIterator[Service]:
    app = create(Settings(database_url=pg_url, log_json=False, log_level="WARNING"))
    async with testing.running(app) as http:
        yield Service(app, http)


async def test_merges_and_a_change_at_once_each_land_once(svc: Service) -> None:
    for round_ in range(3):
        serial = 6790 + round_
        uscc, pid, _ = await in_force(svc, serial)
        drafts = [await drafted(svc, uscc, serial * 10 + i, "1") for i in range(3)]
        for i in range(3):
            n = serial * 10 + i
            await testing.deliver(svc.app, allocation(f"res-{n}", f"P-{n}", None, "1"))
        change = {
            "pollutants": [
                {"pollutant": "VOCs", "amount_t": "2"},
                {"pollutant": "NOx", "amount_t": "0.5"},
            ],
            "reason": "核减",
        }
        answers = await asyncio.gather(
            *(svc.http.post(f"/permit/permits/{d['id']}/issue", headers=OFFICER) for d in drafts),
            svc.http.post(f"/permit/permits/{pid}/change", json=change, headers=OFFICER),
        )
        assert [r.status_code for r in answers] == [200, 200, 200, 200], [r.text for r in answers]
        after = await get(svc, pid)
        # Each step started from where the one before it left the permit:
        # the VOCs deltas announced add up to its amount now, and what was
        # drawn to the increases among them.
        deltas = [
            Decimal(e["data"]["vocs_delta_t"])
            for e in await svc.events("permit.changed.v1")
            if e["data"]["permit_id"] == pid
        ]
        assert len(deltas) == 4
        assert Decimal(after["vocs_t"]) == 2 + sum(deltas), (after, deltas)
        drawn = 2 + sum(d for d in deltas if d > 0)
        assert Decimal(after["quota_drawn_t"]) == drawn, (after, deltas)
        assert {"pollutant": "NOx", "amount_t": "0.500"} in after["pollutants"]
        assert after["version"] == 2 + 4
        for d in drafts:
            assert (await get(svc, d["id"]))["status"] == "merged"
