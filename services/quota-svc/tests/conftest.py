"""quota-svc test fixtures: the app on a fresh database (SQLite and PostgreSQL
via the root `db_url` fixture), an HTTP client, and helpers to read events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from quota_svc.app import create
from quota_svc.settings import Settings
from sqlalchemy import select
from svc_common import testing
from svc_common.tables import OutboxRow

JIZHOU = "120119"  # 蓟州区
BAODI = "120115"  # 宝坻区

ADMIN = testing.auth("admin", sub="admin.zhang")
ADMIN2 = testing.auth("admin", sub="admin.li")
OFFICER = testing.auth("officer", [JIZHOU], sub="officer.wang")
OFFICER2 = testing.auth("officer", [JIZHOU], sub="officer.zhao")
INVESTMENT = testing.auth("investment", sub="investment.liu")
AUDITOR = testing.auth("auditor", sub="auditor.sun")


@dataclass
class Quota:
    app: FastAPI
    client: httpx.AsyncClient

    async def events(self, event_type: str) -> list[dict[str, Any]]:
        """Payloads of the events of `event_type` in the outbox, oldest first."""
        async with self.app.state.runtime.db.session() as s:
            rows = await s.scalars(
                select(OutboxRow).where(OutboxRow.event_type == event_type).order_by(OutboxRow.seq)
            )
            return [r.envelope["data"] for r in rows]

    async def baseline(self, district: str, amount_t: str, **extra: Any) -> dict[str, Any]:
        r = await self.client.post(
            f"/quota/pools/{district}/VOCs/baseline",
            json={"amount_t": amount_t, **extra},
            headers=ADMIN,
        )
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def availability(self, district: str) -> dict[str, Any]:
        r = await self.client.get(
            "/quota/availability", params={"district": district}, headers=INVESTMENT
        )
        assert r.status_code == 200, r.text
        pools = {p["pool_id"]: p for p in r.json()}
        return dict(pools[f"{district}:VOCs"])


@pytest.fixture
async def quota(db_url: str) -> AsyncIterator[Quota]:
    settings = Settings(database_url=db_url, log_json=False, hold_sweep_seconds=3600)
    app = create(settings)
    async with testing.running(app) as client:
        yield Quota(app, client)
