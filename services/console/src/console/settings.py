"""Console settings, read from the environment with no prefix (like the
services'): where the services are, how people sign in, the session secret."""

from __future__ import annotations

import secrets

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from svc_common.settings import DEV_JWT_SECRET, StopSettings


class Settings(StopSettings):
    """SHUTDOWN_DELAY_SECONDS and SHUTDOWN_TIMEOUT_SECONDS (`StopSettings`):
    how it stops on SIGTERM, as the services do."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    #: Base URL of each service (the console calls `<url>/permit/...`). In the
    #: embedded default the calls go in-process and these are not used.
    permit_url: str = "http://127.0.0.1:8001"
    quota_url: str = "http://127.0.0.1:8002"
    eia_url: str = "http://127.0.0.1:8003"
    supervision_url: str = "http://127.0.0.1:8004"
    api_timeout_seconds: float = Field(20.0, gt=0)
    #: How long quota-svc's pollutant list, once read, serves the pages
    #: without being read again (0: read on every request), and how long
    #: after it was read it still serves them while quota-svc is failing or
    #: out of reach (console.pollutants.PollutantList).
    pollutants_fresh_seconds: float = Field(60.0, ge=0)
    pollutants_stale_seconds: float = Field(600.0, ge=0)

    #: Signs the session cookie. Unset: a random one per process (sessions end
    #: at a restart); set it, the same on every replica, in production.
    session_secret: str = Field(default_factory=lambda: secrets.token_urlsafe(32), min_length=16)
    session_max_age_seconds: int = Field(8 * 3600, ge=60)
    #: Where the server-side sessions are kept (the user and their token; the
    #: cookie holds only a random id). Unset: in this process's memory (the
    #: embedded default, one console). Several replicas share a SQL store:
    #: e.g. `postgresql+asyncpg://…` (a table console_sessions is created).
    session_store_url: str | None = None

    #: Development sign-in: pick a user of a role and district from a list.
    #: On in the embedded default only; tokens are signed with JWT_SECRET.
    dev_login: bool = False
    jwt_secret: str = DEV_JWT_SECRET
    #: Largest request line and headers together (svc_common.http_head).
    max_head_bytes: int = Field(64 * 1024, ge=8 * 1024)

    #: OpenID Connect (authorization-code flow) for production sign-in: the
    #: issuer's discovery document gives the endpoints; the access token it
    #: issues is what the console sends to the APIs (which check it against
    #: the issuer's JWKS). Its claims carry `role` and `districts`.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_scope: str = "openid profile"

    #: The address people reach the bureau at (links printed for the public).
    public_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = 8005
    log_level: str = "INFO"
    log_json: bool = True

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)

    @property
    def service_urls(self) -> dict[str, str]:
        return {
            "permit": self.permit_url,
            "quota": self.quota_url,
            "eia": self.eia_url,
            "supervision": self.supervision_url,
        }
