"""eia-svc: the FastAPI app, its routers, event handlers and sweepers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from fastapi import FastAPI
from svc_common.events.schemas import eia as eia_events
from svc_common.service import Runtime, ServiceSpec, create_app
from svc_common.transports import Transport
from svc_common.types import utcnow

from eia_svc.classification.router import router as classification_router
from eia_svc.classification.service import load_shipped_table
from eia_svc.control_units.router import router as control_units_router
from eia_svc.events import handlers
from eia_svc.filings.router import router as filings_router
from eia_svc.metrics import FAMILIES, filing_figures
from eia_svc.parks.router import router as parks_router
from eia_svc.quota_saga import service as quota_saga
from eia_svc.registrations.public_router import router as public_router
from eia_svc.registrations.review_router import router as review_router
from eia_svc.registrations.router import router as registrations_router
from eia_svc.settings import Settings

DESCRIPTION = """EIA filings: registration-form auto-filing with no human
approval (登记表备案无人审批), normal and green-channel (绿色通道)
review, bundled EIA (多评合一)."""

PREFIX = "/eia"


async def reask_quota(rt: Runtime) -> int:
    """Periodic: ask quota-svc again for requests left without an answer."""
    assert isinstance(rt.settings, Settings)
    after = dt.timedelta(seconds=rt.settings.quota_reask_after_seconds)
    async with rt.db.transaction() as s:
        return await quota_saga.reask_unanswered(s, utcnow(), after)


def spec(settings: Settings | None = None) -> ServiceSpec:
    settings = settings or Settings()
    return ServiceSpec(
        name="eia-svc",
        prefix=PREFIX,
        title="eia-svc: fast-track EIA filings",
        description=DESCRIPTION,
        migrations_dir=Path(__file__).parent / "migrations",
        # The busiest first (FastAPI tries each route in this order): the
        # registration forms machines file, then the filings officers work on.
        routers=[
            registrations_router,
            filings_router,
            review_router,
            classification_router,
            control_units_router,
            parks_router,
            public_router,
        ],
        handlers=handlers,
        on_startup=[load_shipped_table],
        periodic=[(settings.quota_reask_sweep_seconds, reask_quota)],
        own_topics=[eia_events.TOPIC],
        gauges=[filing_figures],
        gauge_families=FAMILIES,
    )


def create(settings: Settings | None = None, *, transport: Transport | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_app(spec(settings), settings, transport=transport)
