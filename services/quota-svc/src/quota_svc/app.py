"""quota-svc: the FastAPI app, its routers, event handlers and sweepers."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from svc_common.events.schemas import quota as quota_events
from svc_common.service import Runtime, ServiceSpec, create_app
from svc_common.transports import Transport

from quota_svc.adjustments.router import router as adjustments_router
from quota_svc.airquality.router import router as airquality_router
from quota_svc.availability.router import router as availability_router
from quota_svc.debts.router import router as debts_router
from quota_svc.events import build_handlers
from quota_svc.exports.router import router as exports_router
from quota_svc.ledger.router import router as ledger_router
from quota_svc.lots.router import router as lots_router
from quota_svc.metrics import FAMILIES, ledger_figures
from quota_svc.policy.router import router as policy_router
from quota_svc.policy.service import default_policy
from quota_svc.pollutants.router import router as pollutants_router
from quota_svc.reclaims.router import router as reclaims_router
from quota_svc.reconciliation.service import FAILED as RECONCILIATION_FAILED
from quota_svc.reconciliation.service import run_checks
from quota_svc.register.router import router as register_router
from quota_svc.register.service import chain_pending
from quota_svc.reservations.router import router as reservations_router
from quota_svc.reservations.service import expire_due
from quota_svc.settings import Settings
from quota_svc.swaps.router import router as swaps_router
from quota_svc.swaps.service import settle_due
from quota_svc.trading.router import router as trading_router

DESCRIPTION = """The total-quota ledger (总量指标) per district of VOCs, NOx, COD
and NH3-N: baseline, reclaim (收回), reserve, allocate and release with the
offset ratio (倍量削减替代, by air quality); lots and lineage (来源追溯);
advance use (先用后补); cross-district swaps (跨区调剂); emission-rights
trading (排污权交易); a public hash-chained register; export; reconciliation;
availability for investment-attraction staff."""

PREFIX = "/quota"


async def expire_holds(rt: Runtime) -> int:
    """Periodic sweeper: release holds past their expiry (journal code expire)."""
    return await expire_due(rt.db)


async def settle_swaps(rt: Runtime) -> int:
    """Periodic: settle approved swaps whose delay has passed."""
    return await settle_due(rt.db)


async def chain_register(rt: Runtime) -> int:
    """Periodic: append queued public records to the register's hash chain."""
    return await chain_pending(rt.db)


async def reconcile_all(rt: Runtime) -> bool:
    """Periodic: the numbered reconciliation checks (metric per check)."""
    return all(r.ok for r in await run_checks(rt.db, service=rt.service))


def spec(settings: Settings | None = None) -> ServiceSpec:
    settings = settings or Settings()
    return ServiceSpec(
        name="quota-svc",
        prefix=PREFIX,
        title="quota-svc: total-quota ledger",
        description=DESCRIPTION,
        migrations_dir=Path(__file__).parent / "migrations",
        # The busiest first: FastAPI tries a request's path against each
        # route in this order (twice), so the reservations and availability
        # that every project and investment desk asks for are found first.
        routers=[
            reservations_router,
            availability_router,
            pollutants_router,
            policy_router,
            ledger_router,
            adjustments_router,
            reclaims_router,
            lots_router,
            airquality_router,
            debts_router,
            swaps_router,
            trading_router,
            register_router,
            exports_router,
        ],
        handlers=build_handlers(default_policy(settings)),
        periodic=[
            (settings.hold_sweep_seconds, expire_holds),
            (settings.swap_sweep_seconds, settle_swaps),
            (settings.register_chain_seconds, chain_register),
            (settings.reconciliation_seconds, reconcile_all),
        ],
        own_topics=[quota_events.TOPIC],
        gauges=[ledger_figures],
        gauge_families=[*FAMILIES, RECONCILIATION_FAILED],
    )


def create(settings: Settings | None = None, *, transport: Transport | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_app(spec(settings), settings, transport=transport)
