"""Benchmark: reservations + allocations per second on PostgreSQL.

Runs quota-svc in a uvicorn subprocess against a fresh database and drives it
with N concurrent HTTP clients from this process: each client reserves a
project (POST /quota/reservations) and allocates it (POST …/allocate). Two
shapes: one hot district (every transaction locks the same pool row) and all
16 districts. Beside it, in the same run, the same two SQL transactions per
project (lock pool, journal entry, reservation row, pool update, two outbox
rows, audit row) are driven directly with asyncpg: the raw limit of this
machine. Afterwards every pool is reconciled and checked for overdrafts.

    TEST_PG_ADMIN_URL=postgresql://postgres@127.0.0.1:55432/postgres \
        .venv/bin/python bench/quota_reservations.py [--seconds 10] [--clients 16]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
from measure import (
    Parties,
    io_and_preemptions,
    parent_pid,
    print_verdicts,
    self_cpu_seconds,
    stop_on_sigterm,
)
from prometheus_client.parser import text_string_to_metric_families
from quota_svc.ledger.rules import DISTRICTS
from svc_common.auth import mint_token
from svc_common.settings import DEV_JWT_SECRET

ROOT = Path(__file__).resolve().parents[1]
DISTRICT_CODES = list(DISTRICTS)
HOT = ["120119"]
BASELINE_T = "100000"  # per district pool; a run uses far less
INCREMENT_T = "0.005"  # need 10 kg at ratio 2.0


#: Seconds of load on each side before the measured runs (see `one_setup`).
WARM_UP_S = 3.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def create_database(admin: str) -> tuple[str, str]:
    name = f"bench_quota_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return name, admin.rsplit("/", 1)[0] + "/" + name


async def drop_database(admin: str, name: str) -> None:
    conn = await asyncpg.connect(admin)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


#: uvicorn's implementations: the C ones (the default) or the pure-Python ones
IMPLS = {
    "c": {"SERVER_LOOP": "uvloop", "SERVER_HTTP": "httptools"},
    "python": {"SERVER_LOOP": "asyncio", "SERVER_HTTP": "h11"},
    # one transaction per request, no group commit of a pool's writes
    "unbatched": {"SERVER_LOOP": "uvloop", "SERVER_HTTP": "httptools", "POOL_BATCH_MAX": "1"},
}


def start_server(
    db_url: str, port: int, impl: str = "c", service: str = "quota"
) -> subprocess.Popen[bytes]:
    """`service`-svc in its own process on `db_url` (quota-svc unless said);
    its caller stops it in a `finally`, which a SIGTERM now reaches too."""
    stop_on_sigterm()
    env = {
        **os.environ,
        **IMPLS[impl],
        "DATABASE_URL": db_url,
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "HOLD_SWEEP_SECONDS": "3600",
    }
    return subprocess.Popen(
        [str(ROOT / ".venv/bin/python"), "-m", f"{service}_svc"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def wait_ready(base: str, service: str = "quota") -> None:
    async with httpx.AsyncClient(base_url=base) as c:
        for _ in range(300):
            try:
                if (await c.get(f"/{service}/ready")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{service}-svc did not become ready")


def run_api(
    bases: list[str],
    districts: list[str],
    clients: int,
    seconds: float,
    parties: Parties,
    retry_every: int = 0,
) -> dict[str, float]:
    """Drive the API with wrk (compiled; one connection per thread), the
    connections spread over the replicas; CPU of every party measured.
    `retry_every` n > 0: every nth reservation is sent again once answered
    (its answer lost, as far as the client knows)."""
    token = mint_token(
        DEV_JWT_SECRET, sub="bench.officer", role="officer", districts=DISTRICT_CODES
    )
    nonce = uuid.uuid4().hex[:8]
    per = [
        clients // len(bases) + (1 if i < clients % len(bases) else 0) for i in range(len(bases))
    ]
    parties.snapshot()
    counted_before = _service_counters(parties)
    children_before = _children_cpu()
    batches_before = batch_totals(bases)
    procs = [
        subprocess.Popen(
            [
                "wrk",
                f"-t{n}",
                f"-c{n}",
                f"-d{seconds:.0f}s",
                "--timeout",
                "30s",
                "-s",
                str(ROOT / "bench/wrk/quota_pair.lua"),
                base,
                "--",
                token,
                ",".join(districts),
                f"{nonce}{i}",
                INCREMENT_T,
                str(retry_every),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i, (base, n) in enumerate(zip(bases, per, strict=True))
        if n
    ]
    totals: dict[str, float] = {}
    p50s, p99s = [], []
    for proc in procs:
        out = proc.communicate()[0]
        line = next(x for x in out.splitlines() if x.startswith("WRK_RESULT "))
        res = json.loads(line.removeprefix("WRK_RESULT "))
        for k in ("pairs", "refused", "errors", "retried", "requests", "socket_errors"):
            totals[k] = totals.get(k, 0) + res[k]
        totals["duration_s"] = max(totals.get("duration_s", 0), res["duration_us"] / 1e6)
        p50s.append(res["p50_us"] / 1000)
        p99s.append(res["p99_us"] / 1000)
    # wrk processes were waited for by communicate(): their CPU is in ours' children
    client_cpu = _children_cpu() - children_before
    spent = parties.spent()
    writes, preempted = (
        after - before
        for after, before in zip(_service_counters(parties), counted_before, strict=True)
    )
    pairs = totals["pairs"]
    batched = {k: after - batches_before[k] for k, after in batch_totals(bases).items()}
    return {
        **batch_cycle(batched, totals["duration_s"], len(bases)),
        "pairs_per_s": pairs / totals["duration_s"],
        "pairs": pairs,
        "refused": totals["refused"],
        "retried": totals["retried"],
        "errors": totals["errors"] + totals["socket_errors"],
        "p50_ms": max(p50s),
        "p99_ms": max(p99s),
        "cpu_ms_per_pair_service": 1000 * spent.get("service", 0) / max(pairs, 1),
        "cpu_ms_per_pair_client": 1000 * client_cpu / max(pairs, 1),
        "cpu_ms_per_pair_postgres": 1000 * spent.get("postgres", 0) / max(pairs, 1),
        "writes_per_pair": writes / max(pairs, 1),
        "preempted_per_pair": preempted / max(pairs, 1),
    }


#: The series of svc_common.batching's figures a quota pool's batches add to.
_BATCH_PHASES = ("run", "write", "commit")


def batch_totals(bases: list[str]) -> dict[str, float]:
    """The pool batches' figures so far, summed over the replicas: how many
    batches, their operations, and the seconds spent in each phase."""
    totals = dict.fromkeys(("batches", "operations", *_BATCH_PHASES), 0.0)
    for base in bases:
        text = httpx.get(f"{base}/quota/metrics", timeout=10).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.labels.get("batches") != "pool":
                    continue
                if sample.name == "group_commit_batch_operations_count":
                    totals["batches"] += sample.value
                elif sample.name == "group_commit_batch_operations_sum":
                    totals["operations"] += sample.value
                elif sample.name == "group_commit_batch_seconds_sum":
                    totals[sample.labels["phase"]] += sample.value
    return totals


def batch_cycle(batched: dict[str, float], seconds: float, replicas: int) -> dict[str, float]:
    """Where a replica's pool batches spent a run of `seconds` (from the
    change of `batch_totals` over it): how many a replica committed, their
    operations on average, how long one held its transaction in each phase
    (ms), the share of the run a replica held one, and the time between one
    batch's commit and the next one's BEGIN (ms)."""
    n = batched["batches"]
    if not n:
        return {"batches": 0.0}
    held = sum(batched[p] for p in _BATCH_PHASES)
    return {
        "batches": n / replicas,
        "batch_operations": batched["operations"] / n,
        **{f"batch_{p}_ms": 1000 * batched[p] / n for p in _BATCH_PHASES},
        "batch_held_share": held / (seconds * replicas),
        "batch_between_ms": 1000 * max(seconds * replicas - held, 0.0) / n,
    }


def describe_cycle(api: dict[str, float]) -> str:
    """`batch_cycle`'s figures in a line."""
    if not api.get("batches"):
        return "no pool batches measured"
    phases = ", ".join(f"{p} {api[f'batch_{p}_ms']:.1f}" for p in _BATCH_PHASES)
    held = sum(api[f"batch_{p}_ms"] for p in _BATCH_PHASES)
    return (
        f"a replica committed {api['batches']:.0f} pool batches of "
        f"{api['batch_operations']:.1f} operations; one held its transaction {held:.1f} ms "
        f"({phases} ms), {api['batch_held_share']:.0%} of the run; "
        f"{api['batch_between_ms']:.1f} ms from one's commit to the next one's BEGIN"
    )


