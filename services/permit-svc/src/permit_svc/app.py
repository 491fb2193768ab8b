"""permit-svc: the FastAPI app, its routers, event handlers and sweepers."""

from __future__ import annotations

from pathlib import Path

import structlog
from fastapi import FastAPI
from svc_common.events.schemas import permit as permit_events
from svc_common.service import Runtime, ServiceSpec, create_app
from svc_common.transports import Transport
from svc_common.types import utcnow

from permit_svc.audits.router import router as audits_router
from permit_svc.enterprises.router import router as enterprises_router
from permit_svc.enterprises.service import load_shipped_table_if_empty
from permit_svc.events import build_handlers
from permit_svc.execution_reports.router import router as execution_reports_router
from permit_svc.metrics import FAMILIES, parked_figures
from permit_svc.parked.router import router as parked_router
from permit_svc.permits import expiry as permits
from permit_svc.permits.router import router as permits_router
from permit_svc.prechecks.router import router as prechecks_router
from permit_svc.registrations import service as registrations
from permit_svc.registrations.router import router as registrations_router
from permit_svc.reports.router import router as reports_router
from permit_svc.scope import audit_targets
from permit_svc.settings import Settings

DESCRIPTION = """Pollutant-discharge permit certificates (排污许可证) versus
registration (排污登记): enterprises, permit lifecycle, quality
audits (许可质量审核) and coverage."""

PREFIX = "/permit"
log = structlog.get_logger(__name__)


async def load_classification_table(rt: Runtime) -> None:
    await load_shipped_table_if_empty(rt.db)


async def expire_due(rt: Runtime) -> None:
    """Statutory clock: expire permits and registrations past their term."""
    now = utcnow()
    expired = await permits.expire_due(rt.db, now)
    lapsed = await registrations.expire_due(rt.db, now)
    if expired or lapsed:
        log.info("expired by the statutory clock", permits=expired, registrations=lapsed)


def spec(settings: Settings | None = None) -> ServiceSpec:
    settings = settings or Settings()
    sweep = settings.expiry_sweep_seconds
    return ServiceSpec(
        name="permit-svc",
        prefix=PREFIX,
        title="permit-svc: discharge permits and registrations",
        description=DESCRIPTION,
        migrations_dir=Path(__file__).parent / "migrations",
        routers=[
            enterprises_router,
            permits_router,
            prechecks_router,
            registrations_router,
            audits_router,
            execution_reports_router,
            reports_router,
            parked_router,
        ],
        handlers=build_handlers(settings),
        periodic=[(sweep, expire_due)],
        on_startup=[load_classification_table],
        gauges=[parked_figures],
        gauge_families=FAMILIES,
        own_topics=[permit_events.TOPIC],
        audit_scope=audit_targets,
    )


def create(settings: Settings | None = None, *, transport: Transport | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_app(spec(settings), settings, transport=transport)
