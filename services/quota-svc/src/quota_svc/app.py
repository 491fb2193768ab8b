"""quota-svc: the FastAPI app, its routers, event handlers and sweepers."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from svc_common.events.schemas import quota as quota_events
from svc_common.service import ServiceSpec, create_app
from svc_common.transports import Transport

from quota_svc.events import handlers
from quota_svc.settings import Settings

DESCRIPTION = """The VOCs total-quota ledger (总量指标) per district: baseline,
reclaim (收回), reserve, allocate and release with the offset
ratio (倍量削减替代); availability for investment-attraction
staff."""

PREFIX = "/quota"


def spec() -> ServiceSpec:
    return ServiceSpec(
        name="quota-svc",
        prefix=PREFIX,
        title="quota-svc: VOCs total-quota ledger",
        description=DESCRIPTION,
        migrations_dir=Path(__file__).parent / "migrations",
        routers=[],
        handlers=handlers,
        own_topics=[quota_events.TOPIC],
    )


def create(settings: Settings | None = None, *, transport: Transport | None = None) -> FastAPI:
    return create_app(spec(), settings or Settings(), transport=transport)
