"""Fixtures of supervision-svc's tests: the service on each database, and
the register fed through its inbox exactly as permit-svc's events arrive."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from supervision_svc.app import create
from supervision_svc.settings import Settings
from svc_common import testing
from svc_common.db import Database
from svc_common.events.registry import registry
from svc_common.events.schemas import permit as pev
from svc_common.events.schemas.common import PollutantAmount
from svc_common.tables import OutboxRow
from svc_common.uscc import make_uscc

DONGLI = "120110"  # 东丽区
NINGHE = "120117"  # 宁河区
WUQING = "120114"  # 武清区
T0 = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)  # 10:00 in Beijing, a Monday


def officer(district: str = DONGLI, sub: str | None = None) -> dict[str, str]:
    return testing.auth("officer", [district], sub=sub or f"officer.{district}")


ADMIN = testing.auth("admin", sub="admin.city")
AUDITOR = testing.auth("auditor", sub="auditor.city")


@dataclass
class Service:
    app: FastAPI
    http: httpx.AsyncClient

    @property
    def db(self) -> Database:
        db: Database = self.app.state.db
        return db

    async def enterprise(
        self,
        serial: int,
        district: str = DONGLI,
        name: str | None = None,
        *,
        vocs: str | None = None,
        nox: str | None = None,
        status: str = "operating",
        permit_from: dt.date = dt.date(2024, 1, 1),
    ) -> str:
        """An enterprise announced by permit-svc, with a permit (valid from
        `permit_from` to the end of 2028) if amounts are given."""
        uscc = make_uscc(district, serial)
        await testing.deliver(
            self.app,
            pev.EnterpriseRegistered(
                uscc=uscc,
                name=name or f"天津企业{serial}有限公司",
                district=district,
                industry_code="2641",
                category="key",
                operating_status=status,  # type: ignore[arg-type]
                updated_at=T0,
            ),
        )
        if vocs is not None or nox is not None:
            pollutants = [
                PollutantAmount(pollutant=p, amount_t=Decimal(v))
                for p, v in (("VOCs", vocs), ("NOx", nox))
                if v is not None
            ]
            await testing.deliver(
                self.app,
                pev.PermitIssued(
                    permit_id=f"permit-{uscc}",
                    permit_no=f"{uscc}001P",
                    uscc=uscc,
                    enterprise_name=name or f"天津企业{serial}有限公司",
                    district=district,
                    industry_code="2641",
                    category="key",
                    pollutants=pollutants,
                    valid_from=permit_from,
                    valid_to=dt.date(2028, 12, 31),
                ),
            )
        return uscc

    async def events(self, event_type: str) -> list[dict[str, Any]]:
        """Payloads of `event_type` in the outbox, checked against the shared schema."""
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
        return [model.model_validate(r.envelope["data"]).model_dump(mode="json") for r in rows]


@pytest.fixture
async def svc(db_url: str) -> AsyncIterator[Service]:
    app = create(Settings(database_url=db_url, log_json=False, log_level="WARNING"))
    async with testing.running(app) as http:
        yield Service(app, http)
