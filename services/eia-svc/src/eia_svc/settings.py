"""eia-svc settings: the shared ones (DATABASE_URL, EVENT_TRANSPORT, JWT_*),
plus this service's own."""

from __future__ import annotations

import hmac
from decimal import Decimal

from pydantic import Field
from svc_common.settings import ServiceSettings
from svc_common.types import tonnes_to_kg


class Settings(ServiceSettings):
    service_name: str = "eia-svc"
    database_url: str = "sqlite+aiosqlite:///./data/eia.db"

    #: Share of auto-filed registration forms sampled for a post-hoc check (事后抽查).
    posthoc_sample_rate: float = Field(0.05, ge=0.0, le=1.0)
    #: Statutory clocks (限时办结): days from acceptance to decision.
    report_decision_days: int = Field(60, ge=1)
    report_form_decision_days: int = Field(30, ge=1)
    green_report_decision_days: int = Field(20, ge=1)
    green_report_form_decision_days: int = Field(10, ge=1)
    bundled_decision_days: int = Field(10, ge=1)
    #: Secret of the receipts' check codes (校验码); by default derived from
    #: JWT_SECRET. Changing it invalidates the codes printed so far.
    receipt_secret: str | None = Field(None, min_length=16)
    #: The address people reach the bureau at, printed on receipts (verification
    #: URL and QR code): the console's public pages are under it.
    public_url: str = "http://127.0.0.1:8000"
    #: A quota request with no answer for this long is asked again (same
    #: attempt; quota-svc answers with the reservation's state), and how often
    #: the sweeper looks for such requests.
    quota_reask_after_seconds: float = Field(120.0, gt=0)
    quota_reask_sweep_seconds: float = Field(30.0, gt=0)
    #: Largest bulk registration upload, in rows.
    bulk_max_rows: int = Field(10_000, ge=1)
    #: A registration form (登记表) is filed with no review and no quota, so
    #: it may only declare a VOCs increment below this (t/a); at or above it
    #: the project needs a report form (报告表) and quota. 0.1 t/a: see
    #: docs/eia-svc.md for why.
    registration_form_vocs_limit_t: Decimal = Field(
        Decimal("0.1"), ge=Decimal("0.001"), le=Decimal("100000"), decimal_places=3
    )

    @property
    def registration_form_vocs_limit_kg(self) -> int:
        return tonnes_to_kg(self.registration_form_vocs_limit_t)

    @property
    def receipt_check_secret(self) -> str:
        if self.receipt_secret:
            return self.receipt_secret
        return hmac.new(self.jwt_secret.encode(), b"eia-receipt-check-code", "sha256").hexdigest()
