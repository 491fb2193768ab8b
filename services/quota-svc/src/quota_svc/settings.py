"""quota-svc settings: the shared ones (DATABASE_URL, EVENT_TRANSPORT, JWT_*),
plus this service's own."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field
from svc_common.settings import ServiceSettings
from svc_common.types import Ratio


class Settings(ServiceSettings):
    service_name: str = "quota-svc"
    database_url: str = "sqlite+aiosqlite:///./data/quota.db"
    #: Offset ratio (倍量削减替代) where no district setting is in force.
    default_offset_ratio: Ratio = Decimal("2.00")
    #: How long a hold lasts before the sweeper releases it.
    default_hold_days: int = Field(180, ge=1, le=3650)
    #: How often the hold-expiry sweeper runs.
    hold_sweep_seconds: float = Field(60.0, gt=0)
