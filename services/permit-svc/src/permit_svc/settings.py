"""permit-svc settings: the shared ones (DATABASE_URL, EVENT_TRANSPORT, JWT_*),
plus this service's own statutory periods (env: PERMIT_TERM_YEARS, …)."""

from __future__ import annotations

import datetime as dt

from fastapi import Request
from pydantic import Field
from svc_common.service import get_runtime
from svc_common.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "permit-svc"
    database_url: str = "sqlite+aiosqlite:///./data/permit.db"

    permit_term_years: int = Field(5, ge=1, le=10, description="term of a permit (有效期)")
    registration_term_years: int = Field(5, ge=1, le=10, description="term of a registration")
    renewal_lead_days: int = Field(
        60, ge=1, description="renewal is due this many days before a permit expires"
    )
    renewal_window_days: int = Field(
        365, ge=1, description="a renewal can be made only this close to expiry"
    )
    execution_reports_owed_from: dt.date | None = Field(
        None,
        description="the first day of the periods whose execution reports (执行报告) this "
        "register follows: a period that ended before it is not on the missed-report list "
        "(its report was filed where the bureau kept them then); unset, every period of a "
        "permit's validity is",
    )
    expiry_sweep_seconds: float = Field(300.0, gt=0, description="how often expiry is swept")


async def get_settings(request: Request) -> Settings:
    settings = get_runtime(request).settings
    return settings if isinstance(settings, Settings) else Settings(**settings.model_dump())