def _service_counters(parties: Parties) -> tuple[int, int]:
    """The services' socket writes and preemptions so far (summed)."""
    counted = [io_and_preemptions(pid) for pid in parties.pids.get("service", [])]
    return sum(w for w, _ in counted), sum(p for _, p in counted)


def _children_cpu() -> float:
    """CPU of this process's reaped children (the wrk processes)."""
    now = resource.getrusage(resource.RUSAGE_CHILDREN)
    return now.ru_utime + now.ru_stime


RESERVE_SQL = [
    "SELECT credited_kg, reserved_kg, allocated_kg FROM pools WHERE id = $1 FOR UPDATE",
]


async def raw_pair(conn: asyncpg.Connection, district: str) -> bool:
    """The reserve and allocate transactions of one project, as plain SQL."""
    pool_id = f"{district}:VOCs"
    rid = str(uuid.uuid4())
    ref = f"raw-{rid}"
    need = 10
    now = dt.datetime.now(dt.UTC)
    envelope = json.dumps({"id": rid, "type": "quota.reserved.v1", "data": {"x": "y" * 300}})
    async with conn.transaction():
        c, r, a = await conn.fetchrow(RESERVE_SQL[0], pool_id)
        if c - r - a < need:
            return False
        await conn.execute(
            "INSERT INTO journal_entries (pool_id, district, pollutant, code, amount_kg,"
            " idempotency_id, reservation_id, effective_at, recorded_at, credited_after_kg,"
            " reserved_after_kg, allocated_after_kg, actor, note)"
            " VALUES ($1,$2,'VOCs','reserve',$3,$4,$5,$6,$6,$7,$8,$9,'bench',$10)",
            pool_id,
            district,
            need,
            f"res:{rid}:reserve",
            rid,
            now,
            c,
            r + need,
            a,
            ref,
        )
        await conn.execute(
            "INSERT INTO reservations (id, idempotency_id, project_ref, attempt, district,"
            " pollutant, pool_id, increment_kg, offset_ratio_hundredths, held_kg, allocated_kg,"
            " released_kg, status, created_by, created_at, expires_at)"
            " VALUES ($1,$2,$3,1,$4,'VOCs',$5,5,200,$6,0,0,'held','bench',$7,$8)",
            rid,
            f"api:{rid}",
            ref,
            district,
            pool_id,
            need,
            now,
            now + dt.timedelta(days=180),
        )
        await conn.execute(
            "UPDATE pools SET reserved_kg = $2, last_effective_at = $3 WHERE id = $1",
            pool_id,
            r + need,
            now,
        )
        await _outbox_and_audit(conn, ref, pool_id, envelope, now, "quota.reserve", rid)
    async with conn.transaction():
        await conn.fetchrow("SELECT status FROM reservations WHERE id = $1 FOR UPDATE", rid)
        c, r, a = await conn.fetchrow(RESERVE_SQL[0], pool_id)
        await conn.execute(
            "INSERT INTO journal_entries (pool_id, district, pollutant, code, amount_kg,"
            " idempotency_id, reservation_id, effective_at, recorded_at, credited_after_kg,"
            " reserved_after_kg, allocated_after_kg, actor, note)"
            " VALUES ($1,$2,'VOCs','allocate',$3,$4,$5,$6,$6,$7,$8,$9,'bench',$10)",
            pool_id,
            district,
            need,
            f"res:{rid}:allocate",
            rid,
            now,
            c,
            r - need,
            a + need,
            ref,
        )
        await conn.execute(
            "UPDATE reservations SET status='allocated', allocated_kg=$2, resolved_at=$3,"
            " resolved_by='bench' WHERE id=$1",
            rid,
            need,
            now,
        )
        await conn.execute(
            "UPDATE pools SET reserved_kg = $2, allocated_kg = $3, last_effective_at = $4"
            " WHERE id = $1",
            pool_id,
            r - need,
            a + need,
            now,
        )
        await _outbox_and_audit(conn, ref, pool_id, envelope, now, "quota.allocate", rid)
    return True


