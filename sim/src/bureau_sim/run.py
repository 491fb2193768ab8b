"""One seed, start to end: fresh databases from migrated templates, the three
services' real apps started without their background tasks, a city-year of
workload with faults, the settling time, the end invariants."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from eia_svc.app import create as create_eia
from eia_svc.app import spec as eia_spec
from eia_svc.settings import Settings as EiaSettings
from fastapi import FastAPI
from permit_svc.app import create as create_permit
from permit_svc.app import spec as permit_spec
from permit_svc.settings import Settings as PermitSettings
from quota_svc.app import create as create_quota
from quota_svc.app import spec as quota_spec
from quota_svc.settings import Settings as QuotaSettings
from sqlalchemy.orm import mapperlib
from supervision_svc.app import create as create_supervision
from supervision_svc.app import spec as supervision_spec
from supervision_svc.settings import Settings as SupervisionSettings
from svc_common import clock
from svc_common.migrate import upgrade_async
from svc_common.settings import ServiceSettings

from bureau_sim import inline_sqlite
from bureau_sim.broker import SimTransport
from bureau_sim.client import Client
from bureau_sim.config import DAY, SimConfig
from bureau_sim.determinism import seeded_ids
from bureau_sim.invariants import Invariants
from bureau_sim.nodes import Node
from bureau_sim.readers import PgReader, Reader, SqliteReader
from bureau_sim.workload import Workload
from bureau_sim.world import Sim, Violation

SERVICES: dict[str, tuple[Callable[..., FastAPI], type[ServiceSettings], Callable[[], Any]]] = {
    "permit": (create_permit, PermitSettings, permit_spec),
    "quota": (create_quota, QuotaSettings, quota_spec),
    "eia": (create_eia, EiaSettings, eia_spec),
    "supervision": (create_supervision, SupervisionSettings, supervision_spec),
}


@dataclass
class Result:
    seed: int
    violations: list[Violation]
    trace_hash: str
    steps: int
    stats: Counter[str]
    wall_seconds: float
    requests: int
    faults: int
    databases: dict[str, str] = field(default_factory=dict)
    trace: list[str] = field(default_factory=list)
    #: What the year did (audit actions, filings and reservations by state).
    coverage: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return not self.violations


FAULT_COUNTS = (
    "crashes",
    "crash after commit",
    "crash after publish",
    "crash before offset commit",
    "database outages",
    "broker outages",
    "broker flaky windows",
    "deliveries duplicated",
    "deliveries to two consumers at once",
    "deliveries delayed",
    "busy moments (steps run together)",
)
#: Where some of the "crashes" struck: counted among them, not again.
CRASH_POINTS = ("crash after commit", "crash after publish", "crash before offset commit")
BUSY = "busy moments (steps run together)"
#: Allocations between young garbage collections while seeds run.
GC_YOUNG = 7000


class Templates:
    """What every seed starts from, made once per process: migrated empty
    databases (copied per seed) and the services' apps (each seed enters
    their lifespans anew, on its own databases and broker, as a fresh
    process would; building the apps is the costly part of starting one)."""

    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.dir: Path | None = None
        self.pg: dict[str, str] = {}
        self.apps: dict[str, tuple[FastAPI, ServiceSettings, SimTransport]] = {}
        self._gc_threshold: tuple[int, int, int] | None = None

    def warm(self) -> None:
        """Build the apps once, then set what they are aside from the
        garbage collector: every full collection during a seed would
        otherwise walk the four apps (their routes, models and validators,
        a quarter of a million objects) again, only to find them alive.
        Young collections run ten times less often than Python's default:
        a seed allocates millions of short-lived objects, most of them freed
        by their reference counts before any collection could matter."""
        for name in SERVICES:
            self.app(name)
        if self._gc_threshold is None:
            gc.collect()
            gc.freeze()
            self._gc_threshold = gc.get_threshold()
            gc.set_threshold(GC_YOUNG, *self._gc_threshold[1:])

    def app(self, name: str) -> tuple[FastAPI, ServiceSettings, SimTransport]:
        if name not in self.apps:
            create, settings_cls, _spec = SERVICES[name]
            extra: dict[str, Any] = {}
            if name == "quota" and self.cfg.pool_batch_max is not None:
                extra["pool_batch_max"] = self.cfg.pool_batch_max
            settings = settings_cls(
                **extra,
                background_tasks=False,
                run_migrations=False,
                log_level="CRITICAL",
                log_json=False,
                consumer_retry_backoff_seconds=0.0,
            )
            transport = SimTransport(name)
            self.apps[name] = (create(settings, transport=transport), settings, transport)
        return self.apps[name]

    @property
    def admin_url(self) -> str:
        url = self.cfg.pg_admin_url or os.environ.get("TEST_PG_ADMIN_URL")
        if not url:
            raise RuntimeError("SIM_DB=pg needs SIM_PG_ADMIN_URL (or TEST_PG_ADMIN_URL)")
        return url

    async def sqlite(self) -> Path:
        if self.dir is None:
            base = self.cfg.tmp_dir or _tmpfs()
            d = Path(tempfile.mkdtemp(prefix="bureau-sim-templates-", dir=base))
            for name, (_c, _s, spec) in SERVICES.items():
                await upgrade_async(spec().migrations_dir, f"sqlite+aiosqlite:///{d}/{name}.db")
            self.dir = d
        return self.dir

    async def postgres(self) -> dict[str, str]:
        if not self.pg:
            tag = uuid.uuid4().hex[:8]
            for name, (_c, _s, spec) in SERVICES.items():
                db = f"sim_template_{name}_{tag}"
                await _admin(self.admin_url, f'CREATE DATABASE "{db}"')
                url = _db_url(self.admin_url, db)
                await upgrade_async(spec().migrations_dir, url)
                self.pg[name] = db
        return self.pg

    async def close(self) -> None:
        if self._gc_threshold is not None:
            gc.set_threshold(*self._gc_threshold)
            gc.unfreeze()
            self._gc_threshold = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
        for db in self.pg.values():
            await _admin(self.admin_url, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        self.pg = {}


def _tmpfs() -> str | None:
    """A memory-backed directory for the SQLite files where there is one."""
    return "/dev/shm" if os.path.isdir("/dev/shm") else None


async def _admin(admin_url: str, sql: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _db_url(admin_url: str, name: str) -> str:
    base = admin_url.rsplit("/", 1)[0]
    return base.replace("postgresql://", "postgresql+asyncpg://", 1) + "/" + name


@contextlib.asynccontextmanager
async def databases(
    cfg: SimConfig, templates: Templates, seed: int
) -> AsyncIterator[tuple[dict[str, str], dict[str, Reader], list[bool]]]:
    """Fresh databases for one seed: their URLs and the harness's readers.
    The list it yields holds one flag: set it to keep the files."""
    keep = [False]
    if cfg.db == "sqlite":
        tmpl = await templates.sqlite()
        d = Path(tempfile.mkdtemp(prefix=f"bureau-sim-{seed}-", dir=tmpl.parent))
        urls: dict[str, str] = {}
        for name in SERVICES:
            shutil.copyfile(tmpl / f"{name}.db", d / f"{name}.db")
            urls[name] = f"sqlite+aiosqlite:///{d}/{name}.db"
        readers: dict[str, Reader] = {
            name: SqliteReader(str(d / f"{name}.db")) for name in SERVICES
        }
        try:
            yield urls, dict(readers), keep
        finally:
            for r in readers.values():
                await r.close()
            if not keep[0]:
                shutil.rmtree(d, ignore_errors=True)
        return
    tmpl_pg = await templates.postgres()
    tag = uuid.uuid4().hex[:8]
    names = {name: f"sim_{name}_{seed}_{tag}" for name in SERVICES}
    for name, db in names.items():
        await _admin(templates.admin_url, f'CREATE DATABASE "{db}" TEMPLATE "{tmpl_pg[name]}"')
    urls = {name: _db_url(templates.admin_url, db) for name, db in names.items()}
    pg_readers: dict[str, Reader] = {
        name: await PgReader.connect(url) for name, url in urls.items()
    }
    try:
        yield urls, pg_readers, keep
    finally:
        for r in pg_readers.values():
            await r.close()
        if not keep[0]:
            for db in names.values():
                await _admin(templates.admin_url, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


async def run_seed(
    seed: int,
    cfg: SimConfig | None = None,
    templates: Templates | None = None,
    *,
    trace: bool = False,
) -> Result:
    """Run one seed; `trace` keeps the trace lines (otherwise only their hash)."""
    cfg = cfg or SimConfig()
    own = templates is None
    templates = templates or Templates(cfg)
    try:
        return await _run(seed, cfg, templates, trace)
    finally:
        if own:
            await templates.close()


async def _run(seed: int, cfg: SimConfig, templates: Templates, trace: bool) -> Result:
    started = time.perf_counter()
    if cfg.db == "pg" and cfg.concurrency is None:
        # Real sockets: interleaved steps would not replay; run them one by one.
        cfg = cfg.model_copy(update={"concurrency": 0.0, "concurrent_redelivery": 0.0})
    # Built before the seed's id stream starts: a first seed in a process
    # and a later one must draw the same ids.
    templates.warm()
    sim = Sim(seed, cfg)
    coverage: Counter[str] = Counter()
    if trace:
        sim.trace_kept = []
    async with databases(cfg, templates, seed) as (urls, readers, keep):
        if cfg.db == "sqlite":
            inline_sqlite.install()
        with clock.using(sim.clock), seeded_ids(sim.idrng):
            for name in SERVICES:
                app, settings, transport = templates.app(name)
                settings.database_url = urls[name]
                transport.connect(sim.broker)
                sim.nodes[name] = Node(sim, name, app)
            sim.readers = readers
            for node in sim.nodes.values():
                assert await node.start(), f"{node.name} did not start"
            client = Client(sim)
            workload = Workload(sim, client)
            invariants = Invariants(sim, client)
            if cfg.check_every_step:
                sim.on_step = invariants.after_step
            workload.plan()
            year = cfg.days * DAY
            for node in sim.nodes.values():
                sim.schedule_sweeps(
                    node,
                    until=year,
                    every=cfg.sweep_every_seconds,
                    retain=cfg.retention_every_seconds,
                )
            try:
                await sim.run_until(year)
                # The faults stop; whatever they left must settle on its own.
                quiet = max(
                    [year, sim.broker.down_until, sim.broker.flaky_until]
                    + [n.db_down_until for n in sim.nodes.values()]
                )
                await sim.run_until(quiet)
                for node in sim.nodes.values():
                    if not node.up and node.restart_at is None:
                        sim.schedule_restart(node, 1.0)
                    # Each sweeper at its own period now: the re-asking of
                    # unanswered requests among them.
                    sim.schedule_sweeps(node, until=quiet + cfg.settle_seconds)
                    sim.wake_relay(node, delay=1.0, sweep=True)
                await sim.run_until(quiet + cfg.settle_seconds)
                if not sim.stopped:
                    sim.stop_on_violation = False
                    await invariants.at_end()
                coverage = await invariants.coverage()
            finally:
                for node in sim.nodes.values():
                    with contextlib.suppress(Exception):
                        await node.stop()
        if cfg.db == "sqlite":
            inline_sqlite.uninstall()
        for name in SERVICES:
            # The seed's world goes when the seed does, not at the next one.
            templates.app(name)[2].connect(None)
        _forget_compiled_flushes()
        if sim.violations and cfg.keep_failed:
            keep[0] = True
    stats = sim.stats
    faults = sum(stats[k] for k in FAULT_COUNTS if k != BUSY and k not in CRASH_POINTS)
    return Result(
        seed=seed,
        violations=list(sim.violations),
        trace_hash=sim.trace_hash,
        steps=sim.step,
        stats=stats,
        wall_seconds=time.perf_counter() - started,
        requests=stats["requests"],
        faults=faults,
        databases=urls if sim.violations and cfg.keep_failed else {},
        trace=sim.trace_kept or [],
        coverage=coverage,
    )


def _forget_compiled_flushes() -> None:
    """Each mapper keeps its flush statements compiled per dialect, that is
    per engine: the seed's engines are gone, and what was compiled for them
    would only fill the caches (a hundred statements a mapper) with objects
    every garbage collection walks, seed after seed."""
    for registry in mapperlib._all_registries():
        for mapper in registry.mappers:
            cache = mapper.__dict__.get("_compiled_cache")
            if cache is not None:
                cache.clear()


def run_seed_sync(seed: int, cfg: SimConfig | None = None) -> Result:
    return asyncio.run(run_seed(seed, cfg))
