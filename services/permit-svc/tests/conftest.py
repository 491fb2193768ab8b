"""Fixtures of permit-svc's tests: the service running on each database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from permit_svc.app import create
from permit_svc.settings import Settings
from sqlalchemy import select
from svc_common import testing
from svc_common.db import Database
from svc_common.events.registry import registry
from svc_common.tables import OutboxRow
from svc_common.uscc import make_uscc

BAODI = "120115"
JIZHOU = "120119"


@dataclass
class Service:
    """The running app, a client, and shortcuts the tests share."""

    app: FastAPI
    http: httpx.AsyncClient

    @property
    def db(self) -> Database:
        db: Database = self.app.state.db
        return db

    async def enterprise(
        self, serial: int, industry: str = "2641", district: str = BAODI, **extra: Any
    ) -> str:
        uscc = make_uscc(district, serial)
        body = {
            "uscc": uscc,
            "name": f"企业{serial}",
            "district": district,
            "industry_code": industry,
            **extra,
        }
        r = await self.http.post(
            "/permit/enterprises", json=body, headers=testing.auth("officer", [district])
        )
        assert r.status_code == 201, r.text
        return uscc

    async def events(self, event_type: str) -> list[dict[str, Any]]:
        """Payloads of `event_type` in the outbox, validated against the shared schema."""
        async with self.db.session() as s:
            rows = (
                await s.scalars(
                    select(OutboxRow)
                    .where(OutboxRow.event_type == event_type)
                    .order_by(OutboxRow.seq)
                )
            ).all()
        model = registry.model_for(event_type)
        assert model is not None
        for row in rows:
            model.model_validate(row.envelope["data"])
        return [row.envelope for row in rows]


@pytest.fixture
async def svc(db_url: str) -> AsyncIterator[Service]:
    app = create(Settings(database_url=db_url, log_json=False, log_level="WARNING"))
    async with testing.running(app) as http:
        yield Service(app, http)