async def _outbox_and_audit(
    conn: asyncpg.Connection,
    key: str,
    pool_id: str,
    envelope: str,
    now: dt.datetime,
    action: str,
    rid: str,
) -> None:
    # Written as sent: the raw side has no relay, and quota-svc's relay must
    # not take these rows (they are not event envelopes) for its own.
    await conn.executemany(
        "INSERT INTO outbox (event_id, topic, key, event_type, envelope, created_at, attempts,"
        " sent_at) VALUES ($1, 'quota.events', $2, $3, $4::jsonb, $5, 0, $5)",
        [
            (str(uuid.uuid4()), key, "quota.event.v1", envelope, now),
            (str(uuid.uuid4()), pool_id, "quota.balance_changed.v1", envelope, now),
        ],
    )
    await conn.execute(
        "INSERT INTO audit_log (at, actor, role, action, target_type, target_id, detail)"
        " VALUES ($1, 'bench', 'officer', $2, 'reservation', $3, '{}'::jsonb)",
        now,
        action,
        rid,
    )


async def run_raw(
    dsn: str, districts: list[str], clients: int, seconds: float, parties: Parties
) -> dict[str, float]:
    """The same transactions straight from asyncpg (statements prepared once
    per connection by asyncpg's statement cache): the hand-written limit."""
    pool = await asyncpg.create_pool(dsn, min_size=clients, max_size=clients)
    done = 0
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []

    async def worker(w: int) -> None:
        nonlocal done
        i = 0
        async with pool.acquire() as conn:
            while time.perf_counter() < deadline:
                district = districts[(w + i) % len(districts)]
                i += 1
                t = time.perf_counter()
                if await raw_pair(conn, district):
                    done += 1
                latencies.append((time.perf_counter() - t) / 2)  # per transaction

    parties.snapshot()
    cpu0 = self_cpu_seconds()
    t0 = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(clients)))
    elapsed = time.perf_counter() - t0
    client_cpu = self_cpu_seconds() - cpu0
    spent = parties.spent()
    await pool.close()
    latencies.sort()
    return {
        "pairs_per_s": done / elapsed,
        "pairs": done,
        "refused": 0,
        "errors": 0,
        "p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else 0.0,
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)] if latencies else 0.0,
        "cpu_ms_per_pair_service": 0.0,
        "cpu_ms_per_pair_client": 1000 * client_cpu / max(done, 1),
        "cpu_ms_per_pair_postgres": 1000 * spent.get("postgres", 0) / max(done, 1),
    }


