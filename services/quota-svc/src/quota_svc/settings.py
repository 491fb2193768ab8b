"""quota-svc settings: the shared ones (DATABASE_URL, EVENT_TRANSPORT, JWT_*),
plus this service's own."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import Field, field_validator
from svc_common.clock import parse_duration
from svc_common.settings import ServiceSettings
from svc_common.types import Ratio, Tonnes


class Settings(ServiceSettings):
    service_name: str = "quota-svc"
    database_url: str = "sqlite+aiosqlite:///./data/quota.db"
    #: Offset ratio (倍量削减替代) where no district setting or air quality applies.
    default_offset_ratio: Ratio = Decimal("2.00")
    #: How long a hold lasts before the sweeper releases it.
    default_hold_days: int = Field(180, ge=1, le=3650)
    #: How often the hold-expiry sweeper runs.
    hold_sweep_seconds: float = Field(60.0, gt=0)
    #: 先用后补: how much a district may owe where no advance limit was set (0: none).
    default_advance_limit_t: Tonnes = Decimal("0")
    #: 先用后补: days until an advance must be repaid, where no limit was set.
    debt_term_days: int = Field(365, ge=1, le=3650)
    #: 跨区调剂: how long an approved swap waits before it takes effect (ISO 8601).
    swap_delay: str = "P7D"
    #: How often due swaps are settled.
    swap_sweep_seconds: float = Field(30.0, gt=0)
    #: How often queued public-register records are chained.
    register_chain_seconds: float = Field(2.0, gt=0)
    #: Reservations and allocations on one pool are applied in batches of at
    #: most this many, one transaction each (svc_common.batching); 1 turns
    #: batching off (one transaction per request).
    pool_batch_max: int = Field(64, ge=1, le=1000)
    #: How often the reconciliation checks run.
    reconciliation_seconds: float = Field(3600.0, gt=0)

    @field_validator("swap_delay")
    @classmethod
    def _duration(cls, v: str) -> str:
        parse_duration(v)
        return v

    @property
    def swap_delay_delta(self) -> dt.timedelta:
        return parse_duration(self.swap_delay)
