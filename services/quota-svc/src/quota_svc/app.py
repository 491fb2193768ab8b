"""quota-svc: the FastAPI app, its routers, event handlers and sweepers."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from svc_common.events.schemas import quota as quota_events
from svc_common.service import Runtime, ServiceSpec, create_app
from svc_common.transports import Transport

from quota_svc.adjustments.router import router as adjustments_router
from quota_svc.availability.router import router as availability_router
from quota_svc.events import build_handlers
from quota_svc.ledger.router import router as ledger_router
from quota_svc.metrics import FAMILIES, ledger_figures
from quota_svc.policy.router import router as policy_router
from quota_svc.policy.service import default_policy
from quota_svc.reclaims.router import router as reclaims_router
from quota_svc.reservations.router import router as reservations_router
from quota_svc.reservations.service import expire_due
from quota_svc.settings import Settings

DESCRIPTION = """The VOCs total-quota ledger (总量指标) per district: baseline,
reclaim (收回), reserve, allocate and release with the offset
ratio (倍量削减替代); availability for investment-attraction
staff."""

PREFIX = "/quota"


async def expire_holds(rt: Runtime) -> int:
    """Periodic sweeper: release holds past their expiry (journal code expire)."""
    return await expire_due(rt.db)


def spec(settings: Settings | None = None) -> ServiceSpec:
    settings = settings or Settings()
    return ServiceSpec(
        name="quota-svc",
        prefix=PREFIX,
        title="quota-svc: VOCs total-quota ledger",
        description=DESCRIPTION,
        migrations_dir=Path(__file__).parent / "migrations",
        routers=[
            policy_router,
            ledger_router,
            adjustments_router,
            reservations_router,
            reclaims_router,
            availability_router,
        ],
        handlers=build_handlers(default_policy(settings)),
        periodic=[(settings.hold_sweep_seconds, expire_holds)],
        own_topics=[quota_events.TOPIC],
        gauges=[ledger_figures],
        gauge_families=FAMILIES,
    )


def create(settings: Settings | None = None, *, transport: Transport | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_app(spec(settings), settings, transport=transport)