async def relay_catch_up(dsn: str, limit_s: float = 120.0) -> dict[str, float]:
    """The events the API run left unsent, and how long the relay took to
    publish them after the load stopped: the API's rate is sustained only if
    its relay keeps up (here it delivers in-process to quota-svc's own
    consumers, as the embedded default does)."""
    conn = await asyncpg.connect(dsn)
    try:
        query = "SELECT count(*) FROM outbox WHERE sent_at IS NULL"
        unsent = int(await conn.fetchval(query))
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < limit_s:
            if not await conn.fetchval(query):
                break
            await asyncio.sleep(0.2)
        return {"unsent_at_end": unsent, "catch_up_s": time.perf_counter() - t0}
    finally:
        await conn.close()


async def audit_ledger(dsn: str) -> tuple[int, int, int]:
    """(pools, overdrawn pools or entries, pools whose journal does not replay)."""
    conn = await asyncpg.connect(dsn)
    try:
        pools = await conn.fetchval("SELECT count(*) FROM pools")
        overdrawn = await conn.fetchval(
            "SELECT count(*) FROM journal_entries"
            " WHERE credited_after_kg - reserved_after_kg - allocated_after_kg < 0"
        ) + await conn.fetchval(
            "SELECT count(*) FROM pools WHERE credited_kg - reserved_kg - allocated_kg < 0"
        )
        mismatched = await conn.fetchval(
            """
            WITH replay AS (
              SELECT pool_id,
                sum(CASE WHEN code IN ('baseline','reclaim_credit','reduction_credit',
                                       'transfer','adjustment') THEN amount_kg ELSE 0 END) c,
                sum(CASE code WHEN 'reserve' THEN amount_kg WHEN 'allocate' THEN -amount_kg
                              WHEN 'release' THEN -amount_kg WHEN 'expire' THEN -amount_kg
                              ELSE 0 END) r,
                sum(CASE WHEN code = 'allocate' THEN amount_kg ELSE 0 END) a
              FROM journal_entries GROUP BY pool_id)
            SELECT count(*) FROM pools p JOIN replay j ON j.pool_id = p.id
            WHERE (p.credited_kg, p.reserved_kg, p.allocated_kg) <> (j.c, j.r, j.a)
            """
        )
    finally:
        await conn.close()
    return int(pools), int(overdrawn), int(mismatched)


