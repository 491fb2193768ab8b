"""eia-svc: the FastAPI app, its routers, event handlers and sweepers."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from svc_common.events.schemas import eia as eia_events
from svc_common.service import ServiceSpec, create_app
from svc_common.transports import Transport

from eia_svc.events import handlers
from eia_svc.settings import Settings

DESCRIPTION = """EIA filings: registration-form auto-filing with no human
approval (登记表备案无人审批), normal and green-channel (绿色通道)
review, bundled EIA (多评合一)."""

PREFIX = "/eia"


def spec() -> ServiceSpec:
    return ServiceSpec(
        name="eia-svc",
        prefix=PREFIX,
        title="eia-svc: fast-track EIA filings",
        description=DESCRIPTION,
        migrations_dir=Path(__file__).parent / "migrations",
        routers=[],
        handlers=handlers,
        own_topics=[eia_events.TOPIC],
    )


def create(settings: Settings | None = None, *, transport: Transport | None = None) -> FastAPI:
    return create_app(spec(), settings or Settings(), transport=transport)
