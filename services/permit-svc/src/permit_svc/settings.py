"""permit-svc settings: the shared ones (DATABASE_URL, EVENT_TRANSPORT, JWT_*),
plus this service's own."""

from __future__ import annotations

from svc_common.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "permit-svc"
    database_url: str = "sqlite+aiosqlite:///./data/permit.db"