async def one_setup(
    admin: str,
    replicas: int,
    clients: int,
    seconds: float,
    impl: str = "c",
    retry_every: int = 0,
) -> tuple[dict[tuple[str, str], dict[str, float]], tuple[int, int, int]]:
    """A fresh database and `replicas` quota-svc processes; both shapes, API
    then raw, side by side; the ledger audited at the end."""
    name, dsn = await create_database(admin)
    ports = [free_port() for _ in range(replicas)]
    bases = [f"http://127.0.0.1:{p}" for p in ports]
    # The first replica migrates the database before the others start.
    servers = [start_server(dsn, ports[0], impl)]
    try:
        await wait_ready(bases[0])
        servers += [start_server(dsn, p, impl) for p in ports[1:]]
        for b in bases[1:]:
            await wait_ready(b)
        parties = Parties()
        for server in servers:
            parties.add("service", server.pid)
        conn = await asyncpg.connect(dsn)
        parties.add("postgres", parent_pid(await conn.fetchval("SELECT pg_backend_pid()")))
        await conn.close()
        admin_h = {
            "Authorization": "Bearer " + mint_token(DEV_JWT_SECRET, sub="bench.admin", role="admin")
        }
        async with httpx.AsyncClient(base_url=bases[0], headers=admin_h) as c:
            for d in DISTRICT_CODES:
                r = await c.post(f"/quota/pools/{d}/VOCs/baseline", json={"amount_t": BASELINE_T})
                r.raise_for_status()
        # Both sides warmed, then the tables' statistics taken: created
        # seconds ago, PostgreSQL plans for them as for empty tables until
        # autovacuum analyzes them, up to a minute later (a hot pool's batch
        # leased its outbox rows by a sequential scan of the outbox, 3.8 ms
        # at 10,000 rows). A service in use has them.
        run_api(bases, HOT, clients, WARM_UP_S, parties, retry_every)
        await relay_catch_up(dsn)
        await run_raw(dsn, HOT, clients, WARM_UP_S, parties)
        conn = await asyncpg.connect(dsn)
        await conn.execute("ANALYZE")
        await conn.close()
        results = {}
        for shape, districts in (("hot district", HOT), ("16 districts", DISTRICT_CODES)):
            results[("api", shape)] = run_api(
                bases, districts, clients, seconds, parties, retry_every
            )
            results[("api", shape)].update(await relay_catch_up(dsn))
            results[("raw", shape)] = await run_raw(dsn, districts, clients, seconds, parties)
        audit = await audit_ledger(dsn)
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)
        await drop_database(admin, name)
    return results, audit


