"""Service settings, read from the environment (pydantic-settings).

Every service is configured only by env vars, so the same image runs embedded,
as a process of `make run-kafka`, or in a container. The names are shared:
DATABASE_URL, EVENT_TRANSPORT, JWT_*; a service reads them with no prefix when
it runs alone. The embedded runner passes per-service values explicitly.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The secret of the embedded default. Good for a laptop, never for production:
#: production sets JWT_JWKS_URL (RS256) or its own JWT_SECRET.
DEV_JWT_SECRET = "envbureau-embedded-dev-secret-change-me-0123456789"


class StopSettings(BaseSettings):
    """How a served process stops (SIGTERM, as Kubernetes and docker compose
    send; SIGINT skips step 1, a second SIGINT forces it): the services' and
    the console's alike (`svc_common.graceful.serve_draining`);
    docs/operations.md sums the steps up against the deploy files' grace
    periods."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    #: 1. For this long /ready answers 503 while requests are still accepted
    #: and answered, so a load balancer takes the replica out of rotation
    #: before it stops listening. 0: it stops listening at once.
    shutdown_delay_seconds: float = Field(3.0, ge=0, le=120)
    #: 2. Then it stops listening and the requests in flight are finished and
    #: answered; any still running this long after are cancelled (uvicorn's
    #: timeout_graceful_shutdown). Above the lock timeout a request can wait.
    shutdown_timeout_seconds: float = Field(20.0, gt=0, le=600)


