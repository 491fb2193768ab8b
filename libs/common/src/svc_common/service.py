"""Everything a service process needs, assembled once: the FastAPI app with
problem+json errors, request ids, idempotency and auth; probes and metrics;
migrations; the database; the transport; the outbox relay; the inbox consumer;
periodic sweepers. A service supplies a `ServiceSpec`: its routers, event
handlers and migrations."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import structlog
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest
from pydantic import BaseModel, Field

from svc_common import (
    clock,
    direct_routes,
    http_head,
    metrics,
    openapi,
    pagination,
    retention,
    security_headers,
    strict_bodies,
    tracing,
)
from svc_common.audit_router import AuditScope, audit_router
from svc_common.auth import TokenVerifier
from svc_common.clock_admin import clock_router
from svc_common.db import Database
from svc_common.errors import UnexpectedErrors, install_error_handlers
from svc_common.events.registry import load_all
from svc_common.graceful import is_draining
from svc_common.guard import InputGuardMiddleware
from svc_common.head_requests import HeadAsGet
from svc_common.held_chain import spare_chains
from svc_common.idempotency import IdempotencyMiddleware
from svc_common.inbox import EventHandlers, InboxConsumer
from svc_common.migrate import upgrade_async
from svc_common.observability import RequestContextMiddleware, configure_logging
from svc_common.ops_router import ops_router
from svc_common.outbox import OutboxRelay
from svc_common.routes import add_routes
from svc_common.service_deps import get_db, get_runtime, runtime
from svc_common.settings import ServiceSettings
from svc_common.tracing import Tracing
from svc_common.transports import Transport, make_transport

log = structlog.get_logger(__name__)


@dataclass
class Runtime:
    """What routes, handlers and sweepers of one service share at run time."""

    settings: ServiceSettings
    db: Database
    transport: Transport
    relay: OutboxRelay
    consumer: InboxConsumer | None
    extras: dict[str, Any] = field(default_factory=dict)
    #: The service's name (its consumer group and `service` metric label).
    service: str = "service"
    tracing: Tracing | None = None


Periodic = Callable[[Runtime], Awaitable[Any]]


@dataclass
class ServiceSpec:
    name: str  # "quota-svc": also its consumer group and log name
    prefix: str  # "/quota": every path of the service starts with it
    title: str
    description: str
    migrations_dir: Path
    routers: list[APIRouter]
    handlers: EventHandlers | None = None
    #: (seconds, job) pairs: sweepers such as hold expiry. Jobs must be safe to
    #: run on several replicas at once (they lock what they change).
    periodic: list[tuple[float, Periodic]] = field(default_factory=list)
    on_startup: list[Periodic] = field(default_factory=list)
    own_topics: list[str] = field(default_factory=list)
    #: The service's own Prometheus figures (e.g. quota available per district):
    #: async functions run every METRICS_REFRESH_SECONDS, off the request path,
    #: that read what they need and publish it on their `metrics.Family`s.
    gauges: list[metrics.GaugeCollector] = field(default_factory=list)
    #: Those families, cleared when the service stops.
    gauge_families: list[metrics.Family] = field(default_factory=list)
    #: Where the service's records are, so that a reader scoped to districts
    #: reads one record's audit trail (svc_common.audit_router); None: the
    #: trail is for citywide auditors and administrators alone.
    audit_scope: AuditScope | None = None


async def _every(seconds: float, job: Periodic, rt: Runtime, name: str) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await job(rt)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("periodic job failed", job=name, error=repr(exc))


TRANSPORT_UP = Gauge(
    "event_transport_up", "1 when the event transport (Kafka) answered the last probe", ["service"]
)


async def _probe_transport(rt: Runtime) -> None:
    """Keep the transport's state for /ready and the gauge (the probe itself
    can take seconds when the broker is down, so requests never wait on it)."""
    up = await rt.transport.ready()
    rt.extras["transport_up"] = up
    TRANSPORT_UP.labels(rt.service).set(1 if up else 0)


def install_manual_clock(settings: ServiceSettings) -> clock.ManualClock | None:
    """The process's manual clock: the one already installed (the embedded
    runner, the simulator, a test), or a flowing one when CLOCK=manual."""
    manual = clock.manual()
    if manual is None and settings.clock == "manual":
        manual = clock.ManualClock(settings.clock_start, flowing=True)
        clock.install(manual)
    return manual


async def run_periodic_jobs(spec: ServiceSpec, rt: Runtime) -> None:
    """Run every sweeper of a service once (after the clock moved)."""
    for _seconds, job in spec.periodic:
        try:
            await job(rt)
        except Exception as exc:
            log.warning("periodic job failed", job=getattr(job, "__name__", "job"), error=repr(exc))


def create_app(
    spec: ServiceSpec,
    settings: ServiceSettings,
    *,
    transport: Transport | None = None,
) -> FastAPI:
    configure_logging(settings.log_level, json_logs=settings.log_json)
    load_all()
    settings.check_clock()
    settings.check_secret()
    traces = tracing.setup(spec.name)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.run_migrations:
            await upgrade_async(spec.migrations_dir, settings.database_url)
        db = Database(
            settings.database_url,
            lock_timeout_seconds=settings.db_lock_timeout_seconds,
            command_timeout_seconds=settings.db_command_timeout_seconds,
            connect_timeout_seconds=settings.db_connect_timeout_seconds,
        )
        spare_chains(db).size = settings.db_spare_transactions
        db.warm.size = settings.db_warm_connections
        traces.instrument_engine(db.engine)
        tr = transport or make_transport(
            settings.event_transport,
            client_id=settings.kafka_client_id or spec.name,
            partitions=settings.kafka_topic_partitions,
            replication=settings.kafka_topic_replication,
        )
        relay = OutboxRelay(
            db,
            tr,
            service=spec.name,
            batch_size=settings.outbox_batch_size,
            sweep_seconds=settings.outbox_sweep_seconds,
            coalesce_seconds=settings.outbox_coalesce_seconds,
            tracing=traces,
        )
        consumer = None
        if spec.handlers is not None:
            consumer = InboxConsumer(
                db,
                tr,
                spec.handlers,
                group=spec.name,
                max_attempts=settings.consumer_max_attempts,
                backoff_seconds=settings.consumer_retry_backoff_seconds,
                tracing=traces,
                chain_idle_seconds=settings.consumer_chain_idle_seconds,
            )
        rt = Runtime(
            settings=settings,
            db=db,
            transport=tr,
            relay=relay,
            consumer=consumer,
            service=spec.name,
            tracing=traces,
        )
        app.state.runtime = rt
        app.state.db = db
        if settings.is_kafka:
            topics = sorted(
                set(spec.own_topics) | set(spec.handlers.topics if spec.handlers else [])
            )
            try:
                await asyncio.wait_for(tr.ensure_topics(topics), timeout=30)
            except Exception as exc:  # the broker may come later; topics auto-create
                log.warning("could not ensure topics", error=repr(exc))
        if consumer is not None:
            consumer.subscribe()
        for job in spec.on_startup:
            await job(rt)
        await tr.start()
        refresher = metrics.Refresher(
            spec.name,
            rt,
            [*metrics.COMMON_COLLECTORS, *spec.gauges],
            interval=settings.metrics_refresh_seconds,
            timeout=max(1.0, min(10.0, settings.metrics_refresh_seconds)),
        )
        app.state.metrics_refresher = refresher
        metrics.attach(rt)
        tasks = []
        if settings.background_tasks:
            relay.start()
            refresher.start()
            jobs = [*spec.periodic, (settings.retention_sweep_seconds, retention.sweep)]
            jobs.append((settings.transport_probe_seconds, _probe_transport))
            tasks = [
                asyncio.create_task(_every(sec, job, rt, getattr(job, "__name__", "job")))
                for sec, job in jobs
            ]
        manual = install_manual_clock(settings)

        async def sweep_at(_now: dt.datetime) -> None:
            await run_periodic_jobs(spec, rt)

        if manual is not None:
            manual.on_advance(sweep_at)
        log.info("service started", service=spec.name, transport=settings.event_transport)
        try:
            yield
        finally:
            if manual is not None:
                manual.remove_listener(sweep_at)
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
            await refresher.stop()
            metrics.detach(rt, spec.gauge_families)
            # The requests are answered by now (the server stops the app after
            # them): the consumers finish their batch, commit and leave their
            # group; then the relay publishes what requests and handlers
            # committed; then the producer flushes.
            grace = settings.shutdown_drain_seconds
            if transport is None:  # a shared transport is stopped by its owner
                await tr.stop_consuming(grace)
            await relay.stop(grace)
            if transport is None:
                await tr.stop()
            if consumer is not None:
                await consumer.close()
            await db.dispose()
            # Flushes the spans still queued (bounded by the exporter's timeout).
            await asyncio.to_thread(traces.shutdown)

    app = FastAPI(
        title=spec.title,
        description=spec.description,
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served below with local assets: intranets have no CDN
        redoc_url=None,
        openapi_url=f"{spec.prefix}/openapi.json",
        telemetry=tracing.FASTAPI_TELEMETRY,
        # A path with a trailing slash is a 404 like any other unknown path:
        # the redirect Starlette would send builds its Location from the
        # request's Host header, and an API client is given its paths exactly.
        redirect_slashes=False,
    )
    openapi.install(app)
    app.state.token_verifier = TokenVerifier(settings)
    # Cursors are signed with a key of the configured secret: one replica's
    # `next_cursor` reads on another.
    pagination.configure(settings.cursor_secret or settings.jwt_secret)
    app.state.spec = spec
    install_error_handlers(app)
    for router in spec.routers:
        add_routes(app, router)
    _add_probes(app, spec)
    _add_docs(app, spec)
    add_routes(app, audit_router(spec.prefix, spec.audit_scope))
    add_routes(app, clock_router(spec.prefix))
    add_routes(app, ops_router(spec.prefix))
    strict_bodies.install(app)
    direct_routes.install(app)
    # Innermost: HEAD is routed as GET, while the steps outside (the guard,
    # the request's log line and metrics) see the HEAD that was sent.
    app.add_middleware(HeadAsGet)
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(
        InputGuardMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
        single_params=openapi.single_query_params(app),
    )
    # An exception no handler names is answered here, inside the request's
    # context (its ids, its language), not by Starlette's ServerErrorMiddleware.
    app.add_middleware(UnexpectedErrors)
    # Outermost: a request the guard refuses still gets its ids, its log line
    # and its count.
    app.add_middleware(RequestContextMiddleware, service=spec.name, prefix=spec.prefix)
    traces.instrument_app(app, spec.prefix)
    # Every answer its security headers: refusals, and the 500 or 503 sent by
    # Starlette's ServerErrorMiddleware outside the stack above, too.
    security_headers.outermost(app)
    return app


#: Swagger UI and ReDoc, vendored (versions and licences in static/VENDORED.md).
STATIC_DIR = Path(__file__).parent / "static"


def _add_docs(app: FastAPI, spec: ServiceSpec) -> None:
    """`/<prefix>/docs` (Swagger UI) and `/<prefix>/redoc` with every asset served
    by the service itself, so the docs render on a network with no internet."""
    assets = f"{spec.prefix}/docs-assets"
    app.mount(assets, StaticFiles(directory=STATIC_DIR), name="docs-assets")
    openapi_url = f"{spec.prefix}/openapi.json"

    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{spec.title} — API",
            swagger_js_url=f"{assets}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui/swagger-ui.css",
            swagger_favicon_url=f"{assets}/swagger-ui/favicon-32x32.png",
        )

    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{spec.title} — API",
            redoc_js_url=f"{assets}/redoc/redoc.standalone.js",
            redoc_favicon_url=f"{assets}/swagger-ui/favicon-32x32.png",
            with_google_fonts=False,
        )

    app.add_api_route(f"{spec.prefix}/docs", swagger, methods=["GET"], include_in_schema=False)
    app.add_api_route(f"{spec.prefix}/redoc", redoc, methods=["GET"], include_in_schema=False)


def serve(app: Any, settings: ServiceSettings) -> None:
    """Run an app with uvicorn, its lines in the process's one log format.
    uvicorn's access line is off: the request line of RequestContextMiddleware
    says more (route template, latency, caller, ids) in the same format.
    SIGTERM stops it gracefully (`graceful.DrainingServer`)."""
    from svc_common.graceful import serve_draining

    tune_gc(settings)
    serve_draining(
        app,
        settings,
        host=settings.host,
        port=settings.port,
        loop=settings.server_loop,
        log_config=None,
        access_log=False,
        **http_head.uvicorn_options(settings.server_http, settings.max_head_bytes),
    )


def tune_gc(settings: ServiceSettings) -> None:
    """The collector of a process that serves requests. Each write request
    leaves thousands of short-lived objects; with Python's defaults the
    young generation was collected every 700 new objects and, every few
    seconds, a full collection walked every object the process had made,
    its imports and app included: 8 % of a quota write's CPU under load
    (bench/RESULTS.md). What exists now lives as long as the process, so it
    is frozen out of every later collection (`gc.freeze`), and the young
    generation waits for `gc_young_threshold` new objects. Cycles are still
    collected, a little later."""
    if settings.gc_freeze:
        gc.collect()
        gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(settings.gc_young_threshold, middle, old)


class Health(BaseModel):
    status: Literal["ok"]
    service: str


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    service: str
    database: bool
    transport: bool | None = Field(
        description="the event transport answered its last probe (null: not probed yet)"
    )
    retrying: dict[str, str] = Field(
        description="partitions or streams paused on a transient failure, with the error"
    )
    stopping: bool = Field(
        False,
        description="the replica is stopping (SIGTERM): it still answers what it is sent "
        "for SHUTDOWN_DELAY_SECONDS, but should be sent nothing new",
    )


_METRICS_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Prometheus text exposition format 0.0.4",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
}


def _add_probes(app: FastAPI, spec: ServiceSpec) -> None:
    probes = APIRouter(tags=["operations"])

    async def health() -> Health:
        """Liveness: the process answers (no dependency is asked)."""
        return Health(status="ok", service=spec.name)

    async def ready(
        request: Request,
        events: bool = Query(False, description="also require the event transport"),
    ) -> JSONResponse:
        """Readiness: the database answers (and, with `events=true`, the event transport).

        The event transport is reported beside it but only decides the answer
        with `events=true`: a broker outage must not take the API out of
        service (the outbox keeps what is written until the broker is back)."""
        rt = get_runtime(request)
        draining = is_draining(request.app)
        db_ok = await rt.db.ping()
        tr_ok = await rt.transport.ready() if events else rt.extras.get("transport_up")
        retrying = rt.transport.retrying()
        ok = db_ok and (tr_ok is True or not events) and not draining
        body = Readiness(
            status="ready" if ok else "not ready",
            service=spec.name,
            database=db_ok,
            transport=tr_ok,
            retrying=retrying,
            stopping=draining,
        )
        return JSONResponse(body.model_dump(), status_code=200 if ok else 503)

    own_figures = metrics.ServiceView(spec.name)

    async def metrics_endpoint() -> Response:
        """This service's figures in Prometheus text format (see svc_common.metrics)."""
        return Response(generate_latest(own_figures), media_type=CONTENT_TYPE_LATEST)

    async def event_schemas() -> dict[str, Any]:
        """JSON Schemas of the events this service publishes, by event type."""
        reg = load_all()
        return {
            t: s
            for t, s in reg.json_schemas().items()
            if (model := reg.model_for(t)) is not None and model.topic in spec.own_topics
        }

    ready_doc: dict[int | str, dict[str, Any]] = {
        503: {"description": "not ready (the body says which dependency)", "model": Readiness}
    }
    for base in (spec.prefix, ""):
        shown = bool(base)
        probes.add_api_route(
            f"{base}/health", health, methods=["GET"], include_in_schema=shown, name="health"
        )
        probes.add_api_route(
            f"{base}/ready",
            ready,
            methods=["GET"],
            include_in_schema=shown,
            response_model=Readiness,
            responses=ready_doc,
            name="ready",
        )
        probes.add_api_route(
            f"{base}/metrics",
            metrics_endpoint,
            methods=["GET"],
            include_in_schema=shown,
            response_class=Response,
            responses=_METRICS_DOC,
            name="metrics",
        )
    probes.add_api_route(
        f"{spec.prefix}/events/schemas",
        event_schemas,
        methods=["GET"],
        name="event_schemas",
        response_model=dict[str, dict[str, Any]],
    )
    add_routes(app, probes)


__all__ = [
    "Periodic",
    "Runtime",
    "ServiceSpec",
    "create_app",
    "get_db",
    "get_runtime",
    "runtime",
    "serve",
]
