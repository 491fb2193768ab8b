"""supervision-svc settings: the shared ones (DATABASE_URL, EVENT_TRANSPORT,
JWT_*), plus this service's own (env: ACCEPT_WORKING_DAYS, …)."""

from __future__ import annotations

from decimal import Decimal

from fastapi import Request
from pydantic import Field
from svc_common.service import get_runtime
from svc_common.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "supervision-svc"
    database_url: str = "sqlite+aiosqlite:///./data/supervision.db"

    # Statutory clocks of a complaint (限时办结), in working days of the
    # mainland calendar (weekends, public holidays and make-up working days).
    accept_working_days: int = Field(3, ge=1, le=60, description="receipt → accepted or rejected")
    close_working_days: int = Field(30, ge=1, le=365, description="acceptance → closed")

    # Duplicate detection (重复反映).
    duplicate_window_days: int = Field(30, ge=1, le=365, description="look this far back")
    duplicate_radius_m: int = Field(500, ge=1, le=10_000, description="'nearby' for coordinates")
    duplicate_text_similarity: Decimal = Field(
        Decimal("0.20"), ge=0, le=1, description="character-bigram Dice of the descriptions"
    )
    duplicate_address_similarity: Decimal = Field(
        Decimal("0.60"), ge=0, le=1, description="character-bigram Dice of the addresses"
    )
    #: Very similar text alone (same district and category) is the same problem.
    duplicate_text_alone: Decimal = Field(Decimal("0.60"), ge=0, le=1)
    #: Clusters whose last report is older than this are left out of the ranking.
    attention_window_days: int = Field(90, ge=1, le=3660)

    # Double-random draw (双随机): weights of the three kinds of enterprise.
    draw_weight_low: int = Field(1, ge=1, le=100, description="compliant, A grade or benchmark")
    draw_weight_normal: int = Field(2, ge=1, le=100)
    draw_weight_high: int = Field(4, ge=1, le=100, description="open findings or complaints")
    #: A measure that stops listed processes cuts this share of emissions
    #: unless the measure says its own share.
    stop_processes_default_percent: int = Field(50, ge=1, le=100)

    overdue_sweep_seconds: float = Field(300.0, gt=0, description="how often overdue is marked")
    bulk_max_rows: int = Field(50_000, ge=1, description="largest bulk upload, in rows")


async def get_settings(request: Request) -> Settings:
    settings = get_runtime(request).settings
    return settings if isinstance(settings, Settings) else Settings(**settings.model_dump())
