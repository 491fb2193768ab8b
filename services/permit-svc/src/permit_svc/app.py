"""permit-svc: the FastAPI app, its routers, event handlers and sweepers."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from svc_common.events.schemas import permit as permit_events
from svc_common.service import ServiceSpec, create_app
from svc_common.transports import Transport

from permit_svc.events import handlers
from permit_svc.settings import Settings

DESCRIPTION = """Pollutant-discharge permit certificates (排污许可证) versus
registration (排污登记): enterprises, permit lifecycle, quality
audits (许可质量审核) and coverage."""

PREFIX = "/permit"


def spec() -> ServiceSpec:
    return ServiceSpec(
        name="permit-svc",
        prefix=PREFIX,
        title="permit-svc: discharge permits and registrations",
        description=DESCRIPTION,
        migrations_dir=Path(__file__).parent / "migrations",
        routers=[],
        handlers=handlers,
        own_topics=[permit_events.TOPIC],
    )


def create(settings: Settings | None = None, *, transport: Transport | None = None) -> FastAPI:
    return create_app(spec(), settings or Settings(), transport=transport)
