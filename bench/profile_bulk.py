"""Where the CPU of a bulk upload goes: eia-svc's registration filing
(`POST /eia/registrations:bulk`, CSV) or permit-svc's enterprise import
(`POST /permit/enterprises:import`, JSON lines), in-process as in
bench/eia_bulk.py and bench/permit_import.py, with cProfile recording only
the measured uploads; own time grouped by package.

    TEST_PG_ADMIN_URL=… .venv/bin/python bench/profile_bulk.py eia [--db pg|sqlite]
    .venv/bin/python bench/profile_bulk.py permit --db sqlite [--rows 30000]

Not part of `make bench`: a tool for the one who optimises. The profiler's
own overhead inflates small functions; read the shares, not the absolutes.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import logging
import pstats
import sys
import tempfile
import time

import eia_bulk
import permit_import
from measure import cpu_by_group
from svc_common import testing

GROUPS = [
    ("sqlalchemy", "/sqlalchemy/"),
    ("asyncpg", "/asyncpg/"),
    ("aiosqlite+sqlite3", "/aiosqlite/"),
    ("aiosqlite+sqlite3", "sqlite3"),
    ("pydantic", "/pydantic"),
    ("fastapi+starlette", "/fastapi/"),
    ("fastapi+starlette", "/starlette/"),
    ("httpx (client)", "/httpx/"),
    ("structlog+logging", "/structlog/"),
    ("structlog+logging", "/logging/"),
    ("svc_common.uploads", "/svc_common/uploads"),
    ("svc_common.bulk", "/svc_common/bulk"),
    ("svc_common.outbox", "/svc_common/outbox"),
    ("svc_common (other)", "/svc_common/"),
    ("eia_svc", "/eia_svc/"),
    ("permit_svc", "/permit_svc/"),
    ("asyncio", "/asyncio/"),
    ("json", "/json/"),
    ("csv", "_csv"),
]


def print_shares(stats: pstats.Stats, rows: int) -> None:
    totals = cpu_by_group(stats, GROUPS)
    whole = sum(totals.values())
    print(f"profiled CPU {whole:.2f} s over {rows} rows: {1e6 * whole / rows:.1f} µs each")
    for group, t in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {group:<22} {1e6 * t / rows:7.1f} µs/row  {t / whole:6.1%}")


async def eia(url: str, n: int, batch: int, prof: cProfile.Profile) -> None:
    from eia_svc.app import create
    from eia_svc.settings import Settings

    all_rows = eia_bulk.rows(n, 0)
    bodies = [eia_bulk.as_csv(all_rows[i : i + batch]) for i in range(0, n, batch)]
    app = create(Settings(database_url=url, log_json=False, log_level="WARNING"))
    headers = {**testing.auth("filer", sub="bench.filer"), "content-type": "text/csv"}
    async with testing.running(app) as c:
        await c.get("/eia/health")
        t0 = time.perf_counter()
        prof.enable()
        for body in bodies:
            r = await c.post("/eia/registrations:bulk", content=body, headers=headers, timeout=300)
            r.raise_for_status()
        prof.disable()
        print(f"eia: {n / (time.perf_counter() - t0):,.0f} rows/s under the profiler")


async def permit(url: str, n: int, batch: int, prof: cProfile.Profile) -> None:
    from permit_svc.app import create
    from permit_svc.settings import Settings

    data = permit_import.rows(n)
    bodies = [
        "\n".join(json.dumps(r, ensure_ascii=False) for r in data[i : i + batch]).encode()
        for i in range(0, n, batch)
    ]
    app = create(Settings(database_url=url, log_json=False, log_level="WARNING"))
    headers = {**testing.auth("admin"), "content-type": "application/x-ndjson"}
    async with testing.running(app) as c:
        t0 = time.perf_counter()
        prof.enable()
        for body in bodies:
            r = await c.post("/permit/enterprises:import", content=body, headers=headers)
            assert r.status_code == 200 and r.json()["totals"]["error"] == 0, r.text[:300]
        prof.disable()
        print(f"permit: {n / (time.perf_counter() - t0):,.0f} rows/s under the profiler")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("service", choices=["eia", "permit"])
    ap.add_argument("--db", choices=["pg", "sqlite"], default="pg")
    ap.add_argument("--rows", type=int, default=30_000)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--sort", default="tottime")
    ap.add_argument("--limit", type=int, default=40)
    args = ap.parse_args()
    logging.disable(logging.INFO)
    prof = cProfile.Profile(time.process_time)  # CPU, not wall time
    run = eia if args.service == "eia" else permit
    with tempfile.TemporaryDirectory() as tmp:
        async with testing.database_url(args.db, tmp, prefix="prof_bulk") as url:
            await run(url, args.rows, args.batch, prof)
    stats = pstats.Stats(prof, stream=sys.stdout)
    print_shares(stats, args.rows)
    stats.sort_stats(args.sort).print_stats(args.limit)


if __name__ == "__main__":
    asyncio.run(main())
