"""Benchmark: CPU per reservation pair (reserve + allocate) inside one
quota-svc process, PostgreSQL, requests one at a time.

The throughput bench (quota_reservations.py) swings with the machine's load;
the CPU a pair costs the service process barely does, so this is the figure
to compare two versions of the code in one session (run each version in turn:
`PYTHONPATH=<other checkout>/services/quota-svc/src` runs an older one against
the same libraries). The app runs in this process behind httpx's ASGI
transport (no sockets); the client's share is the same for both versions.

    TEST_PG_ADMIN_URL=postgresql://postgres@127.0.0.1:55432/postgres \\
        .venv/bin/python bench/quota_pair_cpu.py [--pairs 400] [--warmup 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from typing import Any

import asyncpg
from quota_svc.app import create
from quota_svc.settings import Settings
from sqlalchemy import event
from svc_common import testing

JIZHOU = "120119"


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=400)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    admin = os.environ.get("TEST_PG_ADMIN_URL")
    if not admin:
        sys.exit("set TEST_PG_ADMIN_URL")
    name = f"bench_cpu_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    url = admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + "/" + name
    settings = Settings(
        database_url=url, log_json=True, log_level="WARNING", hold_sweep_seconds=3600
    )
    app = create(settings)
    officer = testing.auth("officer", [JIZHOU], sub="bench.officer")
    admin_h = testing.auth("admin", sub="bench.admin")
    try:
        async with testing.running(app) as c:
            r = await c.post(
                f"/quota/pools/{JIZHOU}/VOCs/baseline", json={"amount_t": "100000"}, headers=admin_h
            )
            r.raise_for_status()
            # Statements sent to PostgreSQL (the service's and its relay's and
            # sweepers'), counted by asyncpg on every connection, so those run
            # on the driver itself (DriverStatement) count too: a figure the
            # machine's load does not move. The pool is emptied so that every
            # connection is made again with the counter.
            statements = 0

            def count(_query: object) -> None:
                nonlocal statements
                statements += 1

            def counted(dbapi_connection: Any, _record: object) -> None:
                dbapi_connection.driver_connection.add_query_logger(count)

            engine = app.state.runtime.db.engine
            event.listen(engine.sync_engine, "connect", counted)
            await engine.dispose()

            async def pair() -> None:
                body = {"district": JIZHOU, "increment_t": "0.005", "project_ref": uuid.uuid4().hex}
                r = await c.post("/quota/reservations", json=body, headers=officer)
                assert r.status_code == 201, r.text
                a = await c.post(f"/quota/reservations/{r.json()['id']}/allocate", headers=officer)
                assert a.status_code == 200, a.text

            for _ in range(args.warmup):
                await pair()
            statements = 0
            cpu, wall = [], []
            for _ in range(args.rounds):
                c0, w0 = time.process_time(), time.perf_counter()
                for _ in range(args.pairs):
                    await pair()
                cpu.append((time.process_time() - c0) / args.pairs * 1000)
                wall.append((time.perf_counter() - w0) / args.pairs * 1000)
            measured = statements
    finally:
        conn = await asyncpg.connect(admin)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()
    print(
        f"quota-svc pair (reserve + allocate), in process, PostgreSQL, {args.pairs} pairs x "
        f"{args.rounds}: CPU {statistics.median(cpu):.2f} ms/pair "
        f"(rounds {', '.join(f'{x:.2f}' for x in cpu)}), "
        f"wall {statistics.median(wall):.2f} ms/pair, "
        f"{measured / (args.pairs * args.rounds):.2f} statements/pair"
    )


if __name__ == "__main__":
    asyncio.run(main())
