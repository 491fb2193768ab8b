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
import contextlib
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
from quota_svc.ledger.rules import DISTRICTS
from svc_common.auth import mint_token
from svc_common.settings import DEV_JWT_SECRET

ROOT = Path(__file__).resolve().parents[1]
DISTRICT_CODES = list(DISTRICTS)
HOT = ["120119"]
BASELINE_T = "100000"  # per district pool; a run uses far less
INCREMENT_T = "0.005"  # need 10 kg at ratio 2.0


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


def start_server(db_url: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "HOLD_SWEEP_SECONDS": "3600",
    }
    return subprocess.Popen(
        [str(ROOT / ".venv/bin/python"), "-m", "quota_svc"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def wait_ready(base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as c:
        for _ in range(300):
            try:
                if (await c.get("/quota/ready")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("quota-svc did not become ready")


async def run_api(
    bases: list[str], districts: list[str], clients: int, seconds: float
) -> dict[str, float]:
    officer = {
        "Authorization": "Bearer "
        + mint_token(DEV_JWT_SECRET, sub="bench.officer", role="officer", districts=DISTRICT_CODES)
    }
    done = 0
    refused = 0
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async with contextlib.AsyncExitStack() as stack:
        replicas = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=b, headers=officer, limits=limits, timeout=60)
            )
            for b in bases
        ]

        async def worker(w: int) -> None:
            nonlocal done, refused, errors
            c = replicas[w % len(replicas)]  # clients spread over the replicas
            i = 0
            while time.perf_counter() < deadline:
                district = districts[(w + i) % len(districts)]
                i += 1
                body = {
                    "district": district,
                    "increment_t": INCREMENT_T,
                    "project_ref": f"api-{uuid.uuid4().hex}",
                }
                r = await c.post("/quota/reservations", json=body)
                if r.status_code == 409:
                    refused += 1
                    continue
                if r.status_code != 201:
                    errors += 1
                    continue
                a = await c.post(f"/quota/reservations/{r.json()['id']}/allocate", json={})
                if a.status_code == 200:
                    done += 1
                else:
                    errors += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(clients)))
        elapsed = time.perf_counter() - t0
    return {"pairs_per_s": done / elapsed, "pairs": done, "refused": refused, "errors": errors}


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
    await conn.executemany(
        "INSERT INTO outbox (event_id, topic, key, event_type, envelope, created_at, attempts)"
        " VALUES ($1, 'quota.events', $2, $3, $4::jsonb, $5, 0)",
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


async def run_raw(dsn: str, districts: list[str], clients: int, seconds: float) -> dict[str, float]:
    pool = await asyncpg.create_pool(dsn, min_size=clients, max_size=clients)
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(w: int) -> None:
        nonlocal done
        i = 0
        async with pool.acquire() as conn:
            while time.perf_counter() < deadline:
                district = districts[(w + i) % len(districts)]
                i += 1
                if await raw_pair(conn, district):
                    done += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(clients)))
    elapsed = time.perf_counter() - t0
    await pool.close()
    return {"pairs_per_s": done / elapsed, "pairs": done, "refused": 0, "errors": 0}


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


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument(
        "--replicas", type=int, default=2, help="quota-svc processes behind the clients"
    )
    args = ap.parse_args()
    admin = os.environ.get("TEST_PG_ADMIN_URL")
    if not admin:
        sys.exit("set TEST_PG_ADMIN_URL (e.g. postgresql://postgres@127.0.0.1:55432/postgres)")
    name, dsn = await create_database(admin)
    ports = [free_port() for _ in range(args.replicas)]
    bases = [f"http://127.0.0.1:{p}" for p in ports]
    base = bases[0]
    # The first replica migrates the database before the others start.
    servers = [start_server(dsn, ports[0])]
    try:
        await wait_ready(base)
        servers += [start_server(dsn, p) for p in ports[1:]]
        for b in bases[1:]:
            await wait_ready(b)
        admin_h = {
            "Authorization": "Bearer " + mint_token(DEV_JWT_SECRET, sub="bench.admin", role="admin")
        }
        async with httpx.AsyncClient(base_url=base, headers=admin_h) as c:
            for d in DISTRICT_CODES:
                r = await c.post(f"/quota/pools/{d}/VOCs/baseline", json={"amount_t": BASELINE_T})
                r.raise_for_status()
        results = {}
        for shape, districts in (("hot district", HOT), ("16 districts", DISTRICT_CODES)):
            results[("api", shape)] = await run_api(bases, districts, args.clients, args.seconds)
            results[("raw", shape)] = await run_raw(dsn, districts, args.clients, args.seconds)
        pools, overdrawn, mismatched = await audit_ledger(dsn)
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)
        await drop_database(admin, name)

    cpus = os.cpu_count()
    print(
        f"quota reservations+allocations, PostgreSQL, {args.replicas} quota-svc process(es), "
        f"{args.clients} clients, "
        f"{args.seconds:.0f} s per run, {cpus} CPUs (server, clients and PostgreSQL share them)"
    )
    print(f"{'shape':<14} {'API pairs/s':>12} {'raw SQL pairs/s':>16} {'API/raw':>8}  API errors")
    for shape in ("hot district", "16 districts"):
        api, raw = results[("api", shape)], results[("raw", shape)]
        ratio = api["pairs_per_s"] / raw["pairs_per_s"] if raw["pairs_per_s"] else 0.0
        print(
            f"{shape:<14} {api['pairs_per_s']:>12.1f} {raw['pairs_per_s']:>16.1f} "
            f"{ratio:>7.0%}  {int(api['errors'])}"
        )
    print(
        f"ledger check: {pools} pools, {overdrawn} overdrafts, {mismatched} pools not reconciling"
    )


if __name__ == "__main__":
    asyncio.run(main())