def loop_ceiling(api: dict[str, float], raw: dict[str, float], replicas: int) -> str:
    """What the replicas' event loops allow at the service CPU spent a pair:
    each replica runs its requests and its batches on one event loop, so on
    at most one CPU. A pool's batch waits for its replica's loop between its
    steps (it holds the pool meanwhile), so a loop near this bound also
    lengthens every batch."""
    per_pair = api["cpu_ms_per_pair_service"]
    if not per_pair:
        return "no service CPU measured: no event-loop bound"
    most = replicas * 1000 / per_pair
    busy = api["pairs_per_s"] * per_pair / 1000 / replicas
    return (
        f"{replicas} replica(s) at {per_pair:.2f} ms of service CPU a pair: one event loop "
        f"each allows at most {most:.0f} pairs/s, {most / max(raw['pairs_per_s'], 1e-9):.0%} "
        f"of the raw side's {raw['pairs_per_s']:.0f}; each loop was busy {busy:.0%} of the run"
    )


def cpu_ceiling(api: dict[str, float], raw: dict[str, float]) -> str:
    """What this machine's CPUs allow the API at the CPU it spent a pair (the
    services', the load generator's and PostgreSQL's; not Kafka's, so an
    upper bound), beside what the raw side did: when the bound is below the
    raw side, no order of the API's work could reach it in this run."""
    cpus = os.cpu_count() or 1
    per_pair = (
        api["cpu_ms_per_pair_service"]
        + api["cpu_ms_per_pair_client"]
        + api["cpu_ms_per_pair_postgres"]
    )
    if not per_pair:
        return "no CPU measured for the API: no bound"
    most = cpus * 1000 / per_pair
    return (
        f"the API spent {per_pair:.2f} ms of CPU a pair (service, wrk, PostgreSQL): "
        f"{cpus} CPUs allow it at most {most:.0f} pairs/s, "
        f"{most / max(raw['pairs_per_s'], 1e-9):.0%} of the raw side's {raw['pairs_per_s']:.0f}"
    )


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument(
        "--replicas", default="1", help="quota-svc processes behind the clients, e.g. 1,2,3"
    )
    ap.add_argument(
        "--impls",
        default="c",
        help="c (uvloop, httptools, batches), python (asyncio, h11), unbatched (c, no batches)",
    )
    ap.add_argument(
        "--retry-every",
        type=int,
        default=0,
        help="send every nth reservation again once answered (0: none), as a client whose "
        "answer was lost would; each must be given its first answer",
    )
    args = ap.parse_args()
    admin = os.environ.get("TEST_PG_ADMIN_URL")
    if not admin:
        sys.exit("set TEST_PG_ADMIN_URL (e.g. postgresql://postgres@127.0.0.1:55432/postgres)")
    if not shutil.which("wrk"):
        sys.exit("wrk is needed (Debian: apt-get install wrk)")
    print(
        f"quota reservation+allocation pairs, PostgreSQL, {args.clients} connections (wrk) or "
        f"asyncpg connections (raw), {args.seconds:.0f} s per run, {os.cpu_count()} CPUs shared "
        "by the services, the load generator and PostgreSQL"
    )
    print(
        f"{'impl':<6} {'replicas':>8} {'shape':<13} {'side':<4} {'pairs/s':>8} {'API/raw':>8}"
        f" {'p50 ms':>7}"
        f" {'p99 ms':>7} {'CPU ms/pair: svc':>17} {'client':>7} {'pg':>6} {'errors':>6}"
        f" {'svc writes/pair':>15} {'preempted':>9}"
    )
    verdicts = []
    configs = [(i, int(r)) for i in args.impls.split(",") for r in args.replicas.split(",")]
    for impl, replicas in configs:
        results, (pools, overdrawn, mismatched) = await one_setup(
            admin, replicas, args.clients, args.seconds, impl, args.retry_every
        )
        for shape in ("hot district", "16 districts"):
            raw = results[("raw", shape)]
            for side in ("api", "raw"):
                r = results[(side, shape)]
                ratio = r["pairs_per_s"] / raw["pairs_per_s"] if raw["pairs_per_s"] else 0.0
                print(
                    f"{impl:<6} {replicas:>8} {shape:<13} {side:<4}"
                    f" {r['pairs_per_s']:>8.1f} {ratio:>8.0%}"
                    f" {r['p50_ms']:>7.1f} {r['p99_ms']:>7.1f}"
                    f" {r['cpu_ms_per_pair_service']:>17.2f} {r['cpu_ms_per_pair_client']:>7.2f}"
                    f" {r['cpu_ms_per_pair_postgres']:>6.2f} {int(r['errors']):>6}"
                    + (
                        # asyncio's own loop (impl python) sends with `send`,
                        # which /proc does not count as a write: no figure.
                        (
                            f" {r['writes_per_pair']:>15.1f}"
                            if r["writes_per_pair"]
                            else f" {'—':>15}"
                        )
                        + f" {r['preempted_per_pair']:>9.1f}"
                        if side == "api"
                        else ""
                    )
                )
        print(
            f"{impl:<6} {replicas:>8} ledger check: {pools} pools, {overdrawn} overdrafts, "
            f"{mismatched} pools not reconciling"
        )
        for shape in ("hot district", "16 districts"):
            api = results[("api", shape)]
            print(
                f"{impl:<6} {replicas:>8} {shape}: {int(api['unsent_at_end'])} events unsent "
                f"when the load stopped, published {api['catch_up_s']:.1f} s later"
                + (
                    f"; {int(api['retried'])} reservations sent again, each given its "
                    "first answer (any other answer is counted an error)"
                    if args.retry_every
                    else ""
                )
            )
        hot_api, hot_raw = results[("api", "hot district")], results[("raw", "hot district")]
        print(f"{impl:<6} {replicas:>8} hot district: {cpu_ceiling(hot_api, hot_raw)}")
        print(f"{impl:<6} {replicas:>8} hot district: {loop_ceiling(hot_api, hot_raw, replicas)}")
        print(f"{impl:<6} {replicas:>8} hot district: {describe_cycle(hot_api)}")
        verdicts += [
            (
                f"hot pool API/raw, {replicas} replica(s), {args.clients} connections, {impl}",
                "≥ 100 %",
                f"{hot_api['pairs_per_s'] / max(hot_raw['pairs_per_s'], 1e-9):.0%}",
                hot_api["pairs_per_s"] >= hot_raw["pairs_per_s"],
            ),
            (
                f"service CPU/write request, {replicas} replica(s), {impl}",
                "≤ 1.5 ms",
                f"{results[('api', '16 districts')]['cpu_ms_per_pair_service'] / 2:.2f} ms",
                results[("api", "16 districts")]["cpu_ms_per_pair_service"] / 2 <= 1.5,
            ),
            (
                f"ledger, {replicas} replica(s), {impl}",
                "0 overdrafts, all reconcile",
                f"{overdrawn} overdrafts, {mismatched} not reconciling",
                overdrawn == 0 and mismatched == 0,
            ),
        ]
    print_verdicts(verdicts)


if __name__ == "__main__":
    asyncio.run(main())
