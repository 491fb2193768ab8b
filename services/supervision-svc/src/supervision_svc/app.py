"""supervision-svc: the FastAPI app, its routers, event handlers and sweepers."""

from __future__ import annotations

from pathlib import Path

import structlog
from fastapi import FastAPI
from svc_common.events.schemas import supervision as supervision_events
from svc_common.service import Runtime, ServiceSpec, create_app
from svc_common.transports import Transport
from svc_common.types import utcnow

from supervision_svc.alerts.router import router as alerts_router
from supervision_svc.cases.router import router as cases_router
from supervision_svc.complaints import service as complaints
from supervision_svc.complaints.router import router as complaints_router
from supervision_svc.demands import service as demands
from supervision_svc.demands.router import router as demands_router
from supervision_svc.events import handlers
from supervision_svc.grading.router import router as grading_router
from supervision_svc.grading.service import ensure_default_policy
from supervision_svc.inspections.router import router as inspections_router
from supervision_svc.registry.router import router as registry_router
from supervision_svc.settings import Settings

DESCRIPTION = """Supervision: 12369 complaints (信访投诉) with duplicate detection
(重复反映) and attention ranking, statutory clocks (限时办结) and the demands
list (诉求清单); double-random inspections (双随机), findings and enforcement
cases (立案查处) decided with four eyes; performance grading (绩效分级), the
guarantee list (保障性清单), per-plant plans (一厂一策) and heavy-pollution
weather measures (重污染天气应急)."""

PREFIX = "/supervision"
log = structlog.get_logger(__name__)


async def load_default_policy(rt: Runtime) -> None:
    await ensure_default_policy(rt.db)


async def mark_overdue(rt: Runtime) -> None:
    """Statutory clocks: record complaints and demands that missed theirs."""
    now = utcnow()
    late = await complaints.mark_overdue(rt.db, now)
    items = await demands.mark_overdue(rt.db, now)
    if late or items:
        log.info("marked overdue by the statutory clock", complaints=late, demands=items)


def spec(settings: Settings | None = None) -> ServiceSpec:
    sweep = (settings or Settings()).overdue_sweep_seconds
    return ServiceSpec(
        name="supervision-svc",
        prefix=PREFIX,
        title="supervision-svc: complaints, enforcement, grading",
        description=DESCRIPTION,
        migrations_dir=Path(__file__).parent / "migrations",
        routers=[
            registry_router,
            complaints_router,
            demands_router,
            inspections_router,
            cases_router,
            grading_router,
            alerts_router,
        ],
        handlers=handlers,
        periodic=[(sweep, mark_overdue)],
        on_startup=[load_default_policy],
        own_topics=[supervision_events.TOPIC],
    )


def create(settings: Settings | None = None, *, transport: Transport | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_app(spec(settings), settings, transport=transport)