class ServiceSettings(StopSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    service_name: str = "service"
    database_url: str = Field(
        "sqlite+aiosqlite:///./data/service.db",
        description="SQLAlchemy async URL: postgresql+asyncpg://… or sqlite+aiosqlite:///…",
    )
    event_transport: str = Field(
        "local", description="'local' (in-process) or kafka://host:port[,host:port]"
    )
    kafka_topic_partitions: int = 3
    #: Replication of topics a service creates when they are missing. Production
    #: creates its topics beforehand (deploy/kafka/create-topics.sh, RF 3).
    kafka_topic_replication: int = 1
    kafka_client_id: str | None = None

    jwt_secret: str = DEV_JWT_SECRET
    jwt_algorithm: str = "HS256"
    #: The longest a token may still have to live when it is shown (its
    #: `exp` at most this far ahead): a token leaked from a misconfigured
    #: issuer does not open the services for years. `bureau token` mints
    #: at most 720 hours.
    jwt_max_lifetime_hours: int = Field(720, ge=1, le=24 * 366)
    jwt_jwks_url: str | None = Field(None, description="RS256 key set of the identity provider")
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    #: The secret the pagination cursors' tags are keyed by (a key derived
    #: from it): the same on every replica of a service. By default
    #: `JWT_SECRET`; set it where tokens are checked with `JWT_JWKS_URL` and
    #: `JWT_SECRET` is left at the development secret.
    cursor_secret: str | None = Field(None, min_length=16)

    # How often the outbox sweeper looks for rows a crash left unsent. The relay
    # is woken on every commit, so this is not the normal publishing latency.
    outbox_sweep_seconds: float = 2.0
    outbox_batch_size: int = 200
    # After a wake-up the relay may wait this long to gather more commits into
    # one pass. Off by default: what commits while a pass runs is relayed by
    # the next one anyway, and any wait here adds to every event's latency.
    outbox_coalesce_seconds: float = 0.0
    # Consumer: attempts per message before it goes to <topic>.dlq.
    consumer_max_attempts: int = 3
    consumer_retry_backoff_seconds: float = 0.2
    #: PostgreSQL: how long a consumer keeps its connection between messages
    #: with the next message's transaction begun by the last commit (no
    #: checkout or BEGIN on the event's path); the session shows as idle in
    #: transaction meanwhile, holding nothing; keep it below the server's
    #: idle_in_transaction_session_timeout. 0: a checkout and BEGIN each.
    consumer_chain_idle_seconds: float = Field(2.0, ge=0, le=60)
    #: PostgreSQL: how many connections a process keeps for 50 ms after a
    #: group commit's batch, with the next batch's transaction begun
    #: by its commit (svc_common.held_chain.SpareChains); idle in transaction
    #: meanwhile, holding nothing. 0: a checkout and BEGIN each batch.
    db_spare_transactions: int = Field(4, ge=0, le=16)
    #: PostgreSQL: the longest a statement waits for a lock another session
    #: holds (a row, an advisory lock). Contended writers wait milliseconds;
    #: a lock held this long (a session left open by hand, a stuck job) fails
    #: the request with 503 and Retry-After instead of keeping it, and every
    #: request behind it, waiting for good.
    db_lock_timeout_seconds: float = Field(15.0, gt=0, le=3600)
    #: PostgreSQL: the longest the service waits for the answer to one
    #: statement (a server that stopped answering: paused, cut off without
    #: a reset); then the statement is cancelled on the server and fails as
    #: transient: a request is answered 503, an event retried. Well above
    #: what any statement here takes, the largest import's inserts
    #: included: it bounds a hang, not a slow statement.
    db_command_timeout_seconds: float = Field(300.0, gt=0, le=3600)
    #: PostgreSQL: the longest opening a connection may take (asyncpg's
    #: own default is 60 s); past it the unit of work fails as transient.
    db_connect_timeout_seconds: float = Field(10.0, gt=0, le=600)
    #: PostgreSQL: how many connections a process keeps out of the pool for
    #: 50 ms after an autocommit statement on the driver (an Idempotency-Key
    #: lookup, the relay's mark), for the next one to skip the pool's
    #: checkout and checkin (svc_common.warm_connections); plain idle
    #: sessions meanwhile. 0: every such statement checks one out and in.
    db_warm_connections: int = Field(2, ge=0, le=16)
    # How often the figures that need a query (outbox backlog, dead letters,
    # consumer lag, business gauges) are refreshed; /metrics serves the last.
    metrics_refresh_seconds: float = 15.0

    #: "system" (always, in production) or "manual": a clock an administrator
    #: moves with POST /<prefix>/admin/clock, for demonstrations and acceptance
    #: tests of the embedded default. Refused with PostgreSQL or Kafka settings
    #: unless CLOCK_FORCE=true.
    clock: Literal["system", "manual"] = "system"
    #: Where a manual clock starts (default: the wall clock's now).
    clock_start: dt.datetime | None = None
    clock_force: bool = False

    #: Retention of the bookkeeping tables (the journal, the audit trail and
    #: every domain table are kept for good). Inbox rows must outlive any
    #: redelivery: keep this above the topics' retention (7 days by default).
    inbox_retention_days: int = Field(30, ge=1)
    outbox_retention_days: int = Field(7, ge=1)
    idempotency_retention_hours: int = Field(72, ge=1)
    retention_sweep_seconds: float = Field(3600.0, gt=0)
    #: How often the event transport's health is probed for /ready and metrics.
    transport_probe_seconds: float = Field(5.0, gt=0)

    #: Largest request body: JSON requests, and bulk uploads (CSV, NDJSON,
    #: spreadsheets). Past it the request is refused with 413, unread.
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    max_upload_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    #: Largest request line and headers together: past it, 431 and the
    #: connection closed (svc_common.http_head).
    max_head_bytes: int = Field(64 * 1024, ge=8 * 1024)

    #: Run the outbox relay loop and the periodic sweepers as tasks of the app.
    #: Off only where something else drives them step by step (the simulator's
    #: scheduler calls `relay.run_pass()` and `run_periodic_jobs` itself).
    background_tasks: bool = True

    host: str = "127.0.0.1"
    port: int = 8000
    #: A graceful stop: steps 1 and 2 are every served process's
    #: (`StopSettings`), step 3 a service's own.
    #: 3. Then its consumers finish the batch in hand, commit its offsets and
    #: leave their group, and the outbox relay publishes what this replica
    #: committed; each within this long (else it is cancelled: a consumer's
    #: unfinished messages are redelivered to the replica taking over, the
    #: relay's unsent rows are published by another replica).
    shutdown_drain_seconds: float = Field(10.0, gt=0, le=120)
    # uvicorn's event loop and HTTP parser. "auto" takes uvloop and httptools
    # (C implementations, installed with the services); the pure-Python ones
    # stay selectable for comparison (bench/quota_reservations.py --server-impl).
    server_loop: Literal["auto", "asyncio", "uvloop"] = "auto"
    server_http: Literal["auto", "h11", "httptools"] = "auto"
    # The garbage collector of a served process (svc_common.service.serve):
    # what the app made before it serves is frozen (never scanned again), and
    # a young-generation collection waits for this many new objects (Python's
    # default is 700). Measured under write load: bench/RESULTS.md.
    gc_young_threshold: int = Field(10_000, ge=100, le=1_000_000)
    gc_freeze: bool = True
    log_level: str = "INFO"
    log_json: bool = True
    run_migrations: bool = True

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, v: str) -> str:
        # Accept the plain URLs operators tend to write and pick the async driver.
        if v.startswith("postgresql://") or v.startswith("postgres://"):
            return "postgresql+asyncpg://" + v.split("://", 1)[1]
        if v.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + v.split(":///", 1)[1]
        return v

    def check_clock(self) -> None:
        """A manual clock belongs to a demonstration, never to a deployment."""
        if self.clock != "manual" or self.clock_force:
            return
        if self.is_kafka or not self.database_url.startswith("sqlite"):
            raise ValueError(
                "CLOCK=manual is for the embedded default (SQLite, in-process events); "
                "with PostgreSQL or Kafka settings it needs CLOCK_FORCE=true"
            )

    def check_secret(self) -> None:
        """The distributed mode never runs with the public development secret:
        anyone could mint tokens for it. (The embedded default may: it listens
        on the loopback for one person's laptop.)"""
        if self.is_kafka and self.uses_dev_secret:
            raise ValueError(
                "refusing to start: with EVENT_TRANSPORT=kafka://… tokens would be checked "
                "against the public development secret; set JWT_SECRET (32+ random "
                "characters) or JWT_JWKS_URL"
            )
        if self.is_kafka and self.cursor_secret is None and self.jwt_secret == DEV_JWT_SECRET:
            # Tokens checked by JWT_JWKS_URL leave JWT_SECRET unused, but the
            # cursors' key comes from it unless CURSOR_SECRET is set.
            raise ValueError(
                "refusing to start: pagination cursors would be signed with the public "
                "development secret; set CURSOR_SECRET (16+ random characters, the same "
                "for every replica) or JWT_SECRET"
            )

    @property
    def uses_dev_secret(self) -> bool:
        return self.jwt_jwks_url is None and self.jwt_secret == DEV_JWT_SECRET

    @property
    def is_kafka(self) -> bool:
        return self.event_transport.startswith("kafka://")

    @property
    def kafka_bootstrap(self) -> str:
        return self.event_transport.removeprefix("kafka://")
