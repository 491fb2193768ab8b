"""What operators see, as Prometheus figures, the same for every service.

Every series carries a `service` label. In the embedded default three
services share one process and one registry; each service's `/metrics` shows
the series of its own label (and the process's own figures), nothing of the
others'.

Figures that need the database or the broker (outbox backlog, dead letters,
consumer lag, each service's business gauges) are refreshed by one periodic
task per service (METRICS_REFRESH_SECONDS) and served from memory: a scrape
never waits on a query, so /metrics answers while the database is down, and
`metrics_refresh_age_seconds` says how old each figure is. Figures kept in
memory anyway (connection pool use) are read at scrape time.

Several replicas: a figure read from a table (outbox backlog, dead letters,
business gauges) is the same on every replica, so dashboards and alerts take
the `max` over instances; counters are per replica and summed; a partition's
consumer lag is reported only by the replica it is assigned to, so lag is
summed (or max'ed) by topic and partition.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import case, func, select

from svc_common.tables import DeadLetter, OutboxRow
from svc_common.types import utcnow

if TYPE_CHECKING:
    from svc_common.service import Runtime

log = structlog.get_logger(__name__)

SERVICE = "service"

#: A periodic collector: reads what it needs and publishes it on its gauges.
#: It runs off the request path, bounded in time; see `Refresher`.
GaugeCollector = Callable[["Runtime"], Awaitable[None]]


class Family:
    """A labelled gauge whose series are published as a whole per service:
    a label set absent from a refresh is removed, so a dead letter re-driven
    or a partition handed to another replica stops being reported."""

    def __init__(self, name: str, documentation: str, labels: Iterable[str] = ()) -> None:
        self.labels = (SERVICE, *labels)
        self.gauge = Gauge(name, documentation, self.labels)
        self._seen: dict[str, set[tuple[str, ...]]] = {}

    def publish(self, service: str, values: Mapping[tuple[str, ...], float]) -> None:
        current = set()
        for key, value in values.items():
            full = (service, *key)
            self.gauge.labels(*full).set(value)
            current.add(full)
        for gone in self._seen.get(service, set()) - current:
            with contextlib.suppress(KeyError):
                self.gauge.remove(*gone)
        self._seen[service] = current

    def set(self, service: str, value: float) -> None:
        """For a family with no label but `service`."""
        self.publish(service, {(): value})

    def clear(self, service: str) -> None:
        self.publish(service, {})


# ------------------------------------------------------------------ the figures

OUTBOX_BACKLOG = Family(
    "outbox_backlog_rows", "Outbox rows not yet published, counted in the outbox table"
)
OUTBOX_RETRYING = Family(
    "outbox_retrying_rows", "Unsent outbox rows whose publishing failed at least once"
)
OUTBOX_OLDEST_AGE = Family(
    "outbox_oldest_unsent_age_seconds",
    "Age of the oldest unsent outbox row (0 when none is waiting)",
)
DEAD_LETTERS = Family(
    "dead_letters",
    "Dead letters waiting for an operator (re-drive or discard), by topic and event type",
    ["topic", "type"],
)
DEAD_LETTER_OLDEST_AGE = Family(
    "dead_letters_oldest_age_seconds",
    "Age of the oldest dead letter waiting for an operator (0 when none)",
)
CONSUMER_LAG = Family(
    "events_consumer_lag_messages",
    "Messages of a partition not yet applied by this replica's consumer "
    "(end offset minus committed offset; Kafka only)",
    ["topic", "partition"],
)
CONSUMER_PARTITIONS = Family(
    "events_consumer_assigned_partitions",
    "Partitions assigned to this replica's consumer (Kafka only)",
)

DATABASE_UP = Family(
    "database_up",
    "1 when this replica's database answered its last check (what /ready requires)",
)

REFRESH_FAILURES = Counter(
    "metrics_refresh_failures_total",
    "Failed or timed-out refreshes of a periodic figure (the last value is kept)",
    [SERVICE, "collector"],
)
_REFRESHED_AT: dict[tuple[str, str], float] = {}


# ------------------------------------------------------------------ collectors


async def database_figures(rt: Runtime) -> None:
    """Whether the database answers, within a few seconds (a hung connection
    attempt is a down database here, not a refresh that never ends: `ping`
    waits a bounded time)."""
    up = await rt.db.ping()
    DATABASE_UP.set(rt.service, 1 if up else 0)


async def outbox_figures(rt: Runtime) -> None:
    name = rt.service
    async with rt.db.session() as s:
        count, retrying = (
            await s.execute(
                select(
                    func.count(), func.coalesce(func.sum(case((OutboxRow.attempts > 0, 1))), 0)
                ).where(OutboxRow.sent_at.is_(None))
            )
        ).one()
        # The oldest row is the first by seq: one step down the unsent index.
        oldest = await s.scalar(
            select(OutboxRow.created_at)
            .where(OutboxRow.sent_at.is_(None))
            .order_by(OutboxRow.seq)
            .limit(1)
        )
    OUTBOX_BACKLOG.set(name, count)
    OUTBOX_RETRYING.set(name, retrying)
    age = max(0.0, (utcnow() - oldest).total_seconds()) if oldest is not None else 0.0
    OUTBOX_OLDEST_AGE.set(name, age)


async def dead_letter_figures(rt: Runtime) -> None:
    """Dead letters still waiting for an operator, from the service's
    dead_letters table (the same in both modes; on Kafka they are also on
    `<topic>.dlq`, which keeps what was re-driven or discarded too)."""
    async with rt.db.session() as s:
        rows = (
            await s.execute(
                select(
                    DeadLetter.topic,
                    DeadLetter.event_type,
                    func.count(),
                    func.min(DeadLetter.created_at),
                )
                .where(DeadLetter.status == "dead")
                .group_by(DeadLetter.topic, DeadLetter.event_type)
            )
        ).all()
    name = rt.service
    DEAD_LETTERS.publish(name, {(topic, etype or "unreadable"): n for topic, etype, n, _ in rows})
    oldest = min((at for *_, at in rows if at is not None), default=None)
    age = max(0.0, (utcnow() - oldest).total_seconds()) if oldest is not None else 0.0
    DEAD_LETTER_OLDEST_AGE.set(name, age)


async def consumer_figures(rt: Runtime) -> None:
    lag = await rt.transport.consumer_lag()
    name = rt.service
    CONSUMER_LAG.publish(
        name, {(topic, str(partition)): n for (_g, topic, partition), n in lag.items()}
    )
    if rt.settings.is_kafka:
        CONSUMER_PARTITIONS.set(name, len(lag))


#: The collectors every service runs, before its own (ServiceSpec.gauges).
COMMON_COLLECTORS: list[GaugeCollector] = [
    database_figures,
    outbox_figures,
    dead_letter_figures,
    consumer_figures,
]


# ------------------------------------------------------------------ refreshing


@dataclass
class Refresher:
    """Runs a service's collectors every `interval` seconds, each bounded by
    `timeout`; a failure keeps the previous figures and counts the failure."""

    service: str
    runtime: Runtime
    collectors: list[GaugeCollector]
    interval: float = 15.0
    timeout: float = 10.0
    _task: asyncio.Task[None] | None = field(default=None, repr=False)
    _failing: set[str] = field(default_factory=set, repr=False)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"metrics-{self.service}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self.interval)

    async def refresh(self) -> None:
        for collector in self.collectors:
            name = getattr(collector, "__name__", "collector")
            try:
                async with asyncio.timeout(self.timeout):
                    await collector(self.runtime)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                REFRESH_FAILURES.labels(self.service, name).inc()
                if name not in self._failing:  # say it once, not every interval
                    log.warning("metrics refresh failed", collector=name, error=repr(exc))
                self._failing.add(name)
                continue
            if name in self._failing:
                log.info("metrics refresh recovered", collector=name)
                self._failing.discard(name)
            _REFRESHED_AT[(self.service, name)] = time.time()


# ------------------------------------------------------------------ read at scrape time


@dataclass
class _Source:
    runtime: Runtime


class _LiveFigures(Collector):
    """Figures computed when scraped, from memory only: connection pool use
    and the age of each periodic figure. One instance for the process, over
    every running service (a registry takes a metric name only once)."""

    def __init__(self) -> None:
        self.sources: dict[str, _Source] = {}

    def collect(self) -> Iterator[Metric]:
        in_use = GaugeMetricFamily(
            "db_pool_connections",
            "Database connections of the service's pool, by state",
            labels=[SERVICE, "state"],
        )
        capacity = GaugeMetricFamily(
            "db_pool_capacity",
            "Connections the pool may open (size plus overflow); 0 when unbounded",
            labels=[SERVICE],
        )
        for service, src in list(self.sources.items()):
            db = src.runtime.db
            pool: Any = db.engine.pool
            try:
                # Connections kept between uses of the driver are idle ones.
                checked_out = db.connections_in_use()
                idle = int(pool.checkedin()) + db.warm.of(pool)
                cap = int(pool.size()) + max(0, int(getattr(pool, "_max_overflow", 0)))
            except (AttributeError, TypeError):  # a pool that keeps no count (NullPool)
                continue
            in_use.add_metric([service, "in_use"], checked_out)
            in_use.add_metric([service, "idle"], idle)
            capacity.add_metric([service], cap)
        age = GaugeMetricFamily(
            "metrics_refresh_age_seconds",
            "Seconds since each periodic figure was last refreshed successfully",
            labels=[SERVICE, "collector"],
        )
        now = time.time()
        for (service, collector), at in list(_REFRESHED_AT.items()):
            if service in self.sources:
                age.add_metric([service, collector], now - at)
        yield in_use
        yield capacity
        yield age


LIVE = _LiveFigures()
REGISTRY.register(LIVE)


def attach(runtime: Runtime) -> None:
    LIVE.sources[runtime.service] = _Source(runtime)


def detach(runtime: Runtime, families: Iterable[Family] = ()) -> None:
    service = runtime.service
    LIVE.sources.pop(service, None)
    for key in [k for k in _REFRESHED_AT if k[0] == service]:
        del _REFRESHED_AT[key]
    for fam in (*_COMMON_FAMILIES, *families):
        fam.clear(service)


_COMMON_FAMILIES = (
    DATABASE_UP,
    OUTBOX_BACKLOG,
    OUTBOX_RETRYING,
    OUTBOX_OLDEST_AGE,
    DEAD_LETTERS,
    DEAD_LETTER_OLDEST_AGE,
    CONSUMER_LAG,
    CONSUMER_PARTITIONS,
)


# ------------------------------------------------------------------ exposition


class ServiceView(Collector):
    """One service's figures out of a shared registry: series labelled with
    that service, and those with no service label (the process's own). Every
    metric stays declared (HELP and TYPE), as a labelled metric with no
    series yet is."""

    def __init__(self, service: str, registry: CollectorRegistry = REGISTRY) -> None:
        self.service = service
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        for family in self.registry.collect():
            own = self.service
            samples = [s for s in family.samples if s.labels.get(SERVICE, own) == own]
            if len(samples) == len(family.samples):
                yield family  # all ours, the process's, or declared with none yet
                continue
            # Declared, with this service's samples only (perhaps none yet).
            mine = Metric(family.name, family.documentation, family.type, family.unit)
            mine.samples = samples
            yield mine
